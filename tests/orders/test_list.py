"""The orders list (/orders): filters, search, keyset pages, count and total, the
workbook, on the real app and database."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import unescape

import httpx
import pytest
from openpyxl import load_workbook

from tests.conftest import MakeStaff, sign_in
from xiaoer.aftersales.models import Refund
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.orders import listing
from xiaoer.orders.models import (
    CreditRole,
    Order,
    OrderTask,
    SalesCredit,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount

# 2026-11-23 10:00 in Shanghai.
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@dataclass
class Shape:
    """One order of the test shop, as far as the list cares."""

    number: str
    hours: float  # after T0
    status: TradeStatus = TradeStatus.WAIT_SELLER_SEND_GOODS
    fen: int = 10000
    owner: str = ""
    flag: int = 0
    channel: str = "taobao"
    nick: str = ""
    receiver: str = "刘贺"
    phone: str = "13800001234"
    waybill: str = ""


SHAPES = [
    Shape("T-1", 0, TradeStatus.WAIT_BUYER_PAY, 5000, nick="小鹿"),
    Shape("T-2", 1, fen=12900, owner="mei", flag=1, nick="大熊", phone="13900005678"),
    Shape("T-3", 2, TradeStatus.WAIT_BUYER_CONFIRM_GOODS, 8800, owner="lan", flag=3,
          channel="jd", nick="小猫", receiver="王芳", waybill="SF1234567890123"),
    Shape("T-4", 26, TradeStatus.TRADE_FINISHED, 20000, owner="mei", flag=1,
          channel="own_site", nick="小鹿", receiver="李雷", phone="13700002468",
          waybill="YT9876543210987"),
    Shape("T-5", 50, TradeStatus.TRADE_CLOSED, 3000, nick="路人"),
]  # fmt: skip


async def _build(db: Database, shop: Shop, staff: dict[str, StaffAccount]) -> dict[str, int]:
    """The shapes as orders, with a note on T-2, a late-note task on T-3, a reminder that
    recovered T-1's sibling T-4, an open reminder on T-1 and refunds on T-3 and T-4."""
    ids: dict[str, int] = {}
    async with db.session() as session:
        for shape in SHAPES:
            buyer = Customer(
                shop_id=shop.id, channel=shape.channel, buyer_id=f"b-{shape.number}",
                nick=shape.nick,
            )  # fmt: skip
            session.add(buyer)
            await session.flush()
            created = T0 + timedelta(hours=shape.hours)
            paid = shape.status != TradeStatus.WAIT_BUYER_PAY
            order = Order(
                shop_id=shop.id, platform_order_id=shape.number, customer_id=buyer.id,
                buyer_nick=shape.nick, status=shape.status.value, total_fen=shape.fen,
                goods_fen=shape.fen, paid_fen=shape.fen if paid else 0,
                receiver_name=shape.receiver, receiver_phone=shape.phone,
                receiver_address="上海市徐汇区漕溪北路1号", tracking_number=shape.waybill,
                courier="顺丰速运" if shape.waybill else "", created_at=created,
                paid_at=created + timedelta(minutes=1) if paid else None,
                owner_id=staff[shape.owner].id if shape.owner else None, flag=shape.flag,
            )  # fmt: skip
            session.add(order)
            await session.flush()
            ids[shape.number] = order.id
        session.add(SellerNote(shop_id=shop.id, order_id=ids["T-2"], version=1, text="刘贺"))
        session.add(SellerNote(shop_id=shop.id, order_id=ids["T-4"], version=1, text="李雷"))
        session.add(SellerNote(shop_id=shop.id, order_id=ids["T-5"], version=1, text="路人"))
        session.add(OrderTask(shop_id=shop.id, order_id=ids["T-3"], kind=TaskKind.late_note))
        session.add(OrderTask(shop_id=shop.id, order_id=ids["T-1"], kind=TaskKind.remind))
        session.add(
            OrderTask(shop_id=shop.id, order_id=ids["T-4"], kind=TaskKind.remind,
                      status=TaskStatus.done.value, outcome="phoned")
        )  # fmt: skip
        session.add(
            SalesCredit(shop_id=shop.id, order_id=ids["T-4"], agent_id=staff["lan"].id,
                        role=CreditRole.assist.value, reason="reminder", amount_fen=20000,
                        paid_at=T0 + timedelta(hours=27))
        )  # fmt: skip
        session.add(
            Refund(shop_id=shop.id, order_id=ids["T-3"], kind="refund_only", amount_fen=800)
        )
        session.add(
            Refund(shop_id=shop.id, order_id=ids["T-4"], kind="refund_only", amount_fen=2000,
                   status="SUCCESS")
        )  # fmt: skip
        await session.commit()
    return ids


