"""Import the seller centre's refund report (退款报表) into a shop's refunds (S1).

Refunds are matched by the platform's 退款编号 within the shop, so a second import
of a file changes nothing and a later export moves the refunds it finds further on.
A row is rejected, with its line and reason, when a cell cannot be read (an unknown
退款状态 or 货物状态 text, an amount, an impossible time: unreadable, more than a
day ahead, or the end before the request), when its order is not known to the shop
(the orders are imported first), or when it asks back more than the buyer paid.

The platform decides a refund's states; an import records them as they are rather
than asking :func:`xiaoer.aftersales.refund_states.next_state`, but leaves what a move
made here leaves: an audit entry and a ``refund.status`` event for each refund whose
states changed. The order's refunded total is left as the order list says it (退款金额);
what may still be refunded reads both (:func:`xiaoer.aftersales.refunds.refunded_fen`),
so a refund in both reports is never counted twice.

After the rows, every refund still open on the platform without a ticket gets one, and
each ticket whose refund moved gets a timeline line (:mod:`xiaoer.aftersales.imported`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.imported import note_moved_refunds, open_refund_tickets
from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import (
    GOODS_OF_TEXT,
    STATUS_OF_TEXT,
    GoodsStatus,
    RefundKind,
    RefundStatus,
)
from xiaoer.aftersales.refunds import record_refund_change
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.orders.models import Order
from xiaoer.sellercentre.exports import (
    ExportReader,
    Memo,
    Rejected,
    ReportShape,
    RowReject,
    check_order,
    choice,
    clean_cell,
    read_fen,
    read_id,
    within_length,
)
from xiaoer.sellercentre.ingest import Progress, among, driver_of, take_ids
from xiaoer.sellercentre.reports import (
    Later,
    RawRow,
    ReportKind,
    ReportResult,
    ReportRun,
    import_report_file,
)
from xiaoer.staff.models import StaffAccount

REFUND_ID = "退款编号"
REQUIRED = ("订单编号", REFUND_ID, "退款状态", "买家退款金额")

_TABLE = cast(Table, Refund.__table__)
_ORDER_TABLE = cast(Table, Order.__table__)

# The refund columns an import writes, beside its keys and times of its own.
_FIELDS = (
    "order_id", "kind", "status", "goods", "amount_fen", "reason", "return_carrier",
    "return_waybill", "deadline_at", "applied_at", "finished_at", "responsible", "phase",
    "intervention",
)  # fmt: skip
_COPY_COLUMNS = (
    "id", "shop_id", "platform_refund_id", "import_digest", "refusal", "created_at",
    "updated_at", *_FIELDS,
)  # fmt: skip


def _limit(name: str) -> int:
    return int(_TABLE.c[name].type.length)  # type: ignore[attr-defined]


# The report's texts, codes accepted too; an empty 货物状态 or 是否需要退货 says nothing.
_STATUS = {**STATUS_OF_TEXT, **{s.value: s for s in RefundStatus}}
_GOODS = {**GOODS_OF_TEXT, **{g.value: g for g in GoodsStatus}, "": GoodsStatus.BUYER_NOT_RECEIVED}
_KIND = {"是": RefundKind.return_refund, "否": RefundKind.refund_only, "": RefundKind.refund_only}
_PHASE = {"售中": "onsale", "售后": "aftersale", "": ""}


@dataclass(slots=True)
class RefundRow:
    """One row of the refund report, amounts in fen, times in UTC."""

    line: int
    platform_refund_id: str
    platform_order_id: str
    kind: RefundKind
    status: RefundStatus
    goods: GoodsStatus
    amount_fen: int
    reason: str
    return_carrier: str
    return_waybill: str
    deadline_at: datetime | None
    applied_at: datetime | None
    finished_at: datetime | None
    responsible: str
    phase: str
    intervention: str


def _row_parser(reader: ExportReader) -> Callable[[int, list[str]], RefundRow | Rejected]:
    _width, _check, index = reader.layout(REQUIRED)
    when = reader.time_parser()
    deadline = reader.time_parser(ahead=True)  # the platform's deadline lies ahead
    fetch = itemgetter(
        *(index(name) for name in REQUIRED),
        *(index(name) for name in ("货物状态", "是否需要退货", "买家退款原因", "退货物流公司")),
        *(index(name) for name in ("退货物流单号", "超时时间", "退款的申请时间", "退款完结时间")),
        *(index(name) for name in ("完结时间", "责任方", "售中或售后", "客服介入状态")),
    )
    statuses = Memo(partial(choice, _STATUS, column="退款状态"))
    goods_states = Memo(partial(choice, _GOODS, column="货物状态"))
    kinds = Memo(partial(choice, _KIND, column="是否需要退货"))
    phases = Memo(partial(choice, _PHASE, column="售中或售后"))
    amounts = Memo(partial(read_fen, column="买家退款金额"))
    texts = Memo(clean_cell)
    limits = {name: _limit(name) for name in ("reason", "return_carrier", "return_waybill")}
    limits |= {name: _limit(name) for name in ("responsible", "intervention")}

    def read(line: int, cells: list[str]) -> RefundRow:
        (
            raw_order, raw_refund, raw_status, raw_amount, raw_goods, raw_back, raw_reason,
            raw_carrier, raw_waybill, raw_deadline, raw_applied, raw_finished,
            raw_finished_old, raw_responsible, raw_phase, raw_intervention,
        ) = fetch(cells)  # fmt: skip
        if not clean_cell(raw_amount):
            raise RowReject(say("{column} is empty", column="买家退款金额"))
        applied = when(raw_applied, "退款的申请时间")
        finished_column = "退款完结时间" if clean_cell(raw_finished) else "完结时间"
        finished = when(raw_finished or raw_finished_old, finished_column)
        check_order(applied, finished, ("退款的申请时间", finished_column))
        return RefundRow(
            line,
            read_id(raw_refund, REFUND_ID),
            read_id(raw_order, "订单编号"),
            kinds[raw_back],
            statuses[raw_status],
            goods_states[raw_goods],
            amounts[raw_amount],
            within_length(texts[raw_reason], "买家退款原因", limits["reason"]),
            within_length(texts[raw_carrier], "退货物流公司", limits["return_carrier"]),
            within_length(texts[raw_waybill], "退货物流单号", limits["return_waybill"]),
            deadline(raw_deadline, "超时时间"),
            applied,
            finished,
            within_length(texts[raw_responsible], "责任方", limits["responsible"]),
            phases[raw_phase],
            within_length(texts[raw_intervention], "客服介入状态", limits["intervention"]),
        )

    return reader.row_parser(REQUIRED, read)


REFUND_REPORT = ReportShape(say("refund report (退款报表)"), REQUIRED, _row_parser)


@dataclass
class RefundImportResult(ReportResult):
    """The counts and rejections, and the refunds to act on (tickets): those created,
    and those whose states an import moved."""

    new_refund_ids: list[int] = field(default_factory=list)
    moved_refund_ids: list[int] = field(default_factory=list)


@dataclass
class _RefundRun(ReportRun):
    now: datetime = field(default_factory=utcnow)
    by: int | None = None  # the staff account importing, None from the command line
    actor: str = "import"


def _values(row: RefundRow, order_id: int) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in _FIELDS if name != "order_id"}
    values.update(order_id=order_id, kind=row.kind.value, status=row.status.value,
                  goods=row.goods.value)  # fmt: skip
    return values


async def _store(
    session: AsyncSession, run: ReportRun, raws: list[RawRow]
) -> Later | None:
    """Parse, check and write a chunk of the report; on PostgreSQL the new refunds
    (their ids taken) and the orders' refunded totals are left to write later."""
    assert isinstance(run, _RefundRun)
    result = cast(RefundImportResult, run.result)
    counts = result.counts
    columns = [_TABLE.c[name] for name in ("platform_refund_id", "id", "import_digest", *_FIELDS)]
    stored = {
        pid: (rid, digest, dict(zip(_FIELDS, rest, strict=True)))
        for pid, rid, digest, *rest in await session.execute(
            select(*columns).where(
                _TABLE.c.shop_id == run.shop_id,
                among(run.postgres, _TABLE.c.platform_refund_id, [r.key for r in raws]),
            )
        )
    }
    parsed: list[RefundRow] = []
    digests: dict[str, int] = {}
    for raw in raws:
        known = stored.get(raw.key)
        if known is not None and known[1] == raw.digest:
            counts.unchanged += 1
            continue
        row = run.parse(raw)
        if isinstance(row, RefundRow):
            parsed.append(row)
            digests[row.platform_refund_id] = raw.digest
        else:
            run.reject(cast(Rejected, row))
    orders = {
        pid: (oid, paid)
        for pid, oid, paid in await session.execute(
            select(
                _ORDER_TABLE.c.platform_order_id, _ORDER_TABLE.c.id, _ORDER_TABLE.c.paid_fen
            ).where(
                _ORDER_TABLE.c.shop_id == run.shop_id,
                among(
                    run.postgres,
                    _ORDER_TABLE.c.platform_order_id,
                    {r.platform_order_id for r in parsed},
                ),
            )
        )
    }
    raw_at = {raw.line: raw for raw in raws}
    new: list[tuple[RefundRow, int, int]] = []  # (row, order id, fingerprint)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (values, as stored)
    for row in parsed:
        order = orders.get(row.platform_order_id)
        if order is None:
            why = say(
                "order {order} is not known to the shop; import the orders first",
                order=row.platform_order_id,
            )
            run.refuse(raw_at[row.line], why)
            continue
        if row.amount_fen > order[1]:
            why = say(
                "the refund of {amount} fen is more than the {paid} fen the buyer paid",
                amount=row.amount_fen,
                paid=order[1],
            )
            run.refuse(raw_at[row.line], why)
            continue
        known = stored.get(row.platform_refund_id)
        if known is None:
            new.append((row, order[0], digests[row.platform_refund_id]))
        else:
            values = _values(row, order[0])
            values["import_digest"] = digests[row.platform_refund_id]
            rid, _digest, before = known
            if all(before[name] == values[name] for name in _FIELDS):
                counts.unchanged += 1  # a column we do not keep changed
                changed.append(({"id": rid, "import_digest": values["import_digest"]}, before))
                continue
            changed.append(({**values, "id": rid, "updated_at": run.now}, before))
    records = await _insert(session, run, new)
    result.new_refund_ids += [record[0] for record in records]
    counts.created += len(new)
    # Rows whose stored values stand get only their new fingerprint.
    for moved in (True, False):
        rows = [values for values, _before in changed if ("status" in values) is moved]
        if rows:
            await session.execute(update(Refund), rows)
    for values, before in changed:
        if "status" not in values:
            continue
        counts.updated += 1
        if (values["status"], values["goods"]) != (before["status"], before["goods"]):
            result.moved_refund_ids.append(values["id"])
            await record_refund_change(
                session,
                shop_id=run.shop_id,
                refund_id=values["id"],
                order_id=values["order_id"],
                kind=values["kind"],
                amount_fen=values["amount_fen"],
                state=(values["status"], values["goods"]),
                before=(before["status"], before["goods"]),
                action="import",
                actor=run.actor,
                by=run.by,
                moment=run.now,
                reason="newer seller-centre refund report",
            )
    if not run.postgres:
        return None

    async def write(later: AsyncSession) -> None:
        driver = await driver_of(later)
        await driver.copy_records_to_table("refund", records=records, columns=_COPY_COLUMNS)

    return write if records else None


