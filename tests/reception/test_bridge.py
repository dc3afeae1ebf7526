"""The bridge API: idempotent posting by client id, replies after an event id (C1)."""

import httpx
import pytest

from tests.conftest import MakeStaff
from xiaoer.core.db import Database
from xiaoer.reception.bridge import do_add_bridge_channel
from xiaoer.reception.service import do_send_agent_message, do_set_presence
from xiaoer.shops.models import Shop


@pytest.fixture
async def channel(db: Database, shop: Shop) -> tuple[int, dict[str, str]]:
    async with db.session() as session:
        created, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="jd-store")
        await session.commit()
    return created.id, {"Authorization": f"Bearer {secret}"}


async def test_posting_twice_with_one_client_id_stores_once(
    client: httpx.AsyncClient, channel: tuple[int, dict[str, str]]
) -> None:
    cid, auth = channel
    body = {"buyer_id": "jd_778", "nick": "京东买家", "text": "有现货吗", "client_id": "jd-1"}
    first = await client.post(f"/b/bridge/{cid}/messages", json=body, headers=auth)
    second = await client.post(f"/b/bridge/{cid}/messages", json=body, headers=auth)
    assert first.status_code == second.status_code == 200
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert first.json()["message_id"] == second.json()["message_id"]


async def test_replies_come_once_in_order_after_the_given_id(
    client: httpx.AsyncClient,
    channel: tuple[int, dict[str, str]],
    db: Database,
    make_staff: MakeStaff,
) -> None:
    cid, auth = channel
    agent = await make_staff("lina", "agent", name="李娜")
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online")
        await session.commit()
    posted = await client.post(
        f"/b/bridge/{cid}/messages",
        json={"buyer_id": "jd_778", "text": "在吗", "client_id": "jd-1"},
        headers=auth,
    )
    first = (await client.get(f"/b/bridge/{cid}/replies", headers=auth)).json()
    assert [r["sender"] for r in first["replies"]] == ["auto"]
    assert first["replies"][0]["buyer_id"] == "jd_778"
    async with db.session() as session:
        await do_send_agent_message(
            session, agent=agent, conversation_id=posted.json()["conversation_id"], text="在的亲"
        )
        await session.commit()
    second = (
        await client.get(f"/b/bridge/{cid}/replies", params={"after": first["next"]}, headers=auth)
    ).json()
    assert [(r["sender"], r["agent_name"], r["text"]) for r in second["replies"]] == [
        ("agent", "李娜", "在的亲")
    ]
    again = (
        await client.get(f"/b/bridge/{cid}/replies", params={"after": second["next"]}, headers=auth)
    ).json()
    assert again["replies"] == [] and again["next"] == second["next"]


async def test_wrong_secret_or_bad_body_is_refused_clearly(
    client: httpx.AsyncClient, channel: tuple[int, dict[str, str]]
) -> None:
    cid, _ = channel
    wrong = await client.post(
        f"/b/bridge/{cid}/messages",
        json={"buyer_id": "x", "text": "hi", "client_id": "1"},
        headers={"Authorization": "Bearer nope"},
    )
    assert wrong.status_code == 401
    # No session: Chinese, with the code a program reads.
    assert wrong.json() == {"code": "unknown_channel", "detail": "渠道不存在或密钥不对"}
    assert (await client.get(f"/b/bridge/{cid}/replies")).status_code == 401
    missing = await client.post(
        f"/b/bridge/{cid}/messages", json={"buyer_id": "x", "text": "hi"}, headers=channel[1]
    )
    assert missing.status_code == 422
    assert "client_id" in missing.text


async def test_the_widget_endpoints_may_be_called_from_the_shops_own_site(
    client: httpx.AsyncClient, shop: Shop
) -> None:
    preflight = await client.options(
        "/b/tea/session",
        headers={
            "Origin": "https://www.my-curtains.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers
