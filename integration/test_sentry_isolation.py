"""The sandbox cannot act on the host: machine-wide syscalls are refused,
names and /proc are the sandbox's own, and the root directory confines it."""

from __future__ import annotations

import shutil
import socket

import pytest

from integration._sentry import workdir  # noqa: F401 - fixture
from integration.syscalls import harness

BUSYBOX = shutil.which("busybox") or "/bin/busybox"

# Every call here would change the machine if it reached the host; the
# reboot command is LINUX_REBOOT_CMD_CAD_ON, harmless even if it did.
REFUSED_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHOW(label, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld %s\n", label, r_, r_ < 0 ? strerrorname_np(e_) : "-"); } while (0)

int main(int argc, char **argv) {
    SHOW("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x89abcdef, NULL));
    SHOW("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    SHOW("mount", mount("none", argv[1], "tmpfs", 0, NULL));
    SHOW("umount2", umount2("/", MNT_DETACH));
    SHOW("ptrace", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
    SHOW("init_module", syscall(SYS_init_module, NULL, 0, ""));
    SHOW("finit_module", syscall(SYS_finit_module, 0, "", 0));
    SHOW("delete_module", syscall(SYS_delete_module, "loop", 0));
    SHOW("swapon", syscall(SYS_swapon, "/nonexistent", 0));
    SHOW("pivot_root", syscall(SYS_pivot_root, "/", "/"));
    SHOW("chroot", chroot("/"));
    struct timespec ts = {0, 0};
    SHOW("clock_settime", clock_settime(CLOCK_REALTIME, &ts));
    SHOW("sethostname", sethostname("sandboxed-name", 14));
    char name[64] = {0};
    gethostname(name, sizeof name);
    printf("hostname %s\n", name);
    return 0;
}
"""


def test_machine_wide_syscalls_are_refused(workdir):  # noqa: F811
    reason = harness.gcc_skip_reason()
    if reason:
        pytest.skip(reason)
    src = workdir / "refused.c"
    src.write_text(REFUSED_C)
    binary = harness.compile_c(src, workdir, static=True)
    target = workdir / "mnt"
    target.mkdir()
    host_name = socket.gethostname()
    result = harness.run_sentry([str(binary), str(target)], workdir)
    assert result.status == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.decode().splitlines())
    for call in (
        "reboot", "kexec_load", "mount", "umount2", "ptrace", "init_module", "finit_module",
        "delete_module", "swapon", "pivot_root", "chroot", "clock_settime",
    ):  # fmt: skip
        assert lines[call] == "-1 EPERM", call
    # The sandbox has its own UTS namespace: the host keeps its name.
    assert lines["sethostname"] == "0 -"
    assert lines["hostname"] == "sandboxed-name"
    assert socket.gethostname() == host_name
    with open("/proc/self/mounts") as f:
        assert str(target) not in f.read()


def test_proc_lists_only_sandbox_tasks(workdir):  # noqa: F811
    result = harness.run_sentry([BUSYBOX, "ls", "/proc"], workdir)
    assert result.status == 0, result.stderr
    pids = [name for name in result.stdout.decode().split() if name.isdigit()]
    assert pids == ["1"]
    status = harness.run_sentry([BUSYBOX, "cat", "/proc/self/status"], workdir)
    assert b"Pid:\t1\n" in status.stdout


def test_root_directory_confines_the_program(workdir):  # noqa: F811
    root = workdir / "root"
    for d in ("bin", "dev", "proc", "tmp"):
        (root / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    (root / "inside.txt").write_text("inside\n")
    secret = workdir / "secret.txt"
    secret.write_text("host secret\n")
    # cat goes on after a failed file; each path tries a way out of the root.
    run = ["/bin/busybox", "cat", "/inside.txt", "/../secret.txt", str(secret), "/etc/hostname"]
    result = harness.run_sentry(run, "/", extra=["--root", str(root)])
    out = result.stdout.decode()
    assert out == "inside\n"
    assert result.status == 1
    assert "host secret" not in out
    err = result.stderr.decode()
    assert err.count("No such file or directory") == 3, err


def test_sandbox_pid_is_one(workdir):  # noqa: F811
    result = harness.run_sentry([BUSYBOX, "sh", "-c", "echo $$ $PPID"], workdir)
    assert result.stdout.split() == [b"1", b"0"]
