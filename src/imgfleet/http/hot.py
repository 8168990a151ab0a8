"""The hot table: repeated GETs of cached renditions, answered before ASGI.

The rule (`service/delivery.py` says it from the service's side): an entry is made only from
a delivery the service marked `reusable`, and an answer from the table skips only what the
service decided from that request's path and Accept alone (the signature, the options, the
negotiation and the cache key). The rendition always comes from
`DeliveryService.cached_rendition`, which every answer from the cache goes through, so what
every request must pass is checked there for hot answers too. The table is looked up once
per request, by the server's parser callback (`http/server.py`); the ASGI path never reads
it, it only fills it.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgfleet.service.delivery import Delivery, DeliveryService

Headers = list[tuple[bytes, bytes]]

ENTRIES = 4096  # (path, Accept) pairs remembered; a client cycling more only refills it


@dataclass(frozen=True, slots=True)
class HotEntry:
    key: str  # the rendition's cache key
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
        self._entries[(path, accept)] = HotEntry(delivery.presentation.key, headers)

    def answer(self, path: str, accept: str) -> tuple[Headers, bytes] | None:
        """The headers and body for a GET of `path` with `accept`, or None: not hot, or the
        rendition has left the cache (the ASGI path then answers, and may refill it)."""
        entry = self._entries.get((path, accept))
        if entry is None:
            return None
        rendition = self._delivery.cached_rendition(entry.key)
        if rendition is None:
            del self._entries[(path, accept)]
            return None
        return entry.headers, rendition.body
