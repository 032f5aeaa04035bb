"""ELF64 header and program header parsing with Linux's validation and errnos
(fs/binfmt_elf.c load_elf_binary, load_elf_phdrs, elf_check_arch)."""

from __future__ import annotations

import struct

from sentry.abi.elf import (
    EHDR_SIZE,
    EI_CLASS,
    EI_DATA,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFMAG,
    EM_X86_64,
    ET_DYN,
    ET_EXEC,
    PHDR_SIZE,
    PT_INTERP,
    PT_LOAD,
    PT_PHDR,
)
from sentry.abi.errors import EIO, ENOEXEC, LinuxError
from sentry.abi.mm import PAGE_SIZE
from sentry.mm.mappable import Mappable

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")

#: Linux reads at most this many program header bytes (ELF_MIN_ALIGN on x86_64
#: and the 64 KiB cap in load_elf_phdrs).
MAX_PHDR_BYTES = 65536
PATH_MAX = 4096


class ProgramHeader:
    """One ``Elf64_Phdr``."""

    __slots__ = ("align", "filesz", "flags", "memsz", "offset", "type", "vaddr")

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int

    def __init__(  # noqa: PLR0917 - positional, as the NamedTuple's were
        self,
        type: int,
        flags: int,
        offset: int,
        vaddr: int,
        filesz: int,
        memsz: int,
        align: int,
    ) -> None:
        self.type = type
        self.flags = flags
        self.offset = offset
        self.vaddr = vaddr
        self.filesz = filesz
        self.memsz = memsz
        self.align = align

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("type", "flags", "offset", "vaddr", "filesz", "memsz", "align")
        )
        return f"ProgramHeader({fields})"


class ELFInfo:
    """What the loader needs from an ELF file."""

    __slots__ = ("entry", "interp", "phdrs", "phentsize", "phnum", "phoff", "type")

    type: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    phdrs: tuple[ProgramHeader, ...]
    interp: bytes | None

    def __init__(  # noqa: PLR0917 - positional, as the NamedTuple's were
        self,
        type: int,
        entry: int,
        phoff: int,
        phentsize: int,
        phnum: int,
        phdrs: tuple[ProgramHeader, ...],
        interp: bytes | None,
    ) -> None:
        self.type = type
        self.entry = entry
        self.phoff = phoff
        self.phentsize = phentsize
        self.phnum = phnum
        self.phdrs = phdrs
        self.interp = interp

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("type", "entry", "phoff", "phentsize", "phnum", "phdrs", "interp")
        )
        return f"ELFInfo({fields})"

    @property
    def loads(self) -> list[ProgramHeader]:
        """The PT_LOAD segments in file order."""
        return [p for p in self.phdrs if p.type == PT_LOAD]

    def phdr_vaddr(self) -> int | None:
        """Where the program headers are in memory (before the load bias):
        PT_PHDR, else the PT_LOAD that contains them."""
        for p in self.phdrs:
            if p.type == PT_PHDR:
                return p.vaddr
        for p in self.loads:
            if p.offset <= self.phoff < p.offset + p.filesz:
                return p.vaddr + (self.phoff - p.offset)
        return None


def parse_elf(file: Mappable, error: type[LinuxError] = ENOEXEC) -> ELFInfo:
    """Parse and validate an x86_64 ELF executable.

    ``error`` is what a malformed header raises: ENOEXEC for the program,
    ELIBBAD for its interpreter (fs/binfmt_elf.c)."""
    header = file.read_at(0, EHDR_SIZE)
    if len(header) < EHDR_SIZE and error is not ENOEXEC:
        # load_elf_interp reads the header with elf_read: a short read is -EIO.
        raise EIO("truncated ELF header")
    if len(header) < EHDR_SIZE or header[:4] != ELFMAG:
        raise error("not an ELF file")
    (ident, e_type, machine, _version, entry, phoff, _shoff, _flags, ehsize, phentsize,
     phnum, _shentsize, _shnum, _shstrndx) = _EHDR.unpack(header)  # fmt: skip
    if ident[EI_CLASS] != ELFCLASS64 or ident[EI_DATA] != ELFDATA2LSB:
        raise error("not a 64-bit little-endian ELF file")
    if machine != EM_X86_64:
        raise error(f"ELF machine {machine} is not x86_64")
    if e_type not in (ET_EXEC, ET_DYN):
        raise error(f"ELF type {e_type} is not executable")
    if ehsize < EHDR_SIZE or phentsize != PHDR_SIZE:
        raise error("bad ELF header sizes")
    size = phnum * PHDR_SIZE
    if phnum == 0 or size > MAX_PHDR_BYTES:
        raise error("bad ELF program header count")
    raw = file.read_at(phoff, size)
    if len(raw) != size:
        raise EIO("truncated ELF program headers")  # elf_read: short read is -EIO
    phdrs = []
    for i in range(phnum):
        p_type, p_flags, offset, vaddr, _paddr, filesz, memsz, align = _PHDR.unpack_from(
            raw, i * PHDR_SIZE
        )
        phdrs.append(ProgramHeader(p_type, p_flags, offset, vaddr, filesz, memsz, align))
    interp = None
    for p in phdrs:
        if p.type == PT_LOAD:
            if p.filesz > p.memsz:
                raise error("PT_LOAD with p_filesz > p_memsz")
            if (p.offset - p.vaddr) % PAGE_SIZE:
                raise error("PT_LOAD offset and address not congruent modulo the page size")
        if p.type == PT_INTERP and interp is None:
            # fs/binfmt_elf.c: the path must fit PATH_MAX, be >= 2 bytes and NUL-terminated.
            if p.filesz > PATH_MAX or p.filesz < 2:
                raise ENOEXEC("bad PT_INTERP size")
            data = file.read_at(p.offset, p.filesz)
            if len(data) != p.filesz:
                raise EIO("truncated PT_INTERP")
            if data[-1] != 0:
                raise ENOEXEC("PT_INTERP not NUL-terminated")
            interp = data[:-1].split(b"\0", 1)[0]
    if not any(p.type == PT_LOAD for p in phdrs):
        raise error("no PT_LOAD segment")
    return ELFInfo(e_type, entry, phoff, phentsize, phnum, tuple(phdrs), interp)
