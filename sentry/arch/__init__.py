"""x86_64 architecture state: registers, FPU state, signal frames, the syscall argument convention.

``Registers`` (Cython, ``_registers.pyx``) wraps Linux ``struct
user_regs_struct``; other Cython modules ``cimport`` it from
``sentry.arch._registers`` to copy the struct without Python overhead.
"""

from sentry.arch._registers import DEFAULT_EFLAGS, FIELDS, USER_CS, USER_DS, Registers

__all__ = ["DEFAULT_EFLAGS", "FIELDS", "USER_CS", "USER_DS", "Registers"]
