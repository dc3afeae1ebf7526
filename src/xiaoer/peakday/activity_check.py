"""The message check of D2: a draft that quotes an activity wrongly is stopped before it
is sent, with the activity's real rule in the message.

Registered with :func:`xiaoer.core.send_checks.register_send_check` by the web app. It
reads what a draft quotes — 满X减Y, X折 or X% off, 定金X抵Y, 尾款 and 发货 dates, 抢购价
and 限购, 满X送, 套餐价, an activity's name — and holds each against the shop's running,
upcoming and lately ended activities: a figure no activity has, an activity that has
ended or not yet started. A draft quoting rightly, or quoting nothing, passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.policy import Policy
from xiaoer.core.send_checks import Block
from xiaoer.core.texts import say
from xiaoer.peakday.activities import Activity, day_text, rule_text, shop_activities
from xiaoer.shops.service import shop_zone

# Nothing in a draft without one of these can quote an activity: no database read.
TRIGGER = re.compile(r"满|折|%|％|定金|尾款|预售|抢购|秒杀|限购|套餐|券|活动")
_NUM = r"(\d+(?:\.\d+)?)"
_YUAN = r"\s*(?:元|块钱|块)?\s*"
REDUCTION = re.compile(rf"满\s*{_NUM}{_YUAN}(?:立减|就减|减|省|-|—)\s*{_NUM}")
GIFT = re.compile(rf"满\s*{_NUM}{_YUAN}(?:就)?(?:送|赠)")
ZHE = re.compile(r"(\d(?:\.\d)?|[一二三四五六七八九][一二三四五六七八九]?)\s*折(?!扣)")
PERCENT = re.compile(r"(?:优惠|减|便宜|让利|off)\s*(\d{1,2})\s*[%％]|(\d{1,2})\s*[%％]\s*(?:的)?(?:优惠|折扣|off)")  # noqa: E501
DEPOSIT = re.compile(rf"定金{_YUAN}(?:是|为|只要|付)?{_NUM}{_YUAN}(?:(?:可以|可)?(?:抵|当|膨胀为|膨胀到|膨胀成)\s*{_NUM})?")  # noqa: E501
FLASH_PRICE = re.compile(rf"(?:抢购价|秒杀价|抢购|秒杀)\s*(?:是|为|只要|仅|才)?\s*{_NUM}\s*(?:元|块)")  # noqa: E501
LIMIT = re.compile(r"限购\s*(\d+)\s*(?:件|个|份|单|套)")
BUNDLE = re.compile(rf"套餐(?:价)?\s*(?:是|为|只要|仅|才)?\s*{_NUM}\s*(?:元|块)")
DAY = re.compile(r"(\d{1,2})\s*(?:月|\.|/)\s*(\d{1,2})\s*(?:日|号)?")
CLAUSE = re.compile(r"[，。！？；、!?;\n]+")
NOTICE = re.compile(r"开始|预热|即将|届时|到时|提前|还没开始|尚未开始|敬请期待|开抢")
ENDED_SAID = re.compile(r"已经?结束|结束了|已过期|过期了|已失效")
CN_DIGITS = {c: str(i) for i, c in enumerate("零一二三四五六七八九")}


def _fen(text: str) -> int | None:
    try:
        return int(Decimal(text) * 100)
    except InvalidOperation:
        return None


def _percent_off_of_zhe(text: str) -> int | None:
    """``8`` → 20, ``8.5`` / ``八五`` → 15, ``九`` → 10."""
    digits = "".join(CN_DIGITS.get(c, c) for c in text)
    if "." not in digits and len(digits) == 2:
        digits = f"{digits[0]}.{digits[1]}"
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    if not 0 < value < 10:
        return None
    return int(100 - value * 10)


def _days(text: str) -> list[tuple[int, int]]:
    found = []
    for month, day in DAY.findall(text):
        m, d = int(month), int(day)
        if 1 <= m <= 12 and 1 <= d <= 31:
            found.append((m, d))
    return found


def _ship_days(clause: str) -> list[tuple[int, int]]:
    """The dates a clause gives for shipping: those after 发货 (发货时间11月15日), else
    the one just before it (11月15日发货)."""
    at = clause.find("发货")
    if at < 0:
        return []
    after = _days(clause[at:])
    if after:
        return after
    before = _days(clause[:at])
    return before[-1:]


def _md(value: date | datetime, zone: ZoneInfo) -> tuple[int, int]:
    if isinstance(value, datetime):
        value = value.astimezone(zone).date()
    return value.month, value.day


@dataclass(frozen=True)
class Quote:
    """One figure a draft quotes, and how each activity's rules would say it."""

    said: str
    kinds: tuple[str, ...]
    match: str  # which test of :func:`_matches`
    values: tuple[object, ...]
    clause: str


