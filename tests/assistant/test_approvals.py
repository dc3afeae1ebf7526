"""A message beyond the agent's authority is stopped until the supervisor approves it."""

import httpx

from tests.conftest import csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.core.events import read_after
from xiaoer.shops.models import Shop

DISCOUNT = "亲，给您便宜20块吧"


async def _as(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    await sign_in(client, username)
    return {"X-CSRF-Token": csrf_from((await client.get("/")).text)}


async def test_a_discount_beyond_authority_waits_for_the_supervisor(
    client: httpx.AsyncClient, db: Database, shop: Shop, chat: int
) -> None:
    agent = await _as(client, "lina")
    url = f"/api/reception/conversations/{chat}/messages"
    draft = await client.post(
        "/api/assistant/check", json={"conversation_id": chat, "text": DISCOUNT}, headers=agent
    )
    assert draft.json()["blocked"] is True
    assert draft.json()["findings"][0]["code"] == "beyond_authority"

    stopped = await client.post(url, json={"text": DISCOUNT}, headers=agent)
    assert stopped.status_code == 409
    assert stopped.json()["needs_approval"] is True
    assert stopped.json()["blocks"][0]["code"] == "beyond_authority"

    asked = await client.post(
        "/api/assistant/approvals", json={"conversation_id": chat, "text": DISCOUNT}, headers=agent
    )
    assert asked.status_code == 200, asked.text
    again = await client.post(
        "/api/assistant/approvals", json={"conversation_id": chat, "text": DISCOUNT}, headers=agent
    )
    assert again.json()["id"] == asked.json()["id"]  # asking twice asks once
    refused_self = await client.post(
        f"/api/assistant/approvals/{asked.json()['id']}/decision",
        json={"approve": True},
        headers=agent,
    )
    assert refused_self.status_code == 403  # an agent cannot approve their own request

    boss = await _as(client, "boss")
    waiting = (await client.get("/api/assistant/approvals")).json()["approvals"]
    assert [(a["text"], a["buyer_text"]) for a in waiting] == [
        (DISCOUNT, "能便宜点吗？别家才卖八十")
    ]
    decided = await client.post(
        f"/api/assistant/approvals/{asked.json()['id']}/decision",
        json={"approve": True, "note": "老顾客，可以"},
        headers=boss,
    )
    assert decided.json()["status"] == "approved"

    agent = await _as(client, "lina")
    sent = await client.post(url, json={"text": DISCOUNT}, headers=agent)
    assert sent.status_code == 200, sent.text
    once_more = await client.post(url, json={"text": DISCOUNT}, headers=agent)
    assert once_more.status_code == 409  # an approval lets the text through once
    async with db.session() as session:
        kinds = [e.kind for e in await read_after(session, shop.id, 0)]
    assert "approval.requested" in kinds and "approval.decided" in kinds


async def test_a_refused_request_keeps_the_message_stopped(
    client: httpx.AsyncClient, chat: int
) -> None:
    agent = await _as(client, "lina")
    asked = await client.post(
        "/api/assistant/approvals", json={"conversation_id": chat, "text": DISCOUNT}, headers=agent
    )
    boss = await _as(client, "boss")
    await client.post(
        f"/api/assistant/approvals/{asked.json()['id']}/decision",
        json={"approve": False, "note": "不行，送个小礼物吧"},
        headers=boss,
    )
    agent = await _as(client, "lina")
    sent = await client.post(
        f"/api/reception/conversations/{chat}/messages", json={"text": DISCOUNT}, headers=agent
    )
    assert sent.status_code == 409


async def test_a_message_within_authority_needs_no_approval(
    client: httpx.AsyncClient, chat: int
) -> None:
    agent = await _as(client, "lina")
    within = "亲，给您便宜5块吧"
    asked = await client.post(
        "/api/assistant/approvals", json={"conversation_id": chat, "text": within}, headers=agent
    )
    assert asked.status_code == 422
    assert asked.json()["detail"] == "这条消息不需要请示，可以直接发送"
    sent = await client.post(
        f"/api/reception/conversations/{chat}/messages", json={"text": within}, headers=agent
    )
    assert sent.status_code == 200, sent.text
