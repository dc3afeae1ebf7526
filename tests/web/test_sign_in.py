"""Sign-in: argon2 passwords, signed session, CSRF on every form, throttling, roles."""

import httpx
from sqlalchemy import select

from tests.conftest import PASSWORD, MakeStaff, app_settings, csrf_from, sign_in
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry
from xiaoer.staff.models import StaffAccount


async def test_login_page_is_in_simplified_chinese(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert "用户名" in page.text and "密码" in page.text and "店小二" in page.text


async def test_signed_out_visitor_is_sent_to_the_login_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/policy")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/policy"


async def test_agent_signs_in_and_sees_the_home_page(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent", name="李娜")
    response = await sign_in(client, "lina")
    assert response.status_code == 303 and response.headers["location"] == "/"
    home = await client.get("/")
    assert home.status_code == 200
    assert "李娜，您好" in home.text
    assert 'id="agent-home"' in home.text


async def test_password_is_stored_as_an_argon2_hash(db: Database, make_staff: MakeStaff) -> None:
    account = await make_staff("lina")
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash


async def test_wrong_password_is_refused(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    await make_staff("lina")
    response = await sign_in(client, "lina", "not-the-password")
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.text
    assert (await client.get("/")).status_code == 303


async def test_unknown_user_gets_the_same_answer(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, "nobody")
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.text


async def test_repeated_failures_lock_sign_in_even_with_the_right_password(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    for _ in range(5):
        assert (await sign_in(client, "lina", "guess-guess")).status_code == 401
    locked = await sign_in(client, "lina")
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.text and "15 分钟" in locked.text
    assert (await client.get("/")).status_code == 303


async def test_failures_from_one_address_do_not_lock_the_account_out_elsewhere(
    db: Database, database_url: str, make_staff: MakeStaff
) -> None:
    from xiaoer.web.app import create_app

    await make_staff("admin", "admin")
    app = create_app(app_settings(database_url), db=db, broker=get_broker())

    def browser(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 50123))
        return httpx.AsyncClient(transport=transport, base_url="http://shop.test")

    async with browser("203.0.113.7") as stranger, browser("192.0.2.10") as office:
        for _ in range(5):
            assert (await sign_in(stranger, "admin", "guess-guess")).status_code == 401
        assert (await sign_in(stranger, "admin")).status_code == 429
        assert (await stranger.get("/")).status_code == 303
        assert (await sign_in(office, "admin")).status_code == 303
        assert (await office.get("/")).status_code == 200


async def test_successful_sign_in_clears_earlier_failures(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    for _ in range(4):
        await sign_in(client, "lina", "guess-guess")
    assert (await sign_in(client, "lina")).status_code == 303
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    for _ in range(4):
        assert (await sign_in(client, "lina", "guess-guess")).status_code == 401
    assert (await sign_in(client, "lina")).status_code == 303


async def test_form_without_csrf_token_is_refused(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    await client.get("/login")
    response = await client.post("/login", data={"username": "lina", "password": PASSWORD})
    assert response.status_code == 403
    assert "表单已过期" in response.text
    forged = await client.post(
        "/login", data={"username": "lina", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    assert (await client.get("/")).status_code == 303


async def test_logout_needs_the_token_and_ends_the_session(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    await sign_in(client, "lina")
    assert (await client.post("/logout", data={})).status_code == 403
    assert (await client.get("/")).status_code == 200
    token = csrf_from((await client.get("/")).text)
    out = await client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (await client.get("/")).status_code == 303


async def test_session_cookie_is_signed(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    await make_staff("lina")
    await sign_in(client, "lina")
    cookie = client.cookies["xiaoer_session"]
    payload, _, signature = cookie.rpartition(".")
    client.cookies.set("xiaoer_session", payload + "." + signature[::-1], domain="shop.test")
    assert (await client.get("/")).status_code == 303


async def test_next_only_goes_to_paths_on_this_site(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "username": "lina",
            "password": PASSWORD,
            "next": "//evil.example/steal",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.headers["location"] == "/"


async def test_deactivated_account_loses_its_session(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    account = await make_staff("lina")
    await sign_in(client, "lina")
    async with db.session() as session:
        row = await session.get(StaffAccount, account.id)
        assert row is not None
        row.active = False
        await session.commit()
    assert (await client.get("/")).status_code == 303


async def test_adding_staff_is_audited(db: Database, make_staff: MakeStaff) -> None:
    account = await make_staff("lina", "agent", "supervisor", level="senior")
    async with db.session() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "staff"))
    assert entry is not None
    assert entry.entity_id == str(account.id) and entry.action == "add"
    assert entry.after == {
        "username": "lina",
        "number": account.number,
        "level": "senior",
        "team": "presale",
        "roles": ["agent", "supervisor"],
    }
