"""busybox ps and top inside the Sentry: the same format as natively, with
the sandbox's own processes (pids from 1, states, groups and sessions)."""

from __future__ import annotations

import re
import shutil

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

pytestmark = [
    pytest.mark.ptrace,
    pytest.mark.skipif(not shutil.which("busybox"), reason="busybox-static not installed"),
]

PS = "ps -o pid,ppid,pgid,sid,stat,comm"


def test_ps_shows_the_sandbox_process_tree(workdir):  # noqa: F811
    # Wait until the background child has exec'd sleep (on a slow platform
    # ps could otherwise catch it between fork and exec), at most 5 s.
    script = (
        f"sleep 5 & i=0; "
        f'while [ "$({BUSYBOX} cat /proc/$!/comm)" != sleep ] && [ $i -lt 100 ]; '
        f"do {BUSYBOX} usleep 50000; i=$((i+1)); done; "
        f"{BUSYBOX} {PS}; kill $!"
    )
    native = harness.run_native([BUSYBOX, "sh", "-c", script], workdir)
    sandboxed = harness.run_sentry([BUSYBOX, "sh", "-c", script], workdir)
    assert sandboxed.status == native.status == 0
    n_lines = native.stdout.decode().splitlines()
    s_lines = sandboxed.stdout.decode().splitlines()
    assert s_lines[0] == n_lines[0]  # the same header
    rows = [line.split() for line in s_lines[1:]]
    # sh (comm "busybox", as natively) is init: pid 1, its own group and
    # session; sleep and ps are its children in that group (sh -c: no job
    # control).
    assert rows[:2] == [
        ["1", "0", "1", "1", "S", "busybox"],
        ["2", "1", "1", "1", "S", "sleep"],
    ]
    # ps itself: the polling loop's short-lived processes took pids before it.
    assert len(rows) == 3 and int(rows[2][0]) > 2
    assert rows[2][1:] == ["1", "1", "1", "R", "busybox"]


def test_top_once_in_batch_mode(workdir):  # noqa: F811
    argv = [BUSYBOX, "top", "-n", "1", "-b"]
    native = harness.run_native(argv, workdir)
    sandboxed = harness.run_sentry(argv, workdir)
    assert sandboxed.status == native.status == 0
    n_lines = native.stdout.decode().splitlines()
    s_lines = sandboxed.stdout.decode().splitlines()
    patterns = [
        r"Mem: \d+K used, \d+K free, \d+K shrd, \d+K buff, \d+K cached",
        r"CPU: +\d+% usr +\d+% sys +\d+% nic +\d+% idle +\d+% io +\d+% irq +\d+% sirq",
        r"Load average: [\d.]+ [\d.]+ [\d.]+ \d+/\d+ \d+",
    ]
    for i, pat in enumerate(patterns):
        assert re.fullmatch(pat, n_lines[i]), n_lines[i]
        assert re.fullmatch(pat, s_lines[i]), s_lines[i]
    assert s_lines[3].split() == n_lines[3].split()  # the column header
    top = s_lines[4].split()
    assert (top[0], top[1], top[3]) == ("1", "0", "R")
    assert s_lines[4].endswith(" ".join(argv))
    assert s_lines[5:] == [""] and n_lines[-1] == ""  # top is the only process
