"""Sans-I/O ttrpc framing: bytes in, frames out. No sockets here.

A frame is a 10-byte header followed by ``length`` bytes of data
(containerd/ttrpc PROTOCOL.md "Message Frame", channel.go)::

    0..3  uint32 BE  data length (header excluded)
    4..7  uint32 BE  stream id
    8     uint8      message type (REQUEST=1, RESPONSE=2, DATA=3)
    9     uint8      flags

Data longer than 4 MiB (``messageLengthMax = 4 << 20`` in channel.go) is never
buffered: the decoder reports an :class:`OversizedFrame` naming the stream
and skips the body as it arrives, so the server can answer RESOURCE_EXHAUSTED
on that stream and carry on with the next frame, as ttrpc Go does.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

HEADER = struct.Struct(">IIBB")
HEADER_LENGTH = HEADER.size  # 10
MAX_MESSAGE_LENGTH = 4 << 20  # channel.go messageLengthMax
MAX_STREAM_ID = (1 << 32) - 1


class MessageType(enum.IntEnum):
    """The frame's message type byte (PROTOCOL.md "Message Types")."""

    REQUEST = 1
    RESPONSE = 2
    DATA = 3


class Flags(enum.IntFlag):
    """The frame's flags byte (PROTOCOL.md "Flags").

    REMOTE_CLOSED: the sender will send no more frames on this stream.
    REMOTE_OPEN: a request that opens a (client-)stream; more DATA follows.
    NO_DATA: a DATA frame that carries no message (only a flag change).
    """

    NONE = 0
    REMOTE_CLOSED = 0x1
    REMOTE_OPEN = 0x2
    NO_DATA = 0x4


class FrameError(Exception):
    """The byte stream cannot be decoded into frames (connection-fatal)."""


class Frame(NamedTuple):
    """One complete frame. ``type`` stays an int: unknown types are legal."""

    stream_id: int
    type: int
    flags: int
    data: bytes


class OversizedFrame(NamedTuple):
    """A frame whose declared length exceeds the maximum; its body is skipped."""

    stream_id: int
    type: int
    flags: int
    length: int
    max_length: int

    @property
    def message(self) -> str:
        # Same wording as ttrpc Go's channel.recv, so logs line up.
        return f"message length {self.length} exceed maximum message size of {self.max_length}"


def encode_frame(stream_id: int, type: int, flags: int, data: bytes) -> bytes:
    """Return the frame bytes (header + data).

    Raises ValueError for a stream id or type outside the header's fields and
    :class:`OversizedMessage` for data beyond the 4 MiB maximum (the sender
    refuses, like ttrpc Go's OversizedMessageErr).
    """
    if len(data) > MAX_MESSAGE_LENGTH:
        raise OversizedMessage(len(data), MAX_MESSAGE_LENGTH)
    return HEADER.pack(len(data), stream_id, type, flags) + data


class OversizedMessage(ValueError):
    """Refused to send a message larger than the protocol maximum."""

    def __init__(self, length: int, max_length: int) -> None:
        super().__init__(f"message length {length} exceed maximum message size of {max_length}")
        self.length = length
        self.max_length = max_length


class FrameDecoder:
    """Incremental frame decoder: feed any chunking, get the same frames.

    ``feed`` keeps at most one partial frame (at most ``max_length`` + 10
    bytes); bodies of oversized frames are counted down, never stored.
    """

    __slots__ = ("_buf", "_discard", "_need", "max_length")

    def __init__(self, max_length: int = MAX_MESSAGE_LENGTH) -> None:
        self.max_length = max_length
        self._buf = bytearray()  # an incomplete frame
        self._need = 0  # bytes _buf must reach before parsing can progress
        self._discard = 0  # body bytes of an oversized frame still to skip

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held (plus oversized bytes still owed)."""
        return len(self._buf) + self._discard

    def feed(self, data: bytes) -> list[Frame | OversizedFrame]:
        """Consume ``data``; return the frames it completes, in order."""
        if self._discard:
            skip = min(self._discard, len(data))
            self._discard -= skip
            data = data[skip:]
        buf: bytes | bytearray
        if self._buf:
            # Append instead of re-concatenating so a 4 MiB frame arriving in
            # small chunks costs linear, not quadratic, copying.
            self._buf += data
            if len(self._buf) < self._need:
                return []
            buf = self._buf
        else:
            buf = data
        end = len(buf)
        pos = 0
        events: list[Frame | OversizedFrame] = []
        unpack_from = HEADER.unpack_from
        max_length = self.max_length
        need = HEADER_LENGTH
        while end - pos >= HEADER_LENGTH:
            length, stream_id, mtype, flags = unpack_from(buf, pos)
            start = pos + HEADER_LENGTH
            if length > max_length:
                events.append(OversizedFrame(stream_id, mtype, flags, length, max_length))
                available = end - start
                if available >= length:
                    pos = start + length
                    continue
                self._discard = length - available
                pos = end
                break
            stop = start + length
            if stop > end:
                need = HEADER_LENGTH + length
                break
            events.append(Frame(stream_id, mtype, flags, bytes(buf[start:stop])))
            pos = stop
        self._buf = bytearray(buf[pos:]) if pos < end else bytearray()
        self._need = need
        return events

    def eof(self) -> None:
        """The peer closed its side: fail if it left a truncated frame."""
        if self._buf or self._discard:
            raise FrameError(
                f"connection closed inside a frame ({self.buffered} bytes of it missing or pending)"
            )
