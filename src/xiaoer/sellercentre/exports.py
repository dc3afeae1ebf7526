"""Reading seller-centre order exports (订单报表): the order list and the item list.

An export is a pair of files, ``ExportOrderList<stamp>.csv`` (one row per order, newer
exports may give it as ``.xlsx``) and ``ExportOrderDetailList<stamp>.csv`` (one row per
item). This module only reads them: :func:`open_orders` and :func:`open_items` return an
:class:`ExportReader` whose iteration yields one parsed row, or one :class:`Rejected` row
with its line number and a short reason, per record of the file. Storing the rows is the
caller's business.

Decisions worth knowing:

* Whole-file problems (unreadable file, unknown encoding, required columns missing, the
  wrong kind of list, a CSV the parser cannot follow) raise :class:`ExportError`, also
  in the middle of an iteration when a decoding or CSV error shows up late in the file.
* Row problems never raise: the row comes back as :class:`Rejected` and the next row is
  read. A blank line (or one made only of empty cells) is skipped silently.
* A row with fewer cells than the header is accepted when every required column is among
  the cells it has; the missing trailing cells count as empty. A row with more cells than
  the header is accepted only when the surplus cells are empty (spreadsheets add those);
  surplus content means a cell was split or shifted, so the row is rejected.
* Amounts are integer fen, quantities integers; both must fit a 32-bit column.
* Times are shop-local wall times converted to timezone-aware UTC.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Literal, Self, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xiaoer.core.clock import DEFAULT_ZONE
from xiaoer.core.files import open_private
from xiaoer.core.sheets import csv_writer, unquote_cell
from xiaoer.core.texts import say
from xiaoer.orders.models import STATUS_TEXTS, TradeStatus

# The order export's two lists; other reports (refunds, reviews) are read with a row
# parser of the package that stores them (see :func:`open_report`).
Kind = Literal["orders", "items", "report"]
# Builds the row parser of a report from its open reader (which knows the columns).
RowParserFactory = Callable[["ExportReader"], Callable[[int, list[str]], Any]]
_T = TypeVar("_T")

# How much of a text file is looked at to decide its encoding.
SNIFF_BYTES = 64 * 1024

# The largest amount or count a row may carry: the database columns are 32-bit integers.
MAX_INT = 2**31 - 1

# Column names, as in the files once surrounding spaces are stripped.
ORDER_REQUIRED = ("订单编号", "订单状态", "订单创建时间")
ITEM_REQUIRED = ("订单编号", "标题", "价格", "购买数量")

# The status texts that only cash-on-delivery (货到付款) orders show.
COD_STATUS_TEXTS = frozenset(
    {
        "等待买家确认货到付款订单信息",
        "买家已确认，等待卖家发货",
        "卖家已发货，等待买家确认收货并付款",
        "买家已签收",
        "买家已签收，回款至卖家",
    }
)
COD_SHIPPING = "货到付款"

# Asia/Shanghai has kept +08:00 without daylight saving since 1991, so wall times from
# 1992 on convert with a fixed offset; earlier ones go through the zone database.
_SHANGHAI = "Asia/Shanghai"
_CST = timezone(timedelta(hours=8))
_EIGHT_HOURS = timedelta(hours=8)
_FIXED_FROM_YEAR = 1992

# How often (in rows) the reader refreshes ``bytes_read``.
_PROGRESS_EVERY = 512


class ExportError(ValueError):
    """The file as a whole cannot be read as the export it was opened as."""


@dataclass(slots=True)
class OrderRow:
    """One order of the order list, amounts in fen, times in UTC."""

    line: int
    platform_order_id: str
    buyer_nick: str
    status: TradeStatus
    goods_fen: int
    postage_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    receiver_name: str
    receiver_phone: str
    receiver_address: str
    buyer_message: str
    shipping_method: str
    courier: str
    tracking_number: str
    seller_memo: str
    close_reason: str
    item_count: int
    cash_on_delivery: bool
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    finished_at: datetime | None
    # The row's cells as read (short rows padded), for a rejects file should the row be
    # refused later, e.g. as a duplicate.
    cells: list[str] = field(default_factory=list, repr=False)


@dataclass(slots=True)
class ItemRow:
    """One item of the item list; ``price_fen`` is the unit price."""

    line: int
    platform_order_id: str
    title: str
    price_fen: int
    quantity: int
    sku_text: str
    sku_code: str
    memo: str
    # The row's cells as read (short rows padded), for a rejects file.
    cells: list[str] = field(default_factory=list, repr=False)


@dataclass(slots=True)
class Rejected:
    """A record that could not be read: where it starts, why, and its cells as found."""

    line: int
    reason: str
    cells: list[str]
    # The row's order number when it could still be read ("" otherwise), so that the
    # items of a refused order can be refused with it.
    platform_order_id: str = ""


class _Reject(Exception):
    """Raised inside row parsing; turned into a :class:`Rejected` row by the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------
# Cell parsing
# ---------------------------------------------------------------------------

# How many distinct cell texts a column's memo keeps (beyond that, cells are parsed anew).
_MEMO_LIMIT = 65_536


class _Memo(dict[str, _T]):
    """Parsed values of one column by cell text.

    Amounts, counts, statuses, couriers and the like repeat a lot within an export, so a
    dictionary lookup replaces most parsing. A cell that fails to parse raises
    :class:`_Reject` and is not remembered.
    """

    __slots__ = ("_parse",)

    def __init__(self, parse: Callable[[str], _T]) -> None:
        super().__init__()
        self._parse = parse

    def __missing__(self, key: str) -> _T:
        value = self._parse(key)
        if len(self) < _MEMO_LIMIT:
            self[key] = value
        return value


