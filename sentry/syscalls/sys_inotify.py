"""Lists inotify_init(2), inotify_init1(2), inotify_add_watch(2) and
inotify_rm_watch(2) as unsupported: they answer ENOSYS (programs such as
tail -f and Python's watchdog fall back to polling the file)."""

from __future__ import annotations

from sentry.abi import sysno
from sentry.syscalls.table import unimplemented

_NOTE = "ENOSYS: inotify is not implemented yet (callers fall back to polling)"

for _nr, _name in (
    (sysno.INOTIFY_INIT, "inotify_init"),
    (sysno.INOTIFY_INIT1, "inotify_init1"),
    (sysno.INOTIFY_ADD_WATCH, "inotify_add_watch"),
    (sysno.INOTIFY_RM_WATCH, "inotify_rm_watch"),
):
    unimplemented(_nr, _name, _NOTE)
