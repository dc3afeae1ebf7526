"""Import the seller centre's review report (评价) into a shop's reviews (S5).

A review is one item of an order (子订单编号) reviewed by its buyer; it is matched
by the order and the sub-order within the shop, so a second import of a file changes
nothing. A later report that changes a review (the buyer turns 差评 into 好评, adds a
follow-up, the shop replies) updates it and records a ``review.changed`` event with
what it was and what it is. A row is rejected, with its line and reason, when its
order is not known to the shop, its 评价结果 is not 好评, 中评 or 差评, a time is
impossible, or a text is longer than the platform allows (500 characters).

The ids of the neutral and bad reviews created, and of the reviews a change made
neutral or bad, are returned (``bad_review_ids``, ``worsened_review_ids``) for
whatever acts on them next, e.g. tickets.
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

from xiaoer.aftersales.imported import open_review_tickets
from xiaoer.aftersales.models import Review, ReviewRating
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
    check_order,
    choice,
    clean_cell,
    read_id,
    within_length,
)
from xiaoer.sellercentre.ingest import Progress, among
from xiaoer.sellercentre.reports import (
    Later,
    RawRow,
    ReportKind,
    ReportResult,
    ReportRun,
    import_report_file,
)

SUB_ORDER = "子订单编号"
REQUIRED = ("订单编号", "评价结果")

_TABLE = cast(Table, Review.__table__)
_RATING = {"好评": ReviewRating.good, "中评": ReviewRating.neutral, "差评": ReviewRating.bad}
_RATING |= {r.value: r for r in ReviewRating}
_NOT_GOOD = frozenset({ReviewRating.neutral.value, ReviewRating.bad.value})

# The review columns an import writes; a change of the first four is the buyer's or
# the shop's, and is recorded as an event.
_SAID = ("rating", "content", "follow_up", "reply")
_FIELDS = (*_SAID, "item_title", "buyer_nick", "reviewed_at", "follow_up_at")


@dataclass(slots=True)
class ReviewRow:
    line: int
    platform_order_id: str
    platform_sub_order_id: str
    rating: ReviewRating
    content: str
    follow_up: str
    reply: str
    item_title: str
    buyer_nick: str
    reviewed_at: datetime | None
    follow_up_at: datetime | None


def _row_parser(reader: ExportReader) -> Callable[[int, list[str]], ReviewRow | Rejected]:
    _width, _check, index = reader.layout(REQUIRED)
    when = reader.time_parser()
    fetch = itemgetter(
        *(index(name) for name in ("订单编号", SUB_ORDER, "评价结果", "评价内容", "追评内容")),
        *(index(name) for name in ("解释内容", "宝贝标题", "买家会员名", "评价时间", "追评时间")),
    )
    ratings = Memo(partial(choice, _RATING, column="评价结果"))
    limit = {c.name: int(c.type.length) for c in _TABLE.c if hasattr(c.type, "length")}

    def text(raw: str, column: str, name: str) -> str:
        return within_length(clean_cell(raw), column, limit[name])

    def read(line: int, cells: list[str]) -> ReviewRow:
        (
            raw_order, raw_sub, raw_rating, raw_content, raw_follow_up, raw_reply,
            raw_title, raw_nick, raw_reviewed, raw_followed,
        ) = fetch(cells)  # fmt: skip
        reviewed = when(raw_reviewed, "评价时间")
        followed = when(raw_followed, "追评时间")
        check_order(reviewed, followed, ("评价时间", "追评时间"))
        return ReviewRow(
            line,
            read_id(raw_order, "订单编号"),
            read_id(raw_sub, SUB_ORDER) if clean_cell(raw_sub) else "",
            ratings[raw_rating],
            text(raw_content, "评价内容", "content"),
            text(raw_follow_up, "追评内容", "follow_up"),
            text(raw_reply, "解释内容", "reply"),
            text(raw_title, "宝贝标题", "item_title"),
            text(raw_nick, "买家会员名", "buyer_nick"),
            reviewed,
            followed,
        )

    return reader.row_parser(REQUIRED, read)


REVIEW_REPORT = ReportShape(say("review report (评价)"), REQUIRED, _row_parser)


@dataclass
class ReviewImportResult(ReportResult):
    """The counts and rejections, and the reviews to act on (tickets): the neutral
    and bad reviews created, and those a change made neutral or bad."""

    bad_review_ids: list[int] = field(default_factory=list)
    worsened_review_ids: list[int] = field(default_factory=list)


@dataclass
class _ReviewRun(ReportRun):
    now: datetime = field(default_factory=utcnow)


def _key(reader: ExportReader, cells: list[str]) -> str:
    order = reader.order_id(cells)
    return f"{order}/{reader.id_in(cells, SUB_ORDER)}" if order else ""


def _values(row: ReviewRow) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in _FIELDS}
    values["rating"] = row.rating.value
    return values


async def _store(
    session: AsyncSession, run: ReportRun, raws: list[RawRow]
) -> Later | None:
    """Parse, check and write a chunk of the report."""
    assert isinstance(run, _ReviewRun)
    result = cast(ReviewImportResult, run.result)
    counts = result.counts
    orders = {
        pid: oid
        for pid, oid in await session.execute(
            select(Order.platform_order_id, Order.id).where(
                Order.shop_id == run.shop_id,
                among(run.postgres, Order.platform_order_id, {r.key.split("/")[0] for r in raws}),
            )
        )
    }
    columns = [_TABLE.c[name] for name in ("order_id", "platform_sub_order_id", "id")]
    stored = {
        (oid, sub): (rid, digest, dict(zip(_FIELDS, rest, strict=True)))
        for oid, sub, rid, digest, *rest in await session.execute(
            select(*columns, _TABLE.c.import_digest, *(_TABLE.c[name] for name in _FIELDS)).where(
                _TABLE.c.shop_id == run.shop_id,
                among(run.postgres, _TABLE.c.order_id, orders.values()),
            )
        )
    }
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for raw in raws:
        order_pid = raw.key.split("/")[0]
        oid = orders.get(order_pid)
        known = stored.get((oid, raw.key.split("/")[1])) if oid is not None else None
        if known is not None and known[1] == raw.digest:
            counts.unchanged += 1
            continue
        row = run.parse(raw)
        if not isinstance(row, ReviewRow):
            run.reject(cast(Rejected, row))
            continue
        if oid is None:
            why = say(
                "order {order} is not known to the shop; import the orders first", order=order_pid
            )
            run.refuse(raw, why)
            continue
        values = {**_values(row), "import_digest": raw.digest, "updated_at": run.now}
        if known is None:
            new.append({**values, "shop_id": run.shop_id, "order_id": oid,
                        "platform_sub_order_id": row.platform_sub_order_id,
                        "created_at": run.now})  # fmt: skip
            continue
        rid, _digest, before = known
        changed.append({**values, "id": rid})
        said = [name for name in _SAID if before[name] != values[name]]
        if not said and all(before[name] == values[name] for name in _FIELDS):
            counts.unchanged += 1  # a column we do not keep changed
            continue
        counts.updated += 1
        if said:
            await record_event(
                session,
                run.shop_id,
                "review.changed",
                {
                    "review_id": rid,
                    "order_id": oid,
                    "before": {name: before[name] for name in said},
                    "after": {name: values[name] for name in said},
                },
                at=run.now,
            )
        if values["rating"] in _NOT_GOOD and before["rating"] not in _NOT_GOOD:
            result.worsened_review_ids.append(rid)
    if new:
        created = await session.execute(
            insert(_TABLE).returning(_TABLE.c.id, _TABLE.c.rating, sort_by_parameter_order=True),
            new,
        )
        counts.created += len(new)
        result.bad_review_ids += [rid for rid, rating in created if rating in _NOT_GOOD]
    if changed:
        await session.execute(update(Review), changed)
    return None


async def import_reviews(
    db: Database,
    shop_id: int,
    path: Path,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    by: int | None = None,
) -> ReviewImportResult:
    """Import a review report into the shop; see the module's text. ``by`` (the staff
    account importing) is accepted like the other reports' and not kept: a review is
    the buyer's.

    Raises :class:`xiaoer.sellercentre.exports.ExportError` when the file cannot be
    read as a review report at all; nothing is written then.
    """
    del by
    now = now or utcnow()
    result = ReviewImportResult()
    run = _ReviewRun(shop_id, path.name, result, db.dialect == "postgresql", now=now)
    await import_report_file(db, run, path, _IMPORT, now=now, progress=progress)
    result.tickets_opened = await open_review_tickets(db, shop_id, now)
    async with db.session() as session:
        summary = {"file": path.name, **result.summary()}
        await record_event(session, shop_id, "review.imported", summary, at=now)
        await session.commit()
    return result


_IMPORT = ReportKind(REVIEW_REPORT, _key, _store, "reviews", "review")