@pytest.fixture
async def team(make_staff: MakeStaff) -> dict[str, StaffAccount]:
    return {
        "mei": await make_staff("mei", name="美美"),
        "lan": await make_staff("lan", name="兰兰"),
        "boss": await make_staff("boss", "supervisor", name="主管"),
    }


def _numbers(html: str) -> list[str]:
    """The order numbers the list shows, in its order."""
    start = html.index('id="orders"')
    return re.findall(r'<a href="/orders/\d+">(T-\d+|N-\d+)</a>', html[start:])


async def _sum(client: httpx.AsyncClient, html: str) -> str:
    """The count and total the page asks for once shown, as it shows them."""
    found = re.search(r'id="order-sum" data-src="([^"]+)"', html)
    assert found is not None
    answer = await client.get(unescape(found[1]))
    assert answer.status_code == 200
    return str(answer.json()["text"])


async def test_the_list_shows_every_order_newest_first_with_count_and_total(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    # given five orders, two of them mei's
    await _build(db, shop, team)
    await sign_in(client, "mei")
    # when mei opens the list
    page = await client.get("/orders")
    # then she sees every order of the shop, newest first, and what they add up to
    assert page.status_code == 200
    assert _numbers(page.text) == ["T-5", "T-4", "T-3", "T-2", "T-1"]
    assert await _sum(client, page.text) == "共 5 笔订单，金额合计 ¥497.00"
    # her own orders' phones in full, the others' masked; times in shop time
    assert "13900005678" in page.text and "13700002468" in page.text
    assert "13800001234" not in page.text and "138****1234" in page.text
    assert "2026-11-23 10:00" in page.text
    # the menu leads to her to-dos, and not to the import she may not do
    assert 'href="/orders/tasks"' in page.text and 'href="/orders/import"' not in page.text


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({"status": "WAIT_SELLER_SEND_GOODS"}, ["T-2"]),
        ({"start": "2026-11-24"}, ["T-5", "T-4"]),
        ({"end": "2026-11-23"}, ["T-3", "T-2", "T-1"]),
        ({"start": "2026-11-24", "end": "2026-11-24"}, ["T-4"]),
        ({"agent": "mei"}, ["T-4", "T-2"]),
        ({"agent": "none"}, ["T-5", "T-1"]),
        ({"flag": "3"}, ["T-3"]),
        ({"flag": "0"}, ["T-5", "T-1"]),
        ({"agent": "none", "flag": "0", "reminder": "none"}, ["T-5"]),
        ({"agent": "none", "refund": "none"}, ["T-5", "T-1"]),
        ({"channel": "jd"}, ["T-3"]),
        ({"channel": "own_site"}, ["T-4"]),
        ({"note": "missing"}, ["T-3"]),
        ({"note": "late"}, ["T-3"]),
        ({"reminder": "open"}, ["T-1"]),
        ({"reminder": "done"}, ["T-4"]),
        ({"reminder": "recovered"}, ["T-4"]),
        ({"reminder": "none"}, ["T-5", "T-3", "T-2"]),
        ({"refund": "any"}, ["T-4", "T-3"]),
        ({"refund": "open"}, ["T-3"]),
        ({"refund": "SUCCESS"}, ["T-4"]),
        ({"refund": "none"}, ["T-5", "T-2", "T-1"]),
        ({"flag": "1", "agent": "mei", "status": "TRADE_FINISHED"}, ["T-4"]),
        ({"channel": "taobao", "reminder": "none"}, ["T-5", "T-2"]),
    ],
)
async def test_each_filter_narrows_the_list_and_its_sum(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    team: dict[str, StaffAccount],
    query: dict[str, str],
    shown: list[str],
) -> None:
    await _build(db, shop, team)
    await sign_in(client, "boss")
    if "agent" in query and query["agent"] != "none":
        query = {**query, "agent": str(team[query["agent"]].id)}
    page = await client.get("/orders", params=query)
    assert page.status_code == 200, page.text
    assert _numbers(page.text) == shown
    fen = sum(s.fen for s in SHAPES if s.number in shown)
    assert await _sum(client, page.text) == f"共 {len(shown)} 笔订单，金额合计 ¥{fen / 100:.2f}"
    # the filter is kept in the form, so the list is a link and a starting point
    for name, value in query.items():
        if name in ("start", "end"):
            assert f'name="{name}" value="{value}"' in page.text
        else:
            assert f'<option value="{value}" selected>' in page.text


