"""containerd end to end: ``ctr run --rm … echo`` latency and per-pod memory.

Usage: python bench/ctr_run_bench.py [--runs N]   (as root)

Starts a private containerd (with the venv's bin on its PATH, so the runtime
name ``io.pysandbox.v2`` finds our shim), imports the locally built busybox
image and, for our shim and for containerd's runc shim (runc as the
reference):

* times N ``ctr run --rm RUNTIME IMAGE ID echo hi`` (median, p90);
* runs one detached ``sleep`` container and sums the PSS
  (/proc/PID/smaps_rollup) of the shim and every process below it (for us:
  shim + boot + gofer + stub; for runc: shim + the container's process).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration.containerd import (  # noqa: E402
    ContainerdConfig,
    descendants,
    import_busybox_image,
    private_containerd,
    processes_mentioning,
)

VENV_BIN = Path(sys.executable).parent
RUNTIMES = {
    "pysandbox shim (io.pysandbox.v2)": "io.pysandbox.v2",
    "runc shim (runc)": "io.containerd.runc.v2",
}


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _zygote_of(shim: int) -> int:
    """The pid of the zygote ``start`` handed to shim daemon ``shim`` (0: none)."""
    try:
        env = Path(f"/proc/{shim}/environ").read_bytes().split(b"\0")
    except OSError:
        return 0
    for item in env:
        if item.startswith(b"PYSANDBOX_ZYGOTE="):
            return int(item.split(b":")[-1])
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=10)
    ns = p.parse_args()
    rows = []
    with private_containerd(ContainerdConfig(path_prepend=(str(VENV_BIN),))) as daemon:
        image = import_busybox_image(daemon)
        for label, runtime in RUNTIMES.items():
            times = []
            for _ in range(ns.runs):
                task = f"bench-{uuid.uuid4().hex[:8]}"
                t0 = time.perf_counter()
                r = daemon.ctr("run", "--rm", "--runtime", runtime, image, task, "echo", "hi")
                times.append(time.perf_counter() - t0)
                assert r.stdout.strip() == "hi", r.stdout
            times.sort()
            task = f"bench-mem-{uuid.uuid4().hex[:8]}"
            daemon.ctr("run", "-d", "--runtime", runtime, image, task, "sleep", "1000")
            time.sleep(1.0)
            shims = [
                pid
                for pid in processes_mentioning(str(daemon.address))
                if "containerd-shim"
                in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            ]
            pids = set(shims)
            for s in shims:
                pids.update(descendants(s))
                zygote = _zygote_of(s)
                if zygote:
                    # The shim's zygote forks boot and gofer (runtime.zygote):
                    # they and it are the pod's too.
                    pids.add(zygote)
                    pids.update(descendants(zygote))
            pss = sum(_pss_kib(pid) for pid in pids)
            daemon.ctr("task", "kill", "-s", "SIGKILL", task, check=False)
            time.sleep(0.5)
            daemon.ctr("task", "delete", "-f", task, check=False)
            daemon.ctr("container", "delete", task, check=False)
            rows.append(
                (
                    label,
                    statistics.median(times),
                    times[int(0.9 * (len(times) - 1))],
                    pss,
                    len(pids),
                )
            )
    print(f"ctr run --rm … echo hi, {ns.runs} runs each; PSS of one sleeping pod\n")
    print("| runtime | median | p90 | PSS of shim + sandbox | processes |")
    print("|---|---:|---:|---:|---:|")
    for label, med, p90, pss, n in rows:
        print(
            f"| {label} | {med * 1000:.0f} ms | {p90 * 1000:.0f} ms | {pss / 1024:.1f} MiB | {n} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
