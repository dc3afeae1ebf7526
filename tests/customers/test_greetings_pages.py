"""Given a supervisor on the greetings page, when they edit the words, preview and plan
a day, then bad words are refused with the text kept, and the plan is stored once."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.customers.models import Greeting, GreetingTemplate
from xiaoer.shops.models import Shop

PAGE = "/customers/greetings"


async def _post(client: httpx.AsyncClient, path: str, form: dict[str, Any]) -> httpx.Response:
    token = csrf_from((await client.get(PAGE)).text)
    return await client.post(path, data={**form, "csrf_token": token})


async def test_a_supervisor_edits_the_words_and_plans_the_festival(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    await make_staff("amy", "agent")
    async with db.session() as session:
        session.add_all(
            [
                Customer(shop_id=shop.id, channel="taobao", buyer_id=f"b{n}", nick=f"b{n}")
                for n in range(3)
            ]
        )
        await session.commit()

    # An agent may not open the page.
    await sign_in(client, "amy")
    assert (await client.get(PAGE)).status_code == 403
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})

    await sign_in(client, "boss")
    page = await client.get(PAGE)
    assert page.status_code == 200 and "新春快乐" in page.text  # the shipped words

    # Words with an unknown variable are refused, and what was typed is shown again.
    typed = "{name}，{age}岁生日快乐"
    form = {"kind": "birthday", "name": "default", "body": typed, "active": "1"}
    refused = await _post(client, f"{PAGE}/templates", form)
    assert refused.status_code == 422
    assert "未知变量 {age}" in refused.text and "{age}岁生日快乐" in refused.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(GreetingTemplate)) == 0

    saved = await _post(client, f"{PAGE}/templates",
                        {"kind": "holiday", "name": "spring_festival",
                         "body": "{name}，{shop}给您拜年！", "active": "1"})  # fmt: skip
    assert saved.status_code == 303

    # The day's preview says which holiday it is, with the shop's own words.
    preview = await client.get(PAGE, params={"day": "2026-02-17"})
    assert "当天是春节" in preview.text and "b0，茶香小铺给您拜年！" in preview.text
    unknown = await client.get(PAGE, params={"day": "2027-02-06"})
    assert "还没有 2027 年的数据" in unknown.text
    bad = await client.get(PAGE, params={"day": "2026-02-30"})
    assert bad.status_code == 422 and "日期格式应为" in bad.text

    # Planning the day twice stores its three greetings once.
    first = await _post(client, f"{PAGE}/plan", {"day": "2026-02-17"})
    assert first.status_code == 303 and "added=3" in first.headers["location"]
    second = await _post(client, f"{PAGE}/plan", {"day": "2026-02-17"})
    assert "added=0" in second.headers["location"]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Greeting)) == 3
    log = await client.get(PAGE, params={"status": "planned"})
    assert log.text.count('data-status="planned"') == 3
