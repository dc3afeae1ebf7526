"""Greetings (R3): the shop's words for birthdays, holidays and purchase anniversaries,
and the plan of a day — who is greeted, for what, when and through which channel.

A day's plan gives each person who accepts greetings (not merged away, not erased, not
opted out) their occasions of the day. On a public holiday everyone gets the holiday's
greeting; a birthday (or, failing one, a purchase anniversary) adds a second greeting —
each only while the person is under the month's cap (``greetings_per_month``, counting
what is planned or sent that month for other occasions), the holiday first. Each
greeting goes out at the person's likeliest hour that day outside the quiet hours
(:func:`xiaoer.customers.online.best_hour`). The channel is the chat when the person
has a conversation on any of their buyers, else e-mail when they gave an address, else
SMS when the shop has a gateway and the phone number; else the chat, which the sender
then skips with its reason. Planning stores one ``greeting`` row per person and
occasion, so planning a day twice adds nothing.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, func, or_, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.errors import NotFound
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.core.timers import schedule_timer
from xiaoer.customers.models import (
    CustomerStats,
    Greeting,
    GreetingKind,
    GreetingStatus,
    GreetingTemplate,
    OnlineProfile,
)
from xiaoer.customers.occasions import (
    HOLIDAY_KEYS,
    TITLES,
    anniversary_condition,
    birthday_condition,
    holiday_of,
)
from xiaoer.customers.online import DayHours
from xiaoer.customers.people import check_manager
from xiaoer.reception.models import Conversation
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

SEND = "greetings.send"
DAILY = "greetings.daily"
DAILY_AT = time(0, 10)  # shop time: each day's greetings are planned just after midnight
VARIABLES = ("name", "nick", "shop", "holiday", "years")
BATCH = 5000
COUNTED = (GreetingStatus.planned.value, GreetingStatus.sent.value)

# The shipped words, until the shop writes its own (kind, name).
DEFAULT_TEXTS: dict[tuple[str, str], str] = {
    ("birthday", "default"): "{name}，今天是您的生日，{shop}祝您生日快乐，新的一岁万事顺意！",
    ("anniversary", "default"): (
        "{name}，{years}年前的今天您第一次在{shop}下单，谢谢您一路的信任，我们会继续用心服务。"
    ),
    ("holiday", "default"): "{name}，{holiday}快乐！{shop}祝您和家人节日安康。",
    ("holiday", "spring_festival"): "{name}，新春快乐！{shop}给您拜年，祝来年顺顺利利、阖家团圆。",
    ("holiday", "mid_autumn"): "{name}，中秋快乐！月圆人团圆，{shop}祝您佳节美满。",
}


class GreetingError(ValueError):
    """A greeting template or plan the rules refuse; the message says why."""


@dataclass(slots=True)
class Planned:
    """One greeting of a day's plan."""

    customer: int
    kind: str
    send_at: datetime  # on the shop's clock, with its offset
    channel: str
    title: str
    occasion: str
    text: str
    template_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "kind": self.kind,
            "send_at": self.send_at.isoformat(),
            "channel": self.channel,
            "title": self.title,
        }


def plan_json(items: Iterable[Planned]) -> str:
    """The items as one JSON array (:meth:`Planned.as_json` each), each send time
    written once however many greetings share it."""
    stamps: dict[datetime, str] = {}
    rows = []
    for item in items:
        stamp = stamps.get(item.send_at)
        if stamp is None:
            stamp = stamps[item.send_at] = item.send_at.isoformat()
        rows.append(
            {
                "customer": item.customer,
                "kind": item.kind,
                "send_at": stamp,
                "channel": item.channel,
                "title": item.title,
            }
        )
    return json.dumps(rows, ensure_ascii=False)


