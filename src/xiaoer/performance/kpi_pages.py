"""KPI pages (P6, D3) and the supervisor's live floor view (C11).

``/performance/kpi`` shows a period's figures per agent, team or the shop, with
charts: the trend of one figure per subject, the response-time distribution, the
inquiry funnel and the month's trade targets. Every count links to the rounds,
conversations or orders behind it; the table exports to Excel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.hooks import floor_panels
from xiaoer.core.money import fen_to_decimal, fen_to_yuan
from xiaoer.core.policy import in_span
from xiaoer.core.policy_store import policy_on
from xiaoer.core.sheets import XLSX_TYPE, Percent, write_sheet
from xiaoer.core.texts import say
from xiaoer.http.charts import Kind, bar_chart, line_chart
from xiaoer.http.deps import SessionDep
from xiaoer.http.errors import refusal
from xiaoer.http.i18n import Translator
from xiaoer.http.params import QueryId, RowId
from xiaoer.http.render import error_text, render
from xiaoer.performance.access import Leader, Worker
from xiaoer.performance.kpi import (
    KpiError,
    Report,
    agent_scope,
    check_report_agent,
    day_bounds,
    do_schedule_nightly,
    ends_before_start,
    ensure_rolled_up,
    inquiries_behind,
    month_bounds,
    orders_behind,
    period_bounds,
    report,
    response_distribution,
    rounds_behind,
    scope_for,
)
from xiaoer.performance.models import KpiScope, RosterEntry
from xiaoer.reception.access import conversation_for
from xiaoer.reception.models import (
    AgentPresence,
    Conversation,
    ConversationStatus,
    Message,
    PresenceStatus,
    ResponseRound,
)
from xiaoer.shops.service import shop_today, shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/performance")


# The table's columns: (key, kind) where kind says how a value is shown.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("inquiring_buyers", "count"),
    ("conversion", "percent"),
    ("order_conversion", "percent"),
    ("first_response_seconds", "seconds"),
    ("response_seconds", "seconds"),
    ("fast_rate", "percent"),
    ("reply_rate", "percent"),
    ("answer_ratio", "ratio"),
    ("slow_rounds", "count"),
    ("unanswered_rounds", "count"),
    ("long_conversations", "count"),
    ("peak_concurrent", "count"),
    ("service_fen", "money"),
    ("average_order_fen", "money"),
    ("reminder_success", "percent"),
    ("notes_on_time_rate", "percent"),
    ("refund_rate", "percent"),
)
SHOP_COLUMNS = (("paid_fen", "money"), ("silent_fen", "money"))
TREND_METRICS = (
    "conversion", "response_seconds", "first_response_seconds", "fast_rate", "reply_rate",
    "service_fen", "inquiring_buyers",
)  # fmt: skip
PERCENT_METRICS = {"conversion", "order_conversion", "fast_rate", "reply_rate",
                   "reminder_success", "notes_on_time_rate", "refund_rate"}  # fmt: skip


def show(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value * 100:.1f}%"
    if kind == "seconds":
        return f"{value:.1f}"
    if kind == "ratio":
        return f"{value:.2f}"
    if kind == "money":
        return fen_to_yuan(round(value))
    return str(value)


def sheet_value(value: Any, kind: str) -> Any:
    """A figure as a workbook keeps it: a number (a share in a percent format), empty
    when nothing was counted."""
    if value is None:
        return None
    if kind == "percent":
        return Percent(value)
    if kind in ("seconds", "ratio"):
        return round(float(value), 1 if kind == "seconds" else 2)
    if kind == "money":
        return fen_to_decimal(round(value))
    return value


def _day(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise KpiError(
            say("date {value!r}: expected YYYY-MM-DD, e.g. 2026-11-23", value=value)
        ) from exc


async def _report(
    session: AsyncSession, staff: StaffAccount, period: str, on: str | None, scope: str,
    agent: int | None = None,
) -> tuple[Report, date, date, KpiScope]:  # fmt: skip
    today = await shop_today(session, staff.shop_id)
    anchor = _day(on, today)
    window = (await policy_on(session, staff.shop_id, anchor)).kpi.window_days
    first, last = period_bounds(period, anchor, window)
    try:
        chosen = KpiScope(scope)
    except ValueError as exc:
        raise KpiError(say("scope {scope!r}: expected agent, team or shop", scope=scope)) from exc
    chosen, subjects = scope_for(staff, chosen)
    if agent is not None:
        chosen, subjects = KpiScope.agent, [str(agent)]
    await ensure_rolled_up(session, staff.shop_id, first, last)
    await do_schedule_nightly(session, staff.shop_id)
    await session.commit()
    return await report(session, staff.shop_id, first, last, chosen, subjects), first, last, chosen


async def _filters(
    request: Request, session: AsyncSession, staff: StaffAccount, period: str,
    on: str | None, month: str | None, agent: str | None,
) -> tuple[str, str | None, int | None, dict[str, str]]:  # fmt: skip
    """``month`` (YYYY-MM) is that month's period; ``agent`` one agent's row. A bad value
    is said beside its field and the rest of the page shows without it; an agent asking
    for another's figures is refused."""
    errors: dict[str, str] = {}
    if month:
        try:
            first, _ = month_bounds(month)
            period, on = "month", first.isoformat()
        except KpiError as exc:
            errors["on"] = error_text(request, exc)
    chosen: int | None = None
    if agent:
        try:
            chosen = await check_report_agent(session, staff, agent)
        except NotPermitted as exc:
            raise refusal(request, exc, 403) from exc
        except KpiError as exc:
            errors["agent"] = error_text(request, exc)
    return period, on, chosen, errors


