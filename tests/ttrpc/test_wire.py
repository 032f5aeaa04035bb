"""ttrpc's hand-written Request decoder and status Response encoder against
ttrpc_pb2: the same messages and bytes, and clear errors for bad bytes."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from ttrpc import ttrpc_pb2
from ttrpc._wire import (
    AnyValue,
    Request,
    Response,
    WireError,
    encode_request,
    encode_status_response,
)

_text = st.text(max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    service=_text,
    method=_text,
    payload=st.binary(max_size=40),
    timeout=st.integers(-(2**63), 2**63 - 1),
    metadata=st.lists(st.tuples(_text, _text), max_size=3),
)
def test_request_decodes_as_protobuf(service, method, payload, timeout, metadata) -> None:
    pb = ttrpc_pb2.Request(service=service, method=method, payload=payload, timeout_nano=timeout)
    for key, value in metadata:
        pb.metadata.add(key=key, value=value)
    req = Request.decode(pb.SerializeToString())
    assert (req.service, req.method, req.payload, req.timeout_nano) == (
        service,
        method,
        payload,
        timeout,
    )
    assert [(kv.key, kv.value) for kv in req.metadata] == metadata


@settings(max_examples=200, deadline=None)
@given(
    code=st.integers(0, 16),
    message=st.text(max_size=30),
    details=st.lists(st.tuples(_text, st.binary(max_size=10)), max_size=2),
)
def test_status_response_is_protobufs_bytes(code, message, details) -> None:
    anys = [any_pb2.Any(type_url=t, value=v) for t, v in details]
    pb = ttrpc_pb2.Response()
    pb.status.code = code
    pb.status.message = message
    pb.status.details.extend(anys)
    ours = encode_status_response(code, message, anys)
    if code or message or details:
        assert ours == pb.SerializeToString()
    back = ttrpc_pb2.Response.FromString(ours)
    assert (back.status.code, back.status.message) == (code, message)
    assert [(d.type_url, d.value) for d in back.status.details] == details


def test_unknown_and_fixed_width_fields_are_skipped() -> None:
    wire = ttrpc_pb2.Request(service="s", method="m").SerializeToString()
    extra = b"\x30\x01" + b"\x39" + bytes(8) + b"\x45" + bytes(4)  # fields 6, 7, 8
    req = Request.decode(wire + extra)
    assert (req.service, req.method) == ("s", "m")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x0a\x05ab", "truncated"),
        (b"\x20" + b"\xff" * 11, "varint"),
        (b"\x0a\x02\xff\xfe", "UTF-8"),
        (b"\x0b", "wire type"),
        (b"\x00\x00", "field number 0"),
        (b"\x08\x01", "wrong wire type"),  # service as a varint
        (b"\x22\x01", "truncated"),  # metadata entry past the end
        (b"\x39\x00", "truncated"),  # a fixed64 cut short
    ],
)
def test_bad_requests_are_wire_errors(data: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        Request.decode(data)


@settings(max_examples=200, deadline=None)
@given(
    service=_text,
    method=_text,
    payload=st.binary(max_size=40),
    timeout=st.integers(0, 2**63 - 1),
    metadata=st.lists(st.tuples(_text, _text), max_size=3),
)
def test_request_encodes_as_protobuf(service, method, payload, timeout, metadata) -> None:
    pb = ttrpc_pb2.Request(service=service, method=method, payload=payload, timeout_nano=timeout)
    for key, value in metadata:
        pb.metadata.add(key=key, value=value)
    assert encode_request(service, method, payload, timeout, metadata) == pb.SerializeToString()


@settings(max_examples=200, deadline=None)
@given(
    code=st.integers(-(2**31), 2**31 - 1),
    message=st.text(max_size=30),
    details=st.lists(st.tuples(_text, st.binary(max_size=10)), max_size=2),
    payload=st.binary(max_size=30),
)
def test_response_decodes_as_protobuf(code, message, details, payload) -> None:
    pb = ttrpc_pb2.Response(payload=payload)
    pb.status.code = code
    pb.status.message = message
    pb.status.details.extend(any_pb2.Any(type_url=t, value=v) for t, v in details)
    resp = Response.decode(pb.SerializeToString())
    assert (resp.status.code, resp.status.message, resp.payload) == (code, message, payload)
    assert [(d.type_url, d.value) for d in resp.status.details] == details
    assert resp.status.details == [AnyValue(t, v) for t, v in details]
