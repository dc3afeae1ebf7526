"""Activities every agent knows (D2): each promotion's rules as data, kept by the leaders.

A promotion of the catalogue says its kind, name and window; its rules (满减 tiers, a
presale's deposit and balance window, a flash sale's price and limit…) are an
:class:`~xiaoer.peakday.activity_models.ActivityRules` row, checked per kind by
:func:`parse_rules` from what a form typed. Money is fen, times are UTC ISO strings,
a ship date is an ISO date. ``threshold_fen``/``discount_fen`` of the promotion stay
the figures of its simplest reading (the first 满减 tier, a coupon's threshold and face
value), which the welcome and older readers use.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Promotion, PromotionKind
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.money import MoneyError, fen_to_yuan, typed_fen
from xiaoer.core.texts import say
from xiaoer.peakday.activity_models import ActivityRules
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, Role, StaffAccount

# Who keeps the activities; every agent reads them.
KEEPERS = (*LEADERS, Role.admin.value)
READERS = (Role.agent.value, *KEEPERS)

KIND_NAMES = {
    PromotionKind.presale.value: "预售",
    PromotionKind.flash_sale.value: "抢购",
    PromotionKind.full_reduction.value: "满减",
    PromotionKind.time_discount.value: "限时折扣",
    PromotionKind.gift_with_purchase.value: "满就送",
    PromotionKind.bundle.value: "搭配套餐",
    PromotionKind.coupon.value: "优惠券",
}
KINDS = tuple(KIND_NAMES)
MAX_TIERS = 5
MAX_ITEMS = 10
MAX_NAME = 128
MAX_TEXT = 2000


@dataclass(frozen=True)
class RuleField:
    """One rule of a kind as a form shows it: ``unit`` says how it is typed and kept."""

    name: str
    unit: str  # yuan, int, percent, datetime, date, text, lines, tiers, bool
    required: bool = True


FIELDS: dict[str, tuple[RuleField, ...]] = {
    "full_reduction": (
        RuleField("tiers", "tiers"),
        RuleField("repeat", "bool", False),
        RuleField("stacks_with_coupon", "bool", False),
    ),
    "time_discount": (RuleField("percent_off", "percent"),),
    "presale": (
        RuleField("deposit_fen", "yuan"),
        RuleField("deposit_worth_fen", "yuan"),
        RuleField("balance_from", "datetime"),
        RuleField("balance_until", "datetime"),
        RuleField("ships_on", "date"),
    ),
    "flash_sale": (RuleField("price_fen", "yuan"), RuleField("limit_per_buyer", "int")),
    "gift_with_purchase": (RuleField("threshold_fen", "yuan"), RuleField("gift", "text")),
    "bundle": (RuleField("items", "lines"), RuleField("bundle_price_fen", "yuan")),
    "coupon": (
        RuleField("face_value_fen", "yuan"),
        RuleField("threshold_fen", "yuan", False),
        RuleField("valid_days", "int", False),
    ),
}


class ActivityError(ValueError):
    """A rule of the trade says no; ``field`` names the form's field when one is wrong."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ActivityForbidden(ActivityError, NotPermitted):
    pass


class ActivityNotFound(ActivityError, NotFound):
    pass


@dataclass(frozen=True)
class Activity:
    """A promotion with its rules, as the pages, the quiz and the message check read it."""

    promotion: Promotion
    rules: dict[str, Any]
    version: int
    ended_early: bool = False

    @property
    def id(self) -> int:
        return self.promotion.id

    @property
    def kind(self) -> str:
        return self.promotion.kind

    @property
    def name(self) -> str:
        return self.promotion.name

    def state(self, now: datetime) -> str:
        """``upcoming``, ``running`` or ``ended`` at ``now``."""
        if now < self.promotion.starts_at:
            return "upcoming"
        return "running" if now < self.promotion.ends_at else "ended"

    @property
    def cover(self) -> str:
        """What a quiz attempt remembers it asked about: the activity at this version."""
        return f"{self.id}:{self.version}"


