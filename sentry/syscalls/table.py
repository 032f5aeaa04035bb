"""The x86_64 syscall table: registration and lookup.

Handler modules register with the ``syscall`` decorator::

    @syscall(0, "read", note="regular files, pipes, ttys")
    def sys_read(t: Task, args: SyscallArgs) -> int: ...

Numbers without a registered handler are listed with ``unimplemented`` so
that every entry carries a support level and a note; the dispatcher answers
them with ENOSYS and logs the first call of each.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from typing import Any

#: The six raw argument registers (rdi, rsi, rdx, r10, r8, r9).
SyscallArgs = tuple[int, int, int, int, int, int]
Handler = Callable[[Any, SyscallArgs], int]


class Support(enum.Enum):
    """How completely an entry follows Linux (shown in docs/syscalls.md)."""

    FULL = "full"  # Linux semantics, all flags
    PARTIAL = "partial"  # common cases; the note says what is missing
    ERROR = "error"  # deliberately refused with a fixed errno (e.g. EPERM for reboot)
    UNIMPLEMENTED = "unimplemented"  # ENOSYS


class Entry:
    """One row of the table."""

    __slots__ = ("handler", "module", "name", "note", "nr", "support")

    nr: int
    name: str
    handler: Handler | None
    support: Support
    note: str
    #: The module that registered the handler (``sentry.syscalls.sys_*``):
    #: ``sentry/syscalls/_index.py`` is generated from it, so that the
    #: sandbox imports a handler module only when its first call comes.
    module: str

    def __init__(
        self,
        nr: int,
        name: str,
        handler: Handler | None,
        support: Support,
        note: str,
        *,
        module: str = "",
    ) -> None:
        self.nr = nr
        self.name = name
        self.handler = handler
        self.support = support
        self.note = note
        self.module = module

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("nr", "name", "handler", "support", "note", "module")
        )
        return f"Entry({fields})"


TABLE: dict[int, Entry] = {}


def syscall(
    nr: int, name: str, support: Support = Support.FULL, note: str = ""
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of syscall ``nr``."""
    module = sys._getframe(1).f_globals.get("__name__", "")

    def register(fn: Handler) -> Handler:
        if nr in TABLE and TABLE[nr].handler is not None:
            raise ValueError(f"syscall {nr} ({name}) registered twice")
        TABLE[nr] = Entry(nr, name, fn, support, note, module=module)
        return fn

    return register


def unimplemented(nr: int, name: str, note: str = "") -> None:
    """List ``nr`` as answered with ENOSYS (keeps a handler registered elsewhere)."""
    if nr not in TABLE:
        TABLE[nr] = Entry(nr, name, None, Support.UNIMPLEMENTED, note)
