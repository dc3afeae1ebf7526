"""The ``xiaoer`` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from xiaoer.assistant.cli import assistant_app
from xiaoer.core.cli_database import (
    DEMO_DATABASE,
    DatabaseNotReady,
    check_ready,
    command_settings,
    demo_folder,
)
from xiaoer.core.db import Database
from xiaoer.core.settings import InsecureSettingsError, Settings
from xiaoer.customers.cli import customers_app
from xiaoer.customers.greetings_cli import greetings_app
from xiaoer.customers.points_cli import points_app
from xiaoer.mail.cli import mail_app
from xiaoer.orders.cli import notes_app
from xiaoer.peakday.rehearsal_cli import rehearse_command
from xiaoer.peakday.staffing_cli import staffing_app

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from xiaoer.staff.models import StaffAccount

app = typer.Typer(
    help="xiaoer (店小二): customer-service operations for online shops.",
    no_args_is_help=True,
    add_completion=False,
)
shop_app = typer.Typer(help="Shops.", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
policy_app = typer.Typer(help="The shop policy: the handbook's numbers.", no_args_is_help=True)
channel_app = typer.Typer(help="Channels buyers write through.", no_args_is_help=True)
app.add_typer(shop_app, name="shop")
app.add_typer(user_app, name="user")
app.add_typer(policy_app, name="policy")
app.add_typer(channel_app, name="channel")
app.add_typer(assistant_app, name="assistant")
app.add_typer(notes_app, name="notes")
app.add_typer(mail_app, name="mail")
app.add_typer(customers_app, name="customers")
app.add_typer(greetings_app, name="greetings")
app.add_typer(points_app, name="points")
app.add_typer(staffing_app, name="staffing")
app.command("rehearse")(rehearse_command)

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = command_settings(**overrides)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if "database_url" not in overrides and demo_folder():
        err.print(f"using the demo's database {DEMO_DATABASE} (XIAOER_DATABASE_URL is not set)")
    return settings


def _with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the settings' database, once it is there with the newest schema."""

    async def run() -> T:
        await check_ready(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except DatabaseNotReady as exc:
        raise _fail(str(exc)) from exc


@app.command()
def migrate() -> None:
    """Upgrade the database named by XIAOER_DATABASE_URL to the newest schema."""
    from xiaoer.core.migrate import head_revision, upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url)
    except Exception as exc:
        raise _fail(f"could not migrate {settings.database_url}: {exc}") from exc
    out.print(f"database at revision {head_revision()}: {settings.database_url}")


def _check_secure(settings: Settings, host: str) -> None:
    try:
        settings.check_secure(host)
    except InsecureSettingsError as exc:
        raise _fail(str(exc)) from exc


