"""Linux capability names and numbers (include/uapi/linux/capability.h).

Shared by spec validation (``process.capabilities``), ``features`` and the
processes that reduce their own capability sets (the gofer keeps six).
"""

from __future__ import annotations

CAPABILITIES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# The gofer's capabilities after setup (seed gofer.go ``goferCaps``): enough
# to act on files for any guest uid and to chroot, nothing more.
GOFER_CAPS: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_SYS_CHROOT",
)


def mask(names: tuple[str, ...] | list[str]) -> int:
    """The capability bit mask of ``names`` (as in /proc/PID/status CapEff)."""
    bits = 0
    for name in names:
        bits |= 1 << CAPABILITIES[name]
    return bits


def last_cap() -> int:
    """The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(CAPABILITIES.values())


def reduce_to(names: tuple[str, ...] | list[str]) -> None:
    """Keep only ``names`` in this thread's bounding, effective, permitted and
    inheritable sets, and clear the ambient set (capabilities(7)).

    Capabilities are per thread: call this before starting any thread, or
    the other threads keep their sets (seed: the gofer re-execs instead).
    """
    from runtime import hostsys

    keep = mask(names)
    for cap in range(last_cap() + 1):
        if not keep & (1 << cap) and hostsys.prctl(hostsys.PR_CAPBSET_READ, cap) == 1:
            hostsys.prctl(hostsys.PR_CAPBSET_DROP, cap)
    hostsys.prctl(hostsys.PR_CAP_AMBIENT, hostsys.PR_CAP_AMBIENT_CLEAR_ALL)
    effective, permitted, _ = hostsys.capget()
    hostsys.capset(effective & keep, permitted & keep, 0)