def _shown(raw: str) -> str:
    """A cell value for a rejection reason (which quotes it), cut short when long."""
    value = raw.strip()
    if len(value) > 40:
        value = value[:37] + "..."
    return value


def clean_cell(raw: str) -> str:
    """Strip surrounding spaces and unwrap the ``="…"`` spreadsheet-text form."""
    text = raw.strip()
    if text and text[0] == "=" and len(text) >= 3 and text[1] == '"' and text[-1] == '"':
        text = text[2:-1].strip()
    return text


def _clean_number_text(raw: str) -> str:
    """Like :func:`clean_cell`, and drop the leading ``'`` that keeps phones as text."""
    text = clean_cell(raw)
    if text[:1] == "'":
        text = text[1:].strip()
    return text


def _platform_id(raw: str, column: str) -> str:
    """An order number: 1–32 ASCII digits, never a float."""
    if raw.isdigit() and raw.isascii() and len(raw) <= 32:
        return raw
    if raw[:2] == '="' and raw[-1:] == '"':
        inner = raw[2:-1]
        if inner.isdigit() and inner.isascii() and len(inner) <= 32:
            return inner
    text = _clean_number_text(raw)
    if text.isdigit() and text.isascii() and len(text) <= 32:
        return text
    if not text:
        raise _Reject(say("{column} is empty", column=column))
    if text.isdigit() and text.isascii():
        raise _Reject(
            say('{column} "{value}" is longer than 32 digits', column=column, value=_shown(raw))
        )
    raise _Reject(
        say(
            '{column} "{value}" is not an order number (digits only)',
            column=column,
            value=_shown(raw),
        )
    )


def _fen(raw: str, column: str) -> int:
    """An amount of money in yuan (``123.45``, ``123.45元``, ``¥1,234.5``) as fen.

    Exact: the digits are read as integers, never through a float. An empty cell is 0.
    """
    if raw.isascii():
        whole, dot, frac = raw.partition(".")
        if whole.isdigit():
            if not dot:
                fen = int(whole) * 100
            elif len(frac) == 2 and frac.isdigit():
                fen = int(whole + frac)
            elif len(frac) == 1 and frac.isdigit():
                fen = int(whole + frac) * 10
            else:
                return _fen_slow(raw, column)
            if fen > MAX_INT:
                raise _Reject(
                    say('{column} "{value}" is too large', column=column, value=_shown(raw))
                )
            return fen
        if not raw:
            return 0
    return _fen_slow(raw, column)


def _fen_slow(raw: str, column: str) -> int:
    """The general money parser behind :func:`_fen`, with a reason for each failure."""
    text = clean_cell(raw)
    if not text:
        return 0
    if text.endswith("元"):
        text = text[:-1].rstrip()
    if text[:1] in ("¥", "￥"):
        text = text[1:].lstrip()
    negative = text[:1] == "-"
    if negative:
        text = text[1:].lstrip()
    whole, dot, frac = text.partition(".")
    if "," in whole:
        groups = whole.split(",")
        well_grouped = 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
        if not well_grouped:
            raise _Reject(
                say(
                    '{column} "{value}" is not an amount of money', column=column, value=_shown(raw)
                )
            )
        whole = "".join(groups)
    if dot and not whole:
        whole = "0"
    digits_ok = whole.isdigit() and whole.isascii() and (not frac or frac.isdigit())
    if not digits_ok or not frac.isascii() or (dot and not frac):
        raise _Reject(
            say('{column} "{value}" is not an amount of money', column=column, value=_shown(raw))
        )
    if negative:
        raise _Reject(say('{column} "{value}" is negative', column=column, value=_shown(raw)))
    if len(frac) > 2:
        raise _Reject(
            say(
                '{column} "{value}" has more than two decimal places',
                column=column,
                value=_shown(raw),
            )
        )
    fen = int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
    if fen > MAX_INT:
        raise _Reject(say('{column} "{value}" is too large', column=column, value=_shown(raw)))
    return fen


def _count(raw: str, column: str, *, positive: bool) -> int:
    """A whole number of pieces; empty is 0 unless ``positive`` is asked for."""
    text = raw if raw.isdigit() and raw.isascii() else clean_cell(raw)
    if not text:
        if positive:
            raise _Reject(say("{column} is empty", column=column))
        return 0
    if not (text.isdigit() and text.isascii()):
        raise _Reject(
            say('{column} "{value}" is not a whole number', column=column, value=_shown(raw))
        )
    value = int(text)
    if positive and value == 0:
        raise _Reject(
            say('{column} "{value}" is not a positive number', column=column, value=_shown(raw))
        )
    if value > MAX_INT:
        raise _Reject(say('{column} "{value}" is too large', column=column, value=_shown(raw)))
    return value


def _wall_time(text: str) -> datetime:
    """A naive wall time from ``yyyy-MM-dd HH:mm:ss`` or ``yyyy/M/d H:mm[:ss]``.

    A date alone means midnight. Raises ``ValueError`` for anything else.
    """
    day_text, _, clock_text = text.replace("T", " ", 1).partition(" ")
    separator = "/" if "/" in day_text else "-"
    day_parts = day_text.split(separator)
    clock_parts = clock_text.strip().split(":") if clock_text.strip() else ["0", "0"]
    parts = [*day_parts, *clock_parts]
    if (
        len(day_parts) != 3
        or len(day_parts[0]) != 4
        or len(clock_parts) not in (2, 3)
        or not all(p.isdigit() and p.isascii() and len(p) <= 4 for p in parts)
    ):
        raise ValueError(text)
    numbers = [int(p) for p in parts]
    if len(numbers) == 5:
        numbers.append(0)
    year, month, day, hour, minute, second = numbers
    return datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 (wall time)


