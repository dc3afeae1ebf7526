"""Import a seller-centre export into a shop's orders (O1).

The order list is read first, in chunks of a few thousand rows, each chunk in
its own transaction: one query finds which orders exist already, new ones are
staged and written a window of chunks at a time in order of creation (see
:class:`_Stager`), changed ones updated in bulk, unchanged ones (same
fingerprint as last time) left alone. The item list follows, grouped by order:
the items of an order are replaced when they differ from the last import.

A rejected row writes nothing and is reported with its line and reason, and
written to a rejects file beside its input; items of rejected or unknown
orders are rejected too. Orders are matched by the platform's order id, so a
second import of the same file changes nothing and a newer export updates
status, payment and shipping.

Only orders that are still in motion (paid but not shipped, unpaid but young
enough to be reminded, shipped but not delivered within the policy's days)
start the order workflow's deadlines and tasks; an export of last year's
orders records history, it does not raise a thousand late-note alarms.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter, le
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.collector import batch_job
from xiaoer.core.db import Database
from xiaoer.core.events import record_event
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.orders import workflow
from xiaoer.orders.lifecycle import do_record_status
from xiaoer.orders.models import Order, OrderItem, TradeStatus
from xiaoer.sellercentre.exports import (
    ExportReader,
    ItemRow,
    Kind,
    OrderRow,
    Rejected,
    write_rejects,
)
from xiaoer.sellercentre.parsing import Opening, Source, open_source
from xiaoer.shops.models import Shop

Progress = Callable[[str, int, int], None]  # phase, bytes done, bytes in all
# Seconds spent in each phase of an import, added up by phase name (an optional hook for
# benchmarks and logs); phases that run beside each other overlap.
Phases = dict[str, float]

CHUNK = 2000
COPIES = 2  # item COPYs under way at once

# Inserts go through the tables (Core), not the ORM, which splits a batch whenever
# rows leave different columns empty.
_ORDER_TABLE = cast(Table, Order.__table__)
_ITEM_TABLE = cast(Table, OrderItem.__table__)
_CUSTOMER_TABLE = cast(Table, Customer.__table__)

# The order columns an import writes; the rest (owner, flag, confirmation) are the shop's.
_ORDER_FIELDS = (
    "buyer_nick",
    "status",
    "goods_fen",
    "postage_fen",
    "total_fen",
    "paid_fen",
    "refunded_fen",
    "receiver_name",
    "receiver_phone",
    "receiver_address",
    "buyer_message",
    "shipping_method",
    "courier",
    "tracking_number",
    "cash_on_delivery",
    "close_reason",
    "created_at",
    "paid_at",
    "shipped_at",
    "finished_at",
)


@dataclass
class Counts:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


@dataclass
class ImportResult:
    """What an import did: order rows and item rows counted apart."""

    orders: Counts = field(default_factory=Counts)
    items: Counts = field(default_factory=Counts)
    rejects: list[Path] = field(default_factory=list)
    # "file:line: reason" (a message made by ``say``), the first few hundred.
    messages: list[str] = field(default_factory=list)
    # The reasons of the rows in each rejects file, in the file's order.
    reasons: list[list[str]] = field(default_factory=list)
    # File name → (CPU seconds, peak MB) of the process that parsed it, if one did.
    parsing: dict[str, tuple[float, float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The order-row counts, and the item rows under ``items``."""
        return {**self.orders.as_dict(), "items": self.items.as_dict()}


MAX_MESSAGES = 200


def _signed64(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)


def row_digest(cells: list[str]) -> int:
    """A fingerprint of an order row as the export gives it: the same cells, the same
    number; a row whose fingerprint is stored already is skipped unparsed."""
    return _signed64("\x1f".join(cells).encode())


# An order row to import, parsed: its order number, fingerprint, the values of
# ``_ORDER_FIELDS`` (the status as its text), and last its line. A plain tuple, because
# rows parsed in a process of their own are pickled: a tuple of numbers, texts and times
# is rebuilt in C.
Record = tuple[Any, ...]
_STATUS, _CREATED, _PAID, _SHIPPED = (
    2 + _ORDER_FIELDS.index(name) for name in ("status", "created_at", "paid_at", "shipped_at")
)


class _Unparsed(NamedTuple):
    """An order row to import, not parsed yet: the order number and fingerprint where
    a :data:`Record` has them, so a row unchanged since the last import is left so."""

    pid: str
    digest: int
    line: int
    cells: list[str]


# An item row to import, parsed: (line, order number, title, price in fen, quantity,
# SKU text, SKU code); from the title on, what is compared with the stored items.
Item = tuple[int, str, str, int, int, str, str]
_ORDER_VALUES = attrgetter(*_ORDER_FIELDS)
_ITEM_FIELDS = attrgetter(
    "line", "platform_order_id", "title", "price_fen", "quantity", "sku_text", "sku_code"
)


# Longest text per order column; a longer cell is a rejected row, not a cut one.
_LIMITS = {
    name: length
    for name in _ORDER_FIELDS
    if (length := getattr(_ORDER_TABLE.c[name].type, "length", None)) is not None
}


# The columns named in a too-long reason: their names in English, the export's on pages.
_COLUMN_NAMES: dict[str, str] = {
    "buyer_nick": say("buyer_nick"),
    "status": say("status"),
    "receiver_name": say("receiver_name"),
    "receiver_phone": say("receiver_phone"),
    "shipping_method": say("shipping_method"),
    "courier": say("courier"),
    "tracking_number": say("tracking_number"),
    "close_reason": say("close_reason"),
}


_LIMITED = attrgetter(*_LIMITS)  # every one a text (the status a text enum)
_LIMIT_VALUES = tuple(_LIMITS.values())


def _too_long(row: OrderRow) -> str | None:
    if all(map(le, map(len, _LIMITED(row)), _LIMIT_VALUES)):  # the common case, in C
        return None
    for name, value, limit in zip(_LIMITS, _LIMITED(row), _LIMITS.values(), strict=True):
        if len(value) > limit:
            return say(
                "{column} is {length} characters long; at most {limit} are kept",
                column=_COLUMN_NAMES.get(name, name),
                length=len(value),
                limit=limit,
            )
    return None


