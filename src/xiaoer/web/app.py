"""The application factory: staff pages, the buyer app, health, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib import resources
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import xiaoer.timer_handlers  # noqa: F401  (registers the deadlines' handlers)
from xiaoer import __version__
from xiaoer.aftersales import api as aftersales_api
from xiaoer.aftersales import pages as aftersales_pages
from xiaoer.aftersales.refund_import import import_refunds
from xiaoer.aftersales.review_import import import_reviews
from xiaoer.assistant import api as assistant_api
from xiaoer.assistant import pages as assistant_pages
from xiaoer.assistant.approvals import check_before_send
from xiaoer.assistant.classifier import default_classifier, default_classifier_trained
from xiaoer.core.broker import Broker, make_broker, set_broker
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.feed import stop_feeds
from xiaoer.core.hooks import on_floor, on_roster
from xiaoer.core.send_checks import register_send_check
from xiaoer.core.settings import Settings
from xiaoer.core.texts import say
from xiaoer.core.timers import run_timer_loop
from xiaoer.customers import api as customers_api
from xiaoer.customers import campaign_pages as customers_campaign_pages
from xiaoer.customers import file_pages as customer_file_pages
from xiaoer.customers import greetings_pages as customers_greetings_pages
from xiaoer.customers import group_pages as customer_group_pages
from xiaoer.customers import list_pages as customer_list_pages
from xiaoer.customers import members_pages as customer_members_pages
from xiaoer.customers import site_points_api
from xiaoer.customers.upkeep import schedule_every_shop
from xiaoer.fulfilment import audit_pages, parcel_pages, tracking_api, warehouse_pages
from xiaoer.fulfilment import pages as fulfilment_pages
from xiaoer.fulfilment import promise_pages as fulfilment_promise_pages
from xiaoer.fulfilment import returns_pages as fulfilment_returns_pages
from xiaoer.fulfilment import stock_pages as fulfilment_stock_pages
from xiaoer.http.api_errors import error_body, validation_body
from xiaoer.http.deps import CsrfFailed, Forbidden, NotSignedIn, verify_csrf
from xiaoer.http.i18n import Translator
from xiaoer.http.inputs import JsonCheck
from xiaoer.http.limits import BodyLimit
from xiaoer.http.render import error_text, language_of, reader_language, render
from xiaoer.orders import api as orders_api
from xiaoer.orders import list_pages as orders_list
from xiaoer.orders import pages as orders_pages
from xiaoer.orders import site_api
from xiaoer.peakday import activity_pages as peakday_activity_pages
from xiaoer.peakday import peak_pages as peakday_peak_pages
from xiaoer.peakday import plan_pages as peakday_plan_pages
from xiaoer.peakday import quiz_pages as peakday_quiz_pages
from xiaoer.peakday import readiness_pages as peakday_readiness_pages
from xiaoer.peakday import target_pages as peakday_target_pages
from xiaoer.peakday.activity_check import check_activity_quotes
from xiaoer.peakday.plan import roster_panel as peakday_roster_gaps
from xiaoer.peakday.target_progress import floor_panel as peakday_targets_floor
from xiaoer.performance import attendance_pages, kpi_pages, payroll_pages, people_pages
from xiaoer.performance import pages as performance_pages
from xiaoer.reception import api as reception_api
from xiaoer.reception import manage_pages as reception_manage
from xiaoer.reception import pages as reception_pages
from xiaoer.reception.presence import watch_everyone_online
from xiaoer.reception.writer import stop_writer
from xiaoer.sellercentre import jobfiles
from xiaoer.sellercentre import pages as import_pages
from xiaoer.sellercentre.cleanup import sweep_imports
from xiaoer.sellercentre.imports import interrupt_jobs, register_report
from xiaoer.web import api_docs, auth_pages, pages, policy_pages, staff_pages
from xiaoer.web.buyer import create_buyer_app
from xiaoer.web.logs import install_log_redaction
from xiaoer.web.middleware import SecureSessionCookie, SecurityHeaders, StaffSessions

log = logging.getLogger(__name__)

SESSION_COOKIE = "xiaoer_session"

# Every router of staff pages and APIs; each route in them uses ``require_staff``
# except sign-in and sign-out (a test walks them to keep it so).
STAFF_ROUTERS = (
    # The customer file's routes take ``/customers/{customer_id:int}``, so the pages
    # named under /customers (groups, members, campaigns…) are never read as an id.
    customer_list_pages.router,
    customer_group_pages.router,
    aftersales_api.router,
    aftersales_pages.router,
    customers_api.router,
    customer_file_pages.router,
    customer_members_pages.router,
    peakday_plan_pages.router,
    peakday_peak_pages.router,
    peakday_readiness_pages.router,
    fulfilment_pages.router,
    parcel_pages.router,
    audit_pages.router,
    fulfilment_promise_pages.router,
    fulfilment_returns_pages.router,
    warehouse_pages.router,
    fulfilment_stock_pages.router,
    customers_campaign_pages.router,
    customers_greetings_pages.router,
    api_docs.router,
    assistant_api.router,
    assistant_pages.router,
    auth_pages.router,
    import_pages.router,
    orders_api.router,
    orders_list.router,
    orders_pages.router,
    pages.router,
    staff_pages.router,
    policy_pages.router,
    performance_pages.router,
    attendance_pages.router,
    payroll_pages.router,
    kpi_pages.router,
    people_pages.router,
    peakday_target_pages.router,
    reception_api.router,
    reception_pages.router,
    reception_manage.router,
    peakday_activity_pages.router,
    peakday_quiz_pages.router,
)


# Request bodies: staff forms and spreadsheets of phrases or knowledge (2 MB each)
# fit the general limit; an order import carries two export files; the site API
# promises 16 KiB (docs/api.md), the buyer app (``/b``) holds its own.
MAX_BODY_BYTES = 8 * 1024 * 1024
BODY_LIMITS = (
    ("/site", site_api.MAX_BODY_BYTES),
    ("/tracking", tracking_api.MAX_BODY_BYTES),
    ("/orders/import", 2 * jobfiles.MAX_UPLOAD_BYTES + 1024 * 1024),
)

# Packages whose ``static/`` folder is served at ``/static`` beside the layout's.
STATIC_PACKAGES = (
    "xiaoer.orders",
    "xiaoer.reception",
    "xiaoer.sellercentre",
    "xiaoer.fulfilment",
    "xiaoer.customers",
    "xiaoer.peakday",
)


def _settle_memory() -> None:
    """What the server holds once started (the app, the trained classifier) stays for
    its life: kept out of the collector's full passes, which otherwise walk it all again
    and again, each a pause of every socket and message at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def app_from_environment() -> FastAPI:
    """The app of ``XIAOER_*`` settings: what each process of ``xiaoer serve --workers``
    builds."""
    return create_app(Settings())


