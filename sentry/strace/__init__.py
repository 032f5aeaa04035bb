"""System call tracing (``--strace``; gVisor ``pkg/sentry/strace``).

Tracing wraps the handlers of the table the kernel dispatches through, so
the run loop has no "is tracing on?" test: with tracing off nothing of this
package runs. Each call is logged when it returns with its decoded
arguments and result: ``[tid] name(args) = result``."""

from sentry.strace.strace import format_call, wrap_table

__all__ = ["format_call", "wrap_table"]
