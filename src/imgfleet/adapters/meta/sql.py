"""The metadata store over SQL (SQLAlchemy Core, async): tables, queries and transactions that
SQLite and PostgreSQL share; `sqlite.py` and `postgres.py` add how to connect, how a write
transaction starts and which driver errors mean the database is unavailable.

Change feed order. `changes(after)` hands out outbox rows by `position`, and a tailer only
ever asks for positions past the last one it saw, so a row must never become visible after
a row with a higher position: it would be skipped. PostgreSQL's identity columns draw
numbers when rows are inserted, not when transactions commit, so two concurrent writers can
commit out of order. Every transaction that writes the outbox therefore starts by taking one
lock (PostgreSQL: a transaction-level advisory lock; SQLite: its database write lock, taken
by `BEGIN IMMEDIATE`) and holds it to its commit: positions are drawn in commit order.
The same lock makes `insert_asset`'s look-then-write atomic, and is taken by migrations.

The newest outbox row is never forgotten, so that `last_position` survives `forget_events`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from imgfleet.adapters.meta import migrations
from imgfleet.core.api_keys import ApiKey, Scope
from imgfleet.core.asset_codec import asset_from_dict, asset_to_dict, decode_event, encode_event
from imgfleet.core.assets import Asset, AssetEvent, Event, EventType, KeyEvent
from imgfleet.core.errors import IdempotencyConflict, ImgfleetError, StorageUnavailable
from imgfleet.core.hlc import Hlc
from imgfleet.core.replication import key_winner, winner
from imgfleet.ports import Change, IdempotencyRecord

LIVE = sa.text("deleted IS NULL")
PENDING = sa.text("published_at IS NULL")

# The tables as the migrations in `migrations/versions` leave them (a test compares the two).
schema = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    schema,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),  # the scopes' values, sorted, space-separated
    sa.Column("secret_sha256", sa.Text, nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("revoked", sa.Double),
    sa.Index("api_keys_tenant", "tenant", "created"),
)

assets = sa.Table(
    "assets",
    schema,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("home_region", sa.Text, nullable=False),
    sa.Column("placeholder", sa.Text, nullable=False),
    sa.Column("dominant_color", sa.Text, nullable=False),
    sa.Column("hlc", sa.Text, nullable=False),  # `str(Hlc)`: sorts as text in clock order
    sa.Column("tags", sa.Text, nullable=False),  # JSON list
    sa.Column("metadata", sa.Text, nullable=False),  # JSON object
    sa.Column("deleted", sa.Double),
    # One live asset per tenant, bytes and home region: the dedup of uploads, race-proof. Per
    # home region, since regions cut off from each other may both take the same bytes.
    sa.Index(
        "assets_live_sha256",
        "tenant",
        "sha256",
        "home_region",
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    ),
    sa.Index("assets_sha256", "sha256"),  # sha256_in_use, across tenants
    sa.Index("assets_tenant_id", "tenant", "id"),  # listing pages
    sa.Index(  # tombstones past their grace period
        "assets_deleted",
        "deleted",
        sqlite_where=sa.text("deleted IS NOT NULL"),
        postgresql_where=sa.text("deleted IS NOT NULL"),
    ),
)

idempotency = sa.Table(
    "idempotency",
    schema,
    sa.Column("tenant", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.id"), nullable=False),
    sa.Column("created", sa.Double, nullable=False),
)

outbox = sa.Table(
    "outbox",
    schema,
    # SQLite: INTEGER PRIMARY KEY AUTOINCREMENT, so a position is never handed out twice.
    sa.Column(
        "position",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.Identity(),
        primary_key=True,
    ),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("asset_id", sa.Text, nullable=False),  # or the key's id, for a key's event
    sa.Column("body", sa.Text, nullable=False),  # `encode_event`, JSON
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("published_at", sa.Double),
    sa.UniqueConstraint("event_id", name="outbox_event_id"),
    sa.Index("outbox_pending", "position", sqlite_where=PENDING, postgresql_where=PENDING),
    sqlite_autoincrement=True,
)


class SqlMetadataStore:
    """`ports.MetadataStore` over one SQLAlchemy async engine; open it with a subclass."""

    kind = "sql"  # names the database in error messages

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def migrated(self) -> Self:
        """This store, its schema migrated to the newest revision (under the write lock, so
        that nodes starting together migrate one after the other); closed on failure."""
        try:
            async with self._transaction(write=True, outbox=True) as conn:
                await conn.run_sync(migrations.upgrade)
        except BaseException:
            await self.aclose()
            raise
        return self

    # What each database does its own way.

    async def _begin_write(self, conn: AsyncConnection, outbox: bool) -> None:
        """Start a write transaction; with `outbox`, take the lock outbox writers share."""
        raise NotImplementedError

    def _fault(self, error: BaseException) -> ImgfleetError | None:
        """The storage error a driver error stands for; None when it is a bug."""
        raise NotImplementedError

    # API keys

    async def add_key(self, event: KeyEvent) -> None:
        async with self._transaction(write=True, outbox=True) as conn:
            await conn.execute(api_keys.insert().values(_key_row(event.key)))
            await conn.execute(outbox.insert().values(self._event_row(event)))

    async def key(self, key_id: str) -> ApiKey | None:
        async with self._transaction() as conn:
            row = (await conn.execute(_keys_where(api_keys.c.id == key_id))).first()
        return None if row is None else _key(row._mapping)

    async def keys(self, tenant: str | None = None) -> Sequence[ApiKey]:
        query = _keys_where(sa.true() if tenant is None else api_keys.c.tenant == tenant)
        async with self._transaction() as conn:
            rows = await conn.execute(query.order_by(api_keys.c.created, api_keys.c.id))
        return [_key(row._mapping) for row in rows]

    async def revoke_key(self, key_id: str, at: float, event_id: str, hlc: Hlc) -> ApiKey | None:
        async with self._transaction(write=True, outbox=True) as conn:
            result = await conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None))
                .values(revoked=at)
            )
            row = (await conn.execute(_keys_where(api_keys.c.id == key_id))).first()
            key = None if row is None else _key(row._mapping)
            if key is not None and result.rowcount == 1:
                event = KeyEvent(event_id, EventType.KEY_REVOKED, key, hlc)
                await conn.execute(outbox.insert().values(self._event_row(event)))
        return key

    # Assets

    async def insert_asset(
        self, event: AssetEvent, idempotency: IdempotencyRecord | None = None
    ) -> Asset:
        asset = event.asset
        if idempotency is not None and (idempotency.tenant, idempotency.sha256) != (
            asset.tenant,
            asset.sha256,
        ):
            raise ValueError("idempotency record: not of the asset's tenant and sha256")
        try:
            return await self._insert(event, idempotency)
        except exc.IntegrityError:
            # Writers hold the outbox lock, so only a writer that skipped it gets here; the
            # second try sees what it committed (the live asset, or the idempotency key).
            return await self._insert(event, idempotency)

    async def _insert(self, event: AssetEvent, record: IdempotencyRecord | None) -> Asset:
        asset = event.asset
        async with self._transaction(write=True, outbox=True) as conn:
            if record is not None:
                taken = await conn.scalar(
                    sa.select(sa.literal(1)).where(
                        idempotency.c.tenant == record.tenant, idempotency.c.key == record.key
                    )
                )
                if taken is not None:
                    raise IdempotencyConflict(
                        f"Idempotency-Key: already used for another upload; "
                        f"received {record.key!r:.80}"
                    )
            row = (
                await conn.execute(
                    assets.select().where(
                        assets.c.tenant == asset.tenant,
                        assets.c.sha256 == asset.sha256,
                        assets.c.deleted.is_(None),
                    )
                )
            ).first()
            stored = asset if row is None else _asset(row._mapping)
            if row is None:
                await conn.execute(assets.insert().values(_asset_row(asset)))
                await conn.execute(outbox.insert().values(self._event_row(event)))
            if record is not None:
                row_values = _record_row(replace(record, asset_id=stored.id))
                await conn.execute(idempotency.insert().values(row_values))
        return stored

    async def update_asset(self, event: AssetEvent, expected: Asset) -> bool:
        if event.asset.id != expected.id:
            raise ValueError(f"update of {expected.id} with the record of {event.asset.id}")
        async with self._transaction(write=True, outbox=True) as conn:
            result = await conn.execute(
                assets.update()
                .where(assets.c.id == expected.id, assets.c.hlc == str(expected.hlc))
                .values(_asset_row(event.asset))
            )
            if result.rowcount != 1:
                return False
            await conn.execute(outbox.insert().values(self._event_row(event)))
        return True

    async def apply(self, event: Event) -> bool:
        async with self._transaction(write=True, outbox=True) as conn:
            seen = await conn.scalar(sa.select(sa.literal(1)).where(outbox.c.event_id == event.id))
            if seen is not None:
                return False
            if isinstance(event, AssetEvent):
                await self._merge_asset(conn, event.asset)
            else:
                await self._merge_key(conn, event.key)
            # Recorded as published: the change feed sees it, the relay never sends it on.
            await conn.execute(
                outbox.insert().values({**self._event_row(event), "published_at": time.time()})
            )
        return True

    async def _merge_asset(self, conn: AsyncConnection, incoming: Asset) -> None:
        row = (await conn.execute(assets.select().where(assets.c.id == incoming.id))).first()
        current = None if row is None else _asset(row._mapping)
        if winner(current, incoming) is not incoming:
            return
        if current is None:
            await conn.execute(assets.insert().values(_asset_row(incoming)))
        else:
            await conn.execute(
                assets.update().where(assets.c.id == incoming.id).values(_asset_row(incoming))
            )

    async def _merge_key(self, conn: AsyncConnection, incoming: ApiKey) -> None:
        row = (await conn.execute(_keys_where(api_keys.c.id == incoming.id))).first()
        current = None if row is None else _key(row._mapping)
        merged = key_winner(current, incoming)
        if current is None:
            await conn.execute(api_keys.insert().values(_key_row(merged)))
        elif merged != current:
            await conn.execute(
                api_keys.update().where(api_keys.c.id == incoming.id).values(_key_row(merged))
            )

    async def asset(self, asset_id: str, tenant: str | None = None) -> Asset | None:
        query = assets.select().where(assets.c.id == asset_id)
        if tenant is not None:
            query = query.where(assets.c.tenant == tenant)
        async with self._transaction() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _asset(row._mapping)

    async def assets(self, tenant: str, after: str | None, limit: int) -> Sequence[Asset]:
        query = assets.select().where(assets.c.tenant == tenant, assets.c.deleted.is_(None))
        if after is not None:
            query = query.where(assets.c.id > after)
        async with self._transaction() as conn:
            rows = await conn.execute(query.order_by(assets.c.id).limit(limit))
        return [_asset(row._mapping) for row in rows]

    async def idempotency(self, tenant: str, key: str) -> IdempotencyRecord | None:
        query = idempotency.select().where(idempotency.c.tenant == tenant, idempotency.c.key == key)
        async with self._transaction() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else IdempotencyRecord(**row._mapping)

    async def sha256_in_use(self, sha256: str, deleted_after: float) -> bool:
        query = sa.select(
            sa.exists().where(
                assets.c.sha256 == sha256,
                sa.or_(assets.c.deleted.is_(None), assets.c.deleted > deleted_after),
            )
        )
        async with self._transaction() as conn:
            return bool(await conn.scalar(query))

    # The outbox

    async def pending_events(self, limit: int) -> Sequence[Event]:
        query = (
            sa.select(outbox.c.body)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.position)
            .limit(limit)
        )
        async with self._transaction() as conn:
            bodies = await conn.scalars(query)
        return [decode_event(body.encode()) for body in bodies]

    async def mark_published(self, event_ids: Collection[str]) -> None:
        if not event_ids:
            return
        async with self._transaction(write=True) as conn:
            await conn.execute(
                outbox.update()
                .where(outbox.c.event_id.in_(list(event_ids)), outbox.c.published_at.is_(None))
                .values(published_at=time.time())
            )

    async def changes(self, after: int, limit: int) -> Sequence[Change]:
        query = (
            sa.select(outbox.c.position, outbox.c.body)
            .where(outbox.c.position > after)
            .order_by(outbox.c.position)
            .limit(limit)
        )
        async with self._transaction() as conn:
            rows = await conn.execute(query)
        return [Change(position, decode_event(body.encode())) for position, body in rows]

    async def last_position(self) -> int:
        async with self._transaction() as conn:
            return int(await conn.scalar(sa.select(sa.func.max(outbox.c.position))) or 0)

    async def forget_events(self, published_before: float) -> int:
        newest = sa.select(sa.func.max(outbox.c.position)).scalar_subquery()
        async with self._transaction(write=True) as conn:
            result = await conn.execute(
                outbox.delete().where(
                    outbox.c.published_at < published_before, outbox.c.position < newest
                )
            )
        return result.rowcount

    async def tombstones(self, deleted_before: float, limit: int) -> Sequence[Asset]:
        query = (
            assets.select()
            .where(assets.c.deleted < deleted_before)
            .order_by(assets.c.deleted)
            .limit(limit)
        )
        async with self._transaction() as conn:
            rows = await conn.execute(query)
        return [_asset(row._mapping) for row in rows]

    async def forget_tombstone(self, tombstone: Asset) -> bool:
        async with self._transaction(write=True) as conn:
            still = (
                sa.select(assets.c.id)
                .where(
                    assets.c.id == tombstone.id,
                    assets.c.hlc == str(tombstone.hlc),
                    assets.c.deleted.is_not(None),
                )
                .with_for_update()  # an apply racing this waits, then finds no row
            )
            if (await conn.execute(still)).first() is None:
                return False
            await conn.execute(idempotency.delete().where(idempotency.c.asset_id == tombstone.id))
            await conn.execute(assets.delete().where(assets.c.id == tombstone.id))
        return True

    async def aclose(self) -> None:
        await self._engine.dispose()

    # Transactions

    @asynccontextmanager
    async def _transaction(
        self, *, write: bool = False, outbox: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """One transaction; driver errors that mean the database failed leave it as
        `StorageUnavailable` (or `StorageDenied`), here and nowhere else."""
        with self._translated():
            async with self._engine.connect() as conn, conn.begin():
                if write:
                    await self._begin_write(conn, outbox)
                yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (OSError, exc.TimeoutError) as error:  # refused, unreachable, timed out
            raise StorageUnavailable(f"metadata store ({self.kind}): {_name(error)}") from error
        except exc.DBAPIError as error:
            fault = None if error.orig is None else self._fault(error.orig)
            if fault is None and error.connection_invalidated:
                fault = StorageUnavailable(f"metadata store ({self.kind}): connection lost")
            if fault is None:
                raise
            raise fault from error

    def _event_row(self, event: Event) -> dict[str, Any]:
        return {
            "event_id": event.id,
            "type": event.type.value,
            "asset_id": event.asset.id if isinstance(event, AssetEvent) else event.key.id,
            "body": encode_event(event).decode(),
            "created": time.time(),
        }


def _name(error: BaseException) -> str:
    return type(error).__name__


def _keys_where(condition: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return api_keys.select().where(condition)


def _key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "tenant": key.tenant,
        "scopes": " ".join(sorted(scope.value for scope in key.scopes)),
        "secret_sha256": key.secret_sha256,
        "created": key.created,
        "revoked": key.revoked,
    }


def _key(row: sa.RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant=row["tenant"],
        scopes=frozenset(Scope(value) for value in row["scopes"].split()),
        secret_sha256=row["secret_sha256"],
        created=row["created"],
        revoked=row["revoked"],
    )


def _asset_row(asset: Asset) -> dict[str, Any]:
    """The codec's record, with tags and metadata as JSON text (one shape, two uses)."""
    row = asset_to_dict(asset)
    row["tags"] = json.dumps(row["tags"])
    row["metadata"] = json.dumps(row["metadata"], sort_keys=True)
    return row


def _asset(row: sa.RowMapping) -> Asset:
    data = dict(row)
    data["tags"] = json.loads(data["tags"])
    data["metadata"] = json.loads(data["metadata"])
    return asset_from_dict(data)


def _record_row(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "tenant": record.tenant,
        "key": record.key,
        "sha256": record.sha256,
        "asset_id": record.asset_id,
        "created": record.created,
    }
