"""Database engine, sessions and the column types every table shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from xiaoer.core.clock import as_utc
from xiaoer.core.settings import async_database_url

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# A foreign key marked so (``ForeignKey(..., info=STATEMENT_CHECKED)``) is a constraint
# on SQLite only; on PostgreSQL triggers check it once per statement over all the
# statement's rows, and do its action on delete (migration 0041): a large import writes
# millions of rows, and a foreign key runs a query of its own for each.
STATEMENT_CHECKED = {"checked": "per statement on postgresql"}


def statement_checked(key: object) -> bool:
    """Whether ``key`` (a foreign key or its constraint) is one of those."""
    elements = getattr(key, "elements", [key])
    mark = STATEMENT_CHECKED["checked"]
    return any(getattr(e, "info", {}).get("checked") == mark for e in elements)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware and in UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for a plain or driver URL; SQLite gets WAL and foreign keys."""
    full = async_database_url(url)
    if full.startswith("sqlite"):
        engine = create_async_engine(full, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # Connections are kept, not opened and closed under load: a new one costs a TCP and
    # start-up handshake and starts with no prepared statements. No ping on checkout
    # (a round trip per unit of work): after a server restart the first use of a stale
    # connection fails, the pool drops them all, and the caller's retry gets a new one.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_recycle", 3600)
    return create_async_engine(full, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """One engine and its session factory, owned by a process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = make_sessionmaker(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


async def lock_shop(session: AsyncSession, shop_id: int) -> None:
    """Hold the shop's row until the transaction ends, on PostgreSQL and on SQLite.

    A no-op update takes the row lock on PostgreSQL and the database's write lock on
    SQLite (which ignores ``FOR UPDATE``), so first-time set-up steps of one shop
    (copying shipped defaults, say) run one after the other. Call it before reading
    what the step depends on.
    """
    from sqlalchemy import text

    await session.execute(text("UPDATE shop SET id = id WHERE id = :id"), {"id": shop_id})
