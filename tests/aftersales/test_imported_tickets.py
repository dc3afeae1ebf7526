"""What the reports bring in becomes work, and refunds and bad reviews reach the pay:
tickets for open refunds and for bad reviews (to the credited agent), the P3 deduction
of a refunded sale to the fen, and a bad review the agent caused left unchanged."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from benchmarks.aftersales_exports import REFUND_HEADER, REVIEW_HEADER, write_report
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.aftersales.cases import do_case_move, do_open_case_refund
from xiaoer.aftersales.complaints import ComplaintError, do_step
from xiaoer.aftersales.models import Ticket, TicketKind, TicketLine, TicketSource
from xiaoer.aftersales.refund_import import import_refunds
from xiaoer.aftersales.refund_states import Move, RefundKind
from xiaoer.aftersales.review_import import import_reviews
from xiaoer.aftersales.tickets import (
    Opening,
    causes_of,
    do_close,
    do_save_cause,
    do_take,
    open_ticket,
)
from xiaoer.core.db import Database
from xiaoer.core.timers import fire_all_due
from xiaoer.orders.marks import do_flag
from xiaoer.orders.models import CreditRole, Order, SalesCredit
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.performance.kpi import report, rollup_days
from xiaoer.performance.models import Violation
from xiaoer.performance.payroll import PayLine, compute
from xiaoer.performance.violations import detect_violations
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

REVIEW_WORK = (
    ("contact", {"how": "电话联系上了"}),
    ("cause", {"cause": "客服发错颜色"}),
    ("ask_change", {"answer": "买家说考虑一下"}),
    ("record", {"handling": "补发正确颜色", "result": "等买家改评"}),
)
PAID = datetime(2026, 10, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, October


async def _sold(db: Database, shop: Shop, number: str, price: int, agent: StaffAccount) -> Order:
    """A paid order credited to ``agent`` (its owner's sale)."""
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id=f"b-{number}", items=(NewItem("窗帘", price),))
        order = await do_create_order(session, shop_id=shop.id, new=new, now=PAID)
        await do_pay_order(session, order=order, now=PAID)
        session.add(SalesCredit(shop_id=shop.id, order_id=order.id, agent_id=agent.id,
                                role=CreditRole.owner.value, reason="flag",
                                amount_fen=price, paid_at=PAID))  # fmt: skip
        await session.commit()
        return order


async def _pay_of(session: AsyncSession, shop: Shop, agent: StaffAccount) -> PayLine:
    lines = await compute(session, shop.id, "2026-10")
    return next(line for line in lines if line.agent_id == agent.id)


async def test_open_refunds_from_the_report_get_tickets_once_and_in_the_order_asked(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    ling = await make_staff("ling", team="aftersale")
    orders = [await _sold(db, shop, f"40000000000000000{n}", 9900, ling) for n in range(3)]
    rows = [
        {"订单编号": order.platform_order_id, "退款编号": f"7770000000{n}", "买家退款金额": "10.00",
         "是否需要退货": "否", "退款的申请时间": asked, "退款状态": status,
         "货物状态": "买家已收到货", "买家退款原因": "少件"}
        for n, (order, asked, status) in enumerate([
            (orders[0], "2026-10-12 10:00:00", "买家已经申请退款，等待卖家同意"),
            (orders[1], "2026-10-11 09:00:00", "买家已经申请退款，等待卖家同意"),
            (orders[2], "2026-10-11 08:00:00", "退款成功"),
        ])
    ]  # fmt: skip
    report = write_report(tmp_path / "refunds.csv", REFUND_HEADER, rows)
    now = datetime(2026, 10, 13, 4, 0, tzinfo=UTC)
    first = await import_refunds(db, shop.id, report, now=now)
    again = await import_refunds(db, shop.id, report, now=now)
    assert (first.tickets_opened, again.tickets_opened) == (2, 0)
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        taken = await session.scalars(select(Ticket).order_by(Ticket.queued_at))
        queue = [(t.order_id, t.source, t.status) for t in taken]
        assert queue == [(orders[1].id, "refund_import", "queued"),
                         (orders[0].id, "refund_import", "queued")]  # fmt: skip
    # a later report: the buyer withdrew one of them; its ticket says so
    rows[0]["退款状态"] = "退款关闭"
    later = write_report(tmp_path / "later.csv", REFUND_HEADER, rows)
    await import_refunds(db, shop.id, later, now=now + timedelta(hours=2))
    async with db.session() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.order_id == orders[0].id))
        assert ticket is not None
        said = list(await session.scalars(
            select(TicketLine.action).where(TicketLine.ticket_id == ticket.id)
            .order_by(TicketLine.id)
        ))  # fmt: skip
        assert said == ["opened", "refund import"]


