"""Fake kernel, tasks and user memory for the devpts and session tests."""

from __future__ import annotations

from typing import Any

from sentry.kernel.signals import SignalHandlers


class FakeCreds:
    def __init__(self, admin: bool = False) -> None:
        self.admin = admin
        self.fsuid = self.fsgid = 1000
        self.groups: tuple[int, ...] = ()

    def has_capability(self, cap: int) -> bool:
        return self.admin


class FakeKernel:
    """Records send_signal calls (the ``proc`` contract)."""

    def __init__(self) -> None:
        self.tasks: dict[int, FakeTask] = {}
        self.sent: list[tuple[int, int]] = []

    def send_signal(self, target: Any, signo: int, info: Any = None) -> None:
        self.sent.append((target.tgid, signo))

    def spawn(self, tid: int, parent: FakeTask | None = None, pgid: int | None = None,
              sid: int | None = None) -> FakeTask:  # fmt: skip
        t = FakeTask(self, tid, parent)
        t.pgid = pgid if pgid is not None else (parent.pgid if parent else tid)
        t.sid = sid if sid is not None else (parent.sid if parent else tid)
        self.tasks[tid] = t
        return t


class FakeTask:
    def __init__(self, kernel: FakeKernel, tid: int, parent: FakeTask | None) -> None:
        self.kernel = kernel
        self.tid = self.tgid = tid
        self.parent = parent
        self.pgid = self.sid = tid
        self.signal_mask = 0
        self.sighand = SignalHandlers()
        self.creds = FakeCreds()
        self.is_interrupted = False

    def interrupted(self) -> bool:
        return self.is_interrupted

    def wake(self) -> None:
        return None

    def block(self, timeout: float | None) -> bool:
        return self.is_interrupted


class FakeIO:
    """User memory: copy_in/copy_out on a bytearray."""

    def __init__(self) -> None:
        self.mem = bytearray(4096)

    def copy_in(self, addr: int, n: int) -> bytes:
        return bytes(self.mem[addr : addr + n])

    def copy_out(self, addr: int, data: bytes) -> None:
        self.mem[addr : addr + len(data)] = data

    def u32(self, addr: int) -> int:
        return int.from_bytes(self.mem[addr : addr + 4], "little", signed=True)

    def put_u32(self, addr: int, v: int) -> None:
        self.mem[addr : addr + 4] = v.to_bytes(4, "little", signed=True)
