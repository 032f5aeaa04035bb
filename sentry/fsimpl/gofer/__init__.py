"""Gofer-backed file systems. Only directfs mode exists so far: the Sentry is
given a host directory FD (the container root the gofer prepared) and works on
it directly (gVisor fsimpl/gofer with directfs)."""

from sentry.fsimpl.gofer.directfs import DirectFilesystem

__all__ = ["DirectFilesystem"]
