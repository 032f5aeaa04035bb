"""Futex ping-pong between two threads: native, the Sentry (kvm, and ptrace
where its platform runs threads), gVisor's runsc when installed.

Usage: python bench/futex_bench.py [--rounds N] [--runs R]

Builds ``futex_pingpong.c`` (static) and reports the time per round trip
(two FUTEX_WAKE + two FUTEX_WAIT; best and median of R runs). runsc is run
as ``runsc --network=none --ignore-cgroups --platform=ptrace do PROGRAM``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _runners import run_once, runners

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _build(out_dir: Path) -> Path:
    binary = out_dir / "futex_pingpong"
    subprocess.run(
        ["gcc", "-O2", "-static", "-o", str(binary), str(HERE / "futex_pingpong.c")], check=True
    )
    return binary


def _runners() -> dict[str, list[str]]:
    found = runners()
    sentry = found.pop("sentry")
    from sentry.platform.ptrace import PtracePlatform

    found["sentry-kvm"] = [*sentry[:-1], "--platform", "kvm", "--"]
    if PtracePlatform.supports_threads:
        found["sentry-ptrace"] = [*sentry[:-1], "--platform", "ptrace", "--"]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        binary = _build(Path(tmp))
        print(f"futex ping-pong, {opts.rounds} round trips, {opts.runs} runs (best / median)")
        for name, prefix in _runners().items():
            results = [
                run_once([*prefix, str(binary), str(opts.rounds)], 600) for _ in range(opts.runs)
            ]
            times = [r for r in results if isinstance(r, float)]
            if not times:
                print(f"  {name:13} {results[0]}")
                continue
            best, median = min(times), statistics.median(times)
            per = 1e6 / opts.rounds
            print(f"  {name:13} {best * per:9.2f} µs / {median * per:9.2f} µs per round trip")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
