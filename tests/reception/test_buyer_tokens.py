"""Buyer tokens expire when unused, are renewed by use, and never reach a log: the
widget's socket takes its token in the first frame, and an old widget's ``?token=``
is written into the server's logs redacted."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import app_settings
from tests.live import serving
from xiaoer.core.broker import get_broker
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.reception import buyer_api
from xiaoer.reception.buyers import BadToken, ExpiredToken, new_buyer_token, read_buyer_token
from xiaoer.shops.models import Shop
from xiaoer.web.app import create_app

SECRET = "test-secret-key-0123456789"  # app_settings' key
DAYS = timedelta(days=30)
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.mark.database_free
def test_a_token_expires_when_unused_for_the_set_days() -> None:
    token, identity = new_buyer_token(SECRET, "tea", now=NOW)
    assert read_buyer_token(SECRET, token, "tea", DAYS, now=NOW + DAYS) == identity
    with pytest.raises(ExpiredToken, match="the buyer token has expired"):
        read_buyer_token(SECRET, token, "tea", DAYS, now=NOW + DAYS + timedelta(seconds=1))
    with pytest.raises(BadToken, match="another shop"):
        read_buyer_token(SECRET, token, "silk", DAYS, now=NOW)
    with pytest.raises(BadToken, match="not valid"):
        read_buyer_token("another-secret-0123456789", token, "tea", DAYS, now=NOW)


@pytest.mark.database_free
def test_a_token_without_a_time_is_not_valid_any_more() -> None:
    from itsdangerous import URLSafeSerializer

    untimed = URLSafeSerializer(SECRET, salt="xiaoer.buyer-token").dumps(["tea", "wold"])
    with pytest.raises(BadToken, match="not valid"):
        read_buyer_token(SECRET, untimed, "tea", DAYS)


async def test_opening_the_chat_renews_the_token_of_the_same_buyer(
    client: httpx.AsyncClient, shop: Shop
) -> None:
    now = utcnow()
    old, identity = new_buyer_token(SECRET, "tea", now=now - timedelta(days=20))
    sent = await client.post(
        "/b/tea/messages", json={"token": old, "text": "在吗", "client_id": "a"}
    )
    assert sent.status_code == 200, sent.text
    opened = await client.post("/b/tea/session", json={"token": old})
    assert opened.status_code == 200
    renewed = opened.json()["token"]
    messages = opened.json()["messages"]
    assert [m["text"] for m in messages if m["sender"] == "buyer"] == ["在吗"]  # the same buyer
    later = now + timedelta(days=15)
    assert read_buyer_token(SECRET, renewed, "tea", DAYS, now=later) == identity
    with pytest.raises(ExpiredToken):
        read_buyer_token(SECRET, old, "tea", DAYS, now=later)


async def test_an_expired_token_is_refused_so_the_widget_starts_afresh(
    client: httpx.AsyncClient, shop: Shop
) -> None:
    expired, _ = new_buyer_token(SECRET, "tea", now=utcnow() - DAYS - timedelta(minutes=1))
    opened = await client.post("/b/tea/session", json={"token": expired})
    assert opened.status_code == 401 and opened.json()["detail"] == "买家凭证已过期"
    sent = await client.post("/b/tea/messages", json={"token": expired, "text": "在吗"})
    assert sent.status_code == 401 and sent.json()["detail"] == "买家凭证已过期"
    fresh = await client.post("/b/tea/session", json={})
    assert fresh.status_code == 200 and fresh.json()["messages"] == []


# --- over a real server ------------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    async with serving(app, log_level="info", access_log=True) as address:
        yield address


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    """Every line Uvicorn logs about requests and sockets, as it would write it."""
    handler = Lines()
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.lines
    for logger in loggers:
        logger.removeHandler(handler)


async def test_the_socket_takes_the_token_in_its_first_frame(live: str, shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        opened = (await http.post("/b/tea/session", json={})).json()
    async with connect(f"ws://{live}/b/tea/ws?after={opened['after']}") as ws:
        await ws.send(json.dumps({"type": "auth", "token": opened["token"]}))
        assert json.loads(await ws.recv()) == {"type": "hello", "after": opened["after"]}
        await ws.send(json.dumps({"type": "send", "client_id": "c1", "text": "你好"}))
        async with asyncio.timeout(5):
            while (frame := json.loads(await ws.recv()))["type"] != "ack":
                pass
        assert frame["client_id"] == "c1" and frame["duplicate"] is False


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        ({"type": "auth", "token": "forged.token.value"}, "the buyer token is not valid"),
        ({"type": "send", "text": "hi", "client_id": "x"}, "the buyer token is not valid"),
        ("not json", "the first frame is not JSON"),
    ],
)
async def test_a_socket_without_a_good_first_frame_is_closed(
    live: str, shop: Shop, first: object, reason: str
) -> None:
    async with connect(f"ws://{live}/b/tea/ws") as ws:
        await ws.send(first if isinstance(first, str) else json.dumps(first))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert (ws.close_code, ws.close_reason) == (4401, reason)


async def test_a_socket_that_says_nothing_is_closed(
    live: str, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(buyer_api, "AUTH_SECONDS", 0.3)
    async with connect(f"ws://{live}/b/tea/ws") as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert (ws.close_code, ws.close_reason) == (4401, "send the token first")


async def test_no_buyer_token_is_written_into_the_server_s_log(
    live: str, shop: Shop, server_log: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        opened = (await http.post("/b/tea/session", json={})).json()
        token = opened["token"]
        async with connect(f"ws://{live}/b/tea/ws?after=0") as ws:  # the widget now
            await ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(await ws.recv())["type"] == "hello"
        async with connect(f"ws://{live}/b/tea/ws?token={token}&after=0") as ws:  # before
            assert json.loads(await ws.recv())["type"] == "hello"
        assert (await http.get(f"/b/tea/store?token={token}")).status_code == 200
    await asyncio.sleep(0.2)  # the last lines are written as the connections end
    assert any('"POST /b/tea/session HTTP/1.1" 200' in line for line in server_log), server_log
    assert any(
        '"WebSocket /b/tea/ws?token=[redacted]&after=0" [accepted]' in line for line in server_log
    ), server_log
    assert any('"GET /b/tea/store?token=[redacted] HTTP/1.1" 200' in line for line in server_log), (
        server_log
    )
    assert not [line for line in server_log if token in line]
