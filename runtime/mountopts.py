"""OCI mount options → mount(2) flags, propagation flags and data.

One table serves spec validation (an unknown option is a clear error) and the
gofer's bind mounts (seed gofer.go uses ``OptionsToFlags`` and a separate
``PropOptionsToFlags`` pass, because propagation cannot be combined with other
flags in one mount(2) call; see mount(2), "Changing the propagation type").
"""

from __future__ import annotations

from typing import NamedTuple

# include/uapi/linux/mount.h
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

# option → (flags to set, flags to clear)
FLAG_OPTIONS: dict[str, tuple[int, int]] = {
    "defaults": (0, 0),
    "ro": (MS_RDONLY, 0),
    "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0),
    "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0),
    "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0),
    "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0),
    "async": (0, MS_SYNCHRONOUS),
    "remount": (MS_REMOUNT, 0),
    "mand": (MS_MANDLOCK, 0),
    "nomand": (0, MS_MANDLOCK),
    "dirsync": (MS_DIRSYNC, 0),
    "nosymfollow": (MS_NOSYMFOLLOW, 0),
    "atime": (0, MS_NOATIME),
    "noatime": (MS_NOATIME, 0),
    "diratime": (0, MS_NODIRATIME),
    "nodiratime": (MS_NODIRATIME, 0),
    "bind": (MS_BIND, 0),
    "rbind": (MS_BIND | MS_REC, 0),
    "relatime": (MS_RELATIME, 0),
    "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0),
    "nostrictatime": (0, MS_STRICTATIME),
    "lazytime": (MS_LAZYTIME, 0),
    "nolazytime": (0, MS_LAZYTIME),
    "silent": (MS_SILENT, 0),
    "loud": (0, MS_SILENT),
}

PROPAGATION_OPTIONS: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# Bare words that are file-system data, passed through to the Sentry's
# file system (devpts(5) "newinstance"; gVisor gofer hints).
DATA_WORDS = frozenset({"newinstance", "overlayfs_stale_read", "disable_file_handle_sharing"})


class ParsedOptions(NamedTuple):
    """Mount options split the way mount(2) needs them.

    A NamedTuple rather than a frozen dataclass: every sandbox start
    defines it, and a frozen dataclass costs ~1 ms to define (importing
    ``dataclasses`` several more).
    """

    flags: int
    propagation: int
    data: tuple[str, ...]


def is_known(option: str) -> bool:
    """Whether ``option`` is a flag, a propagation mode or file-system data."""
    return (
        option in FLAG_OPTIONS
        or option in PROPAGATION_OPTIONS
        or option in DATA_WORDS
        or "=" in option
    )


def parse(options: tuple[str, ...] | list[str]) -> ParsedOptions:
    """Split OCI ``options`` into flags, propagation flags and data.

    Later options win over earlier ones, as in mount(8) (``ro,rw`` is rw).
    Unknown options raise ``ValueError`` naming the option.
    """
    flags = 0
    propagation = 0
    data: list[str] = []
    for opt in options:
        if opt in FLAG_OPTIONS:
            set_bits, clear_bits = FLAG_OPTIONS[opt]
            flags = (flags | set_bits) & ~clear_bits
        elif opt in PROPAGATION_OPTIONS:
            propagation = PROPAGATION_OPTIONS[opt]
        elif opt in DATA_WORDS or "=" in opt:
            data.append(opt)
        else:
            raise ValueError(f"unknown mount option {opt!r}")
    return ParsedOptions(flags, propagation, tuple(data))


def is_readonly(options: tuple[str, ...] | list[str]) -> bool:
    """Whether the options leave the mount read-only (seed ``IsReadonlyMount``)."""
    return bool(parse(options).flags & MS_RDONLY)
