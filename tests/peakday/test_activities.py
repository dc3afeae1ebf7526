"""Activities kept by the leaders (D2): list, create, edit, end early, all audited; bad
rules are refused beside their field and lose nothing; agents read but do not keep."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.catalog.models import Promotion
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry
from xiaoer.peakday.activity_models import ActivityRules
from xiaoer.shops.models import Shop


def _window() -> tuple[str, str]:
    start = utcnow() + timedelta(hours=8) - timedelta(days=1)  # Shanghai wall clock
    return start.strftime("%Y-%m-%dT%H:%M"), (start + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")


async def _form(client: httpx.AsyncClient, path: str) -> str:
    return csrf_from((await client.get(path)).text)


async def test_a_supervisor_adds_a_full_reduction_and_every_agent_reads_it(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given
    await make_staff("sup", "supervisor")
    await make_staff("mei", "agent")
    await sign_in(client, "sup")
    starts, ends = _window()
    token = await _form(client, "/peakday/activities/new?kind=full_reduction")
    # when
    made = await client.post("/peakday/activities", data={
        "csrf_token": token, "kind": "full_reduction", "name": "双十一满减", "starts_at": starts,
        "ends_at": ends, "tiers": "满299减30\n599 70", "stacks_with_coupon": "1",
    })  # fmt: skip
    # then
    assert made.status_code == 303
    async with db.session() as session:
        promotion = await session.scalar(select(Promotion).where(Promotion.shop_id == shop.id))
        assert promotion is not None
        assert (promotion.threshold_fen, promotion.discount_fen) == (29900, 3000)
        rules = await session.get(ActivityRules, promotion.id)
        assert rules is not None and rules.rules["tiers"] == [
            {"threshold_fen": 29900, "off_fen": 3000}, {"threshold_fen": 59900, "off_fen": 7000}
        ]
        audit = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.entity == "activity"))).all()  # fmt: skip
        assert audit == ["create"]
    await client.post("/logout", data={"csrf_token": token})
    await sign_in(client, "mei")
    page = await client.get("/peakday/activities")
    assert page.status_code == 200
    assert "满299减30、满599减70（可与店铺券叠加）" in page.text
    assert "进行中" in page.text
    assert "/peakday/activities/new" not in page.text
    assert (await client.get(f"/peakday/activities/{promotion.id}")).status_code == 403


async def test_bad_rules_are_refused_beside_their_field_and_keep_what_was_typed(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager")
    await sign_in(client, "man")
    starts, ends = _window()
    token = await _form(client, "/peakday/activities/new?kind=presale")
    typed = {"csrf_token": token, "kind": "presale", "name": "窗帘预售", "starts_at": starts,
             "ends_at": ends, "deposit_fen": "50", "deposit_worth_fen": "30",
             "balance_from": ends, "balance_until": ends, "ships_on": "2030-01-01"}  # fmt: skip
    answer = await client.post("/peakday/activities", data=typed)
    assert answer.status_code == 422
    assert "定金可抵金额不能少于定金本身" in answer.text
    assert 'data-field="deposit_worth_fen"' in answer.text
    assert 'value="窗帘预售"' in answer.text
    wrong_tier = await client.post("/peakday/activities", data={
        "csrf_token": token, "kind": "full_reduction", "name": "满减", "starts_at": starts,
        "ends_at": ends, "tiers": "满299减300"})  # fmt: skip
    assert wrong_tier.status_code == 422
    assert "第 1 行：减的金额须大于 0 且小于门槛" in wrong_tier.text
    async with db.session() as session:
        assert (await session.scalars(select(Promotion))).all() == []


async def test_a_change_bumps_the_version_and_ending_early_is_audited_with_its_reason(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    await sign_in(client, "sup")
    starts, ends = _window()
    token = await _form(client, "/peakday/activities/new?kind=coupon")
    made = await client.post("/peakday/activities", data={
        "csrf_token": token, "kind": "coupon", "name": "店铺券", "starts_at": starts,
        "ends_at": ends, "face_value_fen": "20", "threshold_fen": "199"})  # fmt: skip
    ident = int(made.headers["location"].rsplit("-", 1)[1])
    page = await client.get(f"/peakday/activities/{ident}")
    assert 'value="199"' in page.text
    changed = await client.post(f"/peakday/activities/{ident}", data={
        "csrf_token": token, "kind": "coupon", "name": "店铺券", "starts_at": starts,
        "ends_at": ends, "face_value_fen": "30", "threshold_fen": "299", "valid_days": "7",
    })  # fmt: skip
    assert changed.status_code == 303
    ended = await client.post(f"/peakday/activities/{ident}/end",
                              data={"csrf_token": token, "reason": "券发完了"})  # fmt: skip
    assert ended.status_code == 303
    again = await client.post(f"/peakday/activities/{ident}/end",
                              data={"csrf_token": token, "reason": "再结束"})  # fmt: skip
    assert again.status_code == 422 and "这个活动已经结束了" in again.text
    async with db.session() as session:
        rules = await session.get(ActivityRules, ident)
        promotion = await session.get(Promotion, ident)
        assert rules is not None and promotion is not None
        assert rules.version == 3 and rules.ended_early_at is not None
        assert rules.rules == {"face_value_fen": 3000, "threshold_fen": 29900, "valid_days": 7}
        assert promotion.ends_at <= utcnow()
        entries = (await session.scalars(select(AuditEntry).where(
            AuditEntry.entity == "activity").order_by(AuditEntry.id))).all()  # fmt: skip
        assert [e.action for e in entries] == ["create", "update", "end"]
        assert entries[2].reason == "券发完了"


async def test_an_upcoming_activity_ended_early_never_starts(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from xiaoer.peakday.activities import (
        ActivityForbidden,
        ActivityInput,
        do_create_activity,
        do_end_activity,
        load_activity,
    )

    sup = await make_staff("sup", "supervisor")
    mei = await make_staff("mei", "agent")
    now = utcnow()
    async with db.session() as session:
        made = await do_create_activity(session, sup, ActivityInput(
            "time_discount", "限时折扣", "", now + timedelta(days=2), now + timedelta(days=3),
            {"percent_off": "20"}))  # fmt: skip
        with pytest.raises(ActivityForbidden):
            await do_end_activity(session, mei, made.id, "不做了")
        ended = await do_end_activity(session, sup, made.id, "不做了", now=now)
        assert ended.state(now) == "ended"
        assert (await load_activity(session, sup, made.id)).state(now + timedelta(days=2)) == (
            "ended"
        )
