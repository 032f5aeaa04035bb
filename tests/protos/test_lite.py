"""protos.lite against protobuf: the same bytes both ways, for every message
of the control API, and clear errors for bytes that are not a message."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.message import Message as PbMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from protos import genlite, lite
from protos.pysandbox.control.v1 import control_lite, control_pb2

_RANGES = {
    lite.INT32: st.integers(-(2**31), 2**31 - 1),
    lite.ENUM: st.integers(0, 2),
    lite.INT64: st.integers(-(2**63), 2**63 - 1),
    lite.UINT32: st.integers(0, 2**32 - 1),
    lite.UINT64: st.integers(0, 2**64 - 1),
    lite.BOOL: st.booleans(),
    lite.STRING: st.text(max_size=8),
    lite.BYTES: st.binary(max_size=8),
}

LITE_CLASSES = [
    cls
    for cls in vars(control_lite).values()
    if isinstance(cls, type)
    and issubclass(cls, lite.Message)
    and cls.__module__ == control_lite.__name__
]


def test_generated_module_is_fresh() -> None:
    for pb_module, lite_module in genlite.LITE.items():
        committed = genlite.output_path(lite_module).read_text()
        assert committed == genlite.render(pb_module), "run python -m protos.genlite"


def test_every_message_and_method_has_its_lite_class() -> None:
    names = {cls.FULL_NAME for cls in LITE_CLASSES}
    assert names == {m.full_name for m in control_pb2.DESCRIPTOR.message_types_by_name.values()}
    service = control_pb2.DESCRIPTOR.services_by_name["Control"]
    table = control_lite.SERVICES[service.full_name]
    assert list(table) == [m.name for m in service.methods]
    for m in service.methods:
        request, response = table[m.name]
        assert (
            m.input_type.full_name,
            m.output_type.full_name,
        ) == (request.FULL_NAME, response.FULL_NAME)


def _values(cls: type[lite.Message], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Field values for ``cls``: each field set or left unset."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in cls.FIELDS:
        if f.message is not None:
            sub = f.message
            item = _values(sub, depth + 1) if depth < 2 else st.just({})
            parts[f.name] = st.lists(item, max_size=2) if f.repeated else st.none() | item
        else:
            base = _RANGES[f.kind]
            parts[f.name] = st.lists(base, max_size=3) if f.repeated else st.none() | base
    return st.fixed_dictionaries(parts)


def _fill(message: Any, values: dict[str, Any], cls: type[lite.Message]) -> None:
    for f in cls.FIELDS:
        value = values[f.name]
        if value is None:
            continue
        if f.message is not None:
            if f.repeated:
                for item in value:
                    _fill(getattr(message, f.name).add(), item, f.message)
            else:
                sub = getattr(message, f.name)
                if f.message is lite.Timestamp:
                    sub.seconds = value.get("seconds") or 0
                    sub.nanos = value.get("nanos") or 0
                else:
                    _fill(sub, value, f.message)
                if isinstance(message, PbMessage):
                    sub.SetInParent()  # present even when every field is zero
        elif f.repeated:
            getattr(message, f.name).extend(value)
        else:
            setattr(message, f.name, value)


@pytest.mark.parametrize("cls", LITE_CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_same_bytes_as_protobuf_both_ways(cls: type[lite.Message], data: st.DataObject) -> None:
    values = data.draw(_values(cls))
    pb_cls = getattr(control_pb2, cls.__name__)
    ours, theirs = cls(), pb_cls()
    _fill(ours, values, cls)
    _fill(theirs, values, cls)
    wire = theirs.SerializeToString()
    assert ours.SerializeToString() == wire
    back = cls.FromString(wire)
    assert back == ours
    assert back.SerializeToString() == wire
    assert pb_cls.FromString(ours.SerializeToString()) == theirs


def test_presence_and_defaults() -> None:
    req = control_lite.CreateSubcontainerRequest(container_id="c")
    assert not req.HasField("terminal_fd") and req.terminal_fd == 0
    req.terminal_fd = 0
    assert req.HasField("terminal_fd")  # proto3 optional: set to zero is set
    assert not req.HasField("stdio")
    req.stdio.stdin_fd = 3
    assert req.HasField("stdio") and req.stdio.HasField("stdin_fd")
    with pytest.raises(ValueError, match="singular"):
        req.HasField("container_id")
    with pytest.raises(AttributeError):
        req.no_such_field = 1
    with pytest.raises(ValueError, match='no "nope" field'):
        control_lite.WaitRequest(nope=1)
    with pytest.raises(AttributeError, match="repeated"):
        req.mounts = []


def test_enum_constants_match() -> None:
    for name in ("PROCESS", "ALL_PROCESSES", "FOREGROUND_PROCESS_GROUP"):
        assert getattr(control_lite.SignalRequest, name) == getattr(control_pb2.SignalRequest, name)


def test_unknown_fields_are_skipped() -> None:
    wire = control_pb2.WaitRequest(container_id="x").SerializeToString()
    extra = b"\x50\x07" + b"\x5a\x02hi" + b"\x61" + bytes(8) + b"\x6d" + bytes(4)  # fields 10-13
    assert control_lite.WaitRequest.FromString(wire + extra).container_id == "x"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x0a\x05ab", "Truncated"),  # length past the end
        (b"\x08" + b"\xff" * 11, "varint"),  # a varint that never ends
        (b"\x08", "Truncated"),  # a key without its value
        (b"\x0a\x02\xff\xfe", "UTF-8"),  # container_id is a string
        (b"\x0b", "wire type"),  # a group start
        (b"\x00", "Field number 0"),
        (b"\x08\x01", "wrong wire type"),  # container_id as a varint
    ],
)
def test_bad_bytes_are_decode_errors(data: bytes, message: str) -> None:
    with pytest.raises(lite.DecodeError, match=message):
        control_lite.WaitRequest.FromString(data)


def test_negative_int32_is_ten_bytes_as_protobuf() -> None:
    ours = control_lite.ExecuteResponse(pid=-1).SerializeToString()
    assert ours == control_pb2.ExecuteResponse(pid=-1).SerializeToString()
    assert len(ours) == 11
    assert control_lite.ExecuteResponse.FromString(ours).pid == -1


def test_timestamp_conversion() -> None:
    ts = lite.Timestamp()
    ts.FromNanoseconds(1_700_000_000_123_456_789)
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 123_456_789)
    assert ts.ToNanoseconds() == 1_700_000_000_123_456_789
