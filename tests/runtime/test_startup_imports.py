"""What a sandbox start imports: ``dataclasses`` (and with it inspect, ast,
dis and tokenize, several milliseconds) must stay out of the CLI's start
path and of boot's warm child, which is why their records are plain
classes (docs/ARCHITECTURE.md, "Decisions changed")."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter: this test process has imported everything already.
# The stages are what ``pysandbox run`` imports in order: the CLI before it
# forks its warm children, the subcommand's modules, then (in the boot
# child) everything ``warm_up`` preloads for every platform.
CHILD = """
import sys
import runtime.cli.main
print("cli", "dataclasses" in sys.modules)
import runtime.cli.create, runtime.cli.run, runtime.cli.do
print("commands", "dataclasses" in sys.modules)
from runtime.boot import main
main.warm_up(None)
print("boot", "dataclasses" in sys.modules)
"""


def _run_child(code: str, cwd) -> str:
    """``code``'s output in a fresh interpreter run outside the checkout
    (so it imports the installed packages)."""
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_start_path_does_not_import_dataclasses(tmp_path) -> None:
    out = _run_child(CHILD, tmp_path)
    stages = dict(line.split() for line in out.splitlines())
    assert stages == {"cli": "False", "commands": "False", "boot": "False"}, (
        "a module on the start path imports dataclasses (find it with "
        "python -X importtime); define its records as plain classes"
    )


BOOT_CHILD = """
import sys
import runtime.cli.main, runtime.cli.run, runtime.sandboxcalls, runtime.controlclient
from runtime.config import RuntimeConfig
from runtime.boot import main
main.warm_up(RuntimeConfig(platform="ptrace"))
print(sorted(m for m in sys.modules if m.startswith("google")))
"""


def test_start_path_does_not_import_protobuf(tmp_path) -> None:
    """The CLI and the sandbox process speak the control API with
    protos.lite and ttrpc's own codec (~15 ms of each one's start, and
    ~2 MiB of the sandbox's memory)."""
    out = _run_child(BOOT_CHILD, tmp_path)
    assert out.strip() == "[]", f"boot imports protobuf: {out}"


CRITICAL_CHILD = """
import sys
import runtime.cli.main
from runtime.config import RuntimeConfig
from runtime.boot import main
main.warm_up(RuntimeConfig(platform="ptrace"))
print(sorted(m for m in ("subprocess", "datetime", "shutil") if m in sys.modules))
"""


def test_critical_path_does_not_import_subprocess_datetime_or_shutil(tmp_path) -> None:
    """What the CLI imports before it forks boot, and what boot imports
    before it can run the container, is a start's critical path: these
    three (with locale, selectors and the compression modules, 3-5 ms)
    are imported only where they are used, off that path."""
    out = _run_child(CRITICAL_CHILD, tmp_path)
    assert out.strip() == "[]", f"the start's critical path imports {out}"
