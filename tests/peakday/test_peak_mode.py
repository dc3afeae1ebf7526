"""Peak mode (D1, C6): prepared in advance, switched on and off on time by its timers,
and what it changes while on — the role split, the cap per agent, the peak automatic
replies and quick phrases, held refunds — all audited and put back when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

import xiaoer.timer_handlers  # noqa: F401  (the switches' handlers)
from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.aftersales.refunds import peak_day
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry, Event, Timer
from xiaoer.core.timers import fire_all_due
from xiaoer.peakday.models import PeakMode, PeakStatus
from xiaoer.peakday.peak_mode import (
    PeakModeError,
    Preparation,
    do_cancel,
    do_change,
    do_prepare,
    do_switch,
)
from xiaoer.reception.autoreply import auto_replies
from xiaoer.reception.models import AutoReply, QuickPhrase
from xiaoer.reception.phrases import phrases_for
from xiaoer.shops.models import Shop
from xiaoer.shops.service import PEAK_OFF, agent_cap, do_create_shop, peak_state
from xiaoer.staff.models import StaffAccount

NOW = datetime(2026, 11, 5, 12, tzinfo=UTC)
START = datetime(2026, 11, 10, 16, tzinfo=UTC)  # 11-11 00:00 in Shanghai
END = datetime(2026, 11, 11, 16, tzinfo=UTC)


def _asked(**changes: object) -> Preparation:
    values: dict[str, object] = {
        "name": "双十一", "starts_at": START, "ends_at": END, "agent_cap": 12,
        "refund_blackout": True, "teams": {},
    }  # fmt: skip
    values.update(changes)
    return Preparation(**values)  # type: ignore[arg-type]


async def _teams(db: Database) -> dict[str, str]:
    async with db.session() as session:
        return {a.username: a.team for a in await session.scalars(select(StaffAccount))}


async def test_it_switches_on_and_off_on_time_and_puts_everything_back(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "manager")
    mei = await make_staff("mei", "agent", team="presale")
    lin = await make_staff("lin", "agent", team="presale")
    async with db.session() as session:
        session.add_all([
            AutoReply(shop_id=shop.id, kind="welcome", text="亲，欢迎光临", keywords=[]),
            AutoReply(shop_id=shop.id, kind="welcome", text="亲，双十一快乐", keywords=[],
                      peak=True),
            AutoReply(shop_id=shop.id, kind="busy", text="亲，请稍等", keywords=[]),
            QuickPhrase(shop_id=shop.id, shortcut="hi", text="您好"),
            QuickPhrase(shop_id=shop.id, shortcut="hi", text="双十一您好", peak=True),
            QuickPhrase(shop_id=shop.id, shortcut="ship", text="48小时内发货"),
        ])  # fmt: skip
        mode = await do_prepare(session, boss, _asked(teams={mei.id: "aftersale"}), now=NOW)
        await session.commit()
        assert await peak_state(session, shop.id) == PEAK_OFF
        assert [r.text for r in await auto_replies(session, shop.id)
                if r.kind == "welcome"] == ["亲，欢迎光临"]  # fmt: skip
        assert [p.text for p in await phrases_for(session, shop.id, lin.id, peak=False)] == [
            "您好", "48小时内发货"]  # fmt: skip
    # before its start nothing happens
    await fire_all_due(db, now=START - timedelta(seconds=1))
    assert (await _teams(db))["mei"] == "presale"
    # at its start: on
    await fire_all_due(db, now=START)
    async with db.session() as session:
        state = await peak_state(session, shop.id)
        assert state.on and state.agent_cap == 12 and state.refund_blackout
        assert agent_cap(state, 8) == 12 and agent_cap(PEAK_OFF, 8) == 8
        welcome = [r.text for r in await auto_replies(session, shop.id) if r.kind == "welcome"]
        assert welcome == ["亲，双十一快乐"]
        assert [r.text for r in await auto_replies(session, shop.id) if r.kind == "busy"] == [
            "亲，请稍等"]  # a kind without a peak reply keeps its own  # fmt: skip
        assert [p.text for p in await phrases_for(session, shop.id, lin.id, peak=True)] == [
            "双十一您好", "48小时内发货"]  # fmt: skip
        assert await peak_day(session, shop.id, START + timedelta(hours=1)) is not None
        on = await session.get(PeakMode, mode.id)
        assert on is not None and on.status == PeakStatus.on.value and on.switched_on_at == START
        switched = list(await session.scalars(select(Event).where(
            Event.kind == "peakday.switched")))  # fmt: skip
        assert [e.payload["on"] for e in switched] == [True]
    assert (await _teams(db))["mei"] == "aftersale"
    # a second firing changes nothing; at its end: off and the teams back
    await fire_all_due(db, now=START + timedelta(minutes=5))
    await fire_all_due(db, now=END)
    async with db.session() as session:
        assert await peak_state(session, shop.id) == PEAK_OFF
        assert await peak_day(session, shop.id, END + timedelta(hours=1)) is None
        off = await session.get(PeakMode, mode.id)
        assert off is not None and off.status == PeakStatus.off.value
        actions = list(await session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "peak_mode")
            .order_by(AuditEntry.id)))  # fmt: skip
        assert actions == ["prepare", "switch_on", "switch_off"]
        assert await session.scalar(select(func.count()).select_from(Timer).where(
            Timer.kind.like("peakday.%"), Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None))) == 0  # fmt: skip
    assert (await _teams(db)) == {"boss": "presale", "mei": "presale", "lin": "presale"}


async def test_a_team_changed_by_hand_while_on_is_left_as_it_is(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "manager")
    mei = await make_staff("mei", "agent")
    async with db.session() as session:
        mode = await do_prepare(session, boss, _asked(teams={mei.id: "assist"}), now=NOW)
        await do_switch(session, boss, mode.id, True, now=NOW)
        await session.commit()
    async with db.session() as session:
        moved = await session.get(StaffAccount, mei.id)
        assert moved is not None and moved.team == "assist"
        moved.team = "aftersale"  # the supervisor moved her again during the day
        await session.commit()
    async with db.session() as session:
        await do_switch(session, boss, mode.id, False, now=NOW + timedelta(hours=1))
        with pytest.raises(PeakModeError):
            await do_switch(session, boss, mode.id, False)
        await session.commit()
    assert (await _teams(db))["mei"] == "aftersale"


async def test_bad_preparations_are_refused_with_their_field(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "manager")
    async with db.session() as session:
        other = await do_create_shop(session, code="rugs", name="地毯铺")
        stranger = StaffAccount(shop_id=other.id, username="far", number="9", name="Far",
                                password_hash="x", roles=["agent"])  # fmt: skip
        session.add(stranger)
        await do_prepare(session, boss, _asked(), now=NOW)
        await session.commit()
    cases = [
        (_asked(ends_at=START), "ends_at"),
        (_asked(starts_at=NOW - timedelta(days=3), ends_at=NOW - timedelta(days=2)), "ends_at"),
        (_asked(ends_at=START + timedelta(days=20)), "ends_at"),
        (_asked(agent_cap=0), "agent_cap"),
        (_asked(name=" "), "name"),
        (_asked(starts_at=END - timedelta(hours=2), ends_at=END + timedelta(hours=2)),
         "starts_at"),  # overlaps the one prepared
    ]  # fmt: skip
    for asked, field in cases:
        async with db.session() as session:
            with pytest.raises(PeakModeError) as refused:
                await do_prepare(session, boss, asked, now=NOW)
            assert refused.value.field == field, asked
    async with db.session() as session:
        with pytest.raises(NotFound):  # another shop's agent is no colleague
            later = _asked(starts_at=END, ends_at=END + timedelta(hours=1),
                           teams={stranger.id: "assist"})  # fmt: skip
            await do_prepare(session, boss, later, now=NOW)
        assert await session.scalar(select(func.count()).select_from(PeakMode)) == 1


async def test_only_the_shops_leaders_prepare_change_and_switch(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        mode = await do_prepare(session, boss, _asked(), now=NOW)
        other = await do_create_shop(session, code="rugs", name="地毯铺")
        far = StaffAccount(shop_id=other.id, username="far", number="9", name="Far",
                           password_hash="x", roles=["manager"])  # fmt: skip
        session.add(far)
        await session.commit()
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await do_prepare(session, agent, _asked(), now=NOW)
        with pytest.raises(NotPermitted):
            await do_switch(session, agent, mode.id, True)
        with pytest.raises(NotFound):
            await do_switch(session, far, mode.id, True)
        with pytest.raises(NotFound):
            await do_cancel(session, far, mode.id)
        changed = await do_change(session, boss, mode.id, _asked(name="双十一预热", agent_cap=None),
                                  now=NOW)  # fmt: skip
        assert changed.agent_cap is None and changed.name == "双十一预热"
        await do_cancel(session, boss, mode.id, now=NOW)
        await session.commit()
        with pytest.raises(PeakModeError):
            await do_change(session, boss, mode.id, _asked(), now=NOW)
    await fire_all_due(db, now=END)  # its timers were cancelled: nothing switches
    async with db.session() as session:
        assert await peak_state(session, shop.id) == PEAK_OFF


async def test_the_manager_prepares_it_on_the_page_and_switches_it(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("boss", "manager")
    mei = await make_staff("mei", "agent", name="小美")
    await sign_in(client, "boss")
    page = await client.get("/peakday/peak")
    assert page.status_code == 200 and 'id="no-modes"' in page.text and "小美" in page.text
    form = {"csrf_token": csrf_from(page.text), "name": "双十一", "starts_at": "2027-11-11T00:00",
            "ends_at": "2027-11-10T00:00", "agent_cap": "12", "refund_blackout": "1",
            f"team-{mei.id}": "aftersale"}  # fmt: skip
    bad = await client.post("/peakday/peak", data=form)
    assert bad.status_code == 422 and "结束时间应晚于开始时间" in bad.text
    made = await client.post("/peakday/peak", data={**form, "ends_at": "2027-11-12T00:00"})
    assert made.status_code == 303
    mode_page = await client.get(made.headers["location"])
    assert 'data-status="scheduled"' in mode_page.text and "小美: 售后" in mode_page.text
    async with db.session() as session:
        mode = await session.scalar(select(PeakMode))
        assert mode is not None
        assert mode.starts_at == datetime(2027, 11, 10, 16, tzinfo=UTC)  # shop time
        assert mode.teams == {str(mei.id): "aftersale"}
    on = await client.post(f"/peakday/peak/{mode.id}/on",
                           data={"csrf_token": csrf_from(mode_page.text)})  # fmt: skip
    assert on.status_code == 303
    shown = await client.get(f"/peakday/peak/{mode.id}")
    assert 'data-status="on"' in shown.text and 'id="switch-off"' in shown.text
    assert (await _teams(db))["mei"] == "aftersale"
