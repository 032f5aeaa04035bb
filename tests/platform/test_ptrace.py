"""White-box tests of the ptrace back end: the stub's isolation (maps, fds,
seccomp), its lifetime, vsyscalls, CPU binding, threading rules."""

from __future__ import annotations

import mmap
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentry.arch import Registers
from sentry.hostsys import proc
from sentry.hostsys.cpus import ALLOWED, unpin_thread
from sentry.platform import AccessType, FaultTrap, Interrupted, SignalTrap, SyscallTrap
from sentry.platform.ptrace import PtracePlatform, StubExitedError
from sentry.platform.ptrace import stub as stubmod
from sentry.platform.ptrace._ptrace import PIN_STICKY, STICKY_LEASE_NS
from sentry.platform.ptrace.platform import PtraceAddressSpace, PtraceContext
from tests.platform import asm
from tests.platform.conftest import CODE, DATA, PAGE, probe

R, W, X = mmap.PROT_READ, mmap.PROT_WRITE, mmap.PROT_EXEC

pytestmark = pytest.mark.ptrace


Setup = tuple[PtracePlatform, PtraceAddressSpace, PtraceContext, mmap.mmap]


def _platform(**kwargs: str) -> Iterator[Setup]:
    """A platform over a 16-page memory file, one address space and one
    context (tests/conftest.py restores the thread's CPU set afterwards)."""
    reason = probe("ptrace")
    if reason is not None:
        pytest.skip(reason)
    fd = os.memfd_create("ptrace-test")
    os.ftruncate(fd, 16 * PAGE)
    mem = mmap.mmap(fd, 16 * PAGE)
    p = PtracePlatform(fd, **kwargs)  # type: ignore[arg-type]
    try:
        yield p, p.new_address_space(), p.new_context(), mem
    finally:
        p.close()
        mem.close()
        os.close(fd)


@pytest.fixture
def setup() -> Iterator[Setup]:
    yield from _platform()


@pytest.fixture
def syscall_page() -> Iterator[int]:
    """A memory file whose first page holds ``syscall`` (for tests that
    build their own platform)."""
    reason = probe("ptrace")
    if reason is not None:
        pytest.skip(reason)
    fd = os.memfd_create("ptrace-test")
    os.ftruncate(fd, PAGE)
    with mmap.mmap(fd, PAGE) as m:
        m[0:2] = asm.SYSCALL
    try:
        yield fd
    finally:
        os.close(fd)


def _started(space: PtraceAddressSpace, ctx: PtraceContext, mem: mmap.mmap, code: bytes) -> int:
    mem[0 : len(code)] = code
    space.map_file(CODE, PAGE, 0, R | X)
    assert isinstance(ctx.switch(space, Registers(rip=CODE)), SyscallTrap)
    pid = space.stub_pid
    assert pid is not None
    return pid


def test_stub_keeps_only_its_page_and_the_memory_file(setup) -> None:
    p, space, ctx, mem = setup
    pid = _started(space, ctx, mem, asm.SYSCALL)
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    ranges = [tuple(int(x, 16) for x in line.split()[0].split("-")) for line in maps]
    vsyscall = (0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000)
    assert ranges == [(CODE, CODE + PAGE), (p.image.start, p.image.end), vsyscall]
    assert "[stack]" not in "".join(maps) and "[vdso]" not in "".join(maps)
    fds = sorted(os.listdir(f"/proc/{pid}/fd"))
    assert fds == [str(stubmod.STUB_MEMORY_FD), str(stubmod.STUB_PARK_FD)]
    assert os.readlink(f"/proc/{pid}/fd/{stubmod.STUB_PARK_FD}").startswith("pipe:")
    stub = space._live_stub()
    assert stub.tid != pid
    assert sorted(int(t) for t in os.listdir(f"/proc/{pid}/task")) == sorted([pid, stub.tid])
    leader = _status(f"/proc/{pid}/status")
    thread = _status(f"/proc/{pid}/task/{stub.tid}/status")
    for status in (leader, thread):
        assert status["Seccomp"].strip() == "2"
        assert status["NoNewPrivs"].strip() == "1"
    # The sysemu thread: traced by us, nothing blocked; the parked leader:
    # untraced, every blockable signal blocked, asleep in the park read.
    assert int(thread["SigBlk"], 16) == 0
    assert int(thread["TracerPid"]) == os.getpid()
    assert int(leader["SigBlk"], 16) == ~(1 << 8 | 1 << 18) & ((1 << 64) - 1)
    assert int(leader["TracerPid"]) == 0
    assert leader["State"].startswith("S")


