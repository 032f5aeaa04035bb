"""read/write and their vectored and positional forms, sendfile (fs/read_write.c)."""

from __future__ import annotations

from typing import Any

from sentry.abi.errors import EBADF, EINVAL, EISDIR
from sentry.syscalls._fileargs import MAX_RW_COUNT, get_file, s32, s64
from sentry.syscalls.table import Support, SyscallArgs, syscall
from sentry.vfs.flags import O_APPEND

#: include/uapi/linux/uio.h UIO_MAXIOV
UIO_MAXIOV = 1024


def _iovecs(t: Any, addr: int, count: int) -> list[tuple[int, int]]:
    count = s32(count)
    if count < 0 or count > UIO_MAXIOV:
        raise EINVAL
    if count == 0:
        return []
    iovs: list[tuple[int, int]] = t.mm.copy_in_iovecs(addr, count)
    total = 0
    for _, length in iovs:
        if length > 0x7FFFFFFFFFFFFFFF:
            raise EINVAL
        total += length
    if total > 0x7FFFFFFFFFFFFFFF:
        raise EINVAL
    return iovs


def _scatter(t: Any, iovs: list[tuple[int, int]], data: bytes) -> None:
    pos = 0
    for base, length in iovs:
        if pos >= len(data):
            break
        chunk = data[pos : pos + length]
        if chunk:
            t.mm.copy_out(base, chunk)
        pos += len(chunk)


def _gather(t: Any, iovs: list[tuple[int, int]]) -> bytes:
    return b"".join(t.mm.copy_in(base, length) for base, length in iovs if length)


