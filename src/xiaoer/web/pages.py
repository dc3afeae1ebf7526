"""Staff pages: the home page of each role, the team, the policy, the language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaoer.core.clock import utcnow
from xiaoer.core.policy_store import policy_on, policy_version_on
from xiaoer.http.charts import bar_chart
from xiaoer.http.deps import AnyStaff, SessionDep
from xiaoer.http.render import render
from xiaoer.orders import service as orders
from xiaoer.orders.models import TradeStatus
from xiaoer.shops.models import Shop
from xiaoer.staff.service import StaffError, do_set_language, list_staff

router = APIRouter()

LEADERS = ("supervisor", "manager", "admin")
SALES_DAYS = 14


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: SessionDep, staff: AnyStaff) -> Response:
    """One page, one section per role the account holds."""
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    now = utcnow()
    policy = await policy_on(session, shop.id, now.date())
    context: dict[str, object] = {"shop": shop, "policy": policy}
    counts = await orders.status_counts(session, shop.id)
    context["counts"] = counts
    if staff.has_role("agent"):
        context["paid_today"] = await orders.paid_today(session, shop.id, shop.timezone, now)
    if staff.has_role("supervisor", "manager"):
        context["team"] = await list_staff(session, shop.id)
    if staff.has_role("manager", "admin"):
        daily = await orders.daily_paid(session, shop.id, SALES_DAYS, shop.timezone, now)
        context["sales_total"] = sum(fen for _, fen in daily)
        context["sales_chart"] = bar_chart(
            [(day.strftime("%m-%d"), fen / 100) for day, fen in daily], title="sales"
        )
        context["sales_days"] = SALES_DAYS
    if staff.has_role("auditor", "warehouse"):
        context["to_ship"] = await orders.orders_in_status(
            session, shop.id, TradeStatus.WAIT_SELLER_SEND_GOODS
        )
    if staff.has_role("admin"):
        context["policy_version"] = await policy_version_on(session, shop.id, now.date())
    return render(request, "home.html", context, staff=staff)


@router.post("/me/language")
async def set_language(
    session: SessionDep,
    staff: AnyStaff,
    language: Annotated[str, Form(max_length=8)],
    back: Annotated[str, Form()] = "/",
) -> Response:
    try:
        await do_set_language(session, staff, language)
    except StaffError:
        return RedirectResponse("/", status_code=303)
    await session.commit()
    return RedirectResponse(
        back if back.startswith("/") and not back.startswith("//") else "/", status_code=303
    )
