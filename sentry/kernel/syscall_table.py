"""The table the kernel dispatches through, as given by the composition root.

The kernel never imports ``sentry.syscalls`` (it is above the kernel): the
root builds a ``SyscallTable`` from the declarative registry and hands it in.
Lookups are list indexing by number, the cheapest lookup Python has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: rdi, rsi, rdx, r10, r8, r9
SyscallArgs = tuple[int, int, int, int, int, int]
Handler = Callable[[Any, SyscallArgs], int]

#: Numbers beyond the last x86_64 syscall all answer ENOSYS.
TABLE_SIZE = 512


class SyscallTable:
    """``handlers[nr]`` is the handler or None (ENOSYS); ``names[nr]`` its name."""

    __slots__ = ("handlers", "names")

    handlers: list[Handler | None]
    names: list[str]

    def __init__(
        self,
        handlers: list[Handler | None],
        names: list[str],
    ) -> None:
        self.handlers = handlers
        self.names = names

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SyscallTable) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.handlers,
            self.names,
        ) == (
            other.handlers,
            other.names,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in ("handlers", "names"))
        return f"SyscallTable({fields})"

    @classmethod
    def from_entries(cls, entries: dict[int, tuple[str, Handler | None]]) -> SyscallTable:
        """Build from number -> (name, handler)."""
        handlers: list[Handler | None] = [None] * TABLE_SIZE
        names = [f"syscall_{nr}" for nr in range(TABLE_SIZE)]
        for nr, (name, handler) in entries.items():
            if not 0 <= nr < TABLE_SIZE:
                raise ValueError(f"syscall number {nr} outside the table")
            handlers[nr] = handler
            names[nr] = name
        return cls(handlers, names)

    def name(self, nr: int) -> str:
        """The Linux name of ``nr`` (or ``syscall_<nr>``)."""
        if 0 <= nr < TABLE_SIZE:
            return self.names[nr]
        return f"syscall_{nr - (1 << 64) if nr >= 1 << 63 else nr}"
