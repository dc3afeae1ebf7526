"""Given the small customer base, when a supervisor exports a filter or a group, then the
workbook's first column "序号" numbers the rows 1…n and the other columns are the fields
ticked, phones in full for those who may see them; a formula typed as a nick is written
as text; an export nobody may have, or of fields that do not exist, is refused."""

from __future__ import annotations

import io

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from tests.conftest import MakeStaff, sign_in
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy
from xiaoer.customers.export import DEFAULT_FIELDS, ExportError, parse_fields
from xiaoer.customers.groups import do_create_group
from xiaoer.customers.stats import refresh
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

from .world import NOW
from .world import people as world_people

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _rows(content: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


@pytest.mark.database_free
def test_fields_are_read_in_the_workbooks_order() -> None:
    assert parse_fields(["spent", "nick", " "]) == ["nick", "spent"]
    assert parse_fields([]) == list(DEFAULT_FIELDS)
    with pytest.raises(ExportError, match="no field 'password' to export"):
        parse_fields(["nick", "password"])


async def test_a_filter_and_a_group_export_with_a_numbered_first_column(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    # given the base, 李雷 tagged and nicked like a formula, and a rule group of spenders
    sup = await make_staff("sup", "supervisor")
    async with db.session() as session:
        world = await world_people(session, shop)
        await session.execute(
            update(Customer)
            .where(Customer.id == world.ids["li"])
            .values(nick="=HYPERLINK(1)", tags=["老客", "茶具"])
        )
        await refresh(session, shop.id, Policy(), now=NOW)
        staff = await session.get(StaffAccount, sup.id)
        assert staff is not None
        spent = [{"field": "spent", "op": ">=", "value": 150}]
        group = await do_create_group(session, staff, name="大客户/高", kind="rule", rule=spent)
        await session.commit()
    await make_staff("mei", "agent")
    assert (await sign_in(client, "sup")).status_code == 303

    # when the filter "taobao buyers" is exported with some fields
    fields = "&".join(f"fields={f}" for f in ("nick", "phone", "birthday", "spent", "tags",
                                               "last_purchase", "orders"))  # fmt: skip
    answer = await client.get(f"/customers/export.xlsx?channel=taobao&{fields}")
    # then 序号 1…3, then the fields in their order, newest buyer first
    assert answer.status_code == 200 and answer.headers["content-type"] == XLSX
    rows = _rows(answer.content)
    assert rows[0] == ["序号", "昵称", "手机", "生日", "订单数", "累计消费", "最近购买", "标签"]
    assert [r[0] for r in rows[1:]] == [1, 2, 3]
    zhao, li, wang = rows[1:]
    assert zhao[1:3] == ["zhao", "13800000003"] and zhao[3] is None and zhao[4:6] == [0, 0]
    assert li[1] == "'=HYPERLINK(1)" and li[7] == "老客、茶具"
    assert li[4:6] == [1, 400] and li[6].date().isoformat() == "2025-11-27"
    assert wang[3] == "农历 1990-08-15" and wang[4:6] == [2, 170]

    # and the group's members, narrowed by a search, with the default fields
    group_rows = _rows((await client.get(f"/customers/groups/{group.id}/export.xlsx?q=wa")).content)
    assert group_rows[0][:3] == ["序号", "昵称", "姓名"]
    assert [(r[0], r[1]) for r in group_rows[1:]] == [(1, "wang-jd"), (2, "wang")]

    # a field that does not exist, or a filter that cannot be read, is refused
    unknown = await client.get("/customers/export.xlsx?fields=password")
    assert unknown.status_code == 422 and "没有可导出的字段" in unknown.text
    unread = await client.get("/customers/export.xlsx?orders_min=x")
    assert unread.status_code == 422 and "应为整数" in unread.text

    # an agent exports nothing
    client.cookies.clear()
    assert (await sign_in(client, "mei")).status_code == 303
    assert (await client.get("/customers/export.xlsx")).status_code == 403
