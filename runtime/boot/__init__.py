"""``pysandbox boot``: the sandbox process that hosts the Sentry.

The only runtime package allowed to import ``sentry`` (import-linter
contract); the CLI reaches it through importlib (``runtime.cli.boot``).

- ``main``: flags, namespaces, the boot sequence, exit status;
- ``loader``: the Sentry (kernel, VFS, ptrace platform) built from the spec;
- ``confine``: empty read-only root, open-FD check, /proc, capabilities;
- ``syscall_filter``: the seccomp allow-list of the sandbox process;
- ``controller``: the control API's methods (protos/pysandbox/control/v1),
  served by ``ttrpc.SyncServer`` on threads (no anyio or asyncio here);
- ``fdlistener``: the control socket's listener, taking the FDs a call
  passes before its frames;
- ``gofermounts``: the gofer's root and mount FDs; ``specmounts``: the
  spec's mounts as Sentry file systems;
- ``freeze``: pause/resume at system-call boundaries;
- ``codecache``: the Sentry modules imported after pivot_root (the syscall
  handlers, bound at their first call), served from bytecode read before.
"""
