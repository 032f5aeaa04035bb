"""fork+exec+wait (and vfork+exec+wait) of busybox ``true`` and
fork+exit+wait: native, the Sentry, gVisor's runsc.

Usage: python bench/fork_bench.py [--n N] [--runs R] [--modes exec,vfork,exit]

Builds ``fork_exec_wait.c`` (static) and reports the in-program time per
iteration (best and median of R runs of N iterations, the runners taking
turns). runsc is used when
installed, as ``runsc --network=none --ignore-cgroups --platform=ptrace do``.
Target (issue 6): the Sentry no slower than runsc.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from _runners import round_robin, runners, summary

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
        print(
            f"{opts.n} iterations, {opts.runs} runs (best / median per iteration, runners in turns)"
        )
        for mode in opts.modes.split(","):
            commands = {
                name: [*prefix, str(binary), mode, str(opts.n)]
                for name, prefix in runners().items()
            }
            for name, results in round_robin(commands, opts.runs, 900).items():
                got = summary(results)
                if isinstance(got, str):
                    print(f"  {mode:5} {name:7} {got}")
                    continue
                best, median = got[0] * 1000, got[1] * 1000
                print(f"  {mode:5} {name:7} {best:8.3f} ms / {median:8.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
