"""The UTS namespace: what uname(2) reports (kernel/utsname.c)."""

from __future__ import annotations

#: __NEW_UTS_LEN + 1
UTS_FIELD_LEN = 65


class UTSNamespace:
    """Host and domain names are the sandbox's own; the kernel identity says
    which kernel programs talk to (release chosen for glibc's minimum
    version checks, as gVisor does)."""

    __slots__ = ("domainname", "hostname", "machine", "release", "sysname", "version")

    hostname: str
    domainname: str
    sysname: str
    release: str
    version: str
    machine: str

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        hostname: str = "localhost",
        domainname: str = "(none)",
        sysname: str = "Linux",
        release: str = "4.4.0",
        version: str = "#1 SMP pysandbox",
        machine: str = "x86_64",
    ) -> None:
        self.hostname = hostname
        self.domainname = domainname
        self.sysname = sysname
        self.release = release
        self.version = version
        self.machine = machine

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UTSNamespace) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.hostname,
            self.domainname,
            self.sysname,
            self.release,
            self.version,
            self.machine,
        ) == (
            other.hostname,
            other.domainname,
            other.sysname,
            other.release,
            other.version,
            other.machine,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("hostname", "domainname", "sysname", "release", "version", "machine")
        )
        return f"UTSNamespace({fields})"
