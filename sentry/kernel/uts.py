"""The UTS namespace: what uname(2) reports (kernel/utsname.c)."""

from __future__ import annotations

from dataclasses import dataclass

#: __NEW_UTS_LEN + 1
UTS_FIELD_LEN = 65


@dataclass(slots=True)
class UTSNamespace:
    """Host and domain names are the sandbox's own; the kernel identity says
    which kernel programs talk to (release chosen for glibc's minimum
    version checks, as gVisor does)."""

    hostname: str = "localhost"
    domainname: str = "(none)"
    sysname: str = "Linux"
    release: str = "4.4.0"
    version: str = "#1 SMP pysandbox"
    machine: str = "x86_64"
