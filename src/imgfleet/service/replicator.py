"""Applies one peer region's changes to this region.

Events come from the peer's stream in batches (`ports.PeerFeed`). For each event whose asset
is live, the original must be here before the record is: it is pulled by hash from the peer
(which holds every original its events name, by the same rule), verified, and stored; then
the metadata store merges the record (`MetadataStore.apply`, by `core.replication.winner`),
and the event is acked. The events of one batch are handled at once (pulls bounded), each
applied when its original is here: the merge does not depend on order. An event whose
original cannot be had now is handed back with a delay (`retry`), holding up nothing.

A peer's bus that cannot be reached (down, cut off) is retried with capped, jittered
backoff; the consumer's cursor lives on the peer's server, so nothing is lost meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from imgfleet.core.assets import AssetEvent, Event
from imgfleet.core.errors import StorageUnavailable
from imgfleet.core.hlc import Hlc
from imgfleet.ports import BlobStore, Clock, Delivery, MetadataStore, PeerFeed, Peers
from imgfleet.service.originals import pull_original

log = logging.getLogger(__name__)

COUNT_EVERY = 1.0  # seconds between reads of the peer's count of events pending for us


@dataclass(frozen=True, slots=True)
class ReplicatorConfig:
    batch: int = 100  # events fetched at once, while events keep coming
    # A fetch of several events returns when its batch is full or its wait is over, so an
    # event that arrives during one waits for that. Idle, the replicator therefore asks for
    # one event at a time (handed over the moment it arrives), for up to `wait` seconds;
    # busy, for a batch, for up to `linger` seconds.
    wait: float = 1.0
    linger: float = 0.25
    pulls: int = 16  # originals pulled at once (each one round trip, at least)
    retry_delay: float = 2.0  # before an event whose original could not be had comes again
    backoff: float = 0.5  # first wait after the peer's bus failed; doubles up to max_backoff
    max_backoff: float = 5.0
    # A peer's clock further ahead than this is not followed: its events wait (handed back)
    # until ours catches up, so that no region's writes are dragged into the future.
    max_skew: float = 60.0


@dataclass(slots=True)
class PeerState:
    """What this region knows of its replication from one peer (for metrics and status)."""

    applied: int = 0  # events merged
    repeated: int = 0  # events delivered again after they were applied
    pulled: int = 0  # originals pulled
    pulled_bytes: int = 0
    held_back: int = 0  # events handed back to come again (original not to be had, skew)
    retries: int = 0  # fetches from the peer's stream that failed, tried again after a wait
    watermark: Hlc | None = None  # clock of the newest event applied
    lag_seconds: float = 0.0  # of the last event applied: its clock to its apply
    connected: bool = False
    pending_events: int | None = None  # of the peer's stream, not yet acked by us; None: unknown
    pending_bytes: int = 0  # originals of events fetched and not yet applied
    lags: list[float] = field(default_factory=list)  # recent lags, for quantiles
    counted_at: float = 0.0  # when pending_events was read


class Replicator:
    def __init__(
        self,
        peer: str,
        feed: PeerFeed,
        *,
        store: MetadataStore,
        blobs: BlobStore,
        peers: Peers,
        clock: Clock,
        config: ReplicatorConfig = ReplicatorConfig(),
    ) -> None:
        self.peer = peer
        self.feed = feed
        self.store = store
        self.blobs = blobs
        self.peers = peers
        self.clock = clock
        self.config = config
        self.state = PeerState()
        self._pulls = asyncio.Semaphore(config.pulls)
        self._applying: asyncio.Future[None] | None = None

    async def settle(self, seconds: float = 10.0) -> None:
        """After `run` was cancelled: let the batch being applied finish (within `seconds`,
        else cancel it: its events come again), before the stores close."""
        applying = self._applying
        if applying is None or applying.done():
            return
        done, _ = await asyncio.wait([applying], timeout=seconds)
        if not done:
            applying.cancel()
            await asyncio.gather(applying, return_exceptions=True)

    async def run(self) -> None:
        backoff = self.config.backoff
        busy = False
        while True:
            try:
                if busy:
                    deliveries = await self.feed.fetch(self.config.batch, self.config.linger)
                else:
                    deliveries = await self.feed.fetch(1, self.config.wait)
                busy = bool(deliveries)
                self.state.connected = True
                # Shielded: a stop cancels the wait, never an apply in the middle of its
                # transaction; `settle` then lets the batch finish.
                self._applying = asyncio.ensure_future(self.handle(deliveries))
                await asyncio.shield(self._applying)
                if self.clock.monotonic() - self.state.counted_at >= COUNT_EVERY:
                    self.state.pending_events = await self.feed.pending()
                    self.state.counted_at = self.clock.monotonic()
                backoff = self.config.backoff
            except StorageUnavailable as error:
                if self.state.connected:
                    log.warning("replication from %s stopped: %s", self.peer, error)
                self.state.connected = False
                self.state.pending_events = None
                self.state.retries += 1
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.config.max_backoff)

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        """Apply a batch: each event as soon as its original is here (several pulls at once),
        so that one slow pull holds up only its own event."""
        self.state.pending_bytes = sum(
            d.event.asset.bytes for d in deliveries if isinstance(d.event, AssetEvent)
        )
        await asyncio.gather(*(self._handle(delivery) for delivery in deliveries))

    async def _handle(self, delivery: Delivery) -> None:
        if not await self._ready(delivery.event):
            self.state.held_back += 1
            await self.feed.retry(delivery, self.config.retry_delay)
            return
        if await self.store.apply(delivery.event):
            self._applied(delivery.event)
        else:
            self.state.repeated += 1
        await self.feed.ack(delivery)
        if isinstance(delivery.event, AssetEvent):
            self.state.pending_bytes -= delivery.event.asset.bytes

    def _applied(self, event: Event) -> None:
        state = self.state
        state.applied += 1
        if state.watermark is None or event.hlc > state.watermark:
            state.watermark = event.hlc
        state.lag_seconds = max(0.0, self.clock.time() - event.hlc.wall / 1000)
        state.lags.append(state.lag_seconds)
        del state.lags[:-1000]

    async def _ready(self, event: Event) -> bool:
        ahead = event.hlc.wall / 1000 - self.clock.time()
        if ahead > self.config.max_skew:
            log.warning(
                "peer %s: event %s is %.0f s ahead of our clock", self.peer, event.id, ahead
            )
            return False
        return not isinstance(event, AssetEvent) or await self._original_here(event)

    async def _original_here(self, event: AssetEvent) -> bool:
        """Whether the event's original is in this region's blob store, pulled if need be;
        a tombstone needs none."""
        if not event.asset.live:
            return True
        async with self._pulls:
            pulled = await pull_original(self.peer, event.asset.sha256, self.peers, self.blobs)
        if pulled is None:
            return False
        if pulled:
            self.state.pulled += 1
            self.state.pulled_bytes += pulled
        return True
