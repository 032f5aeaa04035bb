"""What the process benchmarks share: the runners a C program is timed under
(native, the Sentry, gVisor's runsc when installed) and the parsing of the
program's ``<label> <n> <seconds>`` output line."""

from __future__ import annotations

import shutil
import subprocess
import sys


def runners() -> dict[str, list[str]]:
    """Command prefixes by runner name; runsc only when installed."""
    found = {"native": [], "sentry": [sys.executable, "-m", "sentry", "run", "--"]}
    if shutil.which("runsc"):
        found["runsc"] = [
            "runsc", "--network=none", "--ignore-cgroups", "--platform=ptrace", "do",
        ]  # fmt: skip
    return found


def run_once(cmd: list[str], timeout: float) -> float | str:
    """The seconds the program reported (its third output field), or why it failed."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) != 3:
        return f"failed (status {proc.returncode}): {proc.stderr.strip()[-200:]}"
    return float(fields[2])


def round_robin(
    commands: dict[str, list[str]], runs: int, timeout: float
) -> dict[str, list[float | str]]:
    """``runs`` results of each named command, taken in turns (one run of
    each, then the next round), so that the VM's drift from minute to
    minute falls on every runner alike instead of on whichever ran last."""
    results: dict[str, list[float | str]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            results[name].append(run_once(cmd, timeout))
    return results


def summary(results: list[float | str]) -> tuple[float, float] | str:
    """(best, median) seconds of the successful runs, or the first failure."""
    import statistics

    times = [r for r in results if isinstance(r, float)]
    if not times:
        return str(results[0])
    return min(times), statistics.median(times)