def _log_config() -> dict[str, Any]:
    """Uvicorn's logging, and xiaoer's own lines (the chat writer's tally, say) beside it."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["xiaoer"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def _serve(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from xiaoer.web.app import create_app

    _check_secure(settings, host)
    # Forwarded headers are believed only from XIAOER_TRUSTED_PROXIES (the app reads
    # them itself), not from every local peer as Uvicorn would by default.
    if workers == 1:
        application = create_app(settings)
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level="info",
            log_config=_log_config(),
            proxy_headers=False,
        )
        return
    if not settings.redis_url:
        raise _fail(
            "--workers needs XIAOER_REDIS_URL: the processes tell each other of new "
            "messages through Redis"
        )
    # Uvicorn's supervisor binds the port once and starts the processes on it; one that
    # dies is started again. Each builds the app from the same environment.
    uvicorn.run(
        "xiaoer.web.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=_log_config(),
        proxy_headers=False,
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes serving the port (needs Redis).")
    ] = 1,
) -> None:
    """Serve the shop from the database named by XIAOER_DATABASE_URL."""
    settings = _settings()
    _with_db(settings, _nothing)
    _serve(settings, host, port, workers)


async def _nothing(_db: Database) -> None:
    """Work that only needs the database to be ready."""


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Fire what is due now, then exit.")] = False,
) -> None:
    """Fire due timers (deadlines); run several on PostgreSQL to share the work."""
    import xiaoer.timer_handlers  # noqa: F401
    from xiaoer.core.broker import make_broker, set_broker
    from xiaoer.core.timers import fire_all_due, run_timer_loop
    from xiaoer.customers.upkeep import schedule_every_shop
    from xiaoer.sellercentre.cleanup import sweep_imports

    settings = _settings()

    async def work(db: Database) -> None:
        broker = make_broker(settings.redis_url, settings.database_url)
        await broker.start()
        set_broker(broker)
        try:
            # Imports whose process died show as interrupted; old import files go.
            await sweep_imports(db, settings.data_path, stale_after=settings.import_stale_seconds)
            await schedule_every_shop(db)  # each shop's hourly customer_stats
            if once:
                fired = await fire_all_due(db)
                out.print(f"fired {fired} timers")
                return
            stop = asyncio.Event()
            out.print("worker running; Ctrl-C to stop")
            await run_timer_loop(db, stop, settings.timer_interval_seconds)
        finally:
            await broker.stop()

    with contextlib.suppress(KeyboardInterrupt):
        _with_db(settings, work)


def _seed(settings: Settings, seed: int) -> None:
    from xiaoer.demo import demo_exists, seed_demo

    async def work(db: Database) -> None:
        if await demo_exists(db):
            out.print("the demo shop exists already; nothing to do")
            return
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err
        ) as progress:
            task = progress.add_task("demo shop", total=None)

            def report(step: str, done: int, total: int) -> None:
                progress.update(task, description=f"demo shop: {step}", completed=done, total=total)

            summary = await seed_demo(db, seed=seed, progress=report)
        out.print(
            f"demo shop {summary.shop_code!r}: {summary.products} products, {summary.skus} SKUs, "
            f"{summary.staff} staff, {summary.customers} customers, {summary.orders} orders"
        )

    _with_db(settings, work)


def _print_logins() -> None:
    from xiaoer.demo import DEMO_LOGINS, DEMO_PASSWORD

    table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
    for column in ("username", "name", "roles", "level", "team"):
        table.add_column(column)
    for login in DEMO_LOGINS:
        table.add_row(login.username, login.name, ", ".join(login.roles), login.level, login.team)
    out.print(table)


@app.command("seed-demo")
def seed_demo_command(
    seed: Annotated[
        int, typer.Option(help="Seed number: the same seed gives the same shop.")
    ] = 2026,
) -> None:
    """Fill the database named by XIAOER_DATABASE_URL with the demo shop."""
    from xiaoer.core.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    _seed(settings, seed)
    _print_logins()


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[Path, typer.Option(help="SQLite file of the demo shop.")] = Path(
        "xiaoer-demo.sqlite"
    ),
    seed: Annotated[int, typer.Option(help="Seed number of the generated shop.")] = 2026,
) -> None:
    """Create (if new) and serve the demo shop on a SQLite file, in one process.

    On an address beyond this machine it needs a secret key of its own (XIAOER_SECRET_KEY):
    with the shipped one anyone could sign a session cookie for the demo's admin.
    """
    from xiaoer.core.migrate import upgrade

    url = f"sqlite:///{db.resolve()}"
    settings = _settings(database_url=url, demo=True, redis_url=None)
    _check_secure(settings, host)  # before anything is created
    upgrade(url)
    _seed(settings, seed)
    _print_logins()
    out.print(f"xiaoer demo shop at http://{host}:{port}/ (database {db})")
    _serve(settings, host, port)


@shop_app.command("list")
def shop_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the shops."""
    from xiaoer.shops.service import list_shops

    async def work(db: Database) -> list[dict[str, str]]:
        async with db.session() as session:
            return [{"code": s.code, "name": s.name} for s in await list_shops(session)]

    shops = _with_db(_settings(), work)
    if as_json:
        sys.stdout.write(json.dumps(shops, ensure_ascii=False) + "\n")
        return
    table = Table("code", "name")
    for row in shops:
        table.add_row(row["code"], row["name"])
    out.print(table)


