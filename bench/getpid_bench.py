"""getpid() latency and start-up time: native, the Sentry (ptrace and kvm), gVisor's runsc.

Usage: python bench/getpid_bench.py [--iterations N] [--runs R]

Builds ``getpid_loop.c`` (static) and reports, pinned to CPU 0 (taskset -c 0)
and unpinned:
  * ns per getpid() measured inside the program (N raw syscalls);
  * wall time of ``busybox true`` from exec to exit.
The Sentry runs on ptrace (row ``sentry``) and, where /dev/kvm can run the
kvm platform, on kvm (row ``sentry-kvm``; otherwise the reason is printed).
runsc is used when installed (apt-get install runsc) with
``runsc --network=none --ignore-cgroups --platform=ptrace do PROGRAM``.
Target: the Sentry's getpid no slower than runsc's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def _build(out_dir: Path) -> Path:
    binary = out_dir / "getpid_loop"
    subprocess.run(
        ["gcc", "-O2", "-static", "-o", str(binary), str(HERE / "getpid_loop.c")], check=True
    )
    return binary


def _runners() -> dict[str, list[str]]:
    runners = {
        "native": [],
        "sentry": [sys.executable, "-m", "sentry", "run", "--"],
    }
    kvm = [sys.executable, "-m", "sentry", "run", "--platform", "kvm", "--"]
    probe = subprocess.run([*kvm, BUSYBOX, "true"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        runners["sentry-kvm"] = kvm
    else:
        print(f"no sentry-kvm row: {probe.stderr.strip()[-300:]}")
    if shutil.which("runsc"):
        runners["runsc"] = [
            "runsc", "--network=none", "--ignore-cgroups", "--platform=ptrace", "do",
        ]  # fmt: skip
    return runners


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout


def dispatch_only(iterations: int) -> float:
    """ns per syscall of the Sentry's own part of the hot path (run loop,
    table lookup, handler, result) with a context whose switch returns at
    once: what the Sentry adds on top of the platform's switch."""
    from sentry.abi import sysno
    from sentry.arch import Registers
    from sentry.kernel import Credentials, Kernel, RLimits, Task
    from sentry.memory import MemoryFile
    from sentry.platform import Context, SyscallTrap
    from sentry.syscalls.linux64 import build_table

    trap = SyscallTrap()

    class Immediate(Context):
        def __init__(self) -> None:
            self.left = iterations

        def switch(self, address_space: object, regs: Registers) -> SyscallTrap:
            self.left -= 1
            regs.orig_rax = sysno.GETPID if self.left >= 0 else sysno.EXIT_GROUP
            return trap

        def interrupt(self) -> None: ...
        def fp_state(self, address_space: object) -> bytes:
            return b""

        def set_fp_state(self, address_space: object, state: bytes) -> None: ...
        def release(self) -> None: ...

    class NoSpace:
        address_space = None

    mf = MemoryFile(size=1 << 20)
    kernel = Kernel(None, mf, None, build_table())  # type: ignore[arg-type]
    task = Task(kernel, 1, creds=Credentials(), fd_table=None, fs=None, rlimits=RLimits())
    task.mm = NoSpace()  # type: ignore[assignment]
    task.regs = Registers()
    task.context = Immediate()
    empty = Immediate()
    t0 = time.perf_counter_ns()
    for _ in range(iterations):
        empty.switch(None, task.regs)
    switch_cost = time.perf_counter_ns() - t0
    t0 = time.perf_counter_ns()
    task.run()
    total = time.perf_counter_ns() - t0
    mf.close()
    return (total - switch_cost) / iterations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # Start-up is import-bound: make sure byte code is cached even where
    # PYTHONDONTWRITEBYTECODE is set (an installed package ships .pyc files).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "sentry")],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"Sentry dispatch alone (fake switch): {dispatch_only(200000):.0f} ns per syscall")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        loop = _build(Path(tmp))
        print(f"{'runner':<11} {'pinning':<9} {'getpid ns':>10} {'busybox true ms':>16}")
        for name, prefix in _runners().items():
            for pinned in (True, False):
                pin = ["taskset", "-c", "0"] if pinned else []
                latencies = [
                    float(_run([*pin, *prefix, str(loop), str(args.iterations)]).split()[-1])
                    for _ in range(args.runs)
                ]
                starts = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    _run([*pin, *prefix, BUSYBOX, "true"])
                    starts.append((time.perf_counter() - t0) * 1000)
                print(
                    f"{name:<11} {'cpu0' if pinned else 'none':<9} "
                    f"{statistics.median(latencies):>10.0f} {statistics.median(starts):>16.1f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
