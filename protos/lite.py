"""A small proto3 codec for our own control API, without the protobuf runtime.

The sandbox process answers the control API (``pysandbox/control/v1``) on
every start, and importing protobuf (its Python layer and the upb
extension) cost it ~15 ms of the ~150 ms a container start takes, and
~2 MiB of every sandbox's memory. Boot therefore decodes and encodes those
messages with this module: message classes generated from the same
``.proto`` (``protos/genlite.py`` writes ``control_lite.py`` from the
protobuf descriptors; a test keeps it fresh), producing the same bytes as
protobuf and checked against it message by message
(``tests/protos/test_lite.py``). Everything else (the CLI, the shim, the
containerd APIs) keeps the protobuf modules.

What it supports is what the control API uses: proto3 scalars (int32,
int64, uint32, uint64, bool, enum, string, bytes), ``optional`` presence,
nested messages, repeated fields (numeric ones packed, both forms
accepted), google.protobuf.Empty and Timestamp. Unknown fields are
skipped. Anything else is refused by the generator.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

INT32, INT64, UINT32, UINT64, BOOL, ENUM, STRING, BYTES, MESSAGE = range(9)

_NUMERIC = frozenset({INT32, INT64, UINT32, UINT64, BOOL, ENUM})
_MASK64 = (1 << 64) - 1
_DEFAULTS: dict[int, Any] = {
    INT32: 0, INT64: 0, UINT32: 0, UINT64: 0, BOOL: False, ENUM: 0, STRING: "", BYTES: b"",
}  # fmt: skip


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the message."""


class Field:
    """One field of a message: number, name, kind, and how it repeats."""

    __slots__ = ("kind", "message", "name", "number", "optional", "repeated")

    def __init__(
        self,
        number: int,
        name: str,
        kind: int,
        *,
        repeated: bool = False,
        optional: bool = False,
        message: type[Message] | None = None,
    ) -> None:
        self.number = number
        self.name = name
        self.kind = kind
        self.repeated = repeated
        self.optional = optional
        self.message = message


