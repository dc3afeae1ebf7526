"""Alembic environment: runs migrations over the async engine of the app."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import xiaoer.all_models  # noqa: F401  (registers every table)
from xiaoer.core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    asyncio.run(_run_online(url))


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `xiaoer migrate`")
run()