def _record(run: _RefundRun, row: RefundRow, order_id: int, digest: int) -> tuple[Any, ...]:
    """A new refund's values in the order of ``_COPY_COLUMNS``, its id still None."""
    return (
        None, run.shop_id, row.platform_refund_id, digest, "", run.now, run.now, order_id,
        row.kind.value, row.status.value, row.goods.value, row.amount_fen, row.reason,
        row.return_carrier, row.return_waybill, row.deadline_at, row.applied_at,
        row.finished_at, row.responsible, row.phase, row.intervention,
    )  # fmt: skip


async def _insert(
    session: AsyncSession, run: _RefundRun, new: list[tuple[RefundRow, int, int]]
) -> list[tuple[Any, ...]]:
    """The new refunds with their ids, in the order of ``_COPY_COLUMNS``: on PostgreSQL
    the ids are taken from the sequence and the rows left to COPY; elsewhere the rows
    are inserted here."""
    if not new:
        return []
    records = [_record(run, row, order_id, digest) for row, order_id, digest in new]
    if run.postgres:
        taken = await take_ids(session, "refund", len(records))
        return [(rid, *record[1:]) for rid, record in zip(taken, records, strict=True)]
    names = _COPY_COLUMNS[1:]
    await session.execute(insert(_TABLE), [dict(zip(names, r[1:], strict=True)) for r in records])
    ids = {
        pid: rid
        for pid, rid in await session.execute(
            select(_TABLE.c.platform_refund_id, _TABLE.c.id).where(
                _TABLE.c.shop_id == run.shop_id,
                among(False, _TABLE.c.platform_refund_id, [r[2] for r in records]),
            )
        )
    }
    return [(ids[record[2]], *record[1:]) for record in records]


