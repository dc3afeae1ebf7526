"""Stock-take (盘点, F3): a count sheet per location out to Excel and back in.

A take starts with a line for every SKU that has a level at the location, what the
ledger holds (``expected``) and the ledger's last move id. Counts come back from the
filled sheet (a page upload or ``xiaoer stock take FILE``), read as the seller-centre
reports are (a workbook or a CSV file, in chunks, a rejects file beside it), or are
typed on the page.
The goods keep moving meanwhile: a line's expected figure at posting is ``expected``
plus the moves of its SKU at the location since the start, so a parcel shipped
mid-count is not taken for a loss. A difference beyond the policy's ``recount_over``
is counted again first; then the whole adjustment posts as one ``take`` document of
``adjust`` moves at the server's time, once.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Product, Sku
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound
from xiaoer.core.events import record_event
from xiaoer.core.files import open_private
from xiaoer.core.policy_store import policy_on
from xiaoer.core.sheets import WORKBOOK_STARTS, unquote_cell, write_sheet
from xiaoer.core.texts import say
from xiaoer.fulfilment.ledger import Actor, Document, Line, StockError, post
from xiaoer.fulfilment.models import (
    MoveKind,
    StockLevel,
    StockLocation,
    StockMove,
    StockTake,
    StockTakeLine,
    TakeStatus,
)
from xiaoer.fulfilment.stock import actor_of, check_keep_stock, check_read_stock, location_of
from xiaoer.sellercentre.exports import (
    ExportReader,
    Rejected,
    ReportShape,
    write_rejects,
)
from xiaoer.sellercentre.ingest import CHUNK, Progress, among
from xiaoer.sellercentre.parsing import Opening, open_source
from xiaoer.staff.models import StaffAccount

CODE, TITLE, ATTRIBUTES, PLACE, BOOKED, COUNTED = (
    "商家编码",
    "标题",
    "属性",
    "库位",
    "账面数",
    "实盘数",
)
OPEN = (TakeStatus.counting.value, TakeStatus.recount.value)


async def take_of(session: AsyncSession, staff: StaffAccount, take_id: int) -> StockTake:
    check_read_stock(staff)
    take = await session.get(StockTake, take_id)
    if take is None or take.shop_id != staff.shop_id:
        raise NotFound(say("no such stock-take"))
    return take


async def takes_of(session: AsyncSession, staff: StaffAccount, limit: int = 100) -> list[StockTake]:
    check_read_stock(staff)
    return list(
        await session.scalars(
            select(StockTake)
            .where(StockTake.shop_id == staff.shop_id)
            .order_by(StockTake.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class TakeLineView:
    line: StockTakeLine
    code: str
    title: str
    attributes: str

    @property
    def final(self) -> int | None:
        return self.line.recounted if self.line.recounted is not None else self.line.counted


async def lines_of(session: AsyncSession, take: StockTake) -> list[TakeLineView]:
    rows = (
        await session.execute(
            select(StockTakeLine, Sku, Product.title)
            .join(Sku, Sku.id == StockTakeLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(StockTakeLine.take_id == take.id)
            .order_by(Sku.code)
        )
    ).all()
    return [TakeLineView(line, sku.code, title, sku.attribute_text) for line, sku, title in rows]


# --- start ---------------------------------------------------------------------------------


async def check_start_take(
    session: AsyncSession, staff: StaffAccount, location_id: int
) -> StockLocation:
    check_keep_stock(staff)
    location = await location_of(session, staff, location_id)
    running = await session.scalar(
        select(StockTake.id).where(
            StockTake.shop_id == staff.shop_id,
            StockTake.location_id == location.id,
            StockTake.status.in_(OPEN),
        )
    )
    if running is not None:
        raise StockError(say("the location {code} is being counted already (take {take})",
                             code=location.code, take=running))  # fmt: skip
    return location


async def do_start_take(
    session: AsyncSession, staff: StaffAccount, *, location_id: int, note: str = ""
) -> StockTake:
    location = await check_start_take(session, staff, location_id)
    # Moves in flight hold their level rows: waiting for them here means every move
    # not yet in the expected figures gets an id after the one read below.
    levels = list(
        (
            await session.execute(
                select(StockLevel.sku_id, StockLevel.on_hand)
                .where(StockLevel.location_id == location.id)
                .order_by(StockLevel.sku_id)
                .with_for_update(read=True)
            )
        ).all()
    )
    last = await session.scalar(select(func.max(StockMove.id))) or 0
    threshold = (await policy_on(session, staff.shop_id)).fulfilment.recount_over
    take = StockTake(
        shop_id=staff.shop_id, location_id=location.id, status=TakeStatus.counting.value,
        threshold=threshold, started_move_id=last, started_by=staff.id, started_at=utcnow(),
        note=note.strip(),
    )  # fmt: skip
    session.add(take)
    await session.flush()
    session.add_all(
        StockTakeLine(take_id=take.id, sku_id=sku, expected=on_hand) for sku, on_hand in levels
    )
    await session.flush()
    await record_event(session, staff.shop_id, "stock.take",
                       {"take_id": take.id, "location_id": location.id, "status": take.status,
                        "lines": len(levels), "by": staff.id})  # fmt: skip
    return take


async def count_sheet(
    session: AsyncSession, staff: StaffAccount, take_id: int, *, show_expected: bool = False
) -> tuple[str, bytes]:
    """The count sheet to fill in (a file name and an XLSX workbook): only the lines
    waiting for a recount while the take is in ``recount``."""
    take = await take_of(session, staff, take_id)
    location = await session.get(StockLocation, take.location_id)
    assert location is not None
    headers = [CODE, TITLE, ATTRIBUTES, PLACE, *([BOOKED] if show_expected else []), COUNTED]
    rows = []
    for view in await lines_of(session, take):
        if take.status == TakeStatus.recount.value and not _waits(view.line):
            continue
        booked = [view.line.expected] if show_expected else []
        rows.append([view.code, view.title, view.attributes, location.code, *booked, ""])
    return f"stocktake-{take.id}-{location.code}.xlsx", write_sheet(
        f"盘点 {location.code}", headers, rows
    )


def _waits(line: StockTakeLine) -> bool:
    return line.needs_recount and line.recounted is None


# --- counts in ------------------------------------------------------------------------------


@dataclass
class CountReport:
    """What a count sheet did; the last line of ``xiaoer stock take``."""

    take_id: int | None = None
    read: int = 0
    counted: int = 0  # lines given a (first or second) count by this file
    unchanged: int = 0  # rows that said what the take had already
    rejected: list[tuple[int, Any]] = field(default_factory=list)  # (line, Text)
    recount: int = 0  # lines still waiting for a second count
    posted: int = 0  # adjust moves this file posted
    status: str = ""
    rejects_file: Path | None = None  # the rejected rows, beside the sheet

    def as_json(self) -> dict[str, Any]:
        return {
            "take": self.take_id, "read": self.read, "counted": self.counted,
            "unchanged": self.unchanged, "rejected": len(self.rejected), "recount": self.recount,
            "posted": self.posted, "status": self.status,
            "rejects": [{"line": line, "reason": str(reason)} for line, reason in self.rejected],
            "rejects_files": [str(self.rejects_file)] if self.rejects_file else [],
        }  # fmt: skip


def _count_of(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and text.isascii() else None


# --- the count sheet as a report -----------------------------------------------------------

REQUIRED = (CODE, COUNTED)
PHASE = "stock-take"


@dataclass(slots=True)
class CountRow:
    """One row of a filled count sheet, judged later against the whole file."""

    line: int
    code: str
    place: str
    count: int | None  # None: not a whole number of 0 or more
    cells: list[str]  # as read, cut to the header's width (for the rejects file)


def _count_parser(reader: ExportReader) -> Callable[[int, list[str]], CountRow]:
    """Every row parses: a count sheet's rows are judged by the stock-take's own rules
    once the whole file is read. Cells beyond the header are ignored and missing ones
    are empty, so a count left blank is a count that is not a whole number."""
    width, _check, index = reader.layout(REQUIRED)
    i_code, i_place, i_count = index(CODE), index(PLACE), index(COUNTED)

    def read(line: int, cells: list[str]) -> CountRow:
        kept = cells[:width]

        def cell(i: int) -> str:
            return unquote_cell(kept[i].strip(), WORKBOOK_STARTS).strip() if i < len(kept) else ""

        return CountRow(line, cell(i_code), cell(i_place), _count_of(cell(i_count)), kept)

    return read


COUNT_SHEET = ReportShape(say("stock-take count sheet (盘点表)"), REQUIRED, _count_parser)


@dataclass
class _Sheet:
    rows: list[CountRow] = field(default_factory=list)
    unreadable: list[Rejected] = field(default_factory=list)  # refused by the reader
    known: set[str] = field(default_factory=set)  # the rows' codes that are SKUs of the shop
    header: list[str] = field(default_factory=list)
    encoding: str = ""


def _count_entries(reader: ExportReader, apart: bool) -> Iterator[CountRow | Rejected]:
    """The sheet's rows, parsed (every row parses: see :func:`_count_parser`)."""
    for record in reader.records():
        yield record if isinstance(record, Rejected) else cast(CountRow, reader.parse(*record))


