import io

from sentry.abi import sysno
from sentry.abi.errors import EBADF
from sentry.abi.mm import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
from sentry.kernel import ExitStatus, SyscallTable, TaskExit
from sentry.kernel.syscall_table import Handler
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager
from sentry.strace import wrap_table
from tests.mm.fakes import RecordingAddressSpace


class FakeTask:
    tid = 7

    def __init__(self, mm):
        self.mm = mm


def _table():
    def sys_write(t, args):
        if args[0] == 99:
            raise EBADF
        return args[2]

    def sys_exit_group(t, args):
        raise TaskExit(ExitStatus(code=args[0]), group=True)

    handlers: list[Handler | None] = [None] * 512
    names = [f"syscall_{i}" for i in range(512)]
    handlers[sysno.WRITE], names[sysno.WRITE] = sys_write, "write"
    handlers[sysno.EXIT_GROUP], names[sysno.EXIT_GROUP] = sys_exit_group, "exit_group"
    names[sysno.READ] = "read"  # listed, no handler: ENOSYS
    return SyscallTable(handlers, names)


def test_wrapped_handlers_log_decoded_calls():
    mf = MemoryFile(size=1 << 20)
    mm = MemoryManager(mf, RecordingAddressSpace(), 0x10000, 0x7FFFFFFFF000)
    buf = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.copy_out(buf, b"hi\n")
    out = io.StringIO()
    table = wrap_table(_table(), out)
    t = FakeTask(mm)
    write, exit_group = table.handlers[sysno.WRITE], table.handlers[sysno.EXIT_GROUP]
    assert write is not None and exit_group is not None
    assert write(t, (1, buf, 3, 0, 0, 0)) == 3
    try:
        write(t, (99, buf, 3, 0, 0, 0))
    except EBADF:
        pass
    else:
        raise AssertionError("the error must propagate")
    try:
        exit_group(t, (2, 0, 0, 0, 0, 0))
    except TaskExit:
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == '[   7] write(1, "hi\\x0a", 3) = 3'
    assert lines[1].startswith('[   7] write(99, "hi\\x0a", 3) = -1 EBADF')
    assert lines[2] == "[   7] exit_group(2) = ?"
    assert table.handlers[sysno.READ] is not None  # unimplemented rows are traced too
    assert table.handlers[500] is None  # numbers Linux does not have stay None
    mm.release()
    mf.close()
