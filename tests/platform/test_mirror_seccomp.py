"""Unit tests for the ptrace platform's mapping record and seccomp filter."""

from __future__ import annotations

import mmap

from sentry.platform import AccessType
from sentry.platform.ptrace import seccomp
from sentry.platform.ptrace.mirror import SEGV_ACCERR, SEGV_MAPERR, Mirror

R, W, X = mmap.PROT_READ, mmap.PROT_WRITE, mmap.PROT_EXEC


def spans(m: Mirror) -> list[tuple[int, int, int, int]]:
    return [(x.start, x.end, x.offset, x.prot) for x in m]


def test_mirror_replaces_and_splits() -> None:
    m = Mirror()
    m.add(0x1000, 0x5000, 0, R)
    m.add(0x2000, 0x3000, 0x10000, R | W)
    assert spans(m) == [
        (0x1000, 0x2000, 0, R),
        (0x2000, 0x3000, 0x10000, R | W),
        (0x3000, 0x5000, 0x2000, R),
    ]
    m.remove(0x1800, 0x4000)
    assert spans(m) == [(0x1000, 0x1800, 0, R), (0x4000, 0x5000, 0x3000, R)]
    assert m.overlaps(0x1000, 0x1001) and m.overlaps(0x17FF, 0x4001)
    assert not m.overlaps(0x1800, 0x4000) and not m.overlaps(0, 0x1000)
    assert not m.overlaps(0x5000, 0x9000) and m.overlaps(0, 1 << 47)
    assert m.find(0x17FF) is not None and m.find(0x1800) is None
    m.remove(0, 1 << 47)
    assert len(m) == 0


def test_access_inference() -> None:
    m = Mirror()
    m.add(0x1000, 0x2000, 0, R)
    m.add(0x3000, 0x4000, 0, R | W)
    rip = 0x9000
    assert m.infer_access(0x1008, SEGV_ACCERR, rip) == AccessType.WRITE
    assert m.infer_access(0x5000, SEGV_MAPERR, rip) == AccessType.READ
    assert m.infer_access(0x1000, SEGV_ACCERR, 0x1000) == AccessType.EXECUTE
    assert m.infer_access(0x5000, SEGV_MAPERR, 0x5000) == AccessType.EXECUTE
    # An instruction straddling into an unmapped page faults a few bytes on.
    assert m.infer_access(0x5000, SEGV_MAPERR, 0x4FFE) == AccessType.EXECUTE


def test_filter_shape() -> None:
    prog = seccomp.build_stub_filter(0x7FFBFF0000B0, 3)
    assert prog[0] == seccomp.Insn(seccomp.BPF_LD_W_ABS, 0, 0, 4)
    rets = [i.k for i in prog if i.code == seccomp.BPF_RET_K]
    assert len(rets) == 3
    # The instruction pointer checked is the one after the 2-byte syscall.
    ks = {i.k for i in prog if i.code == seccomp.BPF_JEQ_K}
    assert 0xFF0000B2 in ks and 0x7FFB in ks and 3 in ks
    assert len(seccomp.encode(prog)) == 8 * len(prog)
    # Every jump lands inside the program.
    for n, insn in enumerate(prog):
        if insn.code == seccomp.BPF_JEQ_K:
            assert n + 1 + insn.jt < len(prog) and n + 1 + insn.jf < len(prog)


def test_filter_allows_the_park_loop_and_stub_thread_clones_only() -> None:
    from sentry.platform.ptrace import _ptrace, stub

    entry = 0x7FFBFF0000B0
    prog = seccomp.build_stub_filter(
        entry, 3, park_ip=entry + stub.PARK_OFFSET, park_exit_ip=entry + stub.PARK_EXIT_OFFSET
    )
    ks = {i.k for i in prog if i.code == seccomp.BPF_JEQ_K}
    # Instruction pointers after the park read and the park exit_group.
    assert (entry + stub.PARK_OFFSET + 2) & 0xFFFFFFFF in ks
    assert (entry + stub.PARK_EXIT_OFFSET + 2) & 0xFFFFFFFF in ks
    assert seccomp.SYS_CLONE in ks and seccomp.CLONE_STUB_THREAD in ks
    assert seccomp.STUB_PARK_FD in ks and seccomp.SYS_EXIT_GROUP in ks
    # The flags the platform injects are the ones the filter lets through.
    assert _ptrace.CLONE_STUB_THREAD == seccomp.CLONE_STUB_THREAD
    assert _ptrace.CLONE_STUB_PROCESS == seccomp.CLONE_STUB_PROCESS
    assert seccomp.CLONE_STUB_PROCESS in ks
    assert stub.STUB_PARK_FD == seccomp.STUB_PARK_FD
    # The defaults follow the stub's layout.
    assert seccomp.build_stub_filter(entry, 3) == prog
    for n, insn in enumerate(prog):
        if insn.code == seccomp.BPF_JEQ_K:
            assert n + 1 + insn.jt < len(prog) and n + 1 + insn.jf < len(prog)


def test_write_protect_merges_adjacent_mappings_and_skips_holes() -> None:
    m = Mirror()
    m.add(0x1000, 0x2000, 0, R | W)
    m.add(0x2000, 0x3000, 0x8000, R)  # already read-only, adjacent: merged
    m.add(0x3000, 0x4000, 0x5000, R | W)
    m.add(0x5000, 0x7000, 0x6000, R | W | X)  # after a hole
    m.add(0x9000, 0xA000, 0x9000, R)  # read-only and alone: nothing to do
    assert m.write_protect(0x1800, 0x6000) == [(0x1800, 0x4000, R), (0x5000, 0x6000, R | X)]
    assert spans(m) == [
        (0x1000, 0x1800, 0, R | W),
        (0x1800, 0x2000, 0x800, R),
        (0x2000, 0x3000, 0x8000, R),
        (0x3000, 0x4000, 0x5000, R),
        (0x5000, 0x6000, 0x6000, R | X),
        (0x6000, 0x7000, 0x7000, R | W | X),
        (0x9000, 0xA000, 0x9000, R),
    ]
    assert m.write_protect(0x8000, 0xB000) == []  # nothing writable there