def _status(path: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in Path(path).read_text().splitlines())


def test_seccomp_kills_a_stub_making_any_other_host_call(setup) -> None:
    _p, space, ctx, mem = setup
    _started(space, ctx, mem, asm.SYSCALL)
    stub = space._live_stub()
    with pytest.raises(StubExitedError, match="seccomp"):
        stub.syscall(39)  # getpid: not on the allow list
    assert stub.exit_status == 128 + signal.SIGSYS


@pytest.mark.parametrize(
    ("what", "flags", "fd"),
    [
        ("private mapping", mmap.MAP_PRIVATE | 0x10, stubmod.STUB_MEMORY_FD),
        ("another descriptor", mmap.MAP_SHARED | 0x10, 0),
        ("anonymous memory", mmap.MAP_SHARED | 0x10 | mmap.MAP_ANONYMOUS, stubmod.STUB_MEMORY_FD),
    ],
)
def test_seccomp_allows_only_memory_file_mappings(setup, what: str, flags: int, fd: int) -> None:
    _p, space, ctx, mem = setup
    _started(space, ctx, mem, asm.SYSCALL)
    stub = space._live_stub()
    with pytest.raises(StubExitedError):
        stub.syscall(9, DATA, PAGE, R, flags, fd, 0)


def test_vsyscall_is_served_as_a_system_call(setup) -> None:
    _p, space, ctx, mem = setup
    code = asm.SYSCALL + asm.mov_imm64("rax", 0xFFFFFFFFFF600400) + asm.call_reg("rax")
    after_call = CODE + len(code)
    code += asm.SYSCALL
    _started(space, ctx, mem, code)
    mem[PAGE : PAGE + 8] = b"\0" * 8
    space.map_file(DATA, PAGE, PAGE, R | W)
    regs = Registers(rip=CODE + 2, rsp=DATA + PAGE - 64, rdi=0)
    trap = ctx.switch(space, regs)
    assert isinstance(trap, SyscallTrap)
    assert regs.orig_rax == 201  # time(2)
    assert regs.rip == after_call  # the host emulated the ret
    assert regs.rsp == DATA + PAGE - 64
    regs.rax = 1234
    assert isinstance(ctx.switch(space, regs), SyscallTrap)
    assert regs.rip == after_call + 2


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def _tasks(pid: int) -> set[int]:
    try:
        return {int(t) for t in os.listdir(f"/proc/{pid}/task")}
    except FileNotFoundError:
        return set()


def test_stub_thread_is_retired_when_its_tracer_thread_ends(syscall_page: int) -> None:
    p = PtracePlatform(syscall_page)
    space = p.new_address_space()
    tids: list[int] = []

    def tracer() -> None:
        # No release(): the host thread's end retires its stub thread.
        space.map_file(CODE, PAGE, 0, R | X)
        p.new_context().switch(space, Registers(rip=CODE))
        tids.append(space._live_stub().tid)

    t = threading.Thread(target=tracer)
    t.start()
    t.join()
    pid = space.stub_pid
    assert pid is not None and tids
    # The stub thread exited and was reaped on the ending thread; the
    # parked leader keeps the address space for other threads.
    assert _tasks(pid) == {pid}
    assert _proc_state(pid) == "S"
    ctx = p.new_context()
    assert isinstance(ctx.switch(space, Registers(rip=CODE)), SyscallTrap)
    assert _tasks(pid) == {pid, space._live_stub().tid}
    p.close()
    assert _proc_state(pid) is None


