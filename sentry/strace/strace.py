"""Argument decoding and the table wrapper."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TextIO

from sentry.abi.errors import LinuxError
from sentry.kernel import SyscallArgs, SyscallTable, TaskExit
from sentry.kernel.syscall_table import Handler

#: Argument kinds: "d" signed int, "x" hex, "s" path string, "b" buffer
#: written by the app (length in the next argument), "B" buffer filled by the
#: call (length from the result), "f" fd.
SIGNATURES: dict[str, str] = {
    "read": "fBd",
    "write": "fbd",
    "pread64": "fBdd",
    "pwrite64": "fbdd",
    "open": "sxo",
    "openat": "fsxo",
    "close": "f",
    "stat": "sx",
    "lstat": "sx",
    "newfstatat": "fsxx",
    "fstat": "fx",
    "statx": "fsxxx",
    "access": "so",
    "faccessat": "fso",
    "faccessat2": "fsox",
    "readlink": "sxd",
    "readlinkat": "fsxd",
    "execve": "sxx",
    "mkdir": "so",
    "mkdirat": "fso",
    "unlink": "s",
    "unlinkat": "fsx",
    "chdir": "s",
    "rename": "ss",
    "symlink": "ss",
    "mmap": "xxxxfx",
    "munmap": "xx",
    "mprotect": "xxx",
    "brk": "x",
    "mremap": "xxxxx",
    "madvise": "xxd",
    "exit": "d",
    "exit_group": "d",
    "lseek": "fdd",
    "ioctl": "fxx",
    "fcntl": "fdx",
    "dup2": "ff",
    "dup3": "ffx",
    "getdents64": "fxd",
    "prlimit64": "ddxx",
    "arch_prctl": "xx",
    "futex": "xxdxxd",
    "getrandom": "xdx",
    "rt_sigaction": "dxxd",
    "rt_sigprocmask": "dxxd",
}

_MAX_STR = 32


def _quote(data: bytes) -> str:
    shown = data[:_MAX_STR]
    text = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in shown)
    return f'"{text}"' + ("..." if len(data) > _MAX_STR else "")


def _arg(t: Any, kind: str, value: int, nxt: int, result: int | None) -> str:
    try:
        if kind == "d":
            return str(value - (1 << 64) if value >= 1 << 63 else value)
        if kind == "f":
            v = value & 0xFFFFFFFF
            v = v - (1 << 32) if v >= 1 << 31 else v
            return "AT_FDCWD" if v == -100 else str(v)
        if kind == "o":
            return oct(value)
        if kind == "s":
            return _quote(t.mm.copy_in_string(value, 4096)) if value else "NULL"
        if kind == "b":
            return _quote(t.mm.copy_in(value, min(nxt, _MAX_STR + 1))) if value else "NULL"
        if kind == "B":
            if result is None or result < 0 or not value:
                return hex(value)
            return _quote(t.mm.copy_in(value, min(result, _MAX_STR + 1)))
    except LinuxError:
        return hex(value)
    return hex(value)


def format_call(t: Any, name: str, args: SyscallArgs, result: str, ok: int | None) -> str:
    """One trace line."""
    kinds = SIGNATURES.get(name, "xxxxxx")
    shown = []
    for i, kind in enumerate(kinds):
        nxt = args[i + 1] if i + 1 < 6 else 0
        shown.append(_arg(t, kind, args[i], nxt, ok))
    return f"[{t.tid:>4}] {name}({', '.join(shown)}) = {result}"


def _wrap(name: str, handler: Handler, out: TextIO, lock: threading.Lock) -> Handler:
    def traced(t: Any, args: SyscallArgs) -> int:
        try:
            result = handler(t, args)
        except LinuxError as err:
            line = format_call(t, name, args, f"-1 {type(err).__name__} ({err})", None)
            with lock:
                out.write(line + "\n")
                out.flush()
            raise
        except TaskExit:
            with lock:
                out.write(format_call(t, name, args, "?", None) + "\n")
                out.flush()
            raise
        shown = hex(result) if name in ("mmap", "brk", "mremap") else str(result)
        line = format_call(t, name, args, shown, result)
        with lock:
            out.write(line + "\n")
            out.flush()
        return result

    traced.__name__ = getattr(handler, "__name__", name)
    return traced


def _enosys(name: str, out: TextIO, lock: threading.Lock) -> Handler:
    from sentry.abi.errors import ENOSYS

    def traced(t: Any, args: SyscallArgs) -> int:
        with lock:
            out.write(format_call(t, name, args, "-1 ENOSYS (not implemented)", None) + "\n")
        t.kernel.log_unimplemented(t.regs.orig_rax)
        raise ENOSYS

    return traced


def wrap_table(table: SyscallTable, out: TextIO | None = None) -> SyscallTable:
    """A copy of ``table`` whose handlers log each call to ``out``."""
    stream: TextIO = out if out is not None else os.fdopen(os.dup(2), "w")
    lock = threading.Lock()
    handlers: list[Handler | None] = []
    for nr, handler in enumerate(table.handlers):
        name = table.names[nr]
        wrapped: Callable[[Any, SyscallArgs], int] | None
        if handler is None:
            wrapped = _enosys(name, stream, lock) if not name.startswith("syscall_") else None
        else:
            wrapped = _wrap(name, handler, stream, lock)
        handlers.append(wrapped)
    return SyscallTable(handlers, list(table.names))
