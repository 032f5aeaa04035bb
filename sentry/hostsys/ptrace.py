"""ptrace(2), waitpid(2), process_vm_readv/writev(2), tgkill(2) and the stub spawn.

These are the slow-path calls (set-up, tests, debugging); the platform's
switch loop calls libc directly from Cython without the GIL.
"""

from __future__ import annotations

from sentry.hostsys._lib import check, ffi, lib

PTRACE_TRACEME: int = lib.PTRACE_TRACEME
PTRACE_PEEKDATA: int = lib.PTRACE_PEEKDATA
PTRACE_POKEDATA: int = lib.PTRACE_POKEDATA
PTRACE_CONT: int = lib.PTRACE_CONT
PTRACE_KILL: int = lib.PTRACE_KILL
PTRACE_SINGLESTEP: int = lib.PTRACE_SINGLESTEP
PTRACE_GETREGS: int = lib.PTRACE_GETREGS
PTRACE_SETREGS: int = lib.PTRACE_SETREGS
PTRACE_ATTACH: int = lib.PTRACE_ATTACH
PTRACE_DETACH: int = lib.PTRACE_DETACH
PTRACE_SYSCALL: int = lib.PTRACE_SYSCALL
PTRACE_SYSEMU: int = lib.PTRACE_SYSEMU
PTRACE_SETOPTIONS: int = lib.PTRACE_SETOPTIONS
PTRACE_GETSIGINFO: int = lib.PTRACE_GETSIGINFO
PTRACE_SEIZE: int = lib.PTRACE_SEIZE
PTRACE_INTERRUPT: int = lib.PTRACE_INTERRUPT
PTRACE_GETSIGMASK: int = lib.PTRACE_GETSIGMASK
PTRACE_SETSIGMASK: int = lib.PTRACE_SETSIGMASK
PTRACE_O_TRACESYSGOOD: int = lib.PTRACE_O_TRACESYSGOOD
PTRACE_O_EXITKILL: int = lib.PTRACE_O_EXITKILL

WNOHANG: int = lib.WNOHANG
WEXITED: int = lib.WEXITED
WSTOPPED: int = lib.WSTOPPED
WCONTINUED: int = lib.WCONTINUED
WNOWAIT: int = lib.WNOWAIT
P_PID: int = lib.P_PID
P_ALL: int = lib.P_ALL
WALL: int = lib.__WALL
WNOTHREAD: int = lib.__WNOTHREAD

_MAX_IO = 1 << 30


_PEEKS = (1, 2, 3)  # PTRACE_PEEKTEXT, PTRACE_PEEKDATA, PTRACE_PEEKUSER


def ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> int:
    """ptrace(2). For PEEK* requests ``data`` is ignored and the word read is
    returned as an unsigned int (the raw system call stores it at ``data``,
    see ptrace(2) "C library/kernel differences")."""
    if request in _PEEKS:
        word = ffi.new("unsigned long *")
        check(
            int(lib.pysb_ptrace(request, pid, addr, int(ffi.cast("uintptr_t", word)))),
            f"ptrace({request}, {pid}, {addr:#x})",
        )
        return int(word[0])
    return check(int(lib.pysb_ptrace(request, pid, addr, data)), f"ptrace({request}, {pid})")


def ptrace_setsigmask(pid: int, mask: int) -> None:
    """PTRACE_SETSIGMASK: set a stopped tracee's blocked-signal mask (64-bit kernel sigset)."""
    buf = ffi.new("uint64_t *", mask)
    check(
        int(lib.pysb_ptrace(PTRACE_SETSIGMASK, pid, 8, int(ffi.cast("uintptr_t", buf)))),
        "PTRACE_SETSIGMASK",
    )


def ptrace_getsigmask(pid: int) -> int:
    """PTRACE_GETSIGMASK: a stopped tracee's blocked-signal mask."""
    buf = ffi.new("uint64_t *")
    check(
        int(lib.pysb_ptrace(PTRACE_GETSIGMASK, pid, 8, int(ffi.cast("uintptr_t", buf)))),
        "PTRACE_GETSIGMASK",
    )
    return int(buf[0])


