"""Page rendering: one Jinja environment, the layout's context, filters."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from xiaoer.core.clock import DEFAULT_ZONE, local
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.sheets import ImportReport
from xiaoer.http.deps import CSRF_FIELD, csrf_token
from xiaoer.http.i18n import DEFAULT_LANGUAGE, Translator
from xiaoer.staff.models import IMPORTERS, StaffAccount


def _template_folders() -> list[str]:
    """Every package's ``templates/`` folder, found as files: this package's first (the
    layout), the others by name. A package names its templates ``<package>/page.html``."""
    root = resources.files("xiaoer")
    here = str(root / "http" / "templates")
    others = sorted(
        str(package / "templates")
        for package in root.iterdir()
        if package.name != "http" and package.joinpath("templates").is_dir()
    )
    return [here, *others]


templates = Jinja2Templates(directory=_template_folders())


def shown_time(value: datetime | str | None, zone: str = DEFAULT_ZONE,
               fmt: str = "%m-%d %H:%M") -> str:  # fmt: skip
    """A moment as a page shows it: on the shop's clock. ISO text (a job's JSON, a
    task's evidence) is read first; anything else unreadable is shown as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    return local(moment, zone).strftime(fmt)


@pass_context
def _local_time(context: Context, value: datetime | str | None, fmt: str = "%m-%d %H:%M") -> str:
    """The ``localtime`` filter: in the zone of the page's shop (``zone`` in its context)."""
    return shown_time(value, context.get("zone") or DEFAULT_ZONE, fmt)


templates.env.filters["yuan"] = fen_to_yuan
templates.env.filters["localtime"] = _local_time
templates.env.filters["format_var"] = lambda name: "{" + str(name) + "}"


AFTERSALES = ("agent@aftersale", "supervisor", "manager")
NAV = (
    # (path, message key, roles that see it; empty = everyone signed in;
    # "role@team" = that role in that team)
    ("/", "nav.home", ()),
    ("/workbench", "nav.workbench", ("agent", "supervisor", "manager")),
    ("/orders", "orders.nav", ("agent", "supervisor", "manager")),
    ("/aftersales", "aftersales.nav", AFTERSALES),
    ("/fulfilment", "fulfilment.nav", ("agent", "auditor", "warehouse", "supervisor", "manager")),
    ("/customers", "customers.nav", ("agent", "supervisor", "manager")),
    ("/performance/kpi", "nav.performance", ("agent", "supervisor", "manager")),
    ("/reception/phrases", "nav.phrases", ("agent", "supervisor", "manager")),
    ("/reception/calls", "nav.calls", ("agent", "supervisor", "manager")),
    ("/assistant/knowledge", "nav.knowledge", ("agent", "supervisor", "manager")),
    ("/reception/auto-replies", "nav.auto_replies", ("manager", "admin")),
    ("/reception/channels", "nav.channels", ("manager", "admin")),
    ("/peakday", "peakday_ready.nav", ("supervisor", "manager")),
    ("/peakday/activities", "activities.nav", ("agent",)),
    ("/staff", "nav.staff", ("supervisor", "manager", "admin")),
    ("/policy", "nav.policy", ("supervisor", "manager", "admin")),
)


# Pages of a section, shown under the main navigation on every page of the section.
SECTIONS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "/aftersales": (
        ("/aftersales", "aftersales.desk_nav", AFTERSALES),
        ("/aftersales/tickets", "aftersales.list_nav", AFTERSALES),
        ("/aftersales/supervise", "aftersales.supervise_nav", ("supervisor", "manager")),
        ("/aftersales/seller-reviews", "aftersales.reviews.nav", AFTERSALES),
        ("/aftersales/report", "aftersales.report.nav", ("supervisor", "manager")),
        ("/aftersales/causes", "aftersales.causes_nav", ("supervisor", "manager")),
    ),
    "/fulfilment": (
        ("/fulfilment/audit", "fulfilment.audit_nav", ("auditor", "supervisor", "manager")),
        ("/fulfilment/audit?owner=me", "audit.holds_nav", ("agent",)),
        ("/fulfilment/audit/slips", "audit.slips_nav", ("warehouse", "auditor")),
        (
            "/fulfilment/warehouse",
            "fulfilment.warehouse_nav",
            ("warehouse", "supervisor", "manager"),
        ),
        ("/fulfilment/returns", "fulfilment.returns_nav", ("warehouse", "supervisor", "manager")),
        (
            "/fulfilment/stock",
            "fulfilment.stock_nav",
            ("warehouse", "auditor", "supervisor", "manager"),
        ),
        (
            "/fulfilment/parcels",
            "fulfilment.parcels_nav",
            ("warehouse", "auditor", "supervisor", "manager"),
        ),
        ("/fulfilment/health", "fulfilment.health_nav", ("agent", "supervisor", "manager")),
    ),
    "/customers": (
        ("/customers", "customers.list_nav", ("agent", "supervisor", "manager")),
        ("/customers/groups", "customers.groups_nav", ("supervisor", "manager")),
        ("/customers/campaigns", "customers.campaigns_nav", ("agent", "supervisor", "manager")),
        ("/customers/greetings", "customers.greetings_nav", ("supervisor", "manager")),
        ("/customers/members", "customers.members_nav", ("supervisor", "manager")),
    ),
    "/peakday": (
        ("/peakday", "peakday_ready.nav", ("supervisor", "manager")),
        ("/peakday/activities", "activities.nav", ("agent", "supervisor", "manager", "admin")),
        ("/peakday/quiz", "quiz.nav", ("agent", "supervisor", "manager")),
        ("/peakday/quiz/results", "quiz.results_link", ("agent", "supervisor", "manager")),
        ("/peakday/forecasts", "peakday.forecasts_nav", ("supervisor", "manager")),
        ("/peakday/peak", "peakday_mode.nav", ("supervisor", "manager")),
        ("/peakday/targets", "targets.nav", ("agent", "supervisor", "manager")),
    ),
    "/orders": (
        ("/orders", "orders.list.nav", ("agent", "supervisor", "manager")),
        ("/orders/tasks", "orders.list.tasks_nav", ("agent", "supervisor", "manager")),
        ("/orders/import", "orders.list.import_nav", IMPORTERS),
    ),
    "/performance/": (
        ("/performance/kpi", "kpi.nav", ("agent", "supervisor", "manager")),
        ("/performance/floor", "kpi.floor_nav", ("supervisor", "manager")),
        ("/peakday/targets", "targets.nav", ("agent", "supervisor", "manager")),
        ("/performance/violations", "performance.nav", ("agent", "supervisor", "manager")),
        ("/performance/roster", "attendance.nav", ("agent", "supervisor", "manager")),
        ("/performance/leave", "attendance.leave_nav", ("agent", "supervisor", "manager")),
        ("/performance/payroll", "payroll.nav", ("agent", "supervisor", "manager")),
        ("/performance/worklog", "worklog.nav", ("agent", "supervisor", "manager")),
        ("/performance/promotion", "promotion.nav", ("agent", "supervisor", "manager")),
    ),
}


