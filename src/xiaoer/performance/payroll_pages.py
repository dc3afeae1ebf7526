"""The payroll page (P1–P3): every agent's month item by item, each item explained and
linked to its evidence; the supervisor adds adjustments, locks the month and exports it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from xiaoer.core.clock import DEFAULT_ZONE, local, utcnow
from xiaoer.core.money import MoneyError, fen_to_decimal, fen_to_yuan, typed_fen
from xiaoer.core.sheets import XLSX_TYPE, Link, write_sheet
from xiaoer.core.texts import message_of, say
from xiaoer.http.deps import SessionDep
from xiaoer.http.errors import status_of
from xiaoer.http.i18n import Translator
from xiaoer.http.render import error_text, render
from xiaoer.performance.access import Leader, Worker
from xiaoer.performance.kpi import KpiError, month_bounds
from xiaoer.performance.payroll import (
    PayrollError,
    do_add_adjustment,
    do_lock,
    payroll,
    previous_month,
)
from xiaoer.staff.models import StaffAccount, is_leader
from xiaoer.staff.service import list_staff

router = APIRouter(prefix="/performance")


def _percent(rate: str) -> str:
    return f"{(Decimal(rate) * 100).normalize():f}%"


def describe(t: Translator, item: dict[str, Any]) -> str:
    """What one pay item is, in words, from its kind and detail."""
    kind, detail = item["kind"], item.get("detail") or {}
    if kind == "base":
        return t("payroll.why.base", level=t(f"levels.{detail['level']}"))
    if kind == "commission":
        return t("payroll.why.commission", orders=detail["orders"],
                 sales=fen_to_yuan(detail["sales_fen"]), rate=_percent(detail["rate"]))  # fmt: skip
    if kind == "sale_deduction":
        return t("payroll.why.sale_deduction", order=detail.get("order", ""),
                 sales=fen_to_yuan(detail["sales_fen"]), rate=_percent(detail["rate"]),
                 reason=detail.get("reason", ""))  # fmt: skip
    if kind == "refund_deduction":
        why = "payroll.why.refund_agent" if detail.get("agent_caused") else "payroll.why.refund"
        return t(why, order=detail.get("order", ""), sales=fen_to_yuan(detail["sales_fen"]),
                 rate=_percent(detail["rate"]), cause=detail.get("cause") or "—")  # fmt: skip
    if kind == "review_deduction":
        return t("payroll.why.review", order=detail.get("order", ""),
                 sales=fen_to_yuan(detail["sales_fen"]), rate=_percent(detail["rate"]))  # fmt: skip
    if kind == "team_bonus":
        text = t("payroll.why.team_bonus", base=fen_to_yuan(detail["base_fen"]),
                 share=_percent(detail["share"]), score=detail["score"])  # fmt: skip
        return text if detail.get("recorded") else text + t("payroll.why.no_score")
    if kind == "full_attendance":
        return t("payroll.why.full_attendance", **detail)
    if kind == "allowance":
        return t("payroll.why.allowance")
    if kind == "fine":
        rule = detail["rule"]
        key = f"payroll.rule.{rule}"
        name = t(key) if key in t.messages else rule
        status = t(f"payroll.status.{detail['status']}")
        text = f"{name} · {status}"
        return f"{text} · {detail['note']}" if detail.get("note") else text
    return str(detail.get("reason", ""))


def _month_of(value: str | None, zone: str) -> str:
    """The month asked for, else the last whole month on the shop's clock."""
    if not value:
        return previous_month(local(utcnow(), zone).date())
    month_bounds(value)
    return value


