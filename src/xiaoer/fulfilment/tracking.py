"""Tracking (F5): the carriers' scans of a shipped parcel, into one timeline per parcel.

Scans come from an aggregator's webhook (快递100/快递鸟-style pushes, see
``tracking_api``) or a CSV file (``xiaoer import tracking``). Each is read into a
:class:`Scan` — its time, our :class:`~xiaoer.fulfilment.models.Stage`, place and
text — and stored once: the same scan again (same parcel, time, stage and text, its
``digest``) is skipped, so a repeated push or file changes nothing.

A stored scan moves the parcel on: the newest one is its ``last_stage`` and
``last_scan_at``; ``signed`` makes it ``delivered`` (the trade's 交易成功 stays the
buyer's or the platform's); ``returned`` sends it back and makes it a problem, as
does a carrier's own 疑难 status. The no-scan and station deadlines are timers set
again on every scan (:mod:`xiaoer.fulfilment.parcel_problems`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, from_local, utcnow
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound
from xiaoer.core.events import record_event
from xiaoer.core.sheets import SheetError, read_rows, unquote_cell
from xiaoer.core.texts import say
from xiaoer.fulfilment.carriers import carrier_code
from xiaoer.fulfilment.models import Shipment, ShipmentStatus, Stage, TrackingEvent
from xiaoer.fulfilment.parcel_problems import (
    Problem,
    follow_scan,
    raise_problem,
    stop_following,
)
from xiaoer.shops.service import shop_zone

MAX_PLACE = 64
MAX_TEXT = 255
MAX_SCANS = 200  # one push; an aggregator sends the whole history, rarely over 50
FUTURE_SLACK = timedelta(minutes=10)  # carriers' clocks run a little ahead

# Where a parcel may still be scanned: once shipped, and after (a late 签收 scan of a
# parcel returned, the return's own scans).
TRACKED = (ShipmentStatus.shipped.value, ShipmentStatus.delivered.value,
           ShipmentStatus.returned.value)  # fmt: skip

# --- statuses to stages ------------------------------------------------------------------

# The aggregators' numeric states (快递100's: 0 在途, 1 揽收, 2 疑难, 3 签收, 4 退签,
# 5 派件, 6 退回, 7 转投, 8 清关, 14 拒签) and the words of their English codes.
STATUS_CODES: dict[str, Stage] = {
    "0": Stage.in_transit, "1": Stage.picked_up, "2": Stage.problem, "3": Stage.signed,
    "4": Stage.returned, "5": Stage.out_for_delivery, "6": Stage.returned,
    "7": Stage.in_transit, "8": Stage.in_transit, "14": Stage.problem,
    "ACCEPT": Stage.picked_up, "COLLECTED": Stage.picked_up, "PICKED_UP": Stage.picked_up,
    "TRANSPORT": Stage.in_transit, "IN_TRANSIT": Stage.in_transit,
    "DELIVERING": Stage.out_for_delivery, "OUT_FOR_DELIVERY": Stage.out_for_delivery,
    "SIGN": Stage.signed, "SIGNED": Stage.signed, "DELIVERED": Stage.signed,
    "RETURN": Stage.returned, "RETURNED": Stage.returned,
    "EXCEPTION": Stage.problem, "PROBLEM": Stage.problem, "FAILED": Stage.problem,
}  # fmt: skip

# Chinese status words, tried in this order: a refusal or a return mentions 签 too.
STATUS_WORDS: tuple[tuple[Stage, tuple[str, ...]], ...] = (
    (Stage.problem, ("疑难", "问题件", "拒收", "拒签", "异常", "滞留", "丢失", "破损")),
    (Stage.returned, ("退回", "退签", "退件", "返回寄件", "退还")),
    (Stage.signed, ("签收", "已签", "妥投")),
    (Stage.out_for_delivery, ("派件", "派送", "投递中")),
    (Stage.picked_up, ("揽收", "揽件", "已收件", "收寄")),
    (Stage.in_transit, ("在途", "运输", "转运", "中转", "到达", "发往", "清关", "转投")),
)


def stage_of(status: str) -> Stage | None:
    """Our stage for an aggregator's status (a code or Chinese words); None: unknown."""
    text = status.strip()
    if not text:
        return None
    code = STATUS_CODES.get(text.upper())
    if code is not None:
        return code
    if text in {s.value for s in Stage}:
        return Stage(text)
    for stage, words in STATUS_WORDS:
        if any(word in text for word in words):
            return stage
    return None


