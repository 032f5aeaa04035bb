"""OCI lifecycle hooks, run on the host with the container state on stdin.

config.md "POSIX-platform Hooks": ``path`` is executed with ``args`` as its
argv (execv(3) semantics: ``args[0]`` is argv[0]) and exactly ``env`` as its
environment; ``timeout`` (seconds) kills a hook that runs too long. The state
JSON (runtime.md "State") is written to the hook's stdin.

Failure rules (runtime.md "Lifecycle"): a failing prestart, createRuntime,
createContainer or startContainer hook stops the operation (the caller
destroys the container); a failing poststart or poststop hook is logged and
the remaining hooks still run.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from runtime.errors import HookError
from runtime.spec import Hook, Hooks

log = logging.getLogger("pysandbox.hooks")

# Hook points whose failure is only a warning.
NON_FATAL = frozenset({"poststart", "poststop"})

_STDERR_TAIL = 512


def run_hook(name: str, hook: Hook, state: Mapping[str, Any]) -> None:
    """Run one hook to completion; ``HookError`` if it fails or times out."""
    argv = list(hook.args) or [hook.path]
    env = dict(e.split("=", 1) for e in hook.env)
    payload = json.dumps(state).encode()
    try:
        proc = subprocess.Popen(
            argv,
            executable=hook.path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
    except OSError as exc:
        raise HookError(f"{name} hook {hook.path}: cannot execute: {exc.strerror}") from None
    try:
        _, err = proc.communicate(payload, timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise HookError(f"{name} hook {hook.path}: timed out after {hook.timeout}s") from None
    except BrokenPipeError:
        # The hook did not read its stdin; that is its right.
        err = proc.stderr.read() if proc.stderr else b""
        proc.wait()
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip()[-_STDERR_TAIL:].replace("\n", " ")
        how = (
            f"killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exit status {proc.returncode}"
        )
        raise HookError(
            f"{name} hook {hook.path} failed: {how}" + (f": {detail}" if detail else "")
        )


def run_hooks(name: str, hooks: Sequence[Hook], state: Mapping[str, Any]) -> None:
    """Run the hooks of one hook point in order, applying its failure rule."""
    for hook in hooks:
        try:
            run_hook(name, hook, state)
        except HookError as exc:
            if name not in NON_FATAL:
                raise
            log.warning("%s", exc)


def run_point(hooks: Hooks, name: str, state: Mapping[str, Any]) -> None:
    """Run the hook point ``name`` ("prestart", …) of a spec's hooks."""
    run_hooks(name, hooks.named(name), state)
