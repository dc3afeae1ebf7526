"""Live chat over real sockets: a Uvicorn server in the test's loop, real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import MakeStaff, app_settings, csrf_from, sign_in
from tests.live import serving
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.web.app import create_app


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    async with serving(app, log_level="warning") as address:
        yield address


@asynccontextmanager
async def buyer_socket(live: str, token: str, after: int) -> AsyncIterator[ClientConnection]:
    """The widget's socket: the token goes in the first frame, never in the address."""
    async with connect(f"ws://{live}/b/tea/ws?after={after}") as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        yield ws


async def _frame(ws: ClientConnection, wait: float = 5) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return data


_seen: dict[int, list[dict[str, Any]]] = {}


async def _until(ws: ClientConnection, pred: Any, wait: float = 5) -> dict[str, Any]:
    """The first frame (received now or earlier on this socket) that ``pred`` accepts."""
    frames = _seen.setdefault(id(ws), [])
    for index, frame in enumerate(frames):
        if pred(frame):
            return frames.pop(index)
    async with asyncio.timeout(wait):
        while True:
            frame = await _frame(ws)
            if pred(frame):
                return frame
            frames.append(frame)


async def _buyer_session(http: httpx.AsyncClient, token: str | None = None) -> dict[str, Any]:
    response = await http.post("/b/tea/session", json={"token": token} if token else {})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def _online_agent(db: Database, make_staff: MakeStaff, username: str = "lina") -> Any:
    agent = await make_staff(username, "agent", name="李娜")
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online")
        await session.commit()
    return agent


