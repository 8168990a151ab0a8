"""Uploads are deduplicated per home region: two regions cut off from each other may each
take the same bytes from one tenant, and both assets must then replicate everywhere.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted IS NULL")


def upgrade() -> None:
    op.drop_index("assets_live_sha256", "assets")
    op.create_index(
        "assets_live_sha256",
        "assets",
        ["tenant", "sha256", "home_region"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("assets_live_sha256", "assets")
    op.create_index(
        "assets_live_sha256",
        "assets",
        ["tenant", "sha256"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