@pytest.mark.parametrize(
    ("words", "shown"),
    [
        ("T-3", ["T-3"]),  # the order number
        ("T-", ["T-5", "T-4", "T-3", "T-2", "T-1"]),  # its start
        ("小鹿", ["T-4", "T-1"]),  # the buyer's nick
        ("小", ["T-4", "T-3", "T-1"]),  # its start
        ("5678", ["T-2"]),  # the phone's last four digits
        ("王芳", ["T-3"]),  # the receiver
        ("sf12345", ["T-3"]),  # the waybill's start, in any case
        ("YT9876543210987", ["T-4"]),
        ("nobody%", []),  # a wildcard is only a character
    ],
)
async def test_the_search_box_finds_by_number_nick_phone_tail_receiver_and_waybill(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    team: dict[str, StaffAccount],
    words: str,
    shown: list[str],
) -> None:
    await _build(db, shop, team)
    await sign_in(client, "mei")
    page = await client.get("/orders", params={"q": words})
    assert page.status_code == 200
    assert _numbers(page.text) == shown
    assert f'value="{words}"' in unescape(page.text)


async def test_another_shops_orders_never_show(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    await _build(db, shop, team)
    async with db.session() as session:
        other = await do_create_shop(session, code="silk", name="丝绸坊")
        session.add(Order(shop_id=other.id, platform_order_id="T-9", total_fen=99900,
                          created_at=T0 + timedelta(days=9)))  # fmt: skip
        await session.commit()
    await sign_in(client, "boss")
    page = await client.get("/orders", params={"q": "T-"})
    assert "T-9" not in page.text
    assert await _sum(client, page.text) == "共 5 笔订单，金额合计 ¥497.00"


async def test_pages_follow_by_keyset_newest_first_even_when_times_tie(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    # given 120 orders, in threes placed at the same second
    async with db.session() as session:
        for n in range(120):
            at = T0 + timedelta(minutes=n // 3)
            session.add(Order(shop_id=shop.id, platform_order_id=f"N-{n:03d}", total_fen=100,
                              created_at=at))  # fmt: skip
        await session.commit()
    await sign_in(client, "mei")
    seen: list[str] = []
    path = "/orders?q=N-"
    pages = 0
    while path:
        page = await client.get(path)
        assert page.status_code == 200
        # every page asks for the whole set's count and total
        assert 'data-src="/orders/sum?q=N-"' in page.text
        assert await _sum(client, page.text) == "共 120 笔订单，金额合计 ¥120.00"
        seen += _numbers(page.text)
        pages += 1
        found = re.search(r'id="next-page" href="([^"]+)"', page.text)
        path = unescape(found[1]) if found else ""
        if found:
            assert "q=N-" in path and "after=" in path  # the filter travels with the page
    # then three pages of at most 50, every order once, newest first (ties by id)
    assert pages == 3
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 120
    # an order placed meanwhile does not shift the next page
    second = await client.get("/orders?q=N-")
    found = re.search(r'id="next-page" href="([^"]+)"', second.text)
    assert found is not None
    async with db.session() as session:
        later = T0 + timedelta(days=1)
        session.add(Order(shop_id=shop.id, platform_order_id="N-999", created_at=later))
        await session.commit()
    assert _numbers((await client.get(unescape(found[1]))).text) == seen[50:100]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"status": "SHIPPED"}, "status", "没有“SHIPPED”这个订单状态"),
        ({"start": "2026-13-01"}, "start", "“2026-13-01”不是日期"),
        ({"start": "2026-11-25", "end": "2026-11-24"}, "end", "结束日期早于开始日期"),
        ({"agent": "99999999999999999999"}, "agent", "本店没有编号为 99999999999999999999 的客服"),
        ({"agent": "mei"}, "agent", "本店没有编号为 mei 的客服"),
        ({"flag": "9"}, "flag", "没有“9”这种旗帜颜色"),
        ({"channel": "ebay"}, "channel", "“ebay”不在可选项中"),
        ({"refund": "maybe"}, "refund", "“maybe”不在可选项中"),
        ({"after": "not-a-page"}, "after", "这个翻页链接已损坏"),
    ],
)
async def test_a_bad_filter_value_is_said_beside_its_field_and_kept(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    team: dict[str, StaffAccount],
    query: dict[str, str],
    field: str,
    message: str,
) -> None:
    await _build(db, shop, team)
    await sign_in(client, "mei")
    for path in ("/orders", "/orders/export.xlsx"):
        page = await client.get(path, params={**query, "q": "小鹿"})
        assert page.status_code == 422
        error = re.search(rf'id="error-{field}">([^<]*)<', page.text)
        assert error is not None and message in unescape(error[1])
        assert 'value="小鹿"' in page.text  # what was typed stays