def quotes_in(text: str) -> list[Quote]:
    """What a draft quotes of activities, clause by clause."""
    found: list[Quote] = []
    for clause in (c for c in CLAUSE.split(text.replace("：", ":")) if c.strip()):
        for m in REDUCTION.finditer(clause):
            found.append(Quote(m.group(0).strip(), ("full_reduction", "coupon"), "reduction",
                               (_fen(m.group(1)), _fen(m.group(2))), clause))  # fmt: skip
        for m in GIFT.finditer(clause):
            found.append(Quote(m.group(0).strip(), ("gift_with_purchase",), "gift",
                               (_fen(m.group(1)),), clause))  # fmt: skip
        member = "会员" in clause  # a member's price is not an activity's
        for m in ZHE.finditer("" if member else clause):
            off = _percent_off_of_zhe(m.group(1))
            if off is not None:
                found.append(Quote(m.group(0), ("time_discount",), "percent", (off,), clause))
        for m in PERCENT.finditer("" if member else clause):
            found.append(Quote(m.group(0), ("time_discount",), "percent",
                               (int(m.group(1) or m.group(2)),), clause))  # fmt: skip
        for m in DEPOSIT.finditer(clause):
            worth = _fen(m.group(2)) if m.group(2) else None
            found.append(Quote(m.group(0).strip(), ("presale",), "deposit",
                               (_fen(m.group(1)), worth), clause))  # fmt: skip
        ships = _ship_days(clause) if re.search(r"预售|定金|尾款", text) else []
        if ships:
            found.append(Quote(clause.strip(), ("presale",), "ships", tuple(ships), clause))
        if "尾款" in clause and (days := [d for d in _days(clause) if d not in ships]):
            found.append(Quote(clause.strip(), ("presale",), "balance", tuple(days), clause))
        for m in FLASH_PRICE.finditer(clause):
            found.append(Quote(m.group(0), ("flash_sale",), "flash_price", (_fen(m.group(1)),),
                               clause))  # fmt: skip
        for m in LIMIT.finditer(clause):
            found.append(Quote(m.group(0), ("flash_sale",), "limit", (int(m.group(1)),), clause))
        for m in BUNDLE.finditer(clause):
            found.append(Quote(m.group(0), ("bundle",), "bundle", (_fen(m.group(1)),), clause))
    return found


def _matches(quote: Quote, activity: Activity, zone: ZoneInfo) -> bool:
    r, v = activity.rules, quote.values
    if quote.match == "reduction":
        if activity.kind == "coupon":
            return (r.get("threshold_fen"), r["face_value_fen"]) == v
        return any((t["threshold_fen"], t["off_fen"]) == v for t in r["tiers"])
    if quote.match == "gift":
        return bool(r["threshold_fen"] == v[0])
    if quote.match == "percent":
        return bool(r["percent_off"] == v[0])
    if quote.match == "deposit":
        return r["deposit_fen"] == v[0] and v[1] in (None, r["deposit_worth_fen"])
    if quote.match == "balance":
        start = datetime.fromisoformat(r["balance_from"]).astimezone(zone).date()
        end = datetime.fromisoformat(r["balance_until"]).astimezone(zone).date()
        window = {_md(start + timedelta(days=n), zone) for n in range((end - start).days + 1)}
        return all(day in window for day in v)
    if quote.match == "ships":
        return all(day == _md(date.fromisoformat(r["ships_on"]), zone) for day in v)
    if quote.match == "flash_price":
        return bool(r["price_fen"] == v[0])
    if quote.match == "limit":
        return bool(r["limit_per_buyer"] == v[0])
    if quote.match == "bundle":
        return bool(r["bundle_price_fen"] == v[0])
    return False


