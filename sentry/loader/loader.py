"""Loading a program into a fresh MemoryManager: ``#!`` resolution, ELF
segments, the interpreter (the program's own ld.so) and the initial stack
(fs/exec.c, fs/binfmt_elf.c, fs/binfmt_script.c; gVisor ``loader.Load``)."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Protocol

from sentry.abi.elf import (
    AT_BASE,
    AT_CLKTCK,
    AT_EGID,
    AT_ENTRY,
    AT_EUID,
    AT_EXECFN,
    AT_FLAGS,
    AT_GID,
    AT_HWCAP,
    AT_HWCAP2,
    AT_MINSIGSTKSZ,
    AT_NULL,
    AT_PAGESZ,
    AT_PHDR,
    AT_PHENT,
    AT_PHNUM,
    AT_PLATFORM,
    AT_RANDOM,
    AT_SECURE,
    AT_UID,
    ET_DYN,
    PF_R,
    PF_W,
    PF_X,
    PHDR_SIZE,
)
from sentry.abi.errors import E2BIG, EINVAL, ELIBBAD, ELOOP, ENOEXEC
from sentry.abi.mm import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    PAGE_MASK,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    page_round_down,
    page_round_up,
)
from sentry.loader.elf import ELFInfo, parse_elf
from sentry.loader.script import BINPRM_BUF_SIZE, parse_shebang
from sentry.mm import Mappable, MemoryManager

#: Linux gives up after this many nested ``#!`` interpreters (fs/exec.c
#: exec_binprm: "if (depth > 5) return -ELOOP").
MAX_INTERP_DEPTH = 5

#: Initial stack VMA size; it grows down on faults up to the stack rlimit.
INITIAL_STACK = 128 * 1024
#: Zero pages populated below the initial stack pointer's page: a program's
#: first calls use a few KiB of stack, and exec mirrors what is populated
#: (``MemoryManager.mirror_populated``), so they need no fault each.
STACK_PREFAULT_PAGES = 2

#: Total argv+envp bytes accepted (fs/exec.c bounds them by a quarter of the
#: stack rlimit; 2 MiB is that bound for the default 8 MiB).
MAX_ARG_BYTES = 2 << 20

_CLK_TCK = 100


class ExecFile(Protocol):
    """An opened executable: its bytes and the path /proc/PID/exe shows."""

    @property
    def mappable(self) -> Mappable: ...

    @property
    def path(self) -> str: ...


#: Opens ``path`` for execution with Linux's checks (ENOENT, EACCES without x
#: bit or on a directory...). Provided by the kernel from the VFS.
ExecOpener = Callable[[bytes], ExecFile]


class ExecIdentity:
    """Credentials the auxiliary vector reports."""

    __slots__ = ("egid", "euid", "gid", "secure", "uid")

    uid: int
    euid: int
    gid: int
    egid: int
    secure: bool

    def __init__(
        self,
        uid: int = 0,
        euid: int = 0,
        gid: int = 0,
        egid: int = 0,
        secure: bool = False,
    ) -> None:
        self.uid = uid
        self.euid = euid
        self.gid = gid
        self.egid = egid
        self.secure = secure

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in ("uid", "euid", "gid", "egid", "secure")
        )
        return f"ExecIdentity({fields})"


class LoadResult:
    """Where the program starts: registers and the process identity."""

    __slots__ = ("argv", "auxv", "comm", "entry", "exe", "filename", "stack_pointer")

    entry: int
    stack_pointer: int
    exe: str
    filename: bytes
    comm: str
    argv: list[bytes]
    auxv: list[tuple[int, int]]

    def __init__(  # noqa: PLR0917 - positional, as the NamedTuple's were
        self,
        entry: int,
        stack_pointer: int,
        exe: str,
        filename: bytes,
        comm: str,
        argv: list[bytes],
        auxv: list[tuple[int, int]],
    ) -> None:
        self.entry = entry
        self.stack_pointer = stack_pointer
        self.exe = exe
        self.filename = filename
        self.comm = comm
        self.argv = argv
        self.auxv = auxv

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in ("entry", "stack_pointer", "exe", "filename", "comm", "argv", "auxv")
        )
        return f"LoadResult({fields})"


def _host_auxv() -> dict[int, int]:
    """The host's auxiliary vector: AT_HWCAP/AT_HWCAP2/AT_MINSIGSTKSZ describe
    the real CPU the application runs on, so we pass them through."""
    try:
        with open("/proc/self/auxv", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    out: dict[int, int] = {}
    for key, value in struct.iter_unpack("<QQ", raw[: len(raw) // 16 * 16]):
        if key == AT_NULL:
            break
        out[key] = value
    return out


_HOST_AUXV = _host_auxv()


def _prot(flags: int) -> int:
    return (
        (PROT_READ if flags & PF_R else 0)
        | (PROT_WRITE if flags & PF_W else 0)
        | (PROT_EXEC if flags & PF_X else 0)
    )


def _map_segments(mm: MemoryManager, elf: ELFInfo, file: Mappable, bias: int) -> int:
    """Map every PT_LOAD at ``bias``; returns the end of the highest segment."""
    top = 0
    for seg in elf.loads:
        if seg.memsz == 0:
            continue
        prot = _prot(seg.flags)
        vaddr = bias + seg.vaddr
        start = page_round_down(vaddr)
        file_end = vaddr + seg.filesz
        mem_end = vaddr + seg.memsz
        if start < mm.min_address or mem_end > mm.max_address or mem_end < vaddr:
            raise EINVAL(f"ELF segment at {vaddr:#x} outside the address space")
        if seg.filesz:
            mm.mmap(
                start,
                page_round_up(file_end) - start,
                prot,
                MAP_PRIVATE | MAP_FIXED,
                mappable=file,
                offset=seg.offset - (vaddr - start),
            )
            if seg.memsz > seg.filesz and file_end & ~PAGE_MASK:
                # binfmt_elf.c padzero: the rest of the last file page is zero
                # up to the page end, not just to p_memsz: ld.so's early malloc
                # hands out the memory after _end and relies on it.
                pad = page_round_up(file_end) - file_end
                mm.zero_out(file_end, pad, force=True)
            anon_start = page_round_up(file_end)
        else:
            anon_start = start
        if page_round_up(mem_end) > anon_start:
            mm.mmap(
                anon_start,
                page_round_up(mem_end) - anon_start,
                prot,
                MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
            )
        top = max(top, mem_end)
    return top


def _span(elf: ELFInfo) -> tuple[int, int]:
    loads = [p for p in elf.loads if p.memsz]
    lo = page_round_down(min(p.vaddr for p in loads))
    hi = page_round_up(max(p.vaddr + p.memsz for p in loads))
    return lo, hi


def _load_elf(mm: MemoryManager, elf: ELFInfo, file: Mappable, *, interpreter: bool) -> int:
    """Map ``elf``; returns the load bias."""
    lo, hi = _span(elf)
    if elf.type == ET_DYN:
        if interpreter:
            # The interpreter goes wherever mmap would put it (binfmt_elf.c load_elf_interp).
            bias = mm.find_unmapped(hi - lo) - lo
        else:
            # ELF_ET_DYN_BASE: two thirds of the address space (arch/x86/include/asm/elf.h).
            bias = page_round_down(mm.max_address // 3 * 2) - lo
    else:
        bias = 0
    _map_segments(mm, elf, file, bias)
    return bias


def _resolve_scripts(
    open_exec: ExecOpener, filename: bytes, argv: list[bytes]
) -> tuple[ExecFile, ELFInfo, list[bytes]]:
    path = filename
    for _depth in range(MAX_INTERP_DEPTH + 1):
        file = open_exec(path)
        head = file.mappable.read_at(0, BINPRM_BUF_SIZE)
        shebang = parse_shebang(head)
        if shebang is None:
            return file, parse_elf(file.mappable), argv
        interp, arg = shebang
        # binfmt_script.c: argv[0] becomes the interpreter, then the optional
        # argument, then the script path as given, then the old argv[1:].
        argv = [interp, *([arg] if arg is not None else []), path, *argv[1:]]
        path = interp
    raise ELOOP("too many levels of #! interpreters")


def load(
    mm: MemoryManager,
    open_exec: ExecOpener,
    filename: bytes,
    argv: list[bytes],
    envp: list[bytes],
    *,
    ident: ExecIdentity,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> LoadResult:
    """Load ``filename`` into the empty ``mm`` and build its initial stack."""
    if sum(len(a) + 1 for a in argv) + sum(len(e) + 1 for e in envp) > MAX_ARG_BYTES:
        raise E2BIG
    file, elf, argv = _resolve_scripts(open_exec, filename, argv)
    setup_stack(mm)
    bias = _load_elf(mm, elf, file.mappable, interpreter=False)
    entry = elf.entry + bias
    if entry >= mm.max_address:
        raise EINVAL("entry point outside the address space")  # binfmt_elf.c BAD_ADDR
    brk = page_round_up(max(bias + p.vaddr + p.memsz for p in elf.loads))
    mm.brk_start = mm.brk_end = brk
    interp_base = 0
    start = entry
    if elf.interp is not None:
        ld = open_exec(elf.interp)
        try:
            ld_elf = parse_elf(ld.mappable, ELIBBAD)
        except ENOEXEC as exc:
            raise ELIBBAD(str(exc)) from exc
        if ld_elf.interp is not None:
            raise ELIBBAD("the interpreter has an interpreter")
        lo, _ = _span(ld_elf)
        ld_bias = _load_elf(mm, ld_elf, ld.mappable, interpreter=True)
        interp_base = ld_bias + lo
        start = ld_elf.entry + ld_bias
    phdr = elf.phdr_vaddr()
    auxv = [
        (AT_HWCAP, _HOST_AUXV.get(AT_HWCAP, 0)),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, _CLK_TCK),
        (AT_PHDR, bias + phdr if phdr is not None else 0),
        (AT_PHENT, PHDR_SIZE),
        (AT_PHNUM, elf.phnum),
        (AT_BASE, interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, entry),
        (AT_UID, ident.uid),
        (AT_EUID, ident.euid),
        (AT_GID, ident.gid),
        (AT_EGID, ident.egid),
        (AT_SECURE, int(ident.secure)),
    ]
    if AT_HWCAP2 in _HOST_AUXV:
        auxv.append((AT_HWCAP2, _HOST_AUXV[AT_HWCAP2]))
    if AT_MINSIGSTKSZ in _HOST_AUXV:
        auxv.append((AT_MINSIGSTKSZ, _HOST_AUXV[AT_MINSIGSTKSZ]))
    sp, auxv = build_stack(mm, filename, argv, envp, auxv=auxv, random16=random_bytes(16))
    name = os.path.basename(filename.rstrip(b"/")) or filename
    return LoadResult(
        entry=start,
        stack_pointer=sp,
        exe=file.path,
        filename=filename,
        comm=name[:15].decode(errors="replace"),
        argv=argv,
        auxv=auxv,
    )


def setup_stack(mm: MemoryManager) -> None:
    """Create the stack VMA at the top of the address space and put the
    mmap base below the room the stack may grow into (mm/util.c mmap_base:
    the stack rlimit, at least 128 MiB). Done before anything else is mapped
    so that the interpreter lands below the stack."""
    top = mm.max_address
    mm.mmap(
        top - INITIAL_STACK,
        INITIAL_STACK,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
        name="[stack]",
    )
    gap = max(mm.stack_limit, 128 << 20)
    mm.mmap_base = page_round_down(top - gap - (1 << 20))


def build_stack(
    mm: MemoryManager,
    filename: bytes,
    argv: list[bytes],
    envp: list[bytes],
    *,
    auxv: list[tuple[int, int]],
    random16: bytes,
) -> tuple[int, list[tuple[int, int]]]:
    """Lay out the initial stack in the stack VMA (fs/binfmt_elf.c
    create_elf_tables); returns the stack pointer and the full auxv.

    From the top: the exec file name, the environment and argument strings,
    the platform string, 16 random bytes, then (16-byte aligned) argc, argv[],
    NULL, envp[], NULL, auxv pairs ending with AT_NULL."""
    top = mm.max_address
    blob = bytearray()

    def push(data: bytes) -> int:
        blob[:0] = data
        return len(blob)  # distance from the top; resolved below

    execfn_at = push(filename + b"\0")
    env_at = [push(e + b"\0") for e in reversed(envp)][::-1]
    env_end_at = env_at[-1] - len(envp[-1]) - 1 if envp else execfn_at
    arg_at = [push(a + b"\0") for a in reversed(argv)][::-1]
    platform_at = push(b"x86_64\0")
    random_at = push(random16)
    strings_bottom = top - 8 - len(blob)

    def addr(distance: int) -> int:
        return top - 8 - distance

    full_auxv = [
        *auxv,
        (AT_RANDOM, addr(random_at)),
        (AT_EXECFN, addr(execfn_at)),
        (AT_PLATFORM, addr(platform_at)),
        (AT_NULL, 0),
    ]
    words = [len(argv), *(addr(d) for d in arg_at), 0, *(addr(d) for d in env_at), 0]
    for key, value in full_auxv:
        words += [key, value]
    sp = (strings_bottom - 8 * len(words)) & ~15
    if top - sp > mm.stack_limit:
        raise E2BIG
    table = struct.pack(f"<{len(words)}Q", *words)
    low = (sp & ~(PAGE_SIZE - 1)) - STACK_PREFAULT_PAGES * PAGE_SIZE
    if top - low > INITIAL_STACK:
        low = sp  # huge arguments: the stack grows as the program uses it
    mm.copy_out(
        low,
        bytes(sp - low) + table + bytes(strings_bottom - sp - len(table)) + bytes(blob),
        force=True,
    )
    mm.arg_start = addr(arg_at[0]) if argv else addr(platform_at)
    mm.arg_end = addr(arg_at[-1]) + len(argv[-1]) + 1 if argv else mm.arg_start
    mm.env_start = addr(env_at[0]) if envp else mm.arg_end
    mm.env_end = addr(env_end_at) if envp else mm.env_start
    mm.auxv = full_auxv
    return sp, full_auxv


__all__ = ["ExecFile", "ExecIdentity", "ExecOpener", "LoadResult", "load"]
