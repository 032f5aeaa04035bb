"""Sans-I/O connection state: stream-id rules, rejections, response encoding."""

from __future__ import annotations

import struct

import pytest
from google.protobuf import any_pb2, wrappers_pb2
from hypothesis import given
from hypothesis import strategies as st

from ttrpc import (
    HEADER_LENGTH,
    ClientConnection,
    Code,
    FrameError,
    MessageType,
    ServerConnection,
    TTRPCError,
    encode_frame,
    ttrpc_pb2,
)
from ttrpc._connection import (
    DataReceived,
    ProtocolReject,
    RequestReceived,
    ResponseReceived,
    encode_ok_response,
)


def _request(stream_id: int, service: str = "s", method: str = "m", flags: int = 0) -> bytes:
    return ClientConnection.request(stream_id, service, method, b"payload", flags=flags)


def test_client_stream_ids_are_odd_and_increase() -> None:
    conn = ClientConnection()
    assert [conn.next_stream_id() for _ in range(4)] == [1, 3, 5, 7]


def test_client_stream_ids_never_wrap() -> None:
    conn = ClientConnection()
    conn._next_stream_id = (1 << 32) - 1
    assert conn.next_stream_id() == (1 << 32) - 1
    with pytest.raises(TTRPCError) as info:
        conn.next_stream_id()
    assert info.value.code == Code.RESOURCE_EXHAUSTED


def test_request_roundtrip_with_metadata_and_timeout() -> None:
    wire = ClientConnection.request(
        5, "pkg.Svc", "Do", b"\x01\x02", timeout_nano=123, metadata=[("k", "v"), ("k", "w")]
    )
    (event,) = ServerConnection().receive_data(wire)
    assert isinstance(event, RequestReceived)
    assert event.stream_id == 5
    req = event.request
    assert (req.service, req.method, req.payload, req.timeout_nano) == (
        "pkg.Svc",
        "Do",
        b"\x01\x02",
        123,
    )
    assert [(kv.key, kv.value) for kv in req.metadata] == [("k", "v"), ("k", "w")]


def test_even_stream_id_rejected() -> None:
    (event,) = ServerConnection().receive_data(_request(2))
    assert event == ProtocolReject(
        2, Code.INVALID_ARGUMENT, "StreamID must be odd for client initiated streams"
    )


def test_reused_or_decreasing_stream_id_rejected() -> None:
    conn = ServerConnection()
    events = conn.receive_data(_request(3) + _request(3) + _request(1) + _request(5))
    assert [type(e) for e in events] == [
        RequestReceived,
        ProtocolReject,
        ProtocolReject,
        RequestReceived,
    ]
    assert events[1] == ProtocolReject(
        3, Code.INVALID_ARGUMENT, "StreamID cannot be re-used and must increment"
    )
    assert events[2].stream_id == 1


def test_garbage_request_protobuf_rejected_and_connection_continues() -> None:
    conn = ServerConnection()
    # 0x0a = field 1 length-delimited, then a length running past the end.
    bad = encode_frame(1, MessageType.REQUEST, 0, b"\x0a\xff\xff\xff\x0f")
    events = conn.receive_data(bad + _request(3))
    assert isinstance(events[0], ProtocolReject)
    assert events[0].code == Code.INVALID_ARGUMENT
    assert events[0].message.startswith("unmarshal request error")
    assert isinstance(events[1], RequestReceived) and events[1].stream_id == 3


def test_unknown_message_types_ignored() -> None:
    conn = ServerConnection()
    wire = (
        encode_frame(1, 0x09, 0, b"future")
        + encode_frame(3, MessageType.RESPONSE, 0, b"")
        + _request(5)
    )
    events = conn.receive_data(wire)
    assert [type(e) for e in events] == [RequestReceived]
    # Ignored frames do not consume stream ids: 5 was accepted, so 3 is now stale.
    assert conn.last_stream_id == 5


def test_data_frames_are_surfaced_for_the_transport() -> None:
    conn = ServerConnection()
    (event,) = conn.receive_data(encode_frame(7, MessageType.DATA, 0x1, b"d"))
    assert event == DataReceived(7, 0x1, b"d")