@syscall(0, "read", note="regular files, directories (EISDIR), devices, host stdio")
def sys_read(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall read(2)."""
    desc = get_file(t, args[0])
    data = desc.read(min(args[2], MAX_RW_COUNT))
    if data:
        t.mm.copy_out(args[1], data)
    return len(data)


@syscall(1, "write")
def sys_write(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall write(2)."""
    desc = get_file(t, args[0])
    if not desc.writable:
        raise EBADF
    count = min(args[2], MAX_RW_COUNT)
    data = t.mm.copy_in(args[1], count) if count else b""
    return desc.write(data)


@syscall(17, "pread64")
def sys_pread64(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall pread64(2)."""
    desc = get_file(t, args[0])
    data = desc.pread(min(args[2], MAX_RW_COUNT), s64(args[3]))
    if data:
        t.mm.copy_out(args[1], data)
    return len(data)


@syscall(18, "pwrite64")
def sys_pwrite64(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall pwrite64(2)."""
    desc = get_file(t, args[0])
    if not desc.writable:
        raise EBADF
    count = min(args[2], MAX_RW_COUNT)
    data = t.mm.copy_in(args[1], count) if count else b""
    return desc.pwrite(data, s64(args[3]))


@syscall(19, "readv")
def sys_readv(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall readv(2)."""
    desc = get_file(t, args[0])
    if not desc.readable:
        raise EBADF
    iovs = _iovecs(t, args[1], args[2])
    data = desc.read(min(sum(n for _, n in iovs), MAX_RW_COUNT))
    _scatter(t, iovs, data)
    return len(data)


@syscall(20, "writev")
def sys_writev(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall writev(2)."""
    desc = get_file(t, args[0])
    if not desc.writable:
        raise EBADF
    data = _gather(t, _iovecs(t, args[1], args[2]))
    return desc.write(data[:MAX_RW_COUNT]) if data else desc.write(b"")


def _pos(args: SyscallArgs) -> int:
    # preadv/pwritev split the offset into two longs (pos_l, pos_h); on x86_64
    # pos_l already holds the whole 64-bit value (fs/read_write.c pos_from_hilo).
    return s64(args[3])


@syscall(295, "preadv")
def sys_preadv(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall preadv(2)."""
    desc = get_file(t, args[0])
    if not desc.readable:
        raise EBADF
    iovs = _iovecs(t, args[1], args[2])
    data = desc.pread(min(sum(n for _, n in iovs), MAX_RW_COUNT), _pos(args))
    _scatter(t, iovs, data)
    return len(data)


@syscall(296, "pwritev")
def sys_pwritev(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall pwritev(2)."""
    desc = get_file(t, args[0])
    if not desc.writable:
        raise EBADF
    data = _gather(t, _iovecs(t, args[1], args[2]))
    return desc.pwrite(data, _pos(args))


@syscall(327, "preadv2", Support.PARTIAL, "flags must be 0; offset -1 uses the file offset")
def sys_preadv2(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall preadv2(2)."""
    if s32(args[5]) & ~0:
        raise EINVAL("preadv2 flags are not supported")
    if s64(args[3]) == -1:
        return sys_readv(t, args)
    return sys_preadv(t, args)


@syscall(328, "pwritev2", Support.PARTIAL, "flags must be 0; offset -1 uses the file offset")
def sys_pwritev2(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall pwritev2(2)."""
    if s32(args[5]) & ~0:
        raise EINVAL("pwritev2 flags are not supported")
    if s64(args[3]) == -1:
        return sys_writev(t, args)
    return sys_pwritev(t, args)


@syscall(40, "sendfile", note="copies through the Sentry")
def sys_sendfile(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall sendfile(2)."""
    out = get_file(t, args[0])
    inp = get_file(t, args[1])
    if not inp.readable or not out.writable:
        raise EBADF
    count = min(args[3], MAX_RW_COUNT)
    if args[2]:
        raw = t.mm.copy_in(args[2], 8)
        offset = int.from_bytes(raw, "little", signed=True)
        if offset < 0:
            raise EINVAL
        data = inp.pread(count, offset)
    else:
        data = inp.read(count)
        offset = -1
    written = out.write(data) if data else 0
    if args[2]:
        t.mm.copy_out(args[2], (offset + written).to_bytes(8, "little", signed=True))
    elif written < len(data) and inp.impl.seekable:
        inp.seek(written - len(data), 1)  # give back what the output did not take
    return written


@syscall(326, "copy_file_range", note="copies through the Sentry")
def sys_copy_file_range(t: Any, args: SyscallArgs) -> int:
    """Implements Linux syscall copy_file_range(2) (fs/read_write.c)."""
    inp, out = get_file(t, args[0]), get_file(t, args[2])
    if args[5] & 0xFFFFFFFF:
        raise EINVAL
    if not inp.readable or not out.writable or out.flags & O_APPEND:
        raise EBADF
    ist, ost = inp.stat(), out.stat()
    if ist.is_dir() or ost.is_dir():
        raise EISDIR
    if not ist.is_regular() or not ost.is_regular():
        raise EINVAL
    count = min(args[4], MAX_RW_COUNT)
    in_off = _off_arg(t, args[1])
    out_off = _off_arg(t, args[3])
    if ist.ino == ost.ino and ist.dev == ost.dev:
        a = inp.offset if in_off is None else in_off
        b = out.offset if out_off is None else out_off
        if a < b + count and b < a + count:
            raise EINVAL  # overlapping ranges of one file
    data = inp.read(count) if in_off is None else inp.pread(count, in_off)
    if not data:
        return 0
    n = out.write(data) if out_off is None else out.pwrite(data, out_off)
    if in_off is not None:
        t.mm.copy_out(args[1], (in_off + n).to_bytes(8, "little", signed=True))
    elif n < len(data):
        inp.seek(n - len(data), 1)
    if out_off is not None:
        t.mm.copy_out(args[3], (out_off + n).to_bytes(8, "little", signed=True))
    return n


def _off_arg(t: Any, addr: int) -> int | None:
    if not addr:
        return None
    off = int.from_bytes(t.mm.copy_in(addr, 8), "little", signed=True)
    if off < 0:
        raise EINVAL
    return off
