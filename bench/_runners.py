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