@dataclass
class DayPlan:
    day: date
    # not in the repr: asyncio's run shows its task's result when it ends (a million)
    items: list[Planned] = field(default_factory=list, repr=False)
    holiday: str = ""  # the holiday greeted that day, its title
    calendar_known: bool = True  # false: the holiday calendar has no data for the year
    capped: int = 0  # greetings left out: the person was at the month's cap
    partial: bool = False  # stopped at the preview's limit


# -- templates ---------------------------------------------------------------------------


def _fields(body: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(body) if name is not None]
    except ValueError as exc:
        raise GreetingError(
            say("a brace in the greeting is not closed; write {{ and }} for braces themselves")
        ) from exc


def check_template(kind: str, name: str, body: str) -> None:
    """A template's kind, name and words: only the known variables, nothing unclosed."""
    if kind not in {k.value for k in GreetingKind}:
        raise GreetingError(say("no greeting kind {kind!r}", kind=kind))
    names = ("default", *HOLIDAY_KEYS) if kind == GreetingKind.holiday else ("default",)
    if name not in names:
        raise GreetingError(
            say("a {kind} greeting is named one of {names}", kind=kind, names=", ".join(names))
        )
    if not body.strip():
        raise GreetingError(say("the greeting is empty"))
    if len(body) > 500:
        raise GreetingError(say("a greeting is at most 500 characters"))
    for variable in _fields(body):
        if variable not in VARIABLES:
            raise GreetingError(
                say(
                    "unknown variable {{{variable}}}: use {known}",
                    variable=variable,
                    known=", ".join("{" + v + "}" for v in VARIABLES),
                )
            )


def fill(body: str, values: dict[str, Any]) -> str:
    return body.format(**{v: values.get(v, "") for v in VARIABLES})


def words_for(
    known: dict[tuple[str, str], Any], kind: str, key: str = ""
) -> tuple[str, int | None] | None:
    """The words (and template id) a greeting of ``kind`` (a holiday's ``key``) is sent
    with: the holiday's own, else the kind's. A holiday's own words switched off fall
    back to the kind's; the kind's switched off mean none of that kind is sent."""
    for name in (key, "default") if key else ("default",):
        value = known.get((kind, name))
        if isinstance(value, GreetingTemplate):
            if value.active:
                return value.body, value.id
            if name == "default":
                return None
        elif isinstance(value, str):
            return value, None
    return None


async def templates_of(session: AsyncSession, shop_id: int) -> dict[tuple[str, str], Any]:
    """The shop's templates by (kind, name): its own rows, else the shipped words."""
    found: dict[tuple[str, str], Any] = dict(DEFAULT_TEXTS)
    for row in await session.scalars(
        select(GreetingTemplate).where(GreetingTemplate.shop_id == shop_id)
    ):
        found[(row.kind, row.name)] = row
    return found


async def template_rows(session: AsyncSession, staff: StaffAccount) -> list[dict[str, Any]]:
    """Every template the manager may edit, the shipped ones included."""
    check_manager(staff)
    assert staff.shop_id is not None
    known = await templates_of(session, staff.shop_id)
    keys = [("birthday", "default"), ("anniversary", "default"), ("holiday", "default")]
    keys += [("holiday", k) for k in HOLIDAY_KEYS]
    rows = []
    for kind, name in keys:
        value = known.get((kind, name))
        row: dict[str, Any] = {"kind": kind, "name": name, "title": TITLES.get(name, "")}
        if isinstance(value, GreetingTemplate):
            row.update(id=value.id, body=value.body, active=value.active)
        else:
            row.update(id=None, body=value or "", active=value is not None)
        rows.append(row)
    return rows


