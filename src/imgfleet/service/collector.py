"""The collector: removes originals that no asset needs any more, and tombstones every region
holds.

One rule covers both cases of originals: bytes that a crash left without metadata (stored,
then the process died before the commit), and a deleted asset's bytes once its grace period
is over. An original is removed when it is older than the grace period and neither a live
asset nor one deleted within the grace period has its sha256. The age test keeps an upload
that is between its blob write and its commit safe (a blob store's `modified` is the last
write).

A tombstone past the same grace period is forgotten once the peers' copies show it held
everywhere (`core.replication.tombstone_settled`); a peer that does not answer keeps it.
The grace period is also what protects against an event older than the delete arriving
after it is forgotten (from a region cut off for longer than that), which would bring the
asset back: keep it longer than any partition the regions should survive."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from imgfleet.core.assets import ORIGINALS, SHA256_PATTERN, Asset
from imgfleet.core.errors import StorageUnavailable
from imgfleet.core.replication import tombstone_settled
from imgfleet.ports import BlobStore, Clock, MetadataStore, Peers

log = logging.getLogger(__name__)

TOMBSTONES_PER_SWEEP = 1_000  # oldest first; the rest wait for the next sweep
TOMBSTONES_AT_ONCE = 16  # whose peers are asked at the same time


class Collector:
    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        *,
        grace: float,
        interval: float,
        region: str = "",
        peers: Peers | None = None,
        peer_names: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.grace = grace  # seconds
        self.interval = interval  # seconds between sweeps
        self.region = region
        self.peers = peers
        self.peer_names = tuple(peer_names)
        self.removed = 0
        self._asking = asyncio.Semaphore(TOMBSTONES_AT_ONCE)

    async def forget_tombstones(self) -> int:
        """One sweep over the tombstones past their grace period; how many it forgot."""
        tombstones = await self.store.tombstones(
            self.clock.time() - self.grace, TOMBSTONES_PER_SWEEP
        )
        return sum(await asyncio.gather(*(self._forget(t) for t in tombstones)))

    async def _forget(self, tombstone: Asset) -> bool:
        origin = tombstone.hlc.region
        asked = (
            (origin,) if origin != self.region and origin in self.peer_names else self.peer_names
        )
        try:
            async with self._asking:
                copies = await asyncio.gather(*(self._copy(peer, tombstone.id) for peer in asked))
        except StorageUnavailable:
            return False  # a peer that does not answer may not hold it yet
        if not tombstone_settled(tombstone, self.region, dict(zip(asked, copies, strict=True))):
            return False
        return await self.store.forget_tombstone(tombstone)

    async def _copy(self, peer: str, asset_id: str) -> Asset | None:
        assert self.peers is not None  # asked only when there are peers
        return await self.peers.asset(peer, asset_id)

    async def collect_once(self) -> int:
        """One sweep over the originals; how many it removed."""
        cutoff = self.clock.time() - self.grace
        removed = 0
        async for blob in self.blobs.list(ORIGINALS):
            sha256 = blob.key.rpartition("/")[2]
            if blob.modified > cutoff or not SHA256_PATTERN.fullmatch(sha256):
                continue
            if not await self.store.sha256_in_use(sha256, deleted_after=cutoff):
                await self.blobs.delete(blob.key)
                removed += 1
        self.removed += removed
        return removed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                forgotten = await self.forget_tombstones()
                removed = await self.collect_once()
            except StorageUnavailable as error:
                log.warning("collector: %s", error)
            else:
                if removed or forgotten:
                    log.info(
                        "collector removed %d unused originals and %d settled tombstones",
                        removed,
                        forgotten,
                    )