def order_entries(
    reader: ExportReader, apart: bool
) -> Iterator[Record | _Unparsed | Rejected | None]:
    """The order list's rows as the import takes them (see
    :mod:`xiaoer.sellercentre.parsing`, which runs this where the file is read): a row to
    import; a rejected row; or ``None`` for a record that is neither (it still counts as
    read). The import refuses an order number met earlier in the file: it keeps every
    number it meets anyway (``_Run.seen``).

    Read ``apart`` (in a process of its own), every row is parsed there; read in a
    thread of the import, a row is parsed by the import only if it is new or changed
    (:func:`_parsed`)."""
    for record in reader.records():
        if isinstance(record, Rejected):
            yield record
            continue
        line, cells = record
        if apart:  # parsed at once; a row whose order number is unreadable is refused
            digest = row_digest(cells)  # of the cells as read: parsing pads a short row
            row = reader.parse(line, cells)
            if isinstance(row, OrderRow):
                yield _record(row, digest, line, cells)
            else:
                yield cast(Rejected, row)
            continue
        pid = reader.order_id(cells)
        if not pid:  # parsing says what is wrong with the id
            parsed = reader.parse(line, cells)
            yield parsed if isinstance(parsed, Rejected) else None
            continue
        yield _Unparsed(pid, row_digest(cells), line, cells)


_DUPLICATE = say("the same order id appears earlier in this file")


def _parsed(reader: ExportReader, raw: _Unparsed) -> Record | Rejected:
    """The row parsed, or rejected with its reason."""
    row = reader.parse(raw.line, raw.cells)
    if not isinstance(row, OrderRow):
        return cast(Rejected, row)
    return _record(row, raw.digest, raw.line, raw.cells)


def _record(row: OrderRow, digest: int, line: int, cells: list[str]) -> Record | Rejected:
    """A parsed row as a :data:`Record`, or rejected when a cell is too long to keep."""
    if (problem := _too_long(row)) is not None:
        return Rejected(line, problem, cells, row.platform_order_id)
    values = _ORDER_VALUES(row)
    return (row.platform_order_id, digest, values[0], row.status.value, *values[2:], line)


def item_groups(reader: ExportReader, apart: bool) -> Iterator[list[Item] | Rejected]:
    """The item list's rows, parsed, in runs of one order each; rejected rows alone.

    The rows come without their cells, which are most of what a row weighs when it is
    sent from the parsing process: the few rows refused later have theirs read again
    for the rejects file (:func:`_read_cells`)."""
    group: list[Item] = []
    for row in cast("Iterable[ItemRow | Rejected]", reader):
        if isinstance(row, Rejected):
            yield row
            continue
        item: Item = _ITEM_FIELDS(row)
        if group and group[0][1] != item[1]:
            yield group
            group = []
        group.append(item)
    if group:
        yield group


def _read_cells(path: Path, kind: Kind, rejected: list[Rejected]) -> None:
    """Give the rejected rows that came without their cells the cells of their lines in
    the list of ``kind`` at ``path`` (read again, up to the last of those lines): an
    item row's cells as parsing left them, an order row's as read (as a duplicate's)."""
    wanted: dict[int, list[Rejected]] = {}
    for row in rejected:
        if not row.cells:
            wanted.setdefault(row.line, []).append(row)
    if not wanted:
        return
    last = max(wanted)
    with ExportReader(path, kind) as reader:
        # An item row read whole had nothing past the header.
        width = len(reader.header) if kind == "items" else None
        for record in reader.records():
            line, cells = (record.line, record.cells) if isinstance(record, Rejected) else record
            for row in wanted.get(line, ()):
                row.cells = cells[:width]
            if line >= last:
                return


async def read_chunks(rows: Iterable[Any], size: int) -> AsyncGenerator[list[Any], None]:
    """``size`` rows at a time, each chunk read and decoded in a worker thread: a
    workbook's XML or a large CSV is parsed while the server answers everyone else.

    The next chunk is read while the caller works on this one (mostly waiting for the
    database). Close the iterator (``contextlib.aclosing``) when leaving it early, so
    that the chunk being read is finished before the file is closed.
    """
    source = iter(rows)

    def take() -> list[Any]:
        return list(itertools.islice(source, size))

    ahead = asyncio.ensure_future(asyncio.to_thread(take))
    try:
        while batch := await ahead:
            ahead = asyncio.ensure_future(asyncio.to_thread(take))
            yield batch
    finally:
        if not ahead.done():
            await asyncio.wait([ahead])
        if not ahead.cancelled():
            ahead.exception()  # an error of a chunk nobody asked for is not reported


@dataclass
class _Run:
    """State shared by the chunks of one import."""

    shop_id: int
    channel: str
    policy: Policy
    now: datetime
    result: ImportResult
    # The order numbers met in this order list, each with what the item list needs to
    # know of its order: the id of one the import creates (PostgreSQL, where ids are taken
    # before the orders are written; it has no stored items to compare with), the id
    # negated of one stored before, else 0 (looked up by the item list).
    seen: dict[int, int] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)  # order ids whose row was rejected
    rejected_orders: list[Rejected] = field(default_factory=list)
    rejected_items: list[Rejected] = field(default_factory=list)
    skus: dict[str, int] = field(default_factory=dict)
    items_seen: set[int] = field(default_factory=set)  # orders not created, items met
    items_in: int = 0  # item rows written (committed or in the caller's transaction)
    # PostgreSQL: the writing of the last windows, which the item list is read beside
    # (the items of their orders wait for it), then the refreshing of statistics; the
    # stager, which tells which orders are in (:meth:`_Stager.written_below`).
    orders_in: asyncio.Task[None] | None = None
    stager: _Stager | None = None
    analyzing: asyncio.Task[None] | None = None
    postgres: bool = False
    analyzed: dict[str, int] = field(default_factory=dict)  # tables → rows added then
    phases: Phases | None = None
    # SQLite: new orders waiting in the staging table, the order numbers of those the
    # workflow takes up, and how many went on to the orders table.
    staged: int = 0
    staged_live: list[str] = field(default_factory=list)
    sent: int = 0

    def refuse(self, row: Rejected, name: str) -> None:
        """An order row is rejected: so are its items, if its id could be read."""
        self.reject(self.rejected_orders, self.result.orders, row, name)
        if row.platform_order_id:
            self.refused.add(row.platform_order_id)

    def reject(self, into: list[Rejected], counts: Counts, row: Rejected, name: str) -> None:
        into.append(row)
        counts.rejected += 1

    def tell(self, rejected: list[Rejected], name: str) -> None:
        """Put a file's rejected rows in the file's order (rows are refused where they
        are read, or later, where they are checked), and make messages of the first
        few hundred of the import."""
        rejected.sort(key=attrgetter("line"))
        messages = self.result.messages
        for row in rejected[: max(0, MAX_MESSAGES - len(messages))]:
            messages.append(
                say("{file}:{line}: {reason}", file=name, line=row.line, reason=row.reason)
            )


