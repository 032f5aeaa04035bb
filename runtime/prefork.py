"""Warm children: boot and the gofer forked at the start of one CLI command.

A sandbox start is dominated by Python imports: boot loads the Sentry,
protobuf and ttrpc (about 150 ms of CPU), the CLI its own host-side
modules (about 40 ms before it spawns anything). Forked from the CLI at its
start, the ``boot`` child does its imports on the other CPU while the CLI
reads the bundle and prepares the sandbox's descriptors; the ``gofer``
child only sets up the root and then execs its small serving program.

Each child serves at most one request over its SOCK_SEQPACKET pair, a
``spawn.SpawnRequest`` with the FDs attached, and then becomes that
command exactly as a ``LocalForker`` child would (``spawn.become``). It is
our own child, so ``LocalChild`` waits for it. A child that is never used
is killed and reaped by ``WarmForker.close`` (and one whose CLI died sees
end of file and exits), so nothing outlives the command. Requests for any
other command go to a plain ``LocalForker``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import signal
import socket
import sys

from runtime.config import RuntimeConfig
from runtime.spawn import (
    LocalChild,
    LocalForker,
    SpawnRequest,
    become,
    flush_std_streams,
    recv_with_fds,
    send_with_fds,
)

#: What each warm child imports before its request arrives; a name is a
#: module, or ``module:function`` to call with the ``RuntimeConfig`` after
#: importing it. The gofer's few imports wait for its request: by then the
#: CLI is only waiting, so they run on its CPU instead of competing with
#: boot's, which are what a sandbox start waits for.
PRELOAD: dict[str, tuple[str, ...]] = {
    "gofer": (),
    "boot": ("runtime.cli.main", "runtime.cli.boot", "runtime.boot.main:warm_up"),
}


def preload(names: tuple[str, ...], conf: RuntimeConfig | None) -> None:
    """Import ``names``; a failure is left for the command itself to report."""
    for name in names:
        module, _, func = name.partition(":")
        try:
            mod = importlib.import_module(module)
            if func:
                getattr(mod, func)(conf)
        except Exception as exc:
            sys.stderr.write(f"pysandbox: cannot preload {name}: {exc}\n")


class WarmChild:
    """One forked-ahead child waiting for its request."""

    def __init__(self, command: str, conf: RuntimeConfig | None) -> None:
        self.command = command
        kind = socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC
        ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
        flush_std_streams()
        pid = os.fork()
        if pid == 0:
            ours.close()
            _child(theirs, PRELOAD[command], conf)
        theirs.close()
        self.pid = pid
        self._sock: socket.socket | None = ours

    def spawn(
        self,
        cli_args: list[str],
        pass_fds: list[int],
        stderr: int | None,
        env: dict[str, str],
        new_session: bool,
    ) -> LocalChild:
        """Hand the child its command; it is used up after this."""
        sock, self._sock = self._sock, None
        if sock is None:
            raise OSError(f"the warm {self.command} child was used already")
        request = SpawnRequest(
            args=cli_args,
            targets=pass_fds,
            env=env,
            stderr=stderr is not None,
            setsid=new_session,
        )
        fds = [*pass_fds] if stderr is None else [*pass_fds, stderr]
        try:
            send_with_fds(sock, request.encode(), fds)
        finally:
            sock.close()
        return LocalChild(self.pid)

    def discard(self) -> None:
        """Kill and reap the child if it was never used."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        sock.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _child(sock: socket.socket, names: tuple[str, ...], conf: RuntimeConfig | None) -> None:
    """In the forked child: import, wait for the request, become it."""
    code = 0
    try:
        # Ctrl-C reaches the CLI, which discards us; no traceback from here.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # No cycle collections while importing (~35 of them, ~5 ms of
        # boot's imports); what was imported stays for the process's life,
        # so it is frozen out of later collections too.
        gc.disable()
        try:
            preload(names, conf)
        finally:
            gc.freeze()
            gc.enable()
        msg, fds = recv_with_fds(sock)
        if msg:
            request = SpawnRequest.decode(msg)
            want = len(request.targets) + (1 if request.stderr else 0)
            if len(fds) != want:
                raise ValueError(f"expected {want} descriptors, got {len(fds)}")
            os.close(sock.detach())
            passed = fds[: len(request.targets)]
            stderr_fd = fds[-1] if request.stderr else None
            become(
                request.args,
                request.targets,
                passed,
                stderr_fd,
                request.env,
                new_session=request.setsid,
            )
    except BaseException as exc:
        code = 1
        with contextlib.suppress(Exception):
            sys.stderr.write(f"pysandbox: warm child: {exc}\n")
            sys.stderr.flush()
    os._exit(code)


class WarmForker:
    """The CLI's forker: warm children for ``boot`` and ``gofer`` (the
    first of each), a plain fork for anything else. Boot is forked first:
    its imports are the start's critical path, the gofer's fork (~1 ms)
    is not."""

    def __init__(
        self, conf: RuntimeConfig | None, commands: tuple[str, ...] = ("boot", "gofer")
    ) -> None:
        self._warm: dict[str, WarmChild] = {}
        for command in commands:
            self._warm[command] = WarmChild(command, conf)
        self._fallback = LocalForker()

    def spawn(
        self,
        cli_args: list[str],
        *,
        pass_fds: list[int],
        stderr: int | None,
        env: dict[str, str],
        new_session: bool = False,
    ) -> LocalChild:
        command = _subcommand(cli_args)
        warm = self._warm.pop(command, None) if command is not None else None
        if warm is None:
            return self._fallback.spawn(
                cli_args, pass_fds=pass_fds, stderr=stderr, env=env, new_session=new_session
            )
        try:
            return warm.spawn(cli_args, pass_fds, stderr, env, new_session)
        except OSError:
            warm.discard()
            raise

    def close(self) -> None:
        """Kill the children nobody used."""
        warm, self._warm = self._warm, {}
        for child in warm.values():
            child.discard()


def _subcommand(cli_args: list[str]) -> str | None:
    """``boot``/``gofer`` from ``[global flags] COMMAND ...`` (global flags
    are all ``--name=value`` or bare switches, as ``RuntimeConfig.to_flags``
    writes them)."""
    for arg in cli_args:
        if not arg.startswith("-"):
            return arg if arg in PRELOAD else None
    return None
