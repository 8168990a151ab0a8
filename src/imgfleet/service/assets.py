"""A tenant's assets: upload, read, edit, delete, list.

The order of an upload's writes is what keeps a crash harmless: the original's bytes are
stored (atomically) before the metadata that points at them, and the metadata commits with
its outbox event in one transaction. A crash before the commit leaves at most bytes that no
asset names, which the collector (`service/collector.py`) removes after the grace period; a
crash after it leaves an event the relay publishes at its next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from imgfleet.core import limits
from imgfleet.core.appearance import Appearance
from imgfleet.core.assets import (
    SHA256_PATTERN,
    Asset,
    AssetEvent,
    EventType,
    Page,
    decode_cursor,
    encode_cursor,
    is_id,
    new_id,
    original_key,
    rendition_prefix,
    sha256_of,
)
from imgfleet.core.errors import (
    BadRequest,
    BlobCorrupt,
    CacheUnavailable,
    Conflict,
    Gone,
    IdempotencyConflict,
    NotFound,
    StorageUnavailable,
    TooLarge,
    UnsupportedMedia,
)
from imgfleet.core.hlc import Hlc
from imgfleet.core.replication import WriteConcern
from imgfleet.core.source import SourceInfo
from imgfleet.ports import (
    BlobStore,
    Clock,
    EventBus,
    IdempotencyRecord,
    MetadataStore,
    RegionCache,
)
from imgfleet.service.admission import Admission
from imgfleet.service.hlc_clock import HlcClock

log = logging.getLogger(__name__)

GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
UPDATE_ATTEMPTS = 3  # compare-and-set rounds before a concurrent edit wins with 409
DESCRIBE_SECONDS = 10.0  # deadline of an upload's placeholder
CONCERN_POLL = 0.02  # seconds between looks at which regions applied an upload


@dataclass(frozen=True, slots=True)
class AssetsConfig:
    region: str  # this region's id: an upload's home, its clocks' tie-breaker
    limits: limits.Limits  # the delivery limits apply to uploads too
    regions: int = 1  # in the cluster, this one included
    write_concern: WriteConcern = WriteConcern.LOCAL  # of an upload that names none
    write_timeout: float = 5.0  # seconds an upload waits for its write concern


@dataclass(frozen=True, slots=True)
class Replication:
    """Where a new upload was stored when it was answered, against its write concern."""

    concern: WriteConcern
    needed: int  # regions, the home one included
    regions: tuple[str, ...]  # that held it: the home region first

    @property
    def met(self) -> bool:
        return len(self.regions) >= self.needed


@dataclass(frozen=True, slots=True)
class Upload:
    asset: Asset
    created: bool  # False: the tenant had these bytes already, and this is that asset
    replication: Replication | None = None  # of a new asset


@dataclass(frozen=True, slots=True)
class Edit:
    """A PATCH: `tags` replace the asset's when given; `metadata` is merged (RFC 7396):
    a key set to None is removed."""

    tags: tuple[str, ...] | None = None
    metadata: Mapping[str, str | None] | None = None


class AssetService:
    def __init__(
        self,
        config: AssetsConfig,
        *,
        store: MetadataStore,
        blobs: BlobStore,
        probe: Callable[[bytes], SourceInfo],
        describe: Callable[[bytes], Appearance],
        admission: Admission,
        clock: Clock,
        region_cache: RegionCache | None = None,
        bus: EventBus | None = None,
        pull: Callable[[str], Awaitable[Asset | None]] | None = None,
        caught_up: Callable[[str, Hlc], Awaitable[bool]] | None = None,
        forget: Callable[[str], object] = lambda asset_id: None,
        committed: Callable[[], None] = lambda: None,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.config = config
        self.store = store
        self.blobs = blobs
        self.probe = probe  # reads a header in this process
        self.describe = describe  # decodes: runs on an admitted worker
        self.admission = admission
        self.clock = clock
        self.hlc = HlcClock(config.region, clock)
        self.region_cache = region_cache
        self.bus = bus  # where other regions read this one's events: for write concerns
        self.pull = pull  # asks other regions for an asset this one lacks
        self.caught_up = caught_up  # brings an asset up to a write (read-your-writes)
        self.forget = forget  # drops an asset from this node's memory (renditions included)
        self.committed = committed  # an event is in the outbox: the relay may publish it now
        self.entropy = entropy

    async def upload(
        self,
        tenant: str,
        data: bytes,
        content_type: str | None,
        idempotency_key: str | None,
        concern: WriteConcern | None = None,
    ) -> Upload:
        """Store `data` as the tenant's asset, or return the one with the same bytes. A new
        asset is answered once its write concern is met, or its time is up (`replication`
        says which); it is stored either way and replicates later."""
        if not data:
            raise BadRequest("body: expected an image, received 0 bytes")
        lim = self.config.limits
        if len(data) > lim.max_src_bytes:
            raise TooLarge(f"upload is {len(data)} bytes; the limit is {lim.max_src_bytes}")
        sha256 = await asyncio.to_thread(sha256_of, data)
        if idempotency_key is not None:
            done = await self._retried(tenant, idempotency_key, sha256)
            if done is not None:
                return done
        info = self.probe(data)
        _check_media_type(content_type, info)
        limits.check_source(info, lim)
        place = self.admission.reserve()
        try:
            deadline = self.clock.monotonic() + DESCRIBE_SECONDS
            cost = info.width * info.height * 4  # one frame, decoded at most once
            appearance = await self.admission.run(
                place, self.describe, data, cost=cost, deadline=deadline
            )
        finally:
            place.release()
        await self.blobs.put(original_key(sha256), data)
        now = self.clock.time()
        asset = Asset(
            id=self._new_id(now),
            tenant=tenant,
            sha256=sha256,
            format=info.format,
            width=info.width,
            height=info.height,
            bytes=len(data),
            created=now,
            home_region=self.config.region,
            placeholder=appearance.placeholder,
            dominant_color=appearance.dominant_color,
            hlc=self.hlc.now(),
        )
        # An answer replayed for this key is "created" exactly when the record's time is the
        # asset's own: a key whose upload found the tenant's existing bytes points at an
        # asset created earlier.
        record = None
        if idempotency_key is not None:
            record = IdempotencyRecord(tenant, idempotency_key, sha256, asset.id, now)
        event = self._event(EventType.STORED, asset)
        try:
            stored = await self.store.insert_asset(event, record)
        except IdempotencyConflict:
            assert idempotency_key is not None  # only a recorded key conflicts
            done = await self._retried(tenant, idempotency_key, sha256)
            if done is None:
                raise
            return done
        if stored.id != asset.id:
            return Upload(stored, created=False)
        self.committed()
        replication = await self._replicated(event, concern or self.config.write_concern)
        return Upload(stored, created=True, replication=replication)

    async def _replicated(self, event: AssetEvent, concern: WriteConcern) -> Replication:
        """Wait until enough regions hold the event's asset, or the time is up."""
        c = self.config
        needed = concern.regions(c.regions)
        regions: tuple[str, ...] = (c.region,)
        if needed <= 1 or self.bus is None:
            return Replication(concern, needed, regions)
        deadline = self.clock.monotonic() + c.write_timeout
        try:
            # The relay publishes it too; a repeat is dropped, and its ack has our position.
            sequence = await self.bus.publish(event)
            while True:
                peers = await self.bus.applied_by(sequence)
                regions = (c.region, *sorted(peers))
                if len(regions) >= needed or self.clock.monotonic() >= deadline:
                    break
                await asyncio.sleep(CONCERN_POLL)
        except StorageUnavailable as error:
            log.warning(
                "write concern %s of asset %s not known: %s", concern, event.asset.id, error
            )
        return Replication(concern, needed, regions)

    async def _retried(self, tenant: str, key: str, sha256: str) -> Upload | None:
        """The answer to an earlier upload under `key`; None when there was none."""
        record = await self.store.idempotency(tenant, key)
        if record is None:
            return None
        if record.sha256 != sha256:
            raise IdempotencyConflict(
                f"Idempotency-Key {key!r} was used for other bytes (sha256 {record.sha256}); "
                "use a new key for a new upload"
            )
        asset = await self.get(tenant, record.asset_id)
        return Upload(asset, created=asset.created == record.created)

    async def get(self, tenant: str, asset_id: str, written: Hlc | None = None) -> Asset:
        """The tenant's live asset: 404 when it has none by this id, 410 once deleted; with
        `written`, as of that write at least (read-your-writes)."""
        if (
            written is not None
            and self.caught_up is not None
            and is_id(asset_id)
            and await self.caught_up(asset_id, written)
        ):
            self.forget(asset_id)
        asset = await self.store.asset(asset_id, tenant) if is_id(asset_id) else None
        if asset is None and self.pull is not None and is_id(asset_id):
            pulled = await self.pull(asset_id)
            asset = pulled if pulled is not None and pulled.tenant == tenant else None
        if asset is None:
            raise NotFound(f"no asset {asset_id!r:.40}")
        if not asset.live:
            raise Gone(f"asset {asset_id} was deleted")
        return asset

    async def original(self, tenant: str, asset_id: str) -> tuple[Asset, bytes]:
        asset = await self.get(tenant, asset_id)
        data = await self.blobs.get(original_key(asset.sha256), sha256=asset.sha256)
        if data is None:
            raise BlobCorrupt(f"asset {asset_id}: its original is missing from the blob store")
        return asset, data

    async def record(self, asset_id: str) -> Asset | None:
        """Any tenant's asset by id, tombstone or not (for another region)."""
        return await self.store.asset(asset_id) if is_id(asset_id) else None

    async def original_by_hash(self, sha256: str) -> bytes | None:
        """An original's bytes, verified, whichever asset names them; None if not held."""
        if SHA256_PATTERN.fullmatch(sha256) is None:
            return None
        return await self.blobs.get(original_key(sha256), sha256=sha256)

    async def page(self, tenant: str, cursor: str | None, limit: int) -> Page:
        try:
            after = None if cursor is None else decode_cursor(cursor)
        except ValueError as error:
            raise BadRequest(str(error)) from None
        assets = await self.store.assets(tenant, after, limit + 1)
        more = len(assets) > limit
        listed = tuple(assets[:limit])
        return Page(listed, encode_cursor(listed[-1].id) if more else None)

    async def edit(self, tenant: str, asset_id: str, edit: Edit) -> Asset:
        for _ in range(UPDATE_ATTEMPTS):
            current = await self.get(tenant, asset_id)
            metadata = dict(current.metadata)
            for name, value in (edit.metadata or {}).items():
                if value is None:
                    metadata.pop(name, None)
                else:
                    metadata[name] = value
            changed = replace(
                current,
                tags=current.tags if edit.tags is None else edit.tags,
                metadata=MappingProxyType(metadata),
                hlc=self.hlc.after(current.hlc),
            )
            if await self.store.update_asset(self._event(EventType.UPDATED, changed), current):
                self.committed()
                self.forget(asset_id)
                return changed
        raise Conflict(f"asset {asset_id} is being changed by another request; retry")

    async def delete(self, tenant: str, asset_id: str) -> Asset:
        """Leave a tombstone, then purge the asset's renditions; its bytes stay until the
        collector finds them unused past the grace period."""
        for _ in range(UPDATE_ATTEMPTS):
            current = await self.get(tenant, asset_id)
            tombstone = replace(current, deleted=self.clock.time(), hlc=self.hlc.after(current.hlc))
            if await self.store.update_asset(self._event(EventType.DELETED, tombstone), current):
                self.committed()
                self.forget(asset_id)
                await self.purge_renditions(asset_id)
                return tombstone
        raise Conflict(f"asset {asset_id} is being changed by another request; retry")

    async def purge_renditions(self, asset_id: str) -> None:
        """Remove an asset's stored renditions and their region-cache copies. Best effort:
        what a failure leaves is unreachable (every read checks the asset first) and goes with
        the next purge or the cache's own expiry."""
        prefix = rendition_prefix(asset_id)
        try:
            async for blob in self.blobs.list(prefix):
                await self.blobs.delete(blob.key)
                if self.region_cache is not None:
                    await self.region_cache.delete(blob.key.removeprefix(prefix))
        except (StorageUnavailable, CacheUnavailable) as error:
            log.warning("purge of asset %s renditions stopped: %s", asset_id, error)

    def _event(self, kind: EventType, asset: Asset) -> AssetEvent:
        return AssetEvent(self._new_id(self.clock.time()), kind, asset)

    def _new_id(self, now: float) -> str:
        return new_id(int(now * 1000), self.entropy(10))


def _check_media_type(content_type: str | None, info: SourceInfo) -> None:
    """A declared image type must be the one the bytes are; a generic one is fine."""
    if content_type is None:
        return
    declared = content_type.partition(";")[0].strip().lower()
    if declared in GENERIC_TYPES or not declared:
        return
    actual = info.format.media_type
    if declared != actual:
        raise UnsupportedMedia(
            f"Content-Type: the body is {actual}, but the request says {declared!r:.60}"
        )
