"""The PostgreSQL the tests use: the machine's, on 127.0.0.1:5432, database `test`; each
test's tables in a schema of its own."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


def need_postgres() -> None:
    """Skip without PostgreSQL; under IMGFLEET_REQUIRE_SERVICES=1 the skip fails the run."""
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """The test database's URL, its tables in a new schema that is dropped afterwards."""
    need_postgres()
    name = f"t_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(POSTGRES)
    try:
        await admin.execute(f"CREATE SCHEMA {name}")
        yield f"{POSTGRES}?schema={name}&pool=4"
    finally:
        await admin.execute(f"DROP SCHEMA {name} CASCADE")
        await admin.close()
