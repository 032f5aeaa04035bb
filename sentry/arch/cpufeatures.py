"""CPUID feature bits and the names Linux shows for them in /proc/cpuinfo
(arch/x86/include/asm/cpufeatures.h; gVisor ``pkg/cpuid`` keeps the same
table to render its own cpuinfo).

The Sentry uses the table one way only: when a platform presents a filtered
CPUID to the application (kvm), the ``flags`` lines of /proc/cpuinfo drop
every named feature whose bit the filtered CPUID clears, so that a program
reading cpuinfo and a program executing ``cpuid`` agree. Flags that are not
CPUID bits (``constant_tsc``, ``ibrs``, ...) describe the host kernel and
are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: (function, index, register 0..3 = eax..edx) -> {bit: name}.
FEATURE_NAMES: dict[tuple[int, int, int], dict[int, str]] = {
    (1, 0, 3): dict(
        enumerate(
            [
                "fpu",
                "vme",
                "de",
                "pse",
                "tsc",
                "msr",
                "pae",
                "mce",
                "cx8",
                "apic",
                "-",
                "sep",
                "mtrr",
                "pge",
                "mca",
                "cmov",
                "pat",
                "pse36",
                "pn",
                "clflush",
                "-",
                "dts",
                "acpi",
                "mmx",
                "fxsr",
                "sse",
                "sse2",
                "ss",
                "ht",
                "tm",
                "ia64",
                "pbe",
            ]
        )
    ),
    (1, 0, 2): dict(
        enumerate(
            [
                "pni",
                "pclmulqdq",
                "dtes64",
                "monitor",
                "ds_cpl",
                "vmx",
                "smx",
                "est",
                "tm2",
                "ssse3",
                "cid",
                "sdbg",
                "fma",
                "cx16",
                "xtpr",
                "pdcm",
                "-",
                "pcid",
                "dca",
                "sse4_1",
                "sse4_2",
                "x2apic",
                "movbe",
                "popcnt",
                "tsc_deadline_timer",
                "aes",
                "xsave",
                "-",
                "avx",
                "f16c",
                "rdrand",
                "hypervisor",
            ]
        )
    ),
    (7, 0, 1): dict(
        enumerate(
            [
                "fsgsbase",
                "tsc_adjust",
                "sgx",
                "bmi1",
                "hle",
                "avx2",
                "-",
                "smep",
                "bmi2",
                "erms",
                "invpcid",
                "rtm",
                "cqm",
                "-",
                "mpx",
                "rdt_a",
                "avx512f",
                "avx512dq",
                "rdseed",
                "adx",
                "smap",
                "avx512ifma",
                "-",
                "clflushopt",
                "clwb",
                "intel_pt",
                "avx512pf",
                "avx512er",
                "avx512cd",
                "sha_ni",
                "avx512bw",
                "avx512vl",
            ]
        )
    ),
    (7, 0, 2): dict(
        enumerate(
            [
                "-",
                "avx512vbmi",
                "umip",
                "pku",
                "ospke",
                "waitpkg",
                "avx512_vbmi2",
                "-",
                "gfni",
                "vaes",
                "vpclmulqdq",
                "avx512_vnni",
                "avx512_bitalg",
                "tme",
                "avx512_vpopcntdq",
                "-",
                "la57",
                "-",
                "-",
                "-",
                "-",
                "-",
                "rdpid",
                "-",
                "bus_lock_detect",
                "cldemote",
                "-",
                "movdiri",
                "movdir64b",
                "enqcmd",
                "sgx_lc",
            ]
        )
    ),
    (7, 0, 3): {
        2: "avx512_4vnniw",
        3: "avx512_4fmaps",
        4: "fsrm",
        8: "avx512_vp2intersect",
        10: "md_clear",
        14: "serialize",
        16: "tsxldtrk",
        18: "pconfig",
        19: "arch_lbr",
        20: "ibt",
        22: "amx_bf16",
        23: "avx512_fp16",
        24: "amx_tile",
        25: "amx_int8",
        28: "flush_l1d",
        29: "arch_capabilities",
    },
    (0xD, 1, 0): {0: "xsaveopt", 1: "xsavec", 2: "xgetbv1", 3: "xsaves", 4: "xfd"},
    (0x80000001, 0, 3): {
        11: "syscall",
        20: "nx",
        22: "mmxext",
        25: "fxsr_opt",
        26: "pdpe1gb",
        27: "rdtscp",
        29: "lm",
        30: "3dnowext",
        31: "3dnow",
    },
    (0x80000001, 0, 2): {
        0: "lahf_lm",
        1: "cmp_legacy",
        2: "svm",
        3: "extapic",
        4: "cr8_legacy",
        5: "abm",
        6: "sse4a",
        7: "misalignsse",
        8: "3dnowprefetch",
        9: "osvw",
        10: "ibs",
        11: "xop",
        12: "skinit",
        13: "wdt",
        15: "lwp",
        16: "fma4",
        17: "tce",
        19: "nodeid_msr",
        21: "tbm",
        22: "topoext",
        23: "perfctr_core",
        24: "perfctr_nb",
        26: "bpext",
        27: "ptsc",
        28: "perfctr_llc",
        29: "mwaitx",
    },
}

#: name -> (function, index, register, bit), for every named CPUID feature.
FEATURE_BITS: dict[str, tuple[int, int, int, int]] = {
    name: (fn, idx, reg, bit)
    for (fn, idx, reg), bits in FEATURE_NAMES.items()
    for bit, name in bits.items()
    if name != "-"
}

Leaves = Mapping[tuple[int, int], tuple[int, int, int, int]]


def has_feature(leaves: Leaves, name: str) -> bool:
    """Whether the CPUID ``leaves`` ((function, index) -> eax..edx) set ``name``."""
    fn, idx, reg, bit = FEATURE_BITS[name]
    leaf = leaves.get((fn, idx))
    return leaf is not None and bool(leaf[reg] >> bit & 1)


_FLAGS_LINE = re.compile(rb"^(flags\s*:)(.*)$", re.MULTILINE)


def filter_cpuinfo(cpuinfo: bytes, leaves: Leaves) -> bytes:
    """``cpuinfo`` (the host's /proc/cpuinfo) with every CPUID-backed flag
    the filtered ``leaves`` do not set removed from its ``flags`` lines."""

    def keep(match: re.Match[bytes]) -> bytes:
        names = match.group(2).split()
        kept = [
            n for n in names if n.decode() not in FEATURE_BITS or has_feature(leaves, n.decode())
        ]
        return match.group(1) + b" " + b" ".join(kept) if kept else match.group(1)

    return _FLAGS_LINE.sub(keep, cpuinfo)
