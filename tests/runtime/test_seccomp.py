"""The helper-process seccomp filter: denied calls fail with EPERM, the rest work."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from runtime import seccomp

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the filter is defined for x86_64 only"
)

CHILD = r"""
import ctypes, errno, os, subprocess, threading
from runtime import hostsys, seccomp
seccomp.install()
libc = ctypes.CDLL(None, use_errno=True)

def raw(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if r == -1 else 0

out = {}
out["open_by_handle_at"] = raw(304, -1, 0, 0)
out["name_to_handle_at"] = raw(303, -1, 0, 0, 0, 0)
try:
    hostsys.mount("none", "/tmp", "tmpfs", 0)
    out["mount"] = 0
except OSError as e:
    out["mount"] = e.errno
try:
    hostsys.unshare(hostsys.CLONE_NEWUSER)
    out["unshare"] = 0
except OSError as e:
    out["unshare"] = e.errno
out["clone_newuser"] = raw(56, hostsys.CLONE_NEWUSER, 0, 0, 0, 0)
out["clone3"] = raw(435, 0, 0)
out["x32_getpid"] = raw(0x40000000 + 39)
t = threading.Thread(target=lambda: None); t.start(); t.join()
out["thread"] = 0
out["subprocess"] = subprocess.run(["true"]).returncode
with open("/proc/self/status") as f:
    out["seccomp"] = [l.split()[1] for l in f if l.startswith("Seccomp:")][0]
import json; print(json.dumps(out))
"""


def test_filter_denies_escape_calls_and_keeps_python_working() -> None:
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    eperm, enosys = 1, 38
    assert got == {
        "open_by_handle_at": eperm,
        "name_to_handle_at": eperm,
        "mount": eperm,
        "unshare": eperm,
        "clone_newuser": eperm,
        "clone3": enosys,
        "x32_getpid": eperm,
        "thread": 0,
        "subprocess": 0,
        "seccomp": "2",
    }


def test_program_shape() -> None:
    prog = seccomp.build(("mount",))
    assert len(prog) % 8 == 0
    # header (13 instructions) + 2 per denied call + final allow
    assert len(prog) // 8 == 13 + 2 + 1
    with pytest.raises(KeyError):
        seccomp.build(("no_such_call",))
