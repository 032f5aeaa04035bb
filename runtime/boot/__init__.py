"""``pysandbox boot``: the sandbox process that hosts the Sentry.

The only runtime package allowed to import ``sentry`` (import-linter
contract); the CLI reaches it through importlib (``runtime.cli.boot``).

- ``main``: flags, namespaces, the boot sequence, exit status;
- ``loader``: the Sentry (kernel, VFS, ptrace platform) built from the spec;
- ``confine``: empty read-only root, open-FD check, /proc, capabilities;
- ``syscall_filter``: the seccomp allow-list of the sandbox process;
- ``controller``: the control API server (protos/pysandbox/control/v1);
- ``freeze``: pause/resume at system-call boundaries.
"""
