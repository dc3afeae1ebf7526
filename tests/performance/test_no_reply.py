"""A buyer left 30 minutes (or 2 hours) without a reply is a fined violation (P4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import MakeStaff
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.performance.violations import detect_violations, violations_of
from xiaoer.reception.service import (
    do_close,
    do_receive_buyer_message,
    do_send_agent_message,
    do_set_presence,
)
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

AFTERNOON = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai


async def _waiting_buyer(db: Database, shop: Shop, agent: StaffAccount, buyer: str) -> int:
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online", now=AFTERNOON)
        customer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id=buyer
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=customer, text="在吗？这款有货吗", client_id="c1",
            now=AFTERNOON,
        )  # fmt: skip
        await session.commit()
        assert posted.conversation.agent_id == agent.id
        return posted.conversation.id


async def test_replies_after_31_minutes_and_after_2_hours_are_fined_once_each(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    slow = await _waiting_buyer(db, shop, agent, "b-1")
    async with db.session() as session:
        await do_send_agent_message(session, agent=agent, conversation_id=slow, text="在的亲",
                                    now=AFTERNOON + timedelta(minutes=31))  # fmt: skip
        await session.commit()
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 1
        await session.commit()
        [late] = await violations_of(session, shop.id, agent_id=agent.id)
    assert late.rule == "no_reply_30_minutes" and late.amount_fen == 10000
    assert late.conversation_id == slow and late.evidence["waited_seconds"] == 31 * 60

    never = await _waiting_buyer(db, shop, agent, "b-2")
    async with db.session() as session:
        await do_close(session, actor=agent, conversation_id=never, outcome="no_reply",
                       now=AFTERNOON + timedelta(hours=2, minutes=5))  # fmt: skip
        await session.commit()
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 1
        rules = [v.rule for v in await violations_of(session, shop.id)]
    assert rules == ["no_reply_30_minutes", "no_reply_2_hours"]


async def test_a_reply_within_30_minutes_is_no_violation(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("mei")
    quick = await _waiting_buyer(db, shop, agent, "b-3")
    async with db.session() as session:
        await do_send_agent_message(session, agent=agent, conversation_id=quick, text="在的亲",
                                    now=AFTERNOON + timedelta(minutes=29))  # fmt: skip
        await session.commit()
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 0
