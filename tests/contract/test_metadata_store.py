"""The MetadataStore port: SQLite (a file in tmp_path) and PostgreSQL (127.0.0.1:5432/test,
each test in a schema of its own, dropped after it)."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from imgfleet.adapters.meta.migrations import VERSION_TABLE
from imgfleet.adapters.meta.postgres import PostgresMetadataStore, outbox_lock
from imgfleet.adapters.meta.sql import SqlMetadataStore, schema
from imgfleet.adapters.meta.sqlite import SqliteMetadataStore
from imgfleet.core.api_keys import ApiKey, Scope
from imgfleet.core.assets import Asset, AssetEvent, EventType, KeyEvent, new_id, sha256_of
from imgfleet.core.errors import IdempotencyConflict, StorageUnavailable
from imgfleet.core.hlc import Hlc
from imgfleet.core.options import ImageFormat
from imgfleet.ports import IdempotencyRecord, MetadataStore
from imgfleet.wiring.backends import METADATA_STORES
from tests.postgres import POSTGRES, postgres_schema

T0 = 1_765_000_000.0


@dataclass
class Case:
    url: str
    opened: list[MetadataStore] = field(default_factory=list)

    async def open(self) -> SqlMetadataStore:
        """Another store over the same database, as another node (or a restart) opens it."""
        store = await METADATA_STORES.open(self.url)
        assert isinstance(store, SqlMetadataStore)
        self.opened.append(store)
        return store


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            case = Case(f"sqlite://{tmp_path}/meta.db")
        else:
            case = Case(await stack.enter_async_context(postgres_schema()))
        yield case
        for store in case.opened:
            await store.aclose()


@pytest.fixture
async def store(case: Case) -> SqlMetadataStore:
    return await case.open()


# Small factories: ids grow with a fake millisecond clock, so they sort in creation order.
_ms = itertools.count(1_765_000_000_000)


def an_id() -> str:
    return new_id(next(_ms), os.urandom(10))


def an_asset(tenant: str = "acme", data: bytes = b"one image", **changes: Any) -> Asset:
    asset = Asset(
        id=an_id(),
        tenant=tenant,
        sha256=sha256_of(data),
        format=ImageFormat.PNG,
        width=640,
        height=480,
        bytes=len(data),
        created=T0,
        home_region="eu",
        placeholder="3OcRJYB4d3h/iIeHeEh3eIhw+j2w",
        dominant_color="#a1b2c3",
        hlc=Hlc(1_765_000_000_000, 0, "eu"),
        tags=("cat", "sofa"),
        metadata=MappingProxyType({"alt": "a cat on a sofa", "credit": "ünïcode"}),
    )
    return replace(asset, **changes)


def stored(asset: Asset) -> AssetEvent:
    return AssetEvent(an_id(), EventType.STORED, asset)


def changed(asset: Asset, kind: EventType = EventType.UPDATED, **changes: Any) -> AssetEvent:
    """The event of a change to `asset`, one clock tick later."""
    hlc = Hlc(asset.hlc.wall, asset.hlc.counter + 1, asset.hlc.region)
    return AssetEvent(an_id(), kind, replace(asset, hlc=hlc, **changes))


def a_key(tenant: str = "acme", created: float = T0) -> ApiKey:
    return ApiKey(an_id()[:12], tenant, frozenset({Scope.READ, Scope.WRITE}), "ab" * 32, created)


def a_record(asset: Asset, key: str = "retry-1") -> IdempotencyRecord:
    return IdempotencyRecord(asset.tenant, key, asset.sha256, asset.id, T0)


# API keys


def key_created(key: ApiKey) -> KeyEvent:
    return KeyEvent(an_id(), EventType.KEY_CREATED, key, Hlc(1_765_000_000_000, 0, "eu"))


async def revoke(store: MetadataStore, key_id: str, at: float) -> ApiKey | None:
    return await store.revoke_key(key_id, at, an_id(), Hlc(1_765_000_000_001, 0, "eu"))


async def test_keys_are_kept_listed_by_tenant_and_revoked_once(store: MetadataStore) -> None:
    first, second, other = a_key(created=T0), a_key(created=T0 + 1), a_key("other", T0 + 2)
    for key in (second, other, first):
        await store.add_key(key_created(key))
    assert await store.key(first.id) == first
    assert await store.key("nokeyhere000") is None
    assert list(await store.keys("acme")) == [first, second]
    assert list(await store.keys()) == [first, second, other]
    assert await revoke(store, first.id, T0 + 10) == replace(first, revoked=T0 + 10)
    assert await revoke(store, first.id, T0 + 20) == replace(first, revoked=T0 + 10)
    assert await revoke(store, "nokeyhere000", T0) is None
    assert await store.key(second.id) == second


async def test_a_key_made_or_revoked_commits_its_event_once(store: MetadataStore) -> None:
    key = a_key()
    created = key_created(key)
    await store.add_key(created)
    await revoke(store, key.id, T0 + 10)
    await revoke(store, key.id, T0 + 20)  # already revoked: no second event
    events = list(await store.pending_events(10))
    assert [event.type for event in events] == [EventType.KEY_CREATED, EventType.KEY_REVOKED]
    assert events[0] == created
    assert isinstance(events[1], KeyEvent) and events[1].key == replace(key, revoked=T0 + 10)


async def test_applied_key_events_merge_and_a_revocation_holds(store: MetadataStore) -> None:
    key = a_key()
    revoked = KeyEvent(
        an_id(), EventType.KEY_REVOKED, replace(key, revoked=T0 + 3), Hlc(9, 0, "us")
    )
    assert await store.apply(revoked)  # the revocation came first
    assert await store.apply(key_created(key))
    assert await store.key(key.id) == replace(key, revoked=T0 + 3)
    assert list(await store.pending_events(10)) == []


# Assets


async def test_an_inserted_asset_reads_back_whole_with_its_event(store: MetadataStore) -> None:
    asset = an_asset()
    event = stored(asset)
    assert await store.insert_asset(event) == asset
    assert await store.asset(asset.id) == asset
    assert await store.asset(asset.id, "acme") == asset
    assert await store.asset(asset.id, "other") is None
    assert await store.asset(an_id()) is None
    assert list(await store.pending_events(10)) == [event]


async def test_the_same_bytes_are_one_asset_per_tenant(store: MetadataStore) -> None:
    first = an_asset()
    assert await store.insert_asset(stored(first)) == first
    assert await store.insert_asset(stored(an_asset())) == first  # a second upload: the first
    theirs = an_asset("other")
    assert await store.insert_asset(stored(theirs)) == theirs
    assert [event.asset for event in await store.pending_events(10)] == [first, theirs]


async def test_an_idempotency_record_points_at_the_asset_stored(store: MetadataStore) -> None:
    first = an_asset()
    await store.insert_asset(stored(first), a_record(first, "k1"))
    again = an_asset()  # the same bytes under another key: the record points at `first`
    assert await store.insert_asset(stored(again), a_record(again, "k2")) == first
    assert await store.idempotency("acme", "k1") == a_record(first, "k1")
    assert await store.idempotency("acme", "k2") == replace(
        a_record(again, "k2"), asset_id=first.id
    )
    assert await store.idempotency("acme", "k3") is None
    assert await store.idempotency("other", "k1") is None


async def test_a_recorded_idempotency_key_conflicts_and_stores_nothing(
    store: MetadataStore,
) -> None:
    first = an_asset()
    await store.insert_asset(stored(first), a_record(first))
    other = an_asset(data=b"other bytes")
    with pytest.raises(IdempotencyConflict) as conflict:
        await store.insert_asset(stored(other), a_record(other))
    assert conflict.value.status == 422 and "retry-1" in conflict.value.public_message
    assert await store.asset(other.id) is None
    assert len(await store.pending_events(10)) == 1
    theirs = an_asset("other", data=b"other bytes")  # keys are per tenant
    assert await store.insert_asset(stored(theirs), a_record(theirs)) == theirs


async def test_an_update_is_compare_and_set_on_the_clock(store: MetadataStore) -> None:
    asset = an_asset()
    await store.insert_asset(stored(asset))
    tagged = changed(asset, tags=("dog",), metadata={})
    assert await store.update_asset(tagged, asset)
    assert await store.asset(asset.id) == tagged.asset
    stale = changed(asset, tags=("bird",))  # made from the record before `tagged`
    assert not await store.update_asset(stale, asset)
    missing = an_asset(data=b"never stored")
    assert not await store.update_asset(changed(missing), missing)
    assert await store.asset(asset.id) == tagged.asset
    assert [event.type for event in await store.pending_events(10)] == [
        EventType.STORED,
        EventType.UPDATED,
    ]
    with pytest.raises(ValueError, match="update of"):
        await store.update_asset(changed(missing), asset)


async def test_a_tombstone_frees_its_bytes_for_a_new_upload(store: MetadataStore) -> None:
    asset = an_asset()
    await store.insert_asset(stored(asset))
    delete = changed(asset, EventType.DELETED, deleted=T0 + 5)
    assert await store.update_asset(delete, asset)
    assert await store.asset(asset.id) == delete.asset  # the tombstone stays readable
    again = an_asset()
    assert await store.insert_asset(stored(again)) == again


async def test_listing_pages_through_live_assets_in_id_order(store: MetadataStore) -> None:
    mine = [an_asset(data=bytes([n])) for n in range(5)]
    for asset in reversed(mine):
        await store.insert_asset(stored(asset))
    await store.insert_asset(stored(an_asset("other", data=b"\x01")))
    gone = mine.pop(2)
    assert await store.update_asset(changed(gone, EventType.DELETED, deleted=T0 + 1), gone)
    assert list(await store.assets("acme", None, 3)) == mine[:3]
    assert list(await store.assets("acme", mine[2].id, 3)) == mine[3:]
    assert list(await store.assets("acme", mine[3].id, 3)) == []
    assert list(await store.assets("nobody", None, 3)) == []


async def test_bytes_are_in_use_while_live_or_recently_deleted(store: MetadataStore) -> None:
    live, deleted, old = (an_asset("other", data=b"live"), an_asset(data=b"d"), an_asset(data=b"o"))
    for asset, at in ((live, None), (deleted, T0 + 100), (old, T0 + 10)):
        await store.insert_asset(stored(asset))
        if at is not None:
            assert await store.update_asset(changed(asset, deleted=at), asset)
    assert await store.sha256_in_use(live.sha256, T0 + 50)  # of another tenant: still in use
    assert await store.sha256_in_use(deleted.sha256, T0 + 50)
    assert not await store.sha256_in_use(old.sha256, T0 + 50)
    assert not await store.sha256_in_use(sha256_of(b"never"), 0.0)


async def test_tombstones_past_a_time_are_found_oldest_first_and_forgotten_whole(
    store: MetadataStore,
) -> None:
    live = an_asset(data=b"live")
    await store.insert_asset(stored(live))
    tombstones = []
    for n, at in enumerate((T0 + 30, T0 + 10, T0 + 20, T0 + 90)):
        asset = an_asset(data=bytes([n]))
        await store.insert_asset(stored(asset), a_record(asset, f"retry-{n}"))
        delete = changed(asset, EventType.DELETED, deleted=at)
        assert await store.update_asset(delete, asset)
        tombstones.append(delete.asset)
    old = sorted(tombstones[:3], key=lambda t: t.deleted or 0)
    assert list(await store.tombstones(T0 + 50, 10)) == old
    assert list(await store.tombstones(T0 + 50, 2)) == old[:2]

    first = old[0]
    newer = changed(first, EventType.DELETED, deleted=T0 + 11)  # another region's, later
    assert await store.apply(newer)
    assert not await store.forget_tombstone(first)  # no longer the copy stored
    assert await store.forget_tombstone(newer.asset)
    assert await store.asset(first.id) is None
    assert await store.idempotency("acme", "retry-1") is None  # its record went with it
    assert not await store.forget_tombstone(newer.asset)  # gone already
    assert not await store.forget_tombstone(live)  # not a tombstone
    assert await store.asset(live.id) == live


# Events of other regions


async def test_an_applied_event_is_stored_seen_by_the_feed_and_never_sent_on(
    store: MetadataStore,
) -> None:
    theirs = an_asset(home_region="us", hlc=Hlc(1_765_000_000_000, 0, "us"))
    event = stored(theirs)
    before = await store.last_position()
    assert await store.apply(event)
    assert await store.asset(theirs.id) == theirs
    assert [change.event for change in await store.changes(before, 10)] == [event]
    assert list(await store.pending_events(10)) == []
    assert not await store.apply(event)  # delivered again: nothing written
    assert len(await store.changes(before, 10)) == 1


async def test_applied_copies_merge_by_clock_and_a_tombstone_stays(store: MetadataStore) -> None:
    asset = an_asset(home_region="us", hlc=Hlc(1_765_000_000_000, 0, "us"))
    edited = changed(asset, tags=("edited",))
    deleted = changed(asset, EventType.DELETED, deleted=T0 + 5)
    later_edit = changed(edited.asset, tags=("after the delete, unaware",))
    for event in (edited, stored(asset)):  # the older copy arrives last
        await store.apply(event)
    assert await store.asset(asset.id) == edited.asset
    for event in (deleted, later_edit):
        await store.apply(event)
    assert await store.asset(asset.id) == deleted.asset


async def test_regions_cut_off_may_each_take_the_same_bytes(store: MetadataStore) -> None:
    ours = an_asset()
    assert await store.insert_asset(stored(ours)) == ours
    theirs = an_asset(home_region="us", hlc=Hlc(1_765_000_000_000, 0, "us"))
    assert await store.apply(stored(theirs))
    assert {a.id for a in await store.assets("acme", None, 10)} == {ours.id, theirs.id}


# The outbox


async def test_pending_events_come_in_commit_order_until_published(store: MetadataStore) -> None:
    events = [stored(an_asset(data=bytes([n]))) for n in range(4)]
    for event in events:
        await store.insert_asset(event)
    assert list(await store.pending_events(3)) == events[:3]
    await store.mark_published([events[0].id, events[2].id, "unknown"])
    await store.mark_published([])
    assert list(await store.pending_events(10)) == [events[1], events[3]]


async def test_the_change_feed_follows_positions(store: MetadataStore) -> None:
    assert await store.last_position() == 0
    assert list(await store.changes(0, 10)) == []
    events = [stored(an_asset(data=bytes([n]))) for n in range(3)]
    for event in events:
        await store.insert_asset(event)
    feed = list(await store.changes(0, 10))
    assert [change.event for change in feed] == events
    positions = [change.position for change in feed]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert await store.last_position() == positions[-1]
    assert [c.event for c in await store.changes(positions[0], 1)] == [events[1]]
    assert list(await store.changes(positions[-1], 10)) == []


async def test_forgetting_drops_only_published_old_events(store: MetadataStore) -> None:
    events = [stored(an_asset(data=bytes([n]))) for n in range(3)]
    for event in events:
        await store.insert_asset(event)
    last = await store.last_position()
    await store.mark_published([events[0].id, events[1].id])
    assert await store.forget_events(time.time() - 3600) == 0  # published just now: not old
    assert await store.forget_events(time.time() + 1) == 2
    assert [change.event for change in await store.changes(0, 10)] == [events[2]]
    assert list(await store.pending_events(10)) == [events[2]]
    # The newest event stays, published or not, so that the feed's position survives.
    await store.mark_published([events[2].id])
    assert await store.forget_events(time.time() + 1) == 0
    assert await store.last_position() == last
    later = stored(an_asset(data=b"later"))
    await store.insert_asset(later)
    assert [c.position > last for c in await store.changes(last, 10)] == [True]


# Opening, concurrency and failures


async def test_reopening_keeps_the_data_and_migrates_nothing_twice(case: Case) -> None:
    first = await case.open()
    asset = an_asset()
    await first.insert_asset(stored(asset))
    await first.aclose()
    second, third = await asyncio.gather(case.open(), case.open())  # nodes starting at once
    assert await second.asset(asset.id) == asset
    assert await third.last_position() == 1


async def test_the_migrated_schema_is_the_one_the_queries_use(store: SqlMetadataStore) -> None:
    async with store._transaction() as conn:
        differences = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"version_table": VERSION_TABLE}), schema
            )
        )
    assert differences == []


async def test_concurrent_uploads_of_the_same_bytes_end_as_one_asset(case: Case) -> None:
    stores = [await case.open(), await case.open()]  # two nodes, two connection pools
    uploads = [an_asset() for _ in range(6)]
    winners = await asyncio.gather(
        *(stores[n % 2].insert_asset(stored(asset)) for n, asset in enumerate(uploads))
    )
    assert len({asset.id for asset in winners}) == 1 and winners[0] in uploads
    assert list(await stores[0].assets("acme", None, 10)) == [winners[0]]
    assert len(await stores[1].pending_events(10)) == 1


async def test_a_failed_write_leaves_no_part_behind(store: MetadataStore) -> None:
    first = stored(an_asset())
    await store.insert_asset(first)
    clash = AssetEvent(first.id, EventType.STORED, an_asset(data=b"other"))  # same event id
    with pytest.raises(IntegrityError):  # a caller's bug: propagates, after the rollback
        await store.insert_asset(clash, a_record(clash.asset))
    assert await store.asset(clash.asset.id) is None
    assert await store.idempotency("acme", "retry-1") is None
    assert list(await store.pending_events(10)) == [first]


class UnlockedPostgres(PostgresMetadataStore):
    """A writer that skips the outbox lock: what the unique index alone must hold against."""

    async def _begin_write(self, conn: AsyncConnection, outbox: bool) -> None:
        return None


async def test_racing_inserts_without_the_lock_still_end_as_one_asset(postgres_url: str) -> None:
    """PostgreSQL only: SQLite's writers cannot skip its write lock."""
    stores = [await UnlockedPostgres.from_url(postgres_url) for _ in range(2)]
    try:
        uploads = [an_asset() for _ in range(6)]
        winners = await asyncio.gather(
            *(stores[n % 2].insert_asset(stored(asset)) for n, asset in enumerate(uploads))
        )
        assert len({asset.id for asset in winners}) == 1
        assert len(await stores[0].pending_events(10)) == 1
    finally:
        for store in stores:
            await store.aclose()


