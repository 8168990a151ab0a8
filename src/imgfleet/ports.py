"""The interfaces the service depends on; adapters, the imaging engine and the metrics
implement them, and `imgfleet.testing` holds a test double of each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from imgfleet.core.api_keys import ApiKey
from imgfleet.core.appearance import Appearance
from imgfleet.core.assets import Asset, AssetEvent, Event, KeyEvent
from imgfleet.core.geometry import Plan
from imgfleet.core.hlc import Hlc
from imgfleet.core.options import ImageFormat, ProcessingOptions
from imgfleet.core.render_warnings import WarningTally
from imgfleet.core.rendition import Rendition
from imgfleet.core.source import SourceInfo


class SourceLoader(Protocol):
    """Fetches the bytes of one source URL scheme.

    Raises `SourceNotFound` for a missing source, `TooLarge` past `max_bytes`,
    `ForbiddenSource` for one it may not read, `OriginError`/`OriginTimeout` when the place
    it reads from fails.
    """

    async def fetch(self, url: str, max_bytes: int) -> bytes: ...


class Engine(Protocol):
    """Reads headers and renders; synchronous, called from worker threads or processes."""

    @property
    def version(self) -> str:
        """Names everything that changes the bytes rendered for the same inputs."""
        ...

    def probe(self, data: bytes) -> SourceInfo: ...

    def describe(self, data: bytes) -> Appearance:
        """The ThumbHash placeholder and dominant colour of an upload (upright, first frame).

        Refuses what `probe` refuses, with the same error; a source that fails to decode is
        `UnsupportedMedia` too. Like `render`, call it once the source's limits were checked
        from its header (`core.limits.check_source`)."""
        ...

    def render(
        self,
        data: bytes,
        info: SourceInfo,
        plan: Plan,
        options: ProcessingOptions,
        fmt: ImageFormat,
        quality: int,
        deadline: float,
    ) -> bytes: ...

    def captured_warnings(self) -> AbstractContextManager[WarningTally]:
        """Collect, instead of logging, the warnings the engine logs for the render run in
        the block on this thread; the tally is complete once the block has exited."""
        ...

    def release_memory(self) -> None:
        """Hand memory freed by earlier renders back to the system; called after a render
        that needed much, between renders."""
        ...


class RegionCache(Protocol):
    """Renditions shared by the nodes of a region, by cache key: the second tier after each
    node's memory. Best effort: `put` may drop what does not fit, and an adapter whose
    backend fails raises `CacheUnavailable`, which callers take as a miss."""

    async def get(self, key: str) -> Rendition | None: ...

    async def put(self, key: str, rendition: Rendition) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float: ...  # unix seconds, for `expires`

    def monotonic(self) -> float: ...  # for deadlines and durations


class DeliveryMetrics(Protocol):
    """What the delivery service counts; `imgfleet.metrics.Metrics` exports it."""

    def cache_hit(self) -> None: ...

    def cache_miss(self) -> None: ...

    def coalesced(self) -> None: ...  # a miss that joined another's render

    def rendered(self, fmt: ImageFormat, seconds: float) -> None: ...

    def source_failed(self, reason: str) -> None: ...

    def result_cache_bytes(self, size: int) -> None: ...

    def region_cache(self, result: str) -> None: ...  # "hit", "miss" or "error"

    def render_warnings(self, count: int) -> None: ...  # warnings the engine logged in a render


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    modified: float  # unix seconds


class BlobStore(Protocol):
    """Immutable objects by key: originals (`core.assets.original_key`) and stored
    renditions (`core.assets.rendition_key`).

    A `put` is atomic: a reader sees all of the bytes or none, and a crash leaves no partial
    object under the key. A missing object is `None`, not an error. `list` yields the keys
    that start with a prefix, in key order (as text). Keys and prefixes follow
    `core.blobs` (segments of letters, digits and `_` joined by "/"); another is a bug of
    the caller: `ValueError`. No key is also the folder of others (`a` and `a/b`): a
    filesystem cannot hold both. Adapters raise `StorageUnavailable` when the backend
    fails or does not answer in time, `StorageDenied` when it refuses our credentials,
    and `BlobCorrupt` when `get` was given the sha256 the bytes must have and they do not.

    A put is durable when it returns (it survives a crash of the host), unless the caller
    says `durable=False`, for data it can make again: the store may then skip the flush
    (the filesystem's fsyncs), and a crash may lose the object or, on a filesystem, leave
    it torn; the caller must check what it reads back.
    """

    async def put(self, key: str, data: bytes, *, durable: bool = True) -> None: ...

    async def get(self, key: str, sha256: str | None = None) -> bytes | None: ...

    async def has(self, key: str) -> bool: ...  # without reading the bytes

    async def delete(self, key: str) -> None: ...  # a missing key is not an error

    def list(self, prefix: str) -> AsyncIterator[BlobInfo]: ...  # in key order

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """An upload made under a client's `Idempotency-Key`: a retry with the same key and the
    same bytes gets the same answer; the same key with other bytes is refused."""

    tenant: str
    key: str
    sha256: str  # of the bytes uploaded under the key
    asset_id: str
    created: float  # unix seconds


@dataclass(frozen=True, slots=True)
class Change:
    """An outbox event and its position in the store's change feed (grows with each commit)."""

    position: int
    event: Event


class MetadataStore(Protocol):
    """Tenants' API keys and assets, and the transactional outbox of their changes.

    Every asset write commits its event to the outbox in the same transaction, so an event
    exists exactly when its change does. Adapters raise `StorageUnavailable` when the
    database fails or does not answer in time.
    """

    async def add_key(self, event: KeyEvent) -> None:
        """Store a new key with its `KeyCreated` event, in one transaction."""
        ...

    async def key(self, key_id: str) -> ApiKey | None: ...

    async def keys(self, tenant: str | None = None) -> Sequence[ApiKey]: ...  # by creation

    async def revoke_key(self, key_id: str, at: float, event_id: str, hlc: Hlc) -> ApiKey | None:
        """The key, revoked (at its first revocation's time); None when there is none. The
        first revocation commits its `KeyRevoked` event (`event_id`, `hlc`) with it."""
        ...

    async def insert_asset(
        self, event: AssetEvent, idempotency: IdempotencyRecord | None = None
    ) -> Asset:
        """Store `event.asset` with `event` and `idempotency`, in one transaction, and
        return it, unless the tenant already has a live asset of the same sha256: then
        store nothing but `idempotency` (pointing at that asset) and return that asset.
        An idempotency key already recorded raises `IdempotencyConflict`."""
        ...

    async def update_asset(self, event: AssetEvent, expected: Asset) -> bool:
        """Replace `expected` by `event.asset` (same id) with `event`, in one transaction,
        only if the stored record is still `expected` (same clock); False otherwise."""
        ...

    async def apply(self, event: Event) -> bool:
        """Merge an event another region wrote (`core.replication.winner` decides which copy
        stays) and record it in the outbox as published, in one transaction: this region's
        nodes see it in the change feed, and the relay never sends it on. False, and nothing
        written, when the event was applied before (the outbox keeps ids for its retention;
        a later repeat merges to the same record)."""
        ...

    async def asset(self, asset_id: str, tenant: str | None = None) -> Asset | None:
        """The asset, tombstone or not; of `tenant` only when given."""
        ...

    async def assets(self, tenant: str, after: str | None, limit: int) -> Sequence[Asset]:
        """The tenant's live assets in id order, starting after the id `after`."""
        ...

    async def idempotency(self, tenant: str, key: str) -> IdempotencyRecord | None: ...

    async def pending_events(self, limit: int) -> Sequence[Event]:
        """Events not yet marked published, in commit order."""
        ...

    async def mark_published(self, event_ids: Collection[str]) -> None: ...

    async def changes(self, after: int, limit: int) -> Sequence[Change]:
        """The change feed: events past position `after`, in order (what nodes tail)."""
        ...

    async def last_position(self) -> int: ...  # 0 when the feed is empty

    async def sha256_in_use(self, sha256: str, deleted_after: float) -> bool:
        """Whether a live asset, or one deleted after `deleted_after`, has these bytes."""
        ...

    async def forget_events(self, published_before: float) -> int:
        """Drop published events older than that (unix seconds); how many went."""
        ...

    async def tombstones(self, deleted_before: float, limit: int) -> Sequence[Asset]:
        """Deleted assets whose delete is older than that (unix seconds), oldest first."""
        ...

    async def forget_tombstone(self, tombstone: Asset) -> bool:
        """Remove a tombstone (and the idempotency records pointing at it) if the stored
        record is still exactly it (same clock); whether it went."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event of a peer region, as its stream handed it to us."""

    event: Event
    sequence: int  # its position in the peer's stream


class PeerFeed(Protocol):
    """One peer region's changes, read through a cursor that the peer's bus keeps for us,
    so that a restart or a cut resumes where it stopped. At least once: an event not acked
    comes again (after `retry`'s delay, or the bus's own timeout). Raises
    `StorageUnavailable` while the peer's bus cannot be reached."""

    async def fetch(self, limit: int, wait: float) -> Sequence[Delivery]:
        """Up to `limit` events, waiting at most `wait` seconds for the first."""
        ...

    async def ack(self, delivery: Delivery) -> None: ...

    async def retry(self, delivery: Delivery, delay: float) -> None: ...

    async def pending(self) -> int:
        """Events of the peer not yet acked by us: the replication lag, in events."""
        ...

    async def aclose(self) -> None: ...


class Peers(Protocol):
    """Calls to other regions' internal endpoints. Raises `StorageUnavailable` when a peer
    does not answer in time or answers with a failure."""

    async def original(self, peer: str, sha256: str) -> bytes | None:
        """The bytes of an original the peer holds (not yet verified); None if it has none."""
        ...

    async def asset(self, peer: str, asset_id: str) -> Asset | None:
        """The peer's record of an asset, tombstone or not; None if it has none."""
        ...

    def breakers(self) -> dict[str, str]:
        """Each peer's circuit breaker as of its last call: closed, opened or half-opened."""
        ...

    async def aclose(self) -> None: ...


class EventBus(Protocol):
    """Where the outbox relay publishes a region's changes. Publishing an event twice is
    harmless: the bus keeps the first (JetStream by `Nats-Msg-Id`), or subscribers apply
    events idempotently. Raises `StorageUnavailable` when the bus cannot take it now."""

    async def publish(self, event: Event) -> int:
        """The event's position in this region's stream (the first's, for a repeat)."""
        ...

    async def applied_by(self, sequence: int) -> frozenset[str]:
        """The peer regions that have applied every event of this region's stream up to
        `sequence` (JetStream: their consumers' ack floor); none on a bus without peers."""
        ...

    async def check(self) -> None:
        """Raise `StorageUnavailable` unless the bus can take events now (readiness)."""
        ...

    async def aclose(self) -> None: ...
