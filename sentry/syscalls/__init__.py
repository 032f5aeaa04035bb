"""System call handlers and the explicit x86_64 table (gVisor
``syscalls/linux/linux64.go``).

Handlers are named after Linux (``sys_read``), one family per module
(``sys_read_write.py``, ``sys_mmap.py``), have the signature
``sys_<name>(t, args) -> int`` and raise typed errors from
``sentry.abi.errors``; they never return negative numbers. The table in
``table.py`` is the single source of truth: number, name, handler, support
level, note. It also generates ``docs/syscalls.md``.
"""
