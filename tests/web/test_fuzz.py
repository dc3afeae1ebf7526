"""Random JSON bodies, forms and query strings at every route: only 2xx, 3xx and 4xx.

Hypothesis draws, for each route of the app (the buyer app and the site API
included), values for its path, query, form and JSON fields — by the fields' own
names, so a body reaches the service rather than stopping at a missing field — from
strategies rich in what breaks servers: integers past 64 bits, ``NaN`` and
infinities, lone surrogates, control characters, empty and very long texts, deep
nesting, the wrong types. Requests go to a live server as a signed-in manager (who
may use the most routes) with a valid CSRF token, and anonymously with a channel's
secret for the site API and the bridge.

The examples are derived from a fixed seed so CI sees the same ones every run; set
``XIAOER_FUZZ_EXAMPLES`` (per route) and ``XIAOER_FUZZ_SEED`` to explore further.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import MakeStaff, app_settings, csrf_from, sign_in
from tests.live import serving
from tests.web.test_bad_input import every_route
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.reception.bridge import do_add_bridge_channel
from xiaoer.shops.models import Shop
from xiaoer.web.app import create_app

EXAMPLES = int(os.environ.get("XIAOER_FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("XIAOER_FUZZ_SEED", "20261206"))
# Routes that would end the walk itself: signing out, or the manager's own password.
SKIPPED = {"/logout", "/login", "/account/password"}

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\ud800", "a\udc00b", "\x00", "=1+1", "0", "-1", "1e999", "NaN"]),
    st.text(st.characters(codec="utf-8"), min_size=2000, max_size=5000),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
query_values = st.one_of(
    st.sampled_from(["", "1", "-1", str(2**64), "inf", "nan", "9999-12-31", "2026-13-45"]),
    st.text(max_size=30),
)


def _names(route: Any) -> tuple[list[Any], list[str], list[str], list[str]]:
    dependant = route.dependant
    path = list(dependant.path_params)
    query = [p.name for p in dependant.query_params]
    forms: list[str] = []
    body: list[str] = []
    for param in dependant.body_params:
        annotation = param.field_info.annotation
        fields = getattr(annotation, "model_fields", None)
        if fields is not None:
            body.extend(fields)
        elif type(param.field_info).__name__ in ("Form", "File"):
            forms.append(param.alias)
        else:
            body.append(param.alias)
    return path, query, forms, body


def _quoted(value: object) -> str:
    # A lone surrogate goes out as the bytes a broken client would send (%ED%A0%80).
    return quote(str(value), safe="", errors="surrogatepass")


def _path(template: str, drawn: dict[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        return _quoted(drawn.get(match.group(1).split(":")[0], "1")) or "1"

    return re.sub(r"\{([^}]+)\}", fill, template)


def _form(fields: dict[str, str]) -> str:
    return "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in fields.items())


def _json(value: Any) -> bytes:
    # Lone surrogates go out as \\ud800 escapes, NaN as NaN: what a broken client sends.
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    async with serving(app, log_level="error") as address:
        yield address


class Walk:
    """The clients and secrets of one walk, and the failures it found."""

    def __init__(self, address: str, cookies: httpx.Cookies, token: str, auth: str) -> None:
        self.staff = httpx.Client(base_url=f"http://{address}", cookies=cookies, timeout=20)
        self.anonymous = httpx.Client(base_url=f"http://{address}", timeout=20)
        self.headers = {"X-CSRF-Token": token, "Authorization": auth}
        self.channel = 0
        self.failures: list[str] = []
        self.times: list[tuple[float, str]] = []

    def route(self, template: str, route: Any, method: str) -> None:
        path_params, query, forms, body = _names(route)
        public = template.startswith(("/b/", "/site/"))
        client = self.anonymous if public else self.staff

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            path=st.fixed_dictionaries(
                {
                    p.name: st.one_of(st.just("tea"), query_values)
                    if p.name == "shop_code"
                    else st.one_of(st.just(self.channel), numbers, query_values)
                    if p.name == "channel_id"
                    else st.one_of(numbers, query_values)
                    for p in path_params
                }
            ),
            params=st.dictionaries(st.sampled_from(query or ["q"]), query_values, max_size=4),
            form=st.fixed_dictionaries({}, optional={f: query_values for f in forms}),
            payload=st.one_of(
                st.fixed_dictionaries({}, optional={f: values for f in body}), values
            ),
        )
        def check(
            path: dict[str, Any], params: dict[str, str], form: dict[str, str], payload: Any
        ) -> None:
            url = _path(template, path) + "?" + _form(params)
            headers = dict(self.headers)
            if forms:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                content = _form(form).encode()
            else:
                headers["Content-Type"] = "application/json"
                content = _json(payload)
            started = time.perf_counter()
            try:
                answer = client.request(method, url, content=content, headers=headers)
            except httpx.TimeoutException:
                self.failures.append(f"{method} {url} body={payload!r} -> no answer in 20 s")
                return
            finally:
                self.times.append((time.perf_counter() - started, f"{method} {url}"[:150]))
            if answer.status_code >= 500:
                self.failures.append(
                    f"{method} {url} form={form!r} body={payload!r}"
                    f" -> {answer.status_code} {answer.text[:200]}"
                )

        check()

    def close(self) -> None:
        self.staff.close()
        self.anonymous.close()


def _walk(walk: Walk) -> list[str]:
    """Runs in a worker thread while the server answers in the test's event loop."""
    app = create_app(app_settings("sqlite:///unused.sqlite"))
    for template, route in every_route(app.routes):
        if template in SKIPPED or not hasattr(route, "methods"):
            continue
        for method in sorted(route.methods - {"HEAD"}):
            walk.route(template, route, method)
    walk.close()
    return walk.failures


async def test_random_input_at_every_route_gets_no_server_error(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager")
    await make_staff("mei")
    async with db.session() as session:
        channel, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="官网")
        await session.commit()
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        assert (await sign_in(http, "man")).status_code == 303
        token = csrf_from((await http.get("/")).text)
        cookies = http.cookies
    walk = Walk(live, cookies, token, f"Bearer {secret}")
    walk.channel = channel.id
    failures = await asyncio.to_thread(_walk, walk)
    slowest = sorted(walk.times, reverse=True)[:10]
    print(f"{len(walk.times)} requests in {sum(t for t, _ in walk.times):.1f} s; slowest:")
    for seconds, request in slowest:
        print(f"  {seconds:6.2f} s  {request}")
    assert not failures, "\n".join(failures[:30])