FUTURE_SLACK = timedelta(days=1)  # clocks and zones differ; a day later is no mistake


def _future(column: str, raw: str) -> None:
    raise _Reject(
        say("{column} {time} is more than a day in the future", column=column, time=raw.strip())
    )


def _time_parser(zone: str) -> Callable[[str, str], datetime | None]:
    """A parser turning a shop-local time cell into aware UTC (``None`` when empty).

    For the shops' usual zone, the common ``yyyy-MM-dd HH:mm:ss`` form of 1992 or later
    takes a fast path (the order parser inlines the same path for its commonest times);
    other forms, early dates and other zones take the general path through the zone
    database.
    """
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ExportError(say("unknown time zone {zone!r}", zone=zone)) from exc
    fixed = zone == _SHANGHAI
    fromisoformat = datetime.fromisoformat
    utc = UTC

    # The fast path reads the wall time as if it were UTC (``fromisoformat`` with
    # "+00:00" gives an aware UTC value in one C call) and then takes the eight hours
    # off, which is several times quicker than attaching +08:00 and calling astimezone.

    def localize(wall: datetime) -> datetime:
        if fixed and wall.year >= _FIXED_FROM_YEAR:
            return wall.replace(tzinfo=_CST).astimezone(utc)
        return wall.replace(tzinfo=tz).astimezone(utc)

    def parse(raw: str, column: str) -> datetime | None:
        if fixed and len(raw) == 19 and raw >= "1992":
            try:
                return fromisoformat(raw + "+00:00") - _EIGHT_HOURS
            except ValueError:
                pass
        text = clean_cell(raw)
        if not text:
            return None
        try:
            return localize(_wall_time(text))
        except (ValueError, OverflowError):
            raise _Reject(
                say(
                    '{column} "{value}" is not a time (yyyy-MM-dd HH:mm:ss)',
                    column=column,
                    value=_shown(raw),
                )
            ) from None

    return parse


def _status_table() -> dict[str, tuple[TradeStatus, bool]]:
    """Export text or code → (status, whether the text means cash on delivery)."""
    table: dict[str, tuple[TradeStatus, bool]] = {}
    for status in TradeStatus:
        table[status.value] = (status, False)
    for text, status in STATUS_TEXTS.items():
        found = (status, text in COD_STATUS_TEXTS)
        table[text] = found
        # Spreadsheet re-saves sometimes turn the full-width comma into an ASCII one.
        table[text.replace("，", ",")] = found
    return table


_STATUSES = _status_table()


def _status(raw: str, column: str) -> tuple[TradeStatus, bool]:
    """The trade status of a status cell, from its export text or its code."""
    found = _STATUSES.get(raw)
    if found is not None:
        return found
    text = clean_cell(raw)
    found = _STATUSES.get(text) or _STATUSES.get(text.upper())
    if found is not None:
        return found
    if not text:
        raise _Reject(say("{column} is empty", column=column))
    raise _Reject(
        say('{column} "{value}" is not a known trade status', column=column, value=_shown(raw))
    )


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def sniff_encoding(head: bytes, *, whole_file: bool) -> str:
    """The encoding of a text export from its first bytes.

    A UTF-8 byte-order mark means ``utf-8-sig``; text that decodes as strict UTF-8 means
    ``utf-8`` (a character cut at the end of ``head`` is allowed unless ``head`` is the
    whole file); anything else is taken as ``gb18030``, the superset of GBK the platform
    writes. Raises :class:`ExportError` when it is none of these.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ExportError(say("the file is UTF-16 text; save it as CSV (UTF-8 or GBK) or .xlsx"))
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)("strict").decode(head, final=whole_file)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ExportError(say("the file is neither UTF-8 nor GBK/GB18030 text"))


def _xlsx_text(value: Any) -> str:
    """A spreadsheet cell value as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        # Excel keeps times as fractions of a day; round the float noise to a second.
        whole = value.replace(microsecond=0)
        if value.microsecond >= 500_000:
            whole += timedelta(seconds=1)
        return whole.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


class _PositionFile(io.RawIOBase):
    """A read-only file wrapper that remembers where the last read ended (for xlsx).

    While a worksheet is being read, every read is from the sheet's compressed data, so
    that position moves forward through the file as rows come out.
    """

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self.position = self._inner.tell()
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        self._inner.close()
        super().close()


