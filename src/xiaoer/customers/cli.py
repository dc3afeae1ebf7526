"""``xiaoer customers …``: the customer file from the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import select

from xiaoer.core.cli_database import DatabaseNotReady, check_ready, command_settings
from xiaoer.core.db import Database

customers_app = typer.Typer(help="The customer file.", no_args_is_help=True)

T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    """The error a command prints before it exits with 1."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def run_on_database(work: Callable[[Database], Awaitable[T]]) -> T:
    """``work`` over the configured database, once it is migrated; the customers'
    commands (refresh, greetings, points) open it the same way."""
    try:
        settings = command_settings()
    except ValueError as exc:
        raise fail(str(exc)) from exc

    async def run() -> T:
        import xiaoer.customers.greetings_send
        import xiaoer.customers.membership
        import xiaoer.customers.privacy  # noqa: F401

        await check_ready(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except DatabaseNotReady as exc:
        raise fail(str(exc)) from exc


@customers_app.command("refresh")
def refresh_command(
    shop: Annotated[str | None, typer.Option(help="Shop code (every shop if left out).")] = None,
) -> None:
    """Sum every person's orders, refunds and reviews again (customer_stats) and keep
    each shop's hourly refresh timer; the last line is JSON {"shop", "persons"} (for
    every shop: "shop" null, "persons" the total and "shops" each one's)."""
    import xiaoer.customers.privacy  # noqa: F401  (every table the file's tables name)
    from xiaoer.customers.upkeep import do_schedule_refresh, refresh_shop
    from xiaoer.shops.models import Shop
    from xiaoer.shops.service import shop_by_code

    try:
        settings = command_settings()
    except ValueError as exc:
        raise fail(str(exc)) from exc

    async def work(db: Database) -> dict[str, Any]:
        async with db.session() as session:
            if shop:
                found = await shop_by_code(session, shop)
                if found is None:
                    raise fail(f"no shop with code {shop!r}")
                shops = [(found.id, found.code)]
            else:
                shops = [
                    (s.id, s.code) for s in await session.scalars(select(Shop).order_by(Shop.id))
                ]
        counts: dict[str, int] = {}
        for shop_id, code in shops:
            typer.echo(f"refreshing {code}…", err=True)
            async with db.session() as session:
                counts[code] = await refresh_shop(session, shop_id)
                await do_schedule_refresh(session, shop_id)
                await session.commit()
            typer.echo(f"{code}: {counts[code]} persons", err=True)
        if shop:
            return {"shop": shop, "persons": counts[shop]}
        return {"shop": None, "persons": sum(counts.values()), "shops": counts}

    async def run() -> dict[str, Any]:
        await check_ready(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except DatabaseNotReady as exc:
        raise fail(str(exc)) from exc
    print(json.dumps(result, ensure_ascii=False))
