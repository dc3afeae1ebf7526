"""Attendance (P7, C11): the roster, judging shifts from presence, lateness, absence,
leave, unattended time, peak coverage and the month's summary — on a real database,
with the real timers fired."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, MakeStaff
from xiaoer.core.clock import from_local
from xiaoer.core.db import Database
from xiaoer.core.models import Event, Timer
from xiaoer.core.timers import fire_all_due
from xiaoer.performance.attendance import (
    JUDGE,
    UNATTENDED,
    AttendanceConflict,
    AttendanceError,
    AttendanceForbidden,
    AttendanceNotFound,
    attendance_summary,
    do_cancel_leave,
    do_decide_leave,
    do_remove_roster,
    do_request_leave,
    do_set_roster,
    judge_entry,
    peak_coverage,
    roster_of_day,
    roster_of_week,
)
from xiaoer.performance.models import (
    LeaveStatus,
    RosterEntry,
    RosterStatus,
    Violation,
    ViolationStatus,
)
from xiaoer.performance.violations import detect_violations, violations_of
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_add_staff

MONDAY = date(2026, 3, 2)  # shop time is Asia/Shanghai, UTC+8


def at(day: date, hhmm: str) -> datetime:
    """A shop wall-clock time as UTC; "24:00" is the next midnight."""
    hours, minutes = (int(p) for p in hhmm.split(":"))
    return from_local(datetime(day.year, day.month, day.day), "Asia/Shanghai") + timedelta(
        hours=hours, minutes=minutes
    )


async def set_presence(db: Database, agent: StaffAccount, status: str, when: datetime) -> None:
    async with db.session() as session:
        account = await session.get(StaffAccount, agent.id)
        assert account is not None
        await do_set_presence(session, agent=account, status=status, now=when)
        await session.commit()


async def rostered(
    db: Database, boss: StaffAccount, agent: StaffAccount, day: date, shift: str
) -> int:
    async with db.session() as session:
        entry = await do_set_roster(session, boss.shop_id, agent.id, day, shift, boss)
        await session.commit()
        return entry.id


async def entry_of(db: Database, entry_id: int) -> RosterEntry:
    async with db.session() as session:
        entry = await session.get(RosterEntry, entry_id)
        assert entry is not None
        return entry


async def detected(db: Database, shop: Shop, rule: str | None = None) -> list[Violation]:
    async with db.session() as session:
        await detect_violations(session, shop.id)
        await session.commit()
        rows = await violations_of(session, shop.id)
    return [v for v in rows if rule is None or v.rule == rule]


async def violation_events(db: Database, kind: str) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).where(Event.kind == kind)) or 0)


async def test_shifts_are_placed_in_the_shop_zone_and_judged_by_a_timer(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    early = await rostered(db, boss, mei, MONDAY, "early")
    late = await rostered(db, boss, mei, MONDAY, "late")
    first, second = await entry_of(db, early), await entry_of(db, late)
    assert first.starts_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert first.ends_at == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # 16:30
    assert second.starts_at == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # 15:30
    assert second.ends_at == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)  # 24:00 = next midnight
    assert first.status == RosterStatus.scheduled.value and first.created_by == boss.id
    async with db.session() as session:
        timers = list(await session.scalars(select(Timer).where(Timer.kind == JUDGE)))
        assert {(t.subject, t.due_at) for t in timers} == {
            (f"roster:{early}", first.ends_at),
            (f"roster:{late}", second.ends_at),
        }
        assert [e.id for e in await roster_of_day(session, shop.id, MONDAY)] == [early, late]
        week = await roster_of_week(session, shop.id, MONDAY + timedelta(days=4))
        assert [e.id for e in week] == [early, late]
        assert await roster_of_week(session, shop.id, MONDAY + timedelta(days=7)) == []

    # Nothing is judged before the shift ends.
    await fire_all_due(db, now=at(MONDAY, "16:29"))
    assert (await entry_of(db, early)).status == RosterStatus.scheduled.value


async def test_present_from_the_start_with_clock_in_out_and_minutes(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    entry_id = await rostered(db, boss, mei, MONDAY, "early")
    await set_presence(db, mei, "online", at(MONDAY, "07:50"))  # already on before 08:00
    await set_presence(db, mei, "away", at(MONDAY, "12:00"))
    await set_presence(db, mei, "online", at(MONDAY, "12:30"))
    await set_presence(db, mei, "offline", at(MONDAY, "16:40"))  # after the shift
    await fire_all_due(db, now=at(MONDAY, "17:00"))

    entry = await entry_of(db, entry_id)
    assert entry.status == RosterStatus.present.value
    assert entry.clock_in_at == at(MONDAY, "08:00")
    assert entry.clock_out_at == at(MONDAY, "16:40")
    assert entry.online_minutes == 8 * 60 + 30 - 30  # the half hour away does not count
    assert entry.late_minutes == 0 and entry.judged_at is not None

    # Judging again changes nothing and says nothing.
    events = await violation_events(db, "roster.judged")
    async with db.session() as session:
        again = await session.get(RosterEntry, entry_id)
        assert again is not None
        await judge_entry(session, again, at(MONDAY, "23:00"))
        await session.commit()
    assert await violation_events(db, "roster.judged") == events == 1
    assert await detected(db, shop) == []


async def test_two_free_lateness_then_fines_and_lateness_beyond_the_free_minutes(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    arrivals = ["08:05", "08:10", "08:03", "08:25"]  # 5, 10, 3 (3rd: fined), 25 minutes
    ids = []
    for n, arrival in enumerate(arrivals):
        day = MONDAY + timedelta(days=n)
        ids.append(await rostered(db, boss, mei, day, "early"))
        await set_presence(db, mei, "online", at(day, arrival))
        await set_presence(db, mei, "offline", at(day, "16:30"))
        await fire_all_due(db, now=at(day, "16:30"))
    entries = [await entry_of(db, i) for i in ids]
    assert [e.status for e in entries] == [RosterStatus.late.value] * 4
    assert [e.late_minutes for e in entries] == [5, 10, 3, 25]
    assert entries[0].clock_in_at == at(MONDAY, "08:05")

    fines = await detected(db, shop, "late")
    assert [v.evidence["roster_entry_id"] for v in fines] == ids[2:]
    assert [v.evidence["lateness_in_month"] for v in fines] == [3, 4]
    assert [v.evidence["free_used_in_month"] for v in fines] == [2, 2]
    assert all(v.amount_fen == 2000 and v.requirement == "P7" for v in fines)
    assert fines[0].occurred_at == at(MONDAY + timedelta(days=2), "08:03")
    assert fines[1].evidence["late_minutes"] == 25 and fines[1].evidence["event"] == (
        "violation.late"
    )

    # A new month starts with its free lateness again — but one of 15 minutes (beyond
    # the free minutes) is fined even first, and uses no free one.
    april = date(2026, 4, 1)
    for n, arrival in enumerate(["08:15", "08:09"]):
        day = april + timedelta(days=n)
        await rostered(db, boss, mei, day, "early")
        await set_presence(db, mei, "online", at(day, arrival))
        await set_presence(db, mei, "offline", at(day, "16:30"))
        await fire_all_due(db, now=at(day, "16:30"))
    april_fines = [v for v in await detected(db, shop, "late") if v.evidence["day"] >= "2026-04"]
    assert [v.evidence["late_minutes"] for v in april_fines] == [15]
    async with db.session() as session:
        march = await attendance_summary(session, shop.id, mei.id, "2026-03")
        april_summary = await attendance_summary(session, shop.id, mei.id, "2026-04")
    assert (march.late_free, march.late_fined, march.late) == (2, 2, 4)
    assert march.late_minutes == 43 and not march.full_attendance
    assert (april_summary.late_free, april_summary.late_fined) == (1, 1)


async def test_absent_without_leave_is_a_violation_with_the_policy_fine(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    entry_id = await rostered(db, boss, mei, MONDAY, "early")
    # Online only after the shift: still absent.
    await set_presence(db, mei, "online", at(MONDAY, "17:00"))
    await fire_all_due(db, now=at(MONDAY, "17:05"))

    entry = await entry_of(db, entry_id)
    assert entry.status == RosterStatus.absent.value
    assert entry.clock_in_at is None and entry.online_minutes == 0
    [violation] = await detected(db, shop)
    assert violation.rule == "absent_without_leave" and violation.amount_fen == 20000
    assert violation.requirement == "P7" and violation.agent_id == mei.id
    assert violation.evidence["event"] == "violation.absent"
    assert violation.evidence["roster_entry_id"] == entry_id
    assert violation.evidence["day"] == "2026-03-02" and violation.evidence["shift"] == "early"
    assert violation.occurred_at == entry.starts_at
    assert [v.id for v in await detected(db, shop)] == [violation.id]  # once only


async def test_leave_approved_before_the_shift_makes_it_on_leave(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    entry_id = await rostered(db, boss, mei, MONDAY, "late")
    async with db.session() as session:
        account = await session.get(StaffAccount, mei.id)
        assert account is not None
        # The afternoon only: it overlaps the late shift, so the whole shift is leave.
        leave = await do_request_leave(
            session, account, at(MONDAY, "13:00"), at(MONDAY, "18:00"), "  看牙医  "
        )
        await session.commit()
        assert leave.status == LeaveStatus.pending.value and leave.reason == "看牙医"
    async with db.session() as session:
        supervisor = await session.get(StaffAccount, boss.id)
        assert supervisor is not None
        decided = await do_decide_leave(session, leave.id, supervisor, True, "")
        await session.commit()
        assert decided.status == LeaveStatus.approved.value and decided.decided_by == boss.id
    await fire_all_due(db, now=at(MONDAY, "24:00"))
    entry = await entry_of(db, entry_id)
    assert entry.status == RosterStatus.on_leave.value and entry.leave_id == leave.id
    assert await detected(db, shop) == []
    async with db.session() as session:
        summary = await attendance_summary(session, shop.id, mei.id, "2026-03")
    assert (summary.shifts, summary.on_leave, summary.leaves) == (1, 1, 1)
    assert not summary.full_attendance


@pytest.mark.parametrize("detected_first", [True, False])
async def test_leave_approved_after_an_absence_withdraws_its_violation(
    db: Database, shop: Shop, make_staff: MakeStaff, detected_first: bool
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    entry_id = await rostered(db, boss, mei, MONDAY, "early")
    other_day = await rostered(db, boss, mei, MONDAY + timedelta(days=1), "early")
    await fire_all_due(db, now=at(MONDAY + timedelta(days=1), "17:00"))
    assert (await entry_of(db, entry_id)).status == RosterStatus.absent.value
    if detected_first:  # the absence's row exists already (the violations page was seen)
        assert len(await detected(db, shop)) == 2
    async with db.session() as session:
        account = await session.get(StaffAccount, mei.id)
        assert account is not None
        leave = await do_request_leave(
            session, account, at(MONDAY, "00:00"), at(MONDAY, "24:00"), "发烧，补请病假"
        )
        supervisor = await session.get(StaffAccount, boss.id)
        assert supervisor is not None
        await do_decide_leave(session, leave.id, supervisor, True, "病假条已收到")
        await session.commit()

    entry = await entry_of(db, entry_id)
    assert entry.status == RosterStatus.on_leave.value and entry.leave_id == leave.id
    assert (await entry_of(db, other_day)).status == RosterStatus.absent.value
    rows = await detected(db, shop)
    assert len(rows) == 2  # nothing lost, nothing counted twice
    excused = next(v for v in rows if v.evidence["roster_entry_id"] == entry_id)
    standing = next(v for v in rows if v.evidence["roster_entry_id"] == other_day)
    assert excused.status == ViolationStatus.withdrawn.value
    assert f"leave #{leave.id}" in excused.decision and excused.decided_by == boss.id
    assert standing.status == ViolationStatus.recorded.value
    async with db.session() as session:
        summary = await attendance_summary(session, shop.id, mei.id, "2026-03")
    assert (summary.absent, summary.on_leave) == (1, 1)


async def test_away_two_hours_is_reported_once_per_stretch(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    await rostered(db, boss, mei, MONDAY, "early")
    await rostered(db, boss, mei, MONDAY, "late")
    for status, when in [
        ("online", "07:50"),
        ("away", "09:00"),  # 2 h 30: reported
        ("online", "11:30"),
        ("away", "13:00"),  # 40 minutes: nothing
        ("online", "13:40"),
        ("away", "15:00"),  # 2 h 30 across both shifts: reported once
        ("online", "17:30"),
        ("away", "23:00"),  # still away when the late shift is judged
    ]:
        await set_presence(db, mei, status, at(MONDAY, when))
    await fire_all_due(db, now=at(MONDAY, "16:30"))
    await fire_all_due(db, now=at(MONDAY, "24:00"))
    rows = await detected(db, shop, "online_unattended_2_hours")
    assert [v.evidence["away_since"] for v in rows] == [
        at(MONDAY, "09:00").isoformat(),
        at(MONDAY, "15:00").isoformat(),
    ]
    assert [v.evidence["away_minutes"] for v in rows] == [150, 150]
    assert all(v.amount_fen == 20000 and v.requirement == "P4" for v in rows)
    assert rows[0].occurred_at == at(MONDAY, "11:00")  # when it reached two hours

    # The stretch still running at midnight is watched until it reaches two hours.
    async with db.session() as session:
        watch = await session.scalar(
            select(Timer).where(Timer.kind == UNATTENDED, Timer.fired_at.is_(None))
        )
        assert watch is not None and watch.due_at == at(MONDAY, "25:00")
    await fire_all_due(db, now=at(MONDAY, "25:30"))
    rows = await detected(db, shop, "online_unattended_2_hours")
    assert len(rows) == 3 and rows[2].evidence["away_until"] is None
    # The late shift began with her away: it counts as two hours late (fined).
    [late] = await detected(db, shop, "late")
    assert late.evidence["late_minutes"] == 120


async def test_an_away_stretch_that_ends_in_time_after_the_shift_is_not_reported(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    await rostered(db, boss, mei, MONDAY, "late")
    await set_presence(db, mei, "online", at(MONDAY, "15:20"))
    await set_presence(db, mei, "away", at(MONDAY, "23:30"))
    await fire_all_due(db, now=at(MONDAY, "24:00"))
    await set_presence(db, mei, "offline", at(MONDAY, "24:40"))
    await fire_all_due(db, now=at(MONDAY, "28:00"))
    assert await detected(db, shop) == []
    async with db.session() as session:
        watch = await session.scalar(select(Timer).where(Timer.kind == UNATTENDED))
        assert watch is not None and watch.fired_at is not None


async def test_peak_coverage_counts_rostered_and_online_agents_at_once(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    a, b, c, d, e = [await make_staff(name) for name in ("ana", "bo", "cai", "dong", "er")]
    for agent in (a, b):
        await rostered(db, boss, agent, MONDAY, "early")
    for agent in (c, d, e):
        await rostered(db, boss, agent, MONDAY, "late")
    async with db.session() as session:
        account = await session.get(StaffAccount, e.id)
        supervisor = await session.get(StaffAccount, boss.id)
        assert account is not None and supervisor is not None
        leave = await do_request_leave(
            session, account, at(MONDAY, "00:00"), at(MONDAY, "24:00"), "婚假"
        )
        await do_decide_leave(session, leave.id, supervisor, True, "恭喜")
        await session.commit()
    for agent, status, when in [
        (a, "online", "07:50"),
        (b, "online", "07:55"),
        (b, "offline", "15:00"),
        (c, "online", "15:25"),
        (d, "online", "15:40"),
        (a, "offline", "16:30"),
        (d, "away", "20:00"),
        (d, "online", "20:30"),
    ]:
        await set_presence(db, agent, status, at(MONDAY, when))

    async with db.session() as session:
        before = await peak_coverage(session, shop.id, MONDAY, now=at(MONDAY, "10:00"))
        after = await peak_coverage(session, shop.id, MONDAY, now=at(MONDAY, "24:00"))
    afternoon, evening = after
    assert [p.span for p in after] == ["14:00-17:00", "19:00-22:00"]
    assert afternoon.required == 3 and afternoon.starts_at == at(MONDAY, "14:00")
    assert afternoon.rostered == tuple(sorted((a.id, b.id, c.id, d.id)))
    assert afternoon.on_leave == (e.id,)
    assert afternoon.fewest_rostered == 2 and not afternoon.planned_enough
    assert afternoon.online == tuple(sorted((a.id, b.id, c.id, d.id)))
    assert (afternoon.fewest_online, afternoon.most_online) == (1, 3)  # 15:00–15:25: only ana
    assert afternoon.met is False and afternoon.finished
    assert evening.rostered == tuple(sorted((c.id, d.id)))
    assert (evening.fewest_online, evening.most_online) == (1, 2)  # dong away 20:00–20:30
    assert evening.met is False
    assert all(p.met is None and not p.started and p.online == () for p in before)
    assert before[0].fewest_rostered == 2


async def test_the_month_summary_and_full_attendance(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    good, idle, sick = await make_staff("good"), await make_staff("idle"), await make_staff("sick")
    for n in range(3):
        day = MONDAY + timedelta(days=n)
        await rostered(db, boss, good, day, "early")
        await set_presence(db, good, "online", at(day, "08:0" + str(n * 4)))  # 0, 4, 8 minutes
        await set_presence(db, good, "offline", at(day, "16:30"))
    await rostered(db, boss, sick, MONDAY, "early")
    await set_presence(db, sick, "online", at(MONDAY, "07:59"))
    await rostered(db, boss, sick, MONDAY + timedelta(days=20), "early")  # not yet judged
    await fire_all_due(db, now=at(MONDAY + timedelta(days=3), "00:00"))
    async with db.session() as session:
        account = await session.get(StaffAccount, sick.id)
        supervisor = await session.get(StaffAccount, boss.id)
        assert account is not None and supervisor is not None
        leave = await do_request_leave(
            session, account, at(date(2026, 3, 30), "00:00"), at(date(2026, 4, 2), "00:00"), "回家"
        )
        await do_decide_leave(session, leave.id, supervisor, True, "")
        await session.commit()
    async with db.session() as session:
        first = await attendance_summary(session, shop.id, good.id, "2026-03")
        none = await attendance_summary(session, shop.id, idle.id, "2026-03")
        other = await attendance_summary(session, shop.id, sick.id, " 2026-03 ")
        with pytest.raises(AttendanceError, match=r"month '2026-13': expected YYYY-MM"):
            await attendance_summary(session, shop.id, good.id, "2026-13")
    assert (first.shifts, first.present, first.late_free, first.late_fined) == (3, 1, 2, 0)
    assert first.full_attendance and first.late_minutes == 12 and first.month == "2026-03"
    assert first.online_minutes == 3 * 510 - 12
    assert (none.shifts, none.full_attendance) == (0, False)  # no shifts: nothing to reward
    assert (other.shifts, other.present, other.scheduled, other.leaves) == (2, 1, 1, 1)
    assert not other.full_attendance  # the leave at the month's end


async def test_bad_roster_and_leave_inputs_say_why(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    mei = await make_staff("mei")
    lan = await make_staff("lan")
    owner = await make_staff("owner", "manager")
    async with db.session() as session:
        there = await do_create_shop(session, code="far", name="别家店")
        stranger = await do_add_staff(session, shop_id=there.id, username="far-1", number="1",
                                      name="外人", password=PASSWORD)  # fmt: skip
        await session.commit()
    entry_id = await rostered(db, boss, mei, MONDAY, "early")
    async with db.session() as session:
        supervisor = await session.get(StaffAccount, boss.id)
        agent = await session.get(StaffAccount, mei.id)
        other = await session.get(StaffAccount, lan.id)
        assert supervisor is not None and agent is not None and other is not None
        with pytest.raises(
            AttendanceError, match=r"the policy has no shift 'night'; choose one of: early, late"
        ):
            await do_set_roster(session, shop.id, mei.id, MONDAY, "night", supervisor)
        with pytest.raises(AttendanceNotFound, match="no such staff member in this shop"):
            await do_set_roster(session, shop.id, stranger.id, MONDAY, "early", supervisor)
        with pytest.raises(AttendanceNotFound):
            await do_set_roster(session, shop.id, 999_999, MONDAY, "early", supervisor)
        with pytest.raises(AttendanceError, match="Owner is not an active agent"):
            await do_set_roster(session, shop.id, owner.id, MONDAY, "early", supervisor)
        with pytest.raises(
            AttendanceConflict, match="Mei is already on the early shift on 2026-03-02"
        ):
            await do_set_roster(session, shop.id, mei.id, MONDAY, "early", supervisor)
        with pytest.raises(AttendanceForbidden, match="only a supervisor or a manager"):
            await do_set_roster(session, shop.id, lan.id, MONDAY, "early", agent)
        with pytest.raises(AttendanceForbidden):
            await do_set_roster(session, there.id, stranger.id, MONDAY, "early", supervisor)
        with pytest.raises(AttendanceConflict, match="judged once it has ended"):
            entry = await session.get(RosterEntry, entry_id)
            assert entry is not None
            await judge_entry(session, entry, at(MONDAY, "12:00"))

        with pytest.raises(AttendanceError, match="a leave ends after it starts"):
            await do_request_leave(session, agent, at(MONDAY, "12:00"), at(MONDAY, "12:00"), "x")
        with pytest.raises(AttendanceError, match="give the reason"):
            await do_request_leave(session, agent, at(MONDAY, "12:00"), at(MONDAY, "13:00"), " ")
        with pytest.raises(AttendanceError, match="at most 92 days"):
            await do_request_leave(
                session, agent, at(MONDAY, "12:00"), at(date(2026, 9, 1), "12:00"), "长假"
            )
        leave = await do_request_leave(
            session, agent, at(MONDAY, "12:00"), at(MONDAY, "14:00"), "办事"
        )
        with pytest.raises(AttendanceConflict, match=f"overlaps your leave request #{leave.id}"):
            await do_request_leave(session, agent, at(MONDAY, "13:00"), at(MONDAY, "15:00"), "又")
        with pytest.raises(AttendanceForbidden, match="only a supervisor or a manager"):
            await do_decide_leave(session, leave.id, other, True, "")
        with pytest.raises(AttendanceForbidden, match="only the one who asked"):
            await do_cancel_leave(session, leave.id, other)
        with pytest.raises(AttendanceError, match="say why the leave is refused"):
            await do_decide_leave(session, leave.id, supervisor, False, "  ")
        with pytest.raises(AttendanceNotFound, match="no such leave request"):
            await do_decide_leave(session, 999_999, supervisor, True, "")
        refused = await do_decide_leave(session, leave.id, supervisor, False, "那天人手不够")
        assert refused.status == LeaveStatus.refused.value
        with pytest.raises(AttendanceConflict, match="this leave request is refused already"):
            await do_decide_leave(session, leave.id, supervisor, True, "")
        with pytest.raises(AttendanceConflict, match="is refused already"):
            await do_cancel_leave(session, leave.id, agent)
        second = await do_request_leave(
            session, agent, at(MONDAY, "13:00"), at(MONDAY, "15:00"), "改时间"
        )
        assert (await do_cancel_leave(session, second.id, agent)).status == "cancelled"
        mine = await do_request_leave(
            session, supervisor, at(MONDAY, "13:00"), at(MONDAY, "15:00"), "主管也请假"
        )
        with pytest.raises(AttendanceForbidden, match="nobody decides on their own leave"):
            await do_decide_leave(session, mine.id, supervisor, True, "")
        with pytest.raises(AttendanceNotFound, match="no such roster entry"):
            await do_remove_roster(session, shop.id, 999_999, supervisor)
        await session.commit()

    # A scheduled shift is removed with its timer; a judged one stays.
    later = await rostered(db, boss, mei, MONDAY + timedelta(days=1), "late")
    await fire_all_due(db, now=at(MONDAY, "17:00"))
    async with db.session() as session:
        supervisor = await session.get(StaffAccount, boss.id)
        assert supervisor is not None
        await do_remove_roster(session, shop.id, later, supervisor)
        with pytest.raises(AttendanceConflict, match="judged already and stays on record"):
            await do_remove_roster(session, shop.id, entry_id, supervisor)
        await session.commit()
        assert await session.get(RosterEntry, later) is None
        timer = await session.scalar(select(Timer).where(Timer.subject == f"roster:{later}"))
        assert timer is not None and timer.cancelled_at is not None
    # It can be put back: the shift is free again.
    again = await entry_of(db, await rostered(db, boss, mei, MONDAY + timedelta(days=1), "late"))
    assert again.status == RosterStatus.scheduled.value
