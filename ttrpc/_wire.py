"""ttrpc's own messages (Request, Response, Status), encoded by hand.

Every call is one ``ttrpc.Request`` and one ``ttrpc.Response``; both are
tiny and fixed (``ttrpc.proto``). Coding them here lets a peer run without
importing the protobuf runtime when its services' messages do not need it
(the sandbox process and the CLI, whose control API uses ``protos.lite``:
importing protobuf cost each of them ~15 ms of every container start).
The bytes are protobuf's; ``tests/ttrpc/test_wire.py`` checks both
directions against ``ttrpc_pb2``. A status's details come back as
``AnyValue`` (``type_url``, ``value``), which ``any_pb2.Any`` can be built
from. Its varint and field helpers mirror ``protos/lite.py``'s on purpose:
``ttrpc`` imports nothing of ours (ARCHITECTURE.md's import rules).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


class WireError(ValueError):
    """Bytes that are not a valid ttrpc message."""


class KeyValue:
    """``ttrpc.KeyValue``: one metadata entry."""

    __slots__ = ("key", "value")

    def __init__(self, key: str = "", value: str = "") -> None:
        self.key = key
        self.value = value


class AnyValue:
    """A ``google.protobuf.Any`` as it arrived: ``type_url`` and ``value``."""

    __slots__ = ("type_url", "value")

    def __init__(self, type_url: str = "", value: bytes = b"") -> None:
        self.type_url = type_url
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AnyValue):
            return NotImplemented
        return (self.type_url, self.value) == (other.type_url, other.value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AnyValue(type_url={self.type_url!r}, value={self.value!r})"


class Status:
    """``ttrpc.Status`` (google.rpc.Status), decoded."""

    __slots__ = ("code", "details", "message")

    def __init__(self) -> None:
        self.code = 0
        self.message = ""
        self.details: list[AnyValue] = []


class Response:
    """``ttrpc.Response``, decoded (``status``, ``payload``)."""

    __slots__ = ("payload", "status")

    def __init__(self) -> None:
        self.status = Status()
        self.payload = b""

    @classmethod
    def decode(cls, data: bytes) -> Response:
        resp = cls()
        for number, value in _fields(memoryview(data)):
            if number == 1:
                status = resp.status
                for n, v in _fields(_chunk(value, "status")):
                    if n == 1:
                        if not isinstance(v, int):
                            raise WireError("status code: wrong wire type")
                        raw = v & 0xFFFFFFFF
                        status.code = raw - (1 << 32) if raw >> 31 else raw
                    elif n == 2:
                        status.message = _text(v, "status message")
                    elif n == 3:
                        detail = AnyValue()
                        for dn, dv in _fields(_chunk(v, "status detail")):
                            if dn == 1:
                                detail.type_url = _text(dv, "detail type_url")
                            elif dn == 2:
                                detail.value = bytes(_chunk(dv, "detail value"))
                        status.details.append(detail)
            elif number == 2:
                resp.payload = bytes(_chunk(value, "payload"))
        return resp


def encode_request(
    service: str,
    method: str,
    payload: bytes,
    timeout_nano: int = 0,
    metadata: Iterable[tuple[str, str]] = (),
) -> bytes:
    """``ttrpc.Request`` bytes."""
    out = bytearray()
    if service:
        _bytes_field(out, 1, service.encode("utf-8"))
    if method:
        _bytes_field(out, 2, method.encode("utf-8"))
    if payload:
        _bytes_field(out, 3, bytes(payload))
    if timeout_nano:
        _key(out, 4, 0)
        _varint(out, int(timeout_nano) & ((1 << 64) - 1))
    for key, value in metadata:
        kv = bytearray()
        if key:
            _bytes_field(kv, 1, key.encode("utf-8"))
        if value:
            _bytes_field(kv, 2, value.encode("utf-8"))
        _bytes_field(out, 5, bytes(kv))
    return bytes(out)


def decode_errors() -> tuple[type[Exception], ...]:
    """What a message class raises for bytes it cannot decode: protobuf's
    DecodeError (when protobuf is loaded) or a ValueError (``protos.lite``,
    this module)."""
    pb = sys.modules.get("google.protobuf.message")
    return (ValueError,) if pb is None else (ValueError, pb.DecodeError)


def type_name(message_type: type) -> str:
    """A message class's full protobuf name (protobuf's or protos.lite's)."""
    descriptor = getattr(message_type, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None) or getattr(message_type, "FULL_NAME", None)
    return str(name or message_type.__qualname__)


class Request:
    """``ttrpc.Request``, decoded (``service``, ``method``, ``payload``,
    ``timeout_nano``, ``metadata``), with the attributes of ttrpc_pb2's."""

    __slots__ = ("metadata", "method", "payload", "service", "timeout_nano")

    def __init__(self) -> None:
        self.service = ""
        self.method = ""
        self.payload = b""
        self.timeout_nano = 0
        self.metadata: list[KeyValue] = []

    @classmethod
    def decode(cls, data: bytes) -> Request:
        req = cls()
        view = memoryview(data)
        for number, value in _fields(view):
            if number == 1:
                req.service = _text(value, "service")
            elif number == 2:
                req.method = _text(value, "method")
            elif number == 3:
                req.payload = bytes(_chunk(value, "payload"))
            elif number == 4:
                if not isinstance(value, int):
                    raise WireError("timeout_nano: wrong wire type")
                raw = value & ((1 << 64) - 1)
                req.timeout_nano = raw - (1 << 64) if raw >> 63 else raw
            elif number == 5:
                kv = KeyValue()
                for n, v in _fields(_chunk(value, "metadata")):
                    if n == 1:
                        kv.key = _text(v, "metadata key")
                    elif n == 2:
                        kv.value = _text(v, "metadata value")
                req.metadata.append(kv)
        return req


def encode_status_response(code: int, message: str, details: Iterable[Any] = ()) -> bytes:
    """``Response{status: Status{code, message, details}}`` bytes; each detail
    is an Any (anything with ``type_url`` and ``value``)."""
    status = bytearray()
    if code:
        _key(status, 1, 0)
        _varint(status, int(code) & ((1 << 64) - 1))
    if message:
        _bytes_field(status, 2, message.encode("utf-8"))
    for detail in details:
        any_ = bytearray()
        if detail.type_url:
            _bytes_field(any_, 1, detail.type_url.encode("utf-8"))
        if detail.value:
            _bytes_field(any_, 2, bytes(detail.value))
        _bytes_field(status, 3, bytes(any_))
    out = bytearray()
    _bytes_field(out, 1, bytes(status))
    return bytes(out)


def _key(out: bytearray, number: int, wire: int) -> None:
    _varint(out, number << 3 | wire)


def _bytes_field(out: bytearray, number: int, data: bytes) -> None:
    _key(out, number, 2)
    _varint(out, len(data))
    out += data


def _varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def _fields(data: memoryview) -> Iterable[tuple[int, int | memoryview]]:
    """(number, value) of each field: an int (varint) or the bytes (length-
    delimited); fixed-width fields are skipped, groups refused."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _get_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            value, pos = _get_varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _get_varint(data, pos)
            if pos + length > end:
                raise WireError("truncated message")
            yield number, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise WireError("truncated message")
        else:
            raise WireError(f"unsupported wire type {wire}")


def _chunk(value: int | memoryview, what: str) -> memoryview:
    if isinstance(value, int):
        raise WireError(f"{what}: wrong wire type")
    return value


def _text(value: int | memoryview, what: str) -> str:
    try:
        return str(_chunk(value, what), "utf-8")
    except UnicodeDecodeError:
        raise WireError(f"{what}: invalid UTF-8") from None
