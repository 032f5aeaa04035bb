"""``python -m sentry run``: run one program under the Sentry (the composition root).

This is where the concrete pieces meet: the MemoryFile, a platform, the VFS
with its root file system, the syscall table (optionally wrapped by strace)
and the Kernel. ``runtime/boot`` will assemble the same pieces for a
container; this command is for development, tests and benchmarks.

    python -m sentry run [--platform ptrace|kvm] [--root DIR] [--rw] [--strace] -- PROGRAM ARGS...

The exit status is the program's, or 128 + the signal that killed it; 125
means the Sentry itself failed, 126/127 that the program could not be
executed or found (as a shell reports them).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

from sentry.abi.errors import ENOENT, LinuxError

EXIT_SENTRY_ERROR = 125
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127
#: What execvp(3) searches when PATH is unset.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sentry", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run PROGRAM under the Sentry")
    run.add_argument(
        "--platform", default="ptrace", choices=["ptrace", "kvm"], help="platform back end"
    )
    run.add_argument("--root", default="/", help="host directory to use as / (default /)")
    run.add_argument("--rw", action="store_true", help="mount the root read-write")
    run.add_argument("--strace", action="store_true", help="log every syscall to stderr")
    run.add_argument("--hostname", default=None, help="the sandbox's hostname")
    run.add_argument("--cwd", default="/", help="working directory inside the sandbox")
    run.add_argument(
        "--stats",
        action="store_true",
        help="print the kernel's task/process/stub/memory counts left when init ended",
    )
    run.add_argument(
        "--log-level", default="ERROR", help="Sentry log level (DEBUG, INFO, WARNING, ERROR)"
    )
    run.add_argument("program", nargs=argparse.REMAINDER, help="-- PROGRAM ARGS...")
    return parser


def run(args: argparse.Namespace) -> int:
    """Assemble a Sentry, run the program, return the shell-style exit status."""
    from sentry.fsimpl.host import HostFile
    from sentry.fsimpl.setup import setup_root
    from sentry.inet import HostStack
    from sentry.kernel import Credentials, Kernel, ProcessSpec, RLimits, UTSNamespace
    from sentry.kernel.kernel import load_error_message
    from sentry.memory import MemoryFile
    from sentry.syscalls.linux64 import build_table
    from sentry.vfs import FDTable, FSContext, VirtualFilesystem

    program = list(args.program)
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        sys.stderr.write("sentry run: no program given\n")
        return 2
    table = build_table()
    if args.strace:
        from sentry.strace import wrap_table

        table = wrap_table(table, sys.stderr)
    memory_file = MemoryFile()
    try:
        platform = _new_platform(args.platform, memory_file.fd)
    except OSError as err:
        memory_file.close()
        sys.stderr.write(
            f"sentry run: platform {args.platform} unavailable: {err.strerror or err}\n"
        )
        return EXIT_SENTRY_ERROR
    try:
        vfs = VirtualFilesystem()
        uts = UTSNamespace(hostname=args.hostname or os.uname().nodename)
        kernel = Kernel(platform, memory_file, vfs, table, uts=uts)
        # This process's network namespace: /proc/net, /sys/class/net.
        net = HostStack.capture()
        try:
            root = setup_root(vfs, args.root, not args.rw, kernel=kernel, net=net)
        except (OSError, LinuxError) as err:
            sys.stderr.write(f"sentry run: cannot use --root {args.root}: {err}\n")
            return EXIT_SENTRY_ERROR
        creds = Credentials.for_ids(os.getuid(), os.getgid(), tuple(sorted(set(os.getgroups()))))
        fs = FSContext(root, root)
        try:
            fs.set_cwd(vfs.resolve(fs, os.fsencode(args.cwd), creds, must_dir=True))
        except LinuxError as err:
            sys.stderr.write(f"sentry run: --cwd {args.cwd}: {os.strerror(err.errno)}\n")
            return EXIT_SENTRY_ERROR
        fd_table = FDTable()
        for fd in (0, 1, 2):
            try:
                fd_table.install_at(fd, HostFile(os.dup(fd)), False)
            except OSError:
                continue  # a closed stdio descriptor stays closed in the sandbox
        argv = [os.fsencode(a) for a in program]
        envp = [os.fsencode(f"{k}={v}") for k, v in os.environ.items()]
        filename = _lookup_path(vfs, fs, creds, argv[0], os.environ.get("PATH", DEFAULT_PATH))
        spec = ProcessSpec(filename, argv, envp, creds, fd_table, fs, RLimits.from_host())
        console = _attach_console(kernel)
        try:
            init = kernel.start_init(spec)
        except LinuxError as err:
            sys.stderr.write(f"sentry run: {load_error_message(filename, err)}\n")
            return EXIT_NOT_FOUND if isinstance(err, ENOENT) else EXIT_CANNOT_EXECUTE
        except Exception:
            import traceback

            sys.stderr.write(
                "sentry run: internal error while loading the program (a Sentry bug):\n"
            )
            traceback.print_exc()
            return EXIT_SENTRY_ERROR
        status = _wait_forwarding_signals(kernel, console)
        if init.thread is not None:
            init.thread.join(10)  # let it release its stub before the platform closes
        assert status is not None
        if args.stats:
            import json

            sys.stderr.write(f"sentry-stats: {json.dumps(kernel.init_exit_counts)}\n")
        if kernel.bug is not None:
            return EXIT_SENTRY_ERROR
        return status.shell_status()
    finally:
        platform.close()
        memory_file.close()


def _new_platform(name: str, memory_fd: int) -> Any:
    """The platform back end called ``name`` (only here does anything name one).

    The kvm platform opens /dev/kvm itself; a missing or unusable device is
    ``KvmUnavailableError`` (an OSError) with a one-line reason."""
    if name == "kvm":
        from sentry.platform.kvm import KvmPlatform

        return KvmPlatform(memory_fd)
    from sentry.platform.ptrace import PtracePlatform

    return PtracePlatform(memory_fd)


def _lookup_path(vfs: Any, fs: Any, creds: Any, name: bytes, path: str) -> bytes:
    """``name`` as execvp(3) would find it, inside the sandbox: a name with
    a slash is used as is, otherwise the first executable regular file named
    so in a ``PATH`` directory (or ``name`` itself, for the ENOENT)."""
    if b"/" in name:
        return name
    for directory in path.split(":"):
        candidate = os.fsencode(directory or ".").rstrip(b"/") + b"/" + name
        try:
            vfs.check_exec(creds, vfs.resolve(fs, candidate, creds))
        except LinuxError:
            continue
        return candidate
    return name


def _attach_console(kernel: Any) -> Any:
    """When stdin is a host terminal, it becomes the controlling terminal of
    the init's session (session 1, the first task id) with the init's group
    in the foreground, so shells find job control on (tcgetpgrp(0) ==
    getpgrp()). Returns its JobControl, or None without a terminal."""
    from sentry.kernel.sessions import sessions

    if not os.isatty(0):
        return None
    jc = sessions(kernel).host_tty(os.fstat(0).st_rdev)
    jc.attach(kernel, 1, 1)
    return jc


#: Signals a host terminal sends the Sentry (its foreground process) for
#: the sandbox's foreground group: Ctrl-C, Ctrl-\, Ctrl-Z and resizes.
CONSOLE_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGWINCH)


def _wait_forwarding_signals(kernel: Any, console: Any = None) -> Any:
    """Wait for the sandbox; SIGINT/SIGTERM to the Sentry stop it and the
    status says so (128 + signal), as a killed process would report.

    With a host terminal (``console``), the terminal's job-control signals
    (SIGINT, SIGQUIT, SIGTSTP, SIGWINCH) go to the sandbox's foreground
    process group instead, as ``runsc`` forwards them for a TTY: the host
    line discipline turned the keys into signals for the Sentry, the
    sandbox's foreground group is who they were meant for.

    The wait wakes up regularly: Python runs signal handlers on the main
    thread only between byte codes, and the signal may have been delivered
    to a task thread blocked in the platform."""
    from sentry.kernel import ExitStatus

    received: list[int] = []

    def on_signal(signo: int, _frame: object) -> None:
        received.append(signo)

    caught = {signal.SIGINT, signal.SIGTERM}
    if console is not None:
        caught.update(CONSOLE_SIGNALS)
    previous = {sig: signal.signal(sig, on_signal) for sig in caught}
    try:
        while True:
            status = kernel.wait(0.2)
            if status is not None:
                return status
            while console is not None and received and received[0] in CONSOLE_SIGNALS:
                console.signal_foreground(int(received.pop(0)))
            if received:
                status = ExitStatus(signo=received[0])
                kernel.shutdown(status)
                return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m sentry``."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.ERROR),
        format="sentry: %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "run":
        return run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
