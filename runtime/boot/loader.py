"""The Sentry of one sandbox, assembled from an OCI spec (seed ``boot.New``).

The same pieces ``python -m sentry run`` (sentry/__main__.py, the
development composition root) puts together: a MemoryFile, the ptrace
platform, the VFS with its root file system, the syscall table and the
Kernel. Here the root is the directory FD the gofer donated (directfs),
and the process comes from the spec: args, env, cwd, user, hostname,
rlimits and the donated stdio FDs.

The Loader is built *before* the sandbox seals itself (pivot_root,
capabilities, seccomp): the platform opens its stub image and every module
is imported while the host's files are still reachable. The init process is
only started by ``start`` (the control server's StartRoot).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from runtime import capabilities
from runtime import spec as ocispec
from runtime.boot import specmounts
from runtime.boot.freeze import SyscallGate
from runtime.boot.gofermounts import SpecMount
from runtime.errors import RuntimeFailure
from sentry.abi.errors import LinuxError
from sentry.fsimpl.devpts.console import HostConsole
from sentry.fsimpl.host import HostFile
from sentry.fsimpl.setup import setup_root
from sentry.inet import HostStack
from sentry.kernel import Credentials, ExitStatus, Kernel, ProcessSpec, RLimits
from sentry.kernel.kernel import load_error_message
from sentry.kernel.rlimits import RLIM_INFINITY
from sentry.kernel.uts import UTSNamespace
from sentry.memory import MemoryFile
from sentry.platform import Platform
from sentry.platform.ptrace import PtracePlatform
from sentry.syscalls.linux64 import bind, build_table
from sentry.vfs import FDTable, FSContext, VirtualDentry, VirtualFilesystem

log = logging.getLogger("pysandbox.boot")

#: Handler modules (under ``sentry.syscalls``) that a static or dynamic
#: libc program's start calls; the table binds the rest at first use.
STARTUP_HANDLERS = ("sys_identity", "sys_mm", "sys_process", "sys_random", "sys_rlimit", "sys_stat")

# include/uapi/asm-generic/resource.h, by the names the OCI spec uses.
RLIMIT_NUMBERS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

# What a container's process gets when the spec sets no rlimit: runc
# passes its own limits on; runsc uses Linux's defaults for init
# (include/asm-generic/resource.h INIT_RLIMITS) except NOFILE.
_U64 = (1 << 64) - 1


class LoadError(RuntimeFailure):
    """The container's program cannot be started (exit 126/127 as a shell)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def rlimits_for(process: ocispec.Process, base: RLimits) -> RLimits:
    """``base`` with the spec's ``process.rlimits`` applied (setrlimit(2) values)."""
    limits = base.copy()
    for rl in process.rlimits:
        number = RLIMIT_NUMBERS.get(rl.type)
        if number is None:
            raise RuntimeFailure(f"unknown rlimit type {rl.type!r}")
        soft = RLIM_INFINITY if rl.soft >= _U64 else rl.soft
        hard = RLIM_INFINITY if rl.hard >= _U64 else rl.hard
        limits.set(number, soft, hard)
    return limits


def credentials(process: ocispec.Process) -> Credentials:
    """The init's ids and capability sets: the spec's ``process.capabilities``
    when given (runc applies them whatever the uid), else Linux's rule after
    execve (all for root, none otherwise)."""
    user = process.user
    creds = Credentials.for_ids(user.uid, user.gid, tuple(sorted(set(user.additional_gids))))
    caps = process.capabilities
    if caps is not None:
        creds.effective_caps = capabilities.mask(caps.effective)
        creds.permitted_caps = capabilities.mask(caps.permitted)
        creds.bounding_caps = capabilities.mask(caps.bounding)
    return creds


