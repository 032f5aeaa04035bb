"""Text of the /proc files, in Linux's formats (fs/proc/*.c)."""

from __future__ import annotations

import os
import time
from typing import Any

from sentry.kernel.cputime import group_usage, thread_usage
from sentry.kernel.sessions import controlling_tty
from sentry.vfs.context import current_task
from sentry.vfs.mount import VirtualDentry

PAGE = 4096


def _kb(n: int) -> int:
    return n // 1024


def meminfo() -> bytes:
    """/proc/meminfo (fs/proc/meminfo.c): the host's totals, as gVisor reports its own."""
    total = os.sysconf("SC_PHYS_PAGES") * PAGE
    free = os.sysconf("SC_AVPHYS_PAGES") * PAGE
    lines = [("MemTotal", total), ("MemFree", free), ("MemAvailable", free), ("Buffers", 0),
             ("Cached", 0), ("SwapCached", 0), ("SwapTotal", 0), ("SwapFree", 0)]  # fmt: skip
    return "".join(f"{k + ':':<16}{_kb(v):>8} kB\n" for k, v in lines).encode()


def _boot(kernel: Any) -> float:
    bt = float(getattr(kernel, "boot_time", 0) or 0)
    return bt / 1e9 if bt > 1e12 else bt


def uptime(kernel: Any) -> bytes:
    up = max(0.0, time.time() - _boot(kernel)) if _boot(kernel) else time.monotonic()
    return b"%.2f %.2f\n" % (up, 0.0)


def version(kernel: Any) -> bytes:
    uts = getattr(kernel, "uts", None)
    release = getattr(uts, "release", "4.4.0")
    version = getattr(uts, "version", "#1 SMP")
    return f"Linux version {release} (pysandbox@sentry) {version}\n".encode()


def filesystems() -> bytes:
    return (
        b"nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n"
        b"nodev\tdevtmpfs\nnodev\tdevpts\nnodev\tmqueue\nnodev\t9p\n"
    )


def _processes(kernel: Any) -> list[Any]:
    return [t for tid, t in sorted(kernel.tasks.items()) if t.tgid == tid]


def loadavg(kernel: Any) -> bytes:
    tasks = kernel.tasks
    last = max(tasks) if tasks else 0
    return b"0.00 0.00 0.00 1/%d %d\n" % (len(tasks), last)


