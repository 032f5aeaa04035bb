"""Argument helpers shared by the subcommands (counts, signals, durations)."""

from __future__ import annotations

import argparse
import os
import re
import signal

from runtime.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def exactly(ns: argparse.Namespace, count: int) -> list[str]:
    """runc's check: ``"state" requires exactly 1 argument(s)``."""
    args: list[str] = ns.args
    if len(args) != count:
        raise UsageError(f'pysandbox: "{ns.command}" requires exactly {count} argument(s)')
    return args


def between(ns: argparse.Namespace, low: int, high: int) -> list[str]:
    args: list[str] = ns.args
    if len(args) < low:
        raise UsageError(f'pysandbox: "{ns.command}" requires a minimum of {low} argument(s)')
    if len(args) > high:
        raise UsageError(f'pysandbox: "{ns.command}" requires a maximum of {high} argument(s)')
    return args


def parse_signal(text: str) -> int:
    """A signal by number ("9"), name ("KILL", "SIGKILL") or RT offset ("RTMIN+1")."""
    if text.isdigit():
        num = int(text)
        if 0 < num <= signal.SIGRTMAX:
            return num
        raise UsageError(f"invalid signal number {text!r}")
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    m = re.fullmatch(r"SIGRT(MIN|MAX)([+-]\d+)?", name)
    if m:
        base = signal.SIGRTMIN if m.group(1) == "MIN" else signal.SIGRTMAX
        num = base + int(m.group(2) or 0)
        if signal.SIGRTMIN <= num <= signal.SIGRTMAX:
            return num
    elif name in signal.Signals.__members__ and name not in ("SIG_DFL", "SIG_IGN"):
        return int(signal.Signals[name])
    raise UsageError(f"unknown signal {text!r}")


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration ("5s", "100ms", "1m30s") in seconds, as runc's --interval takes."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid duration {text!r} (examples: 5s, 100ms, 1m)")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError(f"duration must be greater than 0, not {text!r}")
    return seconds


def parse_bool(text: str) -> bool:
    """Go-style boolean flag values (``--directfs=false``)."""
    low = text.lower()
    if low in ("1", "t", "true", "yes", "on"):
        return True
    if low in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def exit_code(wait_status: int) -> int:
    """Shell convention from a wait(2) status: the exit code, or 128+signal."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)