class ExportReader:
    """An open export file: header checked, rows parsed while iterating.

    ``kind`` is ``"orders"`` or ``"items"``; ``header`` the column names as in the file;
    ``encoding`` one of ``gb18030``, ``utf-8-sig``, ``utf-8`` or ``xlsx``; ``bytes_total``
    the file size and ``bytes_read`` how far reading has got (refreshed every few hundred
    rows and equal to ``bytes_total`` once the rows are exhausted). For xlsx files the
    position is in the compressed workbook, so it moves in steps.

    The reader iterates once; use it as a context manager to close the file.
    """

    kind: Kind
    header: list[str]
    encoding: str
    bytes_total: int
    bytes_read: int

    def __init__(
        self,
        path: str | Path,
        kind: Kind,
        *,
        zone: str = DEFAULT_ZONE,
        now: datetime | None = None,
        report: ReportShape | None = None,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self._report = report
        # An export is written before it is read: a time past tomorrow is a typing
        # or a clock error (9999-12-31), never an order's.
        self.latest = (now or datetime.now(UTC)) + FUTURE_SLACK
        self.header = []
        self.bytes_read = 0
        self._zone = zone
        self._parse_time = _time_parser(zone)
        self._binary: IO[bytes] | None = None
        self._text: io.TextIOWrapper | None = None
        self._csv: Any = None
        self._book: Any = None
        self._xlsx_rows: Iterator[tuple[Any, ...]] | None = None
        self._counting: _PositionFile | None = None
        self._header_line = 0
        self._rows: Iterator[OrderRow | ItemRow | Rejected] | None = None
        self._parse: Callable[[int, list[str]], Any] | None = None
        self._ours = False
        try:
            self._binary = self.path.open("rb")
            self.bytes_total = self.path.stat().st_size
            head = self._binary.read(SNIFF_BYTES)
            self._binary.seek(0)
            if not head.strip():
                raise ExportError(say("the file is empty"))
            if self.path.suffix.lower() == ".xlsx" or head.startswith(b"PK\x03\x04"):
                self.encoding = "xlsx"
                self._open_xlsx()
            elif head.startswith(b"\xd0\xcf\x11\xe0"):
                raise ExportError(
                    say("old Excel .xls files cannot be read; save it as .xlsx or CSV")
                )
            else:
                self.encoding = sniff_encoding(head, whole_file=len(head) < SNIFF_BYTES)
                self._open_csv()
            self._columns = self._match_columns()
            # A rejects file we wrote (its two last columns are ours): its cells were
            # neutralised for spreadsheets and are read back as they were exported.
            self._ours = [h.strip() for h in self.header[-2:]] == list(REJECTS_COLUMNS)
        except OSError as exc:
            self.close()
            raise ExportError(
                say(
                    "cannot read {file}: {problem}",
                    file=self.path.name,
                    problem=str(exc.strerror or exc),
                )
            ) from exc
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------

    def _open_csv(self) -> None:
        assert self._binary is not None
        self._text = io.TextIOWrapper(self._binary, encoding=self.encoding, newline="")
        self._csv = csv.reader(self._text)
        previous = 0
        try:
            for cells in self._csv:
                line = previous + 1
                previous = self._csv.line_num
                if any(cell.strip() for cell in cells):
                    self.header = cells
                    self._header_line = line
                    return
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._broken(previous + 1, exc) from exc
        raise ExportError(say("the file has no header row"))

    def _open_xlsx(self) -> None:
        from openpyxl import load_workbook

        assert self._binary is not None
        self._counting = _PositionFile(self._binary)
        try:
            self._book = load_workbook(
                io.BufferedReader(self._counting), read_only=True, data_only=True
            )
        except Exception as exc:  # zip, XML and openpyxl errors come in many classes
            raise ExportError(
                say("{file} is not a readable .xlsx workbook", file=self.path.name)
            ) from exc
        if not self._book.worksheets:
            raise ExportError(say("the workbook has no sheet"))
        sheet = self._book.worksheets[0]
        # Stored dimensions are unreliable in files from other tools; read every row.
        sheet.reset_dimensions()
        self._xlsx_rows = iter(sheet.iter_rows(values_only=True))
        try:
            for line, values in enumerate(self._xlsx_rows, start=1):
                cells = [_xlsx_text(v) for v in values]
                if any(cell.strip() for cell in cells):
                    while cells and not cells[-1].strip():
                        cells.pop()
                    self.header = cells
                    self._header_line = line
                    return
        except Exception as exc:  # zip, XML (entities refused by defusedxml) and openpyxl
            raise ExportError(
                say("{file} is not a readable .xlsx workbook", file=self.path.name)
            ) from exc
        raise ExportError(say("the sheet has no header row"))

    def _broken(self, line: int, exc: Exception) -> ExportError:
        """The whole-file error for a decoding or CSV failure at ``line``."""
        if isinstance(exc, UnicodeDecodeError):
            return ExportError(
                say(
                    "line {line}: the file is not valid {encoding} text from there on",
                    line=line,
                    encoding=self.encoding,
                )
            )
        return ExportError(
            say("line {line}: the CSV cannot be read ({problem})", line=line, problem=str(exc))
        )

    def _match_columns(self) -> dict[str, int]:
        """Column name (spaces stripped) → index; the first of duplicate names wins."""
        columns: dict[str, int] = {}
        for index, name in enumerate(self.header):
            columns.setdefault(name.strip(), index)
        if self._report is not None:
            return self._match_report(columns, self._report)
        own = ORDER_REQUIRED if self.kind == "orders" else ITEM_REQUIRED
        missing = [name for name in own if name not in columns]
        if not missing:
            return columns
        if self.kind == "orders" and all(name in columns for name in ITEM_REQUIRED):
            raise ExportError(
                say(
                    "this file is an item list (ExportOrderDetailList), not an order list; "
                    "read it with open_items"
                )
            )
        if self.kind == "items" and all(name in columns for name in ORDER_REQUIRED):
            raise ExportError(
                say(
                    "this file is an order list (ExportOrderList), not an item list; "
                    "read it with open_orders"
                )
            )
        if "退款编号" in columns:
            raise ExportError(say("this file is a refund report (退款报表), not an order export"))
        columns_text = ", ".join(missing)
        if self.kind == "orders" and len(missing) > 1:
            problem = say(
                "missing columns {columns}: not a seller-centre order list", columns=columns_text
            )
        elif self.kind == "orders":
            problem = say(
                "missing column {columns}: not a seller-centre order list", columns=columns_text
            )
        elif len(missing) > 1:
            problem = say(
                "missing columns {columns}: not a seller-centre item list", columns=columns_text
            )
        else:
            problem = say(
                "missing column {columns}: not a seller-centre item list", columns=columns_text
            )
        raise ExportError(problem)

    @staticmethod
    def _match_report(columns: dict[str, int], report: ReportShape) -> dict[str, int]:
        missing = [name for name in report.required if name not in columns]
        if not missing:
            return columns
        if all(name in columns for name in ORDER_REQUIRED):
            raise ExportError(
                say(
                    "this file is an order list (ExportOrderList), not a {report}",
                    report=report.name,
                )
            )
        if len(missing) > 1:
            raise ExportError(
                say(
                    "missing columns {columns}: not a {report}",
                    columns=", ".join(missing),
                    report=report.name,
                )
            )
        raise ExportError(
            say("missing column {columns}: not a {report}", columns=missing[0], report=report.name)
        )

    # -- iterating ----------------------------------------------------------

    def _row_parser(self) -> Callable[[int, list[str]], Any]:
        if self._report is not None:
            return self._report.parser(self)
        return self._order_parser() if self.kind == "orders" else self._item_parser()

    def __iter__(self) -> Iterator[OrderRow | ItemRow | Rejected]:
        if self._rows is None:
            parse = self._row_parser()
            records = self._csv_rows(parse) if self._csv is not None else self._sheet_rows(parse)
            self._rows = records
        return self._rows

    def records(self) -> Iterator[tuple[int, list[str]] | Rejected]:
        """The rows as read, not parsed: ``(line, cells)``; :meth:`parse` parses one.

        An importer that knows a row unchanged since the last import (by its cells)
        can skip parsing it. Use either this or plain iteration, not both.
        """

        def keep(line: int, cells: list[str]) -> tuple[int, list[str]]:
            return line, cells

        rows = self._csv_rows(keep) if self._csv is not None else self._sheet_rows(keep)
        return cast("Iterator[tuple[int, list[str]] | Rejected]", rows)

    def parse(self, line: int, cells: list[str]) -> object:
        """Parse a row :meth:`records` gave (the cells list is used as it is): an
        :class:`OrderRow`, :class:`ItemRow`, a report's row, or :class:`Rejected`."""
        if self._parse is None:
            self._parse = self._row_parser()
        parsed: object = self._parse(line, cells)
        return parsed

    def order_id(self, cells: list[str]) -> str:
        """The row's order id if it reads as one, else ``""`` (without parsing the row)."""
        return _readable_id(cells, self._columns["订单编号"])

    def id_in(self, cells: list[str], column: str) -> str:
        """The number in the row's ``column`` (an id such as 退款编号) if it reads as one,
        else ``""``: ``""`` too when the column is absent or the cell empty."""
        index = self._columns.get(column)
        return "" if index is None else _readable_id(cells, index)

    def layout(
        self, required: tuple[str, ...]
    ) -> tuple[int, Callable[[list[str]], None], Callable[[str], int]]:
        """(header width, row-length check, name → index) for a report's row parser:
        the parser appends one empty cell to a row before reading it, at the index a
        missing optional column is given."""
        return self._layout(required)

    def time_parser(self, *, ahead: bool = False) -> Callable[[str, str], datetime | None]:
        """Reads a time cell of the shop's zone as aware UTC; ``None`` when empty;
        raises :class:`RowReject` when it is no time, or, unless it may lie ``ahead``
        (a deadline), when it is more than :data:`FUTURE_SLACK` after the export."""
        when = self._parse_time
        if ahead:
            return when
        latest = self.latest

        def parse(raw: str, column: str) -> datetime | None:
            value = when(raw, column)
            if value is not None and value > latest:
                _future(column, raw)
            return value

        return parse

    def row_parser(
        self, required: tuple[str, ...], read: Callable[[int, list[str]], _T]
    ) -> Callable[[int, list[str]], _T | Rejected]:
        """A report's row parser around ``read(line, cells)``: rows shorter or longer
        than the header are checked as the order list's are, the cells get one empty
        cell appended (where a missing optional column points, see :meth:`layout`),
        and a :class:`RowReject` inside ``read`` rejects the row with its reason."""
        width, check, _index = self._layout(required)

        def parse(line: int, cells: list[str]) -> _T | Rejected:
            found = len(cells)
            try:
                if found != width:
                    check(cells)
                cells.append("")
                row = read(line, cells)
            except _Reject as problem:
                return Rejected(line, problem.reason, cells[:found])
            cells.pop()  # the appended empty cell
            return row

        return parse

    def _layout(
        self, required: tuple[str, ...]
    ) -> tuple[int, Callable[[list[str]], None], Callable[[str], int]]:
        """(header width, row-length check, name → index) for a row parser.

        Rows get one empty cell appended at index ``width`` before parsing, and a missing
        optional column points there, so every lookup is a plain list index.
        """
        width = len(self.header)
        columns = self._columns

        def index(name: str) -> int:
            return columns.get(name, width)

        check = _row_shape(width, {name: columns[name] for name in required})
        return width, check, index

    def _order_parser(self) -> Callable[[int, list[str]], OrderRow | Rejected]:
        width, check, index = self._layout(ORDER_REQUIRED)
        i_id, i_status, i_created = (index(name) for name in ORDER_REQUIRED)
        i_nick = index("买家会员名")
        i_goods = index("买家应付货款")
        i_postage = index("买家应付邮费")
        i_total = index("总金额")
        i_paid = index("买家实际支付金额")
        i_refunded = index("退款金额")
        i_name = index("收货人姓名")
        i_mobile = index("联系手机")
        i_phone = index("联系电话")
        i_address = index("收货地址")
        i_message = index("买家留言")
        i_method = index("运送方式")
        i_courier = index("物流公司")
        i_tracking = index("物流单号")
        i_memo_new = index("商家备忘")
        i_memo_old = index("订单备注")
        i_close = index("订单关闭原因")
        i_count = index("宝贝总数量")
        i_paid_at = index("订单付款时间")
        i_shipped_at = index("发货时间")
        i_finished_at = index("确认收货时间")
        clean = clean_cell
        number_text = _clean_number_text
        platform_id = _platform_id
        when = self._parse_time
        latest = self.latest
        fast_times = self._zone == _SHANGHAI
        fromisoformat = datetime.fromisoformat
        eight_hours = _EIGHT_HOURS
        number_marks = ("=", "'")
        # Per-column memo tables for the cells that repeat.
        statuses = _Memo(partial(_status, column="订单状态"))
        statuses.update(_STATUSES)
        goods_fen = _Memo(partial(_fen, column="买家应付货款"))
        postage_fen = _Memo(partial(_fen, column="买家应付邮费"))
        total_fen = _Memo(partial(_fen, column="总金额"))
        paid_fen = _Memo(partial(_fen, column="买家实际支付金额"))
        refunded_fen = _Memo(partial(_fen, column="退款金额"))
        item_count = _Memo(partial(_count, column="宝贝总数量", positive=False))
        methods = _Memo(clean)
        couriers = _Memo(clean)
        close_reasons = _Memo(clean)
        memos_new = _Memo(clean)
        memos_old = _Memo(clean)

        # One C call fetches every cell the row parser needs.
        fetch = itemgetter(
            i_id,
            i_status,
            i_created,
            i_paid_at,
            i_shipped_at,
            i_finished_at,
            i_nick,
            i_name,
            i_address,
            i_message,
            i_mobile,
            i_tracking,
            i_method,
            i_goods,
            i_postage,
            i_total,
            i_paid,
            i_refunded,
            i_courier,
            i_memo_new,
            i_memo_old,
            i_close,
            i_count,
        )

        def parse(line: int, cells: list[str]) -> OrderRow | Rejected:
            found = len(cells)
            try:
                if found != width:
                    check(cells)
                cells.append("")
                (
                    raw_id,
                    raw_status,
                    raw_created,
                    raw_paid_at,
                    raw_shipped_at,
                    raw_finished_at,
                    nick,
                    name,
                    address,
                    message,
                    phone,
                    tracking,
                    raw_method,
                    raw_goods,
                    raw_postage,
                    raw_total,
                    raw_paid,
                    raw_refunded,
                    raw_courier,
                    raw_memo_new,
                    raw_memo_old,
                    raw_close,
                    raw_count,
                ) = fetch(cells)
                status, cod = statuses[raw_status]
                method = methods[raw_method]
                # The common times take the fast path of ``when`` inline.
                created: datetime | None
                if fast_times and len(raw_created) == 19 and raw_created >= "1992":
                    try:
                        created = fromisoformat(raw_created + "+00:00") - eight_hours
                    except ValueError:
                        created = when(raw_created, "订单创建时间")
                else:
                    created = when(raw_created, "订单创建时间")
                if created is None:
                    raise _Reject(say("{column} is empty", column="订单创建时间"))
                paid_at: datetime | None = None
                if fast_times and len(raw_paid_at) == 19 and raw_paid_at >= "1992":
                    try:
                        paid_at = fromisoformat(raw_paid_at + "+00:00") - eight_hours
                    except ValueError:
                        paid_at = when(raw_paid_at, "订单付款时间")
                elif raw_paid_at:
                    paid_at = when(raw_paid_at, "订单付款时间")
                finished_at: datetime | None = None
                if fast_times and len(raw_finished_at) == 19 and raw_finished_at >= "1992":
                    try:
                        finished_at = fromisoformat(raw_finished_at + "+00:00") - eight_hours
                    except ValueError:
                        finished_at = when(raw_finished_at, "确认收货时间")
                elif raw_finished_at:
                    finished_at = when(raw_finished_at, "确认收货时间")
                shipped_at = when(raw_shipped_at, "发货时间") if raw_shipped_at else None
                if created > latest:
                    _future("订单创建时间", raw_created)
                if paid_at is not None and paid_at > latest:
                    _future("订单付款时间", raw_paid_at)
                if shipped_at is not None and shipped_at > latest:
                    _future("发货时间", raw_shipped_at)
                if finished_at is not None and finished_at > latest:
                    _future("确认收货时间", raw_finished_at)
                # The order number, usually written ="…"; anything unusual goes the long way.
                order_id = raw_id
                if raw_id.startswith('="') and raw_id.endswith('"'):
                    order_id = raw_id[2:-1]
                if not (order_id.isdigit() and order_id.isascii() and len(order_id) <= 32):
                    order_id = platform_id(raw_id, "订单编号")
                # Free-text cells: strip, and unwrap ="…" only when the cell starts so.
                nick = nick.strip()
                if nick.startswith("="):
                    nick = clean(nick)
                name = name.strip()
                if name.startswith("="):
                    name = clean(name)
                address = address.strip()
                if address.startswith("="):
                    address = clean(address)
                message = message.strip()
                if message.startswith("="):
                    message = clean(message)
                phone = phone.strip()
                if phone.startswith(number_marks):
                    phone = number_text(phone)
                if not phone:
                    phone = number_text(cells[i_phone])
                tracking = tracking.strip()
                if tracking.startswith(number_marks):
                    tracking = number_text(tracking)
                row = OrderRow(
                    line,
                    order_id,
                    nick,
                    status,
                    goods_fen[raw_goods],
                    postage_fen[raw_postage],
                    total_fen[raw_total],
                    paid_fen[raw_paid],
                    refunded_fen[raw_refunded],
                    name,
                    phone,
                    address,
                    message,
                    method,
                    couriers[raw_courier],
                    tracking,
                    memos_new[raw_memo_new] or memos_old[raw_memo_old],
                    close_reasons[raw_close],
                    item_count[raw_count],
                    cod or COD_SHIPPING in method,
                    created,
                    paid_at,
                    shipped_at,
                    finished_at,
                    cells,
                )
            except _Reject as problem:
                return Rejected(line, problem.reason, cells[:found], _readable_id(cells, i_id))
            cells.pop()  # the appended empty cell
            return row

        return parse

    def _item_parser(self) -> Callable[[int, list[str]], ItemRow | Rejected]:
        width, check, index = self._layout(ITEM_REQUIRED)
        i_id, i_title, i_price, i_quantity = (index(name) for name in ITEM_REQUIRED)
        i_sku_text = index("商品属性")
        i_sku_code = index("商家编码")
        i_outer_id = index("外部系统编号")
        i_memo = index("备注")
        titles = _Memo(clean_cell)
        prices = _Memo(partial(_fen, column="价格"))
        quantities = _Memo(partial(_count, column="购买数量", positive=True))
        sku_texts = _Memo(clean_cell)
        sku_codes = _Memo(_clean_number_text)
        memos = _Memo(clean_cell)

        def parse(line: int, cells: list[str]) -> ItemRow | Rejected:
            found = len(cells)
            try:
                if found != width:
                    check(cells)
                cells.append("")
                title = titles[cells[i_title]]
                if not title:
                    raise _Reject(say("{column} is empty", column="标题"))
                price = cells[i_price]
                if not price.strip():
                    raise _Reject(say("{column} is empty", column="价格"))
                row = ItemRow(
                    line,
                    _platform_id(cells[i_id], "订单编号"),
                    title,
                    prices[price],
                    quantities[cells[i_quantity]],
                    sku_texts[cells[i_sku_text]],
                    sku_codes[cells[i_sku_code]] or sku_codes[cells[i_outer_id]],
                    memos[cells[i_memo]],
                    cells,
                )
            except _Reject as problem:
                return Rejected(line, problem.reason, cells[:found], _readable_id(cells, i_id))
            cells.pop()  # the appended empty cell
            return row

        return parse

    def _csv_rows(
        self, parse: Callable[[int, list[str]], Any]
    ) -> Iterator[OrderRow | ItemRow | Rejected]:
        """Parsed CSV records with the physical line each starts on."""
        reader = self._csv
        binary = self._binary
        assert binary is not None
        previous = reader.line_num
        count = 0
        ours = self._ours
        try:
            for cells in reader:
                line = previous + 1
                previous = reader.line_num
                if not cells or (not cells[0].strip() and not any(c.strip() for c in cells)):
                    continue
                if ours:
                    cells = [unquote_cell(c) for c in cells]
                count += 1
                if not count % _PROGRESS_EVERY:
                    self.bytes_read = binary.tell()
                yield parse(line, cells)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._broken(previous + 1, exc) from exc
        self.bytes_read = self.bytes_total

    def _sheet_rows(
        self, parse: Callable[[int, list[str]], Any]
    ) -> Iterator[OrderRow | ItemRow | Rejected]:
        """Parsed spreadsheet rows; ``line`` is the sheet row number."""
        rows = self._xlsx_rows
        counting = self._counting
        assert rows is not None and counting is not None
        # Only a report with order numbers has them checked for lost digits.
        id_index = self._columns.get("订单编号")
        line = self._header_line
        count = 0
        while True:
            try:
                values = next(rows, None)
            except Exception as exc:  # zip, XML and openpyxl errors come in many classes
                raise ExportError(
                    say(
                        "row {line}: the workbook cannot be read ({problem})",
                        line=line + 1,
                        problem=str(exc),
                    )
                ) from exc
            if values is None:
                break
            line += 1
            cells = [_xlsx_text(v) for v in values]
            if not any(c.strip() for c in cells):
                continue
            if self._ours:  # a rejects file saved as a workbook
                cells = [unquote_cell(c) for c in cells]
            count += 1
            if not count % _PROGRESS_EVERY:
                self.bytes_read = max(self.bytes_read, counting.position)
            lossy = None if id_index is None else _lossy_id(values, id_index)
            if lossy is not None:
                yield Rejected(line, lossy, cells)  # the number itself cannot be trusted
                continue
            yield parse(line, cells)
        self.bytes_read = self.bytes_total

    # -- closing ------------------------------------------------------------

    def close(self) -> None:
        """Close the file; safe to call more than once."""
        if self._book is not None:
            with contextlib.suppress(Exception):
                self._book.close()
            self._book = None
        if self._text is not None:
            self._text.close()
            self._text = None
        if self._binary is not None:
            self._binary.close()
            self._binary = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _lossy_id(values: tuple[Any, ...], id_index: int) -> str | None:
    """Why a spreadsheet order number cannot be trusted, or ``None`` when it can."""
    if id_index < len(values) and isinstance(values[id_index], float):
        value = values[id_index]
        shown = f"{value:.6g}" if math.isfinite(value) else str(value)
        return say(
            "{column} {value} is stored as a floating-point number, which loses digits; "
            "format the column as text",
            column="订单编号",
            value=shown,
        )
    return None


def _readable_id(cells: list[str], index: int) -> str:
    """The order number of a refused row when it is well formed, else ``""``."""
    if index >= len(cells):
        return ""
    try:
        return _platform_id(cells[index], "订单编号")
    except _Reject:
        return ""


def _row_shape(width: int, required: dict[str, int]) -> Callable[[list[str]], None]:
    """A check for rows whose cell count differs from the header.

    ``required`` maps the required column names to their indexes. A short row is padded
    with empty cells when it still reaches every required column, else rejected naming
    the first required column it lacks; a long row is cut back when its surplus cells
    are empty, else rejected.
    """
    last_required = max(required.values())

    def check(cells: list[str]) -> None:
        found = len(cells)
        if found > width:
            if any(cell.strip() for cell in cells[width:]):
                raise _Reject(
                    say(
                        "the row has {found} cells but the header has {width}",
                        found=found,
                        width=width,
                    )
                )
            del cells[width:]
        elif found <= last_required:
            lacking = min((i, name) for name, i in required.items() if i >= found)[1]
            raise _Reject(
                say(
                    "the row has {found} cells but the header has {width}; {column} is missing",
                    found=found,
                    width=width,
                    column=lacking,
                )
            )
        else:
            cells.extend([""] * (width - found))

    return check


def open_orders(
    path: str | Path, *, zone: str = DEFAULT_ZONE, now: datetime | None = None
) -> ExportReader:
    """Open an order list (``ExportOrderList…``); times are read in the shop's ``zone``,
    and a row with a time more than a day after ``now`` is rejected."""
    return ExportReader(path, "orders", zone=zone, now=now)


def open_items(path: str | Path, *, zone: str = DEFAULT_ZONE) -> ExportReader:
    """Open an item list (``ExportOrderDetailList…``)."""
    return ExportReader(path, "items", zone=zone)


@dataclass(frozen=True)
class ReportShape:
    """Another report of the seller centre (a refund or review report): what it is
    called in messages, the columns it cannot do without, and its row parser."""

    name: str
    required: tuple[str, ...]
    parser: RowParserFactory


def open_report(
    path: str | Path, shape: ReportShape, *, zone: str = DEFAULT_ZONE, now: datetime | None = None
) -> ExportReader:
    """Open a report of ``shape``: the same files, encodings, ``="…"`` cells, header
    matching and rejections as the order list, rows parsed by ``shape.parser``."""
    return ExportReader(path, "report", zone=zone, now=now, report=shape)


# Building blocks for the row parsers of other reports, which live in the packages
# that store their rows: raise ``RowReject(reason)`` inside a parser to reject a row.
RowReject = _Reject
Memo = _Memo
read_id = _platform_id
read_fen = _fen
shown_cell = _shown


def within_length(value: str, column: str, limit: int) -> str:
    """``value`` when it has at most ``limit`` characters; else the row is rejected
    (a cut text would be stored as if the buyer had written it)."""
    if len(value) > limit:
        raise _Reject(
            say(
                "{column} is {length} characters long; at most {limit} are kept",
                column=column,
                length=len(value),
                limit=limit,
            )
        )
    return value


def choice(table: dict[str, _T], raw: str, column: str) -> _T:
    """The value ``table`` gives a cell's text (spaces, ``="…"`` and a full-width or
    ASCII comma made no difference); an unknown text rejects the row."""
    text = clean_cell(raw)
    found = table.get(text)
    if found is None:
        found = table.get(text.replace(",", "，"))
    if found is not None:
        return found
    if not text:
        raise _Reject(say("{column} is empty", column=column))
    raise _Reject(
        say(
            '{column} "{value}" is none of: {choices}',
            column=column,
            value=_shown(raw),
            choices=", ".join(k for k in table if k),
        )
    )


def check_order(earlier: datetime | None, later: datetime | None, columns: tuple[str, str]) -> None:
    """Reject the row when the time in ``columns[1]`` comes before that in ``columns[0]``."""
    if earlier is not None and later is not None and later < earlier:
        raise _Reject(say("{later} is before {earlier}", later=columns[1], earlier=columns[0]))


# The columns a rejects file adds to its input's.
REJECTS_COLUMNS = ("行号", "原因")


def write_rejects(
    path_for_input: str | Path,
    header: list[str],
    rejected: Iterable[Rejected],
    encoding: str,
) -> Path:
    """Write ``<stem>.rejects.csv`` beside the input and return its path.

    The file has the input's header plus ``行号`` (line) and ``原因`` (reason), each
    rejected row's cells as found (short rows padded so the two extra columns line up),
    and the input's encoding; an xlsx input gets a UTF-8 CSV with a byte-order mark so
    spreadsheets open it correctly. Only its owner may read it: its rows hold buyers'
    contact details.

    The seller opens it in a spreadsheet, so its cells are neutralised like every
    export's (a cell such as ``="1234"`` or ``-5`` is written ``'="1234"``, ``'-5``).
    Fixed rows can be imported again from this file, as a CSV or saved as a workbook:
    the reader knows the file by its two extra columns (keep them; they are ignored by
    name), takes the added quotes off again, and so reads the cells as exported.
    """
    source = Path(path_for_input)
    target = source.with_name(f"{source.stem}.rejects.csv")
    out_encoding = "utf-8-sig" if encoding == "xlsx" else encoding
    width = len(header)
    with open_private(target, "w", encoding=out_encoding, newline="") as out:
        writer = csv_writer(out)
        writer.writerow([*header, *REJECTS_COLUMNS])
        for row in rejected:
            cells = row.cells + [""] * (width - len(row.cells))
            writer.writerow([*cells, str(row.line), row.reason])
    return target
