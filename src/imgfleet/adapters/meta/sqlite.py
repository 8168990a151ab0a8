"""`sqlite:///absolute/path.db?timeout=S`: the embedded metadata store, one file per node.

Every connection runs in WAL mode (readers never wait for the writer) with
`synchronous=FULL`: WAL is synced at each commit, so an acknowledged upload survives a power
cut or an OS crash, not only a crash of the process (NORMAL would lose the last commits
then). `busy_timeout` (the `timeout` option, 5 s by default) is how long a writer waits for
another's write lock before the store is `StorageUnavailable`; foreign keys are enforced.

The driver's own transaction handling is off (`isolation_level=None`): reads run as single
statements, and each write transaction starts with `BEGIN IMMEDIATE`, which takes the write
lock before the transaction reads anything. That serializes writers (the outbox order of
`sql.py`) and spares them SQLite's deadlock of two readers both upgrading to writers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine
from functools import partial
from typing import Any
from urllib.parse import unquote

from sqlalchemy import URL, event
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from imgfleet.adapters.meta.sql import SqlMetadataStore
from imgfleet.core.backend_url import BackendUrl
from imgfleet.core.errors import ImgfleetError, StorageUnavailable

OPTIONS = {"timeout"}
# Primary result codes that mean the file cannot be used now, rather than a bug.
_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_READONLY,
}


class SqliteMetadataStore(SqlMetadataStore):
    kind = "sqlite"

    @classmethod
    def from_url(cls, url: str) -> Coroutine[Any, Any, SqliteMetadataStore]:
        """Check `url` now (ValueError); awaiting the result opens and migrates the file."""
        parsed = BackendUrl.parse(url, OPTIONS)
        path = unquote(parsed.path)
        if parsed.host or len(path) < 2:
            raise ValueError(f"expected sqlite:///absolute/path/to/file.db, received {url!r}")
        return cls.open(path, busy_timeout=parsed.seconds("timeout", 5.0))

    @classmethod
    async def open(cls, path: str, *, busy_timeout: float = 5.0) -> SqliteMetadataStore:
        engine = create_async_engine(
            URL.create("sqlite+aiosqlite", database=path),
            connect_args={"isolation_level": None},
        )
        event.listen(
            engine.sync_engine, "connect", partial(_configure, busy_ms=int(busy_timeout * 1000))
        )
        return await cls(engine).migrated()

    async def _begin_write(self, conn: AsyncConnection, outbox: bool) -> None:
        await conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _fault(self, error: BaseException) -> ImgfleetError | None:
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _UNAVAILABLE:
            return StorageUnavailable(f"metadata store (sqlite): {error}")
        return None


def _configure(dbapi_connection: Any, record: Any, *, busy_ms: int) -> None:
    """Each new connection's settings; busy_timeout first, so that switching to WAL waits
    for a lock like everything else."""
    cursor = dbapi_connection.cursor()
    for pragma in (
        f"PRAGMA busy_timeout = {busy_ms}",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
    ):
        cursor.execute(pragma)
    cursor.close()