def _subject_name(t: Translator, scope: KpiScope, subject: str, team: dict[int, Any]) -> str:
    if scope is KpiScope.shop:
        return t("kpi.whole_shop")
    if scope is KpiScope.team:
        return t(f"teams.{subject}") if f"teams.{subject}" in t.messages else subject
    person = team.get(int(subject))
    return f"{person.name} · {person.number}" if person is not None else subject


@router.get("/kpi", response_class=HTMLResponse)
async def kpi_page(
    request: Request,
    session: SessionDep,
    staff: Worker,
    period: str = "month",
    on: str | None = None,
    scope: str = "agent",
    metric: str = "conversion",
    month: str | None = None,
    agent: str | None = None,
) -> Response:
    t = Translator(staff.language)
    period, on, agent_id, errors = await _filters(request, session, staff, period, on, month, agent)
    try:
        result, first, last, chosen = await _report(session, staff, period, on, scope, agent_id)
    except KpiError as exc:
        raise refusal(request, exc, 400) from exc
    if metric not in TREND_METRICS:
        metric = "conversion"
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    columns = COLUMNS + (SHOP_COLUMNS if chosen is KpiScope.shop else ())
    rows: list[dict[str, Any]] = []
    for subject, figures in sorted(result.subjects.items()):
        values = figures.as_dict()
        rows.append({
            "subject": subject,
            "name": _subject_name(t, chosen, subject, team),
            "agent_id": int(subject) if chosen is KpiScope.agent else None,
            "cells": [
                (key, show(values.get(key), kind),
                 _drill(key, chosen, first, last, int(subject) if chosen is KpiScope.agent
                        else None))
                for key, kind in columns
            ],
        })  # fmt: skip
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    series: list[tuple[str, list[float | None]]] = []
    for row in rows[:7]:
        daily = result.days.get(str(row["subject"]))
        series.append(
            (str(row["name"]), [_metric(daily.get(d) if daily else None, metric) for d in days])
        )
    no_data = t("charts.no_data")
    trend = line_chart(t(f"kpi.col.{metric}"), [d.strftime("%m-%d") for d in days], series,
                       kind=_kind(metric), empty=no_data, width=1280, height=300)  # fmt: skip
    agent_filter = agent_id if agent_id is not None else agent_scope(staff, None)
    distribution = bar_chart(
        t("kpi.distribution"),
        [(label, float(n)) for label, n in
         await response_distribution(session, staff.shop_id, first, last, agent_filter)],
        empty=no_data,
    )  # fmt: skip
    totals = _totals(result)
    funnel = bar_chart(
        t("kpi.funnel"),
        [(t("kpi.col.inquiring_buyers"), float(totals.get("inquiring_buyers", 0))),
         (t("kpi.ordered"), float(totals.get("ordering_buyers", 0))),
         (t("kpi.paid"), float(totals.get("paying_buyers", 0)))],
        empty=no_data,
    )  # fmt: skip
    targets = await _targets(session, staff.shop_id, t, last)
    leader = staff.has_role(*LEADERS)
    context = {
        "period": period, "on": (on or last.isoformat()), "scope": chosen.value,
        "metric": metric, "first": first, "last": last, "rows": rows,
        "columns": [key for key, _ in columns], "trend": trend, "distribution": distribution,
        "funnel": funnel, "targets": targets, "metrics": TREND_METRICS, "leader": leader,
        "errors": errors, "agent": agent or "", "agent_id": agent_id,
        "agent_name": _subject_name(t, KpiScope.agent, str(agent_id), team)
        if agent_id is not None else "",
        "agents": [s for s in team.values() if "agent" in s.roles] if leader else [],
    }  # fmt: skip
    return render(request, "performance/kpi.html", context, staff=staff,
                  status_code=400 if errors else 200)  # fmt: skip


