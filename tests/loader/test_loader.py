"""ELF and #! parsing and loading into a MemoryManager (fake platform)."""

import os
import struct

import pytest

from sentry.abi.elf import AT_BASE, AT_ENTRY, AT_EXECFN, AT_PAGESZ, AT_PHDR, AT_PHNUM, AT_RANDOM
from sentry.abi.errors import EACCES, EIO, ELIBBAD, ELOOP, ENOENT, ENOEXEC
from sentry.loader.elf import parse_elf
from sentry.loader.loader import ExecIdentity, load
from sentry.loader.script import parse_shebang
from sentry.memory import MemoryFile
from sentry.mm import MemoryManager
from tests.mm.fakes import BytesMappable, RecordingAddressSpace

BUSYBOX = "/bin/busybox"
LS = "/bin/ls"


class HostExec:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.mappable = BytesMappable(f.read(), name=path)


def host_opener(files=None):
    files = files or {}

    def open_exec(path: bytes):
        p = os.fsdecode(path)
        if p in files:
            f = HostExec.__new__(HostExec)
            f.path = p
            f.mappable = BytesMappable(files[p], name=p)
            return f
        if not os.path.exists(p):
            raise ENOENT
        if os.path.isdir(p) or not os.access(p, os.X_OK):
            raise EACCES
        return HostExec(p)

    return open_exec


@pytest.fixture
def mm():
    mf = MemoryFile(size=1 << 30)
    m = MemoryManager(mf, RecordingAddressSpace(), 0x10000, 0x7FFFFFFFF000)
    yield m
    m.release()
    mf.close()


def test_shebang_parsing():
    assert parse_shebang(b"#!/bin/sh\n") == (b"/bin/sh", None)
    assert parse_shebang(b"#! /usr/bin/env  python3 -u \nrest") == (b"/usr/bin/env", b"python3 -u")
    assert parse_shebang(b"\x7fELF") is None
    with pytest.raises(ENOEXEC):
        parse_shebang(b"#!   \n")
    with pytest.raises(ENOEXEC):
        parse_shebang(b"#!/" + b"x" * 300)  # interpreter name cut by the 256-byte buffer
    assert parse_shebang(b"#!/bin/sh " + b"a" * 300) == (b"/bin/sh", b"a" * 246)


def _elf(**override):
    fields = dict(ident=b"\x7fELF\x02\x01\x01" + bytes(9), type=2, machine=62, version=1,
                  entry=0x401000, phoff=64, shoff=0, flags=0, ehsize=64, phentsize=56,
                  phnum=1, shentsize=0, shnum=0, shstrndx=0)  # fmt: skip
    fields.update(override)
    header = struct.pack("<16sHHIQQQIHHHHHH", *fields.values())
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 0x2000, 0x2000, 0x1000)
    return header + phdr + bytes(0x2000)


def test_parse_elf_validation():
    info = parse_elf(BytesMappable(_elf()))
    assert info.entry == 0x401000 and len(info.loads) == 1 and info.interp is None
    for bad in (
        b"nope" + bytes(100),
        _elf(ident=b"\x7fELF\x01\x01\x01" + bytes(9)),
        _elf(machine=183),
        _elf(type=1),
        _elf(phentsize=32),
        _elf(phnum=0),
    ):
        with pytest.raises(ENOEXEC):
            parse_elf(BytesMappable(bad))
    with pytest.raises(EIO):
        parse_elf(BytesMappable(_elf()[:80]))  # program headers cut short
    with pytest.raises(ELIBBAD):
        parse_elf(BytesMappable(b"#!/bin/sh\n" + bytes(100)), ELIBBAD)
    with pytest.raises(EIO):
        parse_elf(BytesMappable(b"short"), ELIBBAD)


def _read_stack(mm, sp):
    argc = struct.unpack("<Q", mm.copy_in(sp, 8))[0]
    pos = sp + 8
    argv = []
    for _ in range(argc):
        argv.append(mm.copy_in_string(struct.unpack("<Q", mm.copy_in(pos, 8))[0]))
        pos += 8
    assert mm.copy_in(pos, 8) == bytes(8)
    pos += 8
    envp = []
    while (ptr := struct.unpack("<Q", mm.copy_in(pos, 8))[0]) != 0:
        envp.append(mm.copy_in_string(ptr))
        pos += 8
    pos += 8
    auxv: dict[int, int] = {}
    while True:
        key, value = struct.unpack("<QQ", mm.copy_in(pos, 16))
        pos += 16
        if key == 0:
            return argv, envp, auxv
        auxv[key] = value


def test_load_static_busybox(mm):
    r = load(mm, host_opener(), BUSYBOX.encode(), [b"busybox", b"echo", b"hi"], [b"A=1", b"B=2"],
             ident=ExecIdentity(), random_bytes=lambda n: b"R" * n)  # fmt: skip
    assert r.stack_pointer % 16 == 0
    argv, envp, auxv = _read_stack(mm, r.stack_pointer)
    assert argv == [b"busybox", b"echo", b"hi"] and envp == [b"A=1", b"B=2"]
    assert auxv[AT_PAGESZ] == 4096 and auxv[AT_BASE] == 0 and auxv[AT_ENTRY] == r.entry
    assert mm.copy_in(auxv[AT_RANDOM], 16) == b"R" * 16
    assert mm.copy_in_string(auxv[AT_EXECFN]) == BUSYBOX.encode()
    assert struct.unpack("<I", mm.copy_in(auxv[AT_PHDR], 4))[0] in (1, 6) and auxv[AT_PHNUM] > 0
    assert mm.brk_start > r.entry and mm.brk_start % 4096 == 0
    assert mm.copy_in(mm.arg_start, mm.arg_end - mm.arg_start) == b"busybox\0echo\0hi\0"
    assert mm.copy_in(mm.env_start, mm.env_end - mm.env_start) == b"A=1\0B=2\0"
    names = [rec.name for rec in mm.vmas()]
    assert names[-1] == "[stack]" and BUSYBOX in names


def test_load_dynamic_uses_the_interpreter(mm):
    r = load(mm, host_opener(), LS.encode(), [b"ls"], [], ident=ExecIdentity())
    _, _, auxv = _read_stack(mm, r.stack_pointer)
    assert auxv[AT_BASE] != 0
    assert r.entry != auxv[AT_ENTRY]  # starts in ld.so
    assert mm.vma_at(auxv[AT_BASE]) is not None
    stack = next(rec for rec in mm.vmas() if rec.name == "[stack]")
    assert all(rec.end <= stack.start for rec in mm.vmas() if rec.name != "[stack]")


def test_shebang_chain_and_errors(mm):
    files = {
        "/s/one": b"#!/s/two arg1\n",
        "/s/two": b"#!" + BUSYBOX.encode() + b"\n",
        "/s/loop": b"#!/s/loop\n",
        "/s/missing": b"#!/no/such/interpreter\n",
    }
    r = load(mm, host_opener(files), b"/s/one", [b"one", b"x"], [], ident=ExecIdentity())
    assert r.argv == [BUSYBOX.encode(), b"/s/two", b"arg1", b"/s/one", b"x"]
    assert r.exe == BUSYBOX and r.comm == "one"
    with pytest.raises(ELOOP):
        load(mm, host_opener(files), b"/s/loop", [b"loop"], [], ident=ExecIdentity())
    with pytest.raises(ENOENT):
        load(mm, host_opener(files), b"/s/missing", [b"m"], [], ident=ExecIdentity())