async def _read_sheet(
    session: AsyncSession, shop_id: int, path: Path, progress: Progress | None, chunk: int
) -> _Sheet:
    """Every row of the sheet, read a chunk at a time beside the import (see
    :func:`xiaoer.sellercentre.parsing.open_source`); each chunk's SKU codes looked up as
    it comes, and ``progress`` told after it. Raises :class:`ExportError` when the file
    is not a count sheet at all."""
    sheet = _Sheet()
    postgres = session.get_bind().dialect.name == "postgresql"
    told = -1
    async with open_source(Opening(path, "report", shape=COUNT_SHEET), _count_entries,
                           chunk) as reader:  # fmt: skip
        sheet.header, sheet.encoding = reader.header, reader.encoding
        async with contextlib.aclosing(reader.chunks()) as batches:
            async for batch in batches:
                codes: set[str] = set()
                for entry in batch:
                    if isinstance(entry, Rejected):
                        sheet.unreadable.append(entry)
                        continue
                    sheet.rows.append(entry)
                    codes.add(entry.code)
                sheet.known.update(
                    await session.scalars(
                        select(Sku.code).where(
                            Sku.shop_id == shop_id, among(postgres, Sku.code, codes)
                        )
                    )
                )
                if progress is not None:
                    told = reader.bytes_read
                    progress(PHASE, told, reader.bytes_total)
        if progress is not None and told != reader.bytes_total:
            progress(PHASE, reader.bytes_total, reader.bytes_total)
    return sheet


