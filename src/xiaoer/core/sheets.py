"""Excel workbooks and CSV files in and out: headers matched by name, rows with line
numbers, and every file we write safe to open in a spreadsheet.

Every export goes through :func:`safe_cell`: :func:`write_sheet` for workbooks and
:func:`csv_writer` for CSV files (a test keeps ``csv.writer`` and ``Workbook`` out of
other modules). A spreadsheet runs a text cell that starts with ``=``, ``+``, ``-`` or
``@`` as a formula (and a leading tab or carriage return can smuggle one in when the
cell is pasted), so such a text is written with a leading ``'``, OWASP's rule against
CSV injection; in a workbook it is also stored as a string, never as a formula. The
rule goes by type: numbers, dates and decimals stay numbers, and a text of digits
(an order id, a phone) starts with none of those characters, so it is left as it is.
Our own readers take the quote off again (:func:`unquote_cell`), so an exported sheet
imports back to what was exported.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from xiaoer.core.texts import Text, say

# What a spreadsheet may take for the start of a formula (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it: a text that starts like a formula gets a
    leading ``'``; anything else (numbers included) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# A workbook's XML reads a carriage return back as a line feed.
WORKBOOK_STARTS = (*FORMULA_STARTS, "\n")


def unquote_cell(text: str, starts: tuple[str, ...] = FORMULA_STARTS) -> str:
    """A text read back from a file we wrote, without the quote :func:`safe_cell` added.

    Only a ``'`` followed by a formula's first character is taken off, so a text
    that really starts with ``'=`` comes back one quote short: the price of reading
    our own exports back unchanged.
    """
    if text[:1] == "'" and text.startswith(starts, 1):
        return text[1:]
    return text


class TextOut(Protocol):
    def write(self, text: str, /) -> Any: ...


class SafeCsvWriter:
    """``csv.writer`` whose every cell passes :func:`safe_cell`."""

    def __init__(self, out: TextOut) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: TextOut) -> SafeCsvWriter:
    """The writer every CSV export uses (opened with ``newline=""``)."""
    return SafeCsvWriter(out)


class SheetError(ValueError):
    """The file as a whole cannot be read; rows are judged one by one elsewhere."""


# A workbook is a zip of XML files; openpyxl parses them with defusedxml, which
# refuses entity declarations (the "billion laughs" bomb) and external references.
_UNREADABLE = (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ParseError)


def read_rows(
    data: bytes, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each data row of the first sheet as (line number, {header: text}).

    Headers are matched by name, ignoring surrounding spaces; other columns are
    ignored; a missing required header fails the whole file with its name. This
    parses as it goes: from a coroutine, use :func:`sheet_rows`.
    """
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (*_UNREADABLE, ValueError) as exc:  # openpyxl wraps XML errors in ValueError
        raise _unreadable(exc, say("not an Excel workbook (.xlsx)")) from exc
    try:
        yield from _rows_of(book, required, optional)
    except SheetError:
        raise
    except (*_UNREADABLE, ValueError) as exc:
        raise _unreadable(exc, say("the sheet is damaged and cannot be read")) from exc
    finally:
        book.close()


def _unreadable(exc: BaseException, otherwise: Text) -> SheetError:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DefusedXmlException):
            return SheetError(say("the workbook declares XML entities, which are not allowed"))
        seen = seen.__cause__ or seen.__context__
    return SheetError(otherwise)


