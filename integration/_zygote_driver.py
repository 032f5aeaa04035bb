"""Run pysandbox CLI commands in one process with a zygote installed (what
the shim does), for integration/test_runtime_zygote.py.

Usage: python -m integration._zygote_driver [--kill-zygote] -- CMD... [-- CMD...]
Prints "rc=N" after each command and "forked=N" (children the zygote forked).
"""

from __future__ import annotations

import sys

from runtime import spawn
from runtime.cli.main import main as cli_main
from runtime.zygote import Zygote


def run(argv: list[str]) -> int:
    kill = argv[:1] == ["--kill-zygote"]
    if kill:
        argv = argv[1:]
    commands: list[list[str]] = []
    for word in argv:
        if word == "--":
            commands.append([])
        else:
            commands[-1].append(word)
    zygote = Zygote.start()
    forked = 0

    class Counting:
        def spawn(self, *args, **kwargs):
            nonlocal forked
            child = zygote.spawn(*args, **kwargs)
            forked += 1
            return child

    spawn.install_forker(Counting())
    if kill:
        zygote.process.kill()
        zygote.process.wait(10)
    for command in commands:
        rc = cli_main(command)
        print(f"rc={rc}", flush=True)
    print(f"forked={forked}", flush=True)
    zygote.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
