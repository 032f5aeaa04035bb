"""Type stub for the Cython module ``sentry.mm._runs``."""

def present_runs(
    pages: dict[int, int], addr: int, n: int, shared: dict[int, int] | None
) -> list[tuple[int, int]] | None: ...
def mirror_runs(
    pages: dict[int, int], start: int, end: int, shared: dict[int, int] | None
) -> list[tuple[int, int, int, bool]]: ...
def copy_in_present(
    pages: dict[int, int], addr: int, n: int, memory: memoryview
) -> bytes | None: ...
def copy_out_present(
    pages: dict[int, int],
    addr: int,
    data: bytes | bytearray | memoryview,
    memory: memoryview,
    shared: dict[int, int] | None,
) -> bool: ...
