"""The ASGI types, and the responses the raw-ASGI parts of the shell send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from imgfleet.core.errors import ImgfleetError, MethodNotAllowed, Overloaded, Unauthorized

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = b"application/json"


async def send_response(send: Send, status: int, headers: Headers, body: bytes) -> None:
    """A response whose headers are complete."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: ImgfleetError, error_ttl: int, method: str) -> None:
    """An error as JSON: `{"status", "error", "message"}`, the shape of every error we send."""
    status, headers, body = error_response(error, error_ttl)
    await send_response(send, status, headers, b"" if method == "HEAD" else body)


def error_response(error: ImgfleetError, error_ttl: int) -> tuple[int, Headers, bytes]:
    """Client errors may be cached briefly (for `error_ttl` seconds; 0: not at all, as for
    the API's answers, which depend on who asks); server-side failures not at all."""
    body = orjson.dumps(
        {"status": error.status, "error": error.reason, "message": error.public_message}
    )
    headers = [(b"content-type", JSON)]
    if error.status < 500 and error_ttl > 0:
        headers.append((b"cache-control", f"public, max-age={error_ttl}".encode()))
    else:
        headers.append((b"cache-control", b"no-store"))
    if isinstance(error, Overloaded):
        headers.append((b"retry-after", str(error.retry_after).encode()))
    elif isinstance(error, MethodNotAllowed):
        headers.append((b"allow", error.allow.encode()))
    elif isinstance(error, Unauthorized):
        headers.append((b"www-authenticate", b'Bearer realm="imgfleet"'))
    body += b"\n"
    headers.append((b"content-length", str(len(body)).encode()))
    return error.status, headers, body