@shop_app.command("add")
def shop_add(
    code: Annotated[str, typer.Argument(help="Short code, e.g. 'linen'.")],
    name: Annotated[str, typer.Argument(help="The shop's name.")],
    platform: Annotated[str, typer.Option(help="taobao|tmall|jd|own_site")] = "taobao",
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "Asia/Shanghai",
    courier: Annotated[str, typer.Option(help="Default courier.")] = "",
) -> None:
    """Add a shop."""
    from xiaoer.shops.service import ShopError, do_create_shop

    async def work(db: Database) -> str:
        async with db.session() as session:
            shop = await do_create_shop(
                session,
                code=code,
                name=name,
                platform=platform,
                timezone=timezone,
                default_courier=courier,
            )
            await session.commit()
            return f"added shop {shop.code}"

    try:
        out.print(_with_db(_settings(), work))
    except ShopError as exc:
        raise _fail(str(exc)) from exc


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Option(help="Sign-in name.")],
    number: Annotated[str, typer.Option(help="Staff number (工号).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[list[str], typer.Option(help="Role; repeat for several.")],
    level: Annotated[
        str, typer.Option(help="junior|intermediate|senior|account_manager")
    ] = "junior",
    team: Annotated[str, typer.Option(help="presale|aftersale|assist")] = "presale",
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
    language: Annotated[str, typer.Option(help="zh|en")] = "zh",
) -> None:
    """Add a staff account; the password is read from XIAOER_PASSWORD or asked for."""
    from xiaoer.core.auth import PasswordError
    from xiaoer.shops.service import ShopError, resolve_shop
    from xiaoer.staff.service import StaffError, do_add_staff

    settings = _settings()
    _with_db(settings, _nothing)  # before a password is asked for
    password = os.environ.get("XIAOER_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )

    async def work(db: Database) -> str:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            account = await do_add_staff(
                session,
                shop_id=target.id,
                username=username,
                number=number,
                name=name,
                password=password,
                level=level,
                team=team,
                roles=role,
                language=language,
                actor="cli",
            )
            await session.commit()
            return f"added {account.username} ({account.number}) to shop {target.code}"

    try:
        out.print(_with_db(settings, work))
    except (ShopError, StaffError, PasswordError) as exc:
        raise _fail(str(exc)) from exc


def _change_account(
    username: str, change: Callable[[AsyncSession, StaffAccount], Awaitable[str]]
) -> str:
    """Run ``change(session, account)`` on the named account and commit; its report."""
    import xiaoer.all_models  # noqa: F401  (the account's foreign keys name other tables)
    from xiaoer.staff.service import staff_by_username

    async def work(db: Database) -> str:
        async with db.session() as session:
            account = await staff_by_username(session, username)
            if account is None:
                raise _fail(f"no staff account {username!r}")
            report = await change(session, account)
            await session.commit()
            return report

    return _with_db(_settings(), work)


@user_app.command("password")
def user_password(
    username: Annotated[str, typer.Option(help="Sign-in name.")],
) -> None:
    """Set a new password (from XIAOER_PASSWORD or asked for); ends the account's sessions."""
    from xiaoer.core.auth import PasswordError, check_password_strength
    from xiaoer.staff.service import do_change_password

    _with_db(_settings(), _nothing)  # before a password is asked for
    password = os.environ.get("XIAOER_PASSWORD") or typer.prompt(
        "New password", hide_input=True, confirmation_prompt=True
    )
    try:
        check_password_strength(password)
    except PasswordError as exc:
        raise _fail(str(exc)) from exc

    async def change(session: AsyncSession, account: StaffAccount) -> str:
        ended = await do_change_password(session, account, password, actor="cli")
        return f"new password for {account.username}; sessions ended: {ended}"

    out.print(_change_account(username, change))


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Option(help="Sign-in name.")]) -> None:
    """Disable an account: it cannot sign in, and its open sessions end at once."""
    from xiaoer.staff.service import do_set_active

    async def change(session: AsyncSession, account: StaffAccount) -> str:
        ended = await do_set_active(session, account, False, actor="cli")
        return f"disabled {account.username}; sessions ended: {ended}"

    out.print(_change_account(username, change))


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Option(help="Sign-in name.")]) -> None:
    """Enable a disabled account again."""
    from xiaoer.staff.service import do_set_active

    async def change(session: AsyncSession, account: StaffAccount) -> str:
        await do_set_active(session, account, True, actor="cli")
        return f"enabled {account.username}"

    out.print(_change_account(username, change))


@channel_app.command("add")
def channel_add(
    name: Annotated[str, typer.Argument(help="What the channel is, e.g. 'jd-store'.")],
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
) -> None:
    """Add a bridge channel for another platform; prints its id and secret once."""
    from xiaoer.reception.bridge import ChannelError, do_add_bridge_channel
    from xiaoer.shops.service import ShopError, resolve_shop

    async def work(db: Database) -> tuple[int, str]:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            channel, secret = await do_add_bridge_channel(session, shop_id=target.id, name=name)
            await session.commit()
            return channel.id, secret

    try:
        channel_id, secret = _with_db(_settings(), work)
    except (ShopError, ChannelError) as exc:
        raise _fail(str(exc)) from exc
    sys.stdout.write(json.dumps({"channel_id": channel_id, "secret": secret}) + "\n")
    err.print("Keep the secret: it is shown only now.")


