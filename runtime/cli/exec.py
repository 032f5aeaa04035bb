"""``pysandbox exec``: run a new process inside a running container."""

from __future__ import annotations

import argparse
import json
import os

from runtime import console
from runtime import spec as ocispec
from runtime.capabilities import CAPABILITIES
from runtime.cli._args import exit_code
from runtime.config import RuntimeConfig
from runtime.container import Container, write_pid_file
from runtime.errors import SpecError, UsageError
from runtime.sandbox import ExecArgs
from runtime.ttyrelay import TerminalRelay

HELP = "execute a new process inside a container"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--process", default="", help="JSON file with an OCI process object")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-d", "--detach", action="store_true", help="detach from the process")
    p.add_argument("--pid-file", default="", help="file to write the process pid to")
    p.add_argument("--console-socket", default="", help="AF_UNIX socket to receive the pty master")
    p.add_argument("--cwd", default="", help="working directory in the container")
    p.add_argument("-e", "--env", action="append", default=[], help="KEY=value to set")
    p.add_argument("-u", "--user", default="", help="UID[:GID] to run as")
    p.add_argument(
        "-g", "--additional-gids", action="append", type=int, default=[], help="extra group"
    )
    p.add_argument("--cap", action="append", default=[], help="add a capability")
    p.add_argument("--no-new-privs", action="store_true", help="set no_new_privileges")
    p.add_argument("--preserve-fds", type=int, default=0, help="pass N extra FDs from 3 up")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="container-id command [args...]")


def _user(text: str, base: ocispec.User) -> ocispec.User:
    uid_s, _, gid_s = text.partition(":")
    try:
        uid = int(uid_s)
        gid = int(gid_s) if gid_s else base.gid
    except ValueError:
        raise UsageError(f"invalid --user {text!r}: expected UID[:GID]") from None
    if uid < 0 or gid < 0:
        raise UsageError(f"invalid --user {text!r}: ids must be non-negative")
    return base._replace(uid=uid, gid=gid)


def build_process(ns: argparse.Namespace, container: Container) -> ocispec.Process:
    """The process to run: --process FILE, or the container's process with
    the command line and flags applied (runc's ``getProcess``)."""
    if ns.process:
        try:
            with open(ns.process, "rb") as f:
                raw = json.load(f)
        except OSError as exc:
            raise UsageError(f"cannot read --process {ns.process}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise SpecError(ns.process, f"malformed JSON: {exc.msg}") from None
        return ocispec.parse_process(raw, "process")
    if len(ns.args) < 2:
        raise UsageError("exec: a command is required (or --process FILE)")
    base = container.spec.process
    assert base is not None
    env = list(base.env) + list(ns.env)
    raw_check = {"args": ns.args[1:], "env": env, "cwd": ns.cwd or base.cwd}
    checked = ocispec.parse_process(raw_check, "exec")
    caps = base.capabilities
    if ns.cap:
        for cap in ns.cap:
            if cap not in CAPABILITIES:
                raise UsageError(f"unknown capability {cap!r}")
        extra = tuple(ns.cap)
        caps = (caps or ocispec.Capabilities())._replace(
            bounding=(caps.bounding if caps else ()) + extra,
            effective=(caps.effective if caps else ()) + extra,
            permitted=(caps.permitted if caps else ()) + extra,
        )
    user = _user(ns.user, base.user) if ns.user else base.user
    if ns.additional_gids:
        user = user._replace(additional_gids=tuple(ns.additional_gids))
    return base._replace(
        args=checked.args,
        env=checked.env,
        cwd=checked.cwd,
        terminal=ns.tty,
        user=user,
        capabilities=caps,
        no_new_privileges=base.no_new_privileges or ns.no_new_privs,
    )


def run(conf: RuntimeConfig, ns: argparse.Namespace) -> int:
    if not ns.args:
        raise UsageError('pysandbox: "exec" requires a minimum of 1 argument(s)')
    if ns.tty and ns.detach and not ns.console_socket:
        raise UsageError(
            "cannot allocate tty if pysandbox will detach without setting console socket"
        )
    if ns.console_socket and not ns.tty:
        raise UsageError("cannot use console socket if pysandbox will not detach or allocate tty")
    container = Container.load(conf, ns.args[0])
    process = build_process(ns, container)
    relay: TerminalRelay | None = None
    replica = -1
    if process.terminal and not ns.console_socket:
        # The caller's own terminal is the process's (runc exec -t).
        master, replica = console.open_pty(process.console_size or TerminalRelay.caller_size())
        relay = TerminalRelay(master)
    try:
        pid = container.execute(
            ExecArgs(process, ns.console_socket, ns.detach, terminal_fd=replica)
        )
    except BaseException:
        if relay is not None:
            relay.finish(0)
        raise
    finally:
        if replica >= 0:
            os.close(replica)  # the sandbox has its own copy
    if relay is not None:
        relay.on_resize = lambda rows, cols: container.sandbox.resize_terminal(
            container.id, pid, rows, cols
        )
        relay.start()
        try:
            if ns.pid_file:
                write_pid_file(ns.pid_file, pid)
            status = container.sandbox.wait_pid(container.id, pid)
            relay.finish()
        finally:
            relay.finish(0)
        return exit_code(status)
    if ns.detach:
        # The process lives in the Sentry, not on the host: leave behind a
        # host process that waits for it and exits with its status, and name
        # that one in --pid-file (as ``runsc exec --detach`` does), so that a
        # caller watching host pids (containerd's runc shim reaps it as a
        # subreaper) sees the exec end.
        waiter = _fork_waiter(container, pid)
        if ns.pid_file:
            write_pid_file(ns.pid_file, waiter)
        return 0
    if ns.pid_file:
        write_pid_file(ns.pid_file, pid)
    status = container.sandbox.wait_pid(container.id, pid)
    return exit_code(status)


def _fork_waiter(container: Container, pid: int) -> int:
    """Fork the host process standing for sandbox process ``pid``; its pid."""
    child = os.fork()
    if child:
        return child
    # The child: no stdio of the caller's (a pipe reader must see EOF when
    # the exec'd process closes its own copies), then wait.
    status = 255
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        status = exit_code(container.sandbox.wait_pid(container.id, pid))
    except BaseException:  # a forked child must never return
        status = 255
    finally:
        os._exit(status)
