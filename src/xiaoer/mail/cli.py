"""``xiaoer mail …``: a shop's mailboxes, the SMTP listener, IMAP polling, the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from xiaoer.core.cli_database import DatabaseNotReady, check_ready, command_settings
from xiaoer.core.db import Database
from xiaoer.core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

mail_app = typer.Typer(help="The e-mail channel.", no_args_is_help=True)
box_app = typer.Typer(help="The shops' mailboxes.", no_args_is_help=True)
mail_app.add_typer(box_app, name="box")

T = TypeVar("T")
ShopOption = Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _run(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    try:
        settings = command_settings()
    except ValueError as exc:
        raise _fail(str(exc)) from exc

    async def run() -> T:
        import xiaoer.mail.service  # noqa: F401  (every table the mail tables name)

        await check_ready(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await work(db, settings)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except DatabaseNotReady as exc:
        raise _fail(str(exc)) from exc


def _password(variable: str, label: str, needed: bool) -> str:
    """A password from the environment, else asked for; never from the command line,
    where other users of the machine could read it."""
    given = os.environ.get(variable, "")
    if given or not needed:
        return given
    return str(typer.prompt(label, hide_input=True, default="", show_default=False))


@box_app.command("add")
def box_add(
    address: Annotated[str, typer.Option(help="The shop's address, e.g. service@shop.example.")],
    smtp_host: Annotated[str, typer.Option(help="The relay replies are sent through.")],
    shop: ShopOption = None,
    smtp_port: Annotated[int, typer.Option(help="465 speaks TLS from the start.")] = 587,
    smtp_user: Annotated[str, typer.Option(help="User name at the relay, if it asks.")] = "",
    smtp_starttls: Annotated[bool, typer.Option(help="Switch to TLS with STARTTLS.")] = True,
    signature: Annotated[str, typer.Option(help="Appended to every reply.")] = "",
    display_name: Annotated[str, typer.Option(help="Sender's name (the shop's name).")] = "",
    team: Annotated[str, typer.Option(help="presale|aftersale|assist")] = "presale",
    imap_host: Annotated[
        str, typer.Option(help="Poll this IMAP server (leave out for SMTP).")
    ] = "",
    imap_port: Annotated[int, typer.Option()] = 993,
    imap_user: Annotated[str, typer.Option()] = "",
    imap_folder: Annotated[str, typer.Option()] = "INBOX",
    imap_ssl: Annotated[bool, typer.Option(help="IMAP over TLS.")] = True,
) -> None:
    """Add or change a shop's mailbox. Passwords come from XIAOER_SMTP_PASSWORD and
    XIAOER_IMAP_PASSWORD or are asked for; they are never shown again."""
    from xiaoer.mail.service import MailboxSetup, MailError, do_set_mailbox
    from xiaoer.shops.service import ShopError, resolve_shop

    setup = MailboxSetup(
        address=address,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_user=smtp_user,
        smtp_password=_password("XIAOER_SMTP_PASSWORD", "SMTP password", bool(smtp_user)),
        smtp_starttls=smtp_starttls,
        signature=signature,
        display_name=display_name,
        team=team,
        imap_host=imap_host,
        imap_port=imap_port,
        imap_user=imap_user,
        imap_password=_password("XIAOER_IMAP_PASSWORD", "IMAP password", bool(imap_host)),
        imap_folder=imap_folder,
        imap_ssl=imap_ssl,
    )

    async def work(db: Database, settings: Settings) -> str:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            box = await do_set_mailbox(session, shop_id=target.id, setup=setup)
            await session.commit()
            return f"mailbox {box.address} of shop {target.code} (channel {box.channel_id})"

    try:
        typer.echo(_run(work))
    except (ShopError, MailError) as exc:
        raise _fail(str(exc)) from exc


Rows = Callable[["AsyncSession", int | None], Awaitable[list[dict[str, Any]]]]


def _print_rows(shop: str | None, rows_of: Rows) -> None:
    """Print ``rows_of(session, shop id or None)`` as JSON lines."""
    from xiaoer.shops.service import ShopError, resolve_shop

    async def work(db: Database, settings: Settings) -> list[dict[str, Any]]:
        async with db.session() as session:
            shop_id = (await resolve_shop(session, shop)).id if shop else None
            return await rows_of(session, shop_id)

    try:
        rows = _run(work)
    except ShopError as exc:
        raise _fail(str(exc)) from exc
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")


@box_app.command("list")
def box_list(shop: ShopOption = None) -> None:
    """Print the mailboxes as JSON lines (without their passwords)."""
    from xiaoer.mail.service import mailboxes

    async def rows(session: AsyncSession, shop_id: int | None) -> list[dict[str, Any]]:
        return [
            {
                "address": box.address,
                "shop_id": box.shop_id,
                "channel_id": box.channel_id,
                "smtp": f"{box.smtp_host}:{box.smtp_port}",
                "imap": f"{box.imap_host}:{box.imap_port}" if box.imap_host else "",
                "active": box.active,
            }
            for box in await mailboxes(session, shop_id)
        ]

    _print_rows(shop, rows)


@mail_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (25 for an MX).")] = 2525,
) -> None:
    """Receive the shops' mail over SMTP (point an MX or a forward here)."""
    from xiaoer.mail.inbound import start_mail_server

    async def work(db: Database, settings: Settings) -> None:
        server = await start_mail_server(db, settings, host, port)
        bound = ", ".join(str(s.getsockname()) for s in server.sockets)
        typer.echo(f"receiving mail on {bound}; Ctrl-C to stop")
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        _run(work)