async def test_postgres_writers_wait_for_the_outbox_lock_until_their_timeout(
    postgres_url: str,
) -> None:
    store = await PostgresMetadataStore.from_url(f"{postgres_url}&timeout=0.5")
    schema_name = postgres_url.partition("schema=")[2].partition("&")[0]
    holder = await asyncpg.connect(POSTGRES)  # a writer of another node, mid-transaction
    try:
        await holder.execute("SELECT pg_advisory_lock($1, $2)", *outbox_lock(schema_name))
        assert await store.last_position() == 0  # readers do not wait
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await store.insert_asset(stored(an_asset()))
        assert 0.4 < time.monotonic() - started < 3
        await holder.execute("SELECT pg_advisory_unlock_all()")
        asset = an_asset()
        assert await store.insert_asset(stored(asset)) == asset
    finally:
        await holder.close()
        await store.aclose()


async def test_postgres_that_is_down_is_unavailable_quickly() -> None:
    with socket.socket() as held:  # bound and never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as down:
            await PostgresMetadataStore.from_url(f"postgresql://postgres@127.0.0.1:{port}/test")
    assert down.value.status == 503 and "ConnectionRefusedError" in down.value.public_message
    assert time.monotonic() - started < 3


async def test_sqlite_locked_past_its_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    store = await SqliteMetadataStore.from_url(f"sqlite://{tmp_path}/meta.db?timeout=0.2")
    holder = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    try:
        assert holder.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        assert await store.last_position() == 0  # readers go on (WAL)
        with pytest.raises(StorageUnavailable, match="locked"):
            await store.insert_asset(stored(an_asset()))
        holder.execute("ROLLBACK")
        asset = an_asset()
        assert await store.insert_asset(stored(asset)) == asset
    finally:
        holder.close()
        await store.aclose()


# The registry


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://h/db", "expected a URL starting sqlite://, postgresql://"),
        ("sqlite://relative.db", "expected sqlite:///absolute/path/to/file.db"),
        ("sqlite:///", "expected sqlite:///absolute/path/to/file.db"),
        ("sqlite:///x.db?timeout=0", "timeout must be more than 0"),
        ("sqlite:///x.db?pool=2", "unknown option 'pool' (options: timeout)"),
        ("postgresql://h", "expected postgresql://user@host:port/database"),
        ("postgresql://h/db?pool=0", "pool must be at least 1"),
        ("postgresql://h/db?schema=Public", "schema expects a lower-case SQL name"),
    ],
)
def test_a_bad_url_names_the_setting_and_the_problem(url: str, message: str) -> None:
    with pytest.raises(ValueError) as bad:
        METADATA_STORES.open(url)
    assert str(bad.value).startswith("IMGFLEET_STORAGE__METADATA: ")
    assert message in str(bad.value)


async def test_the_scheme_picks_the_adapter(tmp_path: Path) -> None:
    opening: Awaitable[MetadataStore] = METADATA_STORES.open(f"sqlite://{tmp_path}/m.db")
    store = await opening
    assert isinstance(store, SqliteMetadataStore)
    await store.aclose()
