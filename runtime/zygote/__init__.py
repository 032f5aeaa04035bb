"""The zygote: a warm process that forks ``pysandbox boot`` and ``gofer``
children on request (see ``runtime.spawn``).

``client`` is the caller's side (``Zygote``, ``ZygoteChild``); ``server``
runs in the zygote process (``python -m runtime.zygote FD``). They speak
over one SOCK_SEQPACKET pair, a JSON message per request with the child's
FDs attached (SCM_RIGHTS).
"""

from runtime.zygote.client import Zygote, ZygoteChild

__all__ = ["Zygote", "ZygoteChild"]