async def test_the_export_is_the_filtered_set_with_numbers_and_absolute_links(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    ids = await _build(db, shop, team)
    await sign_in(client, "mei")
    page = await client.get("/orders", params={"flag": "1"})
    link = re.search(r'id="export" href="([^"]+)"', page.text)
    assert link is not None
    answer = await client.get(unescape(link[1]))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("订单号", "下单时间", "付款时间", "状态")
    assert [r[0] for r in rows[1:]] == ["T-4", "T-2"]
    t4 = rows[1]
    # times as dates in shop time, amounts as numbers, the link absolute
    assert t4[1] == datetime(2026, 11, 24, 12, 0) and isinstance(t4[1], datetime)
    assert t4[7] == 200 and isinstance(t4[7], int | float | Decimal)
    assert t4[8] == 200 and t4[9] == 0 and isinstance(t4[9], int | float)
    assert t4[6] == "13700002468"  # her own order's phone in full
    assert t4[-1] == f"http://shop.test/orders/{ids['T-4']}"
    # the others' phones masked, as on the page
    whole = await client.get("/orders/export.xlsx", params={"q": "T-"})
    every = load_workbook(io.BytesIO(whole.content)).active
    assert every is not None
    cells = [str(c) for r in every.iter_rows(min_row=2, values_only=True) for c in r]
    assert "13800001234" not in cells and "138****1234" in cells


async def test_an_export_too_large_asks_for_a_narrower_filter(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    team: dict[str, StaffAccount],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _build(db, shop, team)
    monkeypatch.setattr(listing, "EXPORT_LIMIT", 3)
    await sign_in(client, "boss")
    answer = await client.get("/orders/export.xlsx", params={"q": "T-"})
    assert answer.status_code == 422
    assert "共 5 笔订单，超过一次导出的上限 3 笔，请缩小筛选范围" in answer.text
    assert 'value="T-"' in answer.text


async def test_the_home_page_counts_lead_to_their_lists_and_the_menu_to_the_import(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    await _build(db, shop, team)
    await sign_in(client, "boss")
    home = await client.get("/")
    link = 'href="/orders?status=WAIT_BUYER_CONFIRM_GOODS"'
    assert link in home.text
    listed = await client.get("/orders?status=WAIT_BUYER_CONFIRM_GOODS")
    assert _numbers(listed.text) == ["T-3"]
    assert 'href="/orders/import"' in listed.text  # a supervisor may import


async def test_times_are_the_shops_own_on_the_page_and_in_the_workbook(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    await _build(db, shop, team)
    async with db.session() as session:
        mine = await session.get(Shop, shop.id)
        assert mine is not None
        mine.timezone = "Asia/Tokyo"
        await session.commit()
    await sign_in(client, "boss")
    # T-1 was placed at 02:00 UTC: 11:00 in Tokyo; days are Tokyo's days too
    page = await client.get("/orders", params={"q": "T-1"})
    assert "2026-11-23 11:00" in page.text
    answer = await client.get("/orders/export.xlsx", params={"q": "T-1"})
    sheet = load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None and sheet["B2"].value == datetime(2026, 11, 23, 11, 0)


async def test_characters_no_column_holds_are_left_out_of_the_search(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    await _build(db, shop, team)
    await sign_in(client, "mei")
    page = await client.get("/orders?q=%00%E5%B0%8F%E9%B9%BF%0A")
    assert page.status_code == 200
    assert _numbers(page.text) == ["T-4", "T-1"]
    # bytes that are no text at all are a value like any other the list cannot read
    broken = await client.get("/orders?status=%ED%A0%80%00")
    assert broken.status_code == 422 and 'id="error-status"' in broken.text


async def test_the_sum_of_a_bad_filter_says_what_is_wrong(
    client: httpx.AsyncClient, db: Database, shop: Shop, team: dict[str, StaffAccount]
) -> None:
    await sign_in(client, "mei")
    answer = await client.get("/orders/sum", params={"flag": "9", "q": "小鹿"})
    assert answer.status_code == 422
    assert answer.json() == {"errors": {"flag": "没有“9”这种旗帜颜色"}}
    whole = await client.get("/orders/sum")
    assert whole.json() == {"count": 0, "total_fen": 0, "text": "共 0 笔订单，金额合计 ¥0.00"}