@mail_app.command("poll")
def poll(
    shop: ShopOption = None,
    once: Annotated[bool, typer.Option(help="Poll once, then exit.")] = False,
) -> None:
    """Read the mailboxes that have IMAP settings: unseen mail is stored, marked seen."""
    from xiaoer.mail.imap import poll_all
    from xiaoer.shops.service import ShopError, resolve_shop

    async def work(db: Database, settings: Settings) -> None:
        async with db.session() as session:
            shop_id = (await resolve_shop(session, shop)).id if shop else None
        while True:
            for mailbox_id, report in (await poll_all(db, settings, shop_id)).items():
                line = {"mailbox": mailbox_id, **report.__dict__}
                typer.echo(json.dumps(line, ensure_ascii=False))
            if once:
                return
            await asyncio.sleep(settings.mail_poll_seconds)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            _run(work)
    except ShopError as exc:
        raise _fail(str(exc)) from exc


@mail_app.command("outbox")
def outbox_command(shop: ShopOption = None) -> None:
    """Replies waiting to be sent and those given up on, as JSON lines."""
    from xiaoer.mail.outbound import outbox

    async def rows(session: AsyncSession, shop_id: int | None) -> list[dict[str, Any]]:
        return [
            {
                "id": record.id,
                "status": record.status,
                "to": record.peer,
                "subject": record.subject,
                "conversation_id": record.conversation_id,
                "attempts": record.attempts,
                "last_error": record.last_error,
            }
            for record in await outbox(session, shop_id)
        ]

    _print_rows(shop, rows)


@mail_app.command("retry")
def retry(mail: Annotated[int, typer.Argument(help="The reply's id (from `outbox`).")]) -> None:
    """Send a failed reply again; whatever runs timers (serve, worker) sends it."""
    from xiaoer.core.clock import utcnow
    from xiaoer.mail.models import MailRecord
    from xiaoer.mail.outbound import do_retry
    from xiaoer.mail.service import MailError

    async def work(db: Database, settings: Settings) -> str:
        async with db.session() as session:
            record = await session.get(MailRecord, mail)
            if record is None:
                raise _fail(f"no reply {mail}")
            await do_retry(session, record, utcnow())
            await session.commit()
            return f"reply {mail} to {record.peer} queued again"

    try:
        typer.echo(_run(work))
    except MailError as exc:
        raise _fail(str(exc)) from exc
