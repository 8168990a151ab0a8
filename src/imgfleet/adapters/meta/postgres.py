"""`postgresql://user[:password]@host:port/database?pool=N&timeout=S&schema=NAME`: the
metadata store a region's nodes share.

`pool` connections at most (10 by default); `timeout` (5 s) bounds connecting, waiting for a
pooled connection and each statement, past which the store is `StorageUnavailable`;
`schema` puts the tables in that (existing) schema instead of the search path's first.

Writers of the outbox serialize on a transaction-level advisory lock (see `sql.py`): its
keys are a constant and the schema's CRC-32, so stores in two schemas do not wait for each
other. Migrations at open take the same lock.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Coroutine
from typing import Any

import sqlalchemy as sa
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from imgfleet.adapters.meta.sql import SqlMetadataStore
from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.errors import ImgfleetError, StorageDenied, StorageUnavailable

OPTIONS = {"pool", "timeout", "schema"}
LOCK_CLASS = 0x696D6766  # "imgf": the first key of the outbox lock
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# SQLSTATE classes: connection exception, insufficient resources, operator intervention
# (shutdown, statement cancelled by the timeout), system error.
_UNAVAILABLE = ("08", "53", "57", "58")
_DENIED = ("28",)  # invalid authorization


class PostgresMetadataStore(SqlMetadataStore):
    kind = "postgresql"

    @classmethod
    def from_url(cls, url: str) -> Coroutine[Any, Any, PostgresMetadataStore]:
        """Check `url` now (ValueError); awaiting the result connects and migrates."""
        parsed = BackendUrl.parse(url, OPTIONS)
        if not parsed.host or len(parsed.path) < 2:
            raise ValueError(
                "expected postgresql://user@host:port/database, "
                f"received {parsed.without_options()!r}"
            )
        schema = parsed.options.get("schema")
        if schema is not None and _SCHEMA.fullmatch(schema) is None:
            raise ValueError(
                f"{url!r}: schema expects a lower-case SQL name (a-z, 0-9, _), received {schema!r}"
            )
        return cls.open(
            parsed.without_options(),
            pool=parsed.integer("pool", 10, minimum=1),
            time_limit=parsed.seconds("timeout", 5.0),
            schema=schema,
        )

    @classmethod
    async def open(
        cls, url: str, *, pool: int = 10, time_limit: float = 5.0, schema: str | None = None
    ) -> PostgresMetadataStore:
        settings = {"application_name": "imgfleet"}
        if schema is not None:
            settings["search_path"] = schema
        engine = create_async_engine(
            make_url(url).set(drivername="postgresql+asyncpg"),
            pool_size=pool,
            max_overflow=0,
            pool_timeout=time_limit,
            connect_args={
                "timeout": time_limit,
                "command_timeout": time_limit,
                "server_settings": settings,
            },
        )
        return await cls(engine, lock=outbox_lock(schema)).migrated()

    def __init__(self, engine: AsyncEngine, *, lock: tuple[int, int] = (LOCK_CLASS, 0)) -> None:
        super().__init__(engine)
        self._lock = lock

    async def _begin_write(self, conn: AsyncConnection, outbox: bool) -> None:
        if outbox:
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(*self._lock)))

    def _fault(self, error: BaseException) -> ImgfleetError | None:
        state = getattr(error, "sqlstate", None) or ""
        if state.startswith(_UNAVAILABLE):
            return StorageUnavailable(f"metadata store (postgresql): SQLSTATE {state}")
        if state.startswith(_DENIED):
            return StorageDenied(f"metadata store (postgresql): SQLSTATE {state}")
        return None


def outbox_lock(schema: str | None) -> tuple[int, int]:
    """The advisory lock's two int4 keys for the store in `schema` (None: the search path's)."""
    crc = zlib.crc32((schema or "").encode())
    return LOCK_CLASS, crc - (1 << 32) if crc >= 1 << 31 else crc