async def do_save_template(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    kind: str,
    name: str,
    body: str,
    active: bool = True,
    template_id: int | None = None,
) -> GreetingTemplate:
    """Write the shop's words for a greeting (a new one, or template ``template_id``)."""
    check_manager(staff)
    body = body.strip()
    check_template(kind, name, body)
    assert staff.shop_id is not None
    if template_id is not None:
        row = await session.get(GreetingTemplate, template_id)
        if row is None or row.shop_id != staff.shop_id:
            raise NotFound(say("no such greeting template"))
        if (row.kind, row.name) != (kind, name):
            raise GreetingError(say("a template keeps its kind and name; add another instead"))
    else:
        row = await session.scalar(
            select(GreetingTemplate).where(
                GreetingTemplate.shop_id == staff.shop_id,
                GreetingTemplate.kind == kind,
                GreetingTemplate.name == name,
            )
        )
        if row is None:
            row = GreetingTemplate(shop_id=staff.shop_id, kind=kind, name=name, body=body)
            session.add(row)
    row.body, row.active = body, active
    row.updated_by_id, row.updated_at = staff.id, utcnow()
    await session.flush()
    return row


# -- the plan of a day -------------------------------------------------------------------


def month_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The shop's calendar month of ``day`` as UTC moments."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return (
        as_utc(datetime.combine(first, time(), zone)),
        as_utc(datetime.combine(following, time(), zone)),
    )


def _among(column: Any, ids: Sequence[int], dense: bool) -> Any:
    """SQL: ``column`` is one of ``ids`` — for a dense batch (every accepting person of
    an id range) the range itself, which costs nothing to send or plan."""
    return column.between(ids[0], ids[-1]) if dense else column.in_(ids)


def _buyers_of(ids: Sequence[int], dense: bool) -> Any:
    return or_(
        and_(_among(Customer.id, ids, dense), Customer.merged_into_id.is_(None)),
        _among(Customer.merged_into_id, ids, dense),
    )


async def _rows(session: AsyncSession, query: Any) -> list[Any]:
    """A plain read's rows, through the session's connection: a day's plan reads a
    million rows, and the ORM's handling of each (for columns, not objects) is no use."""
    return list((await (await session.connection()).execute(query)).all())


PERSON = (Customer.id, Customer.name, Customer.nick, Customer.email, Customer.phone)


def _accepting(shop_id: int) -> Any:
    return select(*PERSON).where(
        Customer.shop_id == shop_id,
        Customer.merged_into_id.is_(None),
        Customer.erased_at.is_(None),
        Customer.greetings_off_at.is_(None),
    )


async def _accepting_rows(
    session: AsyncSession, shop_id: int, after: int, condition: Any = None
) -> list[Any]:
    """The next batch of accepting persons after id ``after``: (id, name, nick, email, phone)."""
    query = _accepting(shop_id).where(Customer.id > after)
    if condition is not None:
        query = query.where(condition)
    return await _rows(session, query.order_by(Customer.id).limit(BATCH))


async def _personal(
    session: AsyncSession, shop: Shop, day: date, zone: ZoneInfo
) -> dict[int, tuple[str, int]]:
    """Persons with a birthday or purchase anniversary on ``day``: kind and years."""
    found: dict[int, tuple[str, int]] = {}
    firsts = await session.execute(
        select(Customer.id, CustomerStats.first_paid_at)
        .join(Customer, Customer.id == CustomerStats.customer_id)
        .where(
            CustomerStats.shop_id == shop.id,
            Customer.erased_at.is_(None),
            Customer.greetings_off_at.is_(None),
            Customer.merged_into_id.is_(None),
            anniversary_condition(day, zone),
        )
    )
    for who, first in firsts.all():
        assert first is not None
        found[int(who)] = ("anniversary", day.year - as_utc(first).astimezone(zone).year)
    after = 0
    while born := await _accepting_rows(session, shop.id, after, birthday_condition(day)):
        found.update({row.id: ("birthday", 0) for row in born})
        after = born[-1].id
    return found


