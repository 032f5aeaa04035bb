"""Sans-I/O ttrpc connection state for each side (h11 style).

``ServerConnection`` turns received bytes into request events or protocol
rejections, enforcing ttrpc Go's rules (server.go ``serverConn.run``):
oversized frame -> RESOURCE_EXHAUSTED on its stream; even stream id ->
INVALID_ARGUMENT "StreamID must be odd for client initiated streams"; a
REQUEST whose id is not above the last one -> INVALID_ARGUMENT "StreamID
cannot be re-used and must increment"; undecodable Request -> INVALID_ARGUMENT
"unmarshal request error: ..."; unknown message types are ignored "for future
compat". One departure: an oversized frame of an unknown type is not a
peer's message at all (an HTTP request, random bytes) and raises FrameError
so the transport drops the connection, instead of skipping a "body" of up to
4 GiB as Go would. ``ClientConnection`` allocates odd, increasing stream ids (client.go
``createStream``) and turns bytes into responses.

DATA frames (ttrpc >= 1.2 streams) are handed up as :class:`DataReceived`;
which streams exist is the transport's business (server.py, client.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from ttrpc._codec import (
    HEADER,
    MAX_MESSAGE_LENGTH,
    MAX_STREAM_ID,
    Flags,
    FrameDecoder,
    FrameError,
    MessageType,
    OversizedFrame,
    OversizedMessage,
)
from ttrpc._status import Code, TTRPCError
from ttrpc._wire import (
    Request,
    Response,
    WireError,
    _varint,
    encode_request,
    encode_status_response,
)


class RequestReceived(NamedTuple):
    """A decoded REQUEST frame the server must answer on ``stream_id``."""

    stream_id: int
    flags: int
    request: Request


class DataReceived(NamedTuple):
    """A DATA frame (streaming); the receiver decides if the stream exists."""

    stream_id: int
    flags: int
    data: bytes


class ProtocolReject(NamedTuple):
    """A frame the server refuses; answer ``code``/``message`` on ``stream_id``."""

    stream_id: int
    code: Code
    message: str


class ResponseReceived(NamedTuple):
    """A RESPONSE frame for ``stream_id``: a Response, or the error decoding it."""

    stream_id: int
    response: Response | None
    error: TTRPCError | None


ServerEvent = RequestReceived | DataReceived | ProtocolReject

#: The message types ttrpc defines; an unknown type in a frame of legal size
#: is ignored (forward compatibility), in an oversized one it is garbage.
_KNOWN_TYPES = frozenset(int(t) for t in MessageType)
ClientEvent = ResponseReceived | DataReceived

# Response{status: Status{}} with an empty payload: what every OK reply
# starts with. Encoded by hand because it is the hot path.
_OK_STATUS = b"\x0a\x00"


def encode_ok_response(payload: bytes) -> bytes:
    """Response{status: {}, payload} bytes, identical to the protobuf encoding."""
    if not payload:
        return _OK_STATUS
    head = bytearray(_OK_STATUS + b"\x12")
    _varint(head, len(payload))
    return bytes(head) + payload


class ServerConnection:
    """One server-side connection's protocol state."""

    __slots__ = ("_decoder", "last_stream_id")

    def __init__(self, max_length: int = MAX_MESSAGE_LENGTH) -> None:
        self._decoder = FrameDecoder(max_length)
        self.last_stream_id = 0

    def receive_data(self, data: bytes) -> list[ServerEvent]:
        """Feed received bytes; return what the server must act on, in order."""
        events: list[ServerEvent] = []
        for frame in self._decoder.feed(data):
            stream_id = frame.stream_id
            if isinstance(frame, OversizedFrame):
                if frame.type not in _KNOWN_TYPES:
                    # Not a message of any ttrpc peer (an HTTP request, noise):
                    # skipping its "body" could mean waiting for gigabytes.
                    raise FrameError(
                        f"not a ttrpc frame (type {frame.type:#x}, length {frame.length}): "
                        "dropping the connection"
                    )
                events.append(ProtocolReject(stream_id, Code.RESOURCE_EXHAUSTED, frame.message))
                continue
            if stream_id % 2 != 1:
                events.append(
                    ProtocolReject(
                        stream_id,
                        Code.INVALID_ARGUMENT,
                        "StreamID must be odd for client initiated streams",
                    )
                )
                continue
            if frame.type == MessageType.REQUEST:
                if stream_id <= self.last_stream_id:
                    events.append(
                        ProtocolReject(
                            stream_id,
                            Code.INVALID_ARGUMENT,
                            "StreamID cannot be re-used and must increment",
                        )
                    )
                    continue
                self.last_stream_id = stream_id
                try:
                    request = Request.decode(frame.data)
                except WireError as exc:
                    events.append(
                        ProtocolReject(
                            stream_id, Code.INVALID_ARGUMENT, f"unmarshal request error: {exc}"
                        )
                    )
                    continue
                events.append(RequestReceived(stream_id, frame.flags, request))
            elif frame.type == MessageType.DATA:
                events.append(DataReceived(stream_id, frame.flags, frame.data))
            # Any other type is ignored for forward compatibility (server.go).
        return events

    def receive_eof(self) -> None:
        """The peer closed; raises FrameError if it stopped inside a frame."""
        self._decoder.eof()

    @staticmethod
    def ok_response(stream_id: int, payload: bytes) -> bytes:
        """Frame bytes answering ``stream_id`` with status OK and ``payload``."""
        body = encode_ok_response(payload)
        if len(body) > MAX_MESSAGE_LENGTH:
            raise OversizedMessage(len(body), MAX_MESSAGE_LENGTH)
        return HEADER.pack(len(body), stream_id, MessageType.RESPONSE, 0) + body

    @staticmethod
    def error_response(
        stream_id: int,
        code: int,
        message: str,
        details: Iterable[Any] = (),
    ) -> bytes:
        """Frame bytes answering ``stream_id`` with a non-OK status (each
        detail an Any: ``type_url`` and ``value``)."""
        body = encode_status_response(code, message, details)
        if len(body) > MAX_MESSAGE_LENGTH:
            # Only an absurd message or details can do this; keep the code.
            body = encode_status_response(code, message[:1024])
        return HEADER.pack(len(body), stream_id, MessageType.RESPONSE, 0) + body


