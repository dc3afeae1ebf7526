"""The performance pages show the services' messages in the reader's language: Chinese
for staff who read Chinese (the default), the services' own English for the others."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.performance import payroll_pages
from xiaoer.shops.models import Shop


async def test_the_violations_page_speaks_chinese(
    client: httpx.AsyncClient, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    token = csrf_from((await client.get("/performance/violations")).text)
    form = {"agent_id": str(mei.id), "rule": "tracking_neglect", "note": " ", "csrf_token": token}

    no_note = await client.post("/performance/violations", data=form)
    assert no_note.status_code == 422 and "请写明经过" in no_note.text
    assert "say what happened" not in no_note.text
    no_amount = await client.post("/performance/violations", data={**form, "amount_yuan": "许多"})
    assert no_amount.status_code == 422 and "&#39;许多&#39; 不是以元为单位的金额" in no_amount.text
    loss = {**form, "rule": "loss_paid_at_cost_over", "note": "寄错了货"}
    small = await client.post("/performance/violations", data=loss)
    threshold = default_policy().fines.loss_paid_at_cost_over / 100
    assert small.status_code == 422
    assert f"损失超过 ¥{threshold:.2f} 才按成本赔付" in small.text  # the number keeps its format


async def test_the_payroll_and_kpi_pages_speak_chinese(
    client: httpx.AsyncClient, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    page = await client.get("/performance/payroll")
    token = csrf_from(page.text)

    early = await client.post(
        "/performance/payroll/lock", data={"month": "2099-12", "csrf_token": token}
    )
    assert early.status_code == 409
    assert "2099-12 还没结束，要等这个月最后一天过去才能锁定" in early.text
    sheet = await client.get("/performance/payroll.xlsx", params={"month": "2026-13"})
    assert sheet.status_code == 400
    assert sheet.text == "月份 '2026-13' 格式不对，请写成 YYYY-MM，例如 2026-11"
    score = await client.post(
        "/performance/payroll/adjust",
        data={"month": "2026-03", "kind": "team_score", "score": "很好", "team": "presale",
              "reason": "本月表现", "csrf_token": token},
    )  # fmt: skip
    assert score.status_code == 409 and "团队评分须是 0 到 100 的整数" in score.text

    bad_day = await client.get("/performance/kpi", params={"on": "明天"})
    assert bad_day.status_code == 400
    assert bad_day.json()["detail"] == ("日期 '明天' 格式不对，请写成 YYYY-MM-DD，例如 2026-11-23")
    backwards = await client.get(
        "/performance/kpi/rounds", params={"start": "2026-03-05", "end": "2026-03-01"}
    )
    assert backwards.status_code == 400
    assert backwards.json()["detail"] == "时间段的结束日期（2026-03-01）早于开始日期（2026-03-05）"


async def test_leave_messages_follow_the_reader(
    client: httpx.AsyncClient, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("mei")
    await make_staff("boss", "supervisor")
    await make_staff("amy", "supervisor", language="en")
    await sign_in(client, "mei")
    token = csrf_from((await client.get("/performance/leave")).text)
    asked = {"starts_at": "2026-03-02T08:00", "ends_at": "2026-03-02T16:30",
             "reason": "看病", "csrf_token": token}  # fmt: skip
    assert (await client.post("/performance/leave", data=asked)).status_code == 303
    too_long = {**asked, "starts_at": "2026-04-01T08:00", "ends_at": "2026-08-01T08:00"}
    refused = await client.post("/performance/leave", data=too_long)
    assert refused.status_code == 400 and "一次请假最长 92 天，更长的请分几次申请" in refused.text
    page = await client.get("/performance/leave")
    [leave_id] = {
        int(part.split("/")[0]) for part in page.text.split('action="/performance/leave/')[1:]
    }
    assert (
        await client.post(f"/performance/leave/{leave_id}/cancel", data={"csrf_token": token})
    ).status_code == 303
    await client.post("/logout", data={"csrf_token": token})

    decide = {"outcome": "approve", "decision": ""}
    await sign_in(client, "boss")
    token = csrf_from((await client.get("/performance/leave")).text)
    late = await client.post(
        f"/performance/leave/{leave_id}/decide", data={**decide, "csrf_token": token}
    )
    assert late.status_code == 409 and "这条请假申请已经撤回了" in late.text
    await client.post("/logout", data={"csrf_token": token})

    await sign_in(client, "amy")
    token = csrf_from((await client.get("/performance/leave")).text)
    english = await client.post(
        f"/performance/leave/{leave_id}/decide", data={**decide, "csrf_token": token}
    )
    assert english.status_code == 409 and "this leave request is cancelled already" in english.text
    assert "撤回" not in english.text.split("<main")[-1]


async def test_the_payroll_page_opens_on_the_last_month_of_the_shops_clock(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    make_staff: MakeStaff,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1 December 02:00 UTC is already December in Shanghai, still 30 November in Los Angeles.
    instant = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    monkeypatch.setattr(payroll_pages, "utcnow", lambda: instant)
    async with db.session() as session:
        await session.execute(
            update(Shop).where(Shop.id == shop.id).values(timezone="America/Los_Angeles")
        )
        await session.commit()
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    page = await client.get("/performance/payroll")
    assert page.status_code == 200
    assert 'name="month" value="2026-10"' in page.text  # October: November is not over there
