"""The outbox relay: publishes the events the metadata store committed, then marks them.

A crash between a commit and its publish only delays the event: it is still pending at the
next start. A crash between a publish and its mark publishes it again, which the bus drops
(JetStream by `Nats-Msg-Id`) or its consumers apply idempotently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass

from imgfleet.core.errors import StorageUnavailable
from imgfleet.ports import Clock, EventBus, MetadataStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    interval: float  # seconds between looks at the outbox when it was empty
    batch: int  # events published per look, at most
    retention: float  # seconds a published event stays in the outbox (the change feed)
    max_backoff: float  # seconds between attempts while the bus or the store is down


class OutboxRelay:
    def __init__(
        self, config: RelayConfig, store: MetadataStore, bus: EventBus, clock: Clock
    ) -> None:
        self.config = config
        self.store = store
        self.bus = bus
        self.clock = clock
        self.published = 0
        self._woken = asyncio.Event()

    def wake(self) -> None:
        """An event was committed on this node: publish now rather than at the next look."""
        self._woken.set()

    async def relay_once(self) -> int:
        """Publish what is pending, in commit order; how many were published."""
        events = await self.store.pending_events(self.config.batch)
        done: list[str] = []
        try:
            for event in events:
                await self.bus.publish(event)
                done.append(event.id)
        finally:
            if done:
                await self.store.mark_published(done)
                self.published += len(done)
        return len(done)

    async def run(self) -> None:
        """Relay until cancelled; while the bus or the store is down, retry with backoff."""
        c = self.config
        backoff = 0.0
        forgotten_at = 0.0
        while True:
            try:
                count = await self.relay_once()
                if self.clock.time() - forgotten_at > c.retention / 10:
                    forgotten_at = self.clock.time()
                    await self.store.forget_events(forgotten_at - c.retention)
                backoff = 0.0
                if count == c.batch:
                    continue  # more may be pending
                delay = c.interval
            except StorageUnavailable as error:
                backoff = min(max(backoff * 2, c.interval), c.max_backoff)
                delay = backoff * random.uniform(0.5, 1.0)
                log.warning("outbox relay: %s; retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._woken.wait()
            self._woken.clear()
