"""Follow-up campaigns' pages (R4): the campaigns, an agent's list, the analysis.

Routes parse, call ``customers.campaigns``, commit and redirect, or show the page again
with the reason and what was typed; who may is decided in the service.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from xiaoer.core.sheets import XLSX_TYPE, write_sheet
from xiaoer.customers.campaigns import (
    PROBLEM_KINDS,
    SATISFACTION,
    Analysis,
    CallView,
    agents_to_choose,
    analysis,
    call_for,
    campaigns_of,
    do_close_campaign,
    do_record_result,
    do_start_campaign,
    groups_to_choose,
    is_campaign_leader,
    my_calls,
    results_of,
)
from xiaoer.customers.filters import FIELDS
from xiaoer.customers.people import MANAGERS, READERS
from xiaoer.http.charts import bar_chart
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.params import MAX_ID, RowId
from xiaoer.http.render import language_of, refused, render, shown_time
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/customers/campaigns")

Reader = Annotated[StaffAccount, Depends(require_staff(*READERS))]
Manager = Annotated[StaffAccount, Depends(require_staff(*MANAGERS))]

FILTER_ROWS = 4
PAGE = 100  # calls a page of a list shows
OPS = (">=", "<=", "=", "in", "has", "lacks")
YES = ("yes", "是", "true", "1")


def _number(text: str | None) -> int | None:
    """A positive id as typed, or None when it is not one."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 and 0 < int(text) <= MAX_ID else None


def _words(form: FormData, name: str, most: int) -> str:
    value = form.get(name, "")
    return value[:most] if isinstance(value, str) else ""


def rule_from_form(form: FormData) -> list[dict[str, Any]]:
    """The filter's rows (``field_1``, ``op_1``, ``value_1``, ``days_1`` …) as a rule for
    ``filters.parse_rule``, which says what is wrong with any of them."""
    rule: list[dict[str, Any]] = []
    for row in range(1, FILTER_ROWS + 1):
        name = _words(form, f"field_{row}", 32).strip()
        if not name:
            continue
        raw = _words(form, f"value_{row}", 200).strip()
        spec = FIELDS.get(name)
        value: Any = raw
        if spec is not None and spec.kind == "choice":
            value = [word for word in re.split(r"[,，、\s]+", raw) if word]
        elif spec is not None and spec.kind == "flag":
            value = raw.lower() in YES if raw else None
        item: dict[str, Any] = {"field": name, "op": _words(form, f"op_{row}", 8), "value": value}
        if name == "recent_orders":
            item["days"] = _words(form, f"days_{row}", 8).strip() or None
        rule.append(item)
    return rule


async def _list_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    *,
    error: str = "",
    typed: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    leader = is_campaign_leader(staff)
    context: dict[str, Any] = {
        "campaigns": await campaigns_of(session, staff, open_only=not leader),
        "leader": leader,
        "error": error,
        "typed": typed or {"source": "group", "split": "balanced", "agents": [], "rows": {}},
        "rows": range(1, FILTER_ROWS + 1),
        "fields": list(FIELDS),
        "ops": OPS,
    }
    if leader:
        context["groups"] = await groups_to_choose(session, staff)
        context["agents"] = await agents_to_choose(session, staff)
        if typed is None:
            chosen = _number(request.query_params.get("group"))
            context["typed"]["group_id"] = chosen
    return render(
        request, "customers/campaign_list.html", context, staff=staff, status_code=status_code
    )


@router.get("")
async def campaigns_page(request: Request, session: SessionDep, staff: Reader) -> Response:
    """Leaders: every campaign and the form for a new one; agents: their open lists."""
    return await _list_page(request, session, staff)


@router.post("")
async def start_campaign(request: Request, session: SessionDep, staff: Manager) -> Response:
    form = await request.form()
    source_kind = _words(form, "source", 8)
    agent_ids = [n for n in (_number(v) for v in form.getlist("agent") if isinstance(v, str)) if n]
    source: dict[str, Any] = (
        {"filter": rule_from_form(form)}
        if source_kind == "filter"
        else {"group_id": _number(_words(form, "group_id", 20))}
    )
    started: list[int] = []

    async def run() -> None:
        campaign = await do_start_campaign(
            session, staff, _words(form, "name", 200), _words(form, "script", 10_000), source,
            _words(form, "split", 16), agent_ids,
        )  # fmt: skip
        started.append(campaign.id)

    message = await refused(request, session, run())
    if message is not None:
        typed = {
            "name": _words(form, "name", 200), "script": _words(form, "script", 10_000),
            "source": source_kind or "group", "group_id": source.get("group_id"),
            "split": _words(form, "split", 16), "agents": agent_ids,
            "rows": {key: _words(form, key, 200) for key in form if isinstance(key, str)
                     and key.startswith(("field_", "op_", "value_", "days_"))},
        }  # fmt: skip
        return await _list_page(
            request, session, staff, error=message, typed=typed, status_code=422
        )
    await session.commit()
    return RedirectResponse(f"/customers/campaigns/{started[0]}", status_code=303)


