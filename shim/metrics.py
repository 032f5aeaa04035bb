"""``Stats``: the sandbox cgroup's numbers as containerd's cgroups Metrics.

containerd's cgroups monitor type-asserts v1 Metrics on a v1 host and v2
Metrics on a unified one (cd16 metrics/cgroups/{v1,v2}/metrics.go, "invalid
metric type" otherwise); CRI accepts either (reference §7). So the type
follows the host's hierarchy. The numbers come from the sandbox's cgroup
(``runtime.cgroups``), which holds the whole pod: every container of a pod
reports the pod's totals, as gVisor does without per-container accounting.
"""

from __future__ import annotations

from google.protobuf import any_pb2

from protos import typeurl
from protos.containerd.cgroups.v1 import metrics_pb2 as v1
from protos.containerd.cgroups.v2 import metrics_pb2 as v2
from runtime.cgroups import Stats

_U64 = (1 << 64) - 1

# memory.stat keys copied into v1 MemoryStat fields of the same name
# (Documentation/admin-guide/cgroup-v1/memory.rst 5.2).
_V1_MEMORY = {
    "cache": "cache",
    "rss": "rss",
    "rss_huge": "rss_huge",
    "mapped_file": "mapped_file",
    "dirty": "dirty",
    "writeback": "writeback",
    "pgpgin": "pg_pg_in",
    "pgpgout": "pg_pg_out",
    "pgfault": "pg_fault",
    "pgmajfault": "pg_maj_fault",
    "inactive_anon": "inactive_anon",
    "active_anon": "active_anon",
    "inactive_file": "inactive_file",
    "active_file": "active_file",
    "unevictable": "unevictable",
    "hierarchical_memory_limit": "hierarchical_memory_limit",
    "hierarchical_memsw_limit": "hierarchical_swap_limit",
    "total_cache": "total_cache",
    "total_rss": "total_rss",
    "total_rss_huge": "total_rss_huge",
    "total_mapped_file": "total_mapped_file",
    "total_dirty": "total_dirty",
    "total_writeback": "total_writeback",
    "total_pgpgin": "total_pg_pg_in",
    "total_pgpgout": "total_pg_pg_out",
    "total_pgfault": "total_pg_fault",
    "total_pgmajfault": "total_pg_maj_fault",
    "total_inactive_anon": "total_inactive_anon",
    "total_active_anon": "total_active_anon",
    "total_inactive_file": "total_inactive_file",
    "total_active_file": "total_active_file",
    "total_unevictable": "total_unevictable",
}

# cgroup v2 memory.stat keys with the same field names (cgroup-v2.rst).
_V2_MEMORY = [
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
]


def _u64(value: int) -> int:
    return max(0, min(value, _U64))


def v1_metrics(stats: Stats, oom_kills: int = 0) -> v1.Metrics:
    m = v1.Metrics()
    m.pids.current = _u64(stats.pids.current)
    m.pids.limit = _u64(stats.pids.limit)
    m.cpu.usage.total = _u64(stats.cpu.usage_total)
    m.cpu.usage.kernel = _u64(stats.cpu.usage_kernel)
    m.cpu.usage.user = _u64(stats.cpu.usage_user)
    m.cpu.usage.per_cpu.extend(_u64(x) for x in stats.cpu.percpu)
    m.cpu.throttling.periods = _u64(stats.cpu.throttling_periods)
    m.cpu.throttling.throttled_periods = _u64(stats.cpu.throttled_periods)
    m.cpu.throttling.throttled_time = _u64(stats.cpu.throttled_time)
    for key, name in _V1_MEMORY.items():
        if key in stats.memory.raw:
            setattr(m.memory, name, _u64(stats.memory.raw[key]))
    m.memory.usage.usage = _u64(stats.memory.usage)
    m.memory.usage.max = _u64(stats.memory.max_usage)
    m.memory.usage.limit = _u64(stats.memory.limit)
    m.memory.usage.failcnt = _u64(stats.memory.failcnt)
    m.memory_oom_control.oom_kill = _u64(oom_kills)
    return m


def v2_metrics(stats: Stats, oom_kills: int = 0) -> v2.Metrics:
    m = v2.Metrics()
    m.pids.current = _u64(stats.pids.current)
    m.pids.limit = _u64(stats.pids.limit)
    m.cpu.usage_usec = _u64(stats.cpu.usage_total // 1000)
    m.cpu.user_usec = _u64(stats.cpu.usage_user // 1000)
    m.cpu.system_usec = _u64(stats.cpu.usage_kernel // 1000)
    m.cpu.nr_periods = _u64(stats.cpu.throttling_periods)
    m.cpu.nr_throttled = _u64(stats.cpu.throttled_periods)
    m.cpu.throttled_usec = _u64(stats.cpu.throttled_time // 1000)
    for key in _V2_MEMORY:
        if key in stats.memory.raw:
            setattr(m.memory, key, _u64(stats.memory.raw[key]))
    m.memory.usage = _u64(stats.memory.usage)
    m.memory.usage_limit = _u64(stats.memory.limit)
    m.memory.max_usage = _u64(stats.memory.max_usage)
    m.memory_events.max = _u64(stats.memory.failcnt)
    m.memory_events.oom_kill = _u64(oom_kills)
    return m


def pack(stats: Stats, version: int, oom_kills: int = 0) -> any_pb2.Any:
    """The StatsResponse Any for a host with cgroup ``version``."""
    if version == 2:
        return typeurl.pack(v2_metrics(stats, oom_kills))
    return typeurl.pack(v1_metrics(stats, oom_kills))
