"""A call's outcome as a response frame, whatever runs the handler.

Shared by the anyio server (``_invoke.py``) and the threaded one
(``sync_server.py``), so both answer with the same statuses, which follow
ttrpc Go (services.go): a payload that does not decode -> INTERNAL "ttrpc:
error unmarshalling payload"; ``TTRPCError`` -> its status; any other
exception -> UNKNOWN with the message (logged with its traceback, since it
is a bug in the handler); a handler returning the wrong message type ->
INTERNAL; a response over 4 MiB -> RESOURCE_EXHAUSTED. No anyio here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ttrpc._codec import OversizedMessage
from ttrpc._connection import ServerConnection
from ttrpc._service import Method
from ttrpc._status import Code, TTRPCError
from ttrpc._wire import decode_errors, type_name

if TYPE_CHECKING:
    from ttrpc._wire import Request

log = logging.getLogger("ttrpc.server")

DEADLINE_EXCEEDED_MESSAGE = "context deadline exceeded"


def decode_payload(method: Method, request: Request) -> Any:
    """The request message; raises TTRPCError(INTERNAL) when it does not decode."""
    try:
        return method.request_type.FromString(request.payload)
    except decode_errors() as exc:
        # services.go protoUnmarshal: codes.Internal.
        raise TTRPCError(Code.INTERNAL, f"ttrpc: error unmarshalling payload: {exc}") from None


def error_frame(stream_id: int, request: Request, exc: BaseException) -> bytes:
    """The response frame for a handler that raised ``exc``."""
    if isinstance(exc, TTRPCError):
        return ServerConnection.error_response(stream_id, exc.code, exc.message, exc.details)
    log.error("ttrpc: /%s/%s failed", request.service, request.method, exc_info=exc)
    return ServerConnection.error_response(stream_id, Code.UNKNOWN, str(exc) or type(exc).__name__)


def deadline_frame(stream_id: int) -> bytes:
    """The answer of a call whose client deadline passed."""
    return ServerConnection.error_response(
        stream_id, Code.DEADLINE_EXCEEDED, DEADLINE_EXCEEDED_MESSAGE
    )


def wrong_type_frame(stream_id: int, method: Method, result: object) -> bytes:
    """INTERNAL for a handler that returned something else than its response type."""
    return ServerConnection.error_response(
        stream_id,
        Code.INTERNAL,
        f"ttrpc: handler returned {type(result).__name__},"
        f" expected {type_name(method.response_type)}",
    )


def response_frame(stream_id: int, request: Request, method: Method, response: object) -> bytes:
    """The OK response frame carrying ``response`` (or the error it amounts to)."""
    if not isinstance(response, method.response_type):
        log.error(
            "ttrpc: /%s/%s returned %r, expected %s",
            request.service,
            request.method,
            type(response),
            type_name(method.response_type),
        )
        return wrong_type_frame(stream_id, method, response)
    try:
        return ServerConnection.ok_response(stream_id, response.SerializeToString())
    except OversizedMessage as exc:
        return ServerConnection.error_response(stream_id, Code.RESOURCE_EXHAUSTED, str(exc))
