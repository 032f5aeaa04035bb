"""Socket throughput and HTTP request rate: native, the Sentry, runsc.

Usage: python bench/socket_bench.py [--mb N] [--requests N] [--runs R]

* ``sock_xfer.c`` (static): N MB from a parent to a forked child over TCP
  loopback (host sockets in the Sentry) and over a Unix socketpair (the
  Sentry's own sockets); best and median of R runs, MB/s of the best;
* ``http_reqs.py`` under Debian's python3: sequential urllib requests to an
  http.server in a forked child (requests/s of the best run).

runsc runs as ``runsc --network=host --ignore-cgroups --platform=ptrace do``
when installed (host networking, like the Sentry's hostinet).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _runners import run_once

HERE = Path(__file__).resolve().parent
PY = "/usr/bin/python3"


def runners() -> dict[str, list[str]]:
    found = {"native": [], "sentry": [sys.executable, "-m", "sentry", "run", "--"]}
    if shutil.which("runsc"):
        found["runsc"] = [
            "runsc", "--network=host", "--ignore-cgroups", "--platform=ptrace", "do",
        ]  # fmt: skip
    return found


def _report(label: str, name: str, results: list[float | str], amount: float, unit: str) -> None:
    times = [r for r in results if isinstance(r, float)]
    if not times:
        print(f"  {label:5} {name:7} {results[0]}")
        return
    best, median = min(times), statistics.median(times)
    print(
        f"  {label:5} {name:7} {best * 1000:9.1f} ms / {median * 1000:9.1f} ms"
        f"  {amount / best:9.1f} {unit}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        binary = Path(tmp) / "sock_xfer"
        subprocess.run(
            ["gcc", "-O2", "-static", "-o", str(binary), str(HERE / "sock_xfer.c")], check=True
        )
        script = Path(tmp) / "http_reqs.py"
        shutil.copy(HERE / "http_reqs.py", script)
        print(f"{opts.mb} MB parent -> child, {opts.runs} runs (best / median, rate of best)")
        for mode in ("tcp", "unix"):
            for name, prefix in runners().items():
                results = [
                    run_once([*prefix, str(binary), mode, str(opts.mb)], 900)
                    for _ in range(opts.runs)
                ]
                _report(mode, name, results, opts.mb, "MB/s")
        print(f"{opts.requests} HTTP requests, urllib -> http.server (python3)")
        for name, prefix in runners().items():
            results = [
                run_once([*prefix, PY, str(script), str(opts.requests)], 900)
                for _ in range(opts.runs)
            ]
            _report("http", name, results, opts.requests, "req/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