# --- reading the typed rules ---------------------------------------------------------


def _money(name: str, text: str) -> int:
    try:
        fen = typed_fen(text)
    except MoneyError as exc:
        raise ActivityError(exc.args[0], name) from exc
    if fen is None or fen <= 0:
        raise ActivityError(say("an amount above 0 yuan is needed"), name)
    return fen


def _int(name: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text.strip())
    except ValueError as exc:
        raise ActivityError(say("a whole number from {low} to {high}", low=low, high=high),
                            name) from exc  # fmt: skip
    if not low <= value <= high:
        raise ActivityError(say("a whole number from {low} to {high}", low=low, high=high), name)
    return value


def _moment(name: str, text: str, zone: ZoneInfo) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ActivityError(say("a date and time like 2026-11-11 00:00"), name) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(ZoneInfo("UTC"))


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ActivityError(say("a date like 2026-11-15"), name) from exc


def _tiers(text: str) -> list[dict[str, int]]:
    """``满299减30`` or ``299 30`` one a line → tiers, lowest threshold first."""
    tiers: list[dict[str, int]] = []
    for number, line in enumerate(text.replace("，", "\n").replace(",", "\n").splitlines(), 1):
        cleaned = line.strip()
        if not cleaned:
            continue
        parts = cleaned.replace("满", " ").replace("减", " ").replace("-", " ").split()
        if len(parts) != 2:
            raise ActivityError(
                say("line {line}: write a tier as 满299减30 or 299 30", line=number), "tiers"
            )
        try:
            threshold, off = typed_fen(parts[0]), typed_fen(parts[1])
        except MoneyError as exc:
            raise ActivityError(say("line {line}: write a tier as 满299减30 or 299 30",
                                    line=number), "tiers") from exc  # fmt: skip
        if not threshold or not off or off >= threshold:
            raise ActivityError(
                say("line {line}: the amount off is above 0 and below the threshold", line=number),
                "tiers",
            )
        tiers.append({"threshold_fen": threshold, "off_fen": off})
    if not tiers:
        raise ActivityError(say("at least one tier like 满299减30"), "tiers")
    if len(tiers) > MAX_TIERS:
        raise ActivityError(say("at most {n} tiers", n=MAX_TIERS), "tiers")
    tiers.sort(key=lambda t: t["threshold_fen"])
    for lower, higher in itertools.pairwise(tiers):
        if lower["threshold_fen"] == higher["threshold_fen"]:
            raise ActivityError(say("two tiers have the same threshold"), "tiers")
        if higher["off_fen"] <= lower["off_fen"]:
            raise ActivityError(say("a higher threshold takes more off"), "tiers")
    return tiers


def parse_rules(
    kind: str, typed: dict[str, str], zone: ZoneInfo, starts_at: datetime, ends_at: datetime
) -> dict[str, Any]:
    """The rules of a ``kind`` from a form's typed values, checked; raises
    :class:`ActivityError` naming the first wrong field."""
    if kind not in FIELDS:
        raise ActivityError(say("no such kind of activity"), "kind")
    rules: dict[str, Any] = {}
    for spec in FIELDS[kind]:
        text = typed.get(spec.name, "").strip()
        if spec.unit == "bool":
            rules[spec.name] = text in ("1", "on", "yes", "true")
            continue
        if not text:
            if spec.required:
                raise ActivityError(say("this is needed"), spec.name)
            rules[spec.name] = 0
            continue
        if spec.unit == "yuan":
            rules[spec.name] = _money(spec.name, text)
        elif spec.unit == "percent":
            rules[spec.name] = _int(spec.name, text, 1, 95)
        elif spec.unit == "int":
            rules[spec.name] = _int(spec.name, text, 1 if spec.required else 0, 999)
        elif spec.unit == "datetime":
            rules[spec.name] = _moment(spec.name, text, zone).isoformat()
        elif spec.unit == "date":
            rules[spec.name] = _day(spec.name, text).isoformat()
        elif spec.unit == "tiers":
            rules[spec.name] = _tiers(text)
        elif spec.unit == "lines":
            items = [line.strip() for line in text.splitlines() if line.strip()]
            if not 2 <= len(items) <= MAX_ITEMS or any(len(i) > 64 for i in items):
                raise ActivityError(
                    say("from 2 to {n} items, one a line, each at most 64 characters",
                        n=MAX_ITEMS), spec.name,
                )  # fmt: skip
            rules[spec.name] = items
        else:
            if len(text) > 64:
                raise ActivityError(say("at most {n} characters", n=64), spec.name)
            rules[spec.name] = text
    _check_together(kind, rules, starts_at, ends_at)
    return rules


