"""The customer list (``/customers``) and its workbook: every person of the shop,
searched and filtered by the query string, newest first, 50 a page.

Routes parse, call :mod:`xiaoer.customers.listing` or :mod:`xiaoer.customers.export`
and render; who may do what is decided there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.sheets import XLSX_TYPE
from xiaoer.customers.export import FIELDS as EXPORT_FIELDS
from xiaoer.customers.export import ExportError, export_workbook, parse_fields
from xiaoer.customers.filters import Condition
from xiaoer.customers.listing import (
    COUNT_CAP,
    CustomerFilter,
    choices,
    level_names,
    list_page,
    page_numbers,
    parse_filter,
)
from xiaoer.customers.models import CustomerGroup, GroupKind
from xiaoer.customers.people import MANAGERS, READERS
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.i18n import Translator
from xiaoer.http.render import error_text, language_of, render
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

router = APIRouter(prefix="/customers")

Reader = Annotated[StaffAccount, Depends(require_staff(*READERS))]
Manager = Annotated[StaffAccount, Depends(require_staff(*MANAGERS))]


def word_of(t: Translator) -> Any:
    """The reader's word for a value of a choice (``gender``, ``price_level``, …)."""

    def word(group: str, key: str) -> str:
        name = f"customers_list.{group}.{key}"
        return t(name) if name in t.messages else key

    return word


async def hand_groups(session: AsyncSession, staff: StaffAccount) -> list[CustomerGroup]:
    """The hand groups the list's ticked customers may be put into."""
    if not staff.has_role(*MANAGERS):
        return []
    return list(
        await session.scalars(
            select(CustomerGroup)
            .where(CustomerGroup.shop_id == staff.shop_id, CustomerGroup.kind == GroupKind.hand)
            .order_by(CustomerGroup.name)
        )
    )


async def list_context(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    chosen: CustomerFilter,
    *,
    base: str,
    extra: Sequence[Condition] = (),
) -> dict[str, Any]:
    """What a list of customers shows: the filter form, a page of rows and the pages'
    links; ``base`` is the page's own path, ``extra`` conditions narrow it (a group)."""
    t = Translator(language_of(request, staff))
    shown = await list_page(session, staff, chosen, extra=extra)
    return {
        "chosen": chosen,
        "errors": {name: t.error(message) for name, message in chosen.errors.items()},
        "choices": choices(await level_names(session, staff.shop_id)),
        "word": word_of(t),
        "shown": shown,
        "cap": COUNT_CAP,
        "pages": page_numbers(shown.page, shown.count.pages),
        "page_query": lambda n: urlencode(chosen.query_items(page=str(n))),
        "export_query": urlencode(chosen.query_items()),
        "export_fields": EXPORT_FIELDS,
        "manager": staff.has_role(*MANAGERS),
        "base": base,
        "ticked": set(),
        "removing": "",
        "export_error": "",
        "add_error": "",
    }


@router.get("", response_class=HTMLResponse)
async def customers_list(request: Request, session: SessionDep, staff: Reader) -> Response:
    """Every person of the shop the reader may read, newest first; the query string is
    the search and the filter."""
    chosen = parse_filter(request.query_params)
    context = await list_context(request, session, staff, chosen, base="/customers")
    context["groups"] = await hand_groups(session, staff)
    status = 422 if chosen.errors else 200
    return render(request, "customers/list.html", context, staff=staff, status_code=status)


async def workbook_response(
    request: Request,
    session: AsyncSession,
    staff: StaffAccount,
    chosen: CustomerFilter,
    *,
    extra: Sequence[Condition],
    name: str,
    title: str,
) -> Response | str:
    """The workbook of the persons picked, or why it cannot be made."""
    t = Translator(language_of(request, staff))
    if chosen.errors:
        return "; ".join(t.error(m) for m in chosen.errors.values())
    try:
        fields = parse_fields(request.query_params.getlist("fields"))
        headers = [t("customers_list.number"), *(t(f"customers_list.col.{f}") for f in fields)]
        data = await export_workbook(
            session, staff, conditions=[*extra, *chosen.conditions], search=chosen.q,
            fields=fields, title=title, headers=headers, word=word_of(t),
        )  # fmt: skip
    except ExportError as exc:
        return error_text(request, exc)
    shop = await session.get(Shop, staff.shop_id)
    filename = f"{name}-{shop.code if shop else staff.shop_id}.xlsx"
    return Response(
        data,
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/export.xlsx", response_class=HTMLResponse)
async def customers_export(request: Request, session: SessionDep, staff: Manager) -> Response:
    """The filtered list as a workbook: "序号" 1…n, then the fields ticked."""
    chosen = parse_filter(request.query_params)
    t = Translator(language_of(request, staff))
    made = await workbook_response(request, session, staff, chosen, extra=(),
                                   name="customers", title=t("customers_list.title"))  # fmt: skip
    if isinstance(made, Response):
        return made
    context = await list_context(request, session, staff, chosen, base="/customers")
    context.update(groups=await hand_groups(session, staff), export_error=made)
    return render(request, "customers/list.html", context, staff=staff, status_code=422)
