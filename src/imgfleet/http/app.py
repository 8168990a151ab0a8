"""The ASGI shell: turns a request into one service call, and errors into responses.

Plain ASGI rather than a framework: four routes, and the image route is the hot path where
every object per request shows up in the benchmark.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

import orjson

from imgfleet.core.errors import ClientGone, ImgfleetError
from imgfleet.http.headers import error_headers, etag, rendition_headers
from imgfleet.metrics import Metrics
from imgfleet.service.delivery import Delivery, DeliveryService, Presentation

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

log = logging.getLogger("imgfleet.access")
fault_log = logging.getLogger("imgfleet.error")
server_log = logging.getLogger("imgfleet.server")

_METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
HEAD_ENTRIES = 4096  # hot paths whose response headers are remembered


class App:
    """The imgfleet HTTP application (ASGI 3)."""

    def __init__(
        self,
        delivery: DeliveryService,
        metrics: Metrics,
        *,
        ttl: int,
        error_ttl: int,
        access_log: bool = True,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.delivery = delivery
        self.metrics = metrics
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.access_log = access_log
        self.on_shutdown = on_shutdown
        self.ready = False
        # Request ids for requests without X-Request-ID: a random per-process prefix and a
        # counter (unique across processes and restarts; far cheaper than uuid4 per request).
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count()
        # The headers answered for each hot path (the service keeps one Presentation per
        # hot path), with the media type and length they were made for.
        self._heads: dict[Presentation, tuple[str, int, Headers]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = self._request_id(headers)
        route, status, size, extra = await self._dispatch(scope, headers, receive, send, request_id)
        self._done(started, request_id, scope["method"], scope["path"], route, status, size, extra)

    def hot_response(self, target: bytes, request_headers: Headers) -> tuple[Headers, bytes] | None:
        """The headers and body answering a GET of `target` when it is a hot rendition, made
        without awaiting anything; None for any other request, which the ASGI path answers.

        For a server protocol that answers hot renditions before building an ASGI request
        (`http/hot_path.py`). Counted and logged like every request.
        """
        started = time.perf_counter()
        headers = dict(request_headers)
        if b"if-none-match" in headers:
            return None
        path = target.partition(b"?")[0].decode("utf-8", "surrogateescape")
        try:
            delivery = self.delivery.hot_hit(path, headers.get(b"accept", b"").decode("latin-1"))
        except ImgfleetError:  # an expired URL: the ASGI path answers the error
            return None
        if delivery is None:
            return None
        request_id = self._request_id(headers)
        body = delivery.rendition.body
        logged = unquote(path) if "%" in path else path  # as uvicorn's scope["path"]
        self._done(started, request_id, "GET", logged, "image", 200, len(body), {"cache": "hit"})
        return [(b"x-request-id", request_id.encode()), *self._head(delivery)], body

    def _request_id(self, headers: dict[bytes, bytes]) -> str:
        """The client's X-Request-ID when usable, else the next of this process's ids."""
        return _client_request_id(headers) or f"{self._id_prefix}{next(self._ids):08x}"

    def _done(
        self,
        started: float,
        request_id: str,
        method: str,
        path: str,
        route: str,
        status: int,
        size: int,
        extra: dict[str, Any],
    ) -> None:
        """Count a request and write its access log line."""
        elapsed = time.perf_counter() - started
        self.metrics.request_done(route, status, elapsed, size)
        if self.access_log:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "bytes": size,
                    **extra,
                },
            )

    async def _dispatch(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        request_id: str,
    ) -> tuple[str, int, int, dict[str, Any]]:
        path: str = scope["path"]
        method: str = scope["method"]
        rid = [(b"x-request-id", request_id.encode())]
        if method not in ("GET", "HEAD"):
            allow = [*rid, (b"allow", b"GET, HEAD")]
            status, size = await _respond(send, 405, allow, b"method not allowed\n", method)
            return "other", status, size, {}
        if path == "/health":
            return ("health", *await _respond(send, 200, rid, b"ok\n", method), {})
        if path == "/ready":
            status = 200 if self.ready else 503
            body = b"ready\n" if self.ready else b"starting or stopping\n"
            return ("ready", *await _respond(send, status, rid, body, method), {})
        if path == "/metrics":
            self.metrics.renders_in_flight.set(self.delivery.admission.running)
            self.metrics.renders_queued.set(self.delivery.admission.queued)
            typed = [*rid, (b"content-type", _METRICS_TYPE)]
            body = self.metrics.exposition()
            return ("metrics", *await _respond(send, 200, typed, body, method), {})
        return await self._image(scope, headers, receive, send, rid, method)

    async def _image(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
        rid: Headers,
        method: str,
    ) -> tuple[str, int, int, dict[str, Any]]:
        raw_path = (scope.get("raw_path") or scope["path"].encode()).partition(b"?")[0]
        try:
            delivery = await self.delivery.deliver(
                raw_path.decode("utf-8", "surrogateescape"),
                headers.get(b"accept", b"").decode("latin-1"),
                lambda: _disconnected(receive),
            )
        except ClientGone as gone:  # nobody to answer; logged and counted as nginx's 499
            return "image", gone.status, 0, {"error": gone.reason}
        except ImgfleetError as error:
            return await self._error(send, rid, method, error)
        except Exception as error:  # a bug: answer 500, log the traceback, keep serving
            fault_log.exception("unhandled error", extra={"request_id": rid[0][1].decode()})
            internal = ImgfleetError(f"internal error: {type(error).__name__}")
            return await self._error(send, rid, method, internal)
        head = self._head(delivery)
        if _etag_matches(headers.get(b"if-none-match"), etag(delivery.presentation)):
            kept = [h for h in head if h[0] not in (b"content-type", b"content-length")]
            status, size = await _send(send, 304, [*rid, *kept], b"")
        else:
            body = b"" if method == "HEAD" else delivery.rendition.body
            status, size = await _send(send, 200, [*rid, *head], body)
        return "image", status, size, {"cache": "hit" if delivery.cache_hit else "miss"}

    def _head(self, delivery: Delivery) -> Headers:
        """A rendition's response headers but the request id; remembered for hot paths."""
        presentation, rendition = delivery.presentation, delivery.rendition
        length = len(rendition.body)
        known = self._heads.get(presentation)
        if known is not None and known[0] == rendition.media_type and known[1] == length:
            return known[2]
        head = rendition_headers(presentation, rendition.media_type, self.ttl, time.time())
        head.append((b"content-length", str(length).encode()))
        # A URL with `expires` has a max-age that shrinks as time passes: made per request.
        if delivery.cache_hit and presentation.expires is None:
            if len(self._heads) >= HEAD_ENTRIES:
                self._heads.clear()
            self._heads[presentation] = (rendition.media_type, length, head)
        return head

    async def _error(
        self, send: Send, rid: Headers, method: str, error: ImgfleetError
    ) -> tuple[str, int, int, dict[str, Any]]:
        body = orjson.dumps(
            {"status": error.status, "error": error.reason, "message": error.public_message}
        )
        headers = [*rid, *error_headers(error, self.error_ttl)]
        status, size = await _respond(send, error.status, headers, body + b"\n", method)
        return "image", status, size, {"error": error.reason}

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
                server_log.info("startup complete")
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                server_log.info("shutdown complete")
                return


