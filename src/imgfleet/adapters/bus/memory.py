"""`memory://?queue=N&remember=N`: the event bus inside one process (one node, or tests).

Every subscriber has its own queue of at most `queue` events. A subscriber that falls that
far behind is cut off rather than allowed to slow the publisher (the outbox relay) or to
miss events unnoticed: it reads what was queued, then `StorageUnavailable`, and must
subscribe again and catch up from the metadata store's change feed. Redis does the same to
a pub/sub client past its output buffer limit.

A second publish of an event id among the last `remember` ids published is dropped, as
JetStream drops one within its duplicate window; the bound is by count, not time, so memory
stays bounded whatever the rate and no clock is needed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Self

from imgfleet.core.assets import Event
from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.errors import StorageUnavailable

DEFAULT_QUEUE = 1024
DEFAULT_REMEMBER = 10_000


class InProcessEventBus:
    def __init__(self, *, queue: int = DEFAULT_QUEUE, remember: int = DEFAULT_REMEMBER) -> None:
        for name, value in (("queue", queue), ("remember", remember)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, received {value}")
        self._queue = queue
        self._remember = remember
        self._seen: OrderedDict[str, int] = OrderedDict()  # event id: sequence, oldest first
        self._sequence = 0
        self._subscribers: set[Subscription] = set()
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> InProcessEventBus:
        parsed = BackendUrl.parse(url, {"queue", "remember"})
        return cls(
            queue=parsed.integer("queue", DEFAULT_QUEUE, minimum=1),
            remember=parsed.integer("remember", DEFAULT_REMEMBER, minimum=1),
        )

    async def publish(self, event: Event) -> int:
        if self._closed:
            raise StorageUnavailable("event bus: closed")
        if event.id in self._seen:
            return self._seen[event.id]
        self._sequence += 1
        self._seen[event.id] = self._sequence
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        for subscriber in list(self._subscribers):
            subscriber._offer(event)
        return self._sequence

    async def applied_by(self, sequence: int) -> frozenset[str]:
        return frozenset()  # in one process: no peer region reads it

    async def check(self) -> None:
        if self._closed:
            raise StorageUnavailable("event bus: closed")

    def subscribe(self) -> Subscription:
        """Events published from now on, in publish order. Registered at once (not at the
        first read), so nothing published between this call and the first read is missed."""
        if self._closed:
            raise StorageUnavailable("event bus: closed")
        subscription = Subscription(self, self._queue)
        self._subscribers.add(subscription)
        return subscription

    async def aclose(self) -> None:
        """Stop taking events; subscribers read what is queued, then their iteration ends."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber._end(None)

    def _forget(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)


class Subscription:
    """One subscriber's events: `async for event in subscription`, or `take_queued()`."""

    def __init__(self, bus: InProcessEventBus, size: int) -> None:
        self._bus = bus
        self._size = size
        self._events: deque[Event] = deque()
        self._arrived = asyncio.Event()
        self._ended = False
        self._failure: str | None = None  # why it was cut off

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        while not self._events:
            if self._failure is not None:
                raise StorageUnavailable(self._failure)
            if self._ended:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self._events.popleft()

    def take_queued(self) -> list[Event]:
        """The events queued now, without waiting (for a caller that applies batches)."""
        if not self._events and self._failure is not None:
            raise StorageUnavailable(self._failure)
        taken = list(self._events)
        self._events.clear()
        return taken

    async def aclose(self) -> None:
        """Unsubscribe; what was queued is dropped."""
        self._events.clear()
        self._end(None)

    def _offer(self, event: Event) -> None:
        if len(self._events) >= self._size:
            self._end(f"event bus: subscriber fell {self._size} events behind; resubscribe")
            return
        self._events.append(event)
        self._arrived.set()

    def _end(self, failure: str | None) -> None:
        if self._ended:
            return
        self._bus._forget(self)
        self._ended = True
        self._failure = failure
        self._arrived.set()