class Repeated(list[Any]):
    """A repeated message field: a list with protobuf's ``add``."""

    __slots__ = ("_type",)

    def __init__(self, message_type: type[Message], items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self._type = message_type

    def add(self, **fields: Any) -> Any:
        item = self._type(**fields)
        self.append(item)
        return item


class Message:
    """Base of the generated classes: keyword construction, attribute access,
    ``HasField``, ``SerializeToString`` and ``FromString`` as protobuf's."""

    __slots__ = ("_set",)

    FULL_NAME: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    _BY_NAME: ClassVar[dict[str, Field]] = {}
    _BY_NUMBER: ClassVar[dict[int, Field]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._BY_NAME = {f.name: f for f in cls.FIELDS}
        cls._BY_NUMBER = {f.number: f for f in cls.FIELDS}

    def __init__(self, **fields: Any) -> None:
        set_ = object.__setattr__
        set_(self, "_set", set())
        for f in self.FIELDS:
            if f.repeated:
                value: Any = Repeated(f.message) if f.message is not None else []
            elif f.message is not None or f.optional:
                continue  # unset: read as a default, absent on the wire
            else:
                value = _DEFAULTS[f.kind]
            set_(self, f.name, value)
        for name, value in fields.items():
            if name not in self._BY_NAME:
                raise ValueError(f'{self.FULL_NAME} has no "{name}" field.')
            f = self._BY_NAME[name]
            if f.repeated:
                getattr(self, name).extend(value)
            else:
                setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        f = self._BY_NAME.get(name)
        if f is None:
            raise AttributeError(f"{self.FULL_NAME} has no field {name!r}")
        if f.repeated:
            raise AttributeError(f"assignment to repeated field {name!r}: use extend or add")
        if f.optional or f.message is not None:
            self._set.add(name)
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only reached for a field not set yet (slots hold the set ones).
        f = self._BY_NAME.get(name)
        if f is None:
            raise AttributeError(f"{self.FULL_NAME} has no field {name!r}")
        if f.message is not None:
            value = f.message()  # protobuf: mutating it marks it present
            self._set.add(name)
            object.__setattr__(self, name, value)
            return value
        return _DEFAULTS[f.kind]

    def HasField(self, name: str) -> bool:
        f = self._BY_NAME.get(name)
        if f is None or not (f.optional or f.message is not None):
            raise ValueError(f'Protocol message {self.FULL_NAME} has no singular "{name}" field.')
        return name in self._set

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.SerializeToString() == other.SerializeToString()

    __hash__ = None  # type: ignore[assignment]  # mutable, as protobuf's messages

    def __repr__(self) -> str:
        shown = []
        for f in self.FIELDS:
            if f.repeated or not (f.optional or f.message is not None) or f.name in self._set:
                shown.append(f"{f.name}={getattr(self, f.name)!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # -- encoding ---------------------------------------------------------

    def SerializeToString(self) -> bytes:
        out = bytearray()
        self._encode(out)
        return bytes(out)

    def _encode(self, out: bytearray) -> None:
        for f in self.FIELDS:
            if f.repeated:
                items = getattr(self, f.name)
                if not items:
                    continue
                if f.kind in _NUMERIC:
                    packed = bytearray()
                    for item in items:
                        _put_varint(packed, _scalar_varint(f.kind, item))
                    _put_varint(out, f.number << 3 | 2)
                    _put_varint(out, len(packed))
                    out += packed
                else:
                    for item in items:
                        _encode_one(out, f, item)
                continue
            if f.optional or f.message is not None:
                if f.name not in self._set:
                    continue
                _encode_one(out, f, getattr(self, f.name))
                continue
            value = getattr(self, f.name)
            if value != _DEFAULTS[f.kind]:
                _encode_one(out, f, value)

    # -- decoding ---------------------------------------------------------

    @classmethod
    def FromString(cls, data: bytes) -> Any:
        message = cls()
        message._decode(memoryview(data))
        return message

    def _decode(self, data: memoryview) -> None:
        pos, end = 0, len(data)
        by_number = self._BY_NUMBER
        while pos < end:
            key, pos = _get_varint(data, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                raise DecodeError("Field number 0 is illegal.")
            f = by_number.get(number)
            if wire == 0:
                value, pos = _get_varint(data, pos)
                if f is not None:
                    self._take_varint(f, value)
            elif wire == 2:
                length, pos = _get_varint(data, pos)
                if pos + length > end:
                    raise DecodeError("Truncated message.")
                chunk = data[pos : pos + length]
                pos += length
                if f is not None:
                    self._take_bytes(f, chunk)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            else:
                raise DecodeError(f"Unsupported wire type {wire} (field {number}).")
            if pos > end:
                raise DecodeError("Truncated message.")

    def _take_varint(self, f: Field, raw: int) -> None:
        if f.kind not in _NUMERIC:
            raise DecodeError(f"Field {f.name}: wrong wire type.")
        value = _from_varint(f.kind, raw)
        if f.repeated:
            getattr(self, f.name).append(value)
        else:
            setattr(self, f.name, value)

    def _take_bytes(self, f: Field, chunk: memoryview) -> None:
        if f.kind in _NUMERIC:
            if not f.repeated:
                raise DecodeError(f"Field {f.name}: wrong wire type.")
            items = getattr(self, f.name)
            pos = 0
            while pos < len(chunk):
                raw, pos = _get_varint(chunk, pos)
                items.append(_from_varint(f.kind, raw))
            return
        if f.kind == STRING:
            try:
                value: Any = str(chunk, "utf-8")
            except UnicodeDecodeError:
                raise DecodeError(f"Field {f.name}: invalid UTF-8 in a string.") from None
        elif f.kind == BYTES:
            value = bytes(chunk)
        else:
            assert f.message is not None
            if f.repeated:
                item = f.message()
                item._decode(chunk)
                getattr(self, f.name).append(item)
                return
            # A repeated occurrence of a singular message merges (protobuf).
            value = getattr(self, f.name)
            value._decode(chunk)
        if f.repeated:
            getattr(self, f.name).append(value)
        else:
            setattr(self, f.name, value)


def _encode_one(out: bytearray, f: Field, value: Any) -> None:
    kind = f.kind
    if kind in _NUMERIC:
        _put_varint(out, f.number << 3)
        _put_varint(out, _scalar_varint(kind, value))
        return
    if kind == STRING:
        data: bytes = value.encode("utf-8")
    elif kind == BYTES:
        data = bytes(value)
    else:
        data = value.SerializeToString()
    _put_varint(out, f.number << 3 | 2)
    _put_varint(out, len(data))
    out += data


def _scalar_varint(kind: int, value: Any) -> int:
    if kind == BOOL:
        return 1 if value else 0
    if kind in (UINT32, UINT64):
        if value < 0:
            raise ValueError(f"value out of range: {value}")
        return int(value) & (0xFFFFFFFF if kind == UINT32 else _MASK64)
    return int(value) & _MASK64  # int32/int64/enum: two's complement, 10 bytes if negative


def _from_varint(kind: int, raw: int) -> Any:
    raw &= _MASK64
    if kind == BOOL:
        return raw != 0
    if kind == UINT64:
        return raw
    if kind == UINT32:
        return raw & 0xFFFFFFFF
    if kind == INT64:
        return raw - (1 << 64) if raw >> 63 else raw
    raw &= 0xFFFFFFFF  # int32, enum: the low 32 bits, signed
    return raw - (1 << 32) if raw >> 31 else raw


# The varint helpers repeat ttrpc/_wire.py's: protos and ttrpc import
# nothing of each other (ARCHITECTURE.md, import rules).
def _put_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError("Truncated message.")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("Too many bytes when decoding varint.")


# -- the well-known types the control API uses ---------------------------


class Empty(Message):
    """google.protobuf.Empty."""

    __slots__ = ()
    FULL_NAME = "google.protobuf.Empty"
    FIELDS = ()


class Timestamp(Message):
    """google.protobuf.Timestamp, with the conversion the controller uses."""

    __slots__ = ("nanos", "seconds")
    FULL_NAME = "google.protobuf.Timestamp"
    FIELDS = (Field(1, "seconds", INT64), Field(2, "nanos", INT32))

    def FromNanoseconds(self, nanos: int) -> None:
        self.seconds, self.nanos = divmod(int(nanos), 1_000_000_000)

    def ToSeconds(self) -> int:
        return int(self.seconds)

    def ToNanoseconds(self) -> int:
        return int(self.seconds) * 1_000_000_000 + int(self.nanos)
