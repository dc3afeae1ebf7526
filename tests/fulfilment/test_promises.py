"""Delivery promises (F6): the cut-off and courier quoted, a courier at the difference,
the dates an order is due out and due at the buyer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.assistant.knowledge import suggest
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound
from xiaoer.core.models import AuditEntry
from xiaoer.core.policy import Policy, default_policy, parse_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.fulfilment.promises import (
    CourierError,
    courier_quote,
    do_change_courier,
    find_carrier,
    order_promised_dates,
    promised_dates,
    quote_courier_change,
)
from xiaoer.orders.access import OrderForbidden
from xiaoer.orders.changes import do_decide_change
from xiaoer.orders.marks import do_flag
from xiaoer.orders.models import ChangeStatus, Order, OrderChange, TradeStatus
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.reception.service import do_receive_buyer_message, do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount

SHANGHAI = ZoneInfo("Asia/Shanghai")
REASON = "买家要求改发顺丰，补差价"


def _shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


# --- the quote ---------------------------------------------------------------------


async def test_a_dearer_courier_costs_the_difference_and_a_cheaper_one_nothing(
    db: Database, shop: Shop
) -> None:
    policy = default_policy()  # SF 22.00, ZTO 8.00, JTSD 7.00
    assert shop.default_courier == "顺丰"
    assert quote_courier_change(policy, shop, "ZTO", "SF") == 1400
    assert quote_courier_change(policy, shop, None, "ZTO") == 0  # from SF: nothing refunded
    assert quote_courier_change(policy, shop, "ZTO", "JTSD") == 0
    assert quote_courier_change(policy, shop, "ZTO", "EMS") == 700
    with pytest.raises(CourierError, match="not one we know"):
        quote_courier_change(policy, shop, "ZTO", "FEDEX")
    closed = parse_policy("[fulfilment]\ncourier_change_allowed = false\n")
    with pytest.raises(CourierError, match="does not change couriers"):
        quote_courier_change(closed, shop, "ZTO", "SF")


def test_carriers_are_found_by_code_and_by_the_names_sellers_write() -> None:
    assert [find_carrier(t) for t in ("sf", "顺丰", "顺丰速运", " 中通 ", "极兔快递", "邮政")] == [
        "SF", "SF", "SF", "ZTO", "JTSD", "POSTB",
    ]  # fmt: skip
    assert find_carrier("火箭快递") is None and find_carrier("") is None


# --- the promised dates ------------------------------------------------------------


@pytest.mark.database_free
@pytest.mark.parametrize(
    ("paid", "ships"),
    [
        (_shanghai(7, 15, 59), _shanghai(7, 23, 59)),  # a minute before the cut-off
        (_shanghai(7, 16, 0), _shanghai(8, 23, 59)),  # at the cut-off: the next day
        (_shanghai(7, 23, 50), _shanghai(8, 23, 59)),  # late evening
        (_shanghai(8, 0, 10), _shanghai(8, 23, 59)),  # after midnight: that new day
    ],
)
def test_paid_before_the_cut_off_ships_the_same_day_else_the_next(
    paid: datetime, ships: datetime
) -> None:
    policy = default_policy()  # cut-off 16:00, delivered within 5 days
    ship_by, deliver_by = promised_dates(policy, SHANGHAI, paid.astimezone(UTC))
    assert ship_by == ships and ship_by.tzinfo is not None
    assert ship_by.utcoffset() == timedelta(0)  # stored in UTC
    assert deliver_by == ships + timedelta(days=5)


@pytest.mark.database_free
def test_the_cut_off_is_read_on_the_shop_s_clock() -> None:
    policy = parse_policy(
        '[fulfilment]\ncutoff_time = "12:00"\n[orders]\ndeliver_within_days = 3\n'
    )
    paid = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)  # 02:30 on the 8th in Shanghai
    ship_by, deliver_by = promised_dates(policy, SHANGHAI, paid)
    assert ship_by == _shanghai(8, 23, 59)
    new_york = ZoneInfo("America/New_York")  # 13:30 on the 7th: after its noon cut-off
    ship_by, deliver_by = promised_dates(policy, new_york, paid)
    assert ship_by == datetime(2026, 12, 8, 23, 59, tzinfo=new_york)
    assert deliver_by == datetime(2026, 12, 11, 23, 59, tzinfo=new_york)


async def test_a_paid_order_s_dates_follow_its_shop_and_the_policy_of_its_day(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        new = NewOrder(number="D-1", buyer_id="b", items=(NewItem("棉麻窗帘", 9900),))
        order = await do_create_order(session, shop_id=shop.id, new=new)
        assert await order_promised_dates(session, order) is None
        paid = _shanghai(7, 16, 30).astimezone(UTC)
        await do_pay_order(session, order=order, now=paid)
        policy = parse_policy('[fulfilment]\ncutoff_time = "17:00"\n')
        await do_apply_policy(session, shop_id=shop.id, policy=policy, source="",
                              effective_from=date(2020, 1, 1), actor="test")  # fmt: skip
        await session.commit()
        dates = await order_promised_dates(session, order)
    assert dates == (_shanghai(7, 23, 59), _shanghai(12, 23, 59))  # before 17:00: that day


# --- the courier change -------------------------------------------------------------


async def _order(
    db: Database, shop: Shop, owner: StaffAccount | None, number: str, courier: str = "中通快递"
) -> int:
    """A paid order going by ZTO (8.00), its postage 10.00."""
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id=f"b-{number}", items=(NewItem("棉麻窗帘", 9900),),
                       postage_fen=1000, receiver_address="上海市黄浦区1号")  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        if owner is not None:
            await do_flag(session, order=order, agent=owner, flag=1)
        await do_pay_order(session, order=order)
        order.courier = courier
        await session.commit()
        return order.id


async def _change(db: Database, agent: StaffAccount, order_id: int, carrier: str) -> OrderChange:
    async with db.session() as session:
        change = await do_change_courier(session, agent, order_id, carrier, reason=REASON)
        await session.commit()
        return change


async def _load(db: Database, order_id: int) -> Order:
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order


async def test_a_courier_change_within_authority_is_made_with_its_fee(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("lina", level="senior")  # may change the fee by 15.00
    order_id = await _order(db, shop, agent, "P-1")
    change = await _change(db, agent, order_id, "顺丰")
    assert change.status == ChangeStatus.applied.value
    assert change.before == {"postage_fen": 1000, "courier": "中通快递"}
    assert change.after == {"postage_fen": 2400, "courier": "顺丰速运"}
    order = await _load(db, order_id)
    assert (order.courier, order.postage_fen, order.total_fen) == ("顺丰速运", 2400, 9900 + 2400)
    async with db.session() as session:
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "changed"))
    assert audit is not None and audit.after == {"postage_fen": 2400, "courier": "顺丰速运"}


async def test_a_cheaper_courier_changes_the_courier_and_not_the_fee(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("lina")  # a junior may change no fee at all
    order_id = await _order(db, shop, agent, "P-2")
    change = await _change(db, agent, order_id, "JTSD")
    assert change.status == ChangeStatus.applied.value and change.after == {"courier": "极兔速递"}
    order = await _load(db, order_id)
    assert (order.courier, order.postage_fen) == ("极兔速递", 1000)


async def test_a_courier_change_beyond_authority_waits_for_the_supervisor(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("lina")  # junior: no fee change of her own
    boss = await make_staff("boss", "supervisor")
    order_id = await _order(db, shop, agent, "P-3")
    change = await _change(db, agent, order_id, "SF")
    assert change.status == ChangeStatus.pending.value and change.beyond
    order = await _load(db, order_id)
    assert (order.courier, order.postage_fen) == ("中通快递", 1000)  # nothing yet
    async with db.session() as session:
        pending = await session.get(OrderChange, change.id)
        assert pending is not None
        await do_decide_change(session, change=pending, supervisor=boss, approve=True)
        await session.commit()
    order = await _load(db, order_id)
    assert (order.courier, order.postage_fen, order.total_fen) == ("顺丰速运", 2400, 12300)


async def test_no_courier_change_after_shipping_or_when_the_policy_forbids(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("lina", level="senior")
    shipped = await _order(db, shop, agent, "P-4")
    async with db.session() as session:
        order = await session.get(Order, shipped)
        assert order is not None
        order.status = TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value
        order.shipped_at = datetime.now(UTC)
        await session.commit()
    with pytest.raises(CourierError, match="before the order ships"):
        await _change(db, agent, shipped, "SF")
    other = await _order(db, shop, agent, "P-5")
    with pytest.raises(CourierError, match="not one we know"):
        await _change(db, agent, other, "火箭快递")
    with pytest.raises(CourierError, match="already"):
        await _change(db, agent, other, "中通")
    async with db.session() as session:
        policy = parse_policy("[fulfilment]\ncourier_change_allowed = false\n")
        await do_apply_policy(session, shop_id=shop.id, policy=policy, source="",
                              effective_from=date(2020, 1, 1), actor="test")  # fmt: skip
        await session.commit()
    with pytest.raises(CourierError, match="does not change couriers"):
        await _change(db, agent, other, "SF")
    order = await _load(db, other)
    assert (order.courier, order.postage_fen) == ("中通快递", 1000)
    async with db.session() as session:
        assert await session.scalar(select(OrderChange.id)) is None


async def test_only_the_owner_and_leaders_change_a_courier_of_their_shop(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    owner = await make_staff("lina", level="senior")
    colleague = await make_staff("bo", level="senior")
    warehouse = await make_staff("wu", "warehouse")
    manager = await make_staff("man", "manager")
    order_id = await _order(db, shop, owner, "P-6")
    for who in (colleague, warehouse):
        with pytest.raises(OrderForbidden):
            await _change(db, who, order_id, "SF")
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店", default_courier="圆通")
        await session.commit()
    far_order = await _order(db, far, None, "F-1")
    with pytest.raises(NotFound):
        await _change(db, manager, far_order, "SF")
    async with db.session() as session:
        with pytest.raises(NotFound):
            await courier_quote(session, manager, far_order)
    assert (await _change(db, manager, order_id, "SF")).status == ChangeStatus.applied.value


async def test_the_courier_page_quotes_and_changes(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    agent = await make_staff("lina")
    order_id = await _order(db, shop, agent, "P-7")
    await sign_in(client, "lina")
    page = await client.get(f"/fulfilment/orders/{order_id}/courier")
    assert page.status_code == 200
    assert "中通快递" in page.text and "顺丰速运" in page.text and "14.00" in page.text
    detail = await client.get(f"/orders/{order_id}")
    assert f"/fulfilment/orders/{order_id}/courier" in detail.text
    form = {"csrf_token": csrf_from(page.text), "carrier": "NOPE", "reason": REASON}
    refused = await client.post(f"/fulfilment/orders/{order_id}/courier", data=form)
    assert refused.status_code == 422 and "不认识的快递公司" in refused.text
    form["carrier"] = "SF"
    done = await client.post(f"/fulfilment/orders/{order_id}/courier", data=form)
    assert done.status_code == 303 and done.headers["location"].endswith("done=pending")
    async with db.session() as session:
        change = await session.scalar(select(OrderChange))
    assert change is not None and change.status == ChangeStatus.pending.value


async def test_the_courier_page_is_for_the_order_s_owner_and_leaders(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    owner = await make_staff("lina")
    await make_staff("bo")
    await make_staff("wu", "warehouse")
    order_id = await _order(db, shop, owner, "P-8")
    for who, status in (("bo", 403), ("wu", 403)):
        await sign_in(client, who)
        assert (await client.get(f"/fulfilment/orders/{order_id}/courier")).status_code == status
        await client.post("/logout", data={"csrf_token": csrf_from((await client.get("/")).text)})
    await sign_in(client, "lina")
    assert (await client.get(f"/fulfilment/orders/{order_id + 1000}/courier")).status_code == 404


# --- the words: the welcome and the assistant ---------------------------------------


async def test_the_welcome_quotes_the_cut_off_and_the_default_courier(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    agent = await make_staff("lina", name="李娜")
    at = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    async with db.session() as session:
        policy = parse_policy('[fulfilment]\ncutoff_time = "17:30"\n')
        await do_apply_policy(session, shop_id=shop.id, policy=policy, source="",
                              effective_from=date(2020, 1, 1), actor="test")  # fmt: skip
        staff = await session.get(StaffAccount, agent.id)
        assert staff is not None
        await do_set_presence(session, agent=staff, status="online", now=at)
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="b1", nick="小鱼"
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="在吗", now=at
        )
        await session.commit()
    welcome = posted.replies[0].text
    assert "顺丰" in welcome and "17:30前付款当天发出" in welcome


def _policy(cutoff: str = "16:00", allowed: bool = True) -> Policy:
    flag = "true" if allowed else "false"
    return parse_policy(
        f'[fulfilment]\ncutoff_time = "{cutoff}"\ncourier_change_allowed = {flag}\n'
    )


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (_shanghai(7, 15, 59), "今天"),
        (_shanghai(7, 16, 0), "明天"),
        (_shanghai(7, 23, 30), "明天"),
        (_shanghai(8, 0, 30), "今天"),
    ],
)
async def test_the_assistant_says_today_or_tomorrow_on_the_shop_s_clock(
    db: Database, shop: Shop, moment: datetime, day: str
) -> None:
    async with db.session() as session:
        found = await suggest(
            session, shop=shop, policy=_policy(), text="什么时候发货", now=moment.astimezone(UTC)
        )
    assert found.classification.intent == "ship_time"
    text = found.suggestions[0].text
    assert "16:00前付款" in text and f"{day}就为您发出" in text


async def test_the_assistant_names_the_courier_and_whether_another_may_be_had(
    db: Database, shop: Shop
) -> None:
    now = _shanghai(7, 10, 0).astimezone(UTC)
    async with db.session() as session:
        found = await suggest(session, shop=shop, policy=_policy(), text="发什么快递", now=now)
        closed = await suggest(
            session, shop=shop, policy=_policy(allowed=False), text="发什么快递", now=now
        )
    assert found.classification.intent == "courier"
    text = found.suggestions[0].text
    assert "顺丰" in text and "16:00前付款当天发出" in text and "补上运费差价" in text
    assert "不能指定其他快递" in closed.suggestions[0].text
