"""More counts per KPI day, so that no report reads orders or rounds: the items sold and
refunded (the refund rate), and the rounds by how soon they were answered (the page's
distribution of response times).

Rows counted before this revision hold no item counts: their days are marked to be
counted again (a report recounts a day whose rows are older than its settling).

Revision ID: 0035
Revises: 0034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPLIES = (
    "replies_30s", "replies_60s", "replies_120s", "replies_180s", "replies_300s",
    "replies_600s", "replies_later",
)  # fmt: skip


def upgrade() -> None:
    for name in ("sold_items", "refunded_items"):
        op.add_column(
            "kpi_day", sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
        )
    for name in REPLIES:
        op.add_column("kpi_day", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    long_ago = (
        "2000-01-01 00:00:00.000000"  # as SQLAlchemy stores a time on SQLite
        if op.get_bind().dialect.name == "sqlite"
        else "2000-01-01 00:00:00+00"
    )
    op.execute(f"UPDATE kpi_day SET computed_at = '{long_ago}'")  # noqa: S608


def downgrade() -> None:
    for name in (*REPLIES, "refunded_items", "sold_items"):
        op.drop_column("kpi_day", name)
