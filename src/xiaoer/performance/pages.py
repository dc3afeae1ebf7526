"""The violations page (P4): an agent sees and appeals their own; the supervisor adds,
decides and sees everyone's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from xiaoer.core.money import MoneyError, typed_fen
from xiaoer.http.deps import SessionDep
from xiaoer.http.errors import status_of
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, render
from xiaoer.performance.access import Leader, Worker
from xiaoer.performance.models import ViolationStatus
from xiaoer.performance.violations import (
    ADDED_BY_HAND,
    ViolationError,
    ViolationFilter,
    ViolationFilterError,
    detect_violations,
    do_add_violation,
    do_appeal,
    do_decide,
    evidence_link,
    violation_for,
    violations_for,
)
from xiaoer.staff.models import StaffAccount, is_leader
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/performance")

# The rules the list can be narrowed to: every rule a violation may name.
RULES_SHOWN = (
    "note_late_or_wrong",
    "note_wrong_at_factory",
    "loss_paid_at_cost_over",
    "tracking_neglect",
    "slow_reply",
    "no_reply_30_minutes",
    "no_reply_2_hours",
    "online_unattended_2_hours",
    "absent_without_leave",
    "late",
    "complaint_reply_missed",
    "bad_review_not_changed",
)


async def _page(
    request: Request, session: SessionDep, staff: StaffAccount, status_code: int = 200,
    chosen: ViolationFilter | None = None, **extra: Any,
) -> Response:  # fmt: skip
    chosen = chosen or ViolationFilter()
    try:
        if await detect_violations(session, staff.shop_id):
            await session.commit()
    except IntegrityError:  # another request recorded the same events just now
        await session.rollback()
    leader = is_leader(staff)
    filter_errors: dict[str, str] = {}
    try:
        rows = await violations_for(session, staff, chosen)
    except ViolationFilterError as exc:
        filter_errors[exc.field] = error_text(request, exc)
        rows = await violations_for(session, staff)
        status_code = 400 if status_code == 200 else status_code
    team = {s.id: s for s in await list_staff(session, staff.shop_id)}
    context = {
        "violations": list(reversed(rows)),
        "chosen": chosen,
        "filter_errors": filter_errors,
        "statuses": [s.value for s in ViolationStatus],
        "all_rules": RULES_SHOWN,
        "team": team,
        "leader": leader,
        "rules": list(ADDED_BY_HAND),
        "evidence_link": evidence_link,
        "error": None,
        **extra,
    }
    return render(request, "performance/violations.html", context, staff=staff,
                  status_code=status_code)  # fmt: skip


@router.get("/violations", response_class=HTMLResponse)
async def violations_page(
    request: Request,
    session: SessionDep,
    staff: Worker,
    agent: Annotated[str, Query(max_length=12)] = "",
    rule: Annotated[str, Query(max_length=32)] = "",
    month: Annotated[str, Query(max_length=16)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The list, narrowed by agent, rule, month and state as the query says."""
    agent_id = int(agent) if agent.isdigit() and len(agent) < 12 else None
    chosen = ViolationFilter(agent_id, rule.strip(), month.strip(), status.strip())
    return await _page(request, session, staff, chosen=chosen)


def _back() -> Response:
    return RedirectResponse("/performance/violations", status_code=303)


@router.post("/violations", response_class=HTMLResponse)
async def add_violation(
    request: Request,
    session: SessionDep,
    staff: Leader,
    agent_id: Annotated[int, Form()],
    rule: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=1000)],
    amount_yuan: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        amount = typed_fen(amount_yuan)
    except MoneyError as exc:
        return await _page(request, session, staff, 422, error=error_text(request, exc))
    try:
        await do_add_violation(
            session, supervisor=staff, agent_id=agent_id, rule=rule, note=note, amount_fen=amount
        )
    except ViolationError as exc:
        return await _page(request, session, staff, status_of(exc), error=error_text(request, exc))
    await session.commit()
    return _back()


@router.post("/violations/{violation_id}/appeal", response_class=HTMLResponse)
async def appeal(
    request: Request,
    session: SessionDep,
    staff: Worker,
    violation_id: RowId,
    text: Annotated[str, Form(max_length=1000)],
) -> Response:
    violation = await violation_for(session, staff, violation_id)
    try:
        await do_appeal(session, agent=staff, violation=violation, text=text)
    except ViolationError as exc:
        return await _page(request, session, staff, status_of(exc), error=error_text(request, exc))
    await session.commit()
    return _back()


@router.post("/violations/{violation_id}/decide", response_class=HTMLResponse)
async def decide(
    request: Request,
    session: SessionDep,
    staff: Leader,
    violation_id: RowId,
    outcome: Annotated[str, Form(pattern="^(uphold|withdraw)$")],
    decision: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    violation = await violation_for(session, staff, violation_id)
    try:
        await do_decide(session, supervisor=staff, violation=violation,
                        withdraw=outcome == "withdraw", decision=decision)  # fmt: skip
    except ViolationError as exc:
        return await _page(request, session, staff, status_of(exc), error=error_text(request, exc))
    await session.commit()
    return _back()
