"""The web shell: role home pages, navigation, language, access, health, buyer app."""

import ast
import re
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.assistant.classifier import default_classifier
from xiaoer.core.db import Database
from xiaoer.http.i18n import catalogue
from xiaoer.web.app import STAFF_ROUTERS

SRC = Path(__file__).resolve().parents[2] / "src" / "xiaoer"
PUBLIC_ROUTES = {"/login", "/logout", "/healthz"}


async def test_healthz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] in {"sqlite", "postgresql"}


async def test_healthz_says_when_the_assistant_is_ready(client: httpx.AsyncClient) -> None:
    default_classifier()  # what the server's start does in a worker thread
    response = await client.get("/healthz")
    assert response.json()["assistant"] == "ready"


@pytest.mark.parametrize(
    ("roles", "present", "absent"),
    [
        (("agent",), ["agent-home"], ["supervisor-home", "manager-home", "admin-home"]),
        (("agent", "supervisor"), ["agent-home", "supervisor-home"], ["manager-home"]),
        (("manager",), ["supervisor-home", "manager-home"], ["agent-home", "fulfilment-home"]),
        (("auditor",), ["fulfilment-home"], ["agent-home", "manager-home"]),
        (("warehouse",), ["fulfilment-home"], ["agent-home", "admin-home"]),
        (("admin",), ["admin-home", "manager-home"], ["agent-home"]),
    ],
)
async def test_each_role_has_its_home_page(
    client: httpx.AsyncClient,
    make_staff: MakeStaff,
    roles: tuple[str, ...],
    present: list[str],
    absent: list[str],
) -> None:
    await make_staff("someone", *roles)
    await sign_in(client, "someone")
    home = (await client.get("/")).text
    for section in present:
        assert f'id="{section}"' in home
    for section in absent:
        assert f'id="{section}"' not in home


async def test_navigation_shows_only_what_the_role_may_open(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    home = (await client.get("/")).text
    assert 'href="/policy"' not in home
    assert 'aria-label="section"' not in home  # the performance pages have their own
    section = (await client.get("/performance/violations")).text
    assert 'href="/performance/payroll"' in section and 'href="/performance/floor"' not in section
    assert (await client.get("/policy")).status_code == 403
    assert (await client.get("/staff")).status_code == 403


async def test_manager_reads_the_policy_and_the_team(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "manager", name="王店长")
    await sign_in(client, "boss")
    policy = await client.get("/policy")
    assert policy.status_code == 200
    assert "<td>备注时限</td><td>20 分钟</td>" in policy.text
    team = await client.get("/staff")
    assert "王店长" in team.text and "店长" in team.text


async def test_language_switches_per_user(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    await make_staff("lina", "agent", name="Lina")
    await sign_in(client, "lina")
    token = csrf_from((await client.get("/")).text)
    switched = await client.post(
        "/me/language", data={"language": "en", "back": "/", "csrf_token": token}
    )
    assert switched.status_code == 303
    home = (await client.get("/")).text
    assert '<html lang="en">' in home and "Hello, Lina" in home
    assert "Service standards" in home


def test_catalogues_have_the_same_keys() -> None:
    assert set(catalogue("zh")) == set(catalogue("en"))


def test_every_template_message_exists() -> None:
    import re

    keys = set()
    for template in SRC.glob("*/templates/**/*.html"):
        text = template.read_text("utf-8")
        keys |= set(re.findall(r't\("([a-z_]+(?:\.[a-z_0-9]+)+)"\s*[,)]', text))
    assert keys, "no messages found in templates"
    assert keys <= set(catalogue("zh")), keys - set(catalogue("zh"))


def test_every_staff_route_uses_the_access_helper() -> None:
    checked = 0
    routes = [route for router in STAFF_ROUTERS for route in router.routes]
    for route in routes:
        assert isinstance(route, APIRoute)
        if route.path in PUBLIC_ROUTES:
            continue
        calls = _all_dependency_calls(route.dependant)
        assert any(hasattr(c, "required_roles") for c in calls), route.path
        checked += 1
    assert checked >= 4


def _all_dependency_calls(dependant: object) -> list[object]:
    found = []
    for dep in getattr(dependant, "dependencies", []):
        found.append(dep.call)
        found.extend(_all_dependency_calls(dep))
    return found


@pytest.mark.parametrize(
    "module", ["web/buyer.py", "reception/buyer_api.py", "reception/buyers.py"]
)
def test_buyer_routes_import_no_staff_or_order_modules(module: str) -> None:
    tree = ast.parse((SRC / module).read_text("utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    forbidden = ("xiaoer.staff", "xiaoer.orders", "xiaoer.http.deps", "xiaoer.core.auth")
    assert not [m for m in imported if m.startswith(forbidden)]


async def test_buyer_app_ignores_the_staff_session(
    client: httpx.AsyncClient, make_staff: MakeStaff, db: Database
) -> None:
    await make_staff("boss", "manager")
    await sign_in(client, "boss")
    public = await client.get("/b/shops/tea")
    assert public.json() == {"code": "tea", "name": "茶香小铺", "default_courier": "顺丰"}
    assert "set-cookie" not in public.headers
    assert (await client.get("/b/staff")).status_code == 404
    assert (await client.get("/b/shops/nope")).json()["detail"] == "no shop 'nope'"
    # The buyer app answers in the language the browser asks for, staff cookie or not.
    refused = await client.post(
        "/b/tea/messages",
        json={"token": "forged", "text": "在吗", "client_id": "c1"},
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    assert refused.status_code == 401 and refused.json()["detail"] == "the buyer token is not valid"


async def test_every_form_post_refuses_a_missing_csrf_token(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("root", "admin", "manager", "agent")
    await sign_in(client, "root")
    posts = [
        route.path
        for router in STAFF_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]
    assert {"/login", "/logout", "/me/language"} <= set(posts)
    for path in posts:
        # a typed path parameter (``{customer_id:int}``) matches only a number
        path = re.sub(r"\{\w+:int\}", "1", path)
        response = await client.post(path, data={"language": "en"})
        assert response.status_code == 403, path
    assert (await client.get("/")).status_code == 200  # still signed in, nothing changed
