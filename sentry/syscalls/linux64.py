"""The complete x86_64 table: imports every ``sys_*`` handler module and
gives every other Linux number an ``unimplemented`` row (gVisor
``syscalls/linux/linux64.go``).

The sandbox binds its table lazily (``build_table(lazy=True)``): each
implemented number starts as a ``DeferredHandler`` naming its module (from
the generated ``_index``), and the module is imported at that number's first
call. Most containers call a few dozen syscalls, so boot no longer imports
the 49 handler modules (about 10 ms of every start) before the container
runs; the boot process keeps their bytecode in memory for that, since it has
lost the host's files by then (``runtime.boot.codecache``)."""

from __future__ import annotations

import importlib
import os
from typing import Any

from sentry.abi.sysno import NAMES
from sentry.kernel.syscall_table import SyscallArgs, SyscallTable
from sentry.syscalls.table import TABLE, Entry, unimplemented

_loaded = False

PACKAGE = "sentry.syscalls"


def handler_modules() -> list[str]:
    """The ``sys_*`` module names, sorted."""
    here = os.path.dirname(__file__)
    return sorted(
        name[:-3] for name in os.listdir(here) if name.startswith("sys_") and name.endswith(".py")
    )


def load_handlers() -> dict[int, Entry]:
    """Import every handler module once; returns the registry (number -> Entry)."""
    global _loaded
    if not _loaded:
        for name in handler_modules():
            importlib.import_module(f"{PACKAGE}.{name}")
        for nr, name in NAMES.items():
            unimplemented(nr, name)
        _loaded = True
    return TABLE


class DeferredHandler:
    """A table slot whose module is imported at its first call.

    The first call imports the module (which registers its handlers), puts
    the real handler in the slot unless something else (the pause gate)
    holds it now, and runs it; later calls never come here."""

    __slots__ = ("module", "nr", "table")

    def __init__(self, table: SyscallTable, nr: int, module: str) -> None:
        self.table = table
        self.nr = nr
        self.module = module

    def resolve(self) -> Any:
        """The real handler (importing its module)."""
        module = f"{PACKAGE}.{self.module}"
        importlib.import_module(module)
        entry = TABLE.get(self.nr)
        if entry is None or entry.handler is None or entry.module != module:
            # The index is stale (scripts/gensyscalls rewrites it).
            raise RuntimeError(f"{module} did not register syscall {self.nr}")
        handler = entry.handler
        handlers = self.table.handlers
        if handlers[self.nr] is self:
            handlers[self.nr] = handler
        return handler

    def __call__(self, t: Any, args: SyscallArgs) -> int:
        result: int = self.resolve()(t, args)
        return result


def bind(table: SyscallTable, modules: tuple[str, ...]) -> None:
    """Bind now the deferred slots of ``modules`` (names under
    ``sentry.syscalls``): boot does it for what every program's start calls
    while it waits for StartRoot, idle otherwise."""
    for handler in table.handlers:
        if isinstance(handler, DeferredHandler) and handler.module in modules:
            handler.resolve()


def build_table(lazy: bool = False) -> SyscallTable:
    """The table the kernel dispatches through: every handler imported, or
    (``lazy``) each bound at its first call."""
    if not lazy:
        entries = load_handlers()
        return SyscallTable.from_entries({nr: (e.name, e.handler) for nr, e in entries.items()})
    from sentry.syscalls._index import HANDLERS

    rows: dict[int, tuple[str, Any]] = {nr: (name, None) for nr, name in NAMES.items()}
    for nr, (name, _) in HANDLERS.items():
        rows[nr] = (name, None)
    table = SyscallTable.from_entries(rows)
    for nr, (_, module) in HANDLERS.items():
        entry = TABLE.get(nr)
        if entry is not None and entry.handler is not None:
            table.handlers[nr] = entry.handler  # its module is imported already
        else:
            table.handlers[nr] = DeferredHandler(table, nr, module)
    return table
