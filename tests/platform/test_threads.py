"""Conformance of several contexts in one address space, one host thread
each (a multi-threaded application): shared memory, private registers and
FP state, mappings changed by one thread while another runs, and
interrupts that reach one context only. Runs on every back end."""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sentry.arch import Registers
from sentry.platform import (
    AccessType,
    Context,
    FaultTrap,
    Interrupted,
    SyscallTrap,
    Trap,
)
from tests.platform import asm
from tests.platform.conftest import CODE, DATA, PAGE, Machine

R, W, X = mmap.PROT_READ, mmap.PROT_WRITE, mmap.PROT_EXEC

# A few more instructions (Intel SDM vol. 2; checked with objdump -d).
PAUSE = b"\xf3\x90"
TEST_RDX_RDX = b"\x48\x85\xd2"
INC_QWORD_RBX = b"\x48\xff\x03"  # inc qword [rbx]


def _jz_back(to_offset: int, here: int) -> bytes:
    rel = to_offset - (here + 2)
    assert -128 <= rel < 0
    return b"\x74" + struct.pack("<b", rel)


#: How long a test waits for a condition before it gives up (a hang must
#: fail the test, not the suite; nothing is timed).
PATIENCE = 60.0


def _until(cond: Callable[[], bool], what: str) -> None:
    ev = threading.Event()
    for _ in range(int(PATIENCE * 1000)):
        if cond():
            return
        ev.wait(0.001)
    pytest.fail(f"timed out waiting for {what}")


def _run_until_trap(ctx: Context, space, regs: Registers) -> Trap:
    """Switch until something other than a (possibly spurious) Interrupted."""
    while True:
        trap = ctx.switch(space, regs)
        if not isinstance(trap, Interrupted):
            return trap


class _Threads:
    """Host threads, each with its own context of ``machine``'s platform."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.contexts: list[Context] = []
        self._lock = threading.Lock()

    def start(self, body: Callable[[Context, int], None], n: int) -> None:
        ready = threading.Barrier(n + 1)

        def run(i: int) -> None:
            ctx = self.machine.platform.new_context()
            with self._lock:
                self.contexts.append(ctx)
            try:
                ready.wait()
                body(ctx, i)
            except BaseException as exc:
                self.errors.append(exc)
            finally:
                ctx.release()

        for i in range(n):
            t = threading.Thread(target=run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        ready.wait()

    def join(self) -> None:
        for t in self.threads:
            t.join(PATIENCE)
        stuck = [t for t in self.threads if t.is_alive()]
        if stuck:
            for ctx in self.contexts:
                ctx.interrupt()
            pytest.fail(f"{len(stuck)} thread(s) never finished")
        if self.errors:
            raise self.errors[0]


@pytest.mark.parametrize("n", [2, 8])
def test_threads_share_memory_with_their_own_registers_and_fp(machine: Machine, n: int) -> None:
    """A ring of handshakes through shared memory: thread i publishes i+1
    in its slot and spins until its neighbour has published; every thread
    keeps its own registers and xmm0 across the others' runs."""
    code = asm.movq_xmm0_from("r13") + asm.store("rbx", "r12")
    spin = len(code)
    code += PAUSE + asm.load("rdx", "rcx") + TEST_RDX_RDX
    code += _jz_back(spin, len(code))
    first = len(code)
    code += asm.SYSCALL
    code += asm.movq_to_from_xmm0("r14") + asm.SYSCALL
    machine.code(code)
    machine.map(DATA, machine.page(), R | W)
    halfway = threading.Barrier(n)
    fp_values = [0x1111111111111111 * (i + 1) for i in range(n)]

    def body(ctx: Context, i: int) -> None:
        regs = Registers(
            rip=CODE,
            rbx=DATA + 8 * i,
            rcx=DATA + 8 * ((i + 1) % n),
            r12=i + 1,
            r13=fp_values[i],
            rax=1000 + i,
            rdi=i,
        )
        trap = _run_until_trap(ctx, machine.space, regs)
        assert isinstance(trap, SyscallTrap), trap
        assert regs.rip == CODE + first + 2
        assert (regs.orig_rax, regs.rdi, regs.r12) == (1000 + i, i, i + 1)
        assert regs.rdx == (i + 1) % n + 1  # the neighbour's write
        image = ctx.fp_state(machine.space)
        assert int.from_bytes(image[160:168], "little") == fp_values[i]  # xmm0
        halfway.wait(PATIENCE)  # every thread has loaded its own xmm0 now
        regs.rax = 2000 + i
        trap = _run_until_trap(ctx, machine.space, regs)
        assert isinstance(trap, SyscallTrap), trap
        assert regs.orig_rax == 2000 + i
        assert regs.r14 == fp_values[i]

    threads = _Threads(machine)
    threads.start(body, n)
    threads.join()
    slots = struct.unpack_from(f"<{n}Q", machine.memory, PAGE)
    assert list(slots) == [i + 1 for i in range(n)]