async def _page(
    request: Request,
    session: SessionDep,
    staff: StaffAccount,
    month: str | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    t = Translator(staff.language)
    zone = str(getattr(request.state, "zone", DEFAULT_ZONE))
    try:
        chosen = _month_of(month, zone)
    except KpiError as exc:
        chosen, error, status_code = _month_of(None, zone), error_text(request, exc), 400
    try:
        result = await payroll(session, staff.shop_id, chosen)
        await session.commit()
    except IntegrityError:  # another request recorded the same violations just now
        await session.rollback()
        await session.refresh(staff)
        result = await payroll(session, staff.shop_id, chosen)
    leader = is_leader(staff)
    rows = result.rows_for(staff)
    for row in rows:
        row["described"] = [
            {**item, "why": describe(t, item), "label": t(f"payroll.kind.{item['kind']}")}
            for item in row["items"]
        ]
    team = await list_staff(session, staff.shop_id)
    context = {
        "month": chosen,
        "rows": rows,
        "locked": result.locked,
        "total_fen": sum(int(r["total_fen"]) for r in rows),
        "leader": leader,
        "agents": [s for s in team if s.has_role("agent")],
        "teams": sorted({s.team for s in team if s.has_role("agent")}),
        "error": error,
    }
    return render(request, "performance/payroll.html", context, staff=staff,
                  status_code=status_code)  # fmt: skip


@router.get("/payroll", response_class=HTMLResponse)
async def payroll_page(
    request: Request, session: SessionDep, staff: Worker, month: str | None = None
) -> Response:
    return await _page(request, session, staff, month)


def _fen(yuan: str) -> int | None:
    try:
        return typed_fen(yuan)
    except MoneyError as exc:
        raise PayrollError(message_of(exc)) from exc


async def _refused(
    request: Request, session: SessionDep, staff: StaffAccount, month: str, exc: ValueError
) -> Response:
    """The payroll page again with why a change was refused, nothing of it kept."""
    await session.rollback()
    await session.refresh(staff)  # the rollback expired it
    return await _page(
        request, session, staff, month, error=error_text(request, exc),
        status_code=status_of(exc, 409),
    )  # fmt: skip


@router.post("/payroll/adjust", response_class=HTMLResponse)
async def add_adjustment(
    request: Request,
    session: SessionDep,
    staff: Leader,
    month: Annotated[str, Form(max_length=7)],
    kind: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=1000)],
    agent_id: Annotated[str, Form()] = "",
    team: Annotated[str, Form(max_length=16)] = "",
    order_id: Annotated[str, Form()] = "",
    amount_yuan: Annotated[str, Form(max_length=16)] = "",
    score: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    try:
        if kind == "team_score":
            if not score.strip().isdigit():
                raise PayrollError(say("a team score is a whole number from 0 to 100"))
            amount: int | None = int(score)
        else:
            amount = _fen(amount_yuan)
        await do_add_adjustment(
            session, actor=staff, month=month, kind=kind, amount_fen=amount,
            agent_id=int(agent_id) if agent_id.strip().isdigit() else None, team=team,
            order_id=int(order_id) if order_id.strip().isdigit() else None, reason=reason,
        )  # fmt: skip
    except (PayrollError, KpiError) as exc:
        return await _refused(request, session, staff, month, exc)
    await session.commit()
    return RedirectResponse(f"/performance/payroll?month={month}", status_code=303)


@router.post("/payroll/lock", response_class=HTMLResponse)
async def lock_month(
    request: Request,
    session: SessionDep,
    staff: Leader,
    month: Annotated[str, Form(max_length=7)],
) -> Response:
    try:
        await do_lock(session, actor=staff, month=month)
    except (PayrollError, KpiError) as exc:
        return await _refused(request, session, staff, month, exc)
    await session.commit()
    return RedirectResponse(f"/performance/payroll?month={month}", status_code=303)


def _evidence(link: str) -> Link | str:
    """An item's evidence as a link that opens from the downloaded workbook."""
    return Link("", link) if link else ""


SHEET_HEADERS = ("工号", "姓名", "级别", "项目", "金额（元）", "说明", "依据")


@router.get("/payroll.xlsx")
async def export_payroll(
    request: Request, session: SessionDep, staff: Leader, month: str
) -> Response:
    try:
        month_bounds(month)
    except KpiError as exc:
        return Response(
            error_text(request, exc), status_code=400, media_type="text/plain; charset=utf-8"
        )
    t = Translator("zh")
    result = await payroll(session, staff.shop_id, month)
    rows: list[tuple[Any, ...]] = []
    for line in result.rows():
        for item in line["items"]:
            rows.append((line["number"], line["name"], t(f"levels.{line['level']}"),
                         t(f"payroll.kind.{item['kind']}"), fen_to_decimal(item["amount_fen"]),
                         describe(t, item), _evidence(item.get("link", ""))))  # fmt: skip
        rows.append((line["number"], line["name"], "", t("payroll.total"),
                     fen_to_decimal(line["total_fen"]), "", ""))  # fmt: skip
    data = write_sheet(f"工资 {month}", SHEET_HEADERS, rows, base_url=str(request.base_url))
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="payroll-{month}.xlsx"'},
    )


__all__ = ["describe", "router"]