def _check_together(kind: str, rules: dict[str, Any], starts: datetime, ends: datetime) -> None:
    if kind == "presale":
        if rules["deposit_worth_fen"] < rules["deposit_fen"]:
            raise ActivityError(
                say("the deposit is worth at least what is paid for it"), "deposit_worth_fen"
            )
        if rules["balance_until"] <= rules["balance_from"]:
            raise ActivityError(say("the balance window ends after it starts"), "balance_until")
        if datetime.fromisoformat(rules["balance_from"]) < starts:
            raise ActivityError(
                say("the balance is paid after the presale starts"), "balance_from"
            )
        if date.fromisoformat(rules["ships_on"]) < datetime.fromisoformat(
            rules["balance_from"]
        ).date():
            raise ActivityError(say("goods ship after the balance is paid"), "ships_on")
    if kind == "coupon" and rules["threshold_fen"] and (
        rules["threshold_fen"] <= rules["face_value_fen"]
    ):
        raise ActivityError(say("the threshold is above the face value"), "threshold_fen")


def simple_figures(kind: str, rules: dict[str, Any]) -> tuple[int, int]:
    """(threshold_fen, discount_fen) of the promotion row for its simplest reading."""
    if kind == "full_reduction":
        first = rules["tiers"][0]
        return first["threshold_fen"], first["off_fen"]
    if kind == "coupon":
        return rules["threshold_fen"], rules["face_value_fen"]
    if kind == "gift_with_purchase":
        return rules["threshold_fen"], 0
    if kind == "presale":
        return 0, rules["deposit_worth_fen"] - rules["deposit_fen"]
    return 0, 0


def rules_from_figures(promotion: Promotion) -> dict[str, Any]:
    """Rules read from the row alone, for a promotion kept before the rules were data."""
    if promotion.kind == "full_reduction" and promotion.threshold_fen > promotion.discount_fen > 0:
        tier = {"threshold_fen": promotion.threshold_fen, "off_fen": promotion.discount_fen}
        return {"tiers": [tier], "repeat": False, "stacks_with_coupon": False}
    if promotion.kind == "coupon" and promotion.discount_fen > 0:
        return {"face_value_fen": promotion.discount_fen,
                "threshold_fen": promotion.threshold_fen, "valid_days": 0}  # fmt: skip
    return {}


def typed_of(kind: str, rules: dict[str, Any], zone: ZoneInfo) -> dict[str, str]:
    """Rules back as a form types them."""
    typed: dict[str, str] = {}
    for spec in FIELDS.get(kind, ()):
        value = rules.get(spec.name)
        if value is None:
            typed[spec.name] = ""
        elif spec.unit == "yuan":
            typed[spec.name] = yuan(int(value)) if value else ""
        elif spec.unit == "bool":
            typed[spec.name] = "1" if value else ""
        elif spec.unit == "datetime":
            typed[spec.name] = datetime.fromisoformat(value).astimezone(zone).strftime(
                "%Y-%m-%dT%H:%M"
            )
        elif spec.unit == "tiers":
            typed[spec.name] = "\n".join(
                f"满{yuan(t['threshold_fen'])}减{yuan(t['off_fen'])}" for t in value
            )
        elif spec.unit == "lines":
            typed[spec.name] = "\n".join(value)
        else:
            typed[spec.name] = str(value) if value else ""
    return typed