_ORPHAN = """
import mmap, os, sys
from sentry.arch import Registers
from sentry.platform.ptrace import PtracePlatform
fd = os.memfd_create("m")
os.ftruncate(fd, 4096)
with mmap.mmap(fd, 4096) as m:
    m[0:2] = b"\\x0f\\x05"
p = PtracePlatform(fd)
s = p.new_address_space()
s.map_file(0x400000, 4096, 0, mmap.PROT_READ | mmap.PROT_EXEC)
p.new_context().switch(s, Registers(rip=0x400000))
print(s.stub_pid, flush=True)
os.kill(os.getpid(), 9)
"""


def test_stub_leaves_when_the_sentry_dies() -> None:
    reason = probe("ptrace")
    if reason is not None:
        pytest.skip(reason)
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _ORPHAN], capture_output=True, text=True, timeout=60
    )
    pid = int(out.stdout.split()[0])
    # The sysemu thread died with its tracer (PTRACE_O_EXITKILL); had it
    # not, the parked leader would still see end of file on the park pipe
    # and exit_group. Either way nothing is left (init reaps the orphan).
    for _ in range(1000):
        if _proc_state(pid) in (None, "Z", "X"):
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail(f"stub {pid} outlived the Sentry (state {_proc_state(pid)})")


def test_dropped_address_space_leaves_no_process(setup) -> None:
    p, _space, ctx, mem = setup
    space = p.new_address_space()
    pid = _started(space, ctx, mem, asm.SYSCALL)
    del space
    import gc

    gc.collect()
    assert _proc_state(pid) is None


def test_a_context_is_bound_to_its_thread_but_any_thread_maps(setup) -> None:
    _p, space, ctx, mem = setup
    pid = _started(space, ctx, mem, asm.SYSCALL + asm.load("rdx", "rbx") + asm.SYSCALL)
    mine = space._live_stub().tid
    errors: list[BaseException] = []
    theirs: list[int] = []

    def other() -> None:
        try:
            ctx.switch(space, Registers(rip=CODE))
        except RuntimeError as exc:
            errors.append(exc)
        mem[PAGE : PAGE + 8] = (77).to_bytes(8, "little")
        space.map_file(DATA, PAGE, PAGE, R)  # injected through its own stub thread
        theirs.append(space._live_stub().tid)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1 and "only be driven by its tracer" in str(errors[0])
    assert theirs and theirs[0] not in (mine, pid)
    assert _tasks(pid) == {pid, mine}  # the other thread's was retired at its end
    regs = Registers(rip=CODE + 2, rbx=DATA)
    assert isinstance(ctx.switch(space, regs), SyscallTrap)
    assert regs.rdx == 77


def test_mappings_before_the_first_switch_are_replayed(setup) -> None:
    _p, space, ctx, mem = setup
    code = asm.load("rdx", "rbx") + asm.SYSCALL
    mem[0 : len(code)] = code
    mem[PAGE : PAGE + 8] = (4242).to_bytes(8, "little")
    space.map_file(CODE, PAGE, 0, R | X)
    space.map_file(DATA, 2 * PAGE, PAGE, R)
    space.unmap(DATA + PAGE, PAGE)
    assert space.stub_pid is None
    regs = Registers(rip=CODE, rbx=DATA)
    assert isinstance(ctx.switch(space, regs), SyscallTrap)
    assert regs.rdx == 4242
    regs = Registers(rip=CODE, rbx=DATA + PAGE)
    assert isinstance(ctx.switch(space, regs), FaultTrap)


def test_stub_killed_from_outside_is_reported(setup) -> None:
    _p, space, ctx, mem = setup
    pid = _started(space, ctx, mem, asm.SYSCALL)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(StubExitedError):
        ctx.switch(space, Registers(rip=CODE))
    with pytest.raises(StubExitedError):
        space.map_file(DATA, PAGE, 0, R)


