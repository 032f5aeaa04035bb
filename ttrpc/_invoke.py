"""Running one handler and turning its outcome into a response frame.

Status mapping follows ttrpc Go (services.go): a payload that does not decode
-> INTERNAL "ttrpc: error unmarshalling payload"; ``TTRPCError`` -> its
status; any other exception -> UNKNOWN with the message (logged with its
traceback, since it is a bug in the handler); the client's deadline -> the
handler is cancelled and the call answers DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import logging
import math

import anyio
from google.protobuf.message import DecodeError

from ttrpc import ttrpc_pb2
from ttrpc._codec import Flags, MessageType, OversizedMessage, encode_frame
from ttrpc._connection import ServerConnection
from ttrpc._context import PeerCredentials, ServerContext, metadata_from_request
from ttrpc._server_stream import ServerStream
from ttrpc._service import Method
from ttrpc._status import Code, TTRPCError

log = logging.getLogger("ttrpc.server")


async def invoke_unary(
    peer: PeerCredentials | None,
    stream_id: int,
    request: ttrpc_pb2.Request,
    method: Method,
) -> bytes:
    """Run the handler; return the response frame (OK or error status)."""
    try:
        message = method.request_type.FromString(request.payload)
    except DecodeError as exc:
        # services.go protoUnmarshal: codes.Internal.
        return ServerConnection.error_response(
            stream_id, Code.INTERNAL, f"ttrpc: error unmarshalling payload: {exc}"
        )
    deadline: float | None = None
    scope: anyio.CancelScope | None = None
    if request.timeout_nano > 0:
        deadline = anyio.current_time() + request.timeout_nano / 1e9
        scope = anyio.CancelScope(deadline=deadline)
    ctx = ServerContext(
        service=request.service,
        method=request.method,
        stream_id=stream_id,
        metadata=metadata_from_request(request) if request.metadata else {},
        deadline=deadline,
        cancel_scope=scope,
        peer=peer,
    )
    handler = method.handler
    assert handler is not None
    try:
        if scope is None:
            # No deadline: skip the cancel scope (it costs on every call).
            response = await handler(ctx, message)
        else:
            with scope:
                response = await handler(ctx, message)
            if scope.cancelled_caught:
                return ServerConnection.error_response(
                    stream_id, Code.DEADLINE_EXCEEDED, "context deadline exceeded"
                )
    except TTRPCError as exc:
        return ServerConnection.error_response(stream_id, exc.code, exc.message, exc.details)
    except Exception as exc:
        log.exception("ttrpc: /%s/%s failed", request.service, request.method)
        return ServerConnection.error_response(
            stream_id, Code.UNKNOWN, str(exc) or type(exc).__name__
        )
    if not isinstance(response, method.response_type):
        log.error(
            "ttrpc: /%s/%s returned %r, expected %s",
            request.service,
            request.method,
            type(response),
            method.response_type.DESCRIPTOR.full_name,
        )
        return ServerConnection.error_response(
            stream_id,
            Code.INTERNAL,
            f"ttrpc: handler returned {type(response).__name__},"
            f" expected {method.response_type.DESCRIPTOR.full_name}",
        )
    try:
        return ServerConnection.ok_response(stream_id, response.SerializeToString())
    except OversizedMessage as exc:
        return ServerConnection.error_response(stream_id, Code.RESOURCE_EXHAUSTED, str(exc))


async def invoke_stream(
    peer: PeerCredentials | None,
    stream_id: int,
    request: ttrpc_pb2.Request,
    method: Method,
    stream: ServerStream,
) -> bytes:
    scope = stream.cancel_scope
    deadline = None if scope.deadline == math.inf else scope.deadline
    ctx = ServerContext(
        service=request.service,
        method=request.method,
        stream_id=stream_id,
        metadata=metadata_from_request(request) if request.metadata else {},
        deadline=deadline,
        cancel_scope=scope,
        peer=peer,
    )
    handler = method.handler
    assert handler is not None
    error = ServerConnection.error_response
    try:
        with scope:
            result = await handler(ctx, stream)
        if stream.overflowed:
            return error(stream_id, Code.RESOURCE_EXHAUSTED, "ttrpc: stream receive buffer full")
        if scope.cancelled_caught:
            if deadline is not None and anyio.current_time() >= deadline:
                return error(stream_id, Code.DEADLINE_EXCEEDED, "context deadline exceeded")
            return error(stream_id, Code.CANCELLED, "context canceled")
    except TTRPCError as exc:
        return error(stream_id, exc.code, exc.message, exc.details)
    except Exception as exc:
        log.exception("ttrpc: /%s/%s failed", request.service, request.method)
        return error(stream_id, Code.UNKNOWN, str(exc) or type(exc).__name__)
    if result is not None and not isinstance(result, method.response_type):
        return error(
            stream_id,
            Code.INTERNAL,
            f"ttrpc: handler returned {type(result).__name__},"
            f" expected {method.response_type.DESCRIPTOR.full_name}",
        )
    if method.server_streaming:
        # The stream ends with DATA[REMOTE_CLOSED] (server.go run loop).
        if result is None:
            flags = Flags.REMOTE_CLOSED | Flags.NO_DATA
            return encode_frame(stream_id, MessageType.DATA, flags, b"")
        try:
            payload = result.SerializeToString()
            return encode_frame(stream_id, MessageType.DATA, Flags.REMOTE_CLOSED, payload)
        except OversizedMessage as exc:
            return error(stream_id, Code.RESOURCE_EXHAUSTED, str(exc))
    if result is None:
        return error(stream_id, Code.INTERNAL, f"ttrpc: {request.method} returned no response")
    try:
        return ServerConnection.ok_response(stream_id, result.SerializeToString())
    except OversizedMessage as exc:
        return error(stream_id, Code.RESOURCE_EXHAUSTED, str(exc))