def _flagged_spin(body: bytes) -> tuple[bytes, int]:
    """``mov [rsi], rsi`` (a non-zero flag: "I run"), then ``body`` in a loop;
    returns the code and the offset where the loop starts."""
    code = asm.store("rsi", "rsi")
    return code + body, len(code)


def test_mapping_changes_reach_a_thread_running_in_the_space(machine: Machine) -> None:
    """Thread A spins in application code; this thread changes A's
    mappings meanwhile: A sees a replaced page, faults on an unmapped
    one, and faults on a write to a page made read only (no stale TLB)."""
    m = machine
    zeros, answer, flag = m.page(), m.page((42).to_bytes(8, "little")), m.page()
    FLAG = DATA + 0x10000
    m.map(FLAG, flag, R | W)
    # Phase 1: spin until [rbx] is non-zero, then syscall (rdx = the value).
    code, loop = _flagged_spin(asm.load("rdx", "rbx") + TEST_RDX_RDX)
    code += _jz_back(loop, len(code))
    code += asm.SYSCALL
    # Phase 2 (entered at `read_loop`): raise the flag and read [rbx], forever.
    read_loop = len(code)
    code += asm.store("rsi", "rsi") + asm.load("rdx", "rbx")
    code += asm.jmp_back(read_loop, len(code))
    # Phase 3 (at `write_loop`): raise the flag and write [rbx], forever.
    write_loop = len(code)
    code += asm.store("rsi", "rsi") + asm.store("rbx", "rdx")
    code += asm.jmp_back(write_loop, len(code))
    m.code(code)
    m.map(DATA, zeros, R | W)
    results: list[Trap] = []
    step = [threading.Event() for _ in range(3)]
    go = [threading.Event() for _ in range(3)]
    go[0].set()
    regs = Registers(rip=CODE, rbx=DATA, rsi=FLAG)

    def running() -> bool:
        return m.memory[flag : flag + 8] != bytes(8)

    def clear_flag() -> None:
        m.memory[flag : flag + 8] = bytes(8)

    def body(ctx: Context, i: int) -> None:
        for n, rip in enumerate((CODE, CODE + read_loop, CODE + write_loop)):
            assert go[n].wait(PATIENCE)
            regs.rip = rip
            results.append(_run_until_trap(ctx, m.space, regs))
            step[n].set()

    threads = _Threads(m)
    threads.start(body, 1)
    # A replaced present page: A's loop reads zeros until it sees 42.
    _until(running, "thread A to run")
    m.map(DATA, answer, R | W)
    _until(step[0].is_set, "thread A to see the new page")
    assert isinstance(results[0], SyscallTrap) and regs.rdx == 42
    # An unmapped page: A's read loop faults.
    clear_flag()
    go[1].set()
    _until(lambda: running() or bool(threads.errors), "thread A to read")
    m.space.unmap(DATA, PAGE)
    _until(lambda: step[1].is_set() or bool(threads.errors), "thread A to fault")
    assert results[1] == FaultTrap(DATA, AccessType.READ)
    # A downgrade to read only: A's write loop faults with WRITE.
    m.map(DATA, answer, R | W)
    clear_flag()
    go[2].set()
    _until(lambda: running() or bool(threads.errors), "thread A to write")
    m.map(DATA, answer, R)
    _until(lambda: step[2].is_set() or bool(threads.errors), "thread A to fault")
    assert results[2] == FaultTrap(DATA, AccessType.WRITE)
    threads.join()


