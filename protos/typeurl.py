"""``google.protobuf.Any`` the way containerd spells it.

containerd names the type inside an Any by the message's bare full name
(``containerd.events.TaskOOM``), not by protobuf's default
``type.googleapis.com/<name>``: containerd 1.6 looks types up by exact
name (typeurl v1 ``TypeURL`` = ``proto.MessageName``), so a prefixed URL
is an unknown type there. ``Any.Pack(msg, type_url_prefix="")`` is no way
out either: it yields ``/containerd.events.TaskOOM``. Newer containerd
(typeurl v2) accepts a ``.../`` prefix on input, so :func:`unpack` does too.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)


def type_url(message: Message | type[Message]) -> str:
    """The bare type URL containerd uses for ``message`` (or its class)."""
    return message.DESCRIPTOR.full_name


def pack(message: Message) -> any_pb2.Any:
    """Wrap ``message`` in an Any with a bare type URL."""
    return any_pb2.Any(type_url=type_url(message), value=message.SerializeToString())


def type_name(value: any_pb2.Any) -> str:
    """The message name an Any claims to hold, with any ``host/`` prefix removed."""
    return value.type_url.rsplit("/", 1)[-1]


def unpack(value: any_pb2.Any, cls: type[M]) -> M:
    """Decode ``value`` as ``cls``; ValueError if it holds another type or bad bytes."""
    want = cls.DESCRIPTOR.full_name
    have = type_name(value)
    if have != want:
        raise ValueError(f"Any holds {value.type_url!r}, expected {want!r}")
    message = cls()
    try:
        message.ParseFromString(value.value)
    except DecodeError as exc:
        raise ValueError(f"Any of type {want!r} has undecodable bytes: {exc}") from exc
    return message
