"""PostgreSQL: the statement checks of migration 0041 gather each key's parents in an array.

0041's checks found a statement's parents with ``p.id IN (SELECT … FROM added)`` under
``FOR KEY SHARE OF p``: a join to the transition table, which the lock made the database
copy whole for each of its rows (a million orders, every column), beside a hash of it and
a second pass for the count. Each key's distinct values are now gathered once into an
array, and the parents are looked up and locked by ``p.id = ANY(…)``: the same rows
checked and locked, the same error.

Revision ID: 0043
Revises: 0042
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keys_migration() -> ModuleType:
    """Migration 0041, whose keys, triggers and checks these are (read from its file)."""
    path = Path(__file__).with_name("0041_order_keys_checked_by_statement.py")
    spec = importlib.util.spec_from_file_location("xiaoer_migration_0041", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _statement_check(keys: ModuleType, child: str) -> str:
    """``child``'s check over a statement's new rows, each key's parents in an array."""
    checks = "\n".join(
        f"""    parents := ARRAY(SELECT DISTINCT {column} FROM added WHERE {column} IS NOT NULL);
    IF cardinality(parents) > (SELECT count(*) FROM (SELECT 1 FROM {keys._quoted(parent)} p
            WHERE p.id = ANY(parents) FOR KEY SHARE OF p) l) THEN
{keys._refused(child, column, parent, name)}
    END IF;"""  # noqa: S608 (constants only)
        for table, column, parent, name, _ in keys.KEYS
        if table == child
    )
    function: str = keys._function(
        f"{child}_keys", checks, declare="parents bigint[];", replace=True
    )
    return function


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    keys = _keys_migration()
    for child in keys._children():
        op.execute(_statement_check(keys, child))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    keys = _keys_migration()
    for child in keys._children():
        op.execute(keys._statement_check(child, replace=True))
