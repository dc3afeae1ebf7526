"""Fixtures: a fresh database per test run, emptied after every test.

SQLite by default; PostgreSQL when ``XIAOER_TEST_DATABASE_URL`` names a server
(e.g. ``postgresql://postgres@127.0.0.1/test``): a new database is created for
the run beside the one named and dropped at the end, so runs never collide.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

import xiaoer.all_models  # noqa: F401
from xiaoer.core import auth
from xiaoer.core.broker import MemoryBroker, set_broker
from xiaoer.core.db import Base, Database
from xiaoer.core.migrate import upgrade
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

SERVER_URL = os.environ.get("XIAOER_TEST_DATABASE_URL", "")


def _admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg(url: str, statement: str) -> None:
    import asyncio

    import asyncpg

    async def run() -> None:
        parsed = make_url(url)
        conn = await asyncpg.connect(
            user=parsed.username,
            password=parsed.password,
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            database=parsed.database,
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    # A thread of its own: callers may be inside a running event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def create_scratch_database(tmp: Path, name: str = "") -> str:
    """A new empty database of the kind under test; returns its plain URL."""
    if SERVER_URL:
        db_name = f"xiaoer_t_{name}{uuid.uuid4().hex[:10]}"
        _pg(SERVER_URL, f'CREATE DATABASE "{db_name}"')
        return (
            make_url(_admin_url(SERVER_URL))
            .set(database=db_name)
            .render_as_string(hide_password=False)
        )
    stem = name or "run"
    return f"sqlite:///{tmp / f'{stem}-{uuid.uuid4().hex[:6]}.sqlite'}"


def drop_scratch_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = make_url(url).database
        _pg(SERVER_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass leaves out what touches no database: the SQLite pass ran it."""
    if not os.environ.get("XIAOER_TEST_DATABASE_URL", "").startswith("postgresql"):
        return
    kept = [item for item in items if item.get_closest_marker("database_free") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes() -> Iterator[None]:
    """Argon2id at its smallest cost for the accounts the tests make by the thousand:
    the product's own cost (~130 ms a hash, as much again to verify) is for people's
    passwords, and paid per account it was minutes of every run. A hash carries its
    cost, so the servers the tests start verify these as quickly."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
        yield


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run's data directory (uploads, rejects files), for the app and the servers
    it starts, never the user's own."""
    folder = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XIAOER_DATA_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = create_scratch_database(tmp_path_factory.mktemp("db"))
    upgrade(url)
    yield url
    drop_scratch_database(url)


@pytest.fixture(scope="session")
def on_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


def _touched_tables_query(tables: list[str]) -> str:
    """One query naming the tables a test wrote to: holding rows, or with an id
    sequence that has been drawn from (a rolled-back insert leaves no row)."""
    parts = []
    for name in tables:
        touched = f'EXISTS (SELECT 1 FROM "{name}")'
        if "id" in Base.metadata.tables[name].c:
            sequence = f"pg_get_serial_sequence('\"{name}\"', 'id')"
            touched += f" OR pg_sequence_last_value({sequence}) IS NOT NULL"
        parts.append(f"SELECT '{name}' WHERE {touched}")
    return " UNION ALL ".join(parts)


# Fixtures whose server processes still run when a test's tables are emptied.
LIVE_SERVERS = frozenset({"server", "two_servers"})


async def empty_all_tables(db: Database, *, live_server: bool = False) -> None:
    """Every table emptied, its ids starting again from 1. On PostgreSQL only the
    tables a test touched are emptied, by DELETE, children first: a test leaves a few
    rows, and a TRUNCATE (new files for every table and index, ~0.3–1 s) costs more
    than deleting them. With a ``live_server`` still running (it may be closing the
    test's sockets, and write as it does) they are truncated instead: TRUNCATE waits
    for the server's transactions and a late write fails, where a DELETE would let it
    land after and leak into the next test. Should the server pick this statement as a
    deadlock's victim, it is run again."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    for attempt in range(5):
        try:
            async with db.engine.begin() as conn:
                if db.dialect == "postgresql":
                    touched = set(await conn.scalars(text(_touched_tables_query(tables))))
                    quoted = ", ".join(f'"{t}"' for t in tables if t in touched)
                    if live_server and quoted:
                        await conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
                        touched = set()
                    for table in (t for t in tables if t in touched):
                        await conn.execute(text(f'DELETE FROM "{table}"'))
                        if "id" in Base.metadata.tables[table].c:
                            sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
                            await conn.execute(text(f"SELECT setval({sequence}, 1, false)"))
                else:
                    for table in tables:
                        await conn.execute(text(f'DELETE FROM "{table}"'))
            return
        except DBAPIError as exc:
            if "deadlock detected" not in str(exc) or attempt == 4:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


@pytest.fixture
async def db(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    database = Database(database_url)
    previous = set_broker(MemoryBroker())
    try:
        yield database
    finally:
        set_broker(previous)
        await empty_all_tables(
            database, live_server=not LIVE_SERVERS.isdisjoint(request.fixturenames)
        )
        await database.dispose()


@pytest.fixture
async def shop(db: Database) -> Shop:
    async with db.session() as session:
        created = await do_create_shop(session, code="tea", name="茶香小铺", default_courier="顺丰")
        await session.commit()
        return created


# --- the web app -----------------------------------------------------------

import re  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402

import httpx  # noqa: E402

from xiaoer.core.settings import Settings  # noqa: E402
from xiaoer.staff.models import StaffAccount  # noqa: E402
from xiaoer.staff.service import do_add_staff  # noqa: E402

PASSWORD = "correct-horse-7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def app_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "secret_key": "test-secret-key-0123456789",
        "run_timers": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def client(db: Database, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    from xiaoer.core.broker import get_broker
    from xiaoer.web.app import create_app

    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as c:
        yield c


MakeStaff = Callable[..., Awaitable[StaffAccount]]


@pytest.fixture
def make_staff(db: Database, shop: Shop) -> MakeStaff:
    counter = iter(range(1001, 9999))

    async def make(
        username: str,
        *roles: str,
        level: str = "junior",
        team: str = "presale",
        name: str = "",
        language: str = "zh",
    ) -> StaffAccount:
        async with db.session() as session:
            account = await do_add_staff(
                session,
                shop_id=shop.id,
                username=username,
                number=str(next(counter)),
                name=name or username.title(),
                password=PASSWORD,
                level=level,
                team=team,
                roles=roles or ("agent",),
                language=language,
            )
            await session.commit()
            return account

    return make


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )


async def insert_old_shop(session: Any, code: str, name: str) -> int:
    """A shop as the first schema kept it, for migration tests that stop at an old
    revision (the ORM's ``Shop`` has columns later revisions added)."""
    from sqlalchemy import text as sql

    return int(
        await session.scalar(
            sql(
                "INSERT INTO shop (code, name, platform, timezone, default_courier, created_at) "
                "VALUES (:code, :name, 'taobao', 'Asia/Shanghai', '', CURRENT_TIMESTAMP) "
                "RETURNING id"
            ),
            {"code": code, "name": name},
        )
    )