def create_app(
    settings: Settings, *, db: Database | None = None, broker: Broker | None = None
) -> FastAPI:
    """Build the app. Given ``db``/``broker`` (tests), the caller owns their lifecycle."""
    settings.check_secure()
    register_send_check(check_before_send)  # agents' messages pass the assistant's checks
    register_send_check(check_activity_quotes)  # and quote the activities rightly (D2)
    on_floor(peakday_targets_floor)  # the supervisor's floor shows the running targets
    on_roster(peakday_roster_gaps)  # and the roster page the peak day's staffing gaps
    # The import page takes the after-sales reports too.
    register_report("refunds", lambda db, shop, path, progress, by: import_refunds(
        db, shop, path, progress=progress, by=by))  # fmt: skip
    register_report("reviews", lambda db, shop, path, progress, by: import_reviews(
        db, shop, path, progress=progress, by=by))  # fmt: skip
    owns_db = db is None
    database = db or Database(settings.database_url)
    buyer_app = create_buyer_app(
        database, settings.secret_key, timedelta(days=settings.buyer_token_days)
    )
    install_log_redaction()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = broker or make_broker(settings.redis_url, settings.database_url)
        if broker is None:
            await active.start()
        previous = set_broker(active)
        stop = asyncio.Event()
        # The shipped classifier trains in a worker thread now rather than when the
        # first buyer writes.
        warm = asyncio.create_task(asyncio.to_thread(default_classifier))
        warm.add_done_callback(lambda _: _settle_memory())
        await _sweep_imports(database, settings)
        timers: asyncio.Task[None] | None = None
        if settings.run_timers:
            # Agents left online by a stopped server get the grace to open a page (C7).
            await watch_everyone_online(database)
            await schedule_every_shop(database)  # each shop's hourly customer_stats
            timers = asyncio.create_task(
                run_timer_loop(database, stop, settings.timer_interval_seconds)
            )
        try:
            yield
        finally:
            stop.set()
            await interrupt_jobs()  # resumable; a long import does not hold up the stop
            if warm.done() and not warm.cancelled() and warm.exception() is not None:
                log.error("training the classifier failed", exc_info=warm.exception())
            if timers is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await timers
            await stop_writer(database)  # what was handed over is stored first
            await stop_feeds(database)
            if broker is None:
                await active.stop()
            set_broker(previous)
            if owns_db:
                await database.dispose()

    # The API's description is for signed-in staff (``api_docs``), not served here.
    app = FastAPI(
        title="xiaoer",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.db = database
    # Each added middleware wraps those added before it: the proxy's view of the
    # request (scheme, client address) is settled first, for all the others; a body
    # is held to its size before it is read, and a JSON body checked before a route
    # parses it (``xiaoer.http.inputs``).
    app.add_middleware(JsonCheck)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, by_prefix=BODY_LIMITS)
    app.add_middleware(
        StaffSessions,
        outside=("/b", "/site", "/tracking"),
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        https_only=settings.cookie_secure,
    )
    app.add_middleware(SecureSessionCookie, cookie=SESSION_COOKIE, always=settings.cookie_secure)
    app.add_middleware(SecurityHeaders)
    if settings.trusted_proxy_list:
        # Only these peers may say what the scheme and the client's address were;
        # from anyone else ``X-Forwarded-*`` headers are ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
        # The assistant answers once the shipped classifier is trained (a few seconds
        # after start); until then suggestions wait for it.
        assistant = "ready" if default_classifier_trained() else "warming up"
        return {
            "status": "ok",
            "version": __version__,
            "database": database.dialect,
            "assistant": assistant,
        }

    staff_router = APIRouter(dependencies=[Depends(verify_csrf)])
    for router in STAFF_ROUTERS:
        staff_router.include_router(router)
    app.include_router(staff_router)
    app.include_router(reception_api.socket_router)
    # Server to server, authenticated by a channel's secret: no session, no CSRF.
    app.include_router(site_api.router)
    app.include_router(site_points_api.router)
    app.include_router(tracking_api.router)
    app.mount("/b", buyer_app, name="buyer")
    app.mount(
        "/static",
        StaticFiles(
            directory=str(resources.files("xiaoer.web") / "static"),
            packages=[(package, "static") for package in STATIC_PACKAGES],
        ),
        name="static",
    )
    _install_error_pages(app)
    return app


