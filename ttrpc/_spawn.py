"""Spawning one task per request, cheaply, with structured clean-up.

anyio's ``TaskGroup.start_soon`` costs about 30 µs per task on asyncio
(measured here: ~35 µs vs ~4 µs for ``loop.create_task``), a sixth of a
unary round trip. On asyncio the server therefore starts handler tasks with
``loop.create_task`` and keeps them in this group, which cancels and awaits
them all when the connection ends, so none outlives it. On other backends
it falls back to the anyio task group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.abc

log = logging.getLogger("ttrpc.server")


class HandlerTasks:
    """Per-connection handler tasks: ``start`` many, ``aclose`` ends them all."""

    __slots__ = ("_loop", "_tasks", "_tg")

    def __init__(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg
        self._tasks: set[asyncio.Task[None]] = set()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, func: Callable[..., Coroutine[Any, Any, None]], *args: object) -> None:
        """Run ``func(*args)`` in a new task (contextvars copied, like start_soon)."""
        if self._loop is None:
            self._tg.start_soon(func, *args)
            return
        task = self._loop.create_task(func(*args))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ttrpc: handler task failed", exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel every running task and wait until all have finished."""
        if not self._tasks:
            return
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.wait(tasks)