async def _take_at(session: AsyncSession, shop_id: int, code: str) -> StockTake | None:
    """The open take of the location ``code``; else its last one, so that a sheet read
    again after its take posted is recognised (and changes nothing)."""
    return await session.scalar(
        select(StockTake)
        .join(StockLocation, StockLocation.id == StockTake.location_id)
        .where(StockTake.shop_id == shop_id, StockLocation.code == code)
        .order_by(StockTake.status.in_(OPEN).desc(), StockTake.id.desc())
        .limit(1)
    )


async def check_import_counts(
    session: AsyncSession, staff: StaffAccount, take_id: int | None
) -> None:
    """Counts come in from those who keep the stock, to a take of their own shop."""
    check_keep_stock(staff)
    if take_id is not None:
        await take_of(session, staff, take_id)


async def do_import_count_file(
    session: AsyncSession,
    staff: StaffAccount,
    path: Path,
    *,
    take_id: int | None = None,
    progress: Progress | None = None,
) -> CountReport:
    """Counts from a filled count sheet, a workbook or a CSV file (UTF-8 or GBK). The
    take is ``take_id`` (a page's upload) or the take of the sheet's 库位 (the command:
    its open one, else its last). The rows are read a chunk at a time, ``progress``
    told after each. Each row is judged alone: an unknown SKU, a count that is not a
    whole number of 0 or more, a SKU on two lines or more (every one of them), a row of
    another location is refused with its line; the rest count, all in the caller's
    transaction. The same file again changes nothing. When every line has its count
    and none waits for a recount, the take posts, as one document. The refused rows
    are written to ``<stem>.rejects.csv`` beside the file, with their line and reason.

    Raises :class:`xiaoer.sellercentre.exports.ExportError` when the file cannot be
    read as a count sheet at all (a required column missing, say); nothing is written
    then."""
    await check_import_counts(session, staff, take_id)
    return await import_count_file(
        session, staff.shop_id, actor_of(staff), path, take_id=take_id, progress=progress
    )


