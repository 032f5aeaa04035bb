"""Locating, starting and preparing a stub process (see the package docstring)."""

from __future__ import annotations

import fcntl
import functools
import os
import struct
from typing import NamedTuple

from sentry.hostsys import ptrace as hptrace
from sentry.platform.ptrace import seccomp
from sentry.platform.ptrace._ptrace import Stub

#: The descriptor number the MemoryFile has inside every stub.
STUB_MEMORY_FD = 3
#: The descriptor number of the park pipe's read end inside every stub: the
#: parked leader blocks reading it until the Sentry (the write end) is gone.
STUB_PARK_FD = 4

#: Offsets from the entry point of the park loop (``stub_park``: syscall,
#: then exit_group at ``stub_park_exit``), see stub/ptrace_stub.c.
PARK_OFFSET = 16
PARK_EXIT_OFFSET = 25
_PARK_CODE = bytes.fromhex("0f05 b8e7000000 31ff 0f05 0f0b")

#: x86_64 TASK_SIZE with 4-level paging (arch/x86/include/asm/page_64_types.h):
#: nothing the stub could hold lies above it (5-level paging only maps there
#: on request).
TASK_SIZE = 0x7FFFFFFFF000

SYS_READ = 0
SYS_PRCTL = 157
SYS_SECCOMP = 317
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1

PAGE_SIZE = 4096

# os.path, not pathlib: pathlib pulls urllib.parse and ipaddress into every
# sandbox start (~5 ms) for this one line.
_STUB_PATH = os.path.join(os.path.dirname(os.path.realpath(__file__)), "stub", "ptrace_stub")


class StubImage(NamedTuple):
    """The stub binary: an open descriptor to exec and its one segment."""

    fd: int
    entry: int
    start: int
    end: int

    @property
    def park(self) -> int:
        """Address of the park loop's blocking ``syscall``."""
        return self.entry + PARK_OFFSET

    @property
    def park_exit(self) -> int:
        """Address of the park loop's exit_group ``syscall``."""
        return self.entry + PARK_EXIT_OFFSET


def open_stub_image(path: str | os.PathLike[str] = _STUB_PATH) -> StubImage:
    """Open the stub and check it has the layout the platform relies on: one
    PT_LOAD, R+X, not writable, entry inside it, page aligned, the park loop
    where ``PARK_OFFSET`` says. The descriptor is at least 10, clear of the
    numbers the stub's own descriptors take in the spawned child."""
    try:
        low = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"ptrace stub binary {path} is missing; build it with `pip install -e .`"
        ) from None
    try:
        fd = fcntl.fcntl(low, fcntl.F_DUPFD_CLOEXEC, 10)
    finally:
        os.close(low)
    try:
        header = os.pread(fd, 4096, 0)
        if header[:4] != b"\x7fELF" or header[4] != 2 or header[18] != 62:
            raise ValueError(f"{path} is not an x86_64 ELF64 file")
        (e_type,) = struct.unpack_from("<H", header, 16)
        (entry, phoff) = struct.unpack_from("<QQ", header, 24)
        (phentsize, phnum) = struct.unpack_from("<HH", header, 54)
        if e_type != 2:
            raise ValueError(f"{path} must be ET_EXEC (static, not PIE)")
        loads = []
        for i in range(phnum):
            p_type, p_flags, offset, vaddr, _pa, _fsz, memsz = struct.unpack_from(
                "<IIQQQQQ", header, phoff + i * phentsize
            )
            if p_type == 1:
                loads.append((p_flags, vaddr, memsz, offset))
        if len(loads) != 1:
            raise ValueError(f"{path} must have exactly one PT_LOAD segment, has {len(loads)}")
        flags, vaddr, memsz, offset = loads[0]
        if flags & 2 or not flags & 1:
            raise ValueError(f"{path}: the stub segment must be executable and not writable")
        start = vaddr & ~(PAGE_SIZE - 1)
        end = (vaddr + memsz + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if not start <= entry < end:
            raise ValueError(f"{path}: entry {entry:#x} outside its segment")
        at = offset + (entry - vaddr) + PARK_OFFSET
        if os.pread(fd, len(_PARK_CODE), at) != _PARK_CODE:
            raise ValueError(f"{path}: no park loop at entry+{PARK_OFFSET}")
        return StubImage(fd, entry, start, end)
    except BaseException:
        os.close(fd)
        raise


def start_stub(image: StubImage, memory_fd: int, park_fd: int = -1) -> Stub:
    """Spawn a stub traced by the calling thread and make it a bare, filtered
    address space: seccomp on, everything but its code page unmapped.
    ``park_fd`` (a pipe's read end) becomes its ``STUB_PARK_FD``.

    The set-up calls are injected like every later one, so the stub never
    runs a system call of its own choosing.
    """
    pid = hptrace.spawn_stub(image.fd, memory_fd, STUB_MEMORY_FD, park_fd, STUB_PARK_FD)
    stub = Stub(pid, image.entry)
    try:
        prepare_stub(stub, image)
    except BaseException:
        stub.kill()
        raise
    return stub


def _inject(stub: Stub, nr: int, *args: int) -> int:
    rc = stub.syscall(nr, *args)
    if -4096 < rc < 0:
        raise OSError(-rc, f"stub {stub.pid}: injected syscall {nr}: {os.strerror(-rc)}")
    return rc


@functools.lru_cache(maxsize=4)
def _filter_for(entry: int, park: int, park_exit: int) -> tuple[bytes, int]:
    """The encoded seccomp filter and its length in instructions: the same
    for every stub of one image, and building it in Python costs more than
    an injected system call."""
    prog = seccomp.build_stub_filter(entry, STUB_MEMORY_FD, park_ip=park, park_exit_ip=park_exit)
    return seccomp.encode(prog), len(prog)


def prepare_stub(stub: Stub, image: StubImage) -> None:
    """Clear the parent-death signal, install the seccomp filter, then unmap
    stack, vdso, vvar and headers.

    PR_SET_PDEATHSIG covered the spawn; from here the stub must outlive the
    host thread that spawned it (its other threads serve other tasks): the
    park pipe and PTRACE_O_EXITKILL tie it to the Sentry instead."""
    # The filter and its sock_fprog go on the stub's stack (still mapped
    # now); the kernel copies them when the filter is installed.
    rsp = stub.template_registers().rsp
    code, n_insns = _filter_for(image.entry, image.park, image.park_exit)
    filter_addr = (rsp - 4096 - len(code)) & ~15
    fprog_addr = filter_addr - 16
    hptrace.process_vm_writev(stub.pid, filter_addr, code)
    hptrace.process_vm_writev(stub.pid, fprog_addr, struct.pack("<HxxxxxxQ", n_insns, filter_addr))
    _inject(stub, SYS_PRCTL, PR_SET_PDEATHSIG, 0, 0, 0, 0)
    _inject(stub, SYS_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _inject(stub, SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, 0, fprog_addr)
    _inject(stub, seccomp.SYS_MUNMAP, 0, image.start)
    _inject(stub, seccomp.SYS_MUNMAP, image.end, TASK_SIZE - image.end)
