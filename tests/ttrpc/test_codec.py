"""The sans-I/O frame codec: exact bytes, any chunking, hostile lengths."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrpc import (
    HEADER_LENGTH,
    MAX_MESSAGE_LENGTH,
    Flags,
    Frame,
    FrameDecoder,
    FrameError,
    MessageType,
    OversizedFrame,
    OversizedMessage,
    encode_frame,
)


def test_header_layout_matches_protocol() -> None:
    # PROTOCOL.md: u32 BE length, u32 BE stream id, u8 type, u8 flags.
    frame = encode_frame(0x01020305, MessageType.REQUEST, Flags.REMOTE_OPEN, b"abc")
    assert frame == b"\x00\x00\x00\x03" + b"\x01\x02\x03\x05" + b"\x01" + b"\x02" + b"abc"
    assert HEADER_LENGTH == 10
    assert MAX_MESSAGE_LENGTH == 4 << 20 == 4194304
    assert (int(Flags.REMOTE_CLOSED), int(Flags.REMOTE_OPEN), int(Flags.NO_DATA)) == (1, 2, 4)
    assert [int(t) for t in MessageType] == [1, 2, 3]


def test_encode_refuses_oversize() -> None:
    encode_frame(1, MessageType.REQUEST, 0, b"\0" * MAX_MESSAGE_LENGTH)  # the limit itself is fine
    with pytest.raises(OversizedMessage, match="exceed maximum message size of 4194304"):
        encode_frame(1, MessageType.REQUEST, 0, b"\0" * (MAX_MESSAGE_LENGTH + 1))


def test_encode_rejects_fields_out_of_range() -> None:
    with pytest.raises(struct.error):
        encode_frame(1 << 32, MessageType.REQUEST, 0, b"")
    with pytest.raises(struct.error):
        encode_frame(1, 256, 0, b"")


frames = st.lists(
    st.builds(
        Frame,
        stream_id=st.integers(0, (1 << 32) - 1),
        type=st.integers(0, 255),
        flags=st.integers(0, 255),
        data=st.binary(max_size=300),
    ),
    max_size=12,
)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, start = [], 0
    for point in [*points, len(data)]:
        out.append(data[start:point])
        start = point
    return out


@settings(max_examples=300)
@given(frames, st.lists(st.integers(0, 10_000), max_size=40))
def test_any_chunking_decodes_identically(expected: list[Frame], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(f.stream_id, f.type, f.flags, f.data) for f in expected)
    decoder = FrameDecoder()
    got: list[Frame | OversizedFrame] = []
    for chunk in _chunks(wire, cuts):
        got.extend(decoder.feed(chunk))
    assert got == expected
    assert decoder.buffered == 0
    decoder.eof()  # nothing pending: no error


@given(frames)
def test_byte_at_a_time(expected: list[Frame]) -> None:
    wire = b"".join(encode_frame(f.stream_id, f.type, f.flags, f.data) for f in expected)
    decoder = FrameDecoder()
    got = []
    for i in range(len(wire)):
        got.extend(decoder.feed(wire[i : i + 1]))
    assert got == expected


@settings(max_examples=100)
@given(
    st.integers(1, 1000),
    st.integers(0, 255),
    st.lists(st.integers(0, 5000), max_size=10),
)
def test_oversized_frame_is_reported_and_skipped(
    excess: int, stream_id: int, cuts: list[int]
) -> None:
    # A small maximum keeps the example fast; the logic is the same at 4 MiB.
    limit = 64
    length = limit + excess
    wire = (
        struct.pack(">IIBB", length, stream_id, MessageType.REQUEST, 0)
        + b"\xff" * length
        + encode_frame(7, MessageType.REQUEST, 0, b"next")
    )
    decoder = FrameDecoder(max_length=limit)
    got = []
    for chunk in _chunks(wire, cuts):
        got.extend(decoder.feed(chunk))
        # The body is skipped, never stored.
        assert len(decoder._buf) <= HEADER_LENGTH + limit
    assert got == [
        OversizedFrame(stream_id, MessageType.REQUEST, 0, length, limit),
        Frame(7, MessageType.REQUEST, 0, b"next"),
    ]
    assert "message length" in got[0].message  # type: ignore[union-attr]


def test_oversized_at_real_limit_is_not_buffered() -> None:
    decoder = FrameDecoder()
    header = struct.pack(">IIBB", MAX_MESSAGE_LENGTH + 1, 5, MessageType.REQUEST, 0)
    events = decoder.feed(header)
    assert events == [OversizedFrame(5, 1, 0, MAX_MESSAGE_LENGTH + 1, MAX_MESSAGE_LENGTH)]
    chunk = b"\0" * 65536
    for _ in range(MAX_MESSAGE_LENGTH // 65536):
        assert decoder.feed(chunk) == []
        assert len(decoder._buf) == 0
    assert decoder.buffered == 1  # one byte of the body still owed
    assert decoder.feed(b"\0" + encode_frame(7, 1, 0, b"ok")) == [Frame(7, 1, 0, b"ok")]


def test_max_length_frame_is_accepted() -> None:
    data = b"\1" * MAX_MESSAGE_LENGTH
    decoder = FrameDecoder()
    (frame,) = decoder.feed(encode_frame(3, MessageType.RESPONSE, 0, data))
    assert isinstance(frame, Frame) and frame.data == data


def test_truncated_frame_then_eof_is_an_error() -> None:
    wire = encode_frame(1, MessageType.REQUEST, 0, b"hello")
    for cut in range(1, len(wire)):
        decoder = FrameDecoder()
        assert decoder.feed(wire[:cut]) == []
        with pytest.raises(FrameError, match="inside a frame"):
            decoder.eof()


def test_eof_while_discarding_oversized_body_is_an_error() -> None:
    decoder = FrameDecoder(max_length=4)
    decoder.feed(struct.pack(">IIBB", 100, 1, 1, 0) + b"12")
    with pytest.raises(FrameError):
        decoder.eof()


def test_unknown_types_and_flags_pass_through() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(9, 0x7F, 0xFF, b"?")) == [Frame(9, 0x7F, 0xFF, b"?")]