def _read_policy_file(path: Path) -> tuple[str, Any]:
    from xiaoer.core.policy import PolicyError, parse_policy

    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise _fail(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise _fail(f"{path}: not UTF-8 text") from exc
    try:
        return text, parse_policy(text, str(path))
    except PolicyError as exc:
        err.print(f"[bold red]error:[/] {path} is not a valid policy:", highlight=False)
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False, markup=False)
        raise typer.Exit(1) from exc


@policy_app.command("check")
def policy_check(file: Path) -> None:
    """Validate a policy file without applying it."""
    _read_policy_file(file)
    out.print(f"{file}: valid policy")


@policy_app.command("apply")
def policy_apply(
    file: Path,
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First day in force, YYYY-MM-DD (today).")
    ] = None,
) -> None:
    """Store a policy file as a new version of the shop's policy."""
    from xiaoer.core.clock import utcnow
    from xiaoer.core.policy_store import do_apply_policy
    from xiaoer.shops.service import ShopError, resolve_shop

    text, policy = _read_policy_file(file)
    try:
        effective = date.fromisoformat(from_) if from_ else utcnow().date()
    except ValueError as exc:
        raise _fail(f"--from {from_!r}: expected a date like 2026-12-01") from exc

    async def work(db: Database) -> str:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            version = await do_apply_policy(
                session,
                shop_id=target.id,
                policy=policy,
                source=text,
                effective_from=effective,
                actor="cli",
            )
            await session.commit()
            return f"policy version {version.id} for shop {target.code}, in force from {effective}"

    try:
        out.print(_with_db(_settings(), work))
    except ShopError as exc:
        raise _fail(str(exc)) from exc


@policy_app.command("show")
def policy_show(
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
    on: Annotated[str | None, typer.Option(help="Day, YYYY-MM-DD (today).")] = None,
    defaults: Annotated[
        bool, typer.Option(help="Show the shipped defaults, with comments.")
    ] = False,
) -> None:
    """Print the policy in force, as TOML."""
    from xiaoer.core.policy import default_policy_toml
    from xiaoer.core.policy_store import policy_on
    from xiaoer.shops.service import ShopError, resolve_shop

    if defaults:
        sys.stdout.write(default_policy_toml())
        return
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError as exc:
        raise _fail(f"--on {on!r}: expected a date like 2026-12-01") from exc

    async def work(db: Database) -> str:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            return (await policy_on(session, target.id, day)).to_toml()

    try:
        sys.stdout.write(_with_db(_settings(), work))
    except ShopError as exc:
        raise _fail(str(exc)) from exc


@policy_app.command("docs")
def policy_docs() -> None:
    """Print docs/policy.md: every key with its meaning, default and requirement."""
    from xiaoer.core.policy_docs import render_policy_markdown

    sys.stdout.write(render_policy_markdown())


def main() -> None:
    app()