def test_signals_sent_to_the_stub_from_outside_are_dropped(setup) -> None:
    _p, space, ctx, mem = setup
    code = asm.SYSCALL
    code += asm.jmp_back(0, len(code))
    pid = _started(space, ctx, mem, code)
    regs = Registers(rip=CODE)
    for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGUSR1, signal.SIGSEGV):
        os.kill(pid, sig)
        assert isinstance(ctx.switch(space, regs), SyscallTrap), sig


@pytest.fixture
def follow() -> Iterator[Setup]:
    yield from _platform(pinning="follow")


@pytest.fixture
def sticky() -> Iterator[Setup]:
    yield from _platform(pinning="sticky")


def test_follow_pinning_binds_the_stub_to_the_tracer_cpu(follow) -> None:
    _p, space, ctx, mem = follow
    _started(space, ctx, mem, asm.SYSCALL)
    tid = space._live_stub().tid  # the stub thread this (tracer) thread drives
    allowed = proc.sched_getaffinity(0)
    for cpu in sorted(allowed):
        proc.sched_setaffinity(0, [cpu])
        ctx.switch(space, Registers(rip=CODE))
        assert proc.sched_getaffinity(tid) == {cpu}


def test_sticky_pinning_pins_tracer_and_stub_to_one_cpu_for_a_lease(sticky) -> None:
    _p, space, ctx, mem = sticky
    allowed = set(ALLOWED)
    assert proc.sched_getaffinity(0) == allowed  # no pin left by the probe
    if len(allowed) < 2:
        pytest.skip("needs two CPUs to tell a pin from the allowed set")
    _started(space, ctx, mem, asm.SYSCALL)
    tid = space._live_stub().tid
    ctx.switch(space, Registers(rip=CODE))
    mine = proc.sched_getaffinity(0)
    assert len(mine) == 1
    assert proc.sched_getaffinity(tid) == mine
    assert ctx._state.tracer_cpu in mine
    # A helper thread started now inherits the pin and drops it.
    seen: list[set[int]] = []

    def helper() -> None:
        seen.append(proc.sched_getaffinity(0))
        unpin_thread()
        seen.append(proc.sched_getaffinity(0))

    t = threading.Thread(target=helper)
    t.start()
    t.join()
    assert seen == [mine, set(ALLOWED)]
    # When the lease is over, one round trip runs with the tracer free
    # (the scheduler may move it), and the next one pins it again.
    time.sleep(STICKY_LEASE_NS / 1e9 + 0.03)  # the coarse clock ticks in jiffies
    ctx.switch(space, Registers(rip=CODE))
    assert proc.sched_getaffinity(0) == allowed
    assert ctx._state.tracer_cpu == -1
    ctx.switch(space, Registers(rip=CODE))
    again = proc.sched_getaffinity(0)
    assert len(again) == 1 and proc.sched_getaffinity(tid) == again
    # Released, the context leaves its thread unpinned.
    ctx.release()
    assert proc.sched_getaffinity(0) == allowed


def test_sticky_placement_avoids_a_cpu_where_a_stub_is_running(sticky) -> None:
    """A task started while another task's stub runs on this CPU goes to an
    idle CPU (``PtracePlatform.placement``); otherwise it stays here."""
    platform, space, _ctx, mem = sticky
    allowed = sorted(ALLOWED)
    if len(allowed) < 2:
        pytest.skip("needs two CPUs")
    here = allowed[0]
    proc.sched_setaffinity(0, [here])
    assert platform.placement() == here  # nothing runs anywhere
    mem[0:2] = asm.JMP_SELF
    space.map_file(CODE, PAGE, 0, R | X)
    contexts: list[PtraceContext] = []
    traps: list[object] = []
    started = threading.Event()

    def spin() -> None:  # a task whose stub runs until interrupted
        ctx = platform.new_context()
        contexts.append(ctx)
        started.set()
        traps.append(ctx.switch(space, Registers(rip=CODE)))
        ctx.release()

    t = threading.Thread(target=spin)  # inherits the pin to ``here``
    t.start()
    started.wait()
    deadline = time.monotonic() + 5
    while platform.placement() == here and time.monotonic() < deadline:
        time.sleep(0.001)  # until the stub runs
    assert platform.placement() in set(allowed) - {here}
    contexts[0].interrupt()
    t.join(5)
    assert traps and isinstance(traps[0], Interrupted)
    assert platform.placement() == here


