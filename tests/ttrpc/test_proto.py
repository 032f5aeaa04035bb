"""ttrpc.proto: generated code is fresh, and Status is google.rpc.Status on the wire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

from ttrpc import ttrpc_pb2

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (setup.cfg test extra) not installed")
    from ttrpc import _gen

    for generated in _gen.generate(tmp_path):
        committed = ROOT / generated.relative_to(tmp_path)
        assert committed.read_text() == generated.read_text(), (
            f"{committed} is stale: run `python -m ttrpc._gen`"
        )


def test_field_numbers_match_ttrpc_request_proto() -> None:
    def fields(message: type) -> dict[str, tuple[int, int, bool]]:
        return {
            f.name: (f.number, f.type, f.label == f.LABEL_REPEATED)
            for f in message.DESCRIPTOR.fields  # type: ignore[attr-defined]
        }

    fd = descriptor_pb2.FieldDescriptorProto
    assert fields(ttrpc_pb2.Request) == {
        "service": (1, fd.TYPE_STRING, False),
        "method": (2, fd.TYPE_STRING, False),
        "payload": (3, fd.TYPE_BYTES, False),
        "timeout_nano": (4, fd.TYPE_INT64, False),
        "metadata": (5, fd.TYPE_MESSAGE, True),
    }
    assert fields(ttrpc_pb2.Response) == {
        "status": (1, fd.TYPE_MESSAGE, False),
        "payload": (2, fd.TYPE_BYTES, False),
    }
    assert fields(ttrpc_pb2.KeyValue) == {
        "key": (1, fd.TYPE_STRING, False),
        "value": (2, fd.TYPE_STRING, False),
    }
    assert ttrpc_pb2.Status.DESCRIPTOR.full_name == "ttrpc.Status"


def _google_rpc_status() -> Any:
    """google.rpc.Status (googleapis status.proto) in a private pool."""
    pool = descriptor_pool.DescriptorPool()
    any_file = descriptor_pb2.FileDescriptorProto.FromString(any_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(any_file)
    status_file = descriptor_pb2.FileDescriptorProto(
        name="google/rpc/status.proto",
        package="google.rpc",
        dependency=["google/protobuf/any.proto"],
        syntax="proto3",
    )
    msg = status_file.message_type.add(name="Status")
    f = descriptor_pb2.FieldDescriptorProto
    msg.field.add(name="code", number=1, type=f.TYPE_INT32, label=f.LABEL_OPTIONAL)
    msg.field.add(name="message", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    msg.field.add(
        name="details",
        number=3,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_REPEATED,
        type_name=".google.protobuf.Any",
    )
    pool.Add(status_file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


def test_status_is_wire_compatible_with_google_rpc_status() -> None:
    google_status = _google_rpc_status()
    detail = any_pb2.Any()
    detail.Pack(wrappers_pb2.StringValue(value="context"))
    ours = ttrpc_pb2.Status(code=5, message="not found", details=[detail])
    theirs = google_status.FromString(ours.SerializeToString())
    assert (theirs.code, theirs.message) == (5, "not found")
    assert theirs.details[0].type_url == detail.type_url
    assert ttrpc_pb2.Status.FromString(theirs.SerializeToString()) == ours