def _rows_of(
    book: Any, required: Sequence[str], optional: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    if not book.worksheets:
        raise SheetError(say("the workbook has no sheet"))
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header_row = next(rows, None)
    if header_row is None:
        raise SheetError(say("the sheet is empty"))
    headers = [str(h).strip() if h is not None else "" for h in header_row]
    missing = [h for h in required if h not in headers]
    if missing:
        raise SheetError(
            say("missing column {column!r} (the first row names the columns)", column=missing[0])
        )
    wanted = {h: headers.index(h) for h in (*required, *optional) if h in headers}
    for line, values in enumerate(rows, start=2):
        if values is None or all(v is None or str(v).strip() == "" for v in values):
            continue
        yield line, {h: _text(values[i]) if i < len(values) else "" for h, i in wanted.items()}


YIELD_EVERY = 200  # rows an import handles before letting other requests run


async def sheet_rows(
    data: bytes, required: Sequence[str], optional: Sequence[str] = ()
) -> list[tuple[int, dict[str, str]]]:
    """:func:`read_rows` as a list, read in a worker thread: a large workbook takes a
    second or more to read, and the event loop answers everyone else meanwhile."""
    return await asyncio.to_thread(lambda: list(read_rows(data, required, optional)))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return unquote_cell(str(value).strip(), WORKBOOK_STARTS)


class Percent(float):
    """A share (0.25) written as a number that a spreadsheet shows as a percentage (25.0%)."""


@dataclass(frozen=True)
class Link:
    """A cell that opens ``url``; a path of ours (``/orders/7``) is made absolute with the
    request's base URL, so the link works from a file opened outside the browser."""

    text: str
    url: str


def absolute_url(url: str, base_url: str) -> str:
    """``url`` as an address that works from a downloaded file: a path of the site is
    joined to ``base_url`` (the request's, e.g. ``https://shop.example/``)."""
    if url.startswith("/") and not url.startswith("//") and base_url:
        return base_url.rstrip("/") + url
    return url


def _append(sheet: Any, line: int, row: Sequence[Any], base_url: str = "") -> None:
    """Row ``line``: texts neutralised and stored as strings (never a formula, nor an
    error value such as ``#N/A``), decimals as numbers shown with their places, shares
    as numbers in a percent format, links as absolute hyperlinks."""
    for column, value in enumerate(row, start=1):
        if isinstance(value, Link):
            url = absolute_url(value.url, base_url)
            cell = sheet.cell(row=line, column=column, value=safe_cell(value.text or url))
            cell.data_type = "s"
            if url.startswith(("http://", "https://")):
                cell.hyperlink = url
                cell.style = "Hyperlink"
            continue
        if isinstance(value, Percent):
            cell = sheet.cell(row=line, column=column, value=float(value))
            cell.number_format = "0.0%"
            continue
        shown = safe_cell(value)
        if isinstance(shown, str):
            # XML 1.0 has no control characters: a text holding one (pasted from
            # elsewhere) is written without them rather than failing the export.
            shown = ILLEGAL_CHARACTERS_RE.sub("", shown)
        cell = sheet.cell(row=line, column=column, value=shown)
        if isinstance(cell.value, str):
            cell.data_type = "s"
        elif isinstance(value, Decimal):
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and exponent < 0:
                cell.number_format = "0." + "0" * -exponent


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _width(value: Any) -> int:
    if isinstance(value, Link):
        return len(value.text or value.url)
    if isinstance(value, Percent):
        return 7
    return len(str(value))


def write_sheet(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, base_url: str = ""
) -> bytes:
    """A one-sheet workbook with a bold header row; its cells pass :func:`safe_cell`.

    Numbers (``int``, ``float``, ``Decimal``) stay numbers, :class:`Percent` shares are
    numbers shown as percentages, :class:`Link` cells are hyperlinks made absolute
    with ``base_url`` (the request's)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    _append(sheet, 1, headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line, row in enumerate(rows, start=2):
        _append(sheet, line, row, base_url)
    for index, header in enumerate(headers, start=1):
        width = max([len(str(header)) * 2, *(_width(r[index - 1]) for r in rows[:200])])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, width + 4)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class SheetStream:
    """A one-sheet workbook written a row at a time in constant memory (openpyxl's
    write-only mode, which spools rows to a temporary file): for exports of many
    thousands of rows. Cells pass :func:`safe_cell`; texts are stored as strings.
    Plain values only (no :class:`Link` nor :class:`Percent`)."""

    def __init__(self, title: str, headers: Sequence[str], widths: Sequence[int] = ()) -> None:
        self._book = Workbook(write_only=True)
        # A sheet's name holds none of []:*?/\ and at most 31 characters.
        name = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:31] or "Sheet1"
        self._sheet = self._book.create_sheet(name)
        for index, header in enumerate(headers, start=1):
            width = widths[index - 1] if index <= len(widths) else len(str(header)) * 2
            self._sheet.column_dimensions[get_column_letter(index)].width = min(60, width + 4)
        bold = Font(bold=True)
        self._sheet.append([self._cell(h, bold) for h in headers])
        self.rows = 0

    def _cell(self, value: Any, font: Font | None = None) -> Any:
        shown = safe_cell(value)
        if isinstance(shown, str):
            shown = ILLEGAL_CHARACTERS_RE.sub("", shown)
        cell = WriteOnlyCell(self._sheet, value=shown)
        if isinstance(shown, str):
            cell.data_type = "s"
        elif isinstance(value, Decimal):
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and exponent < 0:
                cell.number_format = "0." + "0" * -exponent
        if font is not None:
            cell.font = font
        return cell

    def append(self, row: Sequence[Any]) -> None:
        self._sheet.append([self._cell(value) for value in row])
        self.rows += 1

    def finish(self) -> bytes:
        out = io.BytesIO()
        self._book.save(out)
        return out.getvalue()


@dataclass
class ImportReport:
    """What an import did: rows read, created, updated, unchanged, and each row refused
    with its line number and reason."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"line": line, "reason": reason} for line, reason in self.rejected],
        }
