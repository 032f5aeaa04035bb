"""fork+exec+wait (and vfork+exec+wait) of busybox ``true`` and
fork+exit+wait: native, the Sentry, gVisor's runsc.

Usage: python bench/fork_bench.py [--n N] [--runs R] [--modes exec,vfork,exit]

Builds ``fork_exec_wait.c`` (static) and reports the in-program time per
iteration (best and median of R runs of N iterations). runsc is used when
installed, as ``runsc --network=none --ignore-cgroups --platform=ptrace do``.
Target (issue 6): the Sentry no slower than runsc.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from _runners import run_once, runners

HERE = Path(__file__).resolve().parent


def _build(out_dir: Path) -> Path:
    binary = out_dir / "fork_exec_wait"
    subprocess.run(
        ["gcc", "-O2", "-static", "-o", str(binary), str(HERE / "fork_exec_wait.c")], check=True
    )
    return binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modes", default="exec,vfork,exit")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        binary = _build(Path(tmp))
        print(f"{opts.n} iterations, {opts.runs} runs (best / median per iteration)")
        for mode in opts.modes.split(","):
            for name, prefix in runners().items():
                cmd = [*prefix, str(binary), mode, str(opts.n)]
                results = [run_once(cmd, 900) for _ in range(opts.runs)]
                times = [r for r in results if isinstance(r, float)]
                if not times:
                    print(f"  {mode:5} {name:7} {results[0]}")
                    continue
                best, median = min(times) * 1000, statistics.median(times) * 1000
                print(f"  {mode:5} {name:7} {best:8.3f} ms / {median:8.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