@contextmanager
def timed(phases: Phases | None, name: str) -> Iterator[None]:
    """Add the seconds the block takes to ``phases[name]`` (nothing when ``None``)."""
    if phases is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - started


async def timed_chunks(
    phases: Phases | None, name: str, chunks: AsyncIterator[list[Any]]
) -> AsyncIterator[list[Any]]:
    """``chunks``, the waits for each added to ``phases[name]``."""
    while True:
        with timed(phases, name):
            try:
                batch = await anext(chunks)
            except StopAsyncIteration:
                return
        yield batch


async def commit_later(session: AsyncSession | AsyncConnection) -> None:
    """PostgreSQL: let this transaction's commit return before its log is on disk.

    For the many transactions of an import: its last one (the ``order.imported``
    event) waits for the log as usual, and so for everything before it. A crash before
    then leaves the import interrupted, and resuming it imports what was lost again.
    """
    await session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def _among(run: _Run, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    return among(run.postgres, column, values)


def among(postgres: bool, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter, whatever the count,
    so the statement is prepared once."""
    values = list(values)
    if not postgres:
        return cast("ColumnElement[bool]", column.in_(values))
    return cast("ColumnElement[bool]", column == any_(bindparam(None, values, _array_of(column))))


def _array_of(column: Any) -> ARRAY[Any]:
    """The PostgreSQL array type of ``column``'s values: integers or texts."""
    return ARRAY(BigInteger() if isinstance(column.type, (Integer, BigInteger)) else String())


def among_given(postgres: bool, column: Any, name: str) -> ColumnElement[bool]:
    """``column IN`` the values given as parameter ``name`` when the statement runs (on
    PostgreSQL one array, as :func:`among`).

    For an import's per-chunk look-ups: a bound parameter made with its values sits in a
    reference cycle of SQLAlchemy's own (the parameter and its comparator), so the chunk's
    values would live on until the cycle collector came by; given at run time, they are
    freed with the chunk.
    """
    if not postgres:
        return cast("ColumnElement[bool]", column.in_(bindparam(name, expanding=True)))
    return cast("ColumnElement[bool]", column == any_(bindparam(name, type_=_array_of(column))))


async def _refresh_statistics(db: Database, run: _Run, added: int, tables: str) -> None:
    await refresh_statistics(db, run.postgres, run.analyzed, added, tables)


async def refresh_statistics(
    db: Database, postgres: bool, analyzed: dict[str, int], added: int, tables: str
) -> None:
    """On PostgreSQL, ANALYZE the tables an import fills each time its rows double.

    The planner's statistics date from before the import; taking a table of a
    million rows for an empty one, it would look orders up through an index on the
    shop alone and read the whole shop for every chunk.
    """
    if not postgres or added <= 2 * analyzed.get(tables, 0) or added < CHUNK:
        return
    analyzed[tables] = added
    async with db.session() as session:
        await session.execute(text(f"ANALYZE {tables}"))
        await session.commit()


# What the import's own look-ups read, analysed as the tables grow: the sizes of the
# tables and the columns of those look-ups only (a whole ANALYZE figures every column;
# it comes once, when the order list is in).
_LOOKED_UP_ORDERS = '"order" (shop_id, platform_order_id), customer (shop_id, channel, buyer_id)'
_LOOKED_UP_ITEMS = "order_item (order_id)"


def _live(record: Record, policy: Policy, now: datetime) -> bool:
    """Whether an order is still in motion, so that the workflow takes it up."""
    status: str = record[_STATUS]
    paid_at: datetime | None = record[_PAID]
    if status == TradeStatus.WAIT_BUYER_PAY:
        created_at: datetime = record[_CREATED]
        return now - created_at < timedelta(hours=policy.orders.reminder_recovery_hours)
    if status == TradeStatus.WAIT_SELLER_SEND_GOODS and paid_at is not None:
        return now - paid_at < timedelta(hours=policy.orders.ship_within_hours)
    if status in (TradeStatus.WAIT_BUYER_CONFIRM_GOODS, TradeStatus.SELLER_CONSIGNED_PART):
        shipped: datetime | None = record[_SHIPPED] or paid_at
        return shipped is not None and now - shipped < timedelta(
            days=policy.orders.deliver_within_days
        )
    return False


def _values(record: Record) -> dict[str, Any]:
    """The order's columns as the import writes them."""
    return dict(zip(_ORDER_FIELDS, record[2:-1], strict=True))


async def _customers(session: AsyncSession, run: _Run, nicks: set[str]) -> dict[str, int]:
    """Customer ids by nick, creating the buyers met for the first time (SQLite; on
    PostgreSQL the staged window's buyers are made and joined in SQL, see :class:`_Stager`)."""
    nicks.discard("")
    if not nicks:
        return {}
    query = select(Customer.buyer_id, Customer.id).where(
        Customer.shop_id == run.shop_id, Customer.channel == run.channel
    )
    found = {
        b: i for b, i in await session.execute(query.where(_among(run, Customer.buyer_id, nicks)))
    }
    missing = sorted(n for n in nicks if n not in found)
    if missing:
        await session.execute(
            insert(_CUSTOMER_TABLE),
            [
                {
                    "shop_id": run.shop_id,
                    "channel": run.channel,
                    "buyer_id": nick,
                    "nick": nick,
                    "tags": [],
                    "created_at": run.now,
                }
                for nick in missing
            ],
        )
        found.update(
            {
                b: i
                for b, i in await session.execute(
                    query.where(_among(run, Customer.buyer_id, missing))
                )
            }
        )
    return found


@dataclass
class _Copy:
    """New orders of a chunk, ids given, to be staged while the next chunk is read."""

    records: list[tuple[Any, ...]]
    live: list[int]


async def _order_chunk(
    session: AsyncSession,
    run: _Run,
    raws: list[Record | _Unparsed],
    reader: ExportReader | None,
    name: str,
) -> _Copy | None:
    """Look up, parse what is not parsed yet (with ``reader``), sort into new / changed /
    unchanged; write all but the new orders on PostgreSQL, which come back to be staged
    by :func:`_stage_orders` (as rows of :data:`_STAGED`: the id, then the record; its
    buyer is joined, and what every order of the import shares is added, as the window
    is written)."""
    counts = run.result.orders
    with timed(run.phases, "check"):
        existing = {
            pid: (oid, digest, status)
            for pid, oid, digest, status in await session.execute(
                select(
                    _ORDER_TABLE.c.platform_order_id,
                    _ORDER_TABLE.c.id,
                    _ORDER_TABLE.c.import_digest,
                    _ORDER_TABLE.c.status,
                ).where(
                    _ORDER_TABLE.c.shop_id == run.shop_id,
                    among_given(run.postgres, _ORDER_TABLE.c.platform_order_id, "pids"),
                ),
                {"pids": [r[0] for r in raws]},
            )
        }
    new: list[Record] = []
    changed: list[tuple[Record, int, str]] = []
    for raw in raws:
        known = existing.get(raw[0])
        if known is not None and known[1] == raw[1]:
            counts.unchanged += 1
            run.seen[int(raw[0])] = -known[0]
            continue
        if isinstance(raw, _Unparsed):
            assert reader is not None
            with timed(run.phases, "parse"):
                parsed = _parsed(reader, raw)
            if isinstance(parsed, Rejected):
                run.refuse(parsed, name)
                continue
            raw = parsed
        if known is None:
            new.append(raw)
        else:
            run.seen[int(raw[0])] = -known[0]
            changed.append((raw, known[0], known[2]))
    live: list[int] = []
    pending: _Copy | None = None
    if new and run.postgres:
        with timed(run.phases, "check"):
            ids = await take_ids(session, "order", len(new))
            run.seen.update((int(r[0]), oid) for r, oid in zip(new, ids, strict=True))
            records = [(oid, *r[:-1]) for r, oid in zip(new, ids, strict=True)]
            live_new = [
                oid for r, oid in zip(new, ids, strict=True) if _live(r, run.policy, run.now)
            ]
            pending = _Copy(records, live_new)
        counts.created += len(new)
    elif new:
        with timed(run.phases, "check"):
            customers = await _customers(session, run, {r[2] for r in new})
        with timed(run.phases, "stage"):
            await session.execute(
                insert(_SQLITE_STAGE),
                [
                    {
                        **_values(r),
                        "shop_id": run.shop_id,
                        "platform_order_id": r[0],
                        "customer_id": (buyer := customers.get(r[2])),
                        "channel": "" if buyer is None else run.channel,
                        "source": "import",
                        "import_digest": r[1],
                        "updated_at": run.now,
                        "flag": 0,
                    }
                    for r in new
                ],
            )
        counts.created += len(new)
        run.staged += len(new)
        run.staged_live += [r[0] for r in new if _live(r, run.policy, run.now)]
    with timed(run.phases, "write"):
        if changed:
            await session.execute(
                update(Order),
                [
                    {
                        **_values(r),
                        "id": oid,
                        "import_digest": r[1],
                        "updated_at": run.now,
                    }
                    for r, oid, _old in changed
                ],
            )
            counts.updated += len(changed)
        if live:
            await _start_workflow(session, run, live)
        for record, oid, old in changed:
            await _follow_change(session, run, record[_STATUS], oid, old)
    return pending


async def driver_of(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


# The buyer's channel goes in with the row (PostgreSQL: from the join with the buyers as
# a window is written; SQLite: every buyer an import meets is of the shop's platform), so
# the orders table's channel trigger does not look each one up.
_COPY_ORDER_COLUMNS = (
    "id", "shop_id", "platform_order_id", "customer_id", "channel", "source",
    "import_digest", "updated_at", "flag", *_ORDER_FIELDS,
)  # fmt: skip


async def take_ids(session: AsyncSession, table: str, count: int) -> list[int]:
    """PostgreSQL: ``count`` new ids of ``table`` from its sequence, for rows to COPY.

    The sequence is found once per call (``OFFSET 0`` keeps the planner from folding
    the look-up into every row, where it cost five times what taking the ids does), and
    the ids come back as one array rather than a row each.
    """
    ids = await session.scalar(
        text(
            "SELECT array_agg(nextval(s.seq)) FROM generate_series(1, :n),"
            " (SELECT CAST(pg_get_serial_sequence(:table, 'id') AS regclass) AS seq OFFSET 0) s"
        ),
        {"table": f'"{table}"', "n": count},
    )
    return list(ids or [])


# New orders wait in a temporary table and go into the orders table a window of many
# chunks at a time, in order of creation: most of the orders table's indexes lead with
# the shop and end with the creation time, so rows in that order fill each index's pages
# one after the other instead of pages all over it (the export's rows come in no such
# order); on a large import that roughly halves the database's work. Two connections
# take turns, so that one window is written while the next is read and staged.
_STAGE = "xiaoer_import_order"
# Staged: what differs from order to order (fewer bytes to encode and send).
_STAGED = ("id", "platform_order_id", "import_digest", *_ORDER_FIELDS)
_CREATE_STAGE = (
    f"CREATE TEMPORARY TABLE {_STAGE} AS SELECT "  # noqa: S608 (constants only)
    + ", ".join(f'"{c}"' for c in _STAGED)
    + ' FROM "order" WITH NO DATA'
)
# A window's buyers met for the first time, then its orders with their buyers: the join
# is the database's, over the window, instead of a look-up and an insert per chunk on the
# way. The buyers go in by nick order in a short transaction of their own, so the two
# lanes never wait on each other for long and never in a cycle.
_INSERT_BUYERS = (
    "INSERT INTO customer (shop_id, channel, buyer_id, nick, name, phone, city, gender, tags,"  # noqa: S608 (constants only)
    " created_at) SELECT CAST(:shop AS integer), CAST(:channel AS varchar), n, n, '', '', '',"
    " '', CAST('[]' AS JSON), CAST(:now AS timestamptz)"
    f" FROM (SELECT DISTINCT buyer_nick AS n FROM pg_temp.{_STAGE} WHERE buyer_nick <> '') b"
    " ORDER BY n ON CONFLICT (shop_id, channel, buyer_id) DO NOTHING"
)
_SHARED = {
    "shop_id": "CAST(:shop AS integer)",
    "customer_id": "c.id",
    "channel": "COALESCE(c.channel, '')",
    "source": "'import'",
    "updated_at": "CAST(:now AS timestamptz)",
    "flag": "0",
}
_INSERT_STAGED = (
    'INSERT INTO "order" ('  # noqa: S608 (constants only)
    + ", ".join(f'"{c}"' for c in _COPY_ORDER_COLUMNS)
    + ") SELECT "
    + ", ".join(_SHARED.get(c, f's."{c}"') for c in _COPY_ORDER_COLUMNS)
    + f" FROM pg_temp.{_STAGE} s LEFT JOIN customer c ON c.shop_id = CAST(:shop AS integer)"
    " AND c.channel = CAST(:channel AS varchar) AND c.buyer_id = s.buyer_nick"
    " AND s.buyer_nick <> '' ORDER BY s.created_at, s.id"
)
WINDOW = 100_000  # staged orders written in one statement, at most (SQLite)
# PostgreSQL: each window's statement passes over every page of the list indexes (the
# export's rows come in no order of time), so fewer, larger windows do less: over a
# million orders, windows of 200,000 cost the server about a sixth less than windows of
# 100,000. Larger still, the last window, written after the reading, is left alone on
# one core for longer than the passes it saves.
PG_WINDOW = 200_000
PG_SORT_MEMORY = "256MB"  # a window's sort, in memory (a lane's statement at most)
SQLITE_CACHE_KB = 64 * 1024  # SQLite's page cache while an order list is read


def _bound(connection: AsyncConnection) -> AsyncSession:
    return AsyncSession(bind=connection, expire_on_commit=False)


# SQLite: the same windows, in a temporary table of the one connection an order list is
# read on; the database gives the ids as the window is written.
_SQLITE_COLUMNS = [c for c in _COPY_ORDER_COLUMNS if c != "id"]
_SQLITE_STAGE = Table(
    _STAGE,
    MetaData(),
    *(Column(name, _ORDER_TABLE.c[name].type) for name in _SQLITE_COLUMNS),
    prefixes=["TEMPORARY"],
)
_SQLITE_NAMES = ", ".join(f'"{c}"' for c in _SQLITE_COLUMNS)
_SQLITE_INSERT = (
    f'INSERT INTO "order" ({_SQLITE_NAMES}) SELECT {_SQLITE_NAMES} FROM temp.{_STAGE}'  # noqa: S608 (constants only)
    " ORDER BY created_at"
)

_SQLITE_CLEAR = f"DELETE FROM temp.{_STAGE}"  # noqa: S608 (constants only)


async def _write_sqlite_window(session: AsyncSession, run: _Run, *, last: bool) -> None:
    """Write the staged orders when a window is full (or ``last``), in the session's
    transaction, and start the workflow of those still in motion."""
    if not run.staged or not (last or run.staged >= min(WINDOW, max(CHUNK, run.sent))):
        return
    with timed(run.phases, "write"):
        run.sent += run.staged
        await session.execute(text(_SQLITE_INSERT))
        await session.execute(text(_SQLITE_CLEAR))
        for start in range(0, len(run.staged_live), CHUNK):
            live = await session.scalars(
                select(_ORDER_TABLE.c.id).where(
                    _ORDER_TABLE.c.shop_id == run.shop_id,
                    _among(
                        run,
                        _ORDER_TABLE.c.platform_order_id,
                        run.staged_live[start : start + CHUNK],
                    ),
                )
            )
            await _start_workflow(session, run, list(live))
        run.staged = 0
        run.staged_live = []


@dataclass
class _Lane:
    """A connection with its staging table, and what it is doing."""

    connection: AsyncConnection
    staged: int = 0
    live: list[int] = field(default_factory=list)
    first: int | None = None  # the smallest id staged and not yet written
    busy: asyncio.Task[None] | None = None

    async def idle(self) -> None:
        """Wait for what the lane is doing; a task that failed stays ``busy``, so that
        whoever cleans up sees it done and takes its error."""
        if self.busy is not None:
            await self.busy
            self.busy = None


class _Stager:
    """Stages new orders and writes them a window at a time (PostgreSQL)."""

    def __init__(self, db: Database, run: _Run, lanes: list[_Lane]) -> None:
        self.db = db
        self.run = run
        self.lanes = lanes
        self.turn = 0
        self.sent = 0  # orders sent on to the orders table
        self.landed = asyncio.Event()  # set when a window is in (``written_below`` moved)

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, db: Database, run: _Run) -> AsyncIterator[_Stager]:
        async with contextlib.AsyncExitStack() as stack:
            lanes: list[_Lane] = []
            for _ in range(2):
                connection = await stack.enter_async_context(db.engine.connect())
                await connection.execute(text(f"DROP TABLE IF EXISTS pg_temp.{_STAGE}"))
                await connection.execute(text(_CREATE_STAGE))
                await connection.commit()
                lanes.append(_Lane(connection))
            stager = cls(db, run, lanes)
            try:
                yield stager
            finally:
                for lane in lanes:  # never leave a statement running behind an error
                    if lane.busy is not None:
                        if not lane.busy.done():
                            await asyncio.wait([lane.busy])
                        if not lane.busy.cancelled():
                            lane.busy.exception()  # the error raised already is the one told
                    with contextlib.suppress(Exception):
                        await lane.connection.rollback()
                        await lane.connection.execute(text(f"DROP TABLE IF EXISTS {_STAGE}"))
                        await lane.connection.commit()

    async def add(self, pending: _Copy) -> None:
        """Stage a chunk's new orders beside the reading of the next chunk; a full
        window goes on to the orders table while the other lane fills."""
        lane = self.lanes[self.turn]
        await lane.idle()  # its COPY before, or the writing of its last window
        lane.staged += len(pending.records)
        lane.live += pending.live
        low = min(record[0] for record in pending.records)
        lane.first = low if lane.first is None else min(lane.first, low)
        # The windows grow from one chunk: the first orders are in soon (an import
        # stopped early has written some), a large import writes big windows.
        full = lane.staged >= min(PG_WINDOW, max(CHUNK, self.sent))
        first = full and not self.sent
        if full:
            self.sent += lane.staged
        lane.busy = asyncio.create_task(self._stage(lane, pending, write=full))
        if full:
            self.turn = 1 - self.turn
        if first:  # in before any progress is told: a job's progress means orders are in
            await lane.idle()

    async def finish(self) -> None:
        """Write what is staged; then refresh the statistics, in the background (run
        as ``run.orders_in``, beside the reading of the item list)."""
        # Each lane's last window as soon as the lane is free, both at once, each on its
        # own connection (the one still writing a full window does not hold up the other).
        await asyncio.gather(*(self._last(lane) for lane in self.lanes))
        created = self.run.result.orders.created
        if created >= CHUNK:
            self.run.analyzed[_LOOKED_UP_ORDERS] = created
            self.run.analyzing = asyncio.create_task(self._analyze())

    async def _last(self, lane: _Lane) -> None:
        await lane.idle()
        if lane.staged:
            lane.busy = asyncio.create_task(self._write(lane))
            await lane.idle()

    async def _analyze(self) -> None:
        """Statistics of the orders and buyers the import wrote, beside the item list
        (which looks up no order the import created, so it does not wait for them)."""
        with timed(self.run.phases, "analyze"):
            async with self.db.session() as session:
                await session.execute(text('ANALYZE "order", customer'))
                await session.commit()

    async def _stage(self, lane: _Lane, pending: _Copy, *, write: bool) -> None:
        with timed(self.run.phases, "stage"):
            await commit_later(lane.connection)
            driver: Any = (await lane.connection.get_raw_connection()).driver_connection
            await driver.copy_records_to_table(_STAGE, records=pending.records, columns=_STAGED)
            await lane.connection.commit()
        if write:
            await self._write(lane)

    async def _write(self, lane: _Lane) -> None:
        """The lane's staged window: its new buyers (a short transaction of their own),
        then its orders into the orders table, oldest first, with the workflow of those
        still in motion started, in one transaction."""
        with timed(self.run.phases, "write"):
            run = self.run
            async with AsyncSession(bind=lane.connection, expire_on_commit=False) as session:
                await commit_later(session)
                await session.execute(
                    text(_INSERT_BUYERS),
                    {"shop": run.shop_id, "channel": run.channel, "now": run.now},
                )
                await session.commit()
                await commit_later(session)
                # The window's sort in memory (the default, 4 MB, sorts on disk).
                await session.execute(text(f"SET LOCAL work_mem TO '{PG_SORT_MEMORY}'"))
                await session.execute(
                    text(_INSERT_STAGED),
                    {"shop": run.shop_id, "channel": run.channel, "now": run.now},
                )
                await session.execute(text(f"TRUNCATE pg_temp.{_STAGE}"))
                for start in range(0, len(lane.live), CHUNK):
                    await _start_workflow(session, run, lane.live[start : start + CHUNK])
                await session.commit()
        lane.staged = 0
        lane.live = []
        lane.first = None
        self.landed.set()

    def written_below(self) -> int:
        """Every order this import created with a smaller id is in the orders table
        (committed): ids are taken in the order of the file and the windows are runs of
        it, so only the windows staged or being written hold the ids at or above this."""
        return min((lane.first for lane in self.lanes if lane.first is not None), default=_NO_ID)


_NO_ID = 2**63  # above every id

_ITEM_COLUMNS = ("order_id", "sku_id", "sku_code", "title", "sku_text", "price_fen", "quantity")


async def _start_workflow(session: AsyncSession, run: _Run, order_ids: list[int]) -> None:
    orders = await session.scalars(select(Order).where(Order.id.in_(order_ids)))
    for order in orders:
        await workflow.on_order_created(session, order, policy=run.policy, now=run.now)
        if order.shipped_at is not None and order.status != TradeStatus.WAIT_SELLER_SEND_GOODS:
            await workflow.on_order_shipped(session, order, policy=run.policy, now=run.now)


async def _follow_change(
    session: AsyncSession, run: _Run, status: str, order_id: int, old: str
) -> None:
    """A newer export moved an order on: recorded like any other change of status."""
    if status == old:
        return
    order = await session.get(Order, order_id)
    if order is None:
        return
    await do_record_status(
        session,
        order,
        old,
        actor="import",
        reason="newer seller-centre export",
        policy=run.policy,
        now=run.now,
    )


async def _items_chunk(
    session: AsyncSession, run: _Run, groups: list[list[Item]], name: str
) -> list[tuple[Any, ...]] | None:
    """Store each order's items unless the same items are stored already; on PostgreSQL
    a chunk of only new items comes back to be copied in by :func:`_copy_items`."""
    counts = run.result.items
    orders: dict[str, int] = {}  # order number → id, of those met in the order list
    made_here: set[int] = set()  # the orders this import created
    ask: list[str] = []  # the others, looked up
    for group in groups:
        pid = group[0][1]
        met = run.seen.get(int(pid), 0) if pid.isdigit() else 0
        if met > 0:
            orders[pid] = met
            made_here.add(met)
        elif met < 0:
            orders[pid] = -met
        else:
            ask.append(pid)
    if ask:
        looked_up = await session.execute(
            select(_ORDER_TABLE.c.platform_order_id, _ORDER_TABLE.c.id).where(
                _ORDER_TABLE.c.shop_id == run.shop_id,
                among_given(run.postgres, _ORDER_TABLE.c.platform_order_id, "pids"),
            ),
            {"pids": ask},
        )
        orders.update((pid, oid) for pid, oid in looked_up)
    stored: dict[int, list[tuple[str, int, int, str, str]]] = {}
    items = _ITEM_TABLE.c
    # Orders created by this import have no items stored before it.
    if compared := [oid for oid in orders.values() if oid not in made_here]:
        for stored_id, *key in await session.execute(
            select(
                items.order_id, items.title, items.price_fen, items.quantity, items.sku_text,
                items.sku_code,
            )
            .where(among_given(run.postgres, items.order_id, "ids"))
            .order_by(items.order_id, items.id),
            {"ids": compared},
        ):  # fmt: skip
            stored.setdefault(stored_id, []).append(tuple(key))
    wipe: list[int] = []
    rows: list[tuple[Any, ...]] = []
    for group in groups:
        pid = group[0][1]
        found = orders.get(pid)
        if found is None or pid in run.refused:
            why = (
                say("the row of order {order} in the order list was rejected", order=pid)
                if pid in run.refused
                else say(
                    "order {order} is neither in the order list nor known to the shop", order=pid
                )
            )
            for item in group:  # its cells are read again for the rejects file
                run.reject(run.rejected_items, counts, Rejected(item[0], why, []), name)
            continue
        oid = found
        if oid in made_here or oid in run.items_seen:  # none stored, or met earlier
            counts.created += len(group)
        else:
            run.items_seen.add(oid)
            before = stored.get(oid)
            if before == [i[2:] for i in group]:
                counts.unchanged += len(group)
                continue
            if before:
                wipe.append(oid)
                counts.updated += len(group)
            else:
                counts.created += len(group)
        sku = run.skus.get
        rows += [(oid, sku(i[6]) if i[6] else None, i[6], i[2], i[5], i[3], i[4]) for i in group]
    if wipe:
        await session.execute(delete(OrderItem).where(_among(run, OrderItem.order_id, wipe)))
    if not rows:
        return None
    if run.postgres and not wipe:
        return rows  # only new items: copied in while the next chunk is read
    if run.postgres:
        if run.orders_in is not None:
            await run.orders_in
        driver = await driver_of(session)
        await driver.copy_records_to_table("order_item", records=rows, columns=_ITEM_COLUMNS)
    else:
        await session.execute(
            insert(_ITEM_TABLE), [dict(zip(_ITEM_COLUMNS, row, strict=True)) for row in rows]
        )
    run.items_in += len(rows)
    return None


async def _copy_items(db: Database, run: _Run, rows: list[tuple[Any, ...]]) -> None:
    with timed(run.phases, "items write"):
        async with db.session() as session:
            await commit_later(session)
            driver = await driver_of(session)
            await driver.copy_records_to_table("order_item", records=rows, columns=_ITEM_COLUMNS)
            await session.commit()
        run.items_in += len(rows)


@batch_job  # millions of short-lived rows
async def import_orders(
    db: Database,
    shop_id: int,
    order_list: Path,
    item_list: Path | None = None,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    phases: Phases | None = None,
    apart: bool | None = None,
) -> ImportResult:
    """Import an order list and, if given, its item list; see the module's text.

    ``phases``, when given, gets the seconds spent in each phase added to it (see
    :data:`Phases`): reading, checking against the database, writing. ``apart``: parse
    the files in a process of their own (by default when they are large, see
    :func:`xiaoer.sellercentre.parsing.open_source`).

    Raises :class:`xiaoer.sellercentre.exports.ExportError` when a file cannot be read as
    an export at all (wrong kind, missing required columns); nothing is written then.
    """
    now = now or utcnow()
    result = ImportResult()
    async with db.session() as session:
        shop = await session.get(Shop, shop_id)
        if shop is None:
            raise ValueError(say("no shop with id {shop_id}", shop_id=shop_id))
        policy = await policy_on(session, shop_id)
        skus = {
            code: sid
            for code, sid in await session.execute(
                select(Sku.code, Sku.id).where(Sku.shop_id == shop_id)
            )
            if code
        }
        run = _Run(
            shop_id,
            shop.platform,
            policy,
            now,
            result,
            skus=skus,
            postgres=db.dialect == "postgresql",
            phases=phases,
        )

    # Both files are opened first, so that a wrong item list fails before any write; a
    # large one is read and parsed by a process of its own (see :mod:`.parsing`).
    async with contextlib.AsyncExitStack() as files:
        orders = await files.enter_async_context(
            open_source(Opening(order_list, "orders", now=now), order_entries, CHUNK, apart=apart)
        )
        items_source = None
        if item_list is not None:
            items_source = await files.enter_async_context(
                open_source(Opening(item_list, "items"), item_groups, CHUNK, apart=apart)
            )
        async with contextlib.AsyncExitStack() as stack:  # the stager's connections
            await _import_orders_then_items(
                db, run, orders, items_source, order_list, item_list, progress, stack
            )
        for source, path in ((orders, order_list), (items_source, item_list)):
            if source is not None and source.usage is not None and path is not None:
                result.parsing[path.name] = source.usage
    if run.analyzing is not None:
        run.analyzing.result()  # its error, if the import had none before
    async with db.session() as session:
        await record_event(
            session,
            shop_id,
            "order.imported",
            {"file": order_list.name, **result.summary()},
            at=now,
        )
        await session.commit()
    return result


async def _import_orders_then_items(
    db: Database,
    run: _Run,
    orders: Source,
    items_reader: Source | None,
    order_list: Path,
    item_list: Path | None,
    progress: Progress | None,
    stack: contextlib.AsyncExitStack,
) -> None:
    result = run.result
    try:
        await _import_order_rows(db, run, orders, order_list.name, progress, stack)
        run.tell(run.rejected_orders, order_list.name)
        if run.rejected_orders:
            await asyncio.to_thread(_read_cells, order_list, "orders", run.rejected_orders)
            result.rejects.append(
                write_rejects(order_list, orders.header, run.rejected_orders, orders.encoding)
            )
            result.reasons.append([row.reason for row in run.rejected_orders])
        if items_reader is not None and item_list is not None:
            await _import_item_rows(db, run, items_reader, item_list.name, progress)
            run.tell(run.rejected_items, item_list.name)
            if run.rejected_items:
                await asyncio.to_thread(_read_cells, item_list, "items", run.rejected_items)
                result.rejects.append(
                    write_rejects(
                        item_list,
                        items_reader.header,
                        run.rejected_items,
                        items_reader.encoding,
                    )
                )
                result.reasons.append([row.reason for row in run.rejected_items])
        if run.orders_in is not None:
            await run.orders_in
    finally:
        await _settle(run.orders_in)  # which may start the refreshing of statistics
        await _settle(run.analyzing)
        run.stager = None  # it holds the run: freed now, not by the cycle collector


async def _settle(task: asyncio.Task[None] | None) -> None:
    """Wait for ``task`` without raising: never leave a statement running behind an
    error; its own error is told by whoever awaits it."""
    if task is not None:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()


async def _import_order_rows(
    db: Database,
    run: _Run,
    reader: Source,
    name: str,
    progress: Progress | None,
    stack: contextlib.AsyncExitStack,
) -> None:
    """Read the order list in chunks; a row is parsed only when it is new or changed.

    On PostgreSQL a chunk's new orders are staged while the next chunk is read, and
    written a window at a time (see :class:`_Stager`); the stager stays open on
    ``stack`` while the last windows are written (``run.orders_in``).
    """
    if not run.postgres:
        # One connection throughout, with a page cache that holds the orders table's
        # indexes (SQLite's own is 2 MB): each chunk adds to pages all over them.
        async with db.engine.connect() as connection:
            await connection.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}"))
            await connection.execute(text(f"DROP TABLE IF EXISTS temp.{_STAGE}"))
            await connection.run_sync(_SQLITE_STAGE.create)
            await connection.commit()
            try:
                await _order_rows(db, run, reader, name, progress, None, connection)
                async with _bound(connection) as session:
                    await _write_sqlite_window(session, run, last=True)
                    await session.commit()
            finally:
                await connection.rollback()
                await connection.execute(text(f"DROP TABLE IF EXISTS temp.{_STAGE}"))
                await connection.execute(text("PRAGMA cache_size = -2000"))  # the default
                await connection.commit()
        if progress is not None:
            progress("orders", reader.bytes_total, reader.bytes_total)
        return
    stager = await stack.enter_async_context(_Stager.opened(db, run))
    run.stager = stager
    await _order_rows(db, run, reader, name, progress, stager)
    run.orders_in = asyncio.create_task(stager.finish())
    if progress is not None:
        progress("orders", reader.bytes_total, reader.bytes_total)


async def _order_rows(
    db: Database,
    run: _Run,
    reader: Source,
    name: str,
    progress: Progress | None,
    stager: _Stager | None,
    connection: AsyncConnection | None = None,
) -> None:
    counts = run.result.orders
    async with contextlib.aclosing(reader.chunks()) as reading:
        chunks = timed_chunks(run.phases, "read", reading)
        async for batch in chunks:
            pending: list[Record | _Unparsed] = []
            with timed(run.phases, "digest"):
                for entry in batch:
                    counts.read += 1
                    if entry is None:
                        continue
                    if isinstance(entry, Rejected):
                        pid = entry.platform_order_id
                        if not pid or int(pid) not in run.seen:
                            run.refuse(entry, name)
                            if pid:  # its items are refused with it
                                run.seen[int(pid)] = 0
                            continue
                        line, cells = entry.line, entry.cells
                    else:
                        key = int(entry[0])
                        if key not in run.seen:
                            run.seen[key] = 0
                            pending.append(entry)
                            continue
                        # Cells come with a row read in this process only; the others'
                        # are read again for the rejects file.
                        unparsed = isinstance(entry, _Unparsed)
                        line = entry.line if unparsed else entry[-1]
                        cells = entry.cells if unparsed else []
                    duplicate = Rejected(line, _DUPLICATE, cells)
                    run.reject(run.rejected_orders, counts, duplicate, name)
            if pending:
                opened = db.session() if connection is None else _bound(connection)
                async with opened as session:
                    if run.postgres:
                        await commit_later(session)
                    copy = await _order_chunk(session, run, pending, reader.reader, name)
                    if connection is not None:
                        await _write_sqlite_window(session, run, last=False)
                    with timed(run.phases, "check"):
                        await session.commit()
                if copy is not None and stager is not None:
                    with timed(run.phases, "wait"):
                        await stager.add(copy)
                with timed(run.phases, "analyze"):
                    await _refresh_statistics(db, run, counts.created, _LOOKED_UP_ORDERS)
            if progress is not None:
                progress("orders", reader.bytes_read, reader.bytes_total)


async def _import_item_rows(
    db: Database, run: _Run, reader: Source, name: str, progress: Progress | None
) -> None:
    counts = run.result.items
    phases = run.phases
    # New items are copied in on up to COPIES connections at once, beside the reading;
    # those of orders in the last windows, still being written, are held back until
    # their window is in (the item list is read while those windows are written).
    copying: list[asyncio.Task[None]] = []
    ready: list[list[tuple[Any, ...]]] = []
    held: list[list[tuple[Any, ...]]] = []
    stager = run.stager
    held_below = [_NO_ID]  # the least ``written_below`` the held rows were sorted by

    def sort(rows: list[tuple[Any, ...]]) -> None:
        written = _NO_ID if stager is None else stager.written_below()
        now: list[tuple[Any, ...]] = []
        later: list[tuple[Any, ...]] = []
        for row in rows:
            (now if row[0] < written else later).append(row)
        if later:
            held_below[0] = min(held_below[0], written) if held else written
        for into, part in ((ready, now), (held, later)):
            if part:
                into.append(part)

    async def send() -> None:
        if run.orders_in is None or run.orders_in.done():
            ready.extend(held)
            held.clear()
        elif held and stager is not None and stager.written_below() > held_below[0]:
            again = [row for rows in held for row in rows]  # a window is in: its items go
            held.clear()
            sort(again)
        while ready:
            if len(copying) >= COPIES:
                with timed(phases, "items wait"):
                    await copying.pop(0)
            copying.append(asyncio.create_task(_copy_items(db, run, ready.pop(0))))

    try:
        reading = reader.chunks()
        async with contextlib.aclosing(reading):
            chunks = timed_chunks(phases, "items read", reading)
            async for batch in chunks:
                groups: list[list[Item]] = []
                for entry in batch:
                    if isinstance(entry, Rejected):
                        counts.read += 1
                        run.reject(run.rejected_items, counts, entry, name)
                    else:
                        counts.read += len(entry)
                        groups.append(entry)
                if groups:
                    with timed(phases, "items check"):
                        async with db.session() as session:
                            if run.postgres:
                                await commit_later(session)
                            rows = await _items_chunk(session, run, groups, name)
                            await session.commit()
                    if rows:
                        sort(rows)
                    await send()
                    with timed(phases, "analyze"):
                        await _refresh_statistics(db, run, run.items_in, _LOOKED_UP_ITEMS)
                if progress is not None:
                    progress("items", reader.bytes_read, reader.bytes_total)
        if run.orders_in is not None and stager is not None:
            with timed(phases, "items wait"):
                while not run.orders_in.done():  # each last window's items once it is in
                    landed = asyncio.ensure_future(stager.landed.wait())
                    await asyncio.wait([run.orders_in, landed], return_when=asyncio.FIRST_COMPLETED)
                    landed.cancel()
                    stager.landed.clear()
                    await send()
                await run.orders_in
        await send()
        while copying:
            await copying.pop(0)
        # The items as they are now, unless analysed at half as many or more (on a first
        # import they are copied in once the last orders are, mostly after the reading).
        with timed(phases, "analyze"):
            await _refresh_statistics(db, run, run.items_in, _LOOKED_UP_ITEMS)
    finally:
        if copying:  # never leave a COPY running behind an error
            await asyncio.wait(copying)
