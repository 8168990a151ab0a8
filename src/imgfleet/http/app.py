"""The ASGI application: request ids, metrics and access logs around a router.

    /health /ready /metrics     operations (`ops.py`)
    /openapi.json, /v1/...      the JSON API (`api.py`, FastAPI)
    everything else             the image route (`image.py`), raw ASGI: the router's default

Repeated GETs of cached renditions may be answered before ASGI, by the server's parser
callback calling `App.hot_response` (`hot.py` states the rule); they are counted and logged
here like every request.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

from imgfleet.core.errors import ImgfleetError, Overloaded
from imgfleet.http.api import PREFIX, api_app
from imgfleet.http.asgi import ASGIApp, Headers, Receive, Scope, Send, error_response, send_error
from imgfleet.http.hot import HotTable
from imgfleet.http.image import ImageConfig, ImageEndpoint
from imgfleet.http.ops import Readiness, ops_routes
from imgfleet.http.outcome import HIT, SCOPE_KEY, Outcome
from imgfleet.logs import REQUEST_ID
from imgfleet.metrics import Metrics
from imgfleet.service.delivery import DeliveryService

# First path segments the shell's own routes take: never a signature, never refused early.
OWN_ROUTES = frozenset(
    {b"health", b"ready", b"metrics", b"openapi.json", PREFIX.strip("/").encode()}
)

log = logging.getLogger("imgfleet.access")
fault_log = logging.getLogger("imgfleet.error")
server_log = logging.getLogger("imgfleet.server")


@dataclass(frozen=True, slots=True)
class HttpConfig:
    ttl: int  # max-age of renditions
    error_ttl: int  # max-age of client errors
    access_log: bool  # one JSON line per request
    hot_path: bool  # fill the hot table, for the server to answer repeated hits from


class App:
    """The imgfleet HTTP application (ASGI 3)."""

    def __init__(
        self,
        router: Router,
        metrics: Metrics,
        readiness: Readiness,
        *,
        hot: HotTable | None,
        access_log: bool,
        error_ttl: int,
        refusal: Callable[[], Overloaded | None] | None = None,
    ) -> None:
        self.router = router
        self.refusal = refusal  # the image route's refusal of a miss now, if any
        self.metrics = metrics
        self.readiness = readiness
        self.hot = hot
        self.access_log = access_log
        self.error_ttl = error_ttl
        # Request ids for requests without X-Request-ID: a random per-process prefix and a
        # counter (unique across processes and restarts; far cheaper than uuid4 per request).
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        method: str = scope["method"]
        outcome = Outcome(self._request_id(headers), headers, method == "HEAD")
        REQUEST_ID.set(outcome.request_id)  # for log lines written below the shell
        scope[SCOPE_KEY] = outcome
        recorded = outcome.recording(send)
        try:
            await self.router(scope, receive, recorded)
        except Exception as error:  # a bug below: answer 500 if we still can, keep serving
            fault_log.exception("unhandled error", extra={"request_id": outcome.request_id})
            internal = ImgfleetError(f"internal error: {type(error).__name__}")
            outcome.extra = {"error": internal.reason}
            if outcome.status == 0:
                await send_error(recorded, internal, self.error_ttl, method)
        route = scope.get("route")
        if route is not None:
            outcome.route = getattr(route, "name", None) or outcome.route
        self._done(started, outcome, method, scope["path"])

    def hot_response(self, target: bytes, request_headers: Headers) -> tuple[Headers, bytes] | None:
        """The headers (but the length) and body answering an unconditional GET of `target`
        from the hot table, made without awaiting anything; None when it is not there, and
        the ASGI path answers. Counted and logged like every request."""
        if self.hot is None:
            return None
        started = time.perf_counter()
        headers = dict(request_headers)
        path = target.partition(b"?")[0].decode("utf-8", "surrogateescape")
        found = self.hot.find(path, headers.get(b"accept", b"").decode("latin-1"))
        if found is None:
            return None
        entry, rendition = found
        outcome = Outcome(self._request_id(headers), headers, False, "image", 200)
        outcome.size = len(rendition.body)
        outcome.extra = HIT
        logged = unquote(path) if "%" in path else path  # as uvicorn's scope["path"]
        self._done(started, outcome, "GET", logged)
        return [(b"x-request-id", outcome.request_id.encode()), *entry.headers], rendition.body

    def early_refusal(
        self, target: bytes, request_headers: Headers
    ) -> tuple[Headers, bytes, int] | None:
        """The headers (but the length), body and Retry-After of a 503 answering an image
        request of `target` that missed the hot table, made without parsing it, while a miss
        would be refused anyway (`DeliveryService.refusal`); None otherwise. Counted and
        logged like every request."""
        if self.refusal is None or _first_segment(target) in OWN_ROUTES:
            return None
        refused = self.refusal()
        if refused is None:
            return None
        started = time.perf_counter()
        headers = dict(request_headers)
        outcome = Outcome(self._request_id(headers), headers, False, "image", refused.status)
        outcome.extra = {"error": refused.reason}
        _, answer_headers, body = error_response(refused, self.error_ttl)
        path = target.partition(b"?")[0].decode("utf-8", "surrogateescape")
        self._done(started, outcome, "GET", unquote(path) if "%" in path else path)
        rid = (b"x-request-id", outcome.request_id.encode())
        kept = [h for h in answer_headers if h[0] != b"content-length"]
        return [rid, *kept], body, refused.retry_after

    def _request_id(self, headers: dict[bytes, bytes]) -> str:
        """The client's X-Request-ID when usable, else the next of this process's ids."""
        return _client_request_id(headers) or f"{self._id_prefix}{next(self._ids):08x}"

    def _done(self, started: float, outcome: Outcome, method: str, path: str) -> None:
        """Count a request and write its access log line."""
        elapsed = time.perf_counter() - started
        self.metrics.request_done(outcome.route, outcome.status, elapsed, outcome.size)
        if self.access_log:
            log.info(
                "request",
                extra={
                    "request_id": outcome.request_id,
                    "method": method,
                    "path": path,
                    "status": outcome.status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "bytes": outcome.size,
                    **outcome.extra,
                },
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.readiness.ready = True
                await send({"type": "lifespan.startup.complete"})
                server_log.info("startup complete")
            elif message["type"] == "lifespan.shutdown":
                self.readiness.ready = False
                await send({"type": "lifespan.shutdown.complete"})
                server_log.info("shutdown complete")
                return


def create_app(
    delivery: DeliveryService,
    metrics: Metrics,
    config: HttpConfig,
    api_routers: Sequence[APIRouter] = (),
    readiness_checks: Mapping[str, Callable[[], Awaitable[object]]] | None = None,
) -> App:
    """The application over a delivery service, with the API routers given; `/ready`
    answers 503 while any of `readiness_checks` fails."""
    readiness = Readiness(checks=readiness_checks or {})
    hot = HotTable(delivery) if config.hot_path else None
    image = ImageEndpoint(delivery, ImageConfig(config.ttl, config.error_ttl), hot)
    api = api_app(api_routers, error_ttl=0)  # answers that depend on who asks: not cached

    async def openapi(request: Request) -> Response:
        return JSONResponse(api.openapi())

    routes: list[BaseRoute] = [
        *ops_routes(readiness, metrics, delivery.admission),
        Route("/openapi.json", openapi, methods=["GET"], name="openapi"),
        ApiMount(PREFIX, api),
    ]
    router = Router(routes, redirect_slashes=False, default=image)
    return App(
        router,
        metrics,
        readiness,
        hot=hot,
        access_log=config.access_log,
        error_ttl=config.error_ttl,
        refusal=delivery.refusal if config.hot_path else None,
    )


class ApiMount(Mount):
    """The API at `PREFIX`: every path under it, whatever its characters. Starlette's mount
    pattern (`.*`) stops at a newline, so `/v1/assets/a%0Ab` would go to the image route."""

    def __init__(self, prefix: str, api: ASGIApp) -> None:
        super().__init__(prefix, app=api, name="api")
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def _first_segment(target: bytes) -> bytes:
    return target.partition(b"?")[0].split(b"/", 2)[1] if target.startswith(b"/") else b""


def _client_request_id(headers: dict[bytes, bytes]) -> str | None:
    """The client's X-Request-ID when it is short and printable."""
    value = headers.get(b"x-request-id")
    if value is None:
        return None
    text = value.decode("latin-1")
    return text if 0 < len(text) <= 128 and text.isprintable() else None
