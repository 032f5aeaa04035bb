"""Method tables: what a server dispatches ``service``/``method`` to.

A service is registered either from its protobuf ``ServiceDescriptor`` plus
an object with a method per RPC, or from a plain ``{method: (request_type,
response_type, handler)}`` mapping, whose types are any message classes
(``FromString`` and ``SerializeToString``: protobuf's, or ``protos.lite``'s,
which keep the sandbox process free of the protobuf runtime). The anyio :class:`ttrpc.Server` wants
``async def`` handlers; the threaded :class:`ttrpc.SyncServer` wants plain
functions (``sync=True``), which it runs on a thread of their own.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from google.protobuf.descriptor import ServiceDescriptor
    from google.protobuf.message import Message

#: ``(ctx, request) -> response``: a coroutine function for the anyio
#: server, a plain one for the threaded server.
Handler = Callable[[Any, Any], Any]

#: The code flag of an ``async def`` (inspect.CO_COROUTINE, Include/cpython/code.h).
_CO_COROUTINE = 0x80


def _check_handler(where: str, handler: object, *, sync: bool) -> None:
    """Refuse the wrong kind of handler up front instead of failing every call."""
    if not callable(handler):
        raise TypeError(f"{where}: handler {handler!r} is not callable")
    func = handler.__func__ if isinstance(handler, types.MethodType) else handler
    if not isinstance(func, types.FunctionType):
        return  # a callable object: its kind is its own business
    # What inspect.iscoroutinefunction tests; importing inspect (with ast,
    # dis and tokenize) would cost every sandbox start ~8 ms for this line.
    is_async = bool(func.__code__.co_flags & _CO_COROUTINE)
    if sync and is_async:
        raise TypeError(f"{where}: handler {handler!r} must be a plain def (SyncServer)")
    if not sync and not is_async:
        raise TypeError(f"{where}: handler {handler!r} must be an async def")


MethodSpec: TypeAlias = "tuple[type[Message], type[Message], Handler]"


class Method:
    """One method; streaming ones get a ServerStream instead of a request."""

    __slots__ = (
        "client_streaming",
        "handler",
        "name",
        "request_type",
        "response_type",
        "server_streaming",
    )

    name: str
    request_type: type[Message]
    response_type: type[Message]
    handler: Handler | None
    client_streaming: bool
    server_streaming: bool

    def __init__(  # noqa: PLR0917 - positional, as the NamedTuple's were
        self,
        name: str,
        request_type: type[Message],
        response_type: type[Message],
        handler: Handler | None,
        client_streaming: bool = False,
        server_streaming: bool = False,
    ) -> None:
        self.name = name
        self.request_type = request_type
        self.response_type = response_type
        self.handler = handler
        self.client_streaming = client_streaming
        self.server_streaming = server_streaming

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}"
            for n in (
                "name",
                "request_type",
                "response_type",
                "handler",
                "client_streaming",
                "server_streaming",
            )
        )
        return f"Method({fields})"

    @property
    def streaming(self) -> bool:
        return self.client_streaming or self.server_streaming


def methods_from_descriptor(
    descriptor: ServiceDescriptor, implementation: object, *, sync: bool = False
) -> dict[str, Method]:
    """Bind ``implementation``'s methods to ``descriptor``'s RPCs.

    RPCs the implementation lacks are left out, so calls to them answer
    UNIMPLEMENTED "method X" (what containerd expects for unsupported RPCs).
    """
    from google.protobuf import message_factory

    methods: dict[str, Method] = {}
    for rpc in descriptor.methods:
        handler = getattr(implementation, rpc.name, None)
        if handler is None:
            continue
        _check_handler(f"{descriptor.full_name}.{rpc.name}", handler, sync=sync)
        methods[rpc.name] = Method(
            name=rpc.name,
            request_type=message_factory.GetMessageClass(rpc.input_type),
            response_type=message_factory.GetMessageClass(rpc.output_type),
            handler=handler,
            client_streaming=bool(rpc.client_streaming),
            server_streaming=bool(rpc.server_streaming),
        )
    return methods


def methods_from_mapping(
    mapping: Mapping[str, MethodSpec], *, sync: bool = False
) -> dict[str, Method]:
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
            if not (
                isinstance(cls, type)
                and callable(getattr(cls, "FromString", None))
                and callable(getattr(cls, "SerializeToString", None))
            ):
                raise TypeError(f"method {name!r}: {kind} type {cls!r} is not a message class")
        _check_handler(f"method {name!r}", handler, sync=sync)
        methods[name] = Method(name, request_type, response_type, handler)
    return methods


def service_methods(
    service: ServiceDescriptor | str,
    implementation: object | Mapping[str, MethodSpec],
    *,
    sync: bool = False,
) -> tuple[str, dict[str, Method]]:
    """The full name and method table of what ``register(service, implementation)`` serves.

    ``(descriptor, obj)`` binds the descriptor's RPCs to ``obj``'s methods;
    ``(descriptor_or_name, mapping)`` takes the mapping's entries.
    """
    if isinstance(service, str):
        if not isinstance(implementation, Mapping):
            raise TypeError(
                "register(name, ...) needs a {method: (request_type, response_type, handler)}"
                " mapping; pass a ServiceDescriptor to register an object"
            )
        return service, methods_from_mapping(implementation, sync=sync)
    from google.protobuf.descriptor import ServiceDescriptor

    if isinstance(service, ServiceDescriptor):
        if isinstance(implementation, Mapping):
            return service.full_name, methods_from_mapping(implementation, sync=sync)
        return service.full_name, methods_from_descriptor(service, implementation, sync=sync)
    raise TypeError(f"service must be a ServiceDescriptor or a name, not {service!r}")


class Registry:
    """The services a server answers, by name (both servers keep one)."""

    def __init__(self) -> None:
        self._services: dict[str, dict[str, Method]] = {}

    def add(self, name: str, methods: dict[str, Method]) -> None:
        if name in self._services:
            raise ValueError(f"service {name} is already registered")
        self._services[name] = methods

    def get(self, name: str) -> dict[str, Method] | None:
        return self._services.get(name)

    def names(self) -> dict[str, list[str]]:
        """Registered services and their method names (for introspection)."""
        return {name: sorted(methods) for name, methods in self._services.items()}