async def _respond(
    send: Send, status: int, headers: Headers, body: bytes, method: str
) -> tuple[int, int]:
    """A response with a type (plain text unless named) and a length."""
    if not any(name == b"content-type" for name, _ in headers):
        headers = [*headers, (b"content-type", b"text/plain; charset=utf-8")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    return await _send(send, status, headers, b"" if method == "HEAD" else body)


async def _send(send: Send, status: int, headers: Headers, body: bytes) -> tuple[int, int]:
    """Send a response whose headers are complete; the status and the bytes sent."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status, len(body)


async def _disconnected(receive: Receive) -> None:
    """Return when the client disconnects: read past the (empty) GET body to http.disconnect.

    A server that answers receive() with anything else after the body (a misbehaving test
    server) would make this spin, so then it waits for ever: cancelled with the render.
    """
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            await asyncio.Event().wait()


def _etag_matches(header: bytes | None, etag: bytes) -> bool:
    if not header:
        return False
    if header.strip() == b"*":
        return True
    return any(tag.strip().removeprefix(b"W/") == etag for tag in header.split(b","))


def _client_request_id(headers: dict[bytes, bytes]) -> str | None:
    """The client's X-Request-ID when it is short and printable."""
    value = headers.get(b"x-request-id")
    if value is None:
        return None
    text = value.decode("latin-1")
    return text if 0 < len(text) <= 128 and text.isprintable() else None
