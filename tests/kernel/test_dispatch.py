"""The run loop and dispatcher, driven by a scripted fake platform."""

import logging

import pytest

from sentry.abi import sysno
from sentry.abi.errors import ERESTART_RESTARTBLOCK, ERESTARTSYS
from sentry.abi.mm import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
from sentry.arch import Registers
from sentry.kernel import Credentials, ExitStatus, Kernel, RLimits, SentryBug, SyscallTable, Task
from sentry.kernel.task import MASK64, restart_outcome
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager
from sentry.platform import AccessType, Context, FaultTrap, Platform, SignalTrap, SyscallTrap
from sentry.syscalls.linux64 import build_table
from tests.mm.fakes import RecordingAddressSpace


class ScriptedContext(Context):
    """Each switch applies the next step to the registers and returns its trap;
    it records the registers it was entered with."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.seen = []

    def switch(self, address_space, regs):
        self.seen.append(regs.copy())
        setup, trap = self.steps.pop(0)
        setup(regs)
        return trap

    def interrupt(self):
        pass

    def fp_state(self, address_space):
        return b""

    def set_fp_state(self, address_space, state):
        pass

    def release(self):
        pass


class FakePlatform(Platform):
    min_user_address = 0x10000
    max_user_address = 0x7FFFFFFFF000

    def new_address_space(self):
        return RecordingAddressSpace()

    def new_context(self, placement=None):
        return ScriptedContext([])

    def close(self):
        pass


def syscall_step(nr, *args):
    def setup(regs):
        regs.orig_rax = nr
        regs.rax = nr
        for name, value in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), args, strict=False):
            setattr(regs, name, value)
        regs.rip += 2

    return setup, SyscallTrap()


def fault_step(addr, access):
    return (lambda regs: None), FaultTrap(addr, access)


@pytest.fixture
def mf():
    f = MemoryFile(size=1 << 28)
    yield f
    f.close()


def make_task(mf, steps, table=None):
    platform = FakePlatform()
    kernel = Kernel(platform, mf, vfs=None, syscall_table=table or build_table())
    task = Task(
        kernel, 1, creds=Credentials.for_ids(0, 0), fd_table=None, fs=None, rlimits=RLimits()
    )
    task.mm = MemoryManager(mf, platform.new_address_space(), 0x10000, 0x7FFFFFFFF000)
    task.regs = Registers()
    task.regs.rip = 0x400000
    task.context = ScriptedContext(steps)
    kernel.tasks[1] = task
    return task


def test_results_and_errors_reach_rax(mf, caplog):
    t = make_task(mf, [
        syscall_step(sysno.GETPID),
        syscall_step(500),
        syscall_step(500),
        syscall_step(sysno.RT_SIGPROCMASK, 0, 0, 0, 4),  # bad sigsetsize: EINVAL
        syscall_step(sysno.EXIT_GROUP, 3),
    ])  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="sentry.kernel"):
        status = t.run()
    seen = t.context.seen
    assert seen[1].rax == 1  # getpid's result, seen by the next switch
    assert seen[2].rax == -38 & MASK64  # ENOSYS
    assert seen[4].rax == -22 & MASK64  # EINVAL
    assert status == ExitStatus(code=3)
    assert [r.message for r in caplog.records].count("unsupported syscall syscall_500: ENOSYS") == 1


def _table_with(nr, handler):
    base = build_table()
    handlers = list(base.handlers)
    handlers[nr] = handler
    return SyscallTable(handlers, list(base.names))


@pytest.mark.parametrize(
    ("error", "expect_rax"),
    [(ERESTARTSYS, sysno.GETUID), (ERESTART_RESTARTBLOCK, sysno.RESTART_SYSCALL)],
)
def test_restart_codes_rewind_the_syscall(mf, error, expect_rax):
    calls = []

    def flaky(t, args):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return 77

    t = make_task(
        mf,
        [syscall_step(sysno.GETUID), syscall_step(sysno.EXIT, 0)],
        _table_with(sysno.GETUID, flaky),
    )
    t.run()
    after = t.context.seen[1]
    assert after.rip == 0x400000 + 2 - 2  # back on the syscall instruction
    assert after.rax == expect_rax


def test_restart_outcome_rules():
    assert restart_outcome(512, has_handler=False, sa_restart=False) == "restart"
    assert restart_outcome(516, has_handler=False, sa_restart=False) == "restart_block"
    assert restart_outcome(512, has_handler=True, sa_restart=True) == "restart"
    assert restart_outcome(512, has_handler=True, sa_restart=False) == "eintr"
    assert restart_outcome(513, has_handler=True, sa_restart=False) == "restart"
    assert restart_outcome(514, has_handler=True, sa_restart=True) == "eintr"


def test_faults_populate_or_kill(mf):
    t = make_task(mf, [])
    addr = t.mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    t.context.steps = [fault_step(addr, AccessType.READ), fault_step(addr, AccessType.WRITE)]
    assert t.run() == ExitStatus(signo=11)
    assert addr in t.mm.address_space.pages


def test_synchronous_signal_is_fatal(mf):
    t = make_task(mf, [((lambda regs: None), SignalTrap(signo=4))])
    assert t.run() == ExitStatus(signo=4)


def test_unexpected_exception_is_a_sentry_bug(mf):
    def broken(t, args):
        raise ValueError("oops")

    t = make_task(mf, [syscall_step(sysno.GETUID)], _table_with(sysno.GETUID, broken))
    with pytest.raises(SentryBug):
        t.run()
    assert "getuid" in t.kernel.bug and "ValueError: oops" in t.kernel.bug
    assert t.kernel.wait(0) is not None


def test_copy_out_through_a_syscall(mf):
    t = make_task(mf, [])
    buf = t.mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    t.context.steps = [
        syscall_step(sysno.UNAME, buf),
        syscall_step(sysno.UNAME, 8),
        syscall_step(sysno.EXIT, 0),
    ]
    t.run()
    assert t.mm.copy_in(buf, 5) == b"Linux"
    assert t.context.seen[2].rax == -14 & MASK64  # EFAULT


def test_out_of_memory_on_fault_kills_the_task():
    small = MemoryFile(size=4 * PAGE_SIZE)
    try:
        t = make_task(small, [])
        addr = t.mm.mmap(0, 64 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        t.context.steps = [fault_step(addr, AccessType.WRITE)]
        assert t.run() == ExitStatus(signo=9)
        assert t.kernel.bug is None
    finally:
        small.close()


class _LostContext(ScriptedContext):
    """The host killed the stub (e.g. the memory cgroup's OOM killer)."""

    def switch(self, address_space, regs):
        from sentry.platform import ContextLost

        raise ContextLost("stub 1234 died (status 0x9)")


def test_lost_context_kills_the_task_not_the_sentry(mf):
    t = make_task(mf, [])
    t.context = _LostContext([])
    assert t.run() == ExitStatus(signo=9)
    assert t.kernel.bug is None


def test_lost_context_during_a_syscall_is_not_a_sentry_bug(mf):
    from sentry.platform import ContextLost

    def mirror_fails(t, args):
        raise ContextLost("stub died while a mapping was injected")

    t = make_task(
        mf,
        [syscall_step(sysno.GETUID)],
        _table_with(sysno.GETUID, mirror_fails),
    )
    assert t.run() == ExitStatus(signo=9)
    assert t.kernel.bug is None
