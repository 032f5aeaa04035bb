"""Method tables: what the server dispatches ``service``/``method`` to.

A service is registered either from its protobuf ``ServiceDescriptor`` plus
an object with ``async def Method(self, ctx, request)`` methods, or from a
plain ``{method: (request_type, response_type, handler)}`` mapping.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message

if TYPE_CHECKING:
    from ttrpc._context import ServerContext

Handler = Callable[["ServerContext", Any], Awaitable[Message]]


def _check_async(where: str, handler: object) -> None:
    """Refuse plain ``def`` handlers up front instead of failing every call."""
    if not callable(handler):
        raise TypeError(f"{where}: handler {handler!r} is not callable")
    if (inspect.isfunction(handler) or inspect.ismethod(handler)) and not (
        inspect.iscoroutinefunction(handler)
    ):
        raise TypeError(f"{where}: handler {handler!r} must be an async def")


MethodSpec = tuple[type[Message], type[Message], Handler]


@dataclass(frozen=True, slots=True)
class Method:
    """One method; streaming ones get a ServerStream instead of a request."""

    name: str
    request_type: type[Message]
    response_type: type[Message]
    handler: Handler | None
    client_streaming: bool = False
    server_streaming: bool = False

    @property
    def streaming(self) -> bool:
        return self.client_streaming or self.server_streaming


def methods_from_descriptor(
    descriptor: ServiceDescriptor, implementation: object
) -> dict[str, Method]:
    """Bind ``implementation``'s coroutine methods to ``descriptor``'s RPCs.

    RPCs the implementation lacks are left out, so calls to them answer
    UNIMPLEMENTED "method X" (what containerd expects for unsupported RPCs).
    """
    methods: dict[str, Method] = {}
    for rpc in descriptor.methods:
        handler = getattr(implementation, rpc.name, None)
        if handler is None:
            continue
        _check_async(f"{descriptor.full_name}.{rpc.name}", handler)
        methods[rpc.name] = Method(
            name=rpc.name,
            request_type=message_factory.GetMessageClass(rpc.input_type),
            response_type=message_factory.GetMessageClass(rpc.output_type),
            handler=handler,
            client_streaming=bool(rpc.client_streaming),
            server_streaming=bool(rpc.server_streaming),
        )
    return methods


def methods_from_mapping(mapping: Mapping[str, MethodSpec]) -> dict[str, Method]:
    """Validate a ``{name: (request_type, response_type, handler)}`` mapping."""
    methods: dict[str, Method] = {}
    for name, spec in mapping.items():
        try:
            request_type, response_type, handler = spec
        except (TypeError, ValueError):
            raise TypeError(
                f"method {name!r}: expected (request_type, response_type, handler), got {spec!r}"
            ) from None
        for kind, cls in (("request", request_type), ("response", response_type)):
            if not (isinstance(cls, type) and issubclass(cls, Message)):
                raise TypeError(f"method {name!r}: {kind} type {cls!r} is not a protobuf Message")
        _check_async(f"method {name!r}", handler)
        methods[name] = Method(name, request_type, response_type, handler)
    return methods
