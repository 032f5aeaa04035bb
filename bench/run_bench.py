"""`pysandbox run` of busybox `true` end to end next to `runc run` and gVisor's
`runsc run` of the same bundle, and the memory (PSS) of a sleeping sandbox.

Usage: python bench/run_bench.py [--runs N]

Each runtime runs the bundle N times, the runtimes taking turns (round-robin,
so that the machine's drift affects them alike; wall time of the whole
command, median and p90). Then each starts `sleep 1000` detached (`run --detach`) and the PSS
of every process it left running for that container is summed: pysandbox's
boot, gofer (found from its state record) and stub; runsc's sandbox, gofer
and their children; runc's container process. runsc is used when installed, as `runsc --network=none
--platform=ptrace run` (its `--ignore-cgroups` is not needed as root).
Targets (issue 4): start faster than runsc and use no more memory than it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from runtime.spec import default_spec

BUSYBOX = "/bin/busybox"


def _bundle(tmp: Path, args: list[str]) -> Path:
    bundle = tmp / f"bundle-{uuid.uuid4().hex[:6]}"
    rootfs = bundle / "rootfs"
    for d in ("bin", "tmp", "proc", "dev", "sys", "etc"):
        (rootfs / d).mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in ("sh", "true", "sleep"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    cfg = copy.deepcopy(default_spec())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["process"]["env"] = ["PATH=/bin"]
    cfg["root"]["readonly"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def _runtimes(tmp: Path) -> dict[str, list[str]]:
    found = {"pysandbox": [sys.executable, "-m", "runtime.cli", "--root", str(tmp / "pys")]}
    if shutil.which("runc"):
        found["runc"] = ["runc", "--root", str(tmp / "runc")]
    if shutil.which("runsc"):
        found["runsc"] = [
            "runsc", "--root", str(tmp / "runsc"), "--network=none", "--platform=ptrace",
        ]  # fmt: skip
    return found


def _call(argv: list[str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*argv, *args], capture_output=True, timeout=60, check=False)


def _pss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _pids_of(needle: str) -> list[int]:
    """Processes whose command line or cwd names ``needle`` (the container)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if needle.encode() in cmdline:
            found.append(int(name))
    return found


def _gofer_of(tmp: Path, label: str, cid: str) -> list[int]:
    """pysandbox's gofer, whose command line (``gofer_serve FD:R:PATH``)
    names neither the container nor the bundle: from its state record."""
    if label != "pysandbox":
        return []
    try:
        record = json.loads((tmp / "pys" / cid / "state.json").read_text())
    except (OSError, ValueError):
        return []
    return [int(record.get("sandbox", {}).get("goferPid", 0))]


def _descendants(pids: list[int]) -> set[int]:
    out = set(pids)
    changed = True
    while changed:
        changed = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            if ppid in out and int(name) not in out:
                out.add(int(name))
                changed = True
    return out


def _sleeping_pss(tmp: Path, label: str, argv: list[str], bundle: Path) -> tuple[int, int]:
    """PSS (KiB) and process count of a detached ``sleep`` container."""
    cid = f"bench-mem-{uuid.uuid4().hex[:8]}"
    subprocess.run(  # noqa: PLW1510 - the state call below tells
        [*argv, "run", "--detach", "--bundle", str(bundle), cid],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )
    time.sleep(1.0)
    state = subprocess.run([*argv, "state", cid], capture_output=True, timeout=60, check=False)
    roots = _pids_of(cid) + _pids_of(str(bundle)) + _gofer_of(tmp, label, cid)
    if state.returncode == 0:
        roots.append(int(json.loads(state.stdout).get("pid", 0)))
    pids = _descendants([p for p in roots if p > 0])
    pss = sum(_pss_kib(pid) for pid in pids)
    subprocess.run([*argv, "kill", cid, "KILL"], capture_output=True, timeout=60, check=False)
    time.sleep(0.5)
    subprocess.run([*argv, "delete", "-f", cid], capture_output=True, timeout=60, check=False)
    return pss, len(pids)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    ns = p.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp_s:
        tmp = Path(tmp_s)
        true_bundle = _bundle(tmp, ["true"])
        sleep_bundle = _bundle(tmp, ["sleep", "1000"])
        runtimes = _runtimes(tmp)
        # Round-robin: the machine's speed drifts by tens of percent within
        # a minute, so every runtime gets the same minutes.
        times: dict[str, list[float]] = {label: [] for label in runtimes}
        failed: set[str] = set()
        for _ in range(ns.runs):
            for label, argv in runtimes.items():
                if label in failed:
                    continue
                cid = f"bench-{uuid.uuid4().hex[:8]}"
                t0 = time.perf_counter()
                r = subprocess.run(  # noqa: PLW1510 - the status is looked at
                    [*argv, "run", "--bundle", str(true_bundle), cid],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=120,
                )
                times[label].append(time.perf_counter() - t0)
                if r.returncode != 0:
                    print(f"{label}: run failed: {r.stderr.decode()[-300:]}", file=sys.stderr)
                    failed.add(label)
                subprocess.run(
                    [*argv, "delete", "-f", cid], capture_output=True, timeout=60, check=False
                )
        rows = []
        for label, argv in runtimes.items():
            if label in failed:
                continue
            samples = sorted(times[label])
            pss, n = _sleeping_pss(tmp, label, argv, sleep_bundle)
            rows.append(
                (label, statistics.median(samples), samples[int(0.9 * (len(samples) - 1))], pss, n)
            )
    print(f"run of busybox true, {ns.runs} runs each; PSS of a sleeping container\n")
    print("| runtime | median | p90 | PSS (sandbox, gofer, …) | processes |")
    print("|---|---:|---:|---:|---:|")
    for label, med, p90, pss, n in rows:
        print(
            f"| {label} | {med * 1000:.0f} ms | {p90 * 1000:.0f} ms | {pss / 1024:.1f} MiB | {n} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
