"""alembic's entry point, run by `migrations.upgrade` on the connection it is handed."""

from __future__ import annotations

from alembic import context

from imgfleet.adapters.meta.migrations import VERSION_TABLE

context.configure(connection=context.config.attributes["connection"], version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
