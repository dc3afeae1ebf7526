"""Schema migrations: ``xiaoer migrate`` and the check that models match them."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from xiaoer.core.db import Base, make_engine, statement_checked


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("xiaoer") / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database named by ``url`` to ``revision`` (blocking)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _diff(connection: Connection, metadata: MetaData) -> list[Any]:
    postgres = connection.dialect.name == "postgresql"

    def declared_here(item: Any, _name: Any, kind: str, reflected: bool, _other: Any) -> bool:
        # PostgreSQL checks these keys with triggers instead (``db.STATEMENT_CHECKED``).
        return not (postgres and kind == "foreign_key_constraint" and not reflected
                    and statement_checked(item))  # fmt: skip

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": declared_here}
    )
    return list(compare_metadata(context, metadata))


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def schema_diff(url: str, metadata: MetaData | None = None) -> list[Any]:
    """What autogenerate would change in a migrated database; empty when in step.

    The caller imports every table first (``xiaoer.all_models``): core sits below the
    packages that define them.
    """
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_diff, metadata or Base.metadata)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()