def _key(reader: ExportReader, cells: list[str]) -> str:
    return reader.id_in(cells, REFUND_ID)


async def import_refunds(
    db: Database,
    shop_id: int,
    path: Path,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    by: int | None = None,
) -> RefundImportResult:
    """Import a refund report into the shop; see the module's text. ``by``: the staff
    account importing (None from the command line).

    Raises :class:`xiaoer.sellercentre.exports.ExportError` when the file cannot be
    read as a refund report at all; nothing is written then.
    """
    now = now or utcnow()
    result = RefundImportResult()
    async with db.session() as session:
        staff = await session.get(StaffAccount, by) if by is not None else None
        actor = (staff.number or staff.username) if staff is not None else "import"
    run = _RefundRun(shop_id, path.name, result, db.dialect == "postgresql", now=now, by=by,
                     actor=actor)  # fmt: skip
    await import_report_file(db, run, path, _IMPORT, now=now, progress=progress)
    await note_moved_refunds(db, shop_id, result.moved_refund_ids, now)
    result.tickets_opened = await open_refund_tickets(db, shop_id, now)
    async with db.session() as session:
        summary = {"file": path.name, **result.summary()}
        await record_event(session, shop_id, "refund.imported", summary, at=now)
        await session.commit()
    return result


_IMPORT = ReportKind(REFUND_REPORT, _key, _store, "refunds", "refund")
