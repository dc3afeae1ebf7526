"""``xiaoer greetings …``: plan a day's greetings, send what is due."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated, Any

import typer

from xiaoer.core.db import Database
from xiaoer.customers.cli import fail, run_on_database

greetings_app = typer.Typer(
    help="Greetings: birthdays, holidays, anniversaries.", no_args_is_help=True
)

ShopOption = Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")]


@greetings_app.command("plan")
def plan_command(
    day: Annotated[str, typer.Option("--date", help="The day, YYYY-MM-DD (shop time).")],
    shop: ShopOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as one JSON array, the last line.")
    ] = False,
    save: Annotated[
        bool, typer.Option("--save", help="Store the plan; the sender sends it when due.")
    ] = False,
) -> None:
    """Who is greeted on a day, for what, when and through which channel (R3). Progress
    goes to stderr; with ``--json`` the last line of stdout is a JSON array of
    ``{customer, kind, send_at, channel, title}``."""
    from xiaoer.core.policy_store import policy_on
    from xiaoer.customers.greetings import do_plan_day, plan_day, plan_json
    from xiaoer.customers.occasions import check_day
    from xiaoer.shops.service import ShopError, resolve_shop

    try:
        wanted = check_day(date.fromisoformat(day))
    except ValueError as exc:
        raise fail(f"--date {day!r}: expected a day like 2026-02-17, from 2000 to 2099") from exc

    async def work(db: Database) -> tuple[Any, int]:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            policy = await policy_on(session, target.id, wanted)
            typer.echo(f"planning {wanted} for shop {target.code}", err=True)
            if save:
                plan, added = await do_plan_day(session, target, policy, wanted)
                await session.commit()
            else:
                plan, added = await plan_day(session, target, policy, wanted), 0
            return plan, added

    try:
        plan, added = run_on_database(work)
    except ShopError as exc:
        raise fail(str(exc)) from exc
    if not plan.calendar_known:
        typer.echo(
            f"note: the holiday calendar has no holidays for {wanted.year} yet "
            "(update chinesecalendar); birthdays and anniversaries are planned",
            err=True,
        )
    if plan.holiday:
        typer.echo(f"holiday: {plan.holiday}", err=True)
    kinds: dict[str, int] = {}
    for item in plan.items:
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "nothing"
    typer.echo(
        f"{len(plan.items)} greetings: {summary}; {plan.capped} over the month's cap", err=True
    )
    if save:
        typer.echo(f"stored {added} new greetings", err=True)
    if as_json:
        sys.stdout.write(plan_json(plan.items) + "\n")
    else:
        for item in plan.items:
            line = f"{item.customer}\t{item.kind}\t{item.send_at.isoformat()}\t{item.channel}"
            typer.echo(f"{line}\t{item.title}")


@greetings_app.command("send")
def send_command(shop: ShopOption = None) -> None:
    """Send the greetings due now (what the sender's timer does); prints the counts."""
    from xiaoer.core.clock import utcnow
    from xiaoer.customers.greetings_send import send_due
    from xiaoer.shops.service import ShopError, resolve_shop

    async def work(db: Database) -> dict[str, int]:
        async with db.session() as session:
            target = await resolve_shop(session, shop)
            done = await send_due(session, target.id, utcnow())
            await session.commit()
            return done

    try:
        done = run_on_database(work)
    except ShopError as exc:
        raise fail(str(exc)) from exc
    sys.stdout.write(json.dumps(done) + "\n")
