"""The first schema: API keys, assets, idempotency records and the outbox.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

LIVE = sa.text("deleted IS NULL")
PENDING = sa.text("published_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("secret_sha256", sa.Text, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("revoked", sa.Double),
    )
    op.create_index("api_keys_tenant", "api_keys", ["tenant", "created"])
    op.create_table(
        "assets",
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
        sa.Column("hlc", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("deleted", sa.Double),
    )
    op.create_index(
        "assets_live_sha256",
        "assets",
        ["tenant", "sha256"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_index("assets_sha256", "assets", ["sha256"])
    op.create_index("assets_tenant_id", "assets", ["tenant", "id"])
    op.create_table(
        "idempotency",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.id"), nullable=False),
        sa.Column("created", sa.Double, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(),
            primary_key=True,
        ),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("asset_id", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("published_at", sa.Double),
        sa.UniqueConstraint("event_id", name="outbox_event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "outbox_pending", "outbox", ["position"], sqlite_where=PENDING, postgresql_where=PENDING
    )


def downgrade() -> None:
    for table in ("outbox", "idempotency", "assets", "api_keys"):
        op.drop_table(table)
