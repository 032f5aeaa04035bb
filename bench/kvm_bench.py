"""The KVM platform's switch round trip, next to ptrace and the C floor.

    gcc -O2 -o /tmp/kvm_floor bench/kvm_floor.c
    .venv/bin/python bench/kvm_bench.py [iterations]

The application loops on ``syscall`` (getpid); per system call the loop does
what the Sentry's dispatcher minimally does: ``Context.switch`` returns a
SyscallTrap and the result is written to ``rax``. Reported, as minimum and
median over batches (the VM is shared with other work):

- kvm ``Context.switch`` (Python, Trap object) and the bare Cython
  ``Vcpu.switch`` below it, with the vCPU's KVM_RUN count per round trip;
- ptrace ``Context.switch`` (pinning "follow", the default);
- the C floor (``kvm_floor.c``: the same guest protocol from a C VMM), if
  built at /tmp/kvm_floor;
- what a page-table change costs on kvm: a fresh mapping (host write), and a
  remap of a present page (queued, made by the guest on the next entry).
"""

from __future__ import annotations

import mmap
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from sentry.arch import Registers
from sentry.platform import SyscallTrap
from sentry.platform.kvm import KvmPlatform
from sentry.platform.ptrace import PtracePlatform

CODE = 0x400000
DATA = 0x600000
PAGE = 4096
GETPID = 39
# mov eax, 39; syscall; jmp back to the mov
LOOP = bytes.fromhex("b827000000") + b"\x0f\x05" + b"\xeb\xf7"
BATCHES = 10


def _loop(switch: Callable[[Any, Registers], object], target: Any, regs: Registers, n: int) -> None:
    pid = 1234
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


def _memory() -> int:
    fd = os.memfd_create("bench-memory")
    os.ftruncate(fd, 64 * PAGE)
    with mmap.mmap(fd, PAGE) as m:
        m[: len(LOOP)] = LOOP
    return fd


def bench_kvm(iterations: int) -> dict[str, tuple[float, float]]:
    fd = _memory()
    platform = KvmPlatform(fd)
    try:
        space = platform.new_address_space()
        ctx = platform.new_context()
        space.map_file(CODE, PAGE, 0, mmap.PROT_READ | mmap.PROT_EXEC)
        regs = Registers(rip=CODE, rsp=0x7FFC00000000)
        assert isinstance(ctx.switch(space, regs), SyscallTrap)
        batch = max(iterations // BATCHES, 1)
        _loop(ctx.switch, space, regs, 500)
        assert ctx.vcpu is not None
        runs0, ns0 = ctx.vcpu.stats[0], ctx.vcpu.run_ns
        t0 = time.perf_counter()
        out = {"switch": _batches(lambda: _loop(ctx.switch, space, regs, batch), batch)}
        total_us = (time.perf_counter() - t0) * 1e6 / (batch * BATCHES)
        runs = (ctx.vcpu.stats[0] - runs0) / (batch * BATCHES)
        in_run = (ctx.vcpu.run_ns - ns0) / 1e3 / (batch * BATCHES)
        out["KVM_RUN per switch"] = (runs, runs)
        # Where the time goes (means over all batches): inside the KVM_RUN
        # ioctl (guest, host hypervisor, exit) versus everything else (the
        # C switch, Cython, Python, the Trap object, the loop).
        out["in KVM_RUN (mean)"] = (in_run, in_run)
        out["outside KVM_RUN (mean)"] = (total_us - in_run, total_us - in_run)
        out["core"] = _batches(
            lambda: _loop(ctx.vcpu.switch, space.page_table, regs, batch),  # type: ignore[union-attr]
            batch,
        )
        # Page-table changes, each followed by one round trip.
        n = max(iterations // 20, 50)

        def fresh() -> None:
            for i in range(n):
                space.map_file(DATA + PAGE * (i % 32), PAGE, PAGE * (1 + i % 8), mmap.PROT_READ)
                space.unmap(DATA + PAGE * (i % 32), PAGE) if i % 32 == 31 else None
                _loop(ctx.switch, space, regs, 1)

        def remap() -> None:
            for i in range(n):
                space.map_file(DATA, PAGE, PAGE * (1 + i % 2), mmap.PROT_READ)
                _loop(ctx.switch, space, regs, 1)

        space.map_file(DATA, PAGE, PAGE, mmap.PROT_READ)
        out["remap + switch"] = _batches(remap, n)
        out["map/unmap mix + switch"] = _batches(fresh, n)
        space.release()
    finally:
        platform.close()
        os.close(fd)
    return out


def bench_ptrace(iterations: int) -> tuple[float, float]:
    fd = _memory()
    platform = PtracePlatform(fd)
    try:
        space = platform.new_address_space()
        ctx = platform.new_context()
        space.map_file(CODE, PAGE, 0, mmap.PROT_READ | mmap.PROT_EXEC)
        regs = Registers(rip=CODE)
        assert isinstance(ctx.switch(space, regs), SyscallTrap)
        batch = max(iterations // BATCHES, 1)
        _loop(ctx.switch, space, regs, 500)
        result = _batches(lambda: _loop(ctx.switch, space, regs, batch), batch)
        space.release()
    finally:
        platform.close()
        os.close(fd)
    return result


def floor(iterations: int) -> str:
    binary = "/tmp/kvm_floor"
    if not os.path.exists(binary):
        return "(build bench/kvm_floor.c as /tmp/kvm_floor to compare)"
    return subprocess.run(
        [binary, str(iterations // 4)], capture_output=True, text=True, check=True
    ).stdout


def native_getpid(iterations: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iterations):
        os.getpid()
    return (time.perf_counter() - t0) / iterations * 1e6


def _floor_syscall_us(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("syscall"):
            return float(line.split(":")[1].split()[0])
    return None


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = 3
    print(f"{iterations} round trips each (minimum / median over {BATCHES} batches)")
    # Floor and kvm alternate, so that both see the same load on the
    # shared machine; the ratio uses the best of each.
    floors: list[float] = []
    switches: list[float] = []
    kvm: dict[str, tuple[float, float]] = {}
    for r in range(rounds):
        text = floor(iterations)
        if r == 0:
            print("C floor (bench/kvm_floor.c), first round:")
            print("  " + text.replace("\n", "\n  ").rstrip())
        f = _floor_syscall_us(text)
        if f is not None:
            floors.append(f)
        kvm = bench_kvm(iterations)
        switches.append(kvm["switch"][0])
    for name, (lo, med) in kvm.items():
        unit = "" if name.startswith("KVM_RUN") else " us"
        print(f"kvm    {name:24} {lo:8.2f}{unit} (median {med:8.2f})  [last round]")
    print(f"kvm    switch, best of {rounds} rounds  {min(switches):8.2f} us")
    if floors:
        print(
            f"C floor syscall, best of {rounds}     {min(floors):8.2f} us"
            f"   -> kvm / floor = {min(switches) / min(floors):.2f}"
        )
    lo, med = bench_ptrace(iterations)
    print(f"ptrace {'switch':24} {lo:8.2f} us (median {med:8.2f})")
    print(f"native os.getpid() from Python  {native_getpid(iterations):8.2f} us")


if __name__ == "__main__":
    main()
