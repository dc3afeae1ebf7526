"""The readiness checklist (D1, D2): each item says what it found — peak mode
prepared, its replies and phrases reviewed, the agents quizzed on the activities, the
roster covering the forecast, the latest rehearsal held — and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import MakeStaff, sign_in
from tests.peakday.history_world import EVENT, at, buyer, chats
from xiaoer.catalog.models import Promotion
from xiaoer.core.db import Database
from xiaoer.core.errors import NotPermitted
from xiaoer.peakday.forecast import do_forecast_from_history
from xiaoer.peakday.peak_mode import Preparation, do_mark_reviewed, do_prepare
from xiaoer.peakday.readiness import readiness
from xiaoer.peakday.rehearsal_models import RehearsalRun
from xiaoer.performance.attendance import do_set_roster
from xiaoer.reception.models import QuickPhrase
from xiaoer.shops.models import Shop

NOW = datetime(2026, 11, 1, 4, tzinfo=UTC)


def _found(result: object) -> dict[str, bool]:
    return {c.key: c.done for c in result.checks}  # type: ignore[attr-defined]


async def test_the_checklist_turns_each_item_on_as_it_is_done(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "manager")
    mei = await make_staff("mei", "agent", name="小美")
    lin = await make_staff("lin", "agent", name="小林")
    async with db.session() as session:
        first = await readiness(session, boss, NOW)
        assert first.mode is None and not first.ready
        assert _found(first) == {"mode": False, "phrases": False, "quiz": True,
                                 "roster": False, "rehearsal": False}  # fmt: skip
        # an activity on the day: 小美 has not taken its quiz
        session.add(Promotion(shop_id=shop.id, kind="full_reduction", name="双十一满减",
                              threshold_fen=29900, discount_fen=3000,
                              starts_at=NOW, ends_at=NOW + timedelta(days=12)))  # fmt: skip
        who = await buyer(session, shop.id)
        for k in range(1, 9):  # one chat at 10:00 every ordinary Wednesday
            await chats(session, shop.id, who, at(EVENT - timedelta(days=7 * k), 10), 1)
        forecast = await do_forecast_from_history(
            session, boss, name="双十一", day=EVENT, multiplier=1, spike=0, spike_minutes=60
        )
        mode = await do_prepare(session, boss, Preparation(
            name="双十一", starts_at=datetime(2026, 11, 10, 16, tzinfo=UTC),
            ends_at=datetime(2026, 11, 11, 16, tzinfo=UTC), agent_cap=None,
            refund_blackout=False, teams={}, forecast_id=forecast.id), now=NOW)  # fmt: skip
        session.add(QuickPhrase(shop_id=shop.id, shortcut="hi", text="双十一您好", peak=True))
        await session.commit()
        second = await readiness(session, boss, NOW)
        assert second.mode is not None and second.mode.id == mode.id
        found = _found(second)
        assert found == {"mode": True, "phrases": False, "quiz": False, "roster": False,
                         "rehearsal": False}  # fmt: skip
        quiz = next(c for c in second.checks if c.key == "quiz")
        assert quiz.values == {"passed": 0, "total": 2} and set(quiz.names) == {"小美", "小林"}
        roster = next(c for c in second.checks if c.key == "roster")
        assert roster.values["short"] == 1  # 10:00 needs two agents (shrinkage) and none is on
        # reviewed, rostered, rehearsed
        await do_mark_reviewed(session, boss, mode.id, now=NOW)
        await do_set_roster(session, shop.id, mei.id, EVENT, "early", boss)
        await do_set_roster(session, shop.id, lin.id, EVENT, "early", boss)
        session.add(RehearsalRun(shop_id=shop.id, status="done", scratch_code="rehearsal-x",
                                 started_at=NOW, deadline_at=NOW + timedelta(minutes=15),
                                 url="http://127.0.0.1:8000", forecast_name="f.csv",
                                 peak_start=NOW, peak_sessions=100, speed=10.0, held=True,
                                 figures={}))  # fmt: skip
        await session.commit()
        third = await readiness(session, boss, NOW)
        assert _found(third) == {"mode": True, "phrases": True, "quiz": False, "roster": True,
                                 "rehearsal": True}  # fmt: skip


async def test_only_leaders_read_it_and_the_page_says_what_is_missing(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("boss", "supervisor")
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await readiness(session, agent, NOW)
    await sign_in(client, "mei")
    assert (await client.get("/peakday")).status_code == 403
    await client.post("/logout")
    client.cookies.clear()
    await sign_in(client, "boss")
    page = await client.get("/peakday")
    assert page.status_code == 200 and 'data-ready="no"' in page.text
    assert "还没有准备大促模式" in page.text and "还没有做过压力演练" in page.text
