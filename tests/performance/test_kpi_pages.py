"""The KPI pages, their drill-downs, the floor view and the payroll page through the app."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import openpyxl
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.performance.test_kpi import DAY, _the_afternoon
from tests.performance.test_payroll import MONTH, _the_month
from xiaoer.core.db import Database
from xiaoer.orders.models import Order
from xiaoer.performance.models import PayrollMonth
from xiaoer.shops.models import Shop


async def test_a_supervisor_reads_the_figures_and_drills_down(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    await make_staff("boss", "supervisor")
    await _the_afternoon(db, shop, mei)
    await sign_in(client, "boss")

    page = await client.get(f"/performance/kpi?period=day&on={DAY}&scope=agent")
    assert page.status_code == 200
    assert "小梅" in page.text and "<svg" in page.text
    span = f"start={DAY}&amp;end={DAY}&amp;agent={mei.id}"
    assert f'href="/performance/kpi/buyers?{span}">4</a>' in page.text
    assert "25.0%" in page.text  # conversion: 1 of 4 inquiring buyers paid

    buyers = await client.get(f"/performance/kpi/buyers?start={DAY}&end={DAY}&agent={mei.id}")
    assert buyers.text.count('href="/performance/conversations/') == 4
    slow = await client.get(
        f"/performance/kpi/rounds?start={DAY}&end={DAY}&agent={mei.id}&kind=slow"
    )
    assert slow.text.count('href="/performance/conversations/') == 1 and ">240<" in slow.text
    sales = await client.get(
        f"/performance/kpi/orders?start={DAY}&end={DAY}&agent={mei.id}&kind=service"
    )
    # Order numbers as the table's links show them (a page's random form token may hold
    # any two characters, "K-" among them).
    assert '">K-1</a>' in sales.text and '">K-9</a>' not in sales.text
    assert (
        f"/performance/kpi/orders?start={DAY}&amp;end={DAY}&amp;agent={mei.id}&amp;kind=reminded"
        in page.text
    )
    reminded = await client.get(f"/performance/kpi/orders?start={DAY}&end={DAY}&kind=reminded")
    assert reminded.status_code == 200 and '">K-' not in reminded.text  # nobody was reminded
    silent = await client.get(f"/performance/kpi/orders?start={DAY}&end={DAY}&kind=silent")
    assert '">K-9</a>' in silent.text and '">K-1</a>' not in silent.text

    first = slow.text.split('href="/performance/conversations/')[1].split('"')[0]
    transcript = await client.get(f"/performance/conversations/{first}")
    assert transcript.status_code == 200 and "这款有货吗" in transcript.text

    shop_page = await client.get(f"/performance/kpi?period=week&on={DAY}&scope=shop")
    assert "149.00" in shop_page.text and "50.00" in shop_page.text  # sales, silent sales
    sheet = await client.get(f"/performance/kpi.xlsx?period=day&on={DAY}&scope=agent")
    assert sheet.status_code == 200
    rows = list(
        openpyxl.load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True)
    )
    assert rows[0][0] == "对象" and rows[1][0].startswith("小梅")

    window = await client.get("/performance/kpi?period=window")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert f'name="on" value="{today}"' in window.text  # showing again keeps the window
    assert (await client.get("/performance/kpi?on=23-11-2026")).status_code == 400
    assert (await client.get("/performance/kpi/rounds?kind=odd")).status_code == 400
    floor = await client.get("/performance/floor")
    assert floor.status_code == 200 and 'id="waiting"' in floor.text


async def test_an_agent_sees_only_their_own_figures(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    lan = await make_staff("lan", name="小兰")
    await _the_afternoon(db, shop, mei)
    await sign_in(client, "lan")
    page = await client.get(f"/performance/kpi?period=day&on={DAY}&scope=shop")
    assert page.status_code == 200 and "小梅" not in page.text
    other = await client.get(f"/performance/kpi/rounds?start={DAY}&end={DAY}&agent={mei.id}")
    assert other.status_code == 403
    own = await client.get(f"/performance/kpi/buyers?start={DAY}&end={DAY}&agent={lan.id}")
    assert own.status_code == 200
    assert (await client.get("/performance/floor")).status_code == 403


async def test_the_supervisor_clicks_a_fine_and_lands_on_the_late_note(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", level="intermediate", name="小梅")
    boss = await make_staff("boss", "supervisor")
    orders = await _the_month(db, shop, mei, boss)
    await sign_in(client, "boss")
    page = await client.get(f"/performance/payroll?month={MONTH}")
    assert page.status_code == 200
    assert "2015.27" in page.text and "备注超时或错误" in page.text
    assert f'<a href="/orders/{orders["L"]}#note">' in page.text
    order_page = await client.get(f"/orders/{orders['L']}")
    assert order_page.status_code == 200 and "备注超时" in order_page.text  # its open task

    sheet = await client.get(f"/performance/payroll.xlsx?month={MONTH}")
    rows = list(
        openpyxl.load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True)
    )
    assert (2015.27 in [r[4] for r in rows]) and rows[0][0] == "工号"

    refused = await client.post(
        "/performance/payroll/adjust",
        data={"month": MONTH, "kind": "bonus", "agent_id": str(mei.id), "amount_yuan": "abc",
              "reason": "奖励", "csrf_token": csrf_from(page.text)},
    )  # fmt: skip
    assert refused.status_code == 409 and "&#39;abc&#39; 不是以元为单位的金额" in refused.text
    added = await client.post(
        "/performance/payroll/adjust",
        data={"month": MONTH, "kind": "bonus", "agent_id": str(mei.id), "amount_yuan": "12.50",
              "reason": "好评最多", "csrf_token": csrf_from(page.text)},
    )  # fmt: skip
    assert added.status_code == 303
    assert "2027.77" in (await client.get(f"/performance/payroll?month={MONTH}")).text
    locked = await client.post(
        "/performance/payroll/lock", data={"month": MONTH, "csrf_token": csrf_from(page.text)}
    )
    assert locked.status_code == 303
    async with db.session() as session:
        assert await session.scalar(select(PayrollMonth.total_fen)) is not None
        order = await session.scalar(select(Order).where(Order.id == orders["A"]))
        assert order is not None
    shown = await client.get(f"/performance/payroll?month={MONTH}")
    assert 'id="lock-state"' in shown.text and 'id="adjust"' not in shown.text

    await client.post("/logout", data={"csrf_token": csrf_from(shown.text)})
    await sign_in(client, "mei")
    own = await client.get(f"/performance/payroll?month={MONTH}")
    assert "2027.77" in own.text and "boss" not in own.text.lower().split("<main")[-1]
    assert (await client.get(f"/performance/payroll.xlsx?month={MONTH}")).status_code == 403


async def test_the_kpi_page_shows_the_agent_and_month_it_is_asked_for(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given two agents' afternoon and the link payroll's commission gives (查看依据)
    mei = await make_staff("mei", name="小梅")
    lan = await make_staff("lan", name="小兰")
    await make_staff("boss", "supervisor")
    await _the_afternoon(db, shop, mei)
    await sign_in(client, "boss")
    link = f"/performance/kpi?agent={mei.id}&month=2026-11"

    page = await client.get(link)

    # then the page is 小梅's November: one row, her name in the heading, the filters set
    assert page.status_code == 200
    assert "2026-11-01 ~ 2026-11-30" in page.text and "小梅" in page.text.split("</h1>")[0]
    table = page.text.split('id="kpi-table"')[1].split("</table>")[0]
    assert table.count("<tr data-subject=") == 1 and "小梅" in table and "小兰" not in table
    assert f'<option value="{mei.id}" selected>' in page.text
    assert '<option value="month" selected>' in page.text
    assert (
        f"/performance/kpi.xlsx?period=month&on=2026-11-01&scope=agent&agent={mei.id}" in page.text
    )
    # and 小兰's month is hers alone: 小梅's figures are not in it, on the page or the sheet
    hers = await client.get(f"/performance/kpi?agent={lan.id}&month=2026-11")
    assert "这个周期还没有数据" in hers.text and 'id="kpi-table"' not in hers.text
    assert "小兰" in hers.text.split("</h1>")[0]

    def names(sheet: httpx.Response) -> list[str]:
        book = openpyxl.load_workbook(io.BytesIO(sheet.content))
        return [row[0] for row in list(book.active.iter_rows(values_only=True))[1:]]

    month = "/performance/kpi.xlsx?period=month&on=2026-11-01"
    assert names(await client.get(month)) == [f"小梅 · {mei.number}"]
    assert names(await client.get(f"{month}&agent={lan.id}")) == []

    # a bad month or agent is said beside its field, keeping what was asked
    bad = await client.get("/performance/kpi?agent=abc&month=2026-13")
    assert bad.status_code == 400
    assert 'id="on-error">月份 &#39;2026-13&#39; 格式不对' in bad.text
    assert 'id="agent-error">客服 &#39;abc&#39; 不对' in bad.text
    assert '<option value="abc" selected>abc</option>' in bad.text
    unknown = await client.get("/performance/kpi?agent=99999")
    assert unknown.status_code == 400 and "本店没有编号为 99999 的客服" in unknown.text


async def test_an_agent_follows_only_their_own_commission_link(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    lan = await make_staff("lan", name="小兰")
    await _the_afternoon(db, shop, mei)
    await sign_in(client, "mei")
    own = await client.get(f"/performance/kpi?agent={mei.id}&month=2026-11")
    assert own.status_code == 200 and "2026-11-01 ~ 2026-11-30" in own.text
    assert 'name="agent"' not in own.text  # nobody else to choose
    other = await client.get(f"/performance/kpi?agent={lan.id}&month=2026-11")
    assert other.status_code == 403 and "客服只能查看自己的数据" in other.text
    assert "小兰" not in other.text
