"""Running one handler under anyio and turning its outcome into a response frame.

The statuses are ``_unary.py``'s (shared with the threaded server); what is
anyio's own is the deadline: the client's ``timeout_nano`` cancels the
handler, and the call answers DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import math

import anyio

from ttrpc._codec import Flags, MessageType, OversizedMessage, encode_frame
from ttrpc._connection import ServerConnection
from ttrpc._context import PeerCredentials, ServerContext, metadata_from_request
from ttrpc._server_stream import ServerStream
from ttrpc._service import Method
from ttrpc._status import Code, TTRPCError
from ttrpc._unary import (
    deadline_frame,
    decode_payload,
    error_frame,
    response_frame,
    wrong_type_frame,
)
from ttrpc._wire import Request


async def invoke_unary(
    peer: PeerCredentials | None,
    stream_id: int,
    request: Request,
    method: Method,
) -> bytes:
    """Run the handler; return the response frame (OK or error status)."""
    try:
        message = decode_payload(method, request)
    except TTRPCError as exc:
        return error_frame(stream_id, request, exc)
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
                return deadline_frame(stream_id)
    except Exception as exc:
        return error_frame(stream_id, request, exc)
    return response_frame(stream_id, request, method, response)


async def invoke_stream(
    peer: PeerCredentials | None,
    stream_id: int,
    request: Request,
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
                return deadline_frame(stream_id)
            return error(stream_id, Code.CANCELLED, "context canceled")
    except Exception as exc:
        return error_frame(stream_id, request, exc)
    if result is not None and not isinstance(result, method.response_type):
        return wrong_type_frame(stream_id, method, result)
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
    return response_frame(stream_id, request, method, result)
