"""The staffing plan against the roster (D1, C11): agents needed per quarter-hour by
the staffing formulas, the roster's agents on duty, the gaps, the suggested roster
from the shift templates, and the page that shows them and puts the suggestion on
the roster."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.peakday.history_world import EVENT, at, buyer, chats
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.peakday.forecast import do_forecast_from_history, intervals_of
from xiaoer.peakday.forecast_file import read_forecast
from xiaoer.peakday.history import SLOTS
from xiaoer.peakday.models import Forecast
from xiaoer.peakday.plan import cover, gaps_of, plan_of, suggest_roster, target_of
from xiaoer.peakday.staffing import Options, plan_interval
from xiaoer.performance.attendance import do_set_roster
from xiaoer.performance.models import RosterEntry
from xiaoer.shops.models import Shop

EARLY = range(32, 66)  # the early shift, 08:00–16:30, in quarter-hours
TEN = 40


def test_cover_adds_the_shift_that_covers_most_until_no_gap_is_left() -> None:
    windows = {"early": (32, 66), "late": (62, 96)}
    gaps = [0] * SLOTS
    for s in range(40, 44):
        gaps[s] = 3  # three agents short from 10:00 to 11:00
    gaps[90] = 1  # and one at 22:30
    assert cover(gaps, windows) == {"early": 3, "late": 1}
    assert cover([0] * SLOTS, windows) == {}
    assert cover([-2] * SLOTS, windows) == {}  # agents to spare need nobody
    # a gap no shift reaches is left as it is
    night = [0] * SLOTS
    night[4] = 2
    assert cover(night, windows) == {}


async def _forecast(db: Database, shop: Shop, boss: object) -> Forecast:
    async with db.session() as session:
        who = await buyer(session, shop.id)
        for k in range(1, 9):  # 30 chats at 10:00 every ordinary Wednesday, 4 min each
            await chats(session, shop.id, who, at(EVENT - timedelta(days=7 * k), 10), 30,
                        handled_s=240)  # fmt: skip
        await session.commit()
        made = await do_forecast_from_history(
            session, boss, name="双十一", day=EVENT, multiplier=4, spike=0, spike_minutes=60
        )  # type: ignore[arg-type]
        await session.commit()
        return made


async def test_the_plan_needs_what_the_formulas_say_and_counts_the_roster(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    agents = [await make_staff(f"a{n}", "agent", name=f"客服{n}") for n in range(3)]
    made = await _forecast(db, shop, boss)
    async with db.session() as session:
        await do_set_roster(session, shop.id, agents[0].id, EVENT, "early", boss)
        await do_set_roster(session, shop.id, agents[1].id, EVENT, "late", boss)
        await session.commit()
        plan = await plan_of(session, boss, made)
    (presale,) = plan.teams
    row = presale.rows[TEN]
    policy = default_policy()
    expected = plan_interval(
        120.0, 240.0, target_of(policy),
        Options(concurrency=policy.peakday.concurrency, shrinkage=policy.peakday.shrinkage,
                max_occupancy=policy.peakday.max_occupancy),
    )  # fmt: skip
    assert row.sessions == 120.0 and presale.aht_s == 240.0 and presale.aht_measured
    assert row.needed == expected and expected.agents is not None and expected.agents > 1
    assert row.rostered == 1  # the early shift only
    assert row.gap == expected.agents - 1
    assert presale.rows[70].rostered == 1  # 17:30: the late shift
    assert presale.rows[64].rostered == 2  # 16:00: both
    assert presale.rows[4].rostered == 0 and presale.rows[4].gap == 0  # no sessions at 01:00
    assert presale.peak is row
    assert presale.short_intervals == 1


async def test_the_suggestion_names_free_agents_and_says_how_many_are_lacking(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    agents = [await make_staff(f"a{n}", "agent", name=f"客服{n}") for n in range(2)]
    await make_staff("after", "agent", team="aftersale")  # another team's: never suggested
    made = await _forecast(db, shop, boss)
    async with db.session() as session:
        plan = await plan_of(session, boss, made)
        needed = plan.teams[0].rows[TEN].needed.agents
        assert needed is not None and needed > 2
        (suggestion,) = await suggest_roster(session, boss, plan)
    assert [s.shift for s in suggestion.shifts] == ["early"]
    assert suggestion.shifts[0].count == needed
    assert {a.id for a in suggestion.shifts[0].agents} == {a.id for a in agents}
    assert suggestion.lacking == needed - 2
    assert suggestion.left_gaps[TEN] == needed - 2


async def test_the_page_shows_the_plan_and_puts_the_suggestion_on_the_roster(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    boss = await make_staff("boss", "supervisor")
    for n in range(2):
        await make_staff(f"a{n}", "agent", name=f"客服{n}")
    made = await _forecast(db, shop, boss)
    await sign_in(client, "boss")
    page = await client.get(f"/peakday/forecasts/{made.id}")
    assert page.status_code == 200
    assert 'data-team="presale"' in page.text and "data-short=" in page.text
    assert page.text.count("<tr data-slot=") == SLOTS
    assert "客服0" in page.text and "按建议排班" in page.text
    put = await client.post(f"/peakday/forecasts/{made.id}/roster",
                            data={"csrf_token": csrf_from(page.text)})  # fmt: skip
    assert put.status_code == 303 and put.headers["location"].endswith("added=2#roster")
    async with db.session() as session:
        entries = list(await session.scalars(select(RosterEntry)))
    assert {(e.day, e.shift) for e in entries} == {(EVENT, "early")} and len(entries) == 2
    again = await client.get(f"/peakday/forecasts/{made.id}")
    assert "已排上 0" not in again.text and "本组人手不够" in again.text


async def test_the_list_page_makes_a_forecast_or_says_what_is_wrong(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("boss", "manager")
    await sign_in(client, "boss")
    page = await client.get("/peakday/forecasts?day=2026-11-11")
    assert page.status_code == 200 and 'id="no-forecasts"' in page.text
    token = csrf_from(page.text)
    form = {"csrf_token": token, "name": "双十一", "day": "2026-11-11", "multiplier": "abc",
            "spike": "3", "spike_minutes": "60", "weeks": "8"}  # fmt: skip
    bad = await client.post("/peakday/forecasts", data=form)
    assert bad.status_code == 422 and "不是数字：abc" in bad.text and 'value="双十一"' in bad.text
    made = await client.post("/peakday/forecasts", data={**form, "multiplier": "4"})
    assert made.status_code == 303
    listed = await client.get("/peakday/forecasts")
    assert "双十一" in listed.text and "2026-11-11" in listed.text


async def test_a_forecast_imported_from_a_workbook_plans_like_one_from_history(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("boss", "manager")
    await sign_in(client, "boss")
    token = csrf_from((await client.get("/peakday/forecasts")).text)
    form = {"csrf_token": token, "name": "导入的预测", "day": "2026-11-11", "team": "presale"}
    sheet = "start,sessions,team\n00:00,120,\n00:15,80,\n10:00,30,aftersale\n"
    upload = {"file": ("forecast.csv", sheet.encode(), "text/csv")}
    made = await client.post("/peakday/forecasts/import", data=form, files=upload)
    assert made.status_code == 303
    async with db.session() as session:
        forecast = await session.scalar(select(Forecast))
        assert forecast is not None and forecast.source == "workbook"
        rows = {(r.team, r.slot): r for r in await intervals_of(session, forecast)}
    assert len(rows) == 2 * SLOTS
    assert rows[("presale", 0)].sessions == 120.0 and rows[("presale", 1)].sessions == 80.0
    assert rows[("presale", 2)].sessions == 0.0 and rows[("aftersale", TEN)].sessions == 30.0
    assert rows[("presale", 0)].low < 120 < rows[("presale", 0)].high
    page = await client.get(made.headers["location"])
    assert 'data-team="aftersale"' in page.text and "由表格导入" in page.text
    # downloaded, it reads back as the same forecast
    sheet_back = await client.get(f"/peakday/forecasts/{forecast.id}/forecast.csv")
    assert sheet_back.status_code == 200 and sheet_back.text.startswith("start,sessions,team\n")
    back = {(r.team, r.start[-5:]): r.sessions for r in read_forecast(sheet_back.content)}
    assert back[("presale", "00:00")] == 120 and back[("aftersale", "10:00")] == 30
    assert len(back) == 2 * SLOTS
    # a bad line is named, and nothing is kept
    bad = "start,sessions\n00:00,120\n00:00,30\n"
    refused = await client.post("/peakday/forecasts/import", data=form,
                                files={"file": ("f.csv", bad.encode(), "text/csv")})  # fmt: skip
    assert refused.status_code == 422 and "第 3 行与第 2 行是同一个十五分钟" in refused.text
    late = {"file": ("f.csv", b"start,sessions\n25:00,1\n", "text/csv")}
    worse = await client.post("/peakday/forecasts/import", data=form, files=late)
    assert worse.status_code == 422 and 'id="import-error"' in worse.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Forecast)) == 1


async def test_the_roster_page_shows_the_weeks_gaps_to_leaders_only(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    boss = await make_staff("boss", "supervisor")
    await make_staff("mei", "agent")
    made = await _forecast(db, shop, boss)
    async with db.session() as session:
        plan = await plan_of(session, boss, made)
    (gap,) = gaps_of(plan)  # 10:00–10:15, presale, nobody rostered
    assert (gap.team, gap.starts_at, gap.ends_at) == ("presale", at(EVENT, 10), at(EVENT, 10, 15))
    assert gap.most == plan.teams[0].rows[TEN].needed.agents
    await sign_in(client, "boss")
    page = await client.get(f"/performance/roster?week={EVENT.isoformat()}")
    assert 'id="staffing-gaps"' in page.text and "10:00–10:15" in page.text
    assert f"最多缺 {gap.most} 人" in page.text
    other_week = await client.get(f"/performance/roster?week={(EVENT + timedelta(days=7))}")
    assert 'id="staffing-gaps"' not in other_week.text
    await client.post("/logout")
    client.cookies.clear()
    await sign_in(client, "mei")
    mine = await client.get(f"/performance/roster?week={EVENT.isoformat()}")
    assert mine.status_code == 200 and 'id="staffing-gaps"' not in mine.text
