"""Monthly pay (P1–P3): a month computed by hand matches the payroll to the fen.

October 2026 in Shanghai for mei, an intermediate pre-sales agent (policy defaults):

    base pay (intermediate)                                        1800.00
    commission: 123.45 + 99.00 + 999.00 + 33.33 = 1254.78 × 0.5 %     6.27  (6.2739)
      (the 50.00 paid at 00:10 on 1 November is November's)
    sale deduction: order B (999.00) returned, 999.00 × 0.5 %        -5.00  (4.995 → 5.00)
    team bonus: 1800.00 × 10 % × score 80/100                       144.00
    full attendance: no shifts rostered                               0.00
    living allowance                                                200.00
    bonus (Double 11 overtime)                                       50.00
    deduction (lost badge)                                          -10.00
    fine: late seller note on order L                               -20.00
    fine: buyer unanswered 31 minutes (appealed, upheld)           -100.00
    fine: 5 replies over 2 minutes, more than the 3 free            -50.00
    (tracking neglect added and withdrawn: no fine)
    total                                                          2015.27
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff
from tests.test_cli import xiaoer
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.core.timers import fire_all_due
from xiaoer.orders.marks import do_flag, do_write_note
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.performance.kpi import rollup_days
from xiaoer.performance.models import Violation
from xiaoer.performance.payroll import (
    PayrollError,
    compute,
    do_add_adjustment,
    do_detect_slow_replies,
    do_lock,
    payroll,
)
from xiaoer.performance.violations import (
    detect_violations,
    do_add_violation,
    do_appeal,
    do_decide,
)
from xiaoer.reception.service import (
    do_receive_buyer_message,
    do_send_agent_message,
    do_set_presence,
)
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

MONTH = "2026-10"
AFTER = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # the month is over


def shanghai(day: int, hour: int, minute: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def _sale(
    db: Database, shop: Shop, agent: StaffAccount, number: str, fen: int, paid: datetime,
    *, note: bool = True,
) -> int:  # fmt: skip
    async with db.session() as session:
        order = await do_create_order(
            session, shop_id=shop.id,
            new=NewOrder(number, f"buyer-{number}", (NewItem("遮光窗帘", fen),)),
            now=paid - timedelta(minutes=5),
        )  # fmt: skip
        await do_flag(session, order=order, agent=agent, flag=1, now=paid - timedelta(minutes=4))
        await do_pay_order(session, order=order, now=paid)
        if note:
            await do_write_note(session, order=order, author=agent, text="按图发货",
                                now=paid + timedelta(minutes=5))  # fmt: skip
        await session.commit()
        return order.id


async def _slow_reply(
    db: Database, shop: Shop, agent: StaffAccount, buyer: str, asked: datetime, wait: timedelta
) -> None:
    async with db.session() as session:
        customer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id=buyer
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=customer, text="在吗", client_id=buyer, now=asked
        )
        await session.commit()
        conversation_id = posted.conversation.id
    async with db.session() as session:
        await do_send_agent_message(session, agent=agent, conversation_id=conversation_id,
                                    text="在的亲", now=asked + wait)  # fmt: skip
        await session.commit()


async def _the_month(
    db: Database, shop: Shop, mei: StaffAccount, boss: StaffAccount
) -> dict[str, int]:
    orders = {
        "A": await _sale(db, shop, mei, "A", 12345, shanghai(5, 14)),
        "L": await _sale(db, shop, mei, "L", 9900, shanghai(10, 12), note=False),
        "B": await _sale(db, shop, mei, "B", 99900, shanghai(20, 15)),
        "C": await _sale(db, shop, mei, "C", 3333, shanghai(31, 23, 50)),
        "D": await _sale(db, shop, mei, "D", 5000, shanghai(1, 0, 10, month=11)),
    }
    await fire_all_due(db, now=shanghai(10, 12, 30))  # order L's note is late

    async with db.session() as session:
        await do_set_presence(session, agent=mei, status="online", now=shanghai(12, 9))
        await session.commit()
    for n in range(4):
        await _slow_reply(db, shop, mei, f"s-{n}", shanghai(12, 10 + n), timedelta(seconds=150))
    await _slow_reply(db, shop, mei, "s-late", shanghai(12, 15), timedelta(minutes=31))

    async with db.session() as session:
        assert await detect_violations(session, shop.id) == 2  # late note, 31 minutes
        no_reply = await session.scalar(select(Violation).where(Violation.rule.like("no_reply%")))
        assert no_reply is not None
        await do_appeal(session, agent=mei, violation=no_reply, text="当时在处理售后")
        await do_decide(session, supervisor=boss, violation=no_reply, withdraw=False,
                        decision="售后不是理由")  # fmt: skip
        neglect = await do_add_violation(
            session, supervisor=boss, agent_id=mei.id, rule="tracking_neglect",
            note="物流三天未更新没跟进", occurred_at=shanghai(15, 10),
        )  # fmt: skip
        await do_decide(session, supervisor=boss, violation=neglect, withdraw=True,
                        decision="查实物流公司原因")  # fmt: skip
        await do_add_adjustment(session, actor=boss, month=MONTH, kind="sale_deduction",
                                agent_id=mei.id, order_id=orders["B"],
                                reason="买家七天无理由退货")  # fmt: skip
        await do_add_adjustment(session, actor=boss, month=MONTH, kind="team_score",
                                team="presale", amount_fen=80, reason="10 月团队考核")  # fmt: skip
        await do_add_adjustment(session, actor=boss, month=MONTH, kind="bonus", agent_id=mei.id,
                                amount_fen=5000, reason="双十一预热加班")  # fmt: skip
        await do_add_adjustment(session, actor=boss, month=MONTH, kind="deduction",
                                agent_id=mei.id, amount_fen=1000, reason="工牌遗失")  # fmt: skip
        await rollup_days(session, shop.id, date(2026, 10, 1), date(2026, 10, 31), now=AFTER)
        assert await do_detect_slow_replies(session, shop.id, MONTH, now=AFTER) == 1
        assert await do_detect_slow_replies(session, shop.id, MONTH, now=AFTER) == 0  # once
        await session.commit()
    return orders


def _items(line: dict[str, object]) -> list[tuple[str, int]]:
    return [(str(i["kind"]), int(i["amount_fen"])) for i in line["items"]]  # type: ignore[attr-defined]


async def test_a_hand_computed_month_matches_to_the_fen(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", level="intermediate")
    boss = await make_staff("boss", "supervisor")
    orders = await _the_month(db, shop, mei, boss)

    async with db.session() as session:
        result = await payroll(session, shop.id, MONTH)
    [line] = [row for row in result.rows() if row["agent_id"] == mei.id]
    assert _items(line) == [
        ("base", 180000),
        ("commission", 627),
        ("sale_deduction", -500),
        ("team_bonus", 14400),
        ("full_attendance", 0),
        ("allowance", 20000),
        ("bonus", 5000),
        ("deduction", -1000),
        ("fine", -2000),
        ("fine", -10000),
        ("fine", -5000),
    ]
    assert line["total_fen"] == 201527
    commission = line["items"][1]
    assert commission["detail"] == {"sales_fen": 125478, "orders": 4, "rate": "0.005"}
    late_note = line["items"][8]
    assert late_note["detail"]["rule"] == "note_late_or_wrong"
    assert late_note["link"] == f"/orders/{orders['L']}#note"
    assert line["items"][9]["detail"]["status"] == "upheld"
    assert line["items"][9]["link"].startswith("/performance/conversations/")
    assert line["items"][10]["detail"]["rule"] == "slow_reply"
    assert line["items"][10]["link"] == (
        f"/performance/kpi/rounds?start=2026-10-01&end=2026-10-31&agent={mei.id}&kind=slow"
    )
    deduction = line["items"][2]
    assert deduction["link"] == f"/orders/{orders['B']}" and deduction["detail"]["order"] == "B"


async def test_the_month_locks_and_no_longer_changes(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", level="intermediate")
    boss = await make_staff("boss", "supervisor")
    await _the_month(db, shop, mei, boss)
    async with db.session() as session:
        with pytest.raises(PayrollError, match="not over yet"):
            await do_lock(session, actor=boss, month=MONTH, now=shanghai(31, 20))
        with pytest.raises(PayrollError, match="supervisor or manager"):
            await do_lock(session, actor=mei, month=MONTH, now=AFTER)
        locked = await do_lock(session, actor=boss, month=MONTH, now=AFTER)
        await session.commit()
    assert locked.total_fen == sum(int(line["total_fen"]) for line in locked.lines)
    async with db.session() as session:
        with pytest.raises(PayrollError, match="is locked"):
            await do_add_adjustment(session, actor=boss, month=MONTH, kind="bonus",
                                    agent_id=mei.id, amount_fen=100, reason="补发")  # fmt: skip
        order = await session.scalar(select(Order).where(Order.platform_order_id == "A"))
        assert order is not None
        order.paid_fen = 1  # a later change does not move a locked month
        await session.commit()
    async with db.session() as session:
        result = await payroll(session, shop.id, MONTH)
    assert result.locked is not None
    [line] = [row for row in result.rows() if row["agent_id"] == mei.id]
    assert line["total_fen"] == 201527


async def test_locking_waits_for_appeals_and_bad_adjustments_say_why(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        violation = await do_add_violation(
            session, supervisor=boss, agent_id=mei.id, rule="tracking_neglect",
            note="没跟进", occurred_at=shanghai(3, 10),
        )  # fmt: skip
        await do_appeal(session, agent=mei, violation=violation, text="已经跟进了")
        with pytest.raises(PayrollError, match="appeal"):
            await do_lock(session, actor=boss, month=MONTH, now=AFTER)
        for kwargs, message in (
            ({"kind": "bonus", "agent_id": mei.id, "amount_fen": 100, "reason": " "}, "reason"),
            ({"kind": "tip", "agent_id": mei.id, "amount_fen": 100, "reason": "x"}, "kind"),
            ({"kind": "bonus", "agent_id": mei.id, "amount_fen": 0, "reason": "x"}, "more than 0"),
            ({"kind": "sale_deduction", "agent_id": mei.id, "reason": "x"}, "names the order"),
            ({"kind": "team_score", "team": "presale", "amount_fen": 120, "reason": "x"},
             "0 to 100"),
            ({"kind": "bonus", "agent_id": 99999, "amount_fen": 100, "reason": "x"}, "agent"),
        ):  # fmt: skip
            with pytest.raises(PayrollError, match=message):
                await do_add_adjustment(session, actor=boss, month=MONTH, **kwargs)  # type: ignore[arg-type]


async def test_the_command_prints_the_lines_as_json(
    db: Database, shop: Shop, make_staff: MakeStaff, database_url: str
) -> None:
    mei = await make_staff("mei", level="senior")
    run = xiaoer(database_url, "payroll", "--month", MONTH, "--shop", shop.code, "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout.strip().splitlines()[-1])
    assert data["month"] == MONTH and data["locked"] is False
    [line] = [row for row in data["lines"] if row["agent_id"] == mei.id]
    # senior base 2200 + team bonus 220 (no score recorded: full) + allowance 200
    assert line["total_fen"] == 220000 + 22000 + 20000
    assert [item["kind"] for item in line["items"]] == [
        "base", "commission", "team_bonus", "full_attendance", "allowance",
    ]  # fmt: skip
    bad = xiaoer(database_url, "payroll", "--month", "10-2026", "--shop", shop.code)
    assert bad.returncode == 1 and "expected YYYY-MM" in bad.stderr


async def test_a_month_of_shifts_kept_earns_the_full_attendance_bonus(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    from xiaoer.performance.attendance import do_set_roster, judge_entry

    zhu = await make_staff("zhu")
    gao = await make_staff("gao")
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        kept = await do_set_roster(session, shop.id, zhu.id, date(2026, 10, 12), "early", boss)
        missed = await do_set_roster(session, shop.id, gao.id, date(2026, 10, 12), "early", boss)
        await do_set_presence(session, agent=zhu, status="online", now=shanghai(12, 7, 55))
        await session.commit()
    async with db.session() as session:
        for entry in (kept, missed):
            await judge_entry(session, await session.merge(entry), now=shanghai(12, 17))
        await session.commit()  # the absence is told on the violation topic at commit
    async with db.session() as session:
        await detect_violations(session, shop.id)
        lines = {line.agent_id: line for line in await compute(session, shop.id, MONTH)}
    full = {i.kind: i for i in lines[zhu.id].items}["full_attendance"]
    assert full.amount_fen == 10000 and full.detail["shifts"] == 1
    gao_items = lines[gao.id].items
    assert {i.kind: i for i in gao_items}["full_attendance"].amount_fen == 0
    [absence] = [i for i in gao_items if i.kind == "fine"]
    assert absence.detail["rule"] == "absent_without_leave"
    assert absence.link == f"/performance/roster?staff={gao.id}&week=2026-10-12&day=2026-10-12"
    assert lines[gao.id].total_fen == 150000 + 15000 + 20000 - 20000
