"""Follow-up campaigns (R4): given customers and agents on 2026-06-15, when a supervisor
starts a campaign, the calls are split as asked; when agents record results, only their
own calls take them, a problem opens one after-sales case, and the analysis and the
workbook say exactly what was recorded."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.aftersales.models import Ticket, TicketLine
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry, Event
from xiaoer.core.texts import message_of
from xiaoer.customers.campaigns import (
    CampaignError,
    analysis,
    best_hours,
    do_close_campaign,
    do_record_result,
    do_start_campaign,
    my_calls,
    split_calls,
)
from xiaoer.customers.models import (
    CampaignCall,
    CustomerGroup,
    CustomerGroupMember,
    OnlineProfile,
)
from xiaoer.orders.models import CreditRole, Order, SalesCredit, TradeStatus
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount

NOW = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
EVERYONE: dict[str, Any] = {"filter": []}


@dataclass
class Floor:
    sup: StaffAccount
    agents: list[StaffAccount]  # an, bo, cai, by number
    customers: list[int]  # c1 … c7, lowest id first
    group: int  # a hand group of c1, c2, c3


async def _floor(db: Database, shop: Shop, make_staff: MakeStaff) -> Floor:
    sup = await make_staff("sup", "supervisor")
    agents = [await make_staff(name) for name in ("an", "bo", "cai")]
    async with db.session() as session:
        people = [
            Customer(shop_id=shop.id, channel="taobao", buyer_id=f"c{n}", nick=f"nick-c{n}",
                     name=f"顾客{n}", phone=f"1380000000{n}")
            for n in range(1, 8)
        ]  # fmt: skip
        session.add_all(people)
        await session.flush()
        group = CustomerGroup(shop_id=shop.id, name="老顾客", kind="hand")
        session.add(group)
        await session.flush()
        session.add_all(
            CustomerGroupMember(group_id=group.id, customer_id=c.id) for c in people[:3]
        )
        await session.commit()
        return Floor(sup, agents, [c.id for c in people], group.id)


async def _start(db: Database, staff: StaffAccount, source: dict[str, Any], split: str,
                 agents: list[StaffAccount], name: str = "六月回访") -> int:  # fmt: skip
    async with db.session() as session:
        campaign = await do_start_campaign(
            session, staff, name, "亲，您好，想了解一下您收到的宝贝用得怎么样？", source, split,
            [a.id for a in agents], now=NOW,
        )  # fmt: skip
        await session.commit()
        return campaign.id


async def _lists(db: Database, campaign: int) -> dict[int, list[int]]:
    async with db.session() as session:
        rows = await session.execute(
            select(CampaignCall.agent_id, CampaignCall.customer_id)
            .where(CampaignCall.campaign_id == campaign)
            .order_by(CampaignCall.customer_id)
        )
        lists: dict[int, list[int]] = {}
        for agent, customer in rows:
            lists.setdefault(agent, []).append(customer)
        return lists


async def _call_of(db: Database, campaign: int, customer: int) -> int:
    async with db.session() as session:
        found = await session.scalar(
            select(CampaignCall.id).where(
                CampaignCall.campaign_id == campaign, CampaignCall.customer_id == customer
            )
        )
        assert found is not None
        return found


@pytest.mark.database_free
def test_a_balanced_split_is_as_even_as_it_can_be_and_always_the_same() -> None:
    assert split_calls([7, 1, 2, 3, 4, 5, 6], [10, 20, 30]) == {
        1: 10, 2: 20, 3: 30, 4: 10, 5: 20, 6: 30, 7: 10,
    }  # fmt: skip
    # Two of three sold by agent 10: the rest fill the others first.
    assert split_calls([1, 2, 3, 4], [10, 20], {1: 10, 2: 10, 3: 99}) == {
        1: 10, 2: 10, 3: 20, 4: 20,
    }  # fmt: skip


@pytest.mark.database_free
def test_best_hours_are_the_hours_of_the_day_most_often_online() -> None:
    week = [0.0] * 168
    for day in range(7):
        week[day * 24 + 20] = 3.0
        week[day * 24 + 21] = 2.0
        week[day * 24 + 12] = 1.0
    assert best_hours(week) == "12:00–13:00、20:00–22:00"
    assert best_hours([]) == ""


async def test_seven_customers_over_three_agents_are_lists_of_three_two_and_two(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given seven customers and three agents
    floor = await _floor(db, shop, make_staff)
    # when the supervisor starts a campaign of everyone, split evenly
    campaign = await _start(db, floor.sup, EVERYONE, "balanced", floor.agents)
    # then the lists are 3, 2 and 2, in the order of the agents and the customers
    an, bo, cai = (a.id for a in floor.agents)
    c = floor.customers
    assert await _lists(db, campaign) == {an: [c[0], c[3], c[6]], bo: [c[1], c[4]],
                                          cai: [c[2], c[5]]}  # fmt: skip
    async with db.session() as session:
        told = list(await session.scalars(select(Event).where(Event.kind == "campaign.assigned")))
        audit = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "campaign")
        )
    assert sorted((e.payload["agent_id"], e.payload["calls"]) for e in told) == [
        (an, 3), (bo, 2), (cai, 2),
    ]  # fmt: skip
    assert audit == 1
    # and a hand group picks its own members only
    group = await _start(db, floor.sup, {"group_id": floor.group}, "balanced", floor.agents[:2],
                         name="老顾客回访")  # fmt: skip
    assert await _lists(db, group) == {an: [c[0], c[2]], bo: [c[1]]}


async def test_the_seller_split_gives_each_customer_to_who_sold_last(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given c1 bought from an and then from bo (the ledger credits bo), c2 bought from
    # an, c3 from cai (not chosen), the others never bought
    floor = await _floor(db, shop, make_staff)
    an, bo, cai = floor.agents
    c = floor.customers
    async with db.session() as session:
        for number, (customer, owner, days_ago) in enumerate(
            ((c[0], an, 90), (c[0], an, 10), (c[1], an, 30), (c[2], cai, 5)), start=1
        ):
            paid = NOW - timedelta(days=days_ago)
            order = Order(shop_id=shop.id, platform_order_id=f"S{number}", customer_id=customer,
                          status=TradeStatus.TRADE_FINISHED.value, total_fen=10000,
                          paid_fen=10000, goods_fen=10000, created_at=paid, paid_at=paid,
                          owner_id=owner.id)  # fmt: skip
            session.add(order)
            await session.flush()
            if number == 2:  # the order's owner was an, but bo is credited with the sale
                session.add(SalesCredit(shop_id=shop.id, order_id=order.id, agent_id=bo.id,
                                        role=CreditRole.owner.value, reason="chase",
                                        amount_fen=10000, paid_at=paid))  # fmt: skip
        await session.commit()
    # when the campaign is split by seller among an and bo
    campaign = await _start(db, floor.sup, EVERYONE, "seller", [an, bo])
    # then c1 is bo's, c2 an's, and the five others are balanced over both
    lists = await _lists(db, campaign)
    assert lists == {an.id: [c[1], c[2], c[4], c[6]], bo.id: [c[0], c[3], c[5]]}


async def test_a_campaign_without_customers_or_with_wrong_agents_is_refused(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    floor = await _floor(db, shop, make_staff)
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店", default_courier="圆通")
        await session.commit()
    gone = await make_staff("gone")
    async with db.session() as session:
        account = await session.get(StaffAccount, gone.id)
        assert account is not None
        account.active = False
        far_group = CustomerGroup(shop_id=far.id, name="远方", kind="hand")
        session.add(far_group)
        await session.commit()
    nobody = {"filter": [{"field": "orders", "op": ">=", "value": 1}]}
    cases: list[tuple[dict[str, Any], list[StaffAccount], str, str]] = [
        (nobody, floor.agents, "balanced", "the pick holds no customer"),
        (EVERYONE, [], "balanced", "choose at least one agent"),
        (EVERYONE, [gone], "balanced", "Gone is disabled"),
        (EVERYONE, [floor.sup], "balanced", "Sup is not an agent"),
        (EVERYONE, floor.agents, "round", "split the calls evenly or by who sold"),
        ({"filter": [{"field": "age"}]}, floor.agents, "balanced", "condition 1: no field 'age'"),
    ]
    for source, agents, split, message in cases:
        with pytest.raises(ValueError) as refused:
            await _start(db, floor.sup, source, split, agents)
        assert message_of(refused.value) == message
    with pytest.raises(NotFound):
        await _start(db, floor.sup, {"group_id": far_group.id}, "balanced", floor.agents)
    with pytest.raises(NotPermitted):
        await _start(db, floor.agents[0], EVERYONE, "balanced", floor.agents)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CampaignCall)) == 0


async def test_an_agent_records_only_her_own_calls_and_satisfaction_only_when_reached(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    floor = await _floor(db, shop, make_staff)
    an, bo, _ = floor.agents
    campaign = await _start(db, floor.sup, EVERYONE, "balanced", floor.agents)
    bos_call = await _call_of(db, campaign, floor.customers[1])
    ans_call = await _call_of(db, campaign, floor.customers[0])
    # when an records on bo's call, then she is refused and nothing changes
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await do_record_result(session, an, bos_call, True, 5, now=NOW)
    # when she gives a satisfaction for a customer not reached, it is refused
    async with db.session() as session:
        with pytest.raises(CampaignError) as refused:
            await do_record_result(session, an, ans_call, False, 4, now=NOW)
        assert message_of(refused.value) == "satisfaction is asked only of a customer reached"
    async with db.session() as session:
        call = await session.get(CampaignCall, bos_call)
        assert call is not None and call.done_at is None and call.reached is None
        # an agent reads her own list only; a campaign she has no call in is unknown
        _, mine = await my_calls(session, an, campaign)
        assert [v.call.customer_id for v in mine] == [floor.customers[0], floor.customers[3],
                                                       floor.customers[6]]  # fmt: skip
        assert mine[0].phone == "13800000001"  # in full: she calls the number
    other = await _start(db, floor.sup, {"group_id": floor.group}, "balanced", [bo], name="只给博")
    async with db.session() as session:
        with pytest.raises(NotFound):
            await my_calls(session, an, other)


async def test_a_problem_raised_opens_one_after_sales_case_however_often_it_is_recorded(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    floor = await _floor(db, shop, make_staff)
    an = floor.agents[0]
    campaign = await _start(db, floor.sup, EVERYONE, "balanced", floor.agents)
    call_id = await _call_of(db, campaign, floor.customers[0])
    for problem in ("窗帘褪色了", "窗帘洗后褪色"):
        async with db.session() as session:
            await do_record_result(
                session, an, call_id, True, 2, feedback="颜色不如图片", problem_kind="quality",
                problem=problem, next_step="售后联系换货", now=NOW,
            )  # fmt: skip
            await session.commit()
    async with db.session() as session:
        tickets = list(await session.scalars(select(Ticket)))
        call = await session.get(CampaignCall, call_id)
        lines = await session.scalar(
            select(func.count()).select_from(TicketLine).where(TicketLine.action == "note")
        )
    assert len(tickets) == 1
    ticket = tickets[0]
    assert call is not None and call.ticket_id == ticket.id and call.problem == "窗帘洗后褪色"
    assert (ticket.kind, ticket.source, ticket.customer_id) == ("complaint", "phone",
                                                                floor.customers[0])  # fmt: skip
    assert ticket.subject == "回访「六月回访」：质量问题"
    assert lines == 2  # raised, then corrected
    async with db.session() as session:
        with pytest.raises(CampaignError) as refused:
            await do_record_result(session, an, call_id, True, problem_kind="quality", now=NOW)
        assert message_of(refused.value) == "say what the problem is"


async def test_the_analysis_counts_reach_satisfaction_and_problems_exactly(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given seven customers on an's list, five of them called: four reached, scoring
    # 5, 4, 4 and 2, two raising a problem
    floor = await _floor(db, shop, make_staff)
    an = floor.agents[0]
    campaign = await _start(db, floor.sup, EVERYONE, "balanced", [an])
    results = [(True, 5, ""), (True, 4, "delivery"), (True, 4, ""), (True, 2, "quality"),
               (False, None, "")]  # fmt: skip
    calls = [await _call_of(db, campaign, c) for c in floor.customers]
    async with db.session() as session:
        for call, (reached, score, kind) in zip(calls, results, strict=False):
            await do_record_result(session, an, call, reached, score, problem_kind=kind,
                                   problem="不满意" if kind else "", now=NOW)  # fmt: skip
        await session.commit()
    # when the supervisor reads the analysis
    async with db.session() as session:
        figures = await analysis(session, floor.sup, campaign)
        with pytest.raises(NotPermitted):
            await analysis(session, an, campaign)
    # then 4 of the 5 called were reached: 80 %, and they scored 3.75 on average
    assert (figures.calls, figures.done, figures.reached, figures.tickets) == (7, 5, 4, 2)
    assert figures.reach_rate == 0.8
    assert figures.satisfaction == 3.75
    assert figures.distribution == {1: 0, 2: 1, 3: 0, 4: 2, 5: 1}
    assert figures.problems == {"quality": 1, "size": 0, "delivery": 1, "service": 0,
                                "price": 0, "other": 0}  # fmt: skip
    assert [(a.name, a.calls, a.done, a.reached, a.satisfaction) for a in figures.agents] == [
        ("An", 7, 5, 4, 3.75)
    ]
    # closed, the list is read only, and its phones are masked for its agent
    async with db.session() as session:
        await do_close_campaign(session, floor.sup, campaign, now=NOW)
        await session.commit()
    async with db.session() as session:
        with pytest.raises(CampaignError):
            await do_record_result(session, an, calls[6], True, 3, now=NOW)
        _, mine = await my_calls(session, an, campaign)
        _, theirs = await my_calls(session, floor.sup, campaign)
    assert {v.nick: v.phone for v in mine}["nick-c1"] == "138****0001"
    assert {v.nick: v.phone for v in theirs}["nick-c1"] == "13800000001"


async def _post(client: httpx.AsyncClient, path: str, data: dict[str, Any], page: str) -> Any:
    token = csrf_from((await client.get(page)).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def test_a_supervisor_starts_agents_record_and_the_workbook_numbers_every_call(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    floor = await _floor(db, shop, make_staff)
    an, bo, _ = floor.agents
    async with db.session() as session:
        session.add(OnlineProfile(customer_id=floor.customers[0], shop_id=shop.id,
                                  hours=[1.0 if h % 24 == 20 else 0.0 for h in range(168)],
                                  samples=12, confidence=0.8))  # fmt: skip
        await session.commit()
    # the supervisor starts a campaign of five (spent nothing: everyone; a filter)
    await sign_in(client, "sup")
    bad = await _post(client, "/customers/campaigns", {"name": "夏季回访", "source": "filter",
                      "field_1": "spent", "op_1": ">=", "value_1": "lots", "agent": [str(an.id)],
                      "split": "balanced"}, "/customers/campaigns")  # fmt: skip
    assert bad.status_code == 422 and "第 1 个条件：应为整数" in bad.text and "夏季回访" in bad.text
    started = await _post(client, "/customers/campaigns", {
        "name": "夏季回访", "script": "亲，您好", "source": "filter", "field_1": "city",
        "op_1": "in", "value_1": "", "agent": [str(an.id), str(bo.id)], "split": "balanced",
    }, "/customers/campaigns")  # fmt: skip
    assert started.status_code == 422  # an empty city list says so
    started = await _post(client, "/customers/campaigns", {
        "name": "夏季回访", "script": "亲，您好", "source": "group", "group_id": str(floor.group),
        "agent": [str(an.id), str(bo.id)], "split": "balanced",
    }, "/customers/campaigns")  # fmt: skip
    assert started.status_code == 303
    page = started.headers["location"]
    campaign = int(page.rsplit("/", 1)[1])
    # an agent sees her list with the script, the full phone and the likely hours
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, "an")
    mine = await client.get(page)
    assert mine.status_code == 200
    assert "亲，您好" in mine.text and "13800000001" in mine.text and "20:00–21:00" in mine.text
    assert "13800000002" not in mine.text  # bo's customer
    first = await _call_of(db, campaign, floor.customers[0])
    second = await _call_of(db, campaign, floor.customers[2])
    bos = await _call_of(db, campaign, floor.customers[1])
    assert (await _post(client, f"/customers/campaigns/calls/{bos}", {"reached": "yes"},
                        page)).status_code == 403  # fmt: skip
    refused = await _post(
        client,
        f"/customers/campaigns/calls/{first}",
        {"reached": "no", "satisfaction": "5", "feedback": "没接"},
        page,
    )
    assert refused.status_code == 422 and "只有联系上的顾客才能记录满意度" in refused.text
    assert "没接" in refused.text  # what was typed is shown again
    for call, data in ((first, {"reached": "yes", "satisfaction": "4", "feedback": "很好"}),
                       (second, {"reached": "no", "next_step": "明天再打"})):  # fmt: skip
        done = await _post(client, f"/customers/campaigns/calls/{call}", data, page)
        assert done.status_code == 303
    assert (await client.get(f"{page}/results.xlsx")).status_code == 403
    # the supervisor reads the analysis and the workbook
    await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, "sup")
    analysis_page = await client.get(page)
    assert analysis_page.status_code == 200
    assert '<b id="figure-reach-rate">50.0%</b>' in analysis_page.text
    assert '<b id="figure-satisfaction">4.00</b>' in analysis_page.text
    assert "<svg" in analysis_page.text
    beyond = await client.get(f"{page}?page=2")  # a page past the list: none of it, a way back
    assert beyond.status_code == 200 and 'rel="prev"' in beyond.text
    assert "nick-c1" not in beyond.text
    book = await client.get(f"{page}/results.xlsx")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:4] == ["序号", "顾客昵称", "姓名", "电话"]
    assert [r[0] for r in rows[1:]] == [1, 2, 3]
    by_nick = {r[1]: r for r in rows[1:]}
    assert by_nick["nick-c1"][3:8] == ["13800000001", "An", "是", 4, "很好"]
    assert by_nick["nick-c3"][5] == "否" and by_nick["nick-c3"][10] == "明天再打"
    assert by_nick["nick-c2"][5] is None  # bo has not called yet
    closed = await _post(client, f"{page}/close", {}, page)
    assert closed.status_code == 303
    again = await _post(client, f"{page}/close", {}, page)
    assert again.status_code == 422 and "回访活动已结束" in again.text
