"""The CPUID the guest sees: KVM_GET_SUPPORTED_CPUID filtered to what the
Sentry supports (gVisor ``pkg/cpuid`` filters the same way), so that the
application never detects a feature the Sentry cannot save, restore or
emulate. ``/proc/cpuinfo`` should be generated from the same filtered leaves
(``KvmPlatform.cpuid``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

#: XSAVE components the Sentry supports (Intel SDM vol. 1, 13.1): x87, SSE,
#: AVX, and the AVX-512 opmask/ZMM_Hi256/Hi16_ZMM state. Not MPX (3, 4),
#: PKRU (9: CR4.PKE is off), AMX (17, 18: needs arch_prctl permission and
#: more than KVM_GET_XSAVE's 4 KiB) or any supervisor state.
SUPPORTED_XFEATURES = 0x1 | 0x2 | 0x4 | 0xE0

# Feature bits cleared (leaf, subleaf, register index 0..3 = eax..edx, bit).
_CLEARED = [
    (1, 0, 2, 3),  # MONITOR/MWAIT: privileged in our guest
    (1, 0, 2, 5),  # VMX
    (1, 0, 2, 6),  # SMX
    (1, 0, 2, 24),  # TSC deadline timer: no local APIC
    (7, 0, 1, 0),  # FSGSBASE: CR4.FSGSBASE is off (fs_base changes only via the Sentry)
    (7, 0, 1, 2),  # SGX
    (7, 0, 2, 3),  # PKU: CR4.PKE is off
    (7, 0, 2, 4),  # OSPKE
    (7, 0, 2, 16),  # LA57: 4-level paging only
    (7, 0, 2, 30),  # SGX_LC
    (7, 0, 3, 22),  # AMX-BF16
    (7, 0, 3, 24),  # AMX-TILE
    (7, 0, 3, 25),  # AMX-INT8
    (0xD, 1, 0, 3),  # XSAVES: supervisor states are not supported
    (0x80000001, 0, 2, 2),  # SVM
]

Leaf = tuple[int, int, int, int]


class CpuidTable(NamedTuple):
    """The filtered CPUID: ``rows`` for KVM_SET_CPUID2 and ``leaves`` keyed
    by (function, index) for everything else (``/proc/cpuinfo``). A
    NamedTuple: cheaper to define than a frozen dataclass."""

    rows: tuple[tuple[int, int, int, int, int, int, int], ...]
    #: What the vCPU's XCR0 is set to (0: the guest has no XSAVE).
    xcr0: int
    #: The components KVM_GET_XSAVE images hold, and their size.
    xfeatures: int
    xsave_size: int

    @property
    def leaves(self) -> dict[tuple[int, int], Leaf]:
        return {(r[0], r[1]): (r[3], r[4], r[5], r[6]) for r in self.rows}

    def has(self, function: int, index: int, reg: int, bit: int) -> bool:
        leaf = self.leaves.get((function, index))
        return leaf is not None and bool(leaf[reg] >> bit & 1)


def filter_cpuid(supported: Iterable[tuple[int, int, int, int, int, int, int]]) -> CpuidTable:
    """Filter KVM_GET_SUPPORTED_CPUID rows (function, index, flags, eax, ebx, ecx, edx)."""
    rows = {(r[0], r[1]): list(r) for r in supported}
    for function, index, reg, bit in _CLEARED:
        row = rows.get((function, index))
        if row is not None:
            row[3 + reg] &= ~(1 << bit)
    xsave = (1, 0) in rows and bool(rows[(1, 0)][5] >> 26 & 1)
    xfeatures = 0x3
    size = 512 + 64
    # Leaf 0xD describes KVM's XSAVE image (KVM_GET_XSAVE) even where leaf 1
    # denies XSAVE to the guest kernel: PVM hosts run ring 3 on the host's
    # FPU configuration, so the application may still use AVX, and its
    # state is in the image.
    if (0xD, 0) in rows:
        d0 = rows[(0xD, 0)]
        xfeatures = d0[3] & SUPPORTED_XFEATURES
        if xfeatures & 3 != 3:
            raise OSError(95, f"KVM's XSAVE lacks x87/SSE state (XCR0 {d0[3]:#x})")
        d0[3] = xfeatures
        d0[6] = 0  # no upper-half (bits 32..63) components
        # Size of the enabled components: the end of the highest one.
        for comp in range(2, 64):
            if xfeatures >> comp & 1 and (0xD, comp) in rows:
                c = rows[(0xD, comp)]
                size = max(size, c[3] + c[4])  # offset (ebx) + size (eax)
        d0[4] = size  # ebx: size for the XCR0 in use (KVM also updates it)
        d0[5] = size  # ecx: size for every supported component
        # Component subleaves of unsupported features describe nothing.
        for key in [k for k in rows if k[0] == 0xD and k[1] >= 2 and not xfeatures >> k[1] & 1]:
            del rows[key]
        if (0xD, 1) in rows:
            rows[(0xD, 1)][5] = rows[(0xD, 1)][6] = 0  # no IA32_XSS states
    elif xsave:
        raise OSError(95, "KVM reports XSAVE without CPUID leaf 0xD")
    ordered = tuple(tuple(rows[k]) for k in sorted(rows))
    return CpuidTable(
        rows=ordered,  # type: ignore[arg-type]
        xcr0=xfeatures if xsave else 0,
        xfeatures=xfeatures,
        xsave_size=size,
    )