async def _plan_batch(
    session: AsyncSession,
    shop: Shop,
    policy: Policy,
    day: date,
    zone: ZoneInfo,
    rows: list[Any],
    holiday: tuple[str, str] | None,
    personal: dict[int, tuple[str, int]],
    texts: dict[tuple[str, str], tuple[str, int | None] | None],
    plan: DayPlan,
    dense: bool,
) -> None:
    ids = [row.id for row in rows]
    # Only the profiles sure enough to be followed: the others are greeted at the default.
    # Each is read as its JSON text and only the day's 24 shares are turned into numbers
    # (decoding all 168 of a million profiles was most of a holiday's plan).
    chooser = DayHours(day, policy)
    fallback = datetime.combine(day, chooser.fallback, zone)
    moments: dict[int, datetime] = {}
    at_of: dict[int, datetime] = {}
    for who, raw in await _rows(
        session,
        select(OnlineProfile.customer_id, cast(OnlineProfile.hours, Text)).where(
            _among(OnlineProfile.customer_id, ids, dense),
            OnlineProfile.samples >= policy.customers.online_min_samples,
        ),
    ):
        hour = chooser.hour_of_text(raw)
        if hour is not None:
            if hour not in moments:
                moments[hour] = datetime.combine(day, time(hour, 0), zone)
            at_of[who] = moments[hour]
    # Who has a conversation, a look-up by its index for each of the batch's buyers: as
    # a scalar subquery (with its LIMIT) it cannot be turned into a read of every
    # conversation of the shop, which a join or EXISTS became on PostgreSQL; only the
    # buyers with one come back.
    first_chat = (
        select(Conversation.id)
        .where(Conversation.customer_id == Customer.id)
        .limit(1)
        .scalar_subquery()
    )
    chatting = {
        int(who)
        for (who,) in await _rows(
            session,
            select(func.coalesce(Customer.merged_into_id, Customer.id)).where(
                Customer.shop_id == shop.id, _buyers_of(ids, dense), first_chat.is_not(None)
            ),
        )
    }
    start, end = month_bounds(day, zone)
    today = [f"holiday:{day}", f"birthday:{day}", f"anniversary:{day}"]
    used = dict(
        (int(who), int(n))
        for who, n in await _rows(
            session,
            select(Greeting.customer_id, func.count())
            .where(
                # by the persons alone (they are the shop's), so the look-up takes
                # the (customer_id, occasion) index, not the shop's month of rows
                _among(Greeting.customer_id, ids, dense),
                Greeting.status.in_(COUNTED),
                Greeting.send_at >= start,
                Greeting.send_at < end,
                Greeting.occasion.not_in(today),
            )
            .group_by(Greeting.customer_id),
        )
    )
    cap = policy.customers.greetings_per_month
    sms = bool(policy.customers.sms_gateway)
    shop_name = shop.name
    occasion_of = {kind.value: f"{kind.value}:{day}" for kind in GreetingKind}
    for person in rows:
        who = person.id
        occasions: list[tuple[str, str, int]] = []  # kind, holiday key, years
        if holiday is not None:
            occasions.append(("holiday", holiday[0], 0))
        if who in personal:
            kind, years = personal[who]
            occasions.append((kind, "", years))
        if not occasions:
            continue
        if who in chatting:
            channel = "chat"
        elif person.email:
            channel = "email"
        elif sms and person.phone:
            channel = "sms"
        else:
            channel = "chat"
        at = at_of.get(who, fallback)
        left = cap - used.get(who, 0)
        for kind, key, years in occasions:
            words = texts.get((kind, key))
            if words is None:  # the shop switched this kind of greeting off
                continue
            if left <= 0:
                plan.capped += 1
                continue
            left -= 1
            body, template_id = words
            title = TITLES.get(key, "") if kind == "holiday" else ""
            said = body.format(
                name=person.name or person.nick or "亲",
                nick=person.nick,
                shop=shop_name,
                holiday=title,
                years=years,
            )
            plan.items.append(
                Planned(who, kind, at, channel, title, occasion_of[kind], said, template_id)
            )