def test_interrupt_reaches_only_its_own_context(machine: Machine) -> None:
    """Two threads count in application code; interrupting one stops it
    while the other keeps counting, until it is interrupted too."""
    m = machine
    counters = m.page()
    code = INC_QWORD_RBX
    code += asm.jmp_back(0, len(code))
    m.code(code)
    m.map(DATA, counters, R | W)
    done = [threading.Event(), threading.Event()]
    traps: list[list[Trap]] = [[], []]

    def count(i: int) -> int:
        return int.from_bytes(m.memory[counters + 8 * i : counters + 8 * i + 8], "little")

    def body(ctx: Context, i: int) -> None:
        regs = Registers(rip=CODE, rbx=DATA + 8 * i)
        traps[i].append(ctx.switch(m.space, regs))
        done[i].set()

    threads = _Threads(m)
    threads.start(body, 2)
    _until(lambda: count(0) > 0 and count(1) > 0, "both threads to count")
    ctxs = {id(c): c for c in threads.contexts}
    # Which context is which thread's: interrupt one, see which stops.
    first = threads.contexts[0]
    first.interrupt()
    _until(lambda: done[0].is_set() or done[1].is_set(), "the interrupted thread to stop")
    stopped = 0 if done[0].is_set() else 1
    other = 1 - stopped
    assert traps[stopped] == [Interrupted()]
    # The other one is still in application code, counting.
    before = count(other)
    _until(lambda: count(other) > before + 1000, "the other thread to keep counting")
    assert not done[other].is_set() and traps[other] == []
    for c in ctxs.values():
        if c is not first:
            c.interrupt()
    threads.join()
    assert traps[other] == [Interrupted()]


def test_release_after_many_threads_leaves_nothing(machine: Machine) -> None:
    """Eight threads ran in the space; after they end and the space is
    released, no host thread or process of it is left (ptrace: /proc)."""
    m = machine
    m.code(asm.SYSCALL)

    def body(ctx: Context, i: int) -> None:
        for _ in range(10):
            assert isinstance(ctx.switch(m.space, Registers(rip=CODE)), SyscallTrap)

    # This thread has a stub thread too (as a task's would).
    assert isinstance(m.run(Registers(rip=CODE)), SyscallTrap)
    threads = _Threads(m)
    threads.start(body, 8)
    threads.join()
    pid = getattr(m.space, "stub_pid", None)
    if pid is not None:
        # Only the parked leader and this thread's stub thread remain.
        assert len(os.listdir(f"/proc/{pid}/task")) == 2
    m.space.release()
    if pid is not None:
        assert not Path(f"/proc/{pid}").exists()


def test_threads_remapping_concurrently_each_see_their_own_changes(machine: Machine) -> None:
    """Four threads remap, unmap and read their own page in one address
    space at once: every read sees the mapping its thread made last
    (ptrace: injections from four stub threads; kvm: queued writes and
    shootdowns crossing four vCPUs)."""
    m = machine
    n, rounds = 4, 60
    m.code(asm.load("rdx", "rbx") + asm.SYSCALL)
    pages = [[m.page((1000 * i + k).to_bytes(8, "little")) for k in range(2)] for i in range(n)]

    def body(ctx: Context, i: int) -> None:
        addr = DATA + 2 * PAGE * i
        for r in range(rounds):
            if r % 10 == 9:
                m.space.unmap(addr, PAGE)
                trap = _run_until_trap(ctx, m.space, Registers(rip=CODE, rbx=addr))
                assert trap == FaultTrap(addr, AccessType.READ), (i, r, trap)
                continue
            m.space.map_file(addr, PAGE, pages[i][r % 2], R)
            regs = Registers(rip=CODE, rbx=addr)
            trap = _run_until_trap(ctx, m.space, regs)
            assert isinstance(trap, SyscallTrap), (i, r, trap)
            assert regs.rdx == 1000 * i + r % 2, (i, r)

    threads = _Threads(m)
    threads.start(body, n)
    threads.join()