async def test_buyer_and_agent_talk_over_sockets(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await _online_agent(db, make_staff)
    async with (
        httpx.AsyncClient(base_url=f"http://{live}") as buyer_http,
        httpx.AsyncClient(base_url=f"http://{live}") as staff_http,
    ):
        await sign_in(staff_http, "lina")
        state = (await staff_http.get("/api/reception/state")).json()
        cookie = "; ".join(f"{k}={v}" for k, v in staff_http.cookies.items())
        opened = await _buyer_session(buyer_http)
        token = opened["token"]
        staff_ws_url = f"ws://{live}/ws/workbench?after={state['after']}"
        async with (
            buyer_socket(live, token, opened["after"]) as buyer_ws,
            connect(staff_ws_url, additional_headers={"Cookie": cookie}) as staff_ws,
        ):
            assert (await _frame(buyer_ws))["type"] == "hello"
            assert (await _frame(staff_ws))["type"] == "hello"
            await buyer_ws.send(json.dumps({"type": "send", "client_id": "c1", "text": "在吗"}))
            ack = await _until(buyer_ws, lambda f: f["type"] == "ack")
            assert ack["client_id"] == "c1" and ack["duplicate"] is False
            welcome = await _until(
                buyer_ws,
                lambda f: f.get("kind") == "message.created" and f["data"]["sender"] == "auto",
            )
            assert "茶香小铺" in welcome["data"]["text"] and "李娜" in welcome["data"]["text"]
            seen = await _until(
                staff_ws,
                lambda f: f.get("kind") == "message.created" and f["data"]["sender"] == "buyer",
            )
            conversation_id = seen["data"]["conversation_id"]
            csrf = csrf_from((await staff_http.get("/")).text)
            sent = await staff_http.post(
                f"/api/reception/conversations/{conversation_id}/messages",
                json={"text": "亲，在的", "client_id": "r1", "typing_ms": 2000},
                headers={"X-CSRF-Token": csrf},
            )
            assert sent.status_code == 200, sent.text
            answer = await _until(
                buyer_ws,
                lambda f: f.get("kind") == "message.created" and f["data"]["sender"] == "agent",
            )
            assert answer["data"] == {
                "id": sent.json()["message_ids"][0],
                "conversation_id": conversation_id,
                "sender": "agent",
                "agent_name": "李娜",
                "text": "亲，在的",
                "created_at": answer["data"]["created_at"],
            }
            assigned = await _until(staff_ws, lambda f: f.get("kind") == "conversation.assigned")
            assert assigned["data"]["agent_id"] == agent.id
            assert assigned["data"]["conversation_id"] == conversation_id


async def test_buyer_resumes_after_a_disconnect_without_loss_or_doubles(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await _online_agent(db, make_staff)
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        opened = await _buyer_session(http)
        token = opened["token"]
        last = opened["after"]
        got: list[int] = []
        async with buyer_socket(live, token, last) as ws:
            await _frame(ws)
            await ws.send(json.dumps({"type": "send", "client_id": "m1", "text": "第一条"}))
            await _until(ws, lambda f: f["type"] == "ack")
            # The buyer's own message is told once the new conversation is routed.
            frame = await _until(ws, lambda f: f.get("kind") == "message.created")
            got.append(frame["seq"])
        # away: two more messages arrive over HTTP (a second tab, say)
        for i in (2, 3):
            r = await http.post(
                "/b/tea/messages", json={"token": token, "text": f"第{i}条", "client_id": f"m{i}"}
            )
            assert r.status_code == 200
        resent = await http.post(
            "/b/tea/messages", json={"token": token, "text": "第3条", "client_id": "m3"}
        )
        assert resent.json()["duplicate"] is True
        async with buyer_socket(live, token, got[-1]) as ws:
            await _frame(ws)
            texts = []
            async with asyncio.timeout(5):
                while len(texts) < 3:
                    frame = await _frame(ws)
                    got.append(frame["seq"])
                    if frame["type"] == "event" and frame["kind"] == "message.created":
                        texts.append(frame["data"]["text"])
    assert got == list(range(got[0], got[0] + len(got)))  # gapless, no repeats
    assert "第2条" in texts and "第3条" in texts and texts.count("第3条") == 1


async def test_a_buyer_sees_only_their_own_conversation(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await _online_agent(db, make_staff)
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        alice = await _buyer_session(http)
        bob = await _buyer_session(http)
        await http.post(
            "/b/tea/messages",
            json={"token": alice["token"], "text": "alice 的私事", "client_id": "a"},
        )
        await http.post(
            "/b/tea/messages", json={"token": bob["token"], "text": "bob 的问题", "client_id": "b"}
        )
        again = await _buyer_session(http, bob["token"])
        texts = [m["text"] for m in again["messages"]]
        assert "bob 的问题" in texts and "alice 的私事" not in texts
        async with buyer_socket(live, bob["token"], 0) as ws:
            await _frame(ws)
            seen = []
            async with asyncio.timeout(3):
                while len(seen) < len(again["messages"]):
                    frame = await _frame(ws)
                    if frame.get("kind") == "message.created":
                        seen.append(frame["data"]["text"])
        assert "alice 的私事" not in seen


async def test_forged_or_foreign_tokens_are_refused(live: str, shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        forged = await http.post("/b/tea/messages", json={"token": "x.y", "text": "hi"})
        assert forged.status_code == 401
        assert forged.json()["detail"] == "买家凭证无效"  # buyers read Chinese
        with pytest.raises(Exception, match="HTTP 403"):
            async with connect(f"ws://{live}/b/tea/ws?token=forged") as ws:
                await ws.recv()


async def test_workbench_socket_needs_a_signed_in_agent_of_this_site(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    with pytest.raises(Exception, match="HTTP 403"):
        async with connect(f"ws://{live}/ws/workbench") as ws:
            await ws.recv()
    await make_staff("lina", "agent")
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    with pytest.raises(Exception, match="HTTP 403"):
        async with connect(
            f"ws://{live}/ws/workbench",
            additional_headers={"Cookie": cookie, "Origin": "http://evil.example"},
        ) as ws:
            await ws.recv()


async def test_public_endpoints_answer_size_and_rate_limits_clearly(live: str, shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        token = (await _buyer_session(http))["token"]
        big = await http.post(
            "/b/tea/messages",
            content=json.dumps({"token": token, "text": "x" * 20000}),
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413
        assert big.json()["detail"] == "请求内容太大：最多 16384 字节"
        english = await http.post(
            "/b/tea/messages",
            content=json.dumps({"token": token, "text": "x" * 20000}),
            headers={"content-type": "application/json", "accept-language": "en"},
        )
        assert english.json() == {
            "code": "too_large",
            "detail": "request too large: at most 16384 bytes",
        }
        empty = await http.post("/b/tea/messages", json={"token": token, "text": "  "})
        assert empty.status_code == 422 and empty.json()["detail"] == "消息不能为空"
        from xiaoer.reception.buyer_api import message_limiter

        codes = []
        for i in range(message_limiter.limit + 5):
            r = await http.post(
                "/b/tea/messages", json={"token": token, "text": f"第{i}条", "client_id": f"r{i}"}
            )
            codes.append(r.status_code)
        # the empty message above counted: one fewer is stored
        allowed = message_limiter.limit - 1
        assert codes[:allowed].count(200) == allowed and set(codes[allowed:]) == {429}
        assert r.json()["detail"] == "消息发得太快了，请稍等一下再发"


async def test_a_failed_store_answers_an_error_frame_and_the_resend_lands(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error while storing is not the buyer's fault: say so, keep the socket."""
    from xiaoer.reception import writer

    await _online_agent(db, make_staff)
    real = writer.write_batch
    failures = [RuntimeError("QueuePool limit reached")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(writer, "write_batch", flaky)
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        opened = await _buyer_session(http)
        async with buyer_socket(live, opened["token"], opened["after"]) as ws:
            await _frame(ws)
            frame = json.dumps({"type": "send", "client_id": "x1", "text": "在吗"})
            await ws.send(frame)
            error = await _until(ws, lambda f: f["type"] in ("error", "ack"))
            assert error["type"] == "error" and error["retry"] is True
            assert error["client_id"] == "x1"
            await ws.send(frame)  # the widget resends until acked
            ack = await _until(ws, lambda f: f["type"] == "ack")
            assert ack["duplicate"] is False


async def test_a_socket_whose_live_events_stop_is_closed_so_the_client_resumes(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xiaoer.reception import api

    await make_staff("lina", "agent", name="李娜")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the database went away")
        yield  # an async generator, as follow() is

    monkeypatch.setattr(api, "follow", broken)
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        await sign_in(http, "lina")
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        async with connect(
            f"ws://{live}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ) as ws:
            assert (await _frame(ws))["type"] == "hello"
            with pytest.raises(ConnectionClosed):
                await _frame(ws)
            assert ws.close_code == 1011


async def test_an_agent_socket_carries_only_their_own_and_their_queue_messages(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    lina = await _online_agent(db, make_staff, "lina")
    await _online_agent(db, make_staff, "wei")
    async with (
        httpx.AsyncClient(base_url=f"http://{live}") as buyers,
        httpx.AsyncClient(base_url=f"http://{live}") as staff,
    ):
        await sign_in(staff, "lina")
        after = (await staff.get("/api/reception/state")).json()["after"]
        cookie = "; ".join(f"{k}={v}" for k, v in staff.cookies.items())
        async with connect(
            f"ws://{live}/ws/workbench?after={after}", additional_headers={"Cookie": cookie}
        ) as ws:
            await _frame(ws)
            routed: dict[int, int] = {}
            for i in range(4):  # routing spreads four buyers over the two agents
                opened = await _buyer_session(buyers)
                r = await buyers.post(
                    "/b/tea/messages",
                    json={"token": opened["token"], "text": f"问题{i}", "client_id": "q"},
                )
                routed[r.json()["conversation_id"]] = i
                r = await buyers.post(
                    "/b/tea/messages",
                    json={"token": opened["token"], "text": f"追问{i}", "client_id": "f"},
                )
            assigned: dict[int, int] = {}
            follow_ups: list[str] = []
            async with asyncio.timeout(5):
                while len(assigned) < 4 or len(follow_ups) < 2:
                    frame = await _frame(ws)
                    data = frame.get("data", {})
                    if frame.get("kind") == "conversation.assigned":
                        assigned[data["conversation_id"]] = data["agent_id"]
                    elif frame.get("kind") == "message.created" and data["text"].startswith("追问"):
                        follow_ups.append(data["text"])
                        assert data["conversation"]["agent_id"] == lina.id
            mine = sorted(routed[c] for c, a in assigned.items() if a == lina.id)
            assert len(mine) == 2
            assert sorted(int(t.removeprefix("追问")) for t in follow_ups) == mine
            with pytest.raises(TimeoutError):  # nothing of the other agent's buyers follows
                await _until(
                    ws,
                    lambda f: (
                        f.get("kind") == "message.created" and f["data"]["text"].startswith("追问")
                    ),
                    wait=0.5,
                )


async def test_a_busy_server_refuses_with_a_retry_frame_and_stores_nothing(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xiaoer.core.admission import Admission
    from xiaoer.reception import buyer_api

    await _online_agent(db, make_staff)
    monkeypatch.setattr(buyer_api, "buyer_messages", Admission(limit=0))
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        opened = await _buyer_session(http)
        async with buyer_socket(live, opened["token"], opened["after"]) as ws:
            await _frame(ws)
            await ws.send(json.dumps({"type": "send", "client_id": "b1", "text": "在吗"}))
            refused = await _until(ws, lambda f: f["type"] in ("error", "ack"))
            assert refused["type"] == "error" and refused["retry"] is True
            assert refused["status"] == 503  # as the HTTP route answers it
            assert refused["message"] == "当前咨询的买家较多，消息稍后会自动重新发送"
        posted = await http.post(
            "/b/tea/messages", json={"token": opened["token"], "text": "在吗", "client_id": "b2"}
        )
        assert posted.status_code == 503 and posted.headers["Retry-After"] == "2"
        assert posted.json()["detail"] == "当前咨询的买家较多，消息稍后会自动重新发送"
        again = await _buyer_session(http, opened["token"])
        assert again["messages"] == []


async def test_a_broken_frame_is_answered_in_the_buyers_language(
    live: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await _online_agent(db, make_staff)
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        opened = await _buyer_session(http)
        async with buyer_socket(live, opened["token"], opened["after"]) as ws:
            await _frame(ws)
            await ws.send(json.dumps({"type": "shout", "text": "在吗"}))
            refused = await _until(ws, lambda f: f["type"] == "error")
            assert refused["message"] == ("无法处理的消息帧：需要一个包含文字和客户端编号的发送帧")
