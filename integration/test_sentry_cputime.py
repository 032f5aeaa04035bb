"""CPU-time accounting seen by real programs under the Sentry: Debian's
python3 (``time.process_time``, ``resource.getrusage``, ``os.times``,
``os.wait4``, ``signal.setitimer(ITIMER_PROF)``) against the native run,
and busybox ``time`` (wait4's rusage) reporting a spinning shell's user
time. Only booleans with generous bounds are compared."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

PY = "/usr/bin/python3"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"

SCRIPT = r"""
import os, resource, signal, time

t0 = time.process_time()
while time.process_time() - t0 < 0.3:
    pass
print("process_time advanced 0.3 s", time.process_time() - t0 >= 0.3)
print("thread_time <= process_time", time.thread_time() <= time.process_time())
r = resource.getrusage(resource.RUSAGE_SELF)
print("getrusage >= 0.3 s", r.ru_utime + r.ru_stime >= 0.3)
t = os.times()
print("os.times >= 0.25 s", t.user + t.system >= 0.25)

pid = os.fork()
if pid == 0:
    s = time.process_time()
    while time.process_time() - s < 0.2:
        pass
    os._exit(0)
_, status, ru = os.wait4(pid, 0)
print("wait4 rusage >= 0.15 s", status == 0 and ru.ru_utime + ru.ru_stime >= 0.15)
c = resource.getrusage(resource.RUSAGE_CHILDREN)
print("RUSAGE_CHILDREN >= 0.15 s", c.ru_utime + c.ru_stime >= 0.15)
t = os.times()
# times() truncates each of utime and stime to whole ticks.
print("children times >= 0.15 s", t.children_user + t.children_system >= 0.15)

fired = 0
def on_prof(signo, frame):
    global fired
    fired += 1
signal.signal(signal.SIGPROF, on_prof)
signal.setitimer(signal.ITIMER_PROF, 0.01, 0.01)
deadline = time.monotonic() + 30
while fired < 3 and time.monotonic() < deadline:
    pass
signal.setitimer(signal.ITIMER_PROF, 0)
print("ITIMER_PROF fired 3 times", fired >= 3)
"""


@pytest.mark.skipif(not os.path.exists(PY), reason="Debian python3 not installed")
def test_python_cpu_time_matches_native(workdir):  # noqa: F811
    argv = [PY, "-c", SCRIPT]
    native = harness.run_native(argv, workdir)
    assert native.status == 0, native.stderr
    sandboxed = harness.run_sentry(argv, workdir)
    assert sandboxed.stderr.decode() == ""
    assert sandboxed.stdout.decode() == native.stdout.decode()
    assert "False" not in sandboxed.stdout.decode()
    assert sandboxed.status == 0


def test_busybox_time_reports_user_time(workdir):  # noqa: F811
    """busybox time reads the child's rusage from wait4: a shell loop that
    spins for a while has user time."""
    loop = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"
    result = harness.run_sentry([BUSYBOX, "time", BUSYBOX, "sh", "-c", loop], workdir)
    assert result.status == 0, result.stderr
    pattern = r"^(real|user|sys)\s+(\d+)m\s*([\d.]+)s$"
    times = {
        k: int(m) * 60 + float(s) for k, m, s in re.findall(pattern, result.stderr.decode(), re.M)
    }
    assert set(times) == {"real", "user", "sys"}, result.stderr
    assert times["user"] > 0, result.stderr