async def _sweep_imports(database: Database, settings: Settings) -> None:
    """Imports whose process died are shown interrupted, and files no longer needed go,
    before the first page is served; a failure is logged, it does not stop the server."""
    try:
        await sweep_imports(database, settings.data_path, stale_after=settings.import_stale_seconds)
    except Exception:
        log.exception("the start-up sweep of import jobs failed")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if _wants_json(request):
            detail = error_text(request, say("sign in first"))
            return JSONResponse({"code": "sign_in_first", "detail": detail}, status_code=401)
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Forbidden) -> Response:
        return _error(request, 403, "errors.forbidden")

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        return _error(request, 403, "errors.csrf")

    @app.exception_handler(NotPermitted)
    async def not_permitted(request: Request, exc: NotPermitted) -> Response:
        return _refusal(request, 403, exc)

    @app.exception_handler(NotFound)
    async def not_found_here(request: Request, exc: NotFound) -> Response:
        return _refusal(request, 404, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # Where and why, never the input itself: it may be what cannot be shown
        # (a lone surrogate, an infinite number) or what should not be echoed.
        return JSONResponse(validation_body(request, exc), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse(
            error_body(exc.status_code, exc.detail),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OverflowError)
    async def overflow(request: Request, _exc: OverflowError) -> Response:
        return _error(request, 422, "errors.out_of_range")

    @app.exception_handler(DBAPIError)
    async def database_refused(request: Request, exc: DBAPIError) -> Response:
        # A value the checks let through but the column cannot hold (a number past
        # its range) is the request's fault; anything else is the server's.
        if _out_of_range(exc):
            return _error(request, 422, "errors.out_of_range")
        raise exc

    @app.exception_handler(404)
    async def not_found(request: Request, exc: HTTPException) -> Response:
        if _wants_json(request) or exc.detail not in (None, "Not Found"):
            return JSONResponse(error_body(404, exc.detail), status_code=404)
        return _error(request, 404, "errors.not_found")


def _out_of_range(exc: DBAPIError) -> bool:
    # PostgreSQL's SQLSTATE 22003 (numeric_value_out_of_range) reached through
    # asyncpg, or asyncpg's own refusal to encode a number for a column.
    cause = exc.orig
    found = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return found == "22003" or "out of int" in str(cause) or isinstance(cause, OverflowError)


def _refusal(request: Request, status: int, exc: Exception) -> Response:
    """A service's refusal (who may, or which objects exist), in the reader's language."""
    message = error_text(request, exc)
    if _wants_json(request):
        return JSONResponse(error_body(status, message), status_code=status)
    return render(request, "error.html", {"message": message}, status_code=status)


def _error(request: Request, status: int, key: str) -> Response:
    t = Translator(language_of(request, getattr(request.state, "staff", None)))
    if _wants_json(request):
        said = Translator(reader_language(request))(key)
        return JSONResponse(error_body(status, said), status_code=status)
    response: HTMLResponse = render(request, "error.html", {"message": t(key)}, status_code=status)
    return response
