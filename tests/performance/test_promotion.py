"""Promotion (P5): clean months, months at the level, the exam, and the step up."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff
from xiaoer.core.audit import record_audit
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry, Event
from xiaoer.core.policy import default_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.performance.models import ExamResult, Violation, ViolationStatus
from xiaoer.performance.promotion import (
    LEVEL_ACTION,
    NotEligible,
    PromotionError,
    PromotionForbidden,
    PromotionNotFound,
    checklists,
    count_clean_months,
    do_promote,
    do_record_exam,
    eligibility,
)
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount

TODAY = date(2026, 5, 15)


def _shanghai(year: int, month: int, day: int, hour: int = 9) -> datetime:
    """A wall-clock moment in the shop's zone, as stored (UTC)."""
    return datetime(year, month, day, hour, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


async def _hire(db: Database, staff: StaffAccount, on: datetime) -> None:
    async with db.session() as session:
        account = await session.get(StaffAccount, staff.id)
        assert account is not None
        account.hired_on = on
        await session.commit()


async def _violation(
    db: Database,
    shop: Shop,
    agent: StaffAccount,
    at: datetime,
    status: ViolationStatus = ViolationStatus.recorded,
) -> None:
    async with db.session() as session:
        session.add(
            Violation(
                shop_id=shop.id,
                agent_id=agent.id,
                rule="note_late_or_wrong",
                requirement="O3",
                amount_fen=2000,
                source="supervisor",
                evidence={},
                status=status.value,
                occurred_at=at,
            )
        )
        await session.commit()


async def _months(db: Database, shop: Shop, agent: StaffAccount) -> tuple[int, int]:
    async with db.session() as session:
        checklist = await eligibility(session, shop.id, agent.id, TODAY)
    return checklist.months_at_level, checklist.clean_months


def test_only_whole_months_at_the_level_count() -> None:
    # At the level since the 10th of January: February, March and April are whole.
    assert count_clean_months(date(2026, 1, 10), TODAY, set()) == (3, 3)
    # Since the 1st of February: February is whole too.
    assert count_clean_months(date(2026, 2, 1), TODAY, set()) == (3, 3)
    assert count_clean_months(date(2026, 1, 1), TODAY, set()) == (4, 4)
    # Reached this month: nothing complete yet.
    assert count_clean_months(date(2026, 5, 2), TODAY, set()) == (0, 0)
    # An error in March (month number 2026*12+2) leaves April only.
    assert count_clean_months(date(2026, 1, 1), TODAY, {2026 * 12 + 2}) == (4, 1)
    # An error last month: no clean month in a row.
    assert count_clean_months(date(2026, 1, 1), TODAY, {2026 * 12 + 3}) == (4, 0)


async def test_clean_months_count_standing_violations_by_the_shops_month(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await _hire(db, mei, _shanghai(2026, 1, 10))
    assert await _months(db, shop, mei) == (3, 3)

    # This month's error, a withdrawn one, and one from before the first whole month
    # do not count.
    await _violation(db, shop, mei, _shanghai(2026, 5, 2))
    await _violation(db, shop, mei, _shanghai(2026, 4, 12), ViolationStatus.withdrawn)
    await _violation(db, shop, mei, _shanghai(2026, 1, 20))
    assert await _months(db, shop, mei) == (3, 3)

    # An appealed one in February leaves March and April.
    await _violation(db, shop, mei, _shanghai(2026, 2, 10), ViolationStatus.appealed)
    assert await _months(db, shop, mei) == (3, 2)

    # 31 March 17:00 UTC is 1 April in Shanghai: April is no longer clean.
    await _violation(
        db, shop, mei, datetime(2026, 3, 31, 17, 0, tzinfo=UTC), ViolationStatus.upheld
    )
    assert await _months(db, shop, mei) == (3, 0)


async def test_the_level_date_is_the_newest_level_change_in_the_audit_log(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", level="intermediate")
    lan = await make_staff("lan")
    await _hire(db, mei, _shanghai(2025, 6, 1))
    async with db.session() as session:
        checklist = await eligibility(session, shop.id, mei.id, TODAY)
        assert checklist.level_source == "hired_on" and checklist.level_since == date(2025, 6, 1)
        assert checklist.months_at_level == 11
        for day in (date(2025, 9, 1), date(2026, 3, 1)):
            await record_audit(
                session,
                shop_id=shop.id,
                actor="test",
                entity="staff",
                entity_id=str(mei.id),
                action=LEVEL_ACTION,
                before={"level": "junior"},
                after={"level": "intermediate"},
                at=_shanghai(day.year, day.month, day.day, 0),
            )
        # Another kind of entry about the agent is no level change.
        await record_audit(
            session,
            shop_id=shop.id,
            actor="test",
            entity="staff",
            entity_id=str(mei.id),
            action="staff.exam",
            at=_shanghai(2026, 4, 20),
        )
        await session.commit()
    async with db.session() as session:
        checklist = await eligibility(session, shop.id, mei.id, TODAY)
        assert checklist.level_source == "audit" and checklist.level_since == date(2026, 3, 1)
        assert (checklist.months_at_level, checklist.clean_months) == (2, 2)
        assert checklist.next_level == "senior"
        assert [(c.key, c.required, c.current, c.met) for c in checklist.conditions] == [
            ("clean_months", 3, 2, False)
        ]
        # Without a hiring date the account's creation dates the level.
        fresh = await eligibility(session, shop.id, lan.id, TODAY)
        assert fresh.level_source == "created_at"


async def test_junior_needs_clean_months_and_an_exam_passed_at_this_level(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    boss = await make_staff("boss", "supervisor")
    await _hire(db, mei, _shanghai(2026, 1, 10))
    async with db.session() as session:
        checklist = await eligibility(session, shop.id, mei.id, TODAY)
        assert checklist.next_level == "intermediate" and not checklist.eligible
        assert [(c.key, c.required, c.current, c.met) for c in checklist.conditions] == [
            ("clean_months", 2, 3, True),
            ("exam", 1, 0, False),
        ]
        await do_record_exam(
            session, boss, mei.id, "intermediate", False, 40, date(2026, 4, 2), "", today=TODAY
        )
        # Passed, but sat before she was at this level (hired on the 10th).
        await do_record_exam(
            session, boss, mei.id, "intermediate", True, 90, date(2026, 1, 5), "", today=TODAY
        )
        await session.commit()
        assert not (await eligibility(session, shop.id, mei.id, TODAY)).eligible
        passed = await do_record_exam(
            session, boss, mei.id, "intermediate", True, 85, date(2026, 4, 20), "笔试", today=TODAY
        )
        await session.commit()
        checklist = await eligibility(session, shop.id, mei.id, TODAY)
        assert checklist.eligible and checklist.exam is not None
        assert checklist.exam.id == passed.id and passed.recorded_by == boss.id


async def test_the_policy_may_drop_the_exam(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await _hire(db, mei, _shanghai(2026, 1, 10))
    policy = default_policy()
    lenient = policy.model_copy(
        update={
            "promotion": policy.promotion.model_copy(
                update={"exam_required": False, "junior_clean_months": 4}
            )
        }
    )
    async with db.session() as session:
        await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=lenient,
            source="test",
            actor="test",
            effective_from=date(2026, 5, 1),
        )
        await session.commit()
        checklist = await eligibility(session, shop.id, mei.id, TODAY)
        assert [(c.key, c.required, c.current) for c in checklist.conditions] == [
            ("clean_months", 4, 3)
        ]
        assert not checklist.eligible
        # The policy in force on the day asked decides.
        earlier = await eligibility(session, shop.id, mei.id, date(2026, 4, 30))
        assert [c.key for c in earlier.conditions] == ["clean_months", "exam"]


async def test_intermediate_to_senior_needs_three_clean_months_and_no_exam(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", level="intermediate")
    await _hire(db, mei, _shanghai(2026, 1, 10))
    await _violation(db, shop, mei, _shanghai(2026, 2, 3))
    async with db.session() as session:
        checklist = await eligibility(session, shop.id, mei.id, TODAY)
        assert [(c.key, c.required, c.current, c.met) for c in checklist.conditions] == [
            ("clean_months", 3, 2, False)
        ]
        later = await eligibility(session, shop.id, mei.id, date(2026, 6, 3))
        assert later.eligible


async def test_senior_to_account_manager_needs_a_year_and_three_clean_months(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    lao = await make_staff("lao", level="senior")
    xin = await make_staff("xin", level="senior")
    await _hire(db, lao, _shanghai(2025, 1, 1, 0))
    await _hire(db, xin, _shanghai(2025, 2, 1, 0))
    day = date(2026, 1, 15)
    async with db.session() as session:
        found = {c.staff_id: c for c in await checklists(session, shop.id, day)}
        assert [(c.key, c.required, c.current, c.met) for c in found[lao.id].conditions] == [
            ("months_at_level", 12, 12, True),
            ("clean_months", 3, 12, True),
        ]
        assert found[lao.id].eligible and found[lao.id].next_level == "account_manager"
        assert found[xin.id].months_at_level == 11 and not found[xin.id].eligible
        assert [c.key for c in found[xin.id].unmet] == ["months_at_level"]

    # An error in November: a year at the level, but only December is clean.
    await _violation(db, shop, lao, _shanghai(2025, 11, 11))
    async with db.session() as session:
        checklist = await eligibility(session, shop.id, lao.id, day)
        assert checklist.clean_months == 1 and not checklist.eligible
        assert [c.key for c in checklist.unmet] == ["clean_months"]
        # Three clean months later (December, January, February) the way is open.
        assert (await eligibility(session, shop.id, lao.id, date(2026, 3, 2))).eligible


async def test_promotion_is_refused_until_eligible_then_recorded(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    boss = await make_staff("boss", "supervisor")
    await _hire(db, mei, _shanghai(2026, 1, 10))
    async with db.session() as session:
        with pytest.raises(NotEligible, match="exam"):
            await do_promote(session, boss, mei.id, TODAY)
        await session.commit()
    async with db.session() as session:
        unchanged = await session.get(StaffAccount, mei.id)
        assert unchanged is not None and unchanged.level == "junior"
        assert (
            await session.scalar(select(AuditEntry).where(AuditEntry.action == LEVEL_ACTION))
            is None
        )

        await do_record_exam(
            session, boss, mei.id, "intermediate", True, 80, date(2026, 5, 2), "", today=TODAY
        )
        with pytest.raises(PromotionForbidden):
            await do_promote(session, mei, mei.id, TODAY)
        promoted = await do_promote(session, boss, mei.id, TODAY)
        await session.commit()
        assert promoted.level == "intermediate"

    async with db.session() as session:
        stored = await session.get(StaffAccount, mei.id)
        assert stored is not None and stored.level == "intermediate"
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == LEVEL_ACTION))
        assert entry is not None
        assert (entry.entity, entry.entity_id) == ("staff", str(mei.id))
        assert entry.before == {"level": "junior"} and entry.after == {"level": "intermediate"}
        assert entry.actor == boss.number
        kinds = list(await session.scalars(select(Event.kind).where(Event.shop_id == shop.id)))
        assert "staff.promoted" in kinds
        # The new level starts today: no whole month yet, and no second step.
        checklist = await eligibility(session, shop.id, mei.id, TODAY)
        assert checklist.level_source == "audit" and checklist.next_level == "senior"
        assert checklist.months_at_level == 0 and not checklist.eligible
        with pytest.raises(NotEligible):
            await do_promote(session, boss, mei.id, TODAY)


async def test_the_top_level_has_no_next_step(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    top = await make_staff("top", level="account_manager")
    boss = await make_staff("boss", "manager")
    async with db.session() as session:
        checklist = await eligibility(session, shop.id, top.id, TODAY)
        assert checklist.next_level is None and checklist.conditions == ()
        assert not checklist.eligible
        with pytest.raises(NotEligible, match="top level"):
            await do_promote(session, boss, top.id, TODAY)
        with pytest.raises(PromotionError, match="top level"):
            await do_record_exam(
                session, boss, top.id, "account_manager", True, None, TODAY, "", today=TODAY
            )


async def test_an_exam_is_recorded_only_by_a_leader_and_with_sound_values(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    lan = await make_staff("lan")
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        elsewhere = await do_create_shop(session, code="other", name="别家")
        await session.flush()
        stranger = StaffAccount(
            shop_id=elsewhere.id,
            username="stranger",
            number="1",
            name="S",
            password_hash="x",
            roles=["agent"],
        )
        session.add(stranger)
        await session.commit()

        async def exam(
            by: StaffAccount = boss,
            staff_id: int = mei.id,
            to_level: str = "intermediate",
            score: int | None = 70,
            taken_on: date = TODAY,
        ) -> ExamResult:
            return await do_record_exam(
                session, by, staff_id, to_level, True, score, taken_on, "", today=TODAY
            )

        with pytest.raises(PromotionForbidden):
            await exam(by=lan)
        with pytest.raises(PromotionError, match="next level, intermediate"):
            await exam(to_level="senior")
        with pytest.raises(PromotionError, match="between 0 and 100"):
            await exam(score=101)
        with pytest.raises(PromotionError, match="once it has been sat"):
            await exam(taken_on=date(2026, 5, 16))
        with pytest.raises(PromotionNotFound):
            await exam(staff_id=stranger.id)
        with pytest.raises(PromotionNotFound):
            await exam(staff_id=boss.id)
        with pytest.raises(PromotionNotFound):
            await eligibility(session, shop.id, stranger.id, TODAY)
        assert await session.scalar(select(ExamResult)) is None
        await exam(score=None)
        await session.commit()
        stored = await session.scalar(select(ExamResult))
        assert stored is not None and stored.score is None and stored.shop_id == shop.id