def environment(process: ocispec.Process) -> list[bytes]:
    """The spec's env; PATH defaults as runc's init does when it is absent."""
    env = [os.fsencode(e) for e in process.env]
    if not any(e.startswith(b"PATH=") for e in env):
        env.append(b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env


class Container:
    """The root container's init as the Sentry will start it."""

    spec: ProcessSpec
    args: tuple[str, ...]
    #: Its terminal when the process has one (``process.terminal``).
    console: HostConsole | None

    def __init__(
        self, spec: ProcessSpec, args: tuple[str, ...], console: HostConsole | None = None
    ) -> None:
        self.spec = spec
        self.args = args
        self.console = console


class Loader:
    """One sandbox's kernel plus its (not yet started) root container."""

    def __init__(
        self,
        spec: ocispec.Spec,
        root_fd: int,
        stdio: tuple[int, int, int],
        *,
        readonly_root: bool,
        base_rlimits: RLimits,
        mounts: list[SpecMount] | None = None,
        device_fd: int | None = None,
        console_fd: int | None = None,
    ) -> None:
        if spec.process is None:
            raise RuntimeFailure("the spec has no process to run")
        self.spec = spec
        self.memory_file = MemoryFile()
        self.platform: Platform
        if device_fd is not None:
            # --platform=kvm: the host side opened /dev/kvm and donated it.
            from sentry.platform.kvm import KvmPlatform

            self.platform = KvmPlatform(self.memory_file.fd, device_fd)
        else:
            self.platform = PtracePlatform(self.memory_file.fd)
        self.vfs = VirtualFilesystem()
        uts = UTSNamespace(hostname=spec.hostname or "localhost")
        if spec.domainname:
            uts.domainname = spec.domainname
        table = build_table(lazy=True)
        self.gate = SyscallGate(table)
        self.kernel = Kernel(self.platform, self.memory_file, self.vfs, table, uts=uts)
        # The network namespace boot joined (runtime.network), captured
        # while /proc is still mounted: /proc/net and /sys/class/net.
        self.net = HostStack.capture()
        self.base_rlimits = base_rlimits
        self.root = self.container_root(root_fd, readonly_root, mounts or [])
        self.init = self.container_process(spec.process, stdio, console_fd=console_fd)
        self.started = threading.Event()
        self.start_time = 0.0

    def container_root(
        self,
        root_fd: int,
        readonly: bool,
        mounts: list[SpecMount],
        resources: ocispec.Resources | None = None,
    ) -> VirtualDentry:
        """A container's mount namespace: a new root mount of ``root_fd``
        (the gofer's donated root) with /dev, /proc, /tmp and the spec's
        mounts on it (``specmounts``; cgroup mounts show ``resources``, by
        default the root container's). Each container of a pod has its own,
        so each sees only its own root; the kernel (PID, UTS, IPC) is the pod's."""
        try:
            root = setup_root(
                self.vfs, root_fd, readonly, kernel=self.kernel, net=self.net, tmp_if_empty=True
            )
        except LinuxError as err:
            # sentry.fsimpl.setup creates /dev, /dev/shm, /proc, /tmp when
            # missing; a read-only root must already have /dev.
            raise RuntimeFailure(
                f"cannot set up /dev, /proc and /tmp in the container root: "
                f"{os.strerror(err.errno)} (a read-only root needs a /dev directory)"
            ) from None
        if resources is None:
            resources = self.spec.linux.resources
        specmounts.mount_all(self.vfs, self.kernel, root, mounts, resources)
        return root

    def container_process(
        self,
        process: ocispec.Process,
        stdio: tuple[int, int, int],
        *,
        root: VirtualDentry | None = None,
        console_fd: int | None = None,
    ) -> Container:
        """A process of a container as the kernel will start it: the root
        container's init, or one ``exec`` (seed ``control.ExecArgs``) in the
        mount namespace whose root is ``root``. The host stdio FDs are taken
        over (closed with their files); -1 leaves a slot empty.

        With ``console_fd`` (a host pty replica, taken over) the process
        gets a terminal instead (``sentry.fsimpl.devpts.console``): a new
        /dev/pts/N of its container as its stdin, stdout and stderr and as
        the controlling terminal of its session, its group in the foreground.
        """
        taken: list[HostConsole] = []  # the console, once it owns console_fd
        try:
            return self._container_process(process, stdio, root, console_fd, taken)
        except BaseException:
            if console_fd is not None and not taken:
                os.close(console_fd)
            raise

    def _container_process(
        self,
        process: ocispec.Process,
        stdio: tuple[int, int, int],
        root: VirtualDentry | None,
        console_fd: int | None,
        taken: list[HostConsole],
    ) -> Container:
        root = root if root is not None else self.root
        user = process.user
        creds = credentials(process)
        fs = FSContext(root, root)
        if user.umask is not None:
            fs.umask = user.umask
        try:
            fs.set_cwd(self.vfs.resolve(fs, os.fsencode(process.cwd), creds, must_dir=True))
        except LinuxError as err:
            raise RuntimeFailure(
                f"cannot use {process.cwd!r} as the working directory: {os.strerror(err.errno)}"
            ) from None
        fd_table = FDTable()
        console: HostConsole | None = None
        if console_fd is not None:
            try:
                console, replica = HostConsole.open(
                    console_fd, self.vfs, root, (user.uid, user.gid)
                )
            except (OSError, RuntimeError, LinuxError) as exc:
                raise RuntimeFailure(f"cannot set up the terminal: {exc}") from None
            taken.append(console)
            for guest_fd in (0, 1, 2):
                fd_table.install_at(guest_fd, replica, False)
        else:
            for guest_fd, host_fd in enumerate(stdio):
                if host_fd >= 0:
                    fd_table.install_at(guest_fd, HostFile(host_fd), False)
        argv = [os.fsencode(a) for a in process.args]
        env = environment(process)
        return Container(
            ProcessSpec(
                self._lookup(fs, creds, argv[0], env),
                argv,
                env,
                creds,
                fd_table,
                fs,
                rlimits_for(process, self.base_rlimits),
                ctty=console.terminal.job if console is not None else None,
            ),
            process.args,
            console,
        )

    def _lookup(self, fs: FSContext, creds: Credentials, name: bytes, env: list[bytes]) -> bytes:
        """``name`` searched in the process's PATH inside the container, as
        runc does for ``args[0]`` without a slash (Go exec.LookPath); the
        name itself when not found (the start then fails with ENOENT)."""
        if b"/" in name:
            return name
        path = next((e[5:] for e in env if e.startswith(b"PATH=")), b"")
        for directory in path.split(b":"):
            candidate = os.path.join(directory or b".", name)
            try:
                self.vfs.resolve(fs, candidate, creds)
            except LinuxError:
                continue
            return candidate
        return name

    def bind_startup_handlers(self) -> None:
        """Import the syscall handlers every program's start calls (libc's
        brk/mmap, arch_prctl, set_tid_address, rseq, prlimit64, getuid...)."""
        bind(self.kernel.syscall_table, STARTUP_HANDLERS)

    def start(self) -> None:
        """Start the root container's init (StartRoot). Load errors raise LoadError."""
        try:
            self.kernel.start_init(self.init.spec)
        except LinuxError as err:
            status = 127 if err.errno == 2 else 126
            # The container is over before it began: unblock Wait.
            self.kernel.shutdown(ExitStatus(code=status))
            raise LoadError(load_error_message(self.init.spec.filename, err), status) from None
        finally:
            self.start_time = time.time()
            self.started.set()

    def execute(self, process: Container) -> Any:
        """Start one more process (``exec``): the kernel creates its task
        directly, no fork. Returns the Task; load errors raise LoadError."""
        try:
            return self.kernel.start_init(process.spec)
        except LinuxError as err:
            status = 127 if err.errno == 2 else 126
            raise LoadError(load_error_message(process.spec.filename, err), status) from None

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        """The init's exit status once it has exited (None on timeout)."""
        status = self.kernel.wait(timeout)
        if status is not None and self.kernel.bug is not None:
            return ExitStatus(code=125)
        return status

    def destroy(self) -> None:
        """Kill what is left and release the platform's stubs."""
        self.kernel.shutdown(ExitStatus(signo=9))
        self.platform.close()
        self.net.close()