# --- scans -----------------------------------------------------------------------------


class TrackingError(ValueError):
    """A scan or a file that cannot be taken; the message says why."""


@dataclass(frozen=True)
class Scan:
    """One scan as read: UTC time, our stage, place and the carrier's words."""

    at: datetime
    stage: Stage
    place: str = ""
    text: str = ""

    @property
    def digest(self) -> str:
        key = f"{as_utc(self.at).isoformat()}|{self.stage.value}|{self.text}"
        return hashlib.blake2b(key.encode("utf-8"), digest_size=20).hexdigest()


_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")


def parse_time(raw: str, zone: str, now: datetime) -> datetime:
    """A scan's time: shop-local ``yyyy-MM-dd HH:mm:ss`` or ISO 8601 with an offset."""
    text = raw.strip()
    try:
        if _LOCAL.fullmatch(text):
            at = from_local(datetime.fromisoformat(text.replace(" ", "T")), zone)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                raise ValueError(text)
            at = as_utc(parsed)
    except ValueError:
        raise TrackingError(
            say("time {time!r} is neither yyyy-MM-dd HH:mm:ss nor ISO 8601 with an offset",
                time=text[:40])
        ) from None  # fmt: skip
    if at > now + FUTURE_SLACK:
        raise TrackingError(say("time {time!r} is in the future", time=text[:40]))
    return at


def read_scan(*, time: str, status: str, place: str, text: str, zone: str, now: datetime) -> Scan:
    """A scan from the words of a push or a file row; an unknown status is kept as in
    transit, its words in the text."""
    at = parse_time(time, zone, now)
    stage = stage_of(status)
    words = text.strip()
    if stage is None:
        stage = Stage.in_transit
        words = f"{status.strip()} {words}".strip() if status.strip() not in words else words
    return Scan(at, stage, place.strip()[:MAX_PLACE], words[:MAX_TEXT])


async def find_parcel(
    session: AsyncSession, shop_id: int, waybill: str, carrier: str | None = None
) -> Shipment | None:
    """The shop's shipped parcel with this waybill (and carrier, when given)."""
    query = select(Shipment).where(
        Shipment.shop_id == shop_id,
        Shipment.waybill == waybill.strip(),
        Shipment.status.in_(TRACKED),
    )
    if carrier:
        query = query.where(Shipment.carrier == carrier)
    return await session.scalar(query.order_by(Shipment.id.desc()).limit(1))


@dataclass
class Stored:
    stored: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


async def _known_digests(session: AsyncSession, shipment_id: int) -> set[str]:
    rows = await session.scalars(
        select(TrackingEvent.digest).where(TrackingEvent.shipment_id == shipment_id)
    )
    return set(rows)


async def do_record_scans(
    session: AsyncSession,
    shipment: Shipment,
    scans: Sequence[Scan],
    *,
    source: str,
    now: datetime | None = None,
) -> Stored:
    """Store the scans the parcel does not have yet and move the parcel on by them.
    The server's own callers (the webhook with a channel's secret, the CLI) decide
    who may; nothing here is a person's choice."""
    moment = now or utcnow()
    result = Stored()
    known = await _known_digests(session, shipment.id)
    fresh: list[Scan] = []
    for scan in scans:
        if scan.digest in known:
            result.skipped += 1
            continue
        known.add(scan.digest)
        fresh.append(scan)
        session.add(
            TrackingEvent(
                shop_id=shipment.shop_id, shipment_id=shipment.id, at=scan.at,
                stage=scan.stage.value, place=scan.place, text=scan.text, source=source,
                digest=scan.digest, created_at=moment,
            )
        )  # fmt: skip
    result.stored = len(fresh)
    if not fresh:
        return result
    await session.flush()
    await _move_on(session, shipment, fresh, moment, result)
    await record_event(
        session, shipment.shop_id, "parcel.tracked",
        {"shipment_id": shipment.id, "order_id": shipment.order_id, "stored": result.stored,
         "stage": shipment.last_stage, "status": shipment.status, "source": source},
        at=moment,
    )  # fmt: skip
    return result


