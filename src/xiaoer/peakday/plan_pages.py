"""The staffing plan's pages (``/peakday/forecasts``): the shop's forecasts and a new
one from the history with what last year's same day suggests; one forecast's plan
per team and quarter-hour against the roster, its gaps, and the suggested roster,
which the manager may put on the roster in one step.

Routes parse, call :mod:`xiaoer.peakday.forecast` and :mod:`xiaoer.peakday.plan`,
commit and redirect, or show the page again with the reason and what was typed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile as StarletteUpload

from xiaoer.core.policy_store import policy_on, shop_day
from xiaoer.core.texts import say
from xiaoer.http.charts import line_chart
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import RowId
from xiaoer.http.render import language_of, refused, render, shown_time
from xiaoer.peakday.forecast import (
    TEAMS,
    ForecastError,
    do_delete_forecast,
    do_forecast_from_history,
    do_forecast_from_rows,
    forecast_of,
    forecasts_of,
    intervals_of,
    suggest,
)
from xiaoer.peakday.forecast_file import read_forecast
from xiaoer.peakday.models import Forecast
from xiaoer.peakday.plan import Plan, plan_of, suggest_roster
from xiaoer.performance.attendance import do_set_roster
from xiaoer.shops.models import Shop
from xiaoer.staff.models import LEADERS, StaffAccount

router = APIRouter(prefix="/peakday/forecasts")

Leader = Annotated[StaffAccount, Depends(require_staff(*LEADERS))]


def _number(form: Any, name: str, default: float) -> float:
    text = str(form.get(name, "") or "").strip()[:32]
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ForecastError(say("not a number: {text}", text=text), name) from None


async def _list_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    *,
    typed: dict[str, Any] | None = None,
    imported: dict[str, Any] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    policy = await policy_on(session, staff.shop_id)
    today = await shop_day(session, staff.shop_id)
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    asked = request.query_params.get("day", "")[:10]
    try:
        day = date.fromisoformat(asked) if asked else _next_event(today)
    except ValueError:
        day = _next_event(today)
    suggestion, _ = await suggest(session, shop, day, policy.peakday.history_weeks)
    typed = typed or {
        "name": "",
        "day": day.isoformat(),
        "multiplier": suggestion.multiplier or policy.peakday.event_multiplier,
        "spike": policy.peakday.spike,
        "spike_minutes": policy.peakday.spike_minutes,
        "weeks": policy.peakday.history_weeks,
    }
    context = {
        "forecasts": await forecasts_of(session, staff),
        "typed": typed,
        "imported": imported or {"name": "", "day": typed["day"], "team": "presale"},
        "teams": TEAMS,
        "suggestion": suggestion,
        "error": error if imported is None else "",
        "import_error": error if imported is not None else "",
    }
    return render(request, "peakday/forecasts.html", context, staff=staff,
                  status_code=status_code)  # fmt: skip


def _next_event(today: date) -> date:
    """The next 11 November, the usual day to plan for."""
    event = date(today.year, 11, 11)
    return event if event >= today else date(today.year + 1, 11, 11)


@router.get("", response_class=HTMLResponse)
async def forecasts(request: Request, session: SessionDep, staff: Leader) -> Response:
    return await _list_page(request, session, staff)


MAX_UPLOAD = 2 * 1024 * 1024


@router.post("/import")
async def import_forecast(request: Request, session: SessionDep, staff: Leader) -> Response:
    """A forecast from a workbook (CSV or .xlsx: start, sessions, and optionally team)."""
    form = await request.form()
    upload = form.get("file")
    typed = {key: str(form.get(key, "") or "")[:128] for key in ("name", "day", "team")}
    made: list[Forecast] = []

    async def create() -> None:
        if not isinstance(upload, StarletteUpload) or not upload.filename:
            raise ForecastError(say("choose the forecast's file"), "file")
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise ForecastError(say("file larger than {size} MB", size=MAX_UPLOAD // 2**20))
        try:
            day = date.fromisoformat(typed["day"])
        except ValueError:
            raise ForecastError(say("give the day as YYYY-MM-DD"), "day") from None
        rows = read_forecast(data, upload.filename)
        team = typed["team"] or "presale"
        made.append(await do_forecast_from_rows(session, staff, name=typed["name"], day=day,
                                                rows=rows, team=team))  # fmt: skip

    message = await refused(request, session, create())
    if message is not None:
        return await _list_page(request, session, staff, imported=typed, error=message,
                                status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/peakday/forecasts/{made[0].id}", status_code=303)


@router.post("")
async def create_forecast(request: Request, session: SessionDep, staff: Leader) -> Response:
    form = await request.form()
    typed = {key: str(form.get(key, "") or "")[:128] for key in
             ("name", "day", "multiplier", "spike", "spike_minutes", "weeks")}  # fmt: skip
    made: list[Forecast] = []

    async def create() -> None:
        try:
            day = date.fromisoformat(typed["day"])
        except ValueError:
            raise ForecastError(say("give the day as YYYY-MM-DD"), "day") from None
        made.append(
            await do_forecast_from_history(
                session, staff, name=typed["name"], day=day,
                multiplier=_number(form, "multiplier", 0.0), spike=_number(form, "spike", 1.0),
                spike_minutes=int(_number(form, "spike_minutes", 60)),
                weeks=int(_number(form, "weeks", 0)) or None,
            )
        )  # fmt: skip

    message = await refused(request, session, create())
    if message is not None:
        return await _list_page(request, session, staff, typed=typed, error=message,
                                status_code=422)  # fmt: skip
    await session.commit()
    return RedirectResponse(f"/peakday/forecasts/{made[0].id}", status_code=303)


def _chart(plan: Plan, t: Translator, zone: ZoneInfo) -> list[Any]:
    charts = []
    for team in plan.teams:
        labels = [shown_time(r.starts_at, zone.key, "%H:%M") for r in team.rows]
        needed = [float(r.needed.agents) if r.needed.agents is not None else None
                  for r in team.rows]  # fmt: skip
        series: list[tuple[str, list[float | None]]] = [
            (t("peakday_plan.sessions"), [r.sessions for r in team.rows]),
            (t("peakday_plan.high"), [r.high for r in team.rows]),
            (t("peakday_plan.needed"), needed),
            (t("peakday_plan.rostered"), [float(r.rostered) for r in team.rows]),
        ]
        if any(r.last_year is not None for r in team.rows):
            series.append((t("peakday_plan.last_year"), [r.last_year for r in team.rows]))
        charts.append(
            line_chart(t("teams." + team.team), labels, series, empty=t("charts.no_data"))
        )
    return charts


@router.get("/{forecast_id}", response_class=HTMLResponse)
async def forecast_page(
    request: Request, session: SessionDep, staff: Leader, forecast_id: RowId
) -> Response:
    forecast = await forecast_of(session, staff, forecast_id)
    plan = await plan_of(session, staff, forecast)
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    t = Translator(language_of(request, staff))
    context = {
        "forecast": forecast,
        "plan": plan,
        "charts": _chart(plan, t, zone),
        "suggestions": await suggest_roster(session, staff, plan),
        "before": forecast.day - timedelta(days=1),
        "notice": request.query_params.get("added", "")[:8],
    }
    return render(request, "peakday/forecast.html", context, staff=staff)


@router.get("/{forecast_id}/forecast.csv")
async def forecast_file(
    request: Request, session: SessionDep, staff: Leader, forecast_id: RowId
) -> Response:
    """The forecast as ``start,sessions,team`` (shop time): what ``xiaoer staffing plan``
    and ``xiaoer rehearse`` read."""
    forecast = await forecast_of(session, staff, forecast_id)
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    lines = ["start,sessions,team"]
    for row in sorted(await intervals_of(session, forecast), key=lambda r: (r.slot, r.team)):
        start = row.starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        lines.append(f"{start},{row.sessions:g},{row.team}")
    name = f"forecast-{forecast.day.isoformat()}.csv"
    return Response("\n".join(lines) + "\n", media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.post("/{forecast_id}/delete")
async def delete_forecast(
    request: Request, session: SessionDep, staff: Leader, forecast_id: RowId
) -> Response:
    await do_delete_forecast(session, staff, forecast_id)
    await session.commit()
    return RedirectResponse("/peakday/forecasts", status_code=303)


@router.post("/{forecast_id}/roster")
async def roster_the_suggestion(
    request: Request, session: SessionDep, staff: Leader, forecast_id: RowId
) -> Response:
    """Put the suggested agents on their shifts of the forecast's day."""
    forecast = await forecast_of(session, staff, forecast_id)
    plan = await plan_of(session, staff, forecast)
    added = 0
    for team in await suggest_roster(session, staff, plan):
        for shift in team.shifts:
            for agent in shift.agents:
                await do_set_roster(session, staff.shop_id, agent.id, forecast.day,
                                    shift.shift, staff)  # fmt: skip
                added += 1
    await session.commit()
    return RedirectResponse(f"/peakday/forecasts/{forecast.id}?added={added}#roster",
                            status_code=303)  # fmt: skip