def _charts(t: Translator, figures: Analysis) -> list[Any]:
    """Satisfaction, problems and each agent's share done; a chart of nothing but zeros
    says there is no data yet."""
    empty = t("charts.no_data")
    scores = [(t("campaigns.score", n=n), float(c)) for n, c in figures.distribution.items()]
    problems = [(t(f"campaigns.kind_{k}"), float(c)) for k, c in figures.problems.items()]
    return [
        bar_chart(
            t("campaigns.chart_satisfaction"),
            scores if any(v for _, v in scores) else [],
            empty=empty,
        ),
        bar_chart(
            t("campaigns.chart_problems"),
            problems if any(v for _, v in problems) else [],
            empty=empty,
        ),
        bar_chart(
            t("campaigns.chart_agents"),
            [(a.name, a.done / a.calls if a.calls else 0.0) for a in figures.agents],
            empty=empty,
            kind="percent",
        ),
    ]


async def _campaign_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    campaign_id: int,
    *,
    error: str = "",
    typed: dict[str, str] | None = None,
    typed_call: int | None = None,
    status_code: int = 200,
) -> Response:
    agent = _number(request.query_params.get("agent"))
    page = min(_number(request.query_params.get("page")) or 1, 100_000)
    campaign, calls = await my_calls(
        session, staff, campaign_id, agent_id=agent, limit=PAGE + 1, offset=(page - 1) * PAGE
    )
    context: dict[str, Any] = {
        "campaign": campaign,
        "calls": calls[:PAGE],
        "page": page,
        "more": len(calls) > PAGE,
        "leader": is_campaign_leader(staff),
        "agent": agent,
        "error": error,
        "typed": typed or {},
        "typed_call": typed_call,
        "problem_kinds": PROBLEM_KINDS,
        "scores": SATISFACTION,
    }
    if context["leader"]:
        t = Translator(language_of(request, staff))
        figures = await analysis(session, staff, campaign_id)
        context.update(figures=figures, charts=_charts(t, figures))
    return render(
        request, "customers/campaign_page.html", context, staff=staff, status_code=status_code
    )


@router.get("/{campaign_id}")
async def campaign_page(
    request: Request, session: SessionDep, staff: Reader, campaign_id: RowId
) -> Response:
    """Leaders: the analysis and every list (``?agent=`` one agent's); an agent: their
    own list with the script and a result form per customer."""
    return await _campaign_page(request, session, staff, campaign_id)


@router.post("/calls/{call_id}")
async def record_result(
    request: Request, session: SessionDep, staff: Reader, call_id: RowId
) -> Response:
    call = await call_for(session, staff, call_id)
    campaign_id = call.campaign_id
    form = await request.form()
    score = _words(form, "satisfaction", 4).strip()
    satisfaction = (int(score) if score.isdigit() else -1) if score else None
    action = do_record_result(
        session, staff, call_id, _words(form, "reached", 8) in YES, satisfaction,
        _words(form, "feedback", 4000), _words(form, "problem_kind", 16),
        _words(form, "problem", 4000), _words(form, "next_step", 1000),
    )  # fmt: skip
    message = await refused(request, session, action)
    back = f"/customers/campaigns/{campaign_id}"
    agent = _number(_words(form, "agent", 20))
    if message is not None:
        typed = {key: _words(form, key, 4000) for key in form if isinstance(key, str)}
        return await _campaign_page(
            request, session, staff, campaign_id, error=message, typed=typed, typed_call=call_id,
            status_code=422,
        )  # fmt: skip
    await session.commit()
    query = f"?agent={agent}" if agent else ""
    return RedirectResponse(f"{back}{query}#call-{call_id}", status_code=303)


@router.post("/{campaign_id}/close")
async def close_campaign(
    request: Request, session: SessionDep, staff: Manager, campaign_id: RowId
) -> Response:
    message = await refused(request, session, do_close_campaign(session, staff, campaign_id))
    if message is not None:
        return await _campaign_page(
            request, session, staff, campaign_id, error=message, status_code=422
        )
    await session.commit()
    return RedirectResponse(f"/customers/campaigns/{campaign_id}", status_code=303)


def _row(t: Translator, zone: str, number: int, view: CallView) -> list[Any]:
    call = view.call
    reached = "" if call.reached is None else t("campaigns.yes" if call.reached else "campaigns.no")
    return [
        number,
        view.nick,
        view.name,
        view.phone,
        view.agent,
        reached,
        call.satisfaction if call.satisfaction is not None else "",
        call.feedback,
        t(f"campaigns.kind_{call.problem_kind}") if call.problem_kind else "",
        call.problem,
        call.next_step,
        call.ticket_id if call.ticket_id is not None else "",
        shown_time(call.done_at, zone, "%Y-%m-%d %H:%M"),
    ]


COLUMNS = ("number", "nick", "person", "phone", "agent", "reached_x", "score", "feedback",
           "problem_kind", "problem", "next", "ticket", "done_at")  # fmt: skip


@router.get("/{campaign_id}/results.xlsx")
async def results_export(
    request: Request, session: SessionDep, staff: Manager, campaign_id: RowId
) -> Response:
    """Every call of the campaign with its result, numbered from 1 in the first column."""
    campaign, calls = await results_of(session, staff, campaign_id)
    t = Translator(language_of(request, staff))
    zone = str(getattr(request.state, "zone", "Asia/Shanghai"))
    data = write_sheet(
        t("campaigns.sheet"),
        [t(f"campaigns.col_{key}") for key in COLUMNS],
        [_row(t, zone, number, view) for number, view in enumerate(calls, start=1)],
    )
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-results.xlsx"'
        },
    )