def test_sticky_is_the_default_pinning(setup) -> None:
    p, _space, ctx, _mem = setup
    assert p.pin_mode == PIN_STICKY and ctx._state.pin_mode == PIN_STICKY


def test_bad_platform_arguments() -> None:
    with pytest.raises(ValueError, match="pinning"):
        PtracePlatform(0, pinning="sometimes")
    with pytest.raises(ValueError):
        PtracePlatform(-1)
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        PtracePlatform(r)


def test_stub_image_validation(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pip install"):
        stubmod.open_stub_image(tmp_path / "missing")
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"#!/bin/sh\n" + b"\0" * 100)
    with pytest.raises(ValueError, match="ELF"):
        stubmod.open_stub_image(bogus)
    image = stubmod.open_stub_image()
    try:
        assert image.end - image.start == PAGE  # the stub fits one page
        assert image.start == 0x7FFBFF000000
    finally:
        os.close(image.fd)


def test_access_beyond_the_memory_file_is_sigbus(setup) -> None:
    _p, space, ctx, mem = setup
    _started(space, ctx, mem, asm.SYSCALL + asm.load("rdx", "rbx") + asm.SYSCALL)
    # The test MemoryFile has 16 pages: offset 16 pages is past its end.
    space.map_file(DATA, PAGE, 16 * PAGE, R)
    regs = Registers(rip=CODE + 2, rbx=DATA + 8)
    trap = ctx.switch(space, regs)
    assert trap == SignalTrap(signal.SIGBUS, 2, DATA + 8)  # BUS_ADRERR


def test_seccomp_allows_only_stub_thread_and_stub_process_clones(setup) -> None:
    _p, space, ctx, mem = setup
    _started(space, ctx, mem, asm.SYSCALL)
    stub = space._live_stub()
    # A plain fork-like clone (not CLONE_STUB_THREAD nor CLONE_STUB_PROCESS): killed.
    with pytest.raises(StubExitedError):
        stub.syscall(56, 0x11)  # SIGCHLD
    assert stub.exit_status == 128 + signal.SIGSYS


def test_release_while_threads_run_kills_every_stub_thread(setup) -> None:
    p, space, ctx, mem = setup
    code = asm.SYSCALL
    spin = len(code)
    code += asm.JMP_SELF
    pid = _started(space, ctx, mem, code)
    lost: list[BaseException] = []
    running = threading.Barrier(3)

    def runner() -> None:
        c = p.new_context()
        try:
            running.wait()
            while True:  # spins in application code until the stub dies
                c.switch(space, Registers(rip=CODE + spin))
        except StubExitedError as exc:
            lost.append(exc)
        finally:
            c.release()

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    running.wait()
    for _ in range(5000):  # both stub threads exist (and spin)
        if len(_tasks(pid)) == 4:
            break
        threading.Event().wait(0.001)
    assert len(_tasks(pid)) == 4
    space.release()
    for t in threads:
        t.join(60)
    assert len(lost) == 2
    p.drain()  # the pool thread reaps released stubs
    assert _proc_state(pid) is None