def waitpid(pid: int, options: int = 0) -> tuple[int, int]:
    """waitpid(2) returning ``(pid, status)``; decode with ``os.WIFSTOPPED`` etc."""
    status = ffi.new("int *")
    got = check(int(lib.waitpid(pid, status, options)), f"waitpid({pid})")
    return got, int(status[0])


def waitid(idtype: int, id_: int, options: int) -> tuple[int, int, int] | None:
    """waitid(2) returning ``(pid, si_code, si_status)``, or None if WNOHANG
    found nothing (si_code is CLD_EXITED, CLD_KILLED, CLD_TRAPPED, ...)."""
    pid = ffi.new("int *")
    code = ffi.new("int *")
    status = ffi.new("int *")
    check(lib.pysb_waitid(idtype, id_, options, pid, code, status), f"waitid({id_})")
    if pid[0] == 0:
        return None
    return int(pid[0]), int(code[0]), int(status[0])


def process_vm_readv(pid: int, addr: int, length: int) -> bytes:
    """Read ``length`` bytes at ``addr`` of process ``pid``; short reads raise EFAULT."""
    if not 0 <= length <= _MAX_IO:
        raise ValueError(f"process_vm_readv: bad length {length}")
    buf = ffi.new("char[]", length)
    local = ffi.new("struct iovec *", (buf, length))
    remote = ffi.new("struct iovec *", (ffi.cast("void *", addr), length))
    n = check(int(lib.process_vm_readv(pid, local, 1, remote, 1, 0)), "process_vm_readv")
    if n != length:
        raise OSError(14, f"process_vm_readv: short read {n}/{length} at {addr:#x}")
    return bytes(ffi.buffer(buf, length))


def process_vm_writev(pid: int, addr: int, data: bytes) -> None:
    """Write ``data`` at ``addr`` of process ``pid``; short writes raise EFAULT."""
    buf = ffi.from_buffer(data)
    local = ffi.new("struct iovec *", (ffi.cast("void *", buf), len(data)))
    remote = ffi.new("struct iovec *", (ffi.cast("void *", addr), len(data)))
    n = check(int(lib.process_vm_writev(pid, local, 1, remote, 1, 0)), "process_vm_writev")
    if n != len(data):
        raise OSError(14, f"process_vm_writev: short write {n}/{len(data)} at {addr:#x}")


def tgkill(tgid: int, tid: int, sig: int) -> None:
    """tgkill(2): send ``sig`` to thread ``tid`` of thread group ``tgid``."""
    check(int(lib.pysb_tgkill(tgid, tid, sig)), f"tgkill({tgid}, {tid}, {sig})")


def gettid() -> int:
    """gettid(2) of the calling host thread (``threading.get_native_id`` agrees)."""
    return int(lib.pysb_gettid())


def spawn_stub(
    exec_fd: int, mem_fd: int, target_fd: int, park_fd: int = -1, park_target: int = -1
) -> int:
    """Start the ptrace stub: a vfork-style child, traced by the *calling thread*,
    with ``mem_fd`` at ``target_fd`` (and ``park_fd``, if not -1, at
    ``park_target``), every other descriptor closed on exec, all signals but
    SIGTRAP blocked, PR_SET_PDEATHSIG=SIGKILL, exec'd from ``exec_fd``.

    Returns the pid; the child is then in (or about to enter) its post-exec
    SIGTRAP stop, which the caller must wait for. If the child failed before
    exec it has exited and its errno is raised here.
    """
    if exec_fd == target_fd:
        raise ValueError("the stub's executable fd cannot be its memory fd slot")
    if park_fd >= 0 and (park_fd == target_fd or park_target in (target_fd, exec_fd)):
        raise ValueError("the stub's park fd collides with its memory or executable fd")
    child_errno = ffi.new("int *")
    pid = check(
        int(lib.pysb_spawn_stub(exec_fd, mem_fd, target_fd, park_fd, park_target, child_errno)),
        "clone",
    )
    if child_errno[0]:
        waitpid(pid, WALL)
        err = int(child_errno[0])
        import os

        raise OSError(err, f"starting the ptrace stub: {os.strerror(err)}")
    return pid
