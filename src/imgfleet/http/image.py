"""The image route, `GET /<signature>/<options>/<source>`: a lean raw-ASGI endpoint, the
router's catch-all. One service call per request; errors become JSON responses."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from imgfleet.core.errors import ClientGone, ImgfleetError, Overloaded
from imgfleet.core.rendition import Rendition
from imgfleet.http.asgi import Headers, Receive, Scope, Send, send_error, send_response
from imgfleet.http.headers import etag, etag_matches, rendition_headers, written_clock
from imgfleet.http.hot import CHECKED, HotTable
from imgfleet.http.outcome import HIT, SCOPE_KEY, Outcome
from imgfleet.service.delivery import DeliveryService

_ALLOW = [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain; charset=utf-8")]
_NOT_ALLOWED = b"method not allowed\n"


@dataclass(frozen=True, slots=True)
class ImageConfig:
    ttl: int  # max-age of renditions
    error_ttl: int  # max-age of client errors


class ImageEndpoint:
    def __init__(
        self, delivery: DeliveryService, config: ImageConfig, hot: HotTable | None = None
    ) -> None:
        self.delivery = delivery
        self.config = config
        self.hot = hot  # filled with reusable answers; None: the hot path is off

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        outcome: Outcome = scope[SCOPE_KEY]  # put there by the app
        outcome.route = "image"
        method: str = scope["method"]
        if method not in ("GET", "HEAD"):
            allow = [*_ALLOW, (b"content-length", str(len(_NOT_ALLOWED)).encode())]
            await send_response(send, 405, allow, _NOT_ALLOWED)
            return
        raw_path = (scope.get("raw_path") or scope["path"].encode()).partition(b"?")[0]
        path = raw_path.decode("utf-8", "surrogateescape")
        accept = outcome.headers.get(b"accept", b"").decode("latin-1")
        written = written_clock(outcome.headers.items())
        if self.hot is not None and written is None and CHECKED not in scope.get("extensions", ()):
            found = self.hot.find(path, accept)
            if found is not None:
                entry, rendition = found
                outcome.extra = HIT
                await self._answer(send, method, outcome, entry.etag, entry.headers, rendition)
                return
        try:
            delivery = await self.delivery.deliver(
                path, accept, lambda: _disconnected(receive), written
            )
        except ClientGone as gone:  # nobody to answer; logged and counted as nginx's 499
            outcome.status, outcome.extra = gone.status, {"error": gone.reason}
            return
        except ImgfleetError as error:  # a bug is answered and logged by the app
            outcome.extra = {"error": error.reason}
            if isinstance(error, Overloaded):
                outcome.hold = error.retry_after
            await send_error(send, error, self.config.error_ttl, method)
            return
        outcome.extra = {"cache": delivery.tier.value}
        rendition = delivery.rendition
        head = rendition_headers(
            delivery.presentation, rendition.media_type, self.config.ttl, time.time()
        )
        if self.hot is not None and written is None:
            self.hot.remember(path, accept, delivery, head)
        await self._answer(send, method, outcome, etag(delivery.presentation), head, rendition)

    @staticmethod
    async def _answer(
        send: Send,
        method: str,
        outcome: Outcome,
        tag: bytes,
        head: Headers,
        rendition: Rendition,
    ) -> None:
        """200 with the rendition (no body for HEAD), or 304 when If-None-Match names it."""
        if etag_matches(outcome.headers.get(b"if-none-match"), tag):
            kept = [h for h in head if h[0] != b"content-type"]
            await send_response(send, 304, kept, b"")
            return
        head = [*head, (b"content-length", str(len(rendition.body)).encode())]
        await send_response(send, 200, head, b"" if method == "HEAD" else rendition.body)


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
