"""`asset://<id>` sources: a delivery URL naming one of the region's assets, and the
renditions made of it, stored in the blob store so that any node of the region (or this one,
restarted) serves them without rendering.

Every read that is not a hit of this node's memory checks the asset first, from a small
catalog that the change feed keeps current: a deleted asset's URLs answer 410 on every node
once the feed has brought the delete, and its renditions in the region cache or the blob
store, if a purge missed any, can no longer be reached.
"""

from __future__ import annotations

import asyncio
import logging

from imgfleet.core.assets import Asset, is_id, original_key, rendition_key
from imgfleet.core.errors import (
    BlobCorrupt,
    Gone,
    NotCaughtUp,
    SourceNotFound,
    StorageUnavailable,
    TooLarge,
)
from imgfleet.core.hlc import Hlc
from imgfleet.core.lru import ByteLRU
from imgfleet.core.rendition import Rendition, from_stored, stored_form
from imgfleet.core.replication import covers
from imgfleet.ports import BlobStore, Clock, MetadataStore
from imgfleet.service.pull_through import PullThrough

log = logging.getLogger(__name__)

SCHEME = "asset://"
CATALOG_ENTRIES = 65_536  # assets whose record this node keeps in memory
CATCH_UP_WAIT = 0.5  # seconds a read-your-writes request waits for replication
CATCH_UP_POLL = 0.02
PENDING_STORES = 64  # renditions being written at once; past that, one more is not kept


def asset_id_of(url: str) -> str | None:
    """The id an `asset://` URL names; None for any other URL."""
    if not url.startswith(SCHEME):
        return None
    asset_id = url[len(SCHEME) :]
    if not is_id(asset_id):
        raise SourceNotFound(f"source: no asset {asset_id!r:.40} (ids are 26 characters)")
    return asset_id


class AssetSource:
    """Reads assets' originals and stored renditions (a `SourceLoader` for `asset`)."""

    def __init__(
        self,
        store: MetadataStore,
        blobs: BlobStore,
        entries: int = CATALOG_ENTRIES,
        *,
        region: str = "local",
        clock: Clock | None = None,
        pull: PullThrough | None = None,
        catch_up_wait: float = CATCH_UP_WAIT,
    ) -> None:
        self.metadata = store
        self.blobs = blobs
        self.region = region
        self.clock = clock
        self.pull = pull  # asks other regions for an asset this one lacks
        self.catch_up_wait = catch_up_wait
        self._catalog: ByteLRU[str, Asset] = ByteLRU(entries, lambda asset: 1)
        self._stores: set[asyncio.Task[None]] = set()

    async def live(self, asset_id: str) -> Asset:
        """The asset, if it is live: 404 when there is none, 410 once deleted."""
        asset = self._catalog.get(asset_id)
        if asset is None:
            asset = await self.metadata.asset(asset_id)
            if asset is None and self.pull is not None:  # nearest peer first
                asset = await self.pull(asset_id)
            if asset is None:
                raise SourceNotFound(f"source: no asset {asset_id}")
            self._catalog.put(asset_id, asset)
        if not asset.live:
            raise Gone(f"source: asset {asset_id} was deleted")
        return asset

    async def caught_up(self, asset_id: str, written: Hlc) -> bool:
        """Make this region's record of the asset include the write stamped `written`
        (read-your-writes): wait up to `catch_up_wait` for replication to bring it, then
        take the record from the write's home region (read repair); `NotCaughtUp` when
        neither brought the write. True when what this node remembers of the asset is older
        than the write (the change feed has not caught up, or there is nothing to compare):
        the caller must forget it, renditions included, and read the store again."""
        if covers(self._catalog.get(asset_id), written):
            return False
        if written.region == self.region or covers(await self.metadata.asset(asset_id), written):
            return True  # committed in the region's store: this node's memory is behind
        if self.clock is not None:
            deadline = self.clock.monotonic() + self.catch_up_wait
            while self.clock.monotonic() < deadline:
                await asyncio.sleep(CATCH_UP_POLL)
                if covers(await self.metadata.asset(asset_id), written):
                    return True
        if self.pull is not None and covers(
            await self.pull.from_peer(written.region, asset_id), written
        ):
            return True
        raise NotCaughtUp(
            f"asset {asset_id}: this region has not applied the write {written} yet, and its "
            f"home region {written.region} did not answer; retry"
        )

    def forget(self, asset_id: str) -> None:
        """Drop what this node remembers of the asset: it changed or went."""
        self._catalog.pop(asset_id)

    async def fetch(self, url: str, max_bytes: int) -> bytes:
        asset_id = asset_id_of(url)
        if asset_id is None:
            raise SourceNotFound(f"source: not an asset URL: {url!r:.60}")
        asset = await self.live(asset_id)
        if asset.bytes > max_bytes:
            raise TooLarge(f"source is {asset.bytes} bytes; the limit is {max_bytes}")
        data = await self.blobs.get(original_key(asset.sha256), sha256=asset.sha256)
        if data is None:
            raise BlobCorrupt(f"asset {asset_id}: its original is missing from the blob store")
        return data

    async def stored(self, asset_id: str, key: str) -> Rendition | None:
        """The rendition stored under `key`; None when there is none, when it is torn (a
        crash while it was written) or when the store fails."""
        try:
            blob = await self.blobs.get(rendition_key(asset_id, key))
        except StorageUnavailable:
            return None
        return None if blob is None else from_stored(blob)

    def store_later(self, asset_id: str, key: str, rendition: Rendition) -> None:
        """Keep a rendition for the region, after the response: a failure, or a rendition
        not kept because many are being written, costs only a later render."""
        if len(self._stores) >= PENDING_STORES:
            return
        task = asyncio.get_running_loop().create_task(self._store(asset_id, key, rendition))
        self._stores.add(task)
        task.add_done_callback(self._stores.discard)

    async def settle(self) -> None:
        """Wait for the renditions being written (at shutdown, and for tests)."""
        while self._stores:
            await asyncio.gather(*self._stores)

    async def _store(self, asset_id: str, key: str, rendition: Rendition) -> None:
        try:
            blob = stored_form(rendition)
            await self.blobs.put(rendition_key(asset_id, key), blob, durable=False)
        except StorageUnavailable as error:
            log.warning("rendition of asset %s not stored: %s", asset_id, error)
