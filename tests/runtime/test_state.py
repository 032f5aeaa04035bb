"""State records: atomic writes, flock, (pid, start time) liveness, status machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runtime import status as st
from runtime.errors import ContainerExists, ContainerNotExist, InvalidState, RuntimeFailure
from runtime.state import ContainerRecord, ProcessRef, StateStore, proc_start_time, write_atomic
from runtime.status import Status


def _record(cid: str = "c1", status: Status = Status.CREATED, process: ProcessRef | None = None):
    return ContainerRecord(id=cid, bundle="/b", rootfs="/b/rootfs", status=status, process=process)


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "60"])
    try:
        yield p
    finally:
        p.kill()
        p.wait()


def test_proc_start_time_matches_field_22() -> None:
    with open(f"/proc/{os.getpid()}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert proc_start_time(os.getpid()) == int(fields[22 - 3])
    assert proc_start_time(0) is None


def test_proc_start_time_parses_hostile_comm(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    fields = ["S"] + [str(i) for i in range(4, 53)]
    (tmp_path / "42" / "stat").write_text("42 (a) b) (c) " + " ".join(fields))
    assert proc_start_time(42, proc=str(tmp_path)) == 22


def test_zombie_is_not_alive(tmp_path: Path) -> None:
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "stat").write_text("7 (x) Z " + " ".join(["1"] * 50))
    assert proc_start_time(7, proc=str(tmp_path)) is None


def test_process_ref_detects_exit_and_recycled_pid(sleeper) -> None:
    ref = ProcessRef.of(sleeper.pid)
    assert ref.alive()
    # The same pid with another start time is some other process.
    assert not ProcessRef(sleeper.pid, ref.start_time + 1).alive()
    sleeper.kill()
    sleeper.wait()
    assert not ref.alive()
    with pytest.raises(RuntimeFailure, match="exited before"):
        ProcessRef.of(sleeper.pid)


def test_create_load_update_remove(tmp_path: Path, sleeper) -> None:
    store = StateStore(str(tmp_path / "root"))
    rec = _record(process=ProcessRef.of(sleeper.pid))
    store.create(rec)
    assert store.list_ids() == ["c1"]
    loaded = store.load("c1")
    assert loaded == rec
    assert loaded.effective_status() == Status.CREATED
    with store.update("c1") as r:
        r.status = Status.RUNNING
    assert store.load("c1").status == Status.RUNNING
    state = store.load("c1").oci_state()
    assert state["status"] == "running" and state["pid"] == sleeper.pid
    assert set(state) >= {"ociVersion", "id", "status", "pid", "bundle", "created"}
    store.remove("c1")
    assert store.list_ids() == []
    store.remove("c1")  # idempotent
    with pytest.raises(ContainerNotExist, match="container 'c1' does not exist"):
        store.load("c1")


def test_dead_process_reads_as_stopped(tmp_path: Path, sleeper) -> None:
    store = StateStore(str(tmp_path))
    store.create(_record(status=Status.RUNNING, process=ProcessRef.of(sleeper.pid)))
    sleeper.kill()
    sleeper.wait()
    rec = store.load("c1")
    assert rec.status == Status.RUNNING
    assert rec.effective_status() == Status.STOPPED
    assert rec.oci_state()["pid"] == 0


def test_recycled_pid_reads_as_stopped(tmp_path: Path, sleeper) -> None:
    store = StateStore(str(tmp_path))
    ref = ProcessRef.of(sleeper.pid)
    store.create(_record(status=Status.RUNNING, process=ProcessRef(ref.pid, ref.start_time - 1)))
    assert store.load("c1").effective_status() == Status.STOPPED


def test_duplicate_create_is_refused(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    store.create(_record())
    with pytest.raises(ContainerExists, match="already exists"):
        store.create(_record())


def test_corrupt_record_is_a_clear_error(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    store.create(_record())
    (tmp_path / "c1" / "state.json").write_text("{not json")
    with pytest.raises(RuntimeFailure, match="corrupt state file"):
        store.load("c1")
    (tmp_path / "c1" / "state.json").write_text(json.dumps({"id": "c1"}))
    with pytest.raises(RuntimeFailure, match="corrupt state file"):
        store.load("c1")


def test_corrupt_record_is_skipped_by_records(tmp_path: Path, caplog) -> None:
    store = StateStore(str(tmp_path))
    store.create(_record("a"))
    store.create(_record("b"))
    (tmp_path / "a" / "state.json").write_text("garbage")
    assert [r.id for r in store.records()] == ["b"]
    assert "corrupt state file" in caplog.text


def test_missing_root_lists_nothing(tmp_path: Path) -> None:
    assert StateStore(str(tmp_path / "nope")).list_ids() == []


def test_write_atomic_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    write_atomic(str(target), b"new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["f"]


def test_updates_are_serialised_by_flock(tmp_path: Path) -> None:
    """Two processes doing read-modify-write never lose an update."""
    store = StateStore(str(tmp_path))
    rec = _record()
    rec.annotations["n"] = "0"
    store.create(rec)
    code = (
        "import sys\n"
        "from runtime.state import StateStore\n"
        "s = StateStore(sys.argv[1])\n"
        "for _ in range(25):\n"
        "    with s.update('c1') as r:\n"
        "        r.annotations['n'] = str(int(r.annotations['n']) + 1)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    assert store.load("c1").annotations["n"] == "75"


def test_lock_blocks_second_holder(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    store.create(_record())
    got = threading.Event()

    def other() -> None:
        with store.locked("c1"):
            got.set()

    with store.locked("c1"):
        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.2)
        assert not got.is_set()
    t.join(5)
    assert got.is_set()


@pytest.mark.parametrize(
    ("action", "status", "message"),
    [
        ("start", Status.RUNNING, "cannot start container 'x' in state running"),
        ("start", Status.STOPPED, "cannot start container 'x' in state stopped"),
        ("start", Status.PAUSED, "cannot start container 'x' in state paused"),
        (
            "kill",
            Status.STOPPED,
            "cannot kill container 'x' in state stopped: container not running",
        ),
        (
            "resume",
            Status.RUNNING,
            "cannot resume container 'x' in state running: container not paused",
        ),
        (
            "pause",
            Status.PAUSED,
            "cannot pause container 'x' in state paused: container not running",
        ),
        (
            "exec",
            Status.STOPPED,
            "cannot exec container 'x' in state stopped: container not running",
        ),
        (
            "delete",
            Status.RUNNING,
            "cannot delete container 'x' in state running: container is not stopped",
        ),
    ],
)
def test_refused_transitions(action: str, status: Status, message: str) -> None:
    with pytest.raises(InvalidState) as info:
        st.check(action, "x", status)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("action", "status", "after"),
    [
        ("start", Status.CREATED, Status.RUNNING),
        ("pause", Status.RUNNING, Status.PAUSED),
        ("resume", Status.PAUSED, Status.RUNNING),
        ("kill", Status.RUNNING, Status.RUNNING),
        ("delete", Status.STOPPED, Status.STOPPED),
        ("delete", Status.CREATED, Status.CREATED),
    ],
)
def test_allowed_transitions(action: str, status: Status, after: Status) -> None:
    st.check(action, "x", status)
    assert st.after(action, status) == after
