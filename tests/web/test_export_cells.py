"""Every workbook we export keeps figures as figures: counts and amounts are numbers,
shares are numbers shown as percentages, and links open from the downloaded file
(absolute, from the request's address)."""

from __future__ import annotations

import io
from decimal import Decimal

import httpx
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from tests.conftest import MakeStaff, sign_in
from tests.performance.test_kpi import DAY, _the_afternoon
from tests.performance.test_payroll import MONTH, _the_month
from xiaoer.core.db import Database
from xiaoer.core.sheets import Link, Percent, write_sheet
from xiaoer.shops.models import Shop


def _sheet(content: bytes) -> Worksheet:
    sheet = load_workbook(io.BytesIO(content)).active
    assert isinstance(sheet, Worksheet)
    return sheet


def test_the_helper_writes_numbers_percentages_and_absolute_links() -> None:
    data = write_sheet(
        "t",
        ["n", "share", "money", "link", "other link", "id"],
        [[4, Percent(0.25), Decimal("12.50"), Link("", "/orders/7#note"),
          Link("依据", "https://elsewhere.example/x"), "336212345678901234"]],
        base_url="https://shop.example/",
    )  # fmt: skip
    row = _sheet(data)[2]
    assert [(c.value, c.data_type) for c in row[:3]] == [(4, "n"), (0.25, "n"), (12.5, "n")]
    assert row[1].number_format == "0.0%" and row[2].number_format == "0.00"
    assert row[3].value == "https://shop.example/orders/7#note"
    assert row[3].hyperlink is not None
    assert row[3].hyperlink.target == "https://shop.example/orders/7#note"
    assert row[4].value == "依据" and row[4].hyperlink.target == "https://elsewhere.example/x"
    assert (row[5].value, row[5].data_type) == ("336212345678901234", "s")  # an id stays text


async def test_the_kpi_export_writes_counts_and_rates_as_numbers(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    await make_staff("boss", "supervisor")
    await _the_afternoon(db, shop, mei)
    await sign_in(client, "boss")

    exported = await client.get(f"/performance/kpi.xlsx?period=day&on={DAY}&scope=agent")

    assert exported.status_code == 200
    sheet = _sheet(exported.content)
    headers = [c.value for c in sheet[1]]
    row = {headers[i]: cell for i, cell in enumerate(sheet[2])}
    assert str(row["对象"].value).startswith("小梅")
    conversion = next(cell for name, cell in row.items() if "转化率" in str(name))
    assert (conversion.value, conversion.data_type) == (0.25, "n")
    assert "%" in conversion.number_format
    inquiries = row[headers[1]]
    assert (inquiries.value, inquiries.data_type) == (4, "n")
    figures = [cell for cell in sheet[2][1:] if cell.value is not None]
    assert figures and all(cell.data_type == "n" for cell in figures), [
        (c.value, c.data_type) for c in figures
    ]


async def test_the_payroll_export_links_each_fine_to_its_evidence_absolutely(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", level="intermediate", name="小梅")
    boss = await make_staff("boss", "supervisor")
    orders = await _the_month(db, shop, mei, boss)
    await sign_in(client, "boss")

    exported = await client.get(f"/performance/payroll.xlsx?month={MONTH}")

    assert exported.status_code == 200
    links = [row[6] for row in _sheet(exported.content).iter_rows(min_row=2) if row[6].value]
    wanted = f"http://shop.test/orders/{orders['L']}#note"
    assert wanted in [cell.value for cell in links]
    assert all(str(cell.value).startswith("http://shop.test/") for cell in links)
    assert all(cell.hyperlink is not None for cell in links)