def language_of(request: HTTPConnection, staff: StaffAccount | None) -> str:
    if staff is not None:
        return staff.language
    chosen = request.session.get("lang")
    return chosen if isinstance(chosen, str) else DEFAULT_LANGUAGE


def reader_language(request: HTTPConnection) -> str:
    """The language of whoever made the request, for its errors.

    Staff read their own language; anyone else the language they chose on a page (the
    session's). A page is Chinese otherwise; an API call (the server-to-server APIs and
    the buyers' app have no session; ``/api/…`` or JSON asked for) is answered in
    English when ``Accept-Language`` asks for English first, else in Chinese.
    """
    staff = getattr(request.state, "staff", None)
    if staff is not None:
        return str(staff.language)
    chosen = request.session.get("lang") if "session" in request.scope else None
    if isinstance(chosen, str):
        return chosen
    api = request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )
    if "session" in request.scope and not api:
        return DEFAULT_LANGUAGE
    wanted = request.headers.get("accept-language", "").strip().lower()
    return "en" if wanted.startswith("en") else DEFAULT_LANGUAGE


def error_text(request: HTTPConnection, error: BaseException | str) -> str:
    """An error's message in the language of whoever made the request
    (:func:`reader_language`)."""
    return Translator(reader_language(request)).error(error)


async def refused(
    request: HTTPConnection, session: AsyncSession, action: Awaitable[Any]
) -> str | None:
    """Run a service's action in a savepoint: a rule's refusal (a ``ValueError``) comes
    back in the reader's words with nothing of it kept, for the page to show again; who
    may refusals go on to the app's handlers. None when the action was made."""
    try:
        async with session.begin_nested():
            await action
    except (NotPermitted, NotFound):
        raise
    except ValueError as exc:
        return error_text(request, exc)
    return None


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    staff: StaffAccount | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    account = staff or getattr(request.state, "staff", None)
    t = Translator(language_of(request, account))
    here = request.url.path
    section = next((prefix for prefix in SECTIONS if here.startswith(prefix)), None)

    def allowed(roles: tuple[str, ...]) -> bool:
        if account is None:
            return False
        return not roles or any(
            account.has_role(role) and (not team or account.team == team)
            for role, _, team in (entry.partition("@") for entry in roles)
        )

    nav = [
        (path, t(key), here == path or (section is not None and path.startswith(section)))
        for path, key, roles in NAV
        if allowed(roles)
    ]
    subnav = [
        (path, t(key), here == path)
        for path, key, roles in (SECTIONS[section] if section is not None else ())
        if allowed(roles)
    ]
    full: dict[str, Any] = {
        "t": t,
        "staff": account,
        "nav": nav,
        "subnav": subnav,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "zone": getattr(request.state, "zone", DEFAULT_ZONE),
    }
    full.update(context or {})
    return templates.TemplateResponse(request, template, full, status_code=status_code)


SHOWN_REJECTS = 200  # a page lists this many refused rows; the count says the rest


@dataclass
class ReportShown:
    """An import's report as a page shows it: the counts, and the first refused rows
    with their reasons in the reader's language."""

    read: int
    created: int
    updated: int
    unchanged: int
    refused: int
    rejected: list[tuple[int, str]]

    @property
    def unlisted(self) -> int:
        return self.refused - len(self.rejected)


def report_shown(request: HTTPConnection, report: ImportReport) -> ReportShown:
    first = report.rejected[:SHOWN_REJECTS]
    return ReportShown(
        report.read,
        report.created,
        report.updated,
        report.unchanged,
        len(report.rejected),
        [(line, error_text(request, reason)) for line, reason in first],
    )