async def do_import_counts(
    session: AsyncSession,
    staff: StaffAccount,
    data: bytes,
    *,
    take_id: int | None = None,
    filename: str = "",
    progress: Progress | None = None,
) -> CountReport:
    """:func:`do_import_count_file` for a sheet given as bytes (an upload named
    ``filename``): it is read from a private temporary folder, which goes with its
    rejects file once the counts are in."""
    await check_import_counts(session, staff, take_id)
    return await import_counts(session, staff.shop_id, actor_of(staff), data, take_id=take_id,
                               filename=filename, progress=progress)  # fmt: skip


async def import_counts(
    session: AsyncSession,
    shop_id: int,
    actor: Actor,
    data: bytes,
    *,
    take_id: int | None = None,
    filename: str = "",
    progress: Progress | None = None,
) -> CountReport:
    """:func:`import_count_file` for a sheet given as bytes; see :func:`do_import_counts`."""
    with tempfile.TemporaryDirectory(prefix="xiaoer-stocktake-") as folder:
        path = Path(folder) / _upload_name(filename)
        with open_private(path) as out:
            out.write(data)
        report = await import_count_file(
            session, shop_id, actor, path, take_id=take_id, progress=progress
        )
    report.rejects_file = None  # removed with the folder; ``rejected`` lists the rows
    return report


def _upload_name(filename: str) -> str:
    """An upload's own name when it is a plain file name, else a name of ours with its
    extension (the reader tells a workbook from a CSV file by its first bytes anyway)."""
    name = filename.strip()
    if name and Path(name).name == name and not name.startswith(".") and len(name) <= 100:
        return name
    suffix = Path(name).suffix.lower()
    return "count-sheet" + (suffix if suffix in (".xlsx", ".csv") else "")


