"""10 MB pipe transfer: native, the Sentry, gVisor's runsc.

Usage: python bench/pipe_bench.py [--mb N] [--runs R] [--modes fork,single]

Builds ``pipe_xfer.c`` (static) and reports the in-program transfer time
(best and median of R runs, the runners taking turns) and the
throughput, for each mode:
  * fork:   a parent writes, a forked child reads (needs fork in the Sentry);
  * single: one process writes 64 KiB and reads it back (no fork needed).
runsc is used when installed, as
``runsc --network=none --ignore-cgroups --platform=ptrace do PROGRAM``.
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
    binary = out_dir / "pipe_xfer"
    subprocess.run(
        ["gcc", "-O2", "-static", "-o", str(binary), str(HERE / "pipe_xfer.c")], check=True
    )
    return binary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--modes", default="fork,single")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        binary = _build(Path(tmp))
        print(
            f"{opts.mb} MB through a pipe, {opts.runs} runs in turns (best / median, MB/s of best)"
        )
        for mode in opts.modes.split(","):
            commands = {
                name: [*prefix, str(binary), mode, str(opts.mb)]
                for name, prefix in runners().items()
            }
            for name, results in round_robin(commands, opts.runs, 600).items():
                got = summary(results)
                if isinstance(got, str):
                    print(f"  {mode:6} {name:7} {got}")
                    continue
                best, median = got
                print(
                    f"  {mode:6} {name:7} {best * 1000:9.2f} ms / {median * 1000:9.2f} ms"
                    f"  {opts.mb / best:9.1f} MB/s"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