def test_write_protect_keeps_reads_and_faults_writes(setup) -> None:
    _p, space, ctx, mem = setup
    # load rdx <- [rbx]; syscall; store [rbx] <- rdx; syscall
    code = asm.SYSCALL + asm.load("rdx", "rbx") + asm.SYSCALL
    store_at = len(code)
    code += asm.store("rbx", "rdx") + asm.SYSCALL
    _started(space, ctx, mem, code)
    mem[PAGE : PAGE + 8] = (42).to_bytes(8, "little")
    space.map_file(DATA, PAGE, PAGE, R | W)
    space.write_protect(DATA, PAGE)
    regs = Registers(rip=CODE + 2, rbx=DATA)
    assert isinstance(ctx.switch(space, regs), SyscallTrap)  # the read goes on
    assert regs.rdx == 42
    regs = Registers(rip=CODE + store_at, rbx=DATA, rdx=7)
    trap = ctx.switch(space, regs)
    assert trap == FaultTrap(DATA, AccessType.WRITE)
    assert space.mirror.find(DATA).prot == R


def test_address_spaces_adopt_spare_stubs_from_the_pool(setup) -> None:
    p, _space, ctx, mem = setup
    first = p.new_address_space()
    pids = [_started(first, ctx, mem, asm.SYSCALL)]  # its own stub: no pool yet
    assert p.pool.ready == 0 and _children() == set(pids)
    spaces = [first, p.new_address_space()]
    pids.append(_started(spaces[1], ctx, mem, asm.SYSCALL))  # starts the pool
    for _ in range(1000):  # the pool thread fills it in the background
        if p.pool.ready == 2:
            break
        threading.Event().wait(0.01)
    others = _children() - set(pids)
    states = {pid: _proc_state(pid) for pid in others}
    # Two parked spares (sleeping in the park read) and the template they
    # were cloned from (stopped, traced by the pool thread); all of them
    # children of the Sentry (CLONE_PARENT), not of the template.
    spare = {pid for pid, st in states.items() if st == "S"}
    assert len(spare) == 2 and sorted(str(st) for st in states.values()) == ["S", "S", "t"]
    assert all(_ppid(pid) == os.getpid() for pid in others | set(pids))
    # The next address space adopts a spare and runs on its parked thread.
    spaces.append(p.new_address_space())
    adopted = _started(spaces[2], ctx, mem, asm.SYSCALL)
    assert adopted in spare
    assert _tasks(adopted) == {adopted, spaces[2]._live_stub().tid}
    pids.append(adopted)
    for s in spaces:
        s.release()  # killed now, reaped by the pool thread
    p.drain()
    assert all(_proc_state(pid) is None for pid in pids)
    p.quiesce()  # what the kernel does before counting leftovers
    assert p.pool.ready == 0 and _children() == set()
    for pid in others:  # killed and reaped, the template too
        assert _proc_state(pid) is None
    space = p.new_address_space()  # without the pool: started on this thread
    assert _started(space, ctx, mem, asm.SYSCALL) in _children()
    space.release()


def test_prepare_starts_the_first_address_space_stub_ahead(setup) -> None:
    p, _space, ctx, mem = setup
    before = _children()
    p.prepare()  # boot, while it waits for StartRoot
    (ahead,) = _children() - before
    for _ in range(200):  # detached, it runs on into the park loop's read
        if _proc_state(ahead) == "S":
            break
        threading.Event().wait(0.01)
    assert _proc_state(ahead) == "S"  # parked, traced by nobody
    assert p.pool._thread is None  # no pool thread for it
    first = p.new_address_space()
    assert _started(first, ctx, mem, asm.SYSCALL) == ahead
    p.prepare()  # too late: the first address space has its stub
    assert _children() - before == {ahead}
    first.release()
    p.drain()


def test_without_spare_stubs_the_platform_starts_its_own(syscall_page: int) -> None:
    p = PtracePlatform(syscall_page, spare_stubs=0)
    try:
        space = p.new_address_space()
        space.map_file(CODE, PAGE, 0, R | X)
        assert isinstance(p.new_context().switch(space, Registers(rip=CODE)), SyscallTrap)
        assert p.pool.ready == 0 and _children() == {space.stub_pid}
    finally:
        p.close()


def _children() -> set[int]:
    out: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            out |= {int(x) for x in f.read().split()}
    return out


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