async def plan_day(
    session: AsyncSession, shop: Shop, policy: Policy, day: date, *, limit: int | None = None
) -> DayPlan:
    """Who is greeted on ``day``, for what, when and how (nothing is stored); with
    ``limit``, the plan stops after about that many greetings (a page's preview)."""
    zone = ZoneInfo(shop.timezone)
    plan = DayPlan(day)
    await session.flush()  # the plan's reads go past the session (see ``_rows``)
    found = holiday_of(day)
    plan.calendar_known = found.known
    holiday = None
    if found.key and found.key in policy.customers.greet_holidays:
        holiday = (found.key, found.title)
        plan.holiday = found.title
    personal = await _personal(session, shop, day, zone)
    known = await templates_of(session, shop.id)
    texts = {
        (kind, key): words_for(known, kind, key)
        for kind, key in [(k.value, "") for k in GreetingKind]
        + [("holiday", k) for k in HOLIDAY_KEYS]
    }
    if holiday is not None:
        after = 0
        while rows := await _accepting_rows(session, shop.id, after):
            await _plan_batch(
                session, shop, policy, day, zone, rows, holiday, personal, texts, plan, True
            )
            after = rows[-1].id
            if limit is not None and len(plan.items) >= limit:
                plan.partial = True
                break
    else:
        chosen = sorted(personal)
        for start in range(0, len(chosen), BATCH):
            part = chosen[start : start + BATCH]
            rows = await _rows(
                session, _accepting(shop.id).where(Customer.id.in_(part)).order_by(Customer.id)
            )
            await _plan_batch(
                session, shop, policy, day, zone, rows, None, personal, texts, plan, False
            )
            if limit is not None and len(plan.items) >= limit:
                plan.partial = True
                break
    return plan


def check_plan(staff: StaffAccount) -> None:
    check_manager(staff)


async def do_plan_day(
    session: AsyncSession,
    shop: Shop,
    policy: Policy,
    day: date,
    *,
    staff: StaffAccount | None = None,
) -> tuple[DayPlan, int]:
    """Plan ``day`` and store its greetings (those stored already are kept as they are);
    returns the plan and how many greetings were added. The sender's timer is set for
    the first of them."""
    if staff is not None:
        check_plan(staff)
        if staff.shop_id != shop.id:
            raise NotFound(say("no such shop"))
    plan = await plan_day(session, shop, policy, day)
    added = await store(session, shop.id, plan.items)
    await do_schedule_daily(session, shop.id)
    return plan, added


