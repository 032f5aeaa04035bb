"""The server end of a streaming call (ttrpc >= 1.2, PROTOCOL.md "Streaming").

A streaming handler is ``async def Method(ctx, stream)``: it reads the
client's messages with ``await stream.recv()`` / ``async for`` (for a
server-streaming-only method that is the single request) and, for
server-streaming methods, sends messages with ``await stream.send(msg)``.
Its return value is the final answer: for a client-streaming-only method
the response message (sent in the RESPONSE frame); for server-streaming
methods None (the stream ends with DATA[REMOTE_CLOSED|NO_DATA]) or one last
message (DATA[REMOTE_CLOSED]).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import anyio
from google.protobuf.message import DecodeError, Message

from ttrpc._codec import Flags, MessageType, OversizedMessage, encode_frame
from ttrpc._status import Code, TTRPCError

# Messages a handler may leave unread before the stream fails with
# RESOURCE_EXHAUSTED (ttrpc Go buffers 64 and then waits up to a second; the
# connection's single reader cannot wait, so the buffer is larger instead).
MAX_BUFFERED = 1024


class ServerStream:
    """Handed to streaming handlers in place of a request message."""

    def __init__(
        self,
        *,
        stream_id: int,
        request_type: type[Message],
        server_streaming: bool,
        send_frame: Callable[[bytes], Awaitable[None]],
        cancel_scope: anyio.CancelScope,
    ) -> None:
        self.stream_id = stream_id
        self._request_type = request_type
        self._server_streaming = server_streaming
        self._send_frame = send_frame
        self.cancel_scope = cancel_scope
        self._items: deque[bytes] = deque()
        self._recv_closed = False
        self._event = anyio.Event()
        self.overflowed = False

    # -- fed by the connection's reader -----------------------------------

    def feed(self, flags: int, data: bytes) -> None:
        """A DATA frame (or the opening request's payload) for this stream."""
        if self._recv_closed:
            return  # after REMOTE_CLOSED nothing more is accepted
        if not flags & Flags.NO_DATA:
            if len(self._items) >= MAX_BUFFERED:
                self.overflowed = True
                self.cancel_scope.cancel()
                return
            self._items.append(data)
        if flags & Flags.REMOTE_CLOSED:
            self._recv_closed = True
        self._event.set()

    def close_recv(self) -> None:
        self._recv_closed = True
        self._event.set()

    # -- handler side -----------------------------------------------------

    async def recv(self) -> Message | None:
        """The client's next message, or None once it closed its side."""
        while not self._items:
            if self._recv_closed:
                return None
            self._event = anyio.Event()
            await self._event.wait()
        payload = self._items.popleft()
        try:
            return self._request_type.FromString(payload)
        except DecodeError as exc:
            raise TTRPCError(Code.INTERNAL, f"ttrpc: error unmarshalling payload: {exc}") from None

    def __aiter__(self) -> ServerStream:
        return self

    async def __anext__(self) -> Message:
        message = await self.recv()
        if message is None:
            raise StopAsyncIteration
        return message

    async def send(self, message: Message) -> None:
        """Send one message to the client (server-streaming methods only)."""
        if not self._server_streaming:
            raise TypeError("send() on a method that is not server-streaming")
        try:
            frame = encode_frame(self.stream_id, MessageType.DATA, 0, message.SerializeToString())
        except OversizedMessage as exc:
            raise TTRPCError(Code.RESOURCE_EXHAUSTED, str(exc)) from None
        await self._send_frame(frame)
