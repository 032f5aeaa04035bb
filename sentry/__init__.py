"""The Sentry: pysandbox's user-space kernel.

Every system call of the application is served here, never by the host.
Layers import downward only (bottom first): abi -> hostsys -> arch ->
platform -> memory -> mm -> vfs -> loader -> kernel -> socket -> fsimpl ->
syscalls -> strace. ``runtime/boot`` is the composition root that gives the
kernel its platform and file systems.
"""
