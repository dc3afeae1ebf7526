"""PostgreSQL: check an order's shop and buyer, and an item's order, once per statement.

A foreign key checks each row inserted with a query of its own: a million-order import
ran three million of them (the order's shop, the order's buyer, the item's order), a
sixth of the database's work on it. These three keys are checked instead by triggers
that see a statement's rows together (transition tables): the rows' distinct shops,
buyers or orders are looked up at once and share-locked for their key, as the foreign
key's check does, so that none is deleted before the writing transaction ends; a row
whose parent is missing fails the statement with the foreign key's error code (23503).

The keys' actions on deleting the parent are triggers too, again one per statement:
a shop's orders are deleted with it, a buyer's orders keep their rows with no buyer,
an order's items go with it. A parent's id is never changed; changing one that is
referenced fails, as before. SQLite keeps the foreign keys as they were.

Revision ID: 0041
Revises: 0040
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (child table, column, parent table, the foreign key's name, its action on delete)
KEYS = (
    ("order", "shop_id", "shop", "fk_order_shop_id_shop", "CASCADE"),
    ("order", "customer_id", "customer", "fk_order_customer_id_customer", "SET NULL"),
    ("order_item", "order_id", "order", "fk_order_item_order_id_order", "CASCADE"),
)


def _quoted(name: str) -> str:
    return f'"{name}"'


def _function(name: str, body: str, *, declare: str = "", replace: bool = False) -> str:
    """A trigger function of ``body``'s statements (an AFTER trigger: it returns NULL),
    with ``declare``'s variables; ``replace`` replaces the function of that name."""
    create = "CREATE OR REPLACE FUNCTION" if replace else "CREATE FUNCTION"
    variables = f"DECLARE\n    {declare}\n" if declare else ""
    return f"""
{create} xiaoer_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
{variables}BEGIN
{body}
    RETURN NULL;
END
$$"""


def _locked(column: str, parent: str) -> str:
    """How many of the statement's distinct parents exist, each locked for its key."""
    return (
        f"(SELECT count(*) FROM (SELECT 1 FROM {_quoted(parent)} p"  # noqa: S608 (constants)
        f" WHERE p.id IN (SELECT {column} FROM added) FOR KEY SHARE OF p) l)"
    )


def _statement_check(child: str, *, replace: bool = False) -> str:
    """The function checking every key of ``child`` over a statement's new rows."""
    keys = [(column, parent, name) for table, column, parent, name, _ in KEYS if table == child]
    checks = "\n".join(
        f"""    IF (SELECT count(DISTINCT {column}) FROM added) > {_locked(column, parent)} THEN
{_refused(child, column, parent, name)}
    END IF;"""  # noqa: S608 (constants only)
        for column, parent, name in keys
    )
    return _function(f"{child}_keys", checks, replace=replace)


def _refused(child: str, column: str, parent: str, name: str) -> str:
    """The foreign key's error, for a statement whose rows name a missing parent."""
    return f"""        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
            '{child}', '{name}'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'A row''s {column} names no row of table "{parent}".';"""


def _row_check(child: str, column: str, parent: str, name: str) -> str:
    """A row whose key was changed by an update: its new parent checked and locked."""
    return _function(
        f"{child}_{column}_changed",
        f"""    IF NEW.{column} IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM {_quoted(parent)} p WHERE p.id = NEW.{column} FOR KEY SHARE OF p) THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
            '{child}', '{name}'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key ({column})=(%s) is not present in table "{parent}".',
                                  NEW.{column});
    END IF;""",  # noqa: S608 (constants only)
    )


def _on_delete(parent: str) -> str:
    """What a statement deleting rows of ``parent`` does to the rows naming them."""
    actions = []
    for child, column, table, _, action in KEYS:
        if table != parent:
            continue
        gone = f"{column} IN (SELECT id FROM gone)"  # noqa: S608 (constants only)
        if action == "CASCADE":
            actions.append(f"    DELETE FROM {_quoted(child)} WHERE {gone};")  # noqa: S608
        else:
            actions.append(f"    UPDATE {_quoted(child)} SET {column} = NULL WHERE {gone};")  # noqa: S608
    return _function(f"{parent}_gone", "\n".join(actions))


def _id_kept(parent: str) -> str:
    """A referenced parent's id is not changed (the foreign keys' NO ACTION on update)."""
    referenced = " OR ".join(
        f"EXISTS (SELECT 1 FROM {_quoted(child)} WHERE {column} = OLD.id)"  # noqa: S608
        for child, column, table, _, _ in KEYS
        if table == parent
    )
    return _function(
        f"{parent}_id_kept",
        f"""    IF {referenced} THEN
        RAISE EXCEPTION 'the id of a row of table "{parent}" that other rows name was changed'
            USING ERRCODE = 'foreign_key_violation';
    END IF;""",
    )


def _children() -> list[str]:
    return sorted({child for child, *_ in KEYS})


def _parents() -> list[str]:
    return sorted({parent for _, _, parent, _, _ in KEYS})


def _trigger(name: str, table: str, event: str, each: str) -> None:
    """Trigger ``name`` on ``table``, running the function of the same name."""
    op.execute(
        f"CREATE TRIGGER {name} AFTER {event} ON {_quoted(table)} {each} "
        f"EXECUTE FUNCTION xiaoer_{name}()"
    )


def _drop(name: str, table: str) -> None:
    op.execute(f"DROP TRIGGER {name} ON {_quoted(table)}")
    op.execute(f"DROP FUNCTION xiaoer_{name}()")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for child, _, _, name, _ in KEYS:
        op.drop_constraint(name, child, type_="foreignkey")
    for child in _children():
        op.execute(_statement_check(child))
        _trigger(f"{child}_keys", child, "INSERT",
                 "REFERENCING NEW TABLE AS added FOR EACH STATEMENT")  # fmt: skip
    for child, column, parent, name, _ in KEYS:
        op.execute(_row_check(child, column, parent, name))
        _trigger(f"{child}_{column}_changed", child, f"UPDATE OF {column}",
                 f"FOR EACH ROW WHEN (OLD.{column} IS DISTINCT FROM NEW.{column})")  # fmt: skip
    for parent in _parents():
        op.execute(_on_delete(parent))
        _trigger(f"{parent}_gone", parent, "DELETE",
                 "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT")  # fmt: skip
        op.execute(_id_kept(parent))
        _trigger(f"{parent}_id_kept", parent, "UPDATE OF id",
                 "FOR EACH ROW WHEN (OLD.id <> NEW.id)")  # fmt: skip


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for parent in _parents():
        _drop(f"{parent}_id_kept", parent)
        _drop(f"{parent}_gone", parent)
    for child, column, _, _, _ in KEYS:
        _drop(f"{child}_{column}_changed", child)
    for child in _children():
        _drop(f"{child}_keys", child)
    for child, column, parent, name, action in KEYS:
        op.create_foreign_key(name, child, parent, [column], ["id"], ondelete=action)