async def import_count_file(
    session: AsyncSession,
    shop_id: int,
    actor: Actor,
    path: Path,
    *,
    take_id: int | None = None,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> CountReport:
    """:func:`do_import_count_file` for the command line, which acts for the shop.

    The rows are read as the seller-centre reports are (the report reader with
    :data:`COUNT_SHEET`, :func:`xiaoer.sellercentre.parsing.open_source`,
    :func:`write_rejects`), but not through
    :func:`xiaoer.sellercentre.reports.import_report`: a SKU given twice refuses every
    line it is on, earlier ones included, so no row is judged before the whole file is
    read; and a take's counts go in in one transaction (the caller's), not one per
    chunk, so the take posts from the whole sheet as one document, or not at all."""
    take: StockTake | None = None
    if take_id is not None:
        take = await session.get(StockTake, take_id)
        if take is None or take.shop_id != shop_id:
            raise NotFound(say("no such stock-take"))
    sheet = await _read_sheet(session, shop_id, path, progress, chunk)
    rows = sheet.rows
    if take is None:
        place = next((row.place for row in rows if row.place), "")
        if not place:
            raise StockError(say("the sheet names no location (column 库位)"))
        take = await _take_at(session, shop_id, place)
        if take is None:
            raise StockError(say("no stock-take at {code}", code=place))
    location = await session.get(StockLocation, take.location_id)
    assert location is not None
    report = CountReport(take_id=take.id, read=len(rows) + len(sheet.unreadable))
    report.rejected.extend((row.line, row.reason) for row in sheet.unreadable)
    views = {view.code: view for view in await lines_of(session, take)}
    seen: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        seen[row.code].append(row.line)
    counts: dict[int, tuple[int, int]] = {}  # line id → (sheet line, count)
    for row in rows:
        code = row.code
        if not code or code not in sheet.known:
            reason = say("no SKU {sku}", sku=code)
        elif len(seen[code]) > 1:
            reason = say("the SKU {sku} is on lines {lines}", sku=code,
                         lines=", ".join(str(n) for n in seen[code]))  # fmt: skip
        elif (row.place and row.place != location.code) or code not in views:
            reason = say(
                "the SKU {sku} is not on the sheet of {code}", sku=code, code=location.code
            )
        elif row.count is None:
            reason = say("the count must be a whole number of 0 or more")
        else:
            counts[views[code].line.id] = (row.line, row.count)
            continue
        report.rejected.append((row.line, reason))
    by_id = {view.line.id: view.line for view in views.values()}
    await _apply_counts(session, actor, take, by_id, counts, report, sheet=True)
    if report.rejected:
        cells = {row.line: row.cells for row in rows}
        cells.update((row.line, row.cells) for row in sheet.unreadable)
        refused = [Rejected(line, str(why), cells[line]) for line, why in report.rejected]
        report.rejects_file = write_rejects(path, sheet.header, refused, sheet.encoding)
    return report


async def do_enter_counts(
    session: AsyncSession, staff: StaffAccount, take_id: int, counts: dict[int, int]
) -> CountReport:
    """Counts typed on the page, by SKU id (a first count, or a recount)."""
    check_keep_stock(staff)
    take = await take_of(session, staff, take_id)
    views = {view.line.sku_id: view.line for view in await lines_of(session, take)}
    report = CountReport(take_id=take.id, read=len(counts))
    given: dict[int, tuple[int, int]] = {}
    for sku, count in counts.items():
        if sku not in views:
            raise NotFound(say("no such SKU"))
        if count < 0:
            raise StockError(say("the count must be a whole number of 0 or more"))
        given[views[sku].id] = (0, count)
    await _apply_counts(session, actor_of(staff), take,
                        {line.id: line for line in views.values()}, given, report)  # fmt: skip
    return report


async def _apply_counts(
    session: AsyncSession,
    actor: Actor,
    take: StockTake,
    lines: dict[int, StockTakeLine],
    counts: dict[int, tuple[int, int]],
    report: CountReport,
    *,
    sheet: bool = False,
) -> None:
    """Give the lines their counts. In ``recount``, a second count is taken for the
    marked lines from the page, or from a sheet of only those lines (the recount sheet):
    a sheet that holds other lines too is the first sheet again, and changes nothing."""
    first_sheet_again = sheet and any(not _waits(lines[i]) for i in counts)
    for line_id, (number, count) in sorted(counts.items()):
        line = lines[line_id]
        final = line.recounted if line.recounted is not None else line.counted
        if take.status == TakeStatus.counting.value and line.counted != count:
            line.counted = count
            report.counted += 1
        elif take.status == TakeStatus.recount.value and _waits(line) and not first_sheet_again:
            line.recounted = count
            report.counted += 1
        elif final == count or line.counted == count:
            report.unchanged += 1
        else:
            reason = (
                say("the take is posted: its counts do not change")
                if take.status == TakeStatus.posted.value
                else say("only the lines marked for a recount take a second count")
            )
            report.rejected.append((number, reason))
    report.rejected.sort(key=lambda item: item[0])
    await session.flush()
    if take.status == TakeStatus.counting.value and all(
        line.counted is not None for line in lines.values()
    ):
        await _judge(session, take, list(lines.values()))
    if take.status == TakeStatus.recount.value and not any(_waits(x) for x in lines.values()):
        report.posted = await post_take(session, take, actor)
    report.recount = sum(1 for line in lines.values() if _waits(line))
    report.status = take.status
    if report.counted:
        await record_event(session, take.shop_id, "stock.take",
                           {"take_id": take.id, "location_id": take.location_id,
                            "status": take.status, "counted": report.counted,
                            "by": actor.id})  # fmt: skip


async def _moved_during(session: AsyncSession, take: StockTake) -> dict[int, int]:
    """On-hand change of each SKU at the take's location since the sheet went out."""
    rows = await session.execute(
        select(StockMove.sku_id, func.sum(StockMove.on_hand_delta))
        .where(
            StockMove.shop_id == take.shop_id,
            StockMove.location_id == take.location_id,
            StockMove.id > take.started_move_id,
        )
        .group_by(StockMove.sku_id)
    )
    return {sku: int(total or 0) for sku, total in rows.all()}


async def _judge(session: AsyncSession, take: StockTake, lines: list[StockTakeLine]) -> None:
    """Every line counted: differences beyond the threshold wait for a recount, else
    the take is ready to post (status ``recount`` with nothing waiting posts at once)."""
    moved = await _moved_during(session, take)
    for line in lines:
        line.moved_during = moved.get(line.sku_id, 0)
        assert line.counted is not None
        difference = line.counted - (line.expected + line.moved_during)
        line.difference = difference
        line.needs_recount = abs(difference) > take.threshold
    take.status = TakeStatus.recount.value
    await session.flush()


async def check_post_take(session: AsyncSession, staff: StaffAccount, take_id: int) -> StockTake:
    check_keep_stock(staff)
    take = await take_of(session, staff, take_id)
    if take.status == TakeStatus.posted.value:
        return take
    if take.status == TakeStatus.cancelled.value:
        raise StockError(say("the stock-take was cancelled"))
    lines = list(
        await session.scalars(select(StockTakeLine).where(StockTakeLine.take_id == take.id))
    )
    missing = sum(1 for line in lines if line.counted is None)
    if missing:
        raise StockError(say("{n} lines have no count yet", n=missing))
    waiting = sum(1 for line in lines if _waits(line))
    if waiting:
        raise StockError(say("{n} lines wait for a recount", n=waiting))
    return take


async def do_post_take(session: AsyncSession, staff: StaffAccount, take_id: int) -> int:
    """Post the take's differences as one ``take`` document of ``adjust`` moves; the
    number of moves posted (0 when it was posted already)."""
    take = await check_post_take(session, staff, take_id)
    return await post_take(session, take, actor_of(staff))


async def post_take(session: AsyncSession, take: StockTake, actor: Actor) -> int:
    if take.status == TakeStatus.posted.value:
        return 0
    lines = list(
        await session.scalars(
            select(StockTakeLine)
            .where(StockTakeLine.take_id == take.id)
            .order_by(StockTakeLine.sku_id)
        )
    )
    if take.status == TakeStatus.counting.value:
        await _judge(session, take, lines)
        if any(_waits(line) for line in lines):
            return 0
    # Hold the location's levels so no move slips between the sums and the posting.
    await session.execute(
        select(StockLevel.id)
        .where(
            StockLevel.location_id == take.location_id,
            StockLevel.sku_id.in_([line.sku_id for line in lines]),
        )
        .order_by(StockLevel.sku_id)
        .with_for_update()
    )
    moved = await _moved_during(session, take)
    adjustments: list[Line] = []
    for line in lines:
        line.moved_during = moved.get(line.sku_id, 0)
        final = line.recounted if line.recounted is not None else line.counted
        assert final is not None
        line.difference = final - (line.expected + line.moved_during)
        if line.difference:
            adjustments.append(Line(line.sku_id, take.location_id, line.difference))
    await post(session, take.shop_id, MoveKind.adjust, adjustments,
               document=Document("take", take.id, ref=f"盘点 #{take.id}"),
               actor=actor, reason=take.note or "盘点")  # fmt: skip
    take.status = TakeStatus.posted.value
    take.posted_by, take.posted_at = actor.id, utcnow()
    await session.flush()
    summary = {"lines": len(lines), "moves": len(adjustments),
               "units": sum(line.difference for line in lines)}  # fmt: skip
    await record_audit(session, shop_id=take.shop_id, actor=actor.label, entity="stock_take",
                       entity_id=str(take.id), action="posted", after=summary)  # fmt: skip
    await record_event(session, take.shop_id, "stock.take",
                       {"take_id": take.id, "location_id": take.location_id,
                        "status": take.status, **summary, "by": actor.id})  # fmt: skip
    return len(adjustments)
