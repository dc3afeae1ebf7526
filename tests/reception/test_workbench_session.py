"""An open workbench socket ends when its session does: sign-out, a new password,
a disabled account. A Uvicorn server in the test's loop, a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import MakeStaff, app_settings, csrf_from, sign_in
from tests.live import serving
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_set_active
from xiaoer.web.app import create_app

CHECK_SECONDS = 0.2


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    settings = app_settings(database_url, session_check_seconds=CHECK_SECONDS)
    app = create_app(settings, db=db, broker=get_broker())
    async with serving(app, log_level="warning") as address:
        yield address


def cookie_of(http: httpx.AsyncClient) -> str:
    return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


async def test_an_open_workbench_socket_closes_when_its_session_signs_out(
    live: str, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        cookie = cookie_of(http)
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            await asyncio.sleep(CHECK_SECONDS * 3)  # checked, and still signed in
            assert ws.close_code is None
            token = csrf_from((await http.get("/")).text)
            assert (await http.post("/logout", data={"csrf_token": token})).status_code == 303
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), CHECK_SECONDS * 10)
            assert (ws.close_code, ws.close_reason) == (4401, "signed out")
    with pytest.raises(InvalidStatus, match="HTTP 403"):
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ):
            pass


async def test_an_open_workbench_socket_closes_when_the_account_is_disabled(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina", "agent")
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie_of(http)}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "hello"
            async with db.session() as session:
                account = await session.get(StaffAccount, lina.id)
                assert account is not None
                await do_set_active(session, account, False, actor="admin")
                await session.commit()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), CHECK_SECONDS * 10)
            assert ws.close_code == 4401