class ClientConnection:
    """One client-side connection's protocol state."""

    __slots__ = ("_decoder", "_next_stream_id")

    def __init__(self, max_length: int = MAX_MESSAGE_LENGTH) -> None:
        self._decoder = FrameDecoder(max_length)
        self._next_stream_id = 1

    def next_stream_id(self) -> int:
        """Allocate the next client stream id: odd, from 1, step 2."""
        stream_id = self._next_stream_id
        if stream_id > MAX_STREAM_ID:
            # ttrpc ids never wrap (the server requires them to increase).
            raise TTRPCError(Code.RESOURCE_EXHAUSTED, "ttrpc: stream ids exhausted on connection")
        self._next_stream_id = stream_id + 2
        return stream_id

    @staticmethod
    def request(
        stream_id: int,
        service: str,
        method: str,
        payload: bytes,
        *,
        timeout_nano: int = 0,
        metadata: Iterable[tuple[str, str]] = (),
        flags: int = Flags.NONE,
    ) -> bytes:
        """Frame bytes of a REQUEST. Raises OversizedMessage past 4 MiB."""
        body = encode_request(service, method, payload, timeout_nano, metadata)
        if len(body) > MAX_MESSAGE_LENGTH:
            raise OversizedMessage(len(body), MAX_MESSAGE_LENGTH)
        return HEADER.pack(len(body), stream_id, MessageType.REQUEST, flags) + body

    def receive_data(self, data: bytes) -> list[ClientEvent]:
        """Feed received bytes; return responses (and stray DATA) in order."""
        events: list[ClientEvent] = []
        for frame in self._decoder.feed(data):
            if isinstance(frame, OversizedFrame):
                if frame.type == MessageType.RESPONSE:
                    events.append(
                        ResponseReceived(
                            frame.stream_id,
                            None,
                            TTRPCError(Code.RESOURCE_EXHAUSTED, frame.message),
                        )
                    )
                continue
            if frame.type == MessageType.RESPONSE:
                try:
                    response = Response.decode(frame.data)
                except WireError as exc:
                    events.append(
                        ResponseReceived(
                            frame.stream_id,
                            None,
                            TTRPCError(Code.INTERNAL, f"ttrpc: cannot decode response: {exc}"),
                        )
                    )
                    continue
                events.append(ResponseReceived(frame.stream_id, response, None))
            elif frame.type == MessageType.DATA:
                events.append(DataReceived(frame.stream_id, frame.flags, frame.data))
            # Unknown types: ignored, as the server does.
        return events

    def receive_eof(self) -> None:
        """The peer closed; raises FrameError if it stopped inside a frame."""
        self._decoder.eof()