def _rules_of(activities: Iterable[Activity], zone: ZoneInfo) -> str:
    return "；".join(f"「{a.name}」{rule_text(a, zone)}" for a in activities)


def _ended(activity: Activity, zone: ZoneInfo) -> Block:
    return Block(
        "activity_ended",
        say("{name} ended on {day}; it no longer applies", name=activity.name,
            day=day_text(activity.promotion.ends_at, zone)),
    )  # fmt: skip


def _not_started(activity: Activity, zone: ZoneInfo) -> Block:
    return Block(
        "activity_not_started",
        say("{name} starts on {day}; it does not apply yet", name=activity.name,
            day=day_text(activity.promotion.starts_at, zone)),
    )  # fmt: skip


def _advance_notice(clause: str, activity: Activity, zone: ZoneInfo) -> bool:
    """The draft tells of an activity still to come as still to come."""
    starts = _md(activity.promotion.starts_at, zone)
    return bool(NOTICE.search(clause)) or starts in _days(clause)


def quote_problems(
    activities: list[Activity], text: str, now: datetime, zone: ZoneInfo
) -> list[Block]:
    """Why a draft quotes the activities wrongly; nothing when it quotes them rightly or
    quotes none of them. Pure: the caller reads the activities."""
    known = [a for a in activities if a.rules]
    blocks: list[Block] = []
    for quote in quotes_in(text):
        candidates = [a for a in known if a.kind in quote.kinds]
        if not candidates:
            continue  # the shop has no such activity: the draft speaks of something else
        right = [a for a in candidates if _matches(quote, a, zone)]
        running = [a for a in right if a.state(now) == "running"]
        if running:
            continue
        if right:
            activity = right[0]
            if activity.state(now) == "upcoming":
                if not _advance_notice(text, activity, zone):
                    blocks.append(_not_started(activity, zone))
            elif not ENDED_SAID.search(text):
                blocks.append(_ended(activity, zone))
            continue
        named = [a for a in candidates if a.name and a.name in text]
        live = named or [a for a in candidates if a.state(now) != "ended"] or candidates
        blocks.append(Block(
            "activity_wrong",
            say("the draft says {quoted}, but the rule is: {rules}", quoted=quote.said,
                rules=_rules_of(live, zone)),
        ))  # fmt: skip
    quoted_kinds = {kind for q in quotes_in(text) for kind in q.kinds}
    for activity in known:
        if not activity.name or activity.name not in text or activity.kind in quoted_kinds:
            continue
        state = activity.state(now)
        if state == "ended" and not ENDED_SAID.search(text):
            blocks.append(_ended(activity, zone))
        elif state == "upcoming" and not _advance_notice(text, activity, zone):
            blocks.append(_not_started(activity, zone))
    unique: dict[str, Block] = {}
    for block in blocks:
        unique.setdefault(block.message, block)
    return list(unique.values())


async def check_activity_quotes(
    session: AsyncSession,
    policy: Policy,
    shop_id: int,
    agent_id: int,
    agent_level: str,
    conversation_id: int,
    text: str,
) -> list[Block]:
    """The send check: the draft against the shop's activities of around now."""
    if not TRIGGER.search(text):
        return []
    now = utcnow()
    activities = await shop_activities(
        session, shop_id, since=now - timedelta(days=policy.activities.check_ended_days),
        until=now + timedelta(days=366),
    )  # fmt: skip
    if not activities:
        return []
    return quote_problems(activities, text, now, await shop_zone(session, shop_id))
