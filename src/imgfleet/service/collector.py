"""The collector: removes originals that no asset needs any more.

One rule covers both cases: bytes that a crash left without metadata (stored, then the
process died before the commit), and a deleted asset's bytes once its grace period is over.
An original is removed when it is older than the grace period and neither a live asset nor
one deleted within the grace period has its sha256. The age test keeps an upload that is
between its blob write and its commit safe (a blob store's `modified` is the last write)."""

from __future__ import annotations

import asyncio
import logging

from imgfleet.core.assets import ORIGINALS, SHA256_PATTERN
from imgfleet.core.errors import StorageUnavailable
from imgfleet.ports import BlobStore, Clock, MetadataStore

log = logging.getLogger(__name__)


class Collector:
    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        clock: Clock,
        *,
        grace: float,
        interval: float,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.clock = clock
        self.grace = grace  # seconds
        self.interval = interval  # seconds between sweeps
        self.removed = 0

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
                removed = await self.collect_once()
            except StorageUnavailable as error:
                log.warning("collector: %s", error)
            else:
                if removed:
                    log.info("collector removed %d unused originals", removed)
