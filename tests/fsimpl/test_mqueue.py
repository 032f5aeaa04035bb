"""The mqueue file system (sentry.fsimpl.mqueue) and mq_open's name,
access and creation rules (open_queue)."""

from __future__ import annotations

import pytest

from sentry.abi.errors import EACCES, EBADF, EEXIST, EINVAL, ENAMETOOLONG, ENOENT
from sentry.fsimpl.mqueue import (
    MQUEUE_MAGIC,
    check_name,
    mqueue_filesystem,
    open_queue,
    queue_of,
)
from sentry.kernel.mq import FILENT_SIZE, Registry
from sentry.kernel.pipe import new_pipe
from sentry.vfs.context import set_current_task
from sentry.vfs.flags import O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY
from sentry.vfs.stat import S_IFDIR, S_IFREG, S_ISVTX
from tests.kernel.test_mq import Creds

BIG = 1 << 40


@pytest.fixture(autouse=True)
def no_current_task():
    set_current_task(None)
    yield
    set_current_task(None)


def test_one_file_system_per_registry_showing_its_queues():
    reg = Registry()
    fs = mqueue_filesystem(reg)
    assert mqueue_filesystem(reg) is fs and fs.statfs().type == MQUEUE_MAGIC
    root = fs.root()
    assert root.stat().mode == S_IFDIR | S_ISVTX | 0o777
    desc = open_queue(reg, b"jobs", O_CREAT | O_RDWR, 0o640, Creds(), (2, 8), BIG)
    assert [d.name for d in root.readdir()] == [b"jobs"]
    inode = root.lookup(b"jobs")
    st = inode.stat()
    assert (st.mode, st.size) == (S_IFREG | 0o640, FILENT_SIZE)
    assert desc.stat().ino == st.ino
    assert desc.path_name() == "/jobs"
    queue_of(desc).send(b"abc", 1, nonblock=True, deadline=None, task=None)
    reader = inode.open(O_RDONLY, Creds())
    assert reader.read(0, 100).startswith(b"QSIZE:3          NOTIFY:0")
    reader.release()
    desc.impl.release()


def test_create_and_unlink_through_the_file_system():
    reg = Registry()
    root = mqueue_filesystem(reg).root()
    root.create(b"made", S_IFREG | 0o600, Creds(uid=3))
    q = reg.lookup(b"made")
    assert (q.maxmsg, q.msgsize, q.uid) == (10, 8192, 3)
    root.unlink(b"made")
    with pytest.raises(ENOENT):
        root.lookup(b"made")


@pytest.mark.parametrize(
    ("name", "error"),
    [(b"a/b", EACCES), (b".", EACCES), (b"..", EACCES), (b"", EACCES), (b"x" * 256, ENAMETOOLONG)],
)
def test_bad_names(name, error):
    with pytest.raises(error):
        check_name(name)


def test_open_rules():
    reg = Registry()
    owner = Creds(uid=1, privileged=False)
    open_queue(reg, b"q", O_CREAT | O_WRONLY, 0o600, owner, None, BIG).impl.release()
    with pytest.raises(ENOENT):
        open_queue(reg, b"missing", O_RDONLY, 0, owner, None, BIG)
    with pytest.raises(EEXIST):
        open_queue(reg, b"q", O_CREAT | O_EXCL | O_RDWR, 0o600, owner, None, BIG)
    with pytest.raises(EINVAL):
        open_queue(reg, b"q", 3, 0, owner, None, BIG)
    stranger = Creds(uid=2, privileged=False)
    with pytest.raises(EACCES):
        open_queue(reg, b"q", O_RDONLY, 0, stranger, None, BIG)
    read_end, write_end = new_pipe(0)
    with pytest.raises(EBADF):
        queue_of(read_end)
    read_end.impl.release()
    write_end.impl.release()
