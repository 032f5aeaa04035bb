"""cffi (out-of-line API mode) bindings for what the Sentry needs from the host
kernel; the only place raw host calls live.

Modules, one family each, all raising ``OSError`` on failure: ``ptrace``
(ptrace, waitpid, process_vm_readv/writev, tgkill, the stub spawn), ``mm``
(memfd_create, mmap, munmap, mprotect), ``fs`` (openat2), ``proc`` (prctl,
seccomp, rt_sigprocmask, sched_setaffinity, getcpu), ``net`` (the socket
calls of hostinet and netlink on Sentry-made buffers). The compiled module is
``sentry.hostsys._hostsys``, built from ``_build_hostsys.py``.
"""