async def _move_on(
    session: AsyncSession, shipment: Shipment, fresh: list[Scan], now: datetime, result: Stored
) -> None:
    newest = max(fresh, key=lambda s: s.at)
    last = as_utc(shipment.last_scan_at) if shipment.last_scan_at else None
    if last is None or newest.at >= last:
        shipment.last_stage = newest.stage.value
        shipment.last_scan_at = newest.at
    signed = next((s for s in fresh if s.stage is Stage.signed), None)
    returned = next((s for s in fresh if s.stage is Stage.returned), None)
    troubled = next((s for s in fresh if s.stage is Stage.problem), None)
    if returned is not None and shipment.status == ShipmentStatus.shipped.value:
        shipment.status = ShipmentStatus.returned.value
        await stop_following(session, shipment, now)
        await raise_problem(session, shipment, Problem.returned, returned.text, now=now)
        result.problems.append(Problem.returned.value)
        return
    if signed is not None and shipment.status == ShipmentStatus.shipped.value:
        shipment.status = ShipmentStatus.delivered.value
        shipment.delivered_at = signed.at
        await stop_following(session, shipment, now)
        return
    if shipment.status != ShipmentStatus.shipped.value:
        return
    if troubled is not None:
        await raise_problem(session, shipment, Problem.carrier, troubled.text, now=now)
        result.problems.append(Problem.carrier.value)
    await follow_scan(session, shipment, now)


# --- a push: one parcel's scans ----------------------------------------------------------


class ParcelNotFound(NotFound):
    """No shipped parcel of the shop has this waybill."""


@dataclass(frozen=True)
class RawScan:
    """A scan in the words it came in."""

    time: str
    status: str
    place: str = ""
    text: str = ""


async def do_take_push(
    session: AsyncSession,
    shop_id: int,
    *,
    carrier: str,
    waybill: str,
    scans: Sequence[RawScan],
    source: str = "webhook",
    now: datetime | None = None,
) -> Stored:
    """An aggregator's push for one parcel: every scan is read before any is stored, so a
    push with a bad scan stores nothing and says which scan is wrong."""
    moment = now or utcnow()
    code = carrier_code(carrier) if carrier.strip() else None
    if carrier.strip() and code is None:
        raise TrackingError(say("unknown carrier {carrier!r}", carrier=carrier.strip()[:32]))
    shipment = await find_parcel(session, shop_id, waybill, code)
    if shipment is None:
        raise ParcelNotFound(say("no shipped parcel with waybill {waybill}", waybill=waybill[:64]))
    zone = (await shop_zone(session, shop_id)).key
    read: list[Scan] = []
    for number, raw in enumerate(scans, start=1):
        try:
            read.append(read_scan(time=raw.time, status=raw.status, place=raw.place,
                                  text=raw.text, zone=zone, now=moment))  # fmt: skip
        except TrackingError as exc:
            wrong = say("scan {number}: {reason}", number=number, reason=exc.args[0])
            raise TrackingError(wrong) from None
    return await do_record_scans(session, shipment, read, source=source, now=moment)


# --- a file: many parcels' scans ---------------------------------------------------------

WAYBILL, CARRIER, TIME, STATUS, PLACE, TEXT = "运单号", "快递公司", "时间", "状态", "地点", "描述"
REQUIRED = (WAYBILL, TIME, STATUS)
OPTIONAL = (CARRIER, PLACE, TEXT)
COMMIT_EVERY = 200  # parcels per transaction


