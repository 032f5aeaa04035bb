"""procfs inode numbers: stable per path, distinct across paths, and no
table that grows with every process a sandbox runs."""

from __future__ import annotations

from typing import Any, cast

from sentry.fsimpl.proc import nodes


class _Fs:
    dev = 42


def test_the_same_path_keeps_its_number_and_paths_differ() -> None:
    fs = cast(Any, _Fs())
    first = nodes.stable_ino(fs, "/7/exe")
    assert nodes.stable_ino(fs, "/7/exe") == first
    inos = {
        nodes.stable_ino(fs, f"/{pid}/{name}")
        for pid in range(2000)
        for name in ("exe", "cwd", "stat")
    }
    assert len(inos) == 6000
    assert min(inos) > 1 and max(inos) < 1 << 62


def test_nothing_is_kept_per_path() -> None:
    assert not any(isinstance(v, dict) for k, v in vars(nodes).items() if k.startswith("_ino"))
