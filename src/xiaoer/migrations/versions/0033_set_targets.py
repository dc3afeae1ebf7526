"""The shop's targets (D3): periods by day, month or event, and their goals.

Revision ID: 0033
Revises: 0032
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xiaoer.core.db

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shop_target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shop_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('team', sa.String(length=16), nullable=False),
    sa.Column('starts_at', xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', xiaoer.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff_account.id'], name=op.f('fk_shop_target_created_by_id_staff_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shop_id'], ['shop.id'], name=op.f('fk_shop_target_shop_id_shop'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shop_target')),
    sa.UniqueConstraint('shop_id', 'period', 'team', 'starts_at', 'ends_at', name=op.f('uq_shop_target_shop_id_period_team_starts_at_ends_at'))
    )  # fmt: skip
    with op.batch_alter_table('shop_target', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shop_target_shop_id'), ['shop_id'], unique=False)

    op.create_table('target_goal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('measure', sa.String(length=16), nullable=False),
    sa.Column('goal', sa.BigInteger(), nullable=False),
    sa.Column('milestones', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['target_id'], ['shop_target.id'], name=op.f('fk_target_goal_target_id_shop_target'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_goal')),
    sa.UniqueConstraint('target_id', 'measure', name=op.f('uq_target_goal_target_id_measure'))
    )  # fmt: skip
    with op.batch_alter_table('target_goal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_target_goal_target_id'), ['target_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('target_goal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_target_goal_target_id'))
    op.drop_table('target_goal')
    with op.batch_alter_table('shop_target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shop_target_shop_id'))
    op.drop_table('shop_target')