async def test_a_refunded_sale_leaves_the_agents_commission_unless_quality_caused_it(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """Commission 0.5 %: a ¥99.99 refund under 尺码不合适 takes 50 fen (49.995 rounded
    half up); one under 质量问题 takes nothing; one caused by an agent always does."""
    ling = await make_staff("ling", team="aftersale", level="senior")
    plan = (("P-1", 9999, "尺码不合适"), ("P-2", 20000, "质量问题"),
            ("P-3", 4000, "客服承诺或解释有误"))  # fmt: skip
    async with db.session() as session:
        causes = {c.name: c for c in await causes_of(session, shop.id)}
        await session.commit()
    for number, price, cause in plan:
        order = await _sold(db, shop, number, price, ling)
        at = PAID + timedelta(days=2)
        async with db.session() as session:
            staff = await session.get(StaffAccount, ling.id)
            assert staff is not None
            opening = Opening(TicketKind.refund, TicketSource.hand, number, order_id=order.id)
            ticket = await open_ticket(session, shop.id, opening, by=staff, now=at)
            await do_take(session, staff, ticket.id, now=at)
            await do_open_case_refund(session, staff, ticket.id, kind=RefundKind.refund_only,
                                      amount_fen=price, reason=cause, now=at)  # fmt: skip
            await do_case_move(session, staff, ticket.id, Move.agree, now=at)
            await do_close(session, staff, ticket.id, cause_id=causes[cause].id,
                           outcome="refunded", now=at)  # fmt: skip
            await session.commit()
    async with db.session() as session:
        [line] = [
            line for line in await compute(session, shop.id, "2026-10") if line.agent_id == ling.id
        ]
    deductions = {
        i.detail["order"]: i.amount_fen for i in line.items if i.kind == "refund_deduction"
    }
    assert deductions == {"P-1": -50, "P-3": -20}
    commission = next(i for i in line.items if i.kind == "commission")
    assert commission.amount_fen == 170  # 0.5 % of 9,999 + 20,000 + 4,000 = 169.995


async def test_a_bad_review_goes_to_the_credited_agent_and_unchanged_costs_them(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path
) -> None:
    ling = await make_staff("ling", team="aftersale")
    boss = await make_staff("boss", "supervisor")
    kept = await _sold(db, shop, "500000000000000001", 12000, ling)
    changed = await _sold(db, shop, "500000000000000002", 8000, ling)
    rows = [
        {"订单编号": order.platform_order_id, "子订单编号": sub, "评价结果": "差评",
         "评价内容": "发错颜色了", "评价时间": "2026-10-12 10:00:00"}
        for order, sub in ((kept, "1"), (changed, "2"))
    ]  # fmt: skip
    report = write_report(tmp_path / "reviews.csv", REVIEW_HEADER, rows)
    now = datetime(2026, 10, 12, 6, 0, tzinfo=UTC)
    result = await import_reviews(db, shop.id, report, now=now)
    assert result.tickets_opened == 2
    async with db.session() as session:
        tickets = list(await session.scalars(select(Ticket).order_by(Ticket.id)))
        assert [(t.kind, t.status, t.owner_id) for t in tickets] == [
            ("review", "taken", ling.id)
        ] * 2
        staff = await session.get(StaffAccount, ling.id)
        leader = await session.get(StaffAccount, boss.id)
        assert staff is not None and leader is not None
        agent_cause = await do_save_cause(session, leader, name="客服发错颜色",
                                          about_quality=False, agent_caused=True)  # fmt: skip
        for ticket in tickets:
            with pytest.raises(ComplaintError):  # the four steps come first
                await do_close(session, staff, ticket.id, cause_id=agent_cause.id,
                               outcome="other", now=now)  # fmt: skip
            for step, fields in REVIEW_WORK:
                await do_step(session, staff, ticket.id, step, fields, now=now)
            await do_close(session, staff, ticket.id, cause_id=agent_cause.id,
                           outcome="other", now=now)  # fmt: skip
        await session.commit()
    # the buyer of V-2 changes the review within the 7 days; V-1's stays bad
    rows[1]["评价结果"] = "好评"
    await import_reviews(db, shop.id, write_report(tmp_path / "later.csv", REVIEW_HEADER, rows),
                         now=now + timedelta(days=3))  # fmt: skip
    await fire_all_due(db, now=now + timedelta(days=7, minutes=1))
    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 1
        [violation] = list(await session.scalars(select(Violation)))
        assert (violation.rule, violation.agent_id, violation.order_id, violation.amount_fen) == (
            "bad_review_not_changed",
            ling.id,
            kept.id,
            10000,
        )
        await session.commit()
    async with db.session() as session:
        [line] = [
            line for line in await compute(session, shop.id, "2026-10") if line.agent_id == ling.id
        ]
    items = {(i.kind, i.amount_fen) for i in line.items if i.kind in ("review_deduction", "fine")}
    assert items == {("review_deduction", -60), ("fine", -10000)}


async def test_the_manager_downloads_the_evidence_to_appeal_a_malicious_review(
    db: Database, shop: Shop, make_staff: MakeStaff, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    ling = await make_staff("ling", team="aftersale")
    await make_staff("man", "manager")
    order = await _sold(db, shop, "600000000000000001", 15800, ling)
    rows = [{"订单编号": order.platform_order_id, "子订单编号": "1", "评价结果": "差评",
             "评价内容": "同行来踩，假货别买", "评价时间": "2026-10-12 10:00:00"}]  # fmt: skip
    report = write_report(tmp_path / "reviews.csv", REVIEW_HEADER, rows)
    await import_reviews(db, shop.id, report, now=datetime(2026, 10, 12, 6, 0, tzinfo=UTC))
    async with db.session() as session:
        ticket_id = await session.scalar(select(Ticket.id))
    await sign_in(client, "ling")
    page = await client.get(f"/aftersales/tickets/{ticket_id}")
    assert "同行来踩" in page.text and "appeal.zip" not in page.text
    assert (await client.get(f"/aftersales/tickets/{ticket_id}/appeal.zip")).status_code == 403
    await client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    await sign_in(client, "man")
    packet = await client.get(f"/aftersales/tickets/{ticket_id}/appeal.zip")
    assert packet.status_code == 200 and packet.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(packet.content)) as archive:
        names = sorted(archive.namelist())
        summary = archive.read("说明.txt").decode("utf-8")
        order_sheet = archive.read("订单与物流.csv").decode("utf-8-sig")
        history = archive.read("买家历史.csv").decode("utf-8-sig")
    assert names == sorted(["说明.txt", "订单与物流.csv", "聊天记录.csv", "买家历史.csv"])
    assert "评价：差评" in summary and "同行来踩，假货别买" in summary
    assert order.platform_order_id in order_sheet and "158.00" in order_sheet
    assert "评价," + order.platform_order_id + ",差评" in history


async def test_the_kpis_gain_the_refund_rate_of_items(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """Four items sold in two orders owned by ling; one order of three items refunded in
    full, the other (one item) not: 3 / (4 + 3) = 42.9 %."""
    ling = await make_staff("ling", team="aftersale", level="senior")
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        numbers = []
        for number, quantity in (("700000000000000001", 3), ("700000000000000002", 1)):
            new = NewOrder(number=number, buyer_id=f"b-{number}",
                           items=(NewItem("窗帘", 3000, quantity),))  # fmt: skip
            order = await do_create_order(session, shop_id=shop.id, new=new, now=PAID)
            await do_flag(session, order=order, agent=staff, flag=1)
            await do_pay_order(session, order=order, now=PAID)
            numbers.append(order.id)
        await session.commit()
    async with db.session() as session:
        staff = await session.get(StaffAccount, ling.id)
        assert staff is not None
        opening = Opening(TicketKind.refund, TicketSource.hand, "整单退", order_id=numbers[0])
        ticket = await open_ticket(session, shop.id, opening, by=staff, now=PAID)
        await do_take(session, staff, ticket.id, now=PAID)
        await do_open_case_refund(session, staff, ticket.id, kind=RefundKind.refund_only,
                                  amount_fen=9000, reason="不要了", now=PAID)  # fmt: skip
        await do_case_move(session, staff, ticket.id, Move.agree, now=PAID + timedelta(hours=1))
        await session.commit()
    async with db.session() as session:
        day = date(2026, 10, 10)
        await rollup_days(session, shop.id, day, day, now=PAID + timedelta(days=1))
        await session.commit()
        figures = (await report(session, shop.id, day, day)).subjects[str(ling.id)]
    assert (figures.counts["sold_items"], figures.counts["refunded_items"]) == (4, 3)
    assert figures.rate("refund_rate") == pytest.approx(3 / 7)
