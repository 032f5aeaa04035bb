"""Starting the runtime's own helper processes (``pysandbox boot`` and
``pysandbox gofer``).

By default each is a fresh interpreter (``subprocess.Popen`` of
``python -m runtime.cli.main ...``): about a quarter of a second of Python
start-up and imports before it does anything. A long-lived caller (the
shim) can install a *zygote* (``runtime.zygote``): a process started once
that has imported boot, the gofer and the Sentry, and forks a ready child
for each request, the way Android starts apps. Either way the caller gets a
``Popen``-like object (``pid``, ``poll``, ``wait``, ``kill``,
``returncode``) and ``wait_status`` answers the raw wait status of a
zygote child, which the caller cannot ``waitpid`` for itself.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)


class Process(Protocol):
    """What callers use of a started helper (a subset of ``Popen``)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class Forker(Protocol):
    """A zygote as ``spawn_self`` uses it."""

    def spawn(
        self, cli_args: list[str], *, pass_fds: list[int], stderr: int | None, env: dict[str, str]
    ) -> Any: ...


_lock = threading.Lock()
_forker: Forker | None = None
# Zygote children by pid, until their exit status was collected.
_children: dict[int, Any] = {}


def self_command() -> list[str]:
    """How to run this runtime again (the same interpreter and package)."""
    return [sys.executable, "-m", "runtime.cli.main"]


def install_forker(forker: Forker | None) -> None:
    """Route later ``spawn_self`` calls through ``forker`` (None: Popen again)."""
    global _forker
    with _lock:
        _forker = forker


def spawn_self(
    cli_args: list[str],
    *,
    pass_fds: list[int],
    stderr: int | IO[bytes] | None,
    env: dict[str, str],
) -> Process:
    """Run ``pysandbox CLI_ARGS`` with ``pass_fds`` at the same numbers,
    stdin and stdout on /dev/null, ``stderr`` (None: ours, DEVNULL or an FD)
    and cwd /. A zygote forks it when one is installed and answers; else a
    new interpreter is started."""
    with _lock:
        forker = _forker
    if forker is not None and (stderr is None or isinstance(stderr, int)):
        err_fd: int | None
        if stderr is None:
            err_fd = 2
        elif stderr == subprocess.DEVNULL:
            err_fd = None
        else:
            err_fd = int(stderr)
        try:
            child = forker.spawn(cli_args, pass_fds=pass_fds, stderr=err_fd, env=env)
        except OSError as exc:
            log.warning("zygote unavailable (%s); starting a new interpreter", exc)
        else:
            with _lock:
                _children[child.pid] = child
            return child
    return subprocess.Popen(
        [*self_command(), *cli_args],
        pass_fds=pass_fds,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=env,
        cwd="/",
    )


def wait_status(pid: int, timeout: float | None = None) -> int | None:
    """The raw wait status of zygote child ``pid`` (blocking up to
    ``timeout``), or None if ``pid`` is not one (then ``waitpid`` applies)."""
    with _lock:
        child = _children.get(pid)
    if child is None:
        return None
    child.wait(timeout)
    with _lock:
        _children.pop(pid, None)
    status: int = child.wait_status
    return status


def is_zygote_child(pid: int) -> bool:
    """Whether ``pid`` was forked by the installed zygote (and not collected)."""
    with _lock:
        return pid in _children