def test_oversized_request_names_its_stream() -> None:
    conn = ServerConnection(max_length=16)
    wire = struct.pack(">IIBB", 17, 9, MessageType.REQUEST, 0) + b"\0" * 17 + _request(11)[:0]
    (event,) = conn.receive_data(wire)
    assert event == ProtocolReject(
        9, Code.RESOURCE_EXHAUSTED, "message length 17 exceed maximum message size of 16"
    )


@given(st.binary(max_size=2000))
def test_hand_encoded_ok_response_matches_protobuf(payload: bytes) -> None:
    expected = ttrpc_pb2.Response(status=ttrpc_pb2.Status(), payload=payload).SerializeToString()
    assert encode_ok_response(payload) == expected


def test_ok_and_error_responses_decode_on_the_client() -> None:
    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.StringValue(value="why"))
    wire = ServerConnection.ok_response(1, b"abc") + ServerConnection.error_response(
        3, Code.NOT_FOUND, "no such thing", [detail]
    )
    ok, err = ClientConnection().receive_data(wire)
    assert isinstance(ok, ResponseReceived) and ok.response is not None
    assert (ok.stream_id, ok.response.status.code, ok.response.payload) == (1, 0, b"abc")
    assert wire[HEADER_LENGTH : HEADER_LENGTH + 2] == b"\x0a\x00"  # Go always sends a status
    assert isinstance(err, ResponseReceived) and err.response is not None
    assert (err.response.status.code, err.response.status.message) == (
        Code.NOT_FOUND,
        "no such thing",
    )
    got = err.response.status.details[0]
    assert (got.type_url, got.value) == (detail.type_url, detail.value)


def test_client_reports_garbage_and_oversized_responses_per_stream() -> None:
    conn = ClientConnection(max_length=8)
    wire = (
        encode_frame(1, MessageType.RESPONSE, 0, b"\x0a\x05")
        + struct.pack(">IIBB", 9, 3, MessageType.RESPONSE, 0)
        + b"\0" * 9
    )
    bad, big = conn.receive_data(wire)
    assert isinstance(bad, ResponseReceived) and bad.error is not None
    assert bad.error.code == Code.INTERNAL and bad.stream_id == 1
    assert isinstance(big, ResponseReceived) and big.error is not None
    assert big.error.code == Code.RESOURCE_EXHAUSTED and big.stream_id == 3


def test_error_response_with_absurd_message_is_truncated_not_oversized() -> None:
    wire = ServerConnection.error_response(1, Code.INTERNAL, "x" * (5 << 20))
    (event,) = ClientConnection().receive_data(wire)
    assert isinstance(event, ResponseReceived) and event.response is not None
    assert event.response.status.code == Code.INTERNAL
    assert len(event.response.status.message) == 1024


def test_ttrpc_error_shape() -> None:
    err = TTRPCError(Code.NOT_FOUND, "gone")
    assert (err.code, err.message, str(err)) == (Code.NOT_FOUND, "gone", "NOT_FOUND: gone")
    assert TTRPCError(99, "odd").code == 99  # codes beyond the table survive
    with pytest.raises(ValueError):
        TTRPCError(Code.OK)


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_crash_either_side(chunks: list[bytes]) -> None:
    # Whatever a peer sends, decoding yields events (or nothing); the server
    # side raises only FrameError, for an oversized frame of no ttrpc type
    # (the transport then drops the connection), and stays dropped.
    server, client = ServerConnection(max_length=256), ClientConnection(max_length=256)
    server_dropped = False
    for chunk in chunks:
        if not server_dropped:
            try:
                for event in server.receive_data(chunk):
                    assert isinstance(event, RequestReceived | DataReceived | ProtocolReject)
            except FrameError as exc:
                assert "not a ttrpc frame" in str(exc)
                server_dropped = True
        for reply in client.receive_data(chunk):
            assert isinstance(reply, ResponseReceived | DataReceived)