import_app = typer.Typer(help="Imports of platform exports.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("orders")
def import_orders_command(
    order_list: Annotated[
        Path, typer.Argument(help="The order list (ExportOrderList…csv or .xlsx).")
    ],
    items: Annotated[
        Path | None, typer.Option(help="The item list (ExportOrderDetailList…csv).")
    ] = None,
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
) -> None:
    """Import a seller-centre export; the last line is a JSON object of counts (O1).

    Rejected rows are listed with their line and reason and written to a
    ``.rejects.csv`` file beside their input; a second import of the same files
    changes nothing.
    """
    from xiaoer.sellercentre.ingest import import_orders

    def run(db: Database, shop_id: int, progress: Callable[[str, int, int], None]) -> Any:
        return import_orders(db, shop_id, order_list, items, progress=progress)

    summary = _import_with_progress(shop, [order_list, items], run, lambda result: result.summary())
    print(json.dumps(summary, ensure_ascii=False))


@import_app.command("refunds")
def import_refunds_command(
    report: Annotated[Path, typer.Argument(help="The refund report (退款报表, .csv or .xlsx).")],
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
) -> None:
    """Import a seller-centre refund report; the last line is a JSON object of counts
    with each rejected row's line and reason (S1). Import the orders first."""
    from xiaoer.aftersales.refund_import import import_refunds

    _import_report(shop, report, import_refunds)


@import_app.command("reviews")
def import_reviews_command(
    report: Annotated[Path, typer.Argument(help="The review report (评价, .csv or .xlsx).")],
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
) -> None:
    """Import a seller-centre review report; the last line is a JSON object of counts
    with each rejected row's line and reason (S5). Import the orders first."""
    from xiaoer.aftersales.review_import import import_reviews

    _import_report(shop, report, import_reviews)


@import_app.command("tracking")
def import_tracking_command(
    file: Annotated[
        Path, typer.Argument(help="Scans: 运单号, 快递公司, 时间, 状态, 地点, 描述 (.csv/.xlsx).")
    ],
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
) -> None:
    """Import carriers' scans of shipped parcels (F5); the last line is a JSON object of
    counts (read, stored, unchanged, rejected) with each rejected row's line and reason.
    The same file again stores nothing."""
    import xiaoer.all_models  # noqa: F401
    from xiaoer.fulfilment.tracking import TrackingError, import_tracking
    from xiaoer.shops.service import ShopError, resolve_shop

    if not file.is_file():
        raise _fail(f"no such file: {file}")

    async def work(db: Database) -> dict[str, Any]:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      console=err) as bar:  # fmt: skip
            tasks: dict[str, Any] = {}

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(f"tracking {phase}", total=max(total, 1))
                bar.update(tasks[phase], completed=done)

            result = await import_tracking(
                db, target.id, file.read_bytes(), file.name, progress=progress
            )
        for line, reason in result.rejected:
            err.print(f"rejected line {line}: {reason}", highlight=False, markup=False)
        return result.summary()

    try:
        summary = _with_db(_settings(), work)
    except (ShopError, TrackingError) as exc:
        raise _fail(str(exc)) from exc
    print(json.dumps(summary, ensure_ascii=False))


@import_app.command("waybills")
def import_waybills_command(
    sheet: Annotated[
        Path, typer.Argument(help="The bulk-shipping sheet (批量发货, .csv or .xlsx).")
    ],
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
) -> None:
    """Ship the audited orders a bulk-shipping sheet gives waybills for (F4); the last
    line is a JSON object of counts (read, shipped, unchanged, rejected) with each
    rejected row's line and reason. The same sheet again changes nothing."""
    from xiaoer.fulfilment.waybills import import_waybills

    _import_report(shop, sheet, import_waybills)


def _import_report(shop: str | None, report: Path, importer: Callable[..., Awaitable[Any]]) -> None:
    def run(db: Database, shop_id: int, progress: Callable[[str, int, int], None]) -> Any:
        return importer(db, shop_id, report, progress=progress)

    summary = _import_with_progress(shop, [report], run, lambda result: result.report())
    print(json.dumps(summary, ensure_ascii=False))


@contextlib.contextmanager
def _import_progress() -> Iterator[Callable[[str, int, int], None]]:
    """An import's progress callback (phase, bytes done, bytes in all): a bar per
    phase on stderr."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        console=err,
        transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(f"importing {phase}", total=max(total, 1))
            progress.update(tasks[phase], completed=done)

        yield report


def _import_with_progress(
    shop: str | None,
    files: list[Path | None],
    run: Callable[[Database, int, Callable[[str, int, int], None]], Awaitable[Any]],
    summarise: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """Run an import with a progress bar on stderr, the rejected rows listed there too;
    returns ``summarise(result)``. Failing files end the command with their reason."""
    import xiaoer.all_models  # noqa: F401
    from xiaoer.sellercentre.exports import ExportError
    from xiaoer.shops.service import ShopError, resolve_shop

    for path in files:
        if path is not None and not path.is_file():
            raise _fail(f"no such file: {path}")

    async def work(db: Database) -> dict[str, Any]:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
        with _import_progress() as report:
            result = await run(db, target.id, report)
        for message in result.messages:
            err.print(f"rejected {message}", highlight=False, markup=False)
        hidden = result.summary()["rejected"] - len(result.messages)
        hidden += result.summary().get("items", {}).get("rejected", 0)
        if hidden > 0:
            err.print(f"… and {hidden} more rejected rows", highlight=False)
        for path in result.rejects:
            err.print(f"rejected rows written to {path}", highlight=False)
        return summarise(result)

    try:
        return _with_db(_settings(), work)
    except (ShopError, ExportError) as exc:
        raise _fail(str(exc)) from exc


@app.command("payroll")
def payroll_command(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with every line.")
    ] = False,
) -> None:
    """Print each agent's pay for a month, item by item (P1–P3)."""
    from xiaoer.performance.kpi import KpiError
    from xiaoer.performance.payroll import PayrollError, payroll
    from xiaoer.shops.service import ShopError, resolve_shop

    async def work(db: Database) -> dict[str, Any]:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            result = await payroll(session, target.id, month)
            return {
                "shop": target.code,
                "month": month,
                "locked": result.locked is not None,
                "total_fen": result.total_fen,
                "lines": result.rows(),
            }

    try:
        data = _with_db(_settings(), work)
    except (ShopError, KpiError, PayrollError) as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{data['shop']} {month}" + (" (locked)" if data["locked"] else ""))
    for column in ("工号", "name", "level", "item", "amount (yuan)"):
        table.add_column(column)
    for line in data["lines"]:
        for item in line["items"]:
            table.add_row(line["number"], line["name"], line["level"], item["kind"],
                          f"{item['amount_fen'] / 100:.2f}")  # fmt: skip
        table.add_row(line["number"], line["name"], "", "total", f"{line['total_fen'] / 100:.2f}")
    out.print(table)