async def do_schedule_daily(
    session: AsyncSession, shop_id: int, *, now: datetime | None = None
) -> None:
    """Keep one timer per shop that plans each day's greetings just after midnight.
    A shop's first stored plan (the page, ``xiaoer greetings plan --save``) starts it."""
    shop = await session.get(Shop, shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    tomorrow = as_utc(now or utcnow()).astimezone(zone).date() + timedelta(days=1)
    await schedule_timer(
        session,
        shop_id=shop_id,
        kind=DAILY,
        subject="greetings",
        due_at=as_utc(datetime.combine(tomorrow, DAILY_AT, zone)),
    )


# On PostgreSQL a day's greetings go in as one array a column: one statement for
# thousands of rows, where a row of parameters each took ten times as long.
_PG_STORE = text(
    """
    INSERT INTO greeting (shop_id, customer_id, kind, occasion, title, send_at, channel,
                          status, reason, text, template_id, created_at)
    SELECT :shop, u.customer, u.kind, u.occasion, u.title, u.send_at, u.channel,
           'planned', '', u.text, u.template, :now
    FROM unnest(CAST(:customers AS integer[]), CAST(:kinds AS text[]),
                CAST(:occasions AS text[]), CAST(:titles AS text[]),
                CAST(:send_ats AS timestamptz[]), CAST(:channels AS text[]),
                CAST(:texts AS text[]), CAST(:templates AS integer[]))
         AS u(customer, kind, occasion, title, send_at, channel, text, template)
    ON CONFLICT (customer_id, occasion) DO NOTHING
    """
)
STORE_BATCH = 20_000


async def store(session: AsyncSession, shop_id: int, items: Iterable[Planned]) -> int:
    """Write planned greetings, each once per person and occasion (those there already
    are left as they are); returns how many were added."""
    items = list(items)
    if not items:
        return 0
    postgres = session.get_bind().dialect.name == "postgresql"
    now = utcnow()
    added = 0
    for start in range(0, len(items), STORE_BATCH):
        part = items[start : start + STORE_BATCH]
        if postgres:
            result = await session.execute(
                _PG_STORE,
                {
                    "shop": shop_id,
                    "now": now,
                    "customers": [i.customer for i in part],
                    "kinds": [i.kind for i in part],
                    "occasions": [i.occasion for i in part],
                    "titles": [i.title for i in part],
                    "send_ats": [as_utc(i.send_at) for i in part],
                    "channels": [i.channel for i in part],
                    "texts": [i.text for i in part],
                    "templates": [i.template_id for i in part],
                },
            )
            added += int(getattr(result, "rowcount", 0) or 0)
            continue
        for item in part:
            result = await session.execute(
                sqlite_insert(Greeting)
                .values(
                    shop_id=shop_id, customer_id=item.customer, kind=item.kind,
                    occasion=item.occasion, title=item.title, send_at=as_utc(item.send_at),
                    channel=item.channel, status=GreetingStatus.planned.value, reason="",
                    text=item.text, template_id=item.template_id, created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["customer_id", "occasion"])
            )  # fmt: skip
            added += int(getattr(result, "rowcount", 0) or 0)
    await wake_sender(session, shop_id, min(as_utc(i.send_at) for i in items))
    return added


async def wake_sender(session: AsyncSession, shop_id: int, due_at: datetime) -> None:
    """Set the shop's sender timer for ``due_at`` unless it is set for earlier."""
    due = await session.scalar(
        select(Timer.due_at).where(
            Timer.shop_id == shop_id,
            Timer.kind == SEND,
            Timer.subject == "greetings",
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
    )
    if due is not None and as_utc(due) <= due_at:
        return
    await schedule_timer(session, shop_id=shop_id, kind=SEND, subject="greetings", due_at=due_at)


async def preview_day(
    session: AsyncSession, staff: StaffAccount, day: date, limit: int = 100
) -> DayPlan:
    """The first greetings of ``day``'s plan, for the greetings page."""
    check_plan(staff)
    shop = await session.get(Shop, staff.shop_id)
    if shop is None:
        raise NotFound(say("no such shop"))
    policy = await policy_on(session, shop.id, day)
    plan = await plan_day(session, shop, policy, day, limit=limit)
    plan.items = plan.items[:limit]
    return plan


async def do_plan_for(session: AsyncSession, staff: StaffAccount, day: date) -> tuple[DayPlan, int]:
    """Plan and store ``day``'s greetings of the staff member's shop."""
    check_plan(staff)
    shop = await session.get(Shop, staff.shop_id)
    if shop is None:
        raise NotFound(say("no such shop"))
    policy = await policy_on(session, shop.id, day)
    return await do_plan_day(session, shop, policy, day, staff=staff)


async def greeting_log(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    status: str = "",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[tuple[Greeting, Customer]], bool]:
    """The shop's greetings, the latest first, a page at a time; and whether more follow."""
    check_manager(staff)
    if status and status not in {s.value for s in GreetingStatus}:
        raise GreetingError(say("no greeting status {status!r}", status=status))
    query = (
        select(Greeting, Customer)
        .join(Customer, Customer.id == Greeting.customer_id)
        .where(Greeting.shop_id == staff.shop_id)
    )
    if status:
        query = query.where(Greeting.status == status)
    query = query.order_by(Greeting.send_at.desc(), Greeting.id.desc())
    rows = (await session.execute(query.offset((page - 1) * per_page).limit(per_page + 1))).all()
    found = [(g, c) for g, c in rows]
    return found[:per_page], len(found) > per_page
