"""Type stub for the Cython module ``sentry.arch._registers``."""

from typing import Any

USER_CS: int
USER_DS: int
DEFAULT_EFLAGS: int
FIELDS: tuple[str, ...]

class Registers:
    r15: int
    r14: int
    r13: int
    r12: int
    rbp: int
    rbx: int
    r11: int
    r10: int
    r9: int
    r8: int
    rax: int
    rcx: int
    rdx: int
    rsi: int
    rdi: int
    orig_rax: int
    rip: int
    cs: int
    eflags: int
    rsp: int
    ss: int
    fs_base: int
    gs_base: int
    ds: int
    es: int
    fs: int
    gs: int
    def __init__(self, **fields: int) -> None: ...
    def copy(self) -> Registers: ...
    def load(self, other: Registers) -> None: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> Registers: ...
    def syscall_args(self) -> tuple[int, int, int, int, int, int]: ...
    def as_dict(self) -> dict[str, int]: ...
    def __eq__(self, other: object) -> bool: ...
    __hash__: Any
