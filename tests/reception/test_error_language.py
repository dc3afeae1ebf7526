"""Reception's refusals reach staff and buyers in their language (DESIGN: Language)."""

import httpx
import pytest

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.reception.conftest import MakeAgent, MakeBuyer
from xiaoer.core.db import Database
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop


@pytest.fixture
async def chat(db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer) -> int:
    """A buyer talking to the agent lina."""
    await make_agent("lina", name="李娜")
    async with db.session() as session:
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=await make_buyer("b1"), text="在吗"
        )
        await session.commit()
        return posted.conversation.id


async def _as(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    await sign_in(client, username)
    return {"X-CSRF-Token": csrf_from((await client.get("/")).text)}


async def test_the_workbench_api_refuses_in_chinese(client: httpx.AsyncClient, chat: int) -> None:
    lina = await _as(client, "lina")
    base = f"/api/reception/conversations/{chat}"
    closed = await client.post(f"{base}/close", json={"outcome": "won"}, headers=lina)
    assert closed.status_code == 422
    assert closed.json() == {
        "code": "invalid",
        "detail": "结果 'won' 无效，可选：resolved, ordered, no_reply, escalated, complaint, other",
    }
    moved = await client.post(f"{base}/transfer", json={"agent_id": 999}, headers=lina)
    assert moved.json()["detail"] == "本店没有编号为 999 的客服"
    nowhere = await client.post(f"{base}/transfer", json={}, headers=lina)
    assert nowhere.json()["detail"] == "请选择要转给哪位客服或哪个组"
    missing = await client.get("/api/reception/conversations/98765")
    assert missing.status_code == 404 and missing.json()["detail"] == "找不到会话 98765"
    status = await client.post("/api/reception/presence", json={"status": "busy"}, headers=lina)
    assert status.json() == {
        "code": "invalid",
        "detail": "状态 'busy' 无效，可选：在线（online）、离开（away）、离线（offline）",
    }


async def test_another_agents_conversation_is_refused_in_chinese(
    client: httpx.AsyncClient, chat: int, make_agent: MakeAgent
) -> None:
    await make_agent("wang", online=False)
    wang = await _as(client, "wang")
    sent = await client.post(
        f"/api/reception/conversations/{chat}/messages", json={"text": "您好"}, headers=wang
    )
    assert sent.status_code == 403
    assert sent.json()["detail"] == "这个会话由其他客服接待"


async def test_staff_who_chose_english_read_english(
    client: httpx.AsyncClient, chat: int, make_staff: MakeStaff
) -> None:
    await make_staff("amy", "supervisor", language="en")
    amy = await _as(client, "amy")
    closed = await client.post(
        f"/api/reception/conversations/{chat}/close", json={"outcome": "won"}, headers=amy
    )
    assert closed.json() == {
        "code": "invalid",
        "detail": "outcome 'won': expected one of "
        "resolved, ordered, no_reply, escalated, complaint, other",
    }


async def test_the_phrase_page_explains_a_bad_shortcut_in_chinese(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    token = csrf_from((await client.get("/reception/phrases")).text)
    refused = await client.post(
        "/reception/phrases",
        data={"shortcut": "a b", "text": "亲，在的", "csrf_token": token},
    )
    assert refused.status_code == 422
    assert "快捷编码 &#39;a b&#39; 不可用：请用 1–32 个字母、数字、汉字、“-”或“_”" in refused.text
    gone = await client.post(
        "/reception/phrases/4242/delete", data={"scope": "own", "csrf_token": token}
    )
    assert gone.status_code == 422 and "找不到快捷短语 4242" in gone.text


async def test_the_calls_page_refuses_an_unknown_outcome_in_chinese(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    token = csrf_from((await client.get("/reception/calls")).text)
    refused = await client.post(
        "/reception/calls",
        data={
            "contact": "13912345678",
            "summary": "问发货",
            "outcome": "lost",
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    assert "结果 &#39;lost&#39; 无效，可选：resolved, ordered, callback" in refused.text


async def test_buyers_read_chinese_without_a_session(client: httpx.AsyncClient, shop: Shop) -> None:
    nowhere = await client.post("/b/nope/session", json={})
    assert nowhere.status_code == 404 and nowhere.json()["detail"] == "找不到店铺 'nope'"
    store = await client.get("/b/nope/store")
    assert store.status_code == 404 and store.json()["detail"] == "找不到店铺 'nope'"
    token = (await client.post("/b/tea/session", json={})).json()["token"]
    long = await client.post("/b/tea/messages", json={"token": token, "text": "好" * 2001})
    assert long.status_code == 422
    assert long.json()["detail"] == "消息共 2001 个字，最多只能 2000 个字"
    foreign = await client.post("/b/other/messages", json={"token": token, "text": "在吗"})
    assert foreign.status_code == 401 and foreign.json()["detail"] == "买家凭证属于另一家店铺"