def _kind(metric: str) -> Kind:
    if metric in PERCENT_METRICS:
        return "percent"
    if metric.endswith("_fen"):
        return "fen"
    if metric.endswith("_seconds"):
        return "decimal"
    return "count"


# The page behind each column: (list, kind). Rates lead to what they were figured from.
DRILL: dict[str, tuple[str, str]] = {
    "inquiring_buyers": ("buyers", ""),
    "conversion": ("buyers", ""),
    "order_conversion": ("buyers", ""),
    "reply_rate": ("buyers", ""),
    "answer_ratio": ("buyers", ""),
    "long_conversations": ("buyers", ""),
    "peak_concurrent": ("buyers", ""),
    "first_response_seconds": ("rounds", "all"),
    "response_seconds": ("rounds", "all"),
    "fast_rate": ("rounds", "fast"),
    "slow_rounds": ("rounds", "slow"),
    "unanswered_rounds": ("rounds", "unanswered"),
    "service_fen": ("orders", "service"),
    "average_order_fen": ("orders", "service"),
    "reminder_success": ("orders", "reminded"),
    "notes_on_time_rate": ("orders", "paid"),
    "paid_fen": ("orders", "paid"),
    "silent_fen": ("orders", "silent"),
}


def _drill(key: str, scope: KpiScope, first: date, last: date, agent: int | None) -> str:
    """The link behind a figure; teams have none (their lists are their agents')."""
    if key not in DRILL or scope is KpiScope.team:
        return ""
    page, kind = DRILL[key]
    if scope is KpiScope.shop and key == "average_order_fen":
        kind = "paid"
    link = f"/performance/kpi/{page}?start={first}&end={last}"
    if agent is not None:
        link += f"&agent={agent}"
    return link + (f"&kind={kind}" if kind else "")


def _metric(figures: Any, metric: str) -> float | None:
    if figures is None:
        return None
    value = figures.as_dict().get(metric)
    return float(value) if value is not None else None


def _totals(result: Report) -> dict[str, int]:
    out: dict[str, int] = {}
    for figures in result.subjects.values():
        for key in ("inquiring_buyers", "ordering_buyers", "paying_buyers"):
            out[key] = out.get(key, 0) + figures.counts[key]
    return out


async def _targets(session: AsyncSession, shop_id: int, t: Translator, last: date) -> Any:
    """The month's paid trades against the shop's milestones (D3)."""
    month = last.strftime("%Y-%m")
    first, end = month_bounds(month)
    policy = await policy_on(session, shop_id, last)
    shop_month = await report(session, shop_id, first, end, KpiScope.shop)
    trades = shop_month.subjects[""].counts["paid_orders"] if "" in shop_month.subjects else 0
    milestones = sorted(policy.targets.monthly_trades)
    reached = [m for m in milestones if trades >= m]
    return {
        "month": month,
        "trades": trades,
        "milestones": milestones,
        "reached": reached,
        "chart": bar_chart(t("kpi.trades"), [(month, float(trades))],
                           marks=milestones, empty=t("charts.no_data")),
    }  # fmt: skip


