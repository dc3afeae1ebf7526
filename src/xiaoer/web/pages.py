"""Staff pages: the home page of each role, and the language."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from xiaoer.core.clock import local, utcnow
from xiaoer.core.policy_store import policy_on, policy_version_on
from xiaoer.http.charts import column_chart
from xiaoer.http.deps import AnyStaff, SessionDep
from xiaoer.http.i18n import Translator
from xiaoer.http.render import language_of, render
from xiaoer.orders import service as orders
from xiaoer.orders.changes import changes_made
from xiaoer.orders.marks import current_notes
from xiaoer.orders.models import TradeStatus
from xiaoer.shops.models import Shop
from xiaoer.staff.service import StaffError, do_set_language, list_staff

router = APIRouter()

LEADERS = ("supervisor", "manager", "admin")
SALES_DAYS = 14
BACK_OFFICE_ROWS = 30  # orders to audit or ship, and changes, on the back office's home


def _at(moment: datetime | None, zone: str) -> str:
    return "" if moment is None else local(moment, zone).strftime("%m-%d %H:%M")


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
        t = Translator(language_of(request, staff))
        context["sales_chart"] = column_chart(
            t("home.manager_sales", days=SALES_DAYS),
            [(day.strftime("%m-%d"), float(fen)) for day, fen in daily],
            kind="fen", empty=t("charts.no_data"),
        )  # fmt: skip
        context["sales_days"] = SALES_DAYS
    if staff.has_role("auditor", "warehouse"):
        to_ship = await orders.orders_in_status(
            session, shop.id, TradeStatus.WAIT_SELLER_SEND_GOODS, limit=BACK_OFFICE_ROWS
        )
        notes = await current_notes(session, [order.id for order in to_ship])
        context["to_ship"] = [
            (order, notes.get(order.id), _at(order.paid_at, shop.timezone)) for order in to_ship
        ]
        context["changes_made"] = [
            (change, order, agent, _at(change.decided_at or change.created_at, shop.timezone))
            for change, order, agent in await changes_made(session, shop.id, BACK_OFFICE_ROWS)
        ]
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