def stat(kernel: Any) -> bytes:
    ncpu = os.cpu_count() or 1
    zeros = " 0" * 10
    lines = [f"cpu {zeros}"] + [f"cpu{i}{zeros}" for i in range(ncpu)]
    lines += [
        "intr 0", "ctxt 0", f"btime {int(_boot(kernel))}",
        f"processes {len(kernel.tasks)}", "procs_running 1", "procs_blocked 0",
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


def mem_range(t: Any, which: str) -> bytes:
    """/proc/PID/cmdline or environ: the bytes between mm's arg_/env_ start and end."""
    mm = t.mm
    start, end = getattr(mm, f"{which}_start", 0), getattr(mm, f"{which}_end", 0)
    if not start or end <= start:
        return b""
    try:
        return bytes(mm.copy_in(start, end - start))
    except Exception:  # the range went away (munmap): Linux returns what it can, here nothing
        return b""


def _field(rec: Any, name: str, index: int) -> Any:
    if hasattr(rec, name):
        return getattr(rec, name)
    return rec[index]


def maps(t: Any) -> bytes:
    """/proc/PID/maps (fs/proc/task_mmu.c show_map_vma): the name column starts at 74."""
    out = []
    vmas = t.mm.vmas() if hasattr(t.mm, "vmas") else []
    for v in vmas:
        start, end = _field(v, "start", 0), _field(v, "end", 1)
        perms, offset = _field(v, "perms", 2), _field(v, "offset", 3)
        dev, ino, name = _field(v, "dev", 4), _field(v, "inode", 5), _field(v, "name", 6) or ""
        if isinstance(dev, int):
            dev = f"{(dev >> 8) & 0xFFF:02x}:{dev & 0xFF:02x}"
        line = f"{start:08x}-{end:08x} {perms} {offset:08x} {dev} {ino} "
        out.append(line.ljust(73) + name + "\n" if name else line + "\n")
    return "".join(out).encode()


def _vm_kb(t: Any) -> int:
    vmas = t.mm.vmas() if hasattr(t.mm, "vmas") else []
    return sum(_field(v, "end", 1) - _field(v, "start", 0) for v in vmas) // 1024


def status(t: Any, kernel: Any) -> bytes:
    """/proc/PID/status (fs/proc/array.c proc_pid_status), the commonly read fields."""
    c = t.creds
    threads = sum(1 for x in list(kernel.tasks.values()) if x.tgid == t.tgid)
    umask = getattr(t.fs, "umask", 0o022)
    groups = " ".join(str(g) for g in c.groups)
    vm = _vm_kb(t)
    state = task_state(t)
    lines = [
        f"Name:\t{t.comm[:15]}", f"Umask:\t{umask:04o}",
        f"State:\t{_STATE_NAMES.get(state, state)}",
        f"Tgid:\t{t.tgid}", "Ngid:\t0", f"Pid:\t{t.tid}", f"PPid:\t{t.ppid()}", "TracerPid:\t0",
        f"Uid:\t{c.uid}\t{c.euid}\t{c.suid}\t{c.fsuid}",
        f"Gid:\t{c.gid}\t{c.egid}\t{c.sgid}\t{c.fsgid}",
        f"FDSize:\t{max(64, len(t.fd_table or ()))}", f"Groups:\t{groups}",
        f"VmPeak:\t{vm:8d} kB", f"VmSize:\t{vm:8d} kB", f"VmRSS:\t{vm:8d} kB",
        f"Threads:\t{threads}", "SigQ:\t0/0",
        "SigPnd:\t0000000000000000", "ShdPnd:\t0000000000000000",
        "SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000", "SigCgt:\t0000000000000000",
        "CapInh:\t0000000000000000", "CapPrm:\t000001ffffffffff", "CapEff:\t000001ffffffffff",
        "CapBnd:\t000001ffffffffff", "CapAmb:\t0000000000000000", "Seccomp:\t0",
        f"Cpus_allowed_list:\t0-{(os.cpu_count() or 1) - 1}",
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


#: USER_HZ: the unit of the times in /proc/PID/stat and /proc/stat.
USER_HZ = 100
_STATE_NAMES = {"R": "R (running)", "S": "S (sleeping)", "D": "D (disk sleep)",
                "T": "T (stopped)", "t": "t (tracing stop)", "Z": "Z (zombie)",
                "X": "X (dead)"}  # fmt: skip


def task_state(t: Any) -> str:
    """The state letter (fs/proc/array.c task_state_array): Z for a zombie,
    T for a stopped process; otherwise the reader is running and every other
    task, blocked in a syscall or not, shows as sleeping, which is what ps
    sees natively for a shell waiting on its job."""
    tg = getattr(t, "thread_group", None)
    if tg is not None and (tg.zombie or t not in tg.tasks):
        return "Z"  # a leader that exited before its other threads stays a zombie
    if tg is not None and tg.stopped_by:
        return "T"
    return "R" if t is current_task() else "S"


def _tty_nr(rdev: int) -> int:
    """new_encode_dev of the controlling terminal, as do_task_stat reports it."""
    major, minor = os.major(rdev), os.minor(rdev)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def _ctty(t: Any) -> tuple[int, int]:
    """(tty_nr, tpgid) of ``t``'s controlling terminal; (0, -1) without one."""
    jc = controlling_tty(t)
    if jc is None:
        return 0, -1
    return _tty_nr(jc.rdev), jc.pgrp if jc.pgrp is not None else -1


def _start_ticks(t: Any, kernel: Any) -> int:
    start = int(getattr(t, "start_time_ns", 0) or 0)
    boot = int(getattr(kernel, "boot_monotonic", 0) or 0)
    return max(0, start - boot) * USER_HZ // 1_000_000_000 if start else 0


def _ticks(ns: int) -> int:
    return ns * USER_HZ // 1_000_000_000


def _cpu_fields(t: Any, kernel: Any, whole: bool) -> list[str]:
    """minflt cminflt majflt cmajflt utime stime cutime cstime: the whole
    process's for /proc/PID/stat, the thread's own for
    /proc/PID/task/TID/stat; the children's are the process's either way
    (fs/proc/array.c do_task_stat)."""
    tg = t.thread_group
    usage = group_usage(tg, kernel.tree_lock) if whole else thread_usage(t)
    with kernel.tree_lock:
        c = tg.children_usage
        cuser, csys, cminflt = c.user_ns, c.sys_ns, c.minflt
    values = [usage.minflt, cminflt, 0, 0, _ticks(usage.user_ns), _ticks(usage.sys_ns)]
    return [str(v) for v in [*values, _ticks(cuser), _ticks(csys)]]


def pid_stat(t: Any, kernel: Any, *, whole: bool = True) -> bytes:
    """/proc/PID/stat (fs/proc/array.c do_task_stat): 52 fields; with
    ``whole`` the CPU times and faults are the process's, else the
    thread's (/proc/PID/task/TID/stat)."""
    threads = sum(1 for x in list(kernel.tasks.values()) if x.tgid == t.tgid)
    vsize = _vm_kb(t) * 1024
    tty_nr, tpgid = _ctty(t)
    pgid, sid = getattr(t, "pgid", t.tgid), getattr(t, "sid", t.tgid)
    nice = getattr(t, "nice", 0)
    fields = [str(t.tid), f"({t.comm[:15]})", task_state(t), str(t.ppid()), str(pgid), str(sid)]
    fields += [str(tty_nr), str(tpgid), "4194304", *_cpu_fields(t, kernel, whole)]
    fields += [str(20 + nice), str(nice), str(threads), "0", str(_start_ticks(t, kernel))]
    fields += [str(vsize), str(vsize // PAGE)] + ["0"] * 29
    return (" ".join(fields[:52]) + "\n").encode()


def statm(t: Any) -> bytes:
    pages = _vm_kb(t) * 1024 // PAGE
    return b"%d %d 0 0 0 0 0\n" % (pages, pages)


def _mount_rows(vfs: Any, root: VirtualDentry) -> list[tuple[Any, str]]:
    rows = []
    for m in vfs.mounts():
        path = vfs.path_of(VirtualDentry(m, m.root), root).decode(errors="replace")
        rows.append((m, path))
    return rows


def mounts(vfs: Any, root: VirtualDentry) -> bytes:
    """/proc/PID/mounts (fs/proc_namespace.c show_vfsmnt)."""
    out = []
    for m, path in _mount_rows(vfs, root):
        opts = ("ro" if m.readonly else "rw") + ("," + m.options if m.options else "")
        out.append(f"{m.fs.source()} {path} {m.fs.name} {opts} 0 0\n")
    return "".join(out).encode()


def mountinfo(vfs: Any, root: VirtualDentry) -> bytes:
    """/proc/PID/mountinfo (fs/proc_namespace.c show_mountinfo)."""
    out = []
    for m, path in _mount_rows(vfs, root):
        parent = m.parent.id if m.parent is not None else m.id
        ro = "ro" if m.readonly else "rw"
        out.append(f"{m.id} {parent} 0:{m.fs.dev} / {path} {ro},relatime - {m.fs.name} "
                   f"{m.fs.source()} {ro}\n")  # fmt: skip
    return "".join(out).encode()


def fdinfo(t: Any, fd: int, desc: Any) -> bytes:
    """/proc/PID/fdinfo/N (fs/proc/fd.c seq_show): position, flags, mount, inode."""
    flags = desc.flags
    try:
        if t.fd_table.cloexec(fd):
            flags |= 0o2000000
    except Exception:  # closed meanwhile: show what was there
        pass
    vd = desc.vd
    mnt = vd.mount.id if vd is not None else 0
    try:
        ino = desc.stat().ino
    except Exception:
        ino = 0
    return f"pos:\t{desc.offset}\nflags:\t0{flags:o}\nmnt_id:\t{mnt}\nino:\t{ino}\n".encode()


_LIMITS = [
    ("Max cpu time", "seconds"), ("Max file size", "bytes"), ("Max data size", "bytes"),
    ("Max stack size", "bytes"), ("Max core file size", "bytes"),
    ("Max resident set", "bytes"), ("Max processes", "processes"),
    ("Max open files", "files"), ("Max locked memory", "bytes"),
    ("Max address space", "bytes"), ("Max file locks", "locks"),
    ("Max pending signals", "signals"), ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""), ("Max realtime priority", ""), ("Max realtime timeout", "us"),
]  # fmt: skip


def limits(t: Any) -> bytes:
    """/proc/PID/limits (fs/proc/base.c proc_pid_limits)."""

    def show(v: int) -> str:
        return "unlimited" if v >= (1 << 63) - 1 else str(v)

    lines = [f"{'Limit':<26}{'Soft Limit':<21}{'Hard Limit':<21}{'Units':<10}"]
    rl = getattr(t, "rlimits", None)
    for i, (name, unit) in enumerate(_LIMITS):
        try:
            soft, hard = rl.get(i) if rl is not None else ((1 << 64) - 1, (1 << 64) - 1)
        except Exception:
            soft = hard = (1 << 64) - 1
        lines.append(f"{name:<26}{show(soft):<21}{show(hard):<21}{unit:<10}")
    return ("\n".join(lines) + "\n").encode()
