"""The ptrace platform's switch round trip from Python (compare ptrace_floor.c).

Runs an application that loops on ``syscall`` (getpid) and, per system call,
does what the Sentry's dispatcher minimally does: ``Context.switch`` returns a
SyscallTrap and the result is written to ``rax``. Measured for each CPU
placement (``PtracePlatform(pinning=...)``):

    .venv/bin/python bench/platform_bench.py [iterations]

Also measured: the bare Cython switch (``SwitchState.switch``, no Trap
object), to show what the Python layer costs, and an injected host mmap
(``AddressSpace.map_file``), which mm pays per fault it resolves.
"""

from __future__ import annotations

import mmap
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sentry.arch import Registers
from sentry.hostsys import proc
from sentry.platform import SyscallTrap
from sentry.platform.ptrace import PtracePlatform

CODE = 0x400000
PAGE = 4096
GETPID = 39
# mov eax, 39; syscall; jmp back to the mov
LOOP = bytes.fromhex("b827000000") + b"\x0f\x05" + b"\xeb\xf7"


#: Each figure is the minimum (and median) over this many batches: the VM is
#: shared, and the minimum is the figure least disturbed by other load.
BATCHES = 10


def _loop_switch(
    switch: Callable[[Any, Registers], object], target: Any, regs: Registers, pid: int, n: int
) -> None:
    for _ in range(n):
        regs.rax = pid
        switch(target, regs)
        if regs.orig_rax != GETPID:
            raise AssertionError(f"unexpected stop: {regs!r}")


def _batches(run: Callable[[], None], batch: int) -> tuple[float, float]:
    times = []
    for _ in range(BATCHES):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) / batch * 1e6)
    return min(times), statistics.median(times)


def bench(pinning: str, iterations: int) -> dict[str, tuple[float, float]]:
    fd = os.memfd_create("bench-memory")
    os.ftruncate(fd, 4 * PAGE)
    with mmap.mmap(fd, PAGE) as m:
        m[: len(LOOP)] = LOOP
    allowed = proc.sched_getaffinity(0)
    platform = PtracePlatform(fd, pinning=pinning)
    try:
        space = platform.new_address_space()
        ctx = platform.new_context()
        space.map_file(CODE, PAGE, 0, mmap.PROT_READ | mmap.PROT_EXEC)
        regs = Registers(rip=CODE)
        assert isinstance(ctx.switch(space, regs), SyscallTrap)
        pid = os.getpid()
        batch = max(iterations // BATCHES, 1)
        _loop_switch(ctx.switch, space, regs, pid, 1000)  # warm up
        switch_us = _batches(lambda: _loop_switch(ctx.switch, space, regs, pid, batch), batch)
        # The Cython core alone.
        stub = space._live_stub()
        core_us = _batches(lambda: _loop_switch(ctx._state.switch, stub, regs, pid, batch), batch)
        # One injected mmap (what mm pays per mapping change).
        n = max(iterations // 10, 100)
        t0 = time.perf_counter()
        for i in range(n):
            space.map_file(CODE + PAGE, PAGE, PAGE * (1 + i % 2), mmap.PROT_READ)
        inject_us = (time.perf_counter() - t0) / n * 1e6, 0.0
        space.release()
    finally:
        platform.close()
        os.close(fd)
        proc.sched_setaffinity(0, allowed)  # "both" pinned this thread
    return {"switch": switch_us, "core": core_us, "map_file": inject_us}


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print(f"{iterations} round trips each; CPUs allowed: {sorted(proc.sched_getaffinity(0))}")
    for pinning in ("none", "follow", "both"):
        # A fresh thread per mode: the tracer is the thread that spawns the stub.
        result: dict[str, tuple[float, float]] = {}
        t = threading.Thread(target=lambda p=pinning, out=result: out.update(bench(p, iterations)))
        t.start()
        t.join()
        sw, core, inj = result["switch"], result["core"], result["map_file"]
        print(
            f"pinning={pinning:6}  Context.switch {sw[0]:6.2f} us (median {sw[1]:6.2f})"
            f"   bare SwitchState.switch {core[0]:6.2f} us (median {core[1]:6.2f})"
            f"   map_file {inj[0]:6.2f} us"
        )


if __name__ == "__main__":
    main()
