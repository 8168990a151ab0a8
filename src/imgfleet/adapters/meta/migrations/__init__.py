"""The metadata store's schema, as alembic revisions in `versions/`, applied by the store
itself when it opens: no alembic.ini, no command to run by hand.

A new revision is one more file in `versions/` (`down_revision` naming the newest before it)
written with alembic's `op` calls for both SQLite and PostgreSQL; `sql.py`'s tables must then
match what the revisions build (tests/contract/test_metadata_store.py compares them).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

VERSION_TABLE = "imgfleet_schema_version"  # alembic's own table, named apart from others


def upgrade(connection: Connection) -> None:
    """Bring the schema to the newest revision, in the caller's transaction.

    alembic keeps its context in module globals, so two upgrades must never interleave in
    one process: the caller holds the database's write lock (the outbox lock), which also
    keeps a second store of this process waiting outside until the first is done.
    """
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
