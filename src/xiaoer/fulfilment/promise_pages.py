"""The courier form (F6): an order's courier, what another would cost, and the change.

The order's page belongs to orders (below fulfilment) and links here. The change is
an order change (``promises.do_change_courier``): at once within the agent's
authority, waiting for the supervisor beyond it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.fulfilment.carriers import carrier_name
from xiaoer.fulfilment.promises import courier_quote, do_change_courier
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text, render
from xiaoer.orders.models import ChangeStatus
from xiaoer.staff.models import LEADERS, StaffAccount

router = APIRouter(prefix="/fulfilment")

Changer = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]


async def _page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    order_id: int,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    quote = await courier_quote(session, staff, order_id)
    context: dict[str, Any] = {
        "quote": quote,
        "order": quote.order,
        "current_name": carrier_name(quote.current) if quote.current else "",
        "choices": [(code, carrier_name(code), fen) for code, fen in quote.prices.items()],
        "error": error,
        "form": form or {},
        "done": request.query_params.get("done", ""),
    }
    return render(request, "fulfilment/courier.html", context, staff=staff, status_code=status_code)


@router.get("/orders/{order_id}/courier")
async def courier_page(
    request: Request, session: SessionDep, staff: Changer, order_id: RowId
) -> Response:
    return await _page(request, session, staff, order_id)


@router.post("/orders/{order_id}/courier")
async def change_courier(
    request: Request,
    session: SessionDep,
    staff: Changer,
    order_id: RowId,
    carrier: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        async with session.begin_nested():
            change = await do_change_courier(session, staff, order_id, carrier, reason=reason)
    except (NotPermitted, NotFound):
        raise
    except ValueError as exc:
        form = {"carrier": carrier, "reason": reason}
        return await _page(
            request, session, staff, order_id, error=error_text(request, exc), form=form,
            status_code=422,
        )  # fmt: skip
    await session.commit()
    done = "pending" if change.status == ChangeStatus.pending.value else "applied"
    return RedirectResponse(f"/fulfilment/orders/{order_id}/courier?done={done}", status_code=303)
