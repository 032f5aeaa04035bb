"""busybox (static) applets print the same under the Sentry as natively.

Intended differences are asserted explicitly: the kernel release in
``uname``, the device numbers in ``stat`` and the mount source in ``df``.
"""

from __future__ import annotations

import re
import shutil

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

pytestmark = [
    pytest.mark.skipif(not shutil.which("busybox"), reason="busybox-static not installed"),
]

INPUT = b"banana\napple\ncherry\napple\n"

SAME = [
    "echo hello world",
    "cat data.txt",
    "ls -la tree",
    "wc data.txt",
    "head -n 2 data.txt",
    "tail -n 1 data.txt",
    "sort data.txt",
    "uniq data.txt",
    "md5sum data.txt",
    "sha256sum data.txt",
    "find tree",
    "seq 2 5",
    "dd if=data.txt bs=3 count=2",
    "grep -n apple data.txt",
    "sed s/apple/pear/g data.txt",
    "awk {print(length($0))} data.txt",
    "tr a-z A-Z",
    "cut -c1-3 data.txt",
    "xxd data.txt",
    "base64 data.txt",
    "du -s tree",
    "env",
    "id",
    "date +%Y",
]


@pytest.fixture
def tree(workdir):  # noqa: F811
    (workdir / "data.txt").write_bytes(INPUT)
    (workdir / "tree" / "sub").mkdir(parents=True)
    (workdir / "tree" / "a.txt").write_text("a\n")
    (workdir / "tree" / "sub" / "b.txt").write_text("bb\n")
    return workdir


def _both(cmd: str, cwd, stdin: bytes = INPUT):
    argv = [BUSYBOX, *cmd.split()]
    return harness.run_native(argv, cwd, stdin), harness.run_sentry(argv, cwd, stdin, ["--rw"])


@pytest.mark.parametrize("cmd", SAME)
def test_applet_matches_native(cmd, tree):
    native, sandboxed = _both(cmd, tree)
    assert sandboxed.stderr.decode() == native.stderr.decode()
    assert sandboxed.stdout.decode() == native.stdout.decode()
    assert sandboxed.status == native.status == 0


def test_stat_differs_only_in_device(tree):
    native, sandboxed = _both("stat data.txt", tree)
    assert sandboxed.status == native.status == 0
    strip = re.compile(rb"Device: \S+")
    assert strip.sub(b"Device: X", sandboxed.stdout) == strip.sub(b"Device: X", native.stdout)


def test_df_differs_only_in_source(tree):
    native, sandboxed = _both("df -k /", tree)
    assert sandboxed.status == native.status == 0
    nat, sb = native.stdout.splitlines(), sandboxed.stdout.splitlines()
    assert nat[0] == sb[0]  # the header
    nat_fields, sb_fields = nat[1].split(), sb[1].split()
    assert sb_fields[0] == b"/"  # intended: the sandbox names its root mount "/"
    assert nat_fields[0] != sb_fields[0]
    assert sb_fields[1] == nat_fields[1]  # same file system size
    assert sb_fields[-1] == nat_fields[-1] == b"/"
    # used/available may move between the two runs (other processes write)


def test_uname_reports_the_sandbox_kernel(tree):
    native, sandboxed = _both("uname -a", tree)
    nat, sb = native.stdout.split(), sandboxed.stdout.split()
    assert sb[0] == nat[0] == b"Linux"
    assert sb[1] == nat[1]  # hostname passes through by default
    assert sb[2] == b"4.4.0"  # intended: the Sentry's kernel release, not the host's
    assert sandboxed.stdout.rstrip().endswith(b"x86_64 GNU/Linux")


def test_file_applets_change_the_tree(tree):
    script = [
        "mkdir -p made/deeper",
        "touch made/t.txt",
        "cp data.txt made/copy.txt",
        "mv made/copy.txt made/moved.txt",
        "ln -s moved.txt made/link",
        "rm made/t.txt",
    ]
    for cmd in script:
        result = harness.run_sentry([BUSYBOX, *cmd.split()], tree, b"", ["--rw"])
        assert result.status == 0, (cmd, result.stderr)
    assert (tree / "made" / "deeper").is_dir()
    assert (tree / "made" / "moved.txt").read_bytes() == INPUT
    assert (tree / "made" / "link").readlink().name == "moved.txt"
    assert not (tree / "made" / "t.txt").exists()
    native, sandboxed = _both("ls -la made", tree)
    assert sandboxed.stdout == native.stdout
