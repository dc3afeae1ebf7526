"""The violations page through the real app: detection on view, appeal, decision."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.performance.test_violations import _late_note
from xiaoer.core.db import Database
from xiaoer.performance.models import Violation, ViolationStatus
from xiaoer.shops.models import Shop


async def test_an_agent_appeals_and_the_supervisor_withdraws(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    await make_staff("lan")
    await make_staff("boss", "supervisor")
    order_id = await _late_note(db, shop, agent, "P-1")

    await sign_in(client, "lan")
    assert "没有违规记录" in (await client.get("/performance/violations")).text
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})

    await sign_in(client, "mei")
    page = await client.get("/performance/violations")
    assert page.status_code == 200
    assert f'href="/orders/{order_id}#note"' in page.text and "20.00" in page.text
    async with db.session() as session:
        violation = await session.scalar(select(Violation))
        assert violation is not None
    appealed = await client.post(
        f"/performance/violations/{violation.id}/appeal",
        data={"text": "<b>系统卡了</b>", "csrf_token": csrf_from(page.text)},
    )
    assert appealed.status_code == 303
    shown = await client.get("/performance/violations")
    assert "&lt;b&gt;系统卡了&lt;/b&gt;" in shown.text
    await client.post("/logout", data={"csrf_token": csrf_from(shown.text)})

    await sign_in(client, "boss")
    page = await client.get("/performance/violations")
    decided = await client.post(
        f"/performance/violations/{violation.id}/decide",
        data={"outcome": "withdraw", "decision": "属实，撤销", "csrf_token": csrf_from(page.text)},
    )
    assert decided.status_code == 303
    async with db.session() as session:
        stored = await session.get(Violation, violation.id)
        assert stored is not None and stored.status == ViolationStatus.withdrawn.value
    added = await client.post(
        "/performance/violations",
        data={"agent_id": str(agent.id), "rule": "tracking_neglect", "note": "三天没跟进物流",
              "csrf_token": csrf_from(page.text)},
    )  # fmt: skip
    assert added.status_code == 303
    assert "三天没跟进物流" in (await client.get("/performance/violations")).text
