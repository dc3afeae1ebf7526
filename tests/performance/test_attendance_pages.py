"""The roster and leave pages through the real app: the week grid, adding and removing
shifts, peak coverage, an agent's read-only view, leave asked, decided and cancelled,
and every error shown on the page with its status and the form as typed."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.performance.test_attendance import MONDAY, at, set_presence
from xiaoer.core.db import Database
from xiaoer.core.timers import fire_all_due
from xiaoer.performance.models import LeaveRequest, LeaveStatus, RosterEntry
from xiaoer.shops.models import Shop

WEEK = f"/performance/roster?week={MONDAY.isoformat()}"


async def _entries(db: Database) -> list[RosterEntry]:
    async with db.session() as session:
        return list(await session.scalars(select(RosterEntry).order_by(RosterEntry.id)))


async def _leaves(db: Database) -> list[LeaveRequest]:
    async with db.session() as session:
        return list(await session.scalars(select(LeaveRequest).order_by(LeaveRequest.id)))


async def test_the_supervisor_builds_the_week_and_sees_peak_coverage(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei", name="小梅")
    lan = await make_staff("lan", name="小兰")
    await sign_in(client, "boss")
    home = await client.get("/")
    assert 'href="/performance/kpi"' in home.text  # the performance section
    page = await client.get(WEEK)
    assert 'aria-label="section"' in page.text and 'href="/performance/roster"' in page.text
    assert page.status_code == 200
    assert "排班表" in page.text and f'id="roster-{mei.id}"' in page.text
    assert f'id="roster-{lan.id}"' in page.text and f'id="roster-{boss.id}"' not in page.text
    token = csrf_from(page.text)

    form = {"staff_id": str(mei.id), "day": "2026-03-02", "shift": "early",
            "week": "2026-03-02", "csrf_token": token}  # fmt: skip
    added = await client.post("/performance/roster", data=form)
    assert added.status_code == 303 and added.headers["location"] == WEEK
    late = {**form, "staff_id": str(lan.id), "shift": "late"}
    assert (await client.post("/performance/roster", data=late)).status_code == 303
    [early_entry, late_entry] = await _entries(db)
    shown = (await client.get(WEEK)).text
    assert f'id="entry-{early_entry.id}"' in shown and "早班" in shown and "待上班" in shown
    assert f'action="/performance/roster/{early_entry.id}/remove"' in shown

    again = await client.post("/performance/roster", data=form)
    assert again.status_code == 409
    assert "小梅 在 2026-03-02 已经排了早班" in again.text
    assert f'<option value="{mei.id}" selected>' in again.text  # the form as typed

    night = await client.post("/performance/roster", data={**form, "shift": "night"})
    assert night.status_code == 400 and "规则里没有 &#39;night&#39; 这个班次" in night.text
    bad_day = await client.post("/performance/roster", data={**form, "day": "2026-02-30"})
    assert bad_day.status_code == 400 and "不是日期" in bad_day.text
    assert 'value="2026-02-30"' in bad_day.text
    nobody = await client.post("/performance/roster", data={**form, "staff_id": "x"})
    assert nobody.status_code == 400 and "本店没有这名员工" in nobody.text
    boss_self = await client.post("/performance/roster", data={**form, "staff_id": str(boss.id)})
    assert boss_self.status_code == 400 and "不是在职客服" in boss_self.text
    gone = await client.post("/performance/roster/999999/remove", data={"csrf_token": token})
    assert gone.status_code == 404 and "排班表里没有这个班次" in gone.text

    # Peak coverage of the chosen day.
    await set_presence(db, mei, "online", at(MONDAY, "07:58"))
    await set_presence(db, lan, "online", at(MONDAY, "15:20"))
    coverage = await client.get(f"{WEEK}&day=2026-03-02")
    assert 'id="peak-coverage"' in coverage.text and "14:00-17:00" in coverage.text
    assert "小梅、小兰" in coverage.text and "人手不足" in coverage.text

    # After the shifts are judged: the result shows, and a judged shift stays.
    await fire_all_due(db, now=at(MONDAY, "24:00"))
    judged = (await client.get(WEEK)).text
    assert (
        "出勤" in judged and f'action="/performance/roster/{early_entry.id}/remove"' not in judged
    )
    kept = await client.post(
        f"/performance/roster/{early_entry.id}/remove", data={"csrf_token": token, "week": "x"}
    )
    assert kept.status_code == 409 and "作为记录保留" in kept.text

    # A future shift is removed.
    future = {**form, "day": "2026-03-04"}
    assert (await client.post("/performance/roster", data=future)).status_code == 303
    newest = (await _entries(db))[-1]
    removed = await client.post(
        f"/performance/roster/{newest.id}/remove",
        data={"csrf_token": token, "week": "2026-03-02"},
    )
    assert removed.status_code == 303
    assert [e.id for e in await _entries(db)] == [early_entry.id, late_entry.id]

    # The payroll's link: one agent's row and the month's summary.
    one = await client.get(f"/performance/roster?staff={mei.id}&month=2026-03")
    assert one.status_code == 200
    assert f'id="roster-{mei.id}"' in one.text and f'id="roster-{lan.id}"' not in one.text
    assert "2026-03 考勤" in one.text


async def test_an_agent_sees_only_their_shifts_and_cannot_change_them(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei", name="小梅")
    lan = await make_staff("lan", name="小兰")
    await sign_in(client, "boss")
    token = csrf_from((await client.get(WEEK)).text)
    for agent in (mei, lan):
        data = {"staff_id": str(agent.id), "day": "2026-03-03", "shift": "late",
                "csrf_token": token}  # fmt: skip
        assert (await client.post("/performance/roster", data=data)).status_code == 303
    await client.post("/logout", data={"csrf_token": token})

    await sign_in(client, "mei")
    page = await client.get(WEEK)
    assert page.status_code == 200
    assert f'id="roster-{mei.id}"' in page.text and f'id="roster-{lan.id}"' not in page.text
    assert "晚班" in page.text and 'id="add-shift"' not in page.text
    assert "/remove" not in page.text and 'id="peak-coverage"' not in page.text
    assert 'id="month-summary"' in page.text
    token = csrf_from(page.text)
    data = {"staff_id": str(mei.id), "day": "2026-03-05", "shift": "early", "csrf_token": token}
    assert (await client.post("/performance/roster", data=data)).status_code == 403
    [entry, _] = await _entries(db)
    removal = await client.post(f"/performance/roster/{entry.id}/remove", data=data)
    assert removal.status_code == 403
    assert len(await _entries(db)) == 2
    assert boss.id != mei.id


async def test_leave_is_asked_decided_and_cancelled_on_the_page(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    mei = await make_staff("mei", name="小梅")
    await sign_in(client, "mei")
    page = await client.get("/performance/leave")
    assert page.status_code == 200 and 'id="request-leave"' in page.text
    assert 'id="pending-leave"' not in page.text
    token = csrf_from(page.text)
    asked = {"starts_at": "2026-03-02T08:00", "ends_at": "2026-03-02T16:30",
             "reason": "看病", "csrf_token": token}  # fmt: skip
    assert (await client.post("/performance/leave", data=asked)).status_code == 303
    backwards = {**asked, "starts_at": "2026-03-03T12:00", "ends_at": "2026-03-03T08:00",
                 "reason": "<b>第二次</b>"}  # fmt: skip
    refused = await client.post("/performance/leave", data=backwards)
    assert refused.status_code == 400 and "结束时间必须晚于开始时间" in refused.text
    assert (
        'value="2026-03-03T12:00"' in refused.text and "&lt;b&gt;第二次&lt;/b&gt;" in refused.text
    )
    garbled = await client.post("/performance/leave", data={**asked, "starts_at": "明天"})
    assert garbled.status_code == 400 and "不是日期和时间" in garbled.text
    overlap = await client.post("/performance/leave", data=asked)
    assert overlap.status_code == 409 and "时间重叠" in overlap.text
    other = {**asked, "starts_at": "2026-03-05T08:00", "ends_at": "2026-03-05T16:30"}
    assert (await client.post("/performance/leave", data=other)).status_code == 303
    first, second = await _leaves(db)
    assert first.starts_at == at(MONDAY, "08:00") and first.ends_at == at(MONDAY, "16:30")
    mine = (await client.get("/performance/leave")).text
    assert "待审批" in mine and f'action="/performance/leave/{second.id}/cancel"' in mine
    cancelled = await client.post(
        f"/performance/leave/{second.id}/cancel", data={"csrf_token": token}
    )
    assert cancelled.status_code == 303
    missing = await client.post("/performance/leave/999999/cancel", data={"csrf_token": token})
    assert missing.status_code == 404 and "没有这条请假申请" in missing.text
    decide = {"outcome": "approve", "decision": "", "csrf_token": token}
    assert (
        await client.post(f"/performance/leave/{first.id}/decide", data=decide)
    ).status_code == 403
    await client.post("/logout", data={"csrf_token": token})

    await sign_in(client, "boss")
    page = await client.get("/performance/leave")
    assert f'id="pending-{first.id}"' in page.text and "小梅" in page.text
    assert f'id="pending-{second.id}"' not in page.text  # cancelled
    token = csrf_from(page.text)
    no_reason = await client.post(
        f"/performance/leave/{first.id}/decide",
        data={"outcome": "refuse", "decision": " ", "csrf_token": token},
    )
    assert no_reason.status_code == 400 and "驳回请假请说明理由" in no_reason.text
    approved = await client.post(
        f"/performance/leave/{first.id}/decide",
        data={"outcome": "approve", "decision": "早日康复", "csrf_token": token},
    )
    assert approved.status_code == 303
    twice = await client.post(
        f"/performance/leave/{first.id}/decide",
        data={"outcome": "refuse", "decision": "不行", "csrf_token": token},
    )
    assert twice.status_code == 409 and "已经处理过了" in twice.text
    decided = (await client.get("/performance/leave")).text
    assert 'id="decided-leave"' in decided and "早日康复" in decided
    [stored, _] = await _leaves(db)
    assert stored.status == LeaveStatus.approved.value and stored.staff_id == mei.id


async def test_messages_follow_the_reader_language(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor", language="en")
    mei = await make_staff("mei", name="Mei")
    await sign_in(client, "boss")
    page = await client.get(WEEK)
    assert "Duty roster" in page.text and "Peak-hour coverage" in page.text
    token = csrf_from(page.text)
    data = {"staff_id": str(mei.id), "day": "2026-03-02", "shift": "night", "csrf_token": token}
    wrong = await client.post("/performance/roster", data=data)
    assert wrong.status_code == 400
    # The service's own English, as str(error) gives it.
    assert "the policy has no shift &#39;night&#39;; choose one of: early, late" in wrong.text
    leave = await client.get("/performance/leave")
    assert "Ask for leave" in leave.text and "Nothing to decide." in leave.text
