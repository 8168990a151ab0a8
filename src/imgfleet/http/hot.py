"""The hot table: repeated GETs of cached renditions, answered before ASGI.

The rule (`service/delivery.py` says it from the service's side): an entry is made only from
a delivery the service marked `reusable`, and an answer from the table skips only what the
service decided from that request's path and Accept alone (the signature, the options, the
negotiation and the cache key). The rendition always comes from
`DeliveryService.cached_rendition`, which every answer from the cache goes through, so what
every request must pass is checked there for hot answers too. A request looks the table up
at most once: an unconditional GET in the server's parser callback (`http/server.py`),
which marks the scope with the ASGI extension `CHECKED` when it found nothing; any other
request (HEAD, a revalidation with If-None-Match, HTTP/1.0, an ASGI server without that
callback) in the image route.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgfleet.core.rendition import Rendition
from imgfleet.http.headers import etag
from imgfleet.service.delivery import Delivery, DeliveryService

Headers = list[tuple[bytes, bytes]]

ENTRIES = 4096  # (path, Accept) pairs remembered; a client cycling more only refills it
CHECKED = "imgfleet.hot_checked"  # an ASGI extension: the parser callback looked it up


@dataclass(frozen=True, slots=True)
class HotEntry:
    key: str  # the rendition's cache key
    etag: bytes
    headers: Headers  # the response's headers but the request id and the body's length


class HotTable:
    """(path, Accept) → a rendition's key and its response headers, bounded by count."""

    def __init__(self, delivery: DeliveryService, entries: int = ENTRIES) -> None:
        self._delivery = delivery
        self._entries: dict[tuple[str, str], HotEntry] = {}
        self._capacity = entries

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, path: str, accept: str, delivery: Delivery, headers: Headers) -> None:
        """Keep the answer to `path` with `accept`, if the service says it is reusable."""
        if not delivery.reusable:
            return
        if len(self._entries) >= self._capacity:
            self._entries.clear()
        presentation = delivery.presentation
        self._entries[(path, accept)] = HotEntry(presentation.key, etag(presentation), headers)

    def find(self, path: str, accept: str) -> tuple[HotEntry, Rendition] | None:
        """The answer to `path` with `accept` and its rendition, or None: not hot, or the
        rendition has left the cache (the service then answers, and may refill the table)."""
        entry = self._entries.get((path, accept))
        if entry is None:
            return None
        rendition = self._delivery.cached_rendition(entry.key)
        if rendition is None:
            del self._entries[(path, accept)]
            return None
        return entry, rendition
