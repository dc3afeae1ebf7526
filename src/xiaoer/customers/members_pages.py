"""Membership and points pages (R5): the levels and member prices, a person's points.

Routes parse, call :mod:`xiaoer.customers.membership` or :mod:`xiaoer.customers.points`,
commit and redirect (or show the page again with the reason); who may is decided in
the services.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.money import typed_fen
from xiaoer.core.policy import member_levels
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.customers.membership import (
    MembershipError,
    do_delete_member_price,
    do_set_member_price,
    level_counts,
    member_summary,
    price_table,
)
from xiaoer.customers.people import MANAGERS, READERS
from xiaoer.customers.points import MAX_ADJUST, do_adjust_points, ledger_of
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.params import RowId
from xiaoer.http.render import refused, render
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/customers")

Reader = Annotated[StaffAccount, Depends(require_staff(*READERS))]
Manager = Annotated[StaffAccount, Depends(require_staff(*MANAGERS))]
Level = Annotated[str, Form(max_length=32)]
SkuId = Annotated[int, Form(ge=1, le=2**63 - 1)]


async def _members_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    error: str | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    search = request.query_params.get("q", "")[:64]
    rows = await price_table(session, staff, search)
    policy = (await policy_on(session, staff.shop_id)).customers
    counts = await level_counts(session, staff)
    context = {
        "levels": [
            {"name": name, "orders": orders, "fen": fen, "members": counts.get(name, 0)}
            for name, orders, fen in member_levels(policy.member_levels)
        ],
        "points": policy,
        "rows": rows,
        "q": search,
        "error": error,
        "typed": typed or {},
    }
    return render(request, "customers/members_levels.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/members", response_class=HTMLResponse)
async def members_page(request: Request, session: SessionDep, staff: Manager) -> Response:
    return await _members_page(request, session, staff)


@router.post("/members/prices")
async def set_member_price(
    request: Request,
    session: SessionDep,
    staff: Manager,
    sku_id: SkuId,
    level: Level,
    price: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Set what members of a level pay for a SKU (the price in yuan)."""

    async def run() -> None:
        fen = typed_fen(price)
        if fen is None:
            raise MembershipError(say("a member price is more than 0"))
        await do_set_member_price(session, staff, sku_id, level, fen)

    message = await refused(request, session, run())
    if message is not None:
        typed = {"sku_id": sku_id, "level": level, "price": price}
        return await _members_page(request, session, staff, message, typed)
    await session.commit()
    return RedirectResponse("/customers/members", status_code=303)


@router.post("/members/prices/delete")
async def delete_member_price(
    request: Request, session: SessionDep, staff: Manager, sku_id: SkuId, level: Level
) -> Response:
    message = await refused(request, session, do_delete_member_price(session, staff, sku_id, level))
    if message is not None:
        return await _members_page(request, session, staff, message)
    await session.commit()
    return RedirectResponse("/customers/members", status_code=303)


async def _points_page(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    customer_id: int,
    error: str | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    ledger = await ledger_of(session, staff, customer_id)
    summary = await member_summary(session, staff.shop_id, ledger.person.id)
    context = {
        "person": ledger.person,
        "balance": ledger.balance,
        "moves": ledger.moves,
        "summary": summary,
        "adjusts": staff.has_role(*MANAGERS),
        "max_adjust": MAX_ADJUST,
        "error": error,
        "typed": typed or {},
    }
    return render(request, "customers/members_points.html", context, staff=staff,
                  status_code=422 if error else 200)  # fmt: skip


@router.get("/{customer_id}/points", response_class=HTMLResponse)
async def points_page(
    request: Request, session: SessionDep, staff: Reader, customer_id: RowId
) -> Response:
    """A person's points: balance, level and every move (agents read, leaders adjust)."""
    return await _points_page(request, session, staff, customer_id)


@router.post("/{customer_id}/points/adjust")
async def adjust_points(
    request: Request,
    session: SessionDep,
    staff: Manager,
    customer_id: RowId,
    points: Annotated[int, Form(ge=-MAX_ADJUST, le=MAX_ADJUST)],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    message = await refused(
        request, session, do_adjust_points(session, staff, customer_id, points, reason)
    )
    if message is not None:
        typed = {"points": points, "reason": reason}
        return await _points_page(request, session, staff, customer_id, message, typed)
    await session.commit()
    return RedirectResponse(f"/customers/{customer_id}/points", status_code=303)
