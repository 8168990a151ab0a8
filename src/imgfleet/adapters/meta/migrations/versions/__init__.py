"""The revisions, oldest first by `down_revision`; alembic reads every file but this one."""
