"""Violations (P4): detected once from the event stream, added by a supervisor, appealed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.core.timers import fire_all_due
from xiaoer.orders.marks import do_flag
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.performance.models import Violation, ViolationStatus
from xiaoer.performance.violations import (
    ViolationError,
    detect_violations,
    do_add_violation,
    do_appeal,
    do_decide,
    violations_of,
)
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

NOON = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


async def _late_note(db: Database, shop: Shop, agent: StaffAccount, number: str) -> int:
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id=f"b-{number}", items=(NewItem("窗帘", 9900),))
        order = await do_create_order(session, shop_id=shop.id, new=new, now=NOON)
        await do_flag(session, order=order, agent=agent, flag=1, now=NOON)
        await do_pay_order(session, order=order, now=NOON)
        await session.commit()
        order_id = order.id
    await fire_all_due(db, now=NOON + timedelta(minutes=21))
    return order_id


async def test_a_late_note_becomes_one_violation_with_the_fine_in_force(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    policy = default_policy()
    dearer = policy.model_copy(
        update={"fines": policy.fines.model_copy(update={"note_late_or_wrong": 3000})}
    )
    async with db.session() as session:
        version = await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=dearer,
            source="test",
            actor="test",
            effective_from=date(2026, 11, 1),
        )
        await session.commit()
    order_id = await _late_note(db, shop, agent, "V-1")
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 1
        await session.commit()
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 0  # once only
        [violation] = await violations_of(session, shop.id, agent_id=agent.id)
    assert violation.rule == "note_late_or_wrong" and violation.requirement == "O3"
    assert violation.amount_fen == 3000 and violation.policy_version_id == version.id
    assert violation.order_id == order_id and violation.occurred_at >= NOON
    assert violation.evidence["event"] == "violation.late_note"

    # A second late note later is found on the next pass.
    await _late_note(db, shop, agent, "V-2")
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 1
        await session.commit()
        assert len(await violations_of(session, shop.id)) == 2


async def test_an_appeal_is_decided_by_the_supervisor(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    other = await make_staff("lan")
    boss = await make_staff("boss", "supervisor")
    await _late_note(db, shop, agent, "V-3")
    async with db.session() as session:
        await detect_violations(session, shop.id)
        violation = await session.scalar(select(Violation))
        assert violation is not None
        with pytest.raises(ViolationError, match="only the agent"):
            await do_appeal(session, agent=other, violation=violation, text="不是我")
        with pytest.raises(ViolationError, match="only an appealed"):
            await do_decide(
                session, supervisor=boss, violation=violation, withdraw=False, decision=""
            )
        await do_appeal(session, agent=agent, violation=violation, text="买家付款时系统卡住了")
        with pytest.raises(ViolationError, match="supervisor"):
            await do_decide(
                session, supervisor=agent, violation=violation, withdraw=True, decision=""
            )
        await do_decide(
            session, supervisor=boss, violation=violation, withdraw=True, decision="系统问题，撤销"
        )
        await session.commit()
        assert violation.status == ViolationStatus.withdrawn.value


async def test_a_supervisor_adds_a_wrong_note_and_a_loss_at_cost(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        wrong = await do_add_violation(
            session,
            supervisor=boss,
            agent_id=agent.id,
            rule="note_wrong_at_factory",
            note="尺寸把宽高写反了",
        )
        assert wrong.amount_fen == 5000
        with pytest.raises(ViolationError, match="above"):
            await do_add_violation(
                session,
                supervisor=boss,
                agent_id=agent.id,
                rule="loss_paid_at_cost_over",
                note="错发",
                amount_fen=30000,
            )
        loss = await do_add_violation(
            session,
            supervisor=boss,
            agent_id=agent.id,
            rule="loss_paid_at_cost_over",
            note="错发",
            amount_fen=68000,
        )
        assert loss.amount_fen == 68000
        with pytest.raises(ViolationError, match="only a supervisor"):
            await do_add_violation(
                session, supervisor=agent, agent_id=agent.id, rule="tracking_neglect", note="x"
            )
        await session.commit()
