"""Client-side state of one call: unary (``_Call``) or streaming (``ClientStream``).

Whichever task reads the connection fills these in (see client.py); the
waiting task consumes them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio
from google.protobuf.message import DecodeError, Message

from ttrpc._codec import Flags, MessageType, OversizedMessage, encode_frame
from ttrpc._status import Code, TTRPCError
from ttrpc._wire import Response

if TYPE_CHECKING:
    from ttrpc.client import Client

log = logging.getLogger("ttrpc.client")

M = TypeVar("M", bound=Message)
T = TypeVar("T")


class Call:
    """A pending call: filled in by whichever task reads its response.

    ``done`` means "the waiter has something to consume"; ``waiting`` marks
    a task blocked in ``Client._wait`` on it (only those can be handed the
    reader role).
    """

    __slots__ = ("done", "error", "event", "response", "waiting")

    def __init__(self) -> None:
        self.done = False
        self.waiting = False
        self.response: Response | None = None
        self.error: TTRPCError | None = None
        self.event = anyio.Event()

    def finish(self, response: Response | None, error: TTRPCError | None) -> None:
        if self.done:
            return
        self.done = True
        self.response = response
        self.error = error
        self.event.set()

    def data(self, flags: int, data: bytes) -> None:
        log.warning("ttrpc: ignoring DATA frame on a unary call")


class StreamState(Call):
    """A streaming call's receive side: DATA payloads, then the end.

    ``items`` holds received payloads; ``end`` is set by DATA[REMOTE_CLOSED]
    or by the final RESPONSE (kept in ``response``) or a failure (``error``).
    """

    __slots__ = ("end", "items")

    def __init__(self) -> None:
        super().__init__()
        self.items: deque[bytes] = deque()
        self.end = False

    def _update(self) -> None:
        self.done = bool(self.items) or self.end
        if self.done:
            self.event.set()

    def finish(self, response: Response | None, error: TTRPCError | None) -> None:
        if self.end:
            return
        self.end = True
        self.response = response
        self.error = error
        self._update()

    def data(self, flags: int, data: bytes) -> None:
        if self.end:
            return
        if not flags & Flags.NO_DATA:
            self.items.append(data)
        if flags & Flags.REMOTE_CLOSED:
            self.end = True
        self._update()

    def take(self) -> bytes | None:
        """Next payload, or None at the end; re-arms ``done``."""
        item = self.items.popleft() if self.items else None
        self.done = bool(self.items) or self.end
        if not self.done:
            self.event = anyio.Event()
        return item


class ClientStream(Generic[M]):
    """The client end of one streaming call (see :meth:`Client.open_stream`).

    ``async for message in stream`` (or ``await stream.recv()`` until it
    returns None) reads the server's messages; an error status raises
    TTRPCError. ``async with stream`` forgets the stream on exit (ttrpc has
    no way to cancel a stream on the wire; late frames are dropped).
    """

    def __init__(
        self,
        client: Client,
        *,
        stream_id: int,
        state: StreamState,
        response_type: type[M],
        deadline: float | None,
        send_open: bool,
    ) -> None:
        self._client = client
        self.stream_id = stream_id
        self._state = state
        self._response_type = response_type
        self._deadline = deadline
        self._send_open = send_open
        self._final_taken = False

    async def _deadline_bound(self, aw: Awaitable[T]) -> T:
        if self._deadline is None:
            return await aw
        with anyio.move_on_at(self._deadline):
            return await aw
        raise TTRPCError(Code.DEADLINE_EXCEEDED, "context deadline exceeded")

    async def send(self, message: Message) -> None:
        """Send one more request message (client-streaming calls only)."""
        if not self._send_open:
            raise TTRPCError(Code.FAILED_PRECONDITION, "ttrpc: stream is closed for sending")
        payload = message.SerializeToString()
        try:
            frame = encode_frame(self.stream_id, MessageType.DATA, 0, payload)
        except OversizedMessage as exc:
            raise TTRPCError(Code.RESOURCE_EXHAUSTED, str(exc)) from None
        await self._deadline_bound(self._client._send(frame))

    async def close_send(self) -> None:
        """Tell the server no more messages follow (DATA with REMOTE_CLOSED)."""
        if not self._send_open:
            return
        self._send_open = False
        frame = encode_frame(
            self.stream_id, MessageType.DATA, Flags.REMOTE_CLOSED | Flags.NO_DATA, b""
        )
        await self._deadline_bound(self._client._send(frame))

    async def recv(self) -> M | None:
        """The next message from the server, or None once the stream ended."""
        state = self._state
        if not state.done:
            await self._deadline_bound(self._client._wait(state))
        payload = state.take()
        if payload is not None:
            return self._decode(payload)
        # The end: a failure, a final RESPONSE, or DATA[REMOTE_CLOSED].
        self._client._pending.pop(self.stream_id, None)
        if state.error is not None:
            raise state.error
        response = state.response
        if response is None or self._final_taken:
            return None
        self._final_taken = True
        if response.status.code != Code.OK:
            raise TTRPCError(response.status.code, response.status.message, response.status.details)
        return self._decode(response.payload)

    def _decode(self, payload: bytes) -> M:
        try:
            return self._response_type.FromString(payload)
        except DecodeError as exc:
            raise TTRPCError(
                Code.INTERNAL,
                f"ttrpc: cannot decode {self._response_type.DESCRIPTOR.full_name}: {exc}",
            ) from None

    def __aiter__(self) -> ClientStream[M]:
        return self

    async def __anext__(self) -> M:
        message = await self.recv()
        if message is None:
            raise StopAsyncIteration
        return message

    async def aclose(self) -> None:
        """Stop tracking the stream; later frames for it are dropped."""
        self._client._pending.pop(self.stream_id, None)

    async def __aenter__(self) -> ClientStream[M]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