@router.get("/kpi.xlsx")
async def kpi_export(
    request: Request,
    session: SessionDep,
    staff: Worker,
    period: str = "month",
    on: str | None = None,
    scope: str = "agent",
    agent: str | None = None,
) -> Response:
    t = Translator("zh")
    try:
        agent_id = await check_report_agent(session, staff, agent) if agent else None
        result, first, last, chosen = await _report(session, staff, period, on, scope, agent_id)
    except KpiError as exc:
        raise refusal(request, exc, 400) from exc
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    columns = COLUMNS + (SHOP_COLUMNS if chosen is KpiScope.shop else ())
    headers = [t("kpi.subject")] + [t(f"kpi.col.{key}") for key, _ in columns]
    rows = [
        [_subject_name(t, chosen, subject, team)]
        + [sheet_value(figures.as_dict().get(key), kind) for key, kind in columns]
        for subject, figures in sorted(result.subjects.items())
    ]
    data = write_sheet(f"KPI {first}~{last}", headers, rows)
    name = f"kpi-{chosen.value}-{first}-{last}.xlsx"
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _range(request: Request, session: AsyncSession, staff: StaffAccount,
                 start: str | None, end: str | None) -> tuple[date, date]:  # fmt: skip
    today = await shop_today(session, staff.shop_id)
    try:
        first, last = _day(start, today), _day(end, today)
    except KpiError as exc:
        raise refusal(request, exc, 400) from exc
    if last < first:
        raise HTTPException(400, error_text(request, ends_before_start(first, last)))
    return first, last


Behind = Callable[..., Awaitable[Sequence[Any]]]


async def _behind(
    request: Request, session: AsyncSession, staff: StaffAccount, *, start: str | None,
    end: str | None, agent: int | None, find: Behind, template: str, name: str,
    **filters: str,
) -> Response:  # fmt: skip
    """A page listing what a figure counted: rounds, orders or conversations."""
    first, last = await _range(request, session, staff, start, end)
    try:
        rows = await find(session, staff.shop_id, first, last,
                          agent_id=agent_scope(staff, agent), **filters)  # fmt: skip
    except KpiError as exc:
        raise refusal(request, exc, 400) from exc
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    context = {name: rows, "team": team, "first": first, "last": last, **filters}
    return render(request, template, context, staff=staff)


@router.get("/kpi/rounds", response_class=HTMLResponse)
async def rounds_page(
    request: Request, session: SessionDep, staff: Worker, start: str | None = None,
    end: str | None = None, agent: QueryId | None = None, kind: str = "all",
) -> Response:  # fmt: skip
    return await _behind(request, session, staff, start=start, end=end, agent=agent,
                         find=rounds_behind, template="performance/kpi_rounds.html",
                         name="rounds", kind=kind)  # fmt: skip


@router.get("/kpi/orders", response_class=HTMLResponse)
async def orders_page(
    request: Request, session: SessionDep, staff: Worker, start: str | None = None,
    end: str | None = None, agent: QueryId | None = None, kind: str = "paid",
) -> Response:  # fmt: skip
    return await _behind(request, session, staff, start=start, end=end, agent=agent,
                         find=orders_behind, template="performance/kpi_orders.html",
                         name="orders", kind=kind)  # fmt: skip


