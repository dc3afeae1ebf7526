"""Every response carries the security headers; pages run no inline script or style;
the session cookie is Secure over HTTPS; the API's description is for staff only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.routing import Mount

from tests.conftest import MakeStaff, app_settings, sign_in
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffSession
from xiaoer.web.app import create_app

SRC = Path(__file__).resolve().parents[2] / "src" / "xiaoer"
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
RESOURCE_POLICY = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"
EVERY_ROLE = ("admin", "manager", "supervisor", "agent", "auditor", "warehouse")
NOTE = "刘贺,3米*2.4米,图案正常,12月19发货,自提。送胶。"

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style|\sstyle\s*=", re.IGNORECASE)


def assert_headers(response: httpx.Response, where: str) -> None:
    page = response.headers.get("content-type", "").startswith("text/html")
    policy = PAGE_POLICY if page else RESOURCE_POLICY
    assert response.headers.get("content-security-policy") == policy, where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") == "same-origin", where
    assert response.headers.get("x-frame-options") == "DENY", where
    if page:
        body = response.text
        assert not INLINE_SCRIPT.search(body), (where, INLINE_SCRIPT.search(body))
        assert not HANDLER.search(body), (where, HANDLER.search(body))
        assert not INLINE_STYLE.search(body), (where, INLINE_STYLE.search(body))


def get_routes(routes: list[Any], prefix: str = "") -> list[str]:
    """The path of every GET route, through included routers (FastAPI keeps them nested)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            if "GET" in route.methods:
                found.append(prefix + route.path)
        elif hasattr(route, "original_router"):
            inner = prefix + getattr(route.include_context, "prefix", "")
            found += get_routes(route.original_router.routes, inner)
        elif isinstance(route, Mount) and isinstance(route.app, FastAPI):  # the buyer app
            found += get_routes(route.app.routes, prefix + route.path)
    return found


def get_paths(app: FastAPI, values: dict[str, str]) -> list[str]:
    """Every GET route of the app, its path parameters filled in."""
    fill = lambda m: values.get(m[1], "1")  # noqa: E731
    return sorted({re.sub(r"\{(\w+)(?::\w+)?\}", fill, path) for path in get_routes(app.routes)})


async def _an_order_and_a_conversation(db: Database, shop: Shop) -> dict[str, str]:
    from xiaoer.orders.marks import do_write_note
    from xiaoer.staff.models import StaffAccount

    async with db.session() as session:
        author = await session.scalar(select(StaffAccount).where(StaffAccount.username == "root"))
        assert author is not None
        new = NewOrder(
            number="W-1",
            buyer_id="buyer-1",
            buyer_nick="buyer-1",
            items=(NewItem("遮光窗帘 米白", 12900, 2, sku_code="CL-101"),),
            postage_fen=1000,
            receiver_name="刘贺",
            receiver_phone="13800001234",
            receiver_address="上海市徐汇区漕溪北路1号",
        )
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await do_pay_order(session, order=order)
        await do_write_note(session, order=order, author=author, text=NOTE)
        customer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="w-1"
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=customer, text="你好，在吗？"
        )
        await session.commit()
        return {
            "order_id": str(order.id),
            "cid": str(posted.conversation.id),
            "conversation_id": str(posted.conversation.id),
            "shop_code": shop.code,
            "code": shop.code,
        }


async def test_every_get_route_sends_the_security_headers_and_no_inline_code(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("root", *EVERY_ROLE, level="senior")
    values = await _an_order_and_a_conversation(db, shop)
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]
    paths = get_paths(app, values)
    expected = {"/", "/login", "/workbench", "/b/tea/store", "/b/widget.js", "/api/docs"}
    assert expected | {"/orders/{order_id}/slip".format(**values)} <= set(paths)

    signed_out = {path: await client.get(path) for path in paths}
    for path, response in signed_out.items():
        assert_headers(response, f"signed out: {path}")

    await sign_in(client, "root")
    pages = 0
    for path in paths:
        response = await client.get(path)
        assert response.status_code < 500, path
        assert_headers(response, path)
        if response.status_code == 200 and "text/html" in response.headers["content-type"]:
            pages += 1
    assert pages >= 25  # the walk reached the real pages, not only refusals
    slip = await client.get("/orders/{order_id}/slip".format(**values))
    assert slip.status_code == 200 and 'data-action="print"' in slip.text


