"""Staff sessions held on the server: sign-out, a new password and a disabled account
end them wherever a copy of the cookie is; each sign-in starts a new one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from tests.conftest import PASSWORD, MakeStaff, app_settings, csrf_from, sign_in
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.staff.models import StaffAccount, StaffSession
from xiaoer.staff.service import do_change_password, do_set_active
from xiaoer.web.app import SESSION_COOKIE, create_app

COOKIE = SESSION_COOKIE


@pytest.fixture
async def browsers(db: Database, database_url: str) -> AsyncIterator[Any]:
    """A factory of browsers (clients with their own cookie jars) on one app."""
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    opened: list[httpx.AsyncClient] = []

    def browser(**headers: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(
            transport=transport, base_url="http://shop.test", headers=headers
        )
        opened.append(client)
        return client

    yield browser
    for client in opened:
        await client.aclose()


def with_cookie(browser: Any, cookie: str) -> httpx.AsyncClient:
    client: httpx.AsyncClient = browser()
    client.cookies.set(COOKIE, cookie, domain="shop.test")
    return client


async def log_out(client: httpx.AsyncClient) -> None:
    token = csrf_from((await client.get("/")).text)
    out = await client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"


async def sessions_of(db: Database, staff_id: int) -> list[StaffSession]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(StaffSession)
                .where(StaffSession.staff_id == staff_id)
                .order_by(StaffSession.created_at)
            )
        )


async def test_a_cookie_copied_before_logout_stops_working(
    browsers: Any, db: Database, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent")
    browser = browsers()
    await sign_in(browser, "lina")
    copied = browser.cookies[COOKIE]
    thief = with_cookie(browsers, copied)
    assert (await thief.get("/")).status_code == 200
    await log_out(browser)
    refused = await thief.get("/")
    assert refused.status_code == 303 and refused.headers["location"] == "/login?next=/"
    assert (await thief.get("/api/reception/state")).status_code == 401
    [row] = await sessions_of(db, lina.id)
    assert row.revoked_at is not None


async def test_a_new_password_ends_every_session_of_that_account_only(
    browsers: Any, db: Database, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent")
    await make_staff("wang", "agent")
    office, phone, colleague = browsers(), browsers(), browsers()
    await sign_in(office, "lina")
    await sign_in(phone, "lina")
    await sign_in(colleague, "wang")
    async with db.session() as session:
        account = await session.get(StaffAccount, lina.id)
        assert account is not None
        assert await do_change_password(session, account, "a-new-password-9", actor="admin") == 2
        await session.commit()
    assert (await office.get("/")).status_code == 303
    assert (await phone.get("/")).status_code == 303
    assert (await colleague.get("/")).status_code == 200
    assert [row.revoked_at is not None for row in await sessions_of(db, lina.id)] == [True, True]
    fresh = browsers()
    assert (await sign_in(fresh, "lina", PASSWORD)).status_code == 401
    assert (await sign_in(fresh, "lina", "a-new-password-9")).status_code == 303
    assert (await fresh.get("/")).status_code == 200


async def test_disabling_an_account_ends_its_sessions_at_once(
    browsers: Any, db: Database, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent")
    browser = browsers()
    await sign_in(browser, "lina")
    async with db.session() as session:
        account = await session.get(StaffAccount, lina.id)
        assert account is not None
        assert await do_set_active(session, account, False, actor="admin") == 1
        await session.commit()
    assert (await browser.get("/")).status_code == 303
    assert (await sign_in(browsers(), "lina")).status_code == 401
    async with db.session() as session:
        account = await session.get(StaffAccount, lina.id)
        assert account is not None
        assert await do_set_active(session, account, True, actor="admin") == 0
        await session.commit()
    # Enabled again, the account signs in anew; the session that was ended stays ended.
    assert (await browser.get("/")).status_code == 303
    assert (await sign_in(browsers(), "lina")).status_code == 303


async def test_each_sign_in_starts_a_new_session_and_ends_the_browser_s_earlier_one(
    browsers: Any, db: Database, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent")
    browser = browsers()
    await browser.get("/login")
    before_sign_in = browser.cookies[COOKIE]  # what a planted cookie would be
    await sign_in(browser, "lina")
    first = browser.cookies[COOKIE]
    assert first != before_sign_in
    assert (await with_cookie(browsers, before_sign_in).get("/")).status_code == 303
    await sign_in(browser, "lina")
    second = browser.cookies[COOKIE]
    assert (await browser.get("/")).status_code == 200
    assert (await with_cookie(browsers, first).get("/")).status_code == 303
    rows = await sessions_of(db, lina.id)
    assert len({row.id for row in rows}) == 2
    assert [row.revoked_at is not None for row in rows] == [True, False]
    assert second != first


async def test_the_session_records_where_it_was_signed_in_from(
    browsers: Any, db: Database, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent")
    browser = browsers(**{"User-Agent": "Mozilla/5.0 (xiaoer test)"})
    await sign_in(browser, "lina")
    [row] = await sessions_of(db, lina.id)
    assert (row.address, row.user_agent, row.revoked_at) == (
        "127.0.0.1",
        "Mozilla/5.0 (xiaoer test)",
        None,
    )
    # The table keeps a hash of the cookie's secret, not the secret itself.
    assert row.id not in browser.cookies[COOKIE]


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_request_reads_its_session_once_by_primary_key(
    browsers: Any, make_staff: MakeStaff, statements: list[str]
) -> None:
    await make_staff("boss", "manager")
    browser = browsers()
    await sign_in(browser, "boss")
    statements.clear()
    assert (await browser.get("/staff")).status_code == 200
    touching = [s for s in statements if "staff_session" in s]
    assert len(touching) == 1
    assert touching[0].lstrip().startswith("SELECT")
    assert "WHERE staff_session.id = " in touching[0]
