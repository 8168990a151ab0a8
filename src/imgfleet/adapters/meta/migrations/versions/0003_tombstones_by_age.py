"""Tombstones are forgotten once every region holds them and their grace period is over:
an index finds those past the grace period.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

DELETED = sa.text("deleted IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "assets_deleted", "assets", ["deleted"], sqlite_where=DELETED, postgresql_where=DELETED
    )


def downgrade() -> None:
    op.drop_index("assets_deleted", "assets")
