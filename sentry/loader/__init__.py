"""ELF and #! loading and the initial stack (argv, envp, auxv); gVisor
``pkg/sentry/loader``, Linux fs/exec.c, fs/binfmt_elf.c, fs/binfmt_script.c.

The loader maps a program into an empty ``MemoryManager``: ``#!`` lines are
followed (at most five levels, then ELOOP), the ELF is validated with Linux's
errnos (ENOEXEC for corrupt or foreign files, ELIBBAD/EIO for a bad
interpreter), PT_INTERP is loaded through the program's own ld.so, and the
stack gets argv, envp and an auxiliary vector without AT_SYSINFO_EHDR (no
vDSO yet: libc falls back to real syscalls). Files are opened through an
``ExecOpener`` the kernel builds from the VFS, so the loader needs no VFS.
"""

from sentry.loader.loader import ExecFile, ExecIdentity, ExecOpener, LoadResult, load

__all__ = ["ExecFile", "ExecIdentity", "ExecOpener", "LoadResult", "load"]