async def test_the_buyer_app_sends_its_headers_and_lets_other_sites_load_the_widget(
    client: httpx.AsyncClient, shop: Shop
) -> None:
    store = await client.get("/b/tea/store")
    assert store.status_code == 200
    assert_headers(store, "/b/tea/store")
    assert '<link rel="stylesheet" href="/b/storefront.css">' in store.text
    assert '<script src="/b/widget.js" data-shop="tea" async></script>' in store.text
    for path, kind in [
        ("/b/widget.js", "text/javascript"),
        ("/b/widget.css", "text/css"),
        ("/b/storefront.css", "text/css"),
    ]:
        asset = await client.get(path, headers={"Origin": "https://shop.example"})
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert_headers(asset, path)
        assert asset.headers["cross-origin-resource-policy"] == "cross-origin"
    script = (await client.get("/b/widget.js")).text
    assert "/widget.css" in script and "<style" not in script and '"style"' not in script
    api = await client.get("/b/shops/tea", headers={"Origin": "https://shop.example"})
    assert api.headers["access-control-allow-origin"] == "*"
    assert_headers(api, "/b/shops/tea")


async def test_static_files_are_not_sniffed(client: httpx.AsyncClient) -> None:
    for path in ("/static/app.css", "/static/workbench.js", "/static/slip.js"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert_headers(response, path)


@pytest.mark.database_free
def test_templates_hold_no_inline_script_handler_or_style() -> None:
    templates = sorted(SRC.glob("*/templates/**/*.html"))
    assert len(templates) > 20
    for template in templates:
        text = template.read_text("utf-8")
        for pattern in (INLINE_SCRIPT, HANDLER, INLINE_STYLE):
            assert not pattern.search(text), (template.name, pattern.search(text))
        assert "javascript:" not in text, template.name


# --- the session cookie over HTTPS ------------------------------------------------------


def _browser(
    app: Any, address: str = "127.0.0.1", base_url: str = "http://shop.test"
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50123))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


async def _session_cookie(
    app: Any, address: str = "127.0.0.1", base_url: str = "http://shop.test", **headers: str
) -> str:
    """The session cookie a new browser is given with the sign-in page."""
    async with _browser(app, address, base_url) as browser:
        page = await browser.get("/login", headers=headers)
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("xiaoer_session=")
    return cookie


def _is_secure(cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_the_session_cookie_is_secure_only_when_served_over_https(
    db: Database, database_url: str
) -> None:
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    assert not _is_secure(await _session_cookie(app))
    assert _is_secure(await _session_cookie(app, base_url="https://shop.test"))
    # Without trusted proxies nobody may claim HTTPS for a plain request.
    claimed = await _session_cookie(app, **{"X-Forwarded-Proto": "https"})
    assert not _is_secure(claimed)


async def test_the_cookie_secure_setting_marks_it_always(db: Database, database_url: str) -> None:
    app = create_app(app_settings(database_url, cookie_secure=True), db=db, broker=get_broker())
    assert _is_secure(await _session_cookie(app))


async def test_a_trusted_proxy_says_the_request_came_over_https_and_from_whom(
    db: Database, database_url: str, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina")
    settings = app_settings(database_url, trusted_proxies="10.0.0.1, 10.0.0.5")
    app = create_app(settings, db=db, broker=get_broker())
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert _is_secure(await _session_cookie(app, "10.0.0.1", **forwarded))
    assert not _is_secure(await _session_cookie(app, "10.0.0.2", **forwarded))
    # The client's address, as the proxy saw it, is what the session records (and what
    # the sign-in throttle counts); a stranger's X-Forwarded-For is not believed.
    async with _browser(app, "10.0.0.1") as proxied, _browser(app, "10.0.0.2") as stranger:
        proxied.headers["X-Forwarded-For"] = "203.0.113.9"
        stranger.headers["X-Forwarded-For"] = "203.0.113.9"
        assert (await sign_in(proxied, "lina")).status_code == 303
        assert (await sign_in(stranger, "lina")).status_code == 303
    async with db.session() as session:
        addresses = set(
            await session.scalars(
                select(StaffSession.address).where(StaffSession.staff_id == lina.id)
            )
        )
    assert addresses == {"203.0.113.9", "10.0.0.2"}


# --- the API's description --------------------------------------------------------------


async def test_the_api_description_is_for_signed_in_staff_only(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    schema = await client.get("/openapi.json")
    assert schema.status_code == 303 and schema.headers["location"] == "/login?next=/openapi.json"
    docs = await client.get("/api/docs")
    assert docs.status_code == 401 and docs.json() == {
        "code": "sign_in_first",
        "detail": "请先登录",
    }
    for gone in ("/redoc", "/docs", "/docs/oauth2-redirect", "/api/docs/oauth2-redirect"):
        assert (await client.get(gone)).status_code == 404, gone

    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    schema = await client.get("/openapi.json")
    assert schema.status_code == 200
    assert "/api/reception/state" in schema.json()["paths"]
    assert "/openapi.json" not in schema.json()["paths"]
    docs = await client.get("/api/docs")
    assert docs.status_code == 200
    assert '<td class="mono">/api/reception/state</td>' in docs.text
    assert '<a href="/openapi.json">openapi.json</a>' in docs.text
