import subprocess
import sys
from pathlib import Path

import pytest

from sentry.abi.sysno import NAMES
from sentry.syscalls import gendoc
from sentry.syscalls.linux64 import DeferredHandler, bind, build_table, load_handlers
from sentry.syscalls.table import TABLE, Support, syscall

REPO = Path(__file__).resolve().parents[2]


def test_every_linux_number_has_a_row():
    entries = load_handlers()
    assert set(NAMES) <= set(entries)
    for nr, entry in entries.items():
        assert entry.name == NAMES.get(nr, entry.name)
        if entry.handler is None:
            assert entry.support is Support.UNIMPLEMENTED


def test_table_is_indexed_by_number():
    table = build_table()
    handler = table.handlers[39]
    assert handler is not None and handler.__name__ == "sys_getpid"
    assert table.names[39] == "getpid"
    assert table.handlers[500] is None  # no such syscall: ENOSYS
    assert table.name(1000) == "syscall_1000"
    assert table.name((1 << 64) - 1) == "syscall_-1"


def test_refused_syscalls_are_errors():
    entries = load_handlers()
    for name in ("reboot", "kexec_load", "mount", "umount2", "ptrace", "init_module",
                 "finit_module", "delete_module", "swapon", "pivot_root", "chroot"):  # fmt: skip
        entry = next(e for e in entries.values() if e.name == name)
        assert entry.support is Support.ERROR, name


def test_duplicate_registration_raises():
    load_handlers()
    with pytest.raises(ValueError, match="registered twice"):
        syscall(39, "getpid")(lambda t, a: 0)
    assert TABLE[39].name == "getpid"


KERNEL_MODULES = [
    "sys_execve", "sys_futex", "sys_identity", "sys_info", "sys_mm", "sys_process",
    "sys_random", "sys_refused", "sys_rlimit", "sys_sched", "sys_session", "sys_signal",
    "sys_time", "sys_uname", "sys_wait",
]  # fmt: skip


def test_handler_modules_open_with_the_implements_line():
    for name in KERNEL_MODULES:
        path = REPO / "sentry" / "syscalls" / f"{name}.py"
        doc = path.read_text().split('"""')[1]
        assert doc.startswith("Implements Linux syscall"), path.name


def test_docs_are_fresh():
    committed = (REPO / "docs" / "syscalls.md").read_text()
    assert committed == gendoc.render(), "run scripts/gensyscalls"


def test_index_is_fresh():
    committed = (REPO / "sentry" / "syscalls" / "_index.py").read_text()
    assert committed == gendoc.render_index(), "run scripts/gensyscalls"


def test_gendoc_writes_the_files(tmp_path):
    out, index = tmp_path / "s.md", tmp_path / "i.py"
    proc = subprocess.run(
        [sys.executable, "-m", "sentry.syscalls.gendoc", str(out), str(index)],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == gendoc.render()
    assert index.read_text() == gendoc.render_index()


def test_lazy_table_matches_the_eager_one():
    eager, lazy = build_table(), build_table(lazy=True)
    assert lazy.names == eager.names
    for nr, handler in enumerate(eager.handlers):
        assert (lazy.handlers[nr] is None) == (handler is None), nr


def test_a_deferred_slot_binds_its_handler_at_the_first_call():
    load_handlers()
    table = build_table()
    deferred = DeferredHandler(table, 39, "sys_process")
    table.handlers[39] = deferred

    class Task:
        tgid = 1234

    assert deferred(Task(), (0, 0, 0, 0, 0, 0)) == 1234
    assert table.handlers[39] is TABLE[39].handler


def test_a_deferred_slot_leaves_a_wrapper_in_place():
    """The pause gate swaps slots for wrappers; binding must not undo that."""
    table = build_table()
    deferred = DeferredHandler(table, 39, "sys_process")

    def gate(t, args):
        return deferred(t, args)

    table.handlers[39] = gate
    assert deferred.resolve() is TABLE[39].handler
    assert table.handlers[39] is gate


def test_a_stale_index_is_a_clear_error():
    table = build_table()
    with pytest.raises(RuntimeError, match="did not register syscall 39"):
        DeferredHandler(table, 39, "sys_uname").resolve()


def test_bind_resolves_only_the_named_modules():
    load_handlers()
    table = build_table(lazy=True)  # every module is imported in this process:
    table.handlers[0] = read = DeferredHandler(table, 0, "sys_read_write")
    table.handlers[39] = DeferredHandler(table, 39, "sys_process")  # defer two
    bind(table, ("sys_process",))
    assert table.handlers[39] is TABLE[39].handler  # getpid
    assert table.handlers[0] is read
