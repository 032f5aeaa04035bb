"""File attributes (``struct stat``/``struct statx``) and mode bits.

The Sentry keeps attributes in one ``Stat`` record; the syscall layer packs it
into the x86_64 ``struct stat`` (arch/x86/include/uapi/asm/stat.h) or
``struct statx`` (include/uapi/linux/stat.h).
"""

from __future__ import annotations

import struct

S_IFMT = 0o170000
S_IFSOCK = 0o140000
S_IFLNK = 0o120000
S_IFREG = 0o100000
S_IFBLK = 0o060000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
S_IFIFO = 0o010000
S_ISUID = 0o4000
S_ISGID = 0o2000
S_ISVTX = 0o1000

# d_type values for getdents64 (include/linux/fs_types.h): the type bits >> 12.
DT_UNKNOWN = 0


def dtype_of(mode: int) -> int:
    """The ``d_type`` of a file with ``mode`` (fs/fs_types.c: S_DT)."""
    return (mode & S_IFMT) >> 12


class Stat:
    """Attributes of an inode, in Linux units (times in nanoseconds)."""

    __slots__ = (
        "atime_ns",
        "blksize",
        "blocks",
        "ctime_ns",
        "dev",
        "gid",
        "ino",
        "mode",
        "mtime_ns",
        "nlink",
        "rdev",
        "size",
        "uid",
    )

    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    size: int
    blksize: int
    blocks: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int

    def __init__(  # noqa: PLR0917 - positional, as the dataclass's were
        self,
        dev: int,
        ino: int,
        mode: int,
        nlink: int = 1,
        uid: int = 0,
        gid: int = 0,
        rdev: int = 0,
        size: int = 0,
        blksize: int = 4096,
        blocks: int = 0,
        atime_ns: int = 0,
        mtime_ns: int = 0,
        ctime_ns: int = 0,
    ) -> None:
        self.dev = dev
        self.ino = ino
        self.mode = mode
        self.nlink = nlink
        self.uid = uid
        self.gid = gid
        self.rdev = rdev
        self.size = size
        self.blksize = blksize
        self.blocks = blocks
        self.atime_ns = atime_ns
        self.mtime_ns = mtime_ns
        self.ctime_ns = ctime_ns

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Stat) or other.__class__ is not self.__class__:
            return NotImplemented
        return (
            self.dev,
            self.ino,
            self.mode,
            self.nlink,
            self.uid,
            self.gid,
            self.rdev,
            self.size,
            self.blksize,
            self.blocks,
            self.atime_ns,
            self.mtime_ns,
            self.ctime_ns,
        ) == (
            other.dev,
            other.ino,
            other.mode,
            other.nlink,
            other.uid,
            other.gid,
            other.rdev,
            other.size,
            other.blksize,
            other.blocks,
            other.atime_ns,
            other.mtime_ns,
            other.ctime_ns,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in (
                "dev",
                "ino",
                "mode",
                "nlink",
                "uid",
                "gid",
                "rdev",
                "size",
                "blksize",
                "blocks",
                "atime_ns",
                "mtime_ns",
                "ctime_ns",
            )
        )
        return f"Stat({fields})"

    @property
    def type(self) -> int:
        return self.mode & S_IFMT

    def is_dir(self) -> bool:
        return self.type == S_IFDIR

    def is_symlink(self) -> bool:
        return self.type == S_IFLNK

    def is_regular(self) -> bool:
        return self.type == S_IFREG


# struct stat on x86_64: st_dev st_ino st_nlink st_mode st_uid st_gid __pad0
# st_rdev st_size st_blksize st_blocks, then three struct timespec, 3 unused longs.
_STAT = struct.Struct("<QQQIIIiQqqq" + "qq" * 3 + "qqq")
STAT_SIZE = _STAT.size  # 144


def _split_ns(ns: int) -> tuple[int, int]:
    return ns // 1_000_000_000, ns % 1_000_000_000


def pack_stat(st: Stat) -> bytes:
    """Encode ``st`` as the x86_64 ``struct stat`` that fstat(2) copies out."""
    a, m, c = _split_ns(st.atime_ns), _split_ns(st.mtime_ns), _split_ns(st.ctime_ns)
    return _STAT.pack(
        st.dev, st.ino, st.nlink, st.mode, st.uid, st.gid, 0, st.rdev, st.size,
        st.blksize, st.blocks, *a, *m, *c, 0, 0, 0,
    )  # fmt: skip


STATX_TYPE = 0x1
STATX_MODE = 0x2
STATX_NLINK = 0x4
STATX_UID = 0x8
STATX_GID = 0x10
STATX_ATIME = 0x20
STATX_MTIME = 0x40
STATX_CTIME = 0x80
STATX_INO = 0x100
STATX_SIZE = 0x200
STATX_BLOCKS = 0x400
STATX_BASIC_STATS = 0x7FF

# struct statx (256 bytes): mask blksize attributes(u64) nlink uid gid mode(u16)
# pad ino size blocks attributes_mask, 4 statx_timestamp {i64 sec, u32 nsec, i32 pad}
# (atime btime ctime mtime), rdev_major rdev_minor dev_major dev_minor, spare.
_STATX_HEAD = struct.Struct("<IIQIIIHHQQQQ")
_TS = struct.Struct("<qIi")


def _major(dev: int) -> int:
    return ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)


def _minor(dev: int) -> int:
    return (dev & 0xFF) | ((dev >> 12) & ~0xFF)


def makedev(major: int, minor: int) -> int:
    """glibc's ``makedev`` (the encoding ``st_dev``/``st_rdev`` use)."""
    return (
        (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12) | ((major & ~0xFFF) << 32)
    )


def pack_statx(st: Stat) -> bytes:
    """Encode ``st`` as ``struct statx`` with the basic stats (no birth time)."""
    head = _STATX_HEAD.pack(
        STATX_BASIC_STATS, st.blksize, 0, st.nlink, st.uid, st.gid, st.mode, 0,
        st.ino, st.size, st.blocks, 0,
    )  # fmt: skip
    times = b"".join(
        _TS.pack(*_split_ns(ns), 0) for ns in (st.atime_ns, 0, st.ctime_ns, st.mtime_ns)
    )
    devs = struct.pack("<IIII", _major(st.rdev), _minor(st.rdev), _major(st.dev), _minor(st.dev))
    out = head + times + devs
    return out + bytes(256 - len(out))
