"""Given conversations with 王芳 held by mei, by bo, waiting in mei's team's queue and in
another team's, and one in another shop, when each role asks the workbench's customer
panel of them, then it answers only for the conversations the reader may read."""

from __future__ import annotations

import httpx

from tests.conftest import MakeStaff, sign_in
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy
from xiaoer.customers.models import OnlineProfile
from xiaoer.customers.stats import refresh
from xiaoer.reception.models import Conversation
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

from .world import NOW, people


async def test_the_panel_answers_who_may_read_the_conversation(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    mei = await make_staff("mei", "agent")
    bo = await make_staff("bo", "agent")
    await make_staff("sup", "supervisor")
    await make_staff("aud", "auditor")
    await make_staff("adm", "admin")
    async with db.session() as session:
        world = await people(session, shop)
        wang = world.ids["wang"]
        hours = [0.0] * 168
        hours[20] = 1.0
        session.add(OnlineProfile(customer_id=wang, shop_id=shop.id, hours=hours, samples=40,
                                  confidence=0.9))  # fmt: skip
        far = await do_create_shop(session, code="far", name="远方")
        stranger = Customer(shop_id=far.id, channel="taobao", buyer_id="s", nick="s")
        session.add(stranger)
        await session.flush()
        chats = {
            "mine": Conversation(shop_id=shop.id, customer_id=wang, team="presale",
                                 agent_id=mei.id, status="active"),
            "bo": Conversation(shop_id=shop.id, customer_id=wang, team="presale",
                               agent_id=bo.id, status="active"),
            "queue": Conversation(shop_id=shop.id, customer_id=wang, team="presale"),
            "after": Conversation(shop_id=shop.id, customer_id=wang, team="aftersale"),
            "far": Conversation(shop_id=far.id, customer_id=stranger.id, team="presale"),
        }  # fmt: skip
        session.add_all(chats.values())
        await refresh(session, shop.id, Policy(), now=NOW)
        await session.commit()
    ids = {k: c.id for k, c in chats.items()}
    expected = {
        "mei": {"mine": 200, "bo": 403, "queue": 200, "after": 403, "far": 404},
        "sup": {"mine": 200, "bo": 200, "queue": 200, "after": 200, "far": 404},
        "aud": dict.fromkeys(ids, 403),
        "adm": dict.fromkeys(ids, 403),
    }
    for user, answers in expected.items():
        await sign_in(client, user)
        got = {
            k: (await client.get(f"/api/customers/panel/{i}")).status_code for k, i in ids.items()
        }
        assert got == answers, user
        client.cookies.clear()
    await sign_in(client, "mei")
    panel = (await client.get(f"/api/customers/panel/{ids['mine']}")).json()
    assert panel["customer_id"] == wang and panel["link"] == f"/customers/{wang}"
    assert (panel["level"], panel["price_level"], panel["orders"], panel["spent_fen"]) == (
        "member", "low", 2, 17000)  # fmt: skip
    assert panel["phone"] == "138****0001" and panel["birthday"] == "农历八月"
    assert panel["greetings"] is True and panel["tags"] == []
    member = panel["member"]  # the level as prices are charged, and how far the next
    assert (member["level"], member["next_level"], member["next_orders"], member["next_fen"]) == (
        "member", "silver", 2, 83000)  # fmt: skip
    assert member["points"] == {"usable": 0, "pending": 0, "debt": 0}
    online = panel["online"]
    assert online["busiest_hour"] == 20 and online["unsure"] is False
    assert online["cells"][0][20] == 4 and len(online["day"]) == 24
    refused = await client.get(f"/api/customers/panel/{ids['bo']}")
    assert refused.json()["code"] and "13800000001" not in refused.text
