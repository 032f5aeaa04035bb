"""ttrpc's own Request and error Response, encoded by hand.

A server decodes one ``ttrpc.Request`` per call and encodes a
``ttrpc.Response`` per answer; both are tiny and fixed (``ttrpc.proto``).
Doing it here, as ttrpc-rust does, lets a server run without importing the
protobuf runtime at all when its services' messages do not need it (the
sandbox process: importing protobuf cost it ~15 ms of every start and ~2 MiB
of memory). The bytes are protobuf's; ``tests/ttrpc/test_wire.py`` checks
both directions against ``ttrpc_pb2``. The client side still uses
``ttrpc_pb2``.
"""

from __future__ import annotations

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
