"""Tickets through their services: opened from a chat, queued first come first served,
taken, escalated by hand and by their due timer, merged, closed with a cause; refunds
within and above authority; complaints' five steps; the buyer told in their chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from xiaoer.aftersales.cases import (
    do_case_ask,
    do_case_decide,
    do_case_move,
    do_open_case_refund,
)
from xiaoer.aftersales.complaints import ComplaintError, do_promise, do_step
from xiaoer.aftersales.models import Refund, Ticket, TicketKind, TicketLine, TicketSource
from xiaoer.aftersales.refund_states import Move, RefundKind
from xiaoer.aftersales.refunds import RefundNeedsApproval, refunds_to_decide
from xiaoer.aftersales.tickets import (
    Opening,
    TicketError,
    TicketForbidden,
    TicketNotFound,
    causes_of,
    do_close,
    do_escalate,
    do_merge,
    do_note,
    do_open_from_conversation,
    do_open_ticket,
    do_take,
    do_take_next,
    mine,
    queue_of,
    ticket_for,
)
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.core.models import Event, Timer
from xiaoer.core.policy import parse_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.core.timers import fire_all_due
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.performance.models import Violation
from xiaoer.performance.violations import detect_violations
from xiaoer.reception.models import Message
from xiaoer.reception.service import do_receive_buyer_message, do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount

NOON = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


async def _order(db: Database, shop_id: int, number: str, price_fen: int, buyer: str) -> int:
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id=buyer, items=(NewItem("窗帘", price_fen),))
        order = await do_create_order(session, shop_id=shop_id, new=new, now=NOON)
        await do_pay_order(session, order=order, now=NOON)
        await session.commit()
        return order.id


async def _get(db: Database, account: StaffAccount) -> StaffAccount:
    async with db.session() as session:
        found = await session.get(StaffAccount, account.id)
        assert found is not None
        return found


async def _hand(db: Database, staff: StaffAccount, subject: str, **kw: object) -> int:
    async with db.session() as session:
        opening = Opening(TicketKind(str(kw.pop("kind", "inquiry"))), TicketSource.hand, subject,
                          **kw)  # type: ignore[arg-type]  # fmt: skip
        ticket = await do_open_ticket(session, await _get(db, staff), opening, now=NOON)
        await session.commit()
        return ticket.id


async def _lines(db: Database, ticket_id: int) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(
            select(TicketLine.action)
            .where(TicketLine.ticket_id == ticket_id)
            .order_by(TicketLine.id)
        )
        return list(rows)


async def test_the_queue_is_first_come_first_served_and_a_ticket_is_taken_once(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale")
    mei = await make_staff("mei", team="aftersale")
    first = await _hand(db, ling, "尺码换货")
    second = await _hand(db, ling, "少发配件")
    async with db.session() as session:
        queued = await queue_of(session, ling)
        assert [t.id for t in queued] == [first, second]
        taken = await do_take_next(session, ling, now=NOON + timedelta(minutes=1))
        await session.commit()
        assert taken is not None and taken.id == first
    async with db.session() as session:
        with pytest.raises(TicketError):
            await do_take(session, mei, first)
        taken = await do_take_next(session, mei, now=NOON + timedelta(minutes=2))
        await session.commit()
        assert taken is not None and taken.id == second
        assert [t.id for t in await mine(session, mei)] == [second]
        assert await do_take_next(session, mei) is None
    assert await _lines(db, first) == ["opened", "taken"]


async def test_only_the_aftersales_team_and_leaders_work_the_queue(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale")
    presale = await make_staff("xiao", team="presale")
    auditor = await make_staff("shen", "auditor")
    ticket_id = await _hand(db, ling, "破损")
    async with db.session() as session:
        with pytest.raises(TicketForbidden):
            await queue_of(session, presale)
        with pytest.raises(TicketNotFound):
            await ticket_for(session, presale, ticket_id)
        with pytest.raises(TicketNotFound):
            await ticket_for(session, auditor, ticket_id)
        with pytest.raises(TicketForbidden):
            await do_open_ticket(
                session, presale, Opening(TicketKind.inquiry, TicketSource.hand, "x")
            )


async def test_a_ticket_opened_from_a_chat_carries_the_buyer_order_and_tells_the_buyer(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    xiao = await make_staff("xiao", team="presale")
    ling = await make_staff("ling", team="aftersale")
    async with db.session() as session:
        await do_set_presence(session, agent=xiao, status="online", now=NOON)
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="b-7", nick="小七"
        )
        await session.commit()
    order_id = await _order(db, shop.id, "T-7", 12900, "b-7")
    async with db.session() as session:
        buyer_row = await session.get(type(buyer), buyer.id)
        assert buyer_row is not None
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=buyer_row, text="窗帘颜色不对，想退", now=NOON
        )
        await session.commit()
        conversation_id = posted.conversation.id
    async with db.session() as session:
        ticket = await do_open_from_conversation(
            session, await _get(db, xiao), conversation_id, kind=TicketKind.refund,
            subject="颜色不对要退货", order_id=order_id, now=NOON,
        )  # fmt: skip
        await session.commit()
        assert (ticket.customer_id, ticket.order_id, ticket.conversation_id) == (
            buyer.id,
            order_id,
            conversation_id,
        )
        assert ticket.due_at == NOON + timedelta(hours=24)
        told = await session.scalar(
            select(Message.text).where(Message.conversation_id == conversation_id,
                                       Message.sender == "auto").order_by(Message.id.desc())
        )  # fmt: skip
        assert told is not None and f"{ticket.id}" in told
    # the after-sales agent sees it; the presale agent who opened it does too
    async with db.session() as session:
        assert (await ticket_for(session, ling, ticket.id)).id == ticket.id
        assert (await ticket_for(session, await _get(db, xiao), ticket.id)).id == ticket.id


async def test_a_refund_within_authority_is_agreed_and_above_it_goes_to_the_supervisor(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """A junior may agree ¥30.00; ¥30.01 waits for the supervisor, who agrees it."""
    ling = await make_staff("ling", team="aftersale")  # junior: authority 3000 fen
    boss = await make_staff("boss", "supervisor")
    small = await _order(db, shop.id, "A-1", 5000, "b-1")
    large = await _order(db, shop.id, "A-2", 5000, "b-2")
    one = await _hand(db, ling, "退差价", order_id=small)
    two = await _hand(db, ling, "退一件", order_id=large)
    async with db.session() as session:
        await do_take(session, ling, one, now=NOON)
        await do_take(session, ling, two, now=NOON)
        await do_open_case_refund(session, ling, one, kind=RefundKind.refund_only,
                                  amount_fen=3000, reason="差价")  # fmt: skip
        await do_open_case_refund(session, ling, two, kind=RefundKind.refund_only,
                                  amount_fen=3001, reason="少一件")  # fmt: skip
        agreed = await do_case_move(session, ling, one, Move.agree, now=NOON)
        assert agreed.status == "SUCCESS"
        with pytest.raises(RefundNeedsApproval) as refused:
            await do_case_move(session, ling, two, Move.agree, now=NOON)
        assert "¥30.01" in str(refused.value) and "¥30.00" in str(refused.value)
        await do_case_ask(session, ling, two, reason="买家少收一件", now=NOON)
        await session.commit()
    async with db.session() as session:
        waiting = await refunds_to_decide(session, await _get(db, boss))
        assert [r.amount_fen for r in waiting] == [3001]
        assert await refunds_to_decide(session, await _get(db, ling)) == []
        with pytest.raises(RefundNeedsApproval):  # asked: the agent waits for the answer
            await do_case_move(session, await _get(db, ling), two, Move.agree, now=NOON)
    async with db.session() as session:
        done = await do_case_decide(session, await _get(db, boss), two, approve=True,
                                    note="同意", now=NOON)  # fmt: skip
        await session.commit()
        assert (done.status, done.approval, done.decided_by) == ("SUCCESS", "approved", boss.id)
        order = await session.get(Order, large)
        assert order is not None and order.refunded_fen == 3001
    assert await _lines(db, two) == [
        "opened",
        "taken",
        "refund",
        "approval asked",
        "approval decided",
    ]


async def test_the_due_time_escalates_by_itself_and_a_closed_ticket_stays_closed(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale")
    late = await _hand(db, ling, "迟迟未处理")
    done = await _hand(db, ling, "已处理")
    async with db.session() as session:
        await do_take(session, ling, done, now=NOON)
        causes = await causes_of(session, shop.id)
        await do_close(session, ling, done, cause_id=causes[0].id, outcome="explained",
                       result="解释清楚", now=NOON + timedelta(hours=1))  # fmt: skip
        await session.commit()
    assert await fire_all_due(db, now=NOON + timedelta(hours=23, minutes=59)) == 0
    await fire_all_due(db, now=NOON + timedelta(hours=24, seconds=1))
    async with db.session() as session:
        tickets = {t.id: t for t in await session.scalars(select(Ticket))}
        assert tickets[late].status == "escalated"
        assert tickets[late].escalation == "due time passed"
        assert tickets[done].status == "closed"
    assert await _lines(db, late) == ["opened", "escalated"]


async def test_escalation_needs_a_reason_and_merging_folds_a_duplicate(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale")
    order_id = await _order(db, shop.id, "M-1", 9900, "b-m")
    keep = await _hand(db, ling, "退货", order_id=order_id)
    twin = await _hand(db, ling, "退货（重复）", order_id=order_id)
    async with db.session() as session:
        await do_take(session, ling, keep, now=NOON)
        await do_take(session, ling, twin, now=NOON)
        with pytest.raises(TicketError):
            await do_escalate(session, ling, keep, "  ")
        await do_note(session, ling, keep, "买家说下午方便接电话", now=NOON)
        into = await do_merge(session, ling, twin, keep, now=NOON)
        await do_escalate(session, ling, keep, "买家要求赔偿运费", now=NOON)
        await session.commit()
        assert into.id == keep
        merged = await session.get(Ticket, twin)
        assert merged is not None and (merged.status, merged.merged_into) == ("merged", keep)
    assert await _lines(db, keep) == ["opened", "taken", "note", "merged", "escalated"]
    async with db.session() as session:  # the twin's due timer is cancelled, the kept one runs
        timers = {
            t.subject: t.cancelled_at is not None
            for t in await session.scalars(select(Timer).where(Timer.kind == "ticket.due"))
        }
        assert timers == {str(keep): False, str(twin): True}


async def test_closing_needs_a_cause_an_outcome_and_a_finished_refund(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale", level="senior")
    order_id = await _order(db, shop.id, "C-1", 9900, "b-c")
    ticket_id = await _hand(db, ling, "退货退款", order_id=order_id)
    async with db.session() as session:
        await do_take(session, ling, ticket_id, now=NOON)
        causes = await causes_of(session, shop.id)
        size = next(c for c in causes if c.name == "尺码不合适")
        await do_open_case_refund(session, ling, ticket_id, kind=RefundKind.return_refund,
                                  amount_fen=9900, reason="尺码偏小")  # fmt: skip
        await do_case_move(session, ling, ticket_id, Move.agree, now=NOON)
        with pytest.raises(TicketError):
            await do_close(session, ling, ticket_id, cause_id=size.id, outcome="refunded")
        with pytest.raises(TicketError):
            await do_close(session, ling, ticket_id, cause_id=size.id, outcome="whatever")
        await do_case_move(session, ling, ticket_id, Move.send_back, waybill="SF1000000001",
                           carrier="顺丰", now=NOON)  # fmt: skip
        await do_case_move(session, ling, ticket_id, Move.confirm_goods, now=NOON)
        closed = await do_close(session, ling, ticket_id, cause_id=size.id, outcome="refunded",
                                result="退回全款", now=NOON)  # fmt: skip
        await session.commit()
        assert (closed.status, closed.cause_id, closed.outcome) == ("closed", size.id, "refunded")
        refund = await session.scalar(select(Refund).where(Refund.order_id == order_id))
        assert refund is not None and refund.status == "SUCCESS"
        moved = await session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "ticket.moved")
        )
        assert moved == 3  # opened, taken, closed


async def test_a_complaint_takes_its_five_steps_in_order_and_a_missed_promise_is_fined(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale")
    ticket_id = await _hand(db, ling, "投诉发货慢", kind="complaint")
    async with db.session() as session:
        with pytest.raises(ComplaintError):  # listen comes first
            await do_take(session, ling, ticket_id, now=NOON)
            await do_step(session, ling, ticket_id, "ask", {"what_happened": "慢"}, now=NOON)
    async with db.session() as session:
        await do_take(session, ling, ticket_id, now=NOON)
        await do_step(session, ling, ticket_id, "listen", {"words": "等了十天还没到"}, now=NOON)
        with pytest.raises(ComplaintError):
            await do_step(session, ling, ticket_id, "ask", {"what_happened": "慢"}, now=NOON)
        await do_step(session, ling, ticket_id, "ask",
                      {"what_happened": "物流停滞", "when": "11-10", "item": "窗帘",
                       "wants": "尽快收到"}, now=NOON)  # fmt: skip
        with pytest.raises(ComplaintError):  # follow is next, not reply
            await do_step(session, ling, ticket_id, "reply", {"result": "已催件"}, now=NOON)
        causes = await causes_of(session, shop.id)
        with pytest.raises(ComplaintError):
            await do_close(session, ling, ticket_id, cause_id=causes[0].id, outcome="explained")
        await do_step(session, ling, ticket_id, "follow", {}, now=NOON)
        await session.commit()
    # the first promise (24 h by policy) passes unanswered: a violation for the owner
    await fire_all_due(db, now=NOON + timedelta(hours=24, seconds=1))
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 1
        violation = await session.scalar(select(Violation))
        assert violation is not None
        assert (violation.agent_id, violation.amount_fen) == (ling.id, 5000)
        await session.commit()
    async with db.session() as session:
        later = NOON + timedelta(hours=25)
        await do_promise(session, ling, ticket_id, later + timedelta(hours=2), now=later)
        await do_step(
            session, ling, ticket_id, "reply", {"result": "已催快递，明天送达"}, now=later
        )
        await do_step(session, ling, ticket_id, "record",
                      {"handling": "催件", "result": "买家满意"}, now=later)  # fmt: skip
        causes = await causes_of(session, shop.id)
        closed = await do_close(session, ling, ticket_id, cause_id=causes[5].id,
                                outcome="explained", now=later)  # fmt: skip
        await session.commit()
        assert closed.status == "closed" and list(closed.steps) == [
            "listen",
            "ask",
            "follow",
            "reply",
            "record",
        ]


async def test_a_major_complaint_tells_the_leaders_at_once(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale")
    calm = await _hand(db, ling, "包装有点旧", kind="complaint", words="包装有点旧")
    loud = await _hand(db, ling, "要去12315", kind="complaint", words="再不处理我就打12315投诉")
    async with db.session() as session:
        tickets = {t.id: t for t in await session.scalars(select(Ticket))}
        assert (tickets[calm].major, tickets[loud].major) == (False, True)
        assert tickets[loud].priority == 2
        told = list(await session.scalars(select(Event.payload).where(
            Event.kind == "complaint.major")))  # fmt: skip
        assert [p["ticket_id"] for p in told] == [loud]
        assert told[0]["why"] == ["words:投诉,12315"]


async def test_a_shop_that_does_not_want_it_tells_the_buyer_nothing(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    xiao = await make_staff("xiao", team="presale")
    async with db.session() as session:
        today = await shop_today(session, shop.id)
        quiet = parse_policy("[aftersales]\ntell_buyer_progress = false\n")
        await do_apply_policy(session, shop_id=shop.id, policy=quiet, source="test",
                              effective_from=today, actor="test")  # fmt: skip
        await do_set_presence(session, agent=xiao, status="online")
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="b-q", nick="安静"
        )
        posted = await do_receive_buyer_message(session, shop=shop, customer=buyer, text="退货")
        await session.commit()
    async with db.session() as session:
        staff = await session.get(StaffAccount, xiao.id)
        assert staff is not None
        before = await session.scalar(select(func.count()).select_from(Message))
        await do_open_from_conversation(
            session, staff, posted.conversation.id, kind=TicketKind.refund, subject="退货"
        )
        await session.commit()
        after = await session.scalar(select(func.count()).select_from(Message))
    assert after == before