@router.get("/kpi/buyers", response_class=HTMLResponse)
async def buyers_page(
    request: Request, session: SessionDep, staff: Worker, start: str | None = None,
    end: str | None = None, agent: QueryId | None = None,
) -> Response:  # fmt: skip
    return await _behind(request, session, staff, start=start, end=end, agent=agent,
                         find=inquiries_behind, template="performance/kpi_buyers.html",
                         name="conversations")  # fmt: skip


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request, session: SessionDep, staff: Worker, conversation_id: RowId
) -> Response:
    """A conversation as it happened, with its response rounds: the evidence of a figure."""
    conversation = await conversation_for(session, staff, conversation_id)
    messages = list(
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )
    rounds = list(
        await session.scalars(
            select(ResponseRound)
            .where(ResponseRound.conversation_id == conversation.id)
            .order_by(ResponseRound.started_at)
        )
    )
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    context = {"conversation": conversation, "messages": messages, "rounds": rounds,
               "team": team}  # fmt: skip
    return render(request, "performance/conversation.html", context, staff=staff)


# --- The floor ------------------------------------------------------------------


async def floor_state(session: AsyncSession, shop_id: int, now: datetime) -> dict[str, Any]:
    """What the supervisor watches live: waiting buyers, who is on, breaches, peaks."""
    zone = await shop_zone(session, shop_id)
    today = now.astimezone(zone).date()
    policy = await policy_on(session, shop_id, today)
    waiting = (
        await session.execute(
            select(func.count(), func.min(Conversation.waiting_since)).where(
                Conversation.shop_id == shop_id,
                Conversation.status.in_(
                    (ConversationStatus.queued.value, ConversationStatus.active.value)
                ),
                Conversation.waiting_since.is_not(None),
            )
        )
    ).one()
    queued = await session.scalar(
        select(func.count()).where(
            Conversation.shop_id == shop_id,
            Conversation.status == ConversationStatus.queued.value,
        )
    )
    longest = int((now - as_utc(waiting[1])).total_seconds()) if waiting[1] is not None else 0
    online = set(
        await session.scalars(
            select(AgentPresence.staff_id).where(
                AgentPresence.shop_id == shop_id,
                AgentPresence.status == PresenceStatus.online.value,
            )
        )
    )
    on_shift = list(
        await session.scalars(
            select(RosterEntry).where(
                RosterEntry.shop_id == shop_id,
                RosterEntry.starts_at <= now,
                RosterEntry.ends_at > now,
            )
        )
    )
    rostered = {entry.staff_id for entry in on_shift}
    start = day_bounds(today, zone)[0]
    breaches = await session.scalar(
        select(func.count()).where(
            ResponseRound.shop_id == shop_id,
            ResponseRound.started_at >= start,
            ResponseRound.breached.is_(True),
        )
    )
    local_time = now.astimezone(zone).time()
    peaks = [
        {"span": span, "now": in_span(span, local_time)} for span in policy.reception.peak_hours
    ]
    in_peak = any(p["now"] for p in peaks)
    return {
        "waiting": int(waiting[0]),
        "queued": int(queued or 0),
        "longest_wait_seconds": longest,
        "online": sorted(online),
        "rostered": sorted(rostered),
        "missing": sorted(rostered - online),
        "off_roster": sorted(online - rostered),
        "breaches_today": int(breaches or 0),
        "peaks": peaks,
        "in_peak": in_peak,
        "peak_min_agents_online": policy.reception.peak_min_agents_online,
        "short_in_peak": in_peak and len(online) < policy.reception.peak_min_agents_online,
    }


@router.get("/floor", response_class=HTMLResponse)
async def floor_page(request: Request, session: SessionDep, staff: Leader) -> Response:
    now = utcnow()
    state = await floor_state(session, staff.shop_id, now)
    today = await shop_today(session, staff.shop_id)
    await ensure_rolled_up(session, staff.shop_id, today, today, now=now)
    panels = await floor_panels(session, staff.shop_id, now)
    await session.commit()
    day = await report(session, staff.shop_id, today, today, KpiScope.shop)
    figures = day.subjects.get("")
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    context = {"state": state, "team": team, "today": today, "panels": panels,
               "figures": figures.as_dict() if figures else {}, "show": show}  # fmt: skip
    return render(request, "performance/floor.html", context, staff=staff)


@router.get("/floor.json")
async def floor_json(session: SessionDep, staff: Leader) -> dict[str, Any]:
    return await floor_state(session, staff.shop_id, utcnow())
