"""procfs: the sandbox's own /proc (gVisor fsimpl/proc), listing only sandbox tasks."""

from sentry.fsimpl.proc.fs import ProcFilesystem

__all__ = ["ProcFilesystem"]
