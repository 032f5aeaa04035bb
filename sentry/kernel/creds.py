"""Task credentials (Linux ``struct cred``, gVisor ``auth.Credentials``)."""

from __future__ import annotations

#: Capabilities the Sentry checks (include/uapi/linux/capability.h).
CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_SYS_CHROOT = 18
CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21
CAP_SYS_BOOT = 22
CAP_SYS_NICE = 23
CAP_SYS_RESOURCE = 24
CAP_SYS_TIME = 25
CAP_LAST_CAP = 40

ALL_CAPS = (1 << (CAP_LAST_CAP + 1)) - 1


class Credentials:
    """Real, effective, saved and file-system ids, groups and capabilities.

    Capabilities are held in the user namespace of the sandbox; the sandbox
    cannot reach the host with them (every syscall is served by the Sentry)."""

    __slots__ = (
        "bounding_caps",
        "effective_caps",
        "egid",
        "euid",
        "fsgid",
        "fsuid",
        "gid",
        "groups",
        "permitted_caps",
        "sgid",
        "suid",
        "uid",
    )

    uid: int
    euid: int
    suid: int
    fsuid: int
    gid: int
    egid: int
    sgid: int
    fsgid: int
    groups: tuple[int, ...]
    effective_caps: int
    permitted_caps: int
    bounding_caps: int

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        uid: int = 0,
        euid: int = 0,
        suid: int = 0,
        fsuid: int = 0,
        gid: int = 0,
        egid: int = 0,
        sgid: int = 0,
        fsgid: int = 0,
        groups: tuple[int, ...] = (),
        effective_caps: int = ALL_CAPS,
        permitted_caps: int = ALL_CAPS,
        bounding_caps: int = ALL_CAPS,
    ) -> None:
        self.uid = uid
        self.euid = euid
        self.suid = suid
        self.fsuid = fsuid
        self.gid = gid
        self.egid = egid
        self.sgid = sgid
        self.fsgid = fsgid
        self.groups = groups
        self.effective_caps = effective_caps
        self.permitted_caps = permitted_caps
        self.bounding_caps = bounding_caps

    #: The fields in constructor order (equality, repr and copy use them).
    _FIELDS = (
        "uid",
        "euid",
        "suid",
        "fsuid",
        "gid",
        "egid",
        "sgid",
        "fsgid",
        "groups",
        "effective_caps",
        "permitted_caps",
        "bounding_caps",
    )

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, n) for n in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={v!r}" for n, v in zip(self._FIELDS, self._values(), strict=True))
        return f"Credentials({fields})"

    @classmethod
    def for_ids(cls, uid: int, gid: int, groups: tuple[int, ...] = ()) -> Credentials:
        """Credentials of a process started as ``uid``/``gid``: full
        capabilities for root, none otherwise (as after execve)."""
        caps = ALL_CAPS if uid == 0 else 0
        return cls(uid, uid, uid, uid, gid, gid, gid, gid, groups, caps, caps, ALL_CAPS)

    def has_capability(self, cap: int) -> bool:
        """Whether ``cap`` is in the effective set."""
        return bool(self.effective_caps >> cap & 1)

    def copy(self) -> Credentials:
        """An independent copy (credentials are replaced, never shared mutably)."""
        return Credentials(*self._values())  # type: ignore[arg-type]