stock_app = typer.Typer(help="Stock: the ledger and stock-takes.", no_args_is_help=True)
app.add_typer(stock_app, name="stock")


@stock_app.command("rebuild")
def stock_rebuild_command(
    shop: Annotated[str | None, typer.Option(help="Shop code (every shop if left out).")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only report differences; exit 1 when any.")
    ] = False,
) -> None:
    """Recompute on-hand, reserved and each SKU's sellable stock from the ledger, report
    every difference (SKU, location, was, is) and fix it (F2). The last line is
    ``{"levels": n, "drift": m, "seconds": s}``."""
    import time

    import xiaoer.all_models  # noqa: F401
    from xiaoer.fulfilment.rebuild import rebuild
    from xiaoer.shops.service import ShopError, shop_by_code

    async def work(db: Database) -> dict[str, Any]:
        async with db.session() as session:
            shop_id = None
            if shop:
                found = await shop_by_code(session, shop)
                if found is None:
                    raise ShopError(f"no shop with code {shop!r}")
                shop_id = found.id
            started = time.perf_counter()
            report = await rebuild(session, shop_id, fix=not check)
            if check:
                await session.rollback()
            else:
                await session.commit()
            seconds = round(time.perf_counter() - started, 3)
        for drift in report.drift:
            err.print(
                f"drift {drift.sku} {drift.location or '(sellable)'} {drift.field}: "
                f"was {drift.was}, is {drift.is_}",
                highlight=False, markup=False,
            )  # fmt: skip
        return {"levels": report.levels, "drift": len(report.drift), "seconds": seconds}

    try:
        summary = _with_db(_settings(), work)
    except ShopError as exc:
        raise _fail(str(exc)) from exc
    print(json.dumps(summary, ensure_ascii=False))
    if check and summary["drift"]:
        raise typer.Exit(1)


@stock_app.command("take")
def stock_take_command(
    sheet: Annotated[Path, typer.Argument(help="The filled count sheet (.xlsx or .csv).")],
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
) -> None:
    """Read a filled stock-take count sheet (盘点, F3) into the open take of its 库位.
    Rejected rows are listed with their line and reason and written to a
    ``.rejects.csv`` file beside the sheet; the same sheet again changes nothing; the
    take posts when every line is counted and none waits for a recount. The last line
    is a JSON object of counts."""
    import xiaoer.all_models  # noqa: F401
    from xiaoer.fulfilment.ledger import Actor
    from xiaoer.fulfilment.stocktake import import_count_file
    from xiaoer.shops.service import ShopError, resolve_shop

    if not sheet.is_file():
        raise _fail(f"no such file: {sheet}")

    async def work(db: Database) -> dict[str, Any]:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            try:
                with _import_progress() as progress:
                    report = await import_count_file(
                        session, target.id, Actor(None, "import"), sheet, progress=progress
                    )
            except ValueError as exc:  # the sheet as a whole, or its take
                await session.rollback()
                raise ShopError(str(exc)) from exc
            await session.commit()
        for line, reason in report.rejected:
            err.print(f"rejected line {line}: {reason}", highlight=False, markup=False)
        if report.rejects_file is not None:
            err.print(f"rejected rows written to {report.rejects_file}", highlight=False)
        return report.as_json()

    try:
        summary = _with_db(_settings(), work)
    except ShopError as exc:
        raise _fail(str(exc)) from exc
    print(json.dumps(summary, ensure_ascii=False))