# --- the rules in words ----------------------------------------------------------------


def yuan(fen: int) -> str:
    """``29900`` → ``"299"``, ``2950`` → ``"29.5"``: money as people write it."""
    text = fen_to_yuan(fen)
    return text.rstrip("0").rstrip(".") if "." in text else text


def zhe(percent_off: int) -> str:
    """20 % off → ``"8折"``, 15 % → ``"8.5折"``."""
    value = Decimal(100 - percent_off) / 10
    return f"{value.normalize():f}折"


def day_text(value: datetime | date, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(zone)
        return f"{value.month}月{value.day}日 {value:%H:%M}"
    return f"{value.month}月{value.day}日"


def tier_text(tier: dict[str, int]) -> str:
    return f"满{yuan(tier['threshold_fen'])}减{yuan(tier['off_fen'])}"


def rule_text(activity: Activity, zone: ZoneInfo) -> str:
    """The rules in a line of Chinese, as an agent would quote them."""
    r, kind = activity.rules, activity.kind
    if not r:
        return activity.promotion.description[:80]
    if kind == "full_reduction":
        text = "、".join(tier_text(t) for t in r["tiers"])
        extras = (["每满减，上不封顶"] if r.get("repeat") else []) + (
            ["可与店铺券叠加"] if r.get("stacks_with_coupon") else ["不与店铺券叠加"]
        )
        return f"{text}（{'，'.join(extras)}）"
    if kind == "time_discount":
        return f"全场{zhe(r['percent_off'])}"
    if kind == "presale":
        deposit = f"定金{yuan(r['deposit_fen'])}元"
        if r["deposit_worth_fen"] > r["deposit_fen"]:
            deposit += f"抵{yuan(r['deposit_worth_fen'])}元"
        start = datetime.fromisoformat(r["balance_from"])
        end = datetime.fromisoformat(r["balance_until"])
        ship = date.fromisoformat(r["ships_on"])
        return (
            f"{deposit}，尾款{day_text(start, zone)}至{day_text(end, zone)}支付，"
            f"{day_text(ship, zone)}起发货"
        )
    if kind == "flash_sale":
        return f"抢购价{yuan(r['price_fen'])}元，每人限购{r['limit_per_buyer']}件"
    if kind == "gift_with_purchase":
        return f"满{yuan(r['threshold_fen'])}元送{r['gift']}"
    if kind == "bundle":
        return f"{'+'.join(r['items'])} 套餐价{yuan(r['bundle_price_fen'])}元"
    if kind == "coupon":
        face = f"{yuan(r['face_value_fen'])}元券"
        text = f"满{yuan(r['threshold_fen'])}减{yuan(r['face_value_fen'])}" if r.get(
            "threshold_fen") else f"{face}无门槛"  # fmt: skip
        if r.get("valid_days"):
            text += f"，领取后{r['valid_days']}天内有效"
        return text
    return ""


# --- who may, and the changes --------------------------------------------------------------


def check_may_read(staff: StaffAccount) -> None:
    if not staff.has_role(*READERS):
        raise ActivityForbidden(say("only agents and their leaders read the activities"))


def check_may_keep(staff: StaffAccount) -> None:
    if not staff.has_role(*KEEPERS):
        raise ActivityForbidden(say("only a supervisor or the manager keeps the activities"))


@dataclass(frozen=True)
class ActivityInput:
    kind: str
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    typed: dict[str, str]


def check_activity(item: ActivityInput, zone: ZoneInfo) -> dict[str, Any]:
    """The checked rules of a new or changed activity."""
    if item.kind not in KINDS:
        raise ActivityError(say("no such kind of activity"), "kind")
    if not item.name.strip() or len(item.name) > MAX_NAME:
        raise ActivityError(say("a name of 1 to {n} characters", n=MAX_NAME), "name")
    if len(item.description) > MAX_TEXT:
        raise ActivityError(say("at most {n} characters", n=MAX_TEXT), "description")
    if item.ends_at <= item.starts_at:
        raise ActivityError(say("an activity ends after it starts"), "ends_at")
    return parse_rules(item.kind, item.typed, zone, item.starts_at, item.ends_at)


def _actor(staff: StaffAccount) -> str:
    return staff.number or staff.username


def _snapshot(promotion: Promotion, rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": promotion.kind,
        "name": promotion.name,
        "starts_at": promotion.starts_at.isoformat(),
        "ends_at": promotion.ends_at.isoformat(),
        "rules": rules,
    }


async def do_create_activity(
    session: AsyncSession, staff: StaffAccount, item: ActivityInput
) -> Activity:
    check_may_keep(staff)
    zone = await shop_zone(session, staff.shop_id)
    rules = check_activity(item, zone)
    threshold, discount = simple_figures(item.kind, rules)
    promotion = Promotion(
        shop_id=staff.shop_id, kind=item.kind, name=item.name.strip(),
        description=item.description.strip(), threshold_fen=threshold, discount_fen=discount,
        starts_at=item.starts_at, ends_at=item.ends_at,
    )  # fmt: skip
    session.add(promotion)
    await session.flush()
    row = ActivityRules(promotion_id=promotion.id, shop_id=staff.shop_id, rules=rules, version=1)
    session.add(row)
    await record_audit(
        session, shop_id=staff.shop_id, actor=_actor(staff), entity="activity",
        entity_id=str(promotion.id), action="create", after=_snapshot(promotion, rules),
    )  # fmt: skip
    return Activity(promotion, rules, 1)


async def load_activity(session: AsyncSession, staff: StaffAccount, promotion_id: int) -> Activity:
    """One activity of the reader's shop; another shop's is not found."""
    check_may_read(staff)
    promotion = await session.get(Promotion, promotion_id)
    if promotion is None or promotion.shop_id != staff.shop_id:
        raise ActivityNotFound(say("no such activity"))
    row = await session.get(ActivityRules, promotion_id)
    return _activity(promotion, row)


def _activity(promotion: Promotion, row: ActivityRules | None) -> Activity:
    if row is None:
        return Activity(promotion, rules_from_figures(promotion), 0)
    return Activity(promotion, dict(row.rules), row.version, row.ended_early_at is not None)


async def do_update_activity(
    session: AsyncSession, staff: StaffAccount, promotion_id: int, item: ActivityInput
) -> Activity:
    """Change an activity's name, window and rules (its kind stays)."""
    check_may_keep(staff)
    current = await load_activity(session, staff, promotion_id)
    if item.kind != current.kind:
        raise ActivityError(say("an activity keeps its kind; end it and add another"), "kind")
    zone = await shop_zone(session, staff.shop_id)
    rules = check_activity(item, zone)
    promotion = current.promotion
    before = _snapshot(promotion, current.rules)
    promotion.name, promotion.description = item.name.strip(), item.description.strip()
    promotion.starts_at, promotion.ends_at = item.starts_at, item.ends_at
    promotion.threshold_fen, promotion.discount_fen = simple_figures(item.kind, rules)
    after = _snapshot(promotion, rules)
    row = await session.get(ActivityRules, promotion.id)
    if row is None:
        row = ActivityRules(promotion_id=promotion.id, shop_id=staff.shop_id, rules=rules,
                            version=1)  # fmt: skip
        session.add(row)
    elif before != after:
        row.rules, row.version, row.updated_at = rules, row.version + 1, utcnow()
    if before != after:
        await record_audit(
            session, shop_id=staff.shop_id, actor=_actor(staff), entity="activity",
            entity_id=str(promotion.id), action="update", before=before, after=after,
        )  # fmt: skip
    await session.flush()
    return Activity(promotion, rules, row.version)


async def do_end_activity(
    session: AsyncSession,
    staff: StaffAccount,
    promotion_id: int,
    reason: str,
    now: datetime | None = None,
) -> Activity:
    """End a running or upcoming activity now (an upcoming one is ended unstarted)."""
    check_may_keep(staff)
    moment = now or utcnow()
    current = await load_activity(session, staff, promotion_id)
    if current.state(moment) == "ended":
        raise ActivityError(say("this activity has ended already"))
    if not reason.strip() or len(reason) > 200:
        raise ActivityError(say("say in 1 to 200 characters why it ends early"), "reason")
    promotion = current.promotion
    before = promotion.ends_at
    if moment < promotion.starts_at:  # never started: an empty window, ended at once
        promotion.starts_at = moment
    promotion.ends_at = moment
    row = await session.get(ActivityRules, promotion.id)
    if row is None:
        row = ActivityRules(promotion_id=promotion.id, shop_id=staff.shop_id,
                            rules=current.rules, version=1)  # fmt: skip
        session.add(row)
    row.ended_early_at, row.version, row.updated_at = moment, row.version + 1, moment
    await record_audit(
        session, shop_id=staff.shop_id, actor=_actor(staff), entity="activity",
        entity_id=str(promotion.id), action="end", before={"ends_at": before.isoformat()},
        after={"ends_at": promotion.ends_at.isoformat()}, reason=reason.strip(), at=moment,
    )  # fmt: skip
    await session.flush()
    return Activity(promotion, current.rules, row.version, True)


# --- reading the shop's activities -----------------------------------------------------------


async def shop_activities(
    session: AsyncSession,
    shop_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Activity]:
    """The shop's activities that end after ``since`` and start before ``until``, by start."""
    query = select(Promotion, ActivityRules).outerjoin(
        ActivityRules, ActivityRules.promotion_id == Promotion.id
    ).where(Promotion.shop_id == shop_id)  # fmt: skip
    if since is not None:
        query = query.where(Promotion.ends_at > since)
    if until is not None:
        query = query.where(Promotion.starts_at < until)
    rows = (await session.execute(query.order_by(Promotion.starts_at, Promotion.id))).all()
    return [_activity(promotion, row) for promotion, row in rows]


async def activities_for(
    session: AsyncSession, staff: StaffAccount, *, show_ended_days: int = 30
) -> list[Activity]:
    """What the activities page lists: upcoming, running and lately ended."""
    check_may_read(staff)
    since = utcnow() - timedelta(days=show_ended_days)
    return await shop_activities(session, staff.shop_id, since=since)


async def quiz_activities(
    session: AsyncSession, shop_id: int, now: datetime, lookahead_days: int
) -> list[Activity]:
    """The activities a quiz asks about: running, and starting within the look-ahead;
    only those with rules as data (a quiz needs rules to ask about)."""
    found = await shop_activities(
        session, shop_id, since=now, until=now + timedelta(days=lookahead_days)
    )
    return [a for a in found if a.rules]



def typed_input(kind: str, form: dict[str, str], zone: ZoneInfo) -> ActivityInput:
    """A form's typed values as an :class:`ActivityInput`; times on the shop's clock."""
    starts = _moment("starts_at", form.get("starts_at", ""), zone)
    ends = _moment("ends_at", form.get("ends_at", ""), zone)
    return ActivityInput(
        kind=kind, name=form.get("name", ""), description=form.get("description", ""),
        starts_at=starts, ends_at=ends,
        typed={spec.name: form.get(spec.name, "") for spec in FIELDS.get(kind, ())},
    )  # fmt: skip