@dataclass
class TrackingImport:
    """What a tracking file did: rows read, scans stored, rows already known, and each
    row refused with its line number and reason."""

    read: int = 0
    stored: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "read": self.read,
            "stored": self.stored,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "rejected_rows": [{"line": line, "reason": reason} for line, reason in self.rejected],
        }


def _decoded(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TrackingError(say("the file is neither UTF-8 nor GBK text"))


def file_rows(data: bytes, name: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV (UTF-8 or GBK) or XLSX tracking file, with their line numbers."""
    if name.lower().endswith(".xlsx"):
        try:
            return list(read_rows(data, REQUIRED, OPTIONAL))
        except SheetError as exc:
            raise TrackingError(exc.args[0]) from exc
    reader = csv.reader(io.StringIO(_decoded(data), newline=""))
    header = next(reader, None)
    if header is None:
        raise TrackingError(say("the file is empty"))
    names = [unquote_cell(h.strip()) for h in header]
    missing = [h for h in REQUIRED if h not in names]
    if missing:
        raise TrackingError(
            say("missing column {column!r} (the first row names the columns)", column=missing[0])
        )
    at = {h: names.index(h) for h in (*REQUIRED, *OPTIONAL) if h in names}
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        rows.append(
            (line, {h: unquote_cell(cells[i].strip()) if i < len(cells) else ""
                    for h, i in at.items()})
        )  # fmt: skip
    return rows


Progress = Callable[[str, int, int], None]


async def import_tracking(
    db: Database,
    shop_id: int,
    data: bytes,
    name: str,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> TrackingImport:
    """Import a tracking file into the shop's parcels; a row is refused with its line
    and reason and the others are kept; the same file again stores nothing.
    ``progress(phase, done, total)`` hears how far it is."""
    moment = now or utcnow()
    tell = progress or (lambda phase, done, total: None)
    result = TrackingImport()
    rows = file_rows(data, name)
    by_parcel: dict[int, list[tuple[int, Scan]]] = {}
    async with db.session() as session:
        zone = (await shop_zone(session, shop_id)).key
        for line, row in rows:
            result.read += 1
            try:
                shipment_id, scan = await _row(session, shop_id, row, zone, moment)
            except (TrackingError, ParcelNotFound) as exc:
                result.rejected.append((line, str(exc.args[0])))
                continue
            by_parcel.setdefault(shipment_id, []).append((line, scan))
            if result.read % COMMIT_EVERY == 0:
                tell("rows", result.read, len(rows))
    tell("rows", len(rows), len(rows))
    parcels = sorted(by_parcel)
    for start in range(0, len(parcels), COMMIT_EVERY):
        async with db.session() as session:
            for shipment_id in parcels[start : start + COMMIT_EVERY]:
                shipment = await session.get(Shipment, shipment_id)
                assert shipment is not None
                scans = [scan for _, scan in by_parcel[shipment_id]]
                stored = await do_record_scans(session, shipment, scans, source="csv", now=moment)
                result.stored += stored.stored
                result.unchanged += stored.skipped
            await session.commit()
        tell("parcels", min(start + COMMIT_EVERY, len(parcels)), len(parcels))
    return result


async def _row(
    session: AsyncSession, shop_id: int, row: dict[str, str], zone: str, now: datetime
) -> tuple[int, Scan]:
    waybill = row.get(WAYBILL, "").strip()
    if not waybill:
        raise TrackingError(say("the waybill number is empty"))
    carrier = row.get(CARRIER, "").strip()
    code = carrier_code(carrier) if carrier else None
    if carrier and code is None:
        raise TrackingError(say("unknown carrier {carrier!r}", carrier=carrier[:32]))
    if not row.get(STATUS, "").strip():
        raise TrackingError(say("the status is empty"))
    scan = read_scan(
        time=row.get(TIME, ""), status=row.get(STATUS, ""), place=row.get(PLACE, ""),
        text=row.get(TEXT, ""), zone=zone, now=now,
    )  # fmt: skip
    shipment = await find_parcel(session, shop_id, waybill, code)
    if shipment is None:
        raise ParcelNotFound(say("no shipped parcel with waybill {waybill}", waybill=waybill[:64]))
    return shipment.id, scan
