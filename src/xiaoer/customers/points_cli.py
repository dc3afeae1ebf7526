"""``xiaoer points …``: the points ledger's balances rebuilt and checked, the periodic
pass run by hand."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from xiaoer.core.db import Database
from xiaoer.customers.cli import fail, run_on_database

points_app = typer.Typer(help="Customers' points (R5): the ledger.", no_args_is_help=True)

ShopOption = Annotated[str | None, typer.Option(help="Shop code (every shop if left out).")]


async def _shop_ids(db: Database, code: str | None) -> list[int]:
    from xiaoer.shops.service import ShopError, list_shops, shop_by_code

    async with db.session() as session:
        if code is None:
            return [shop.id for shop in await list_shops(session)]
        found = await shop_by_code(session, code)
        if found is None:
            raise ShopError(f"no shop with code {code!r}")
        return [found.id]


@points_app.command("rebuild")
def rebuild_command(
    shop: ShopOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only report differences; exit 1 when any.")
    ] = False,
) -> None:
    """Recompute every buyer's pending and usable points from the ledger, report each
    difference (buyer, field, was, is) and fix it. The last line is
    ``{"balances": n, "drift": m, "seconds": s}``."""
    from xiaoer.customers.points_rebuild import rebuild_points
    from xiaoer.shops.service import ShopError

    async def work(db: Database) -> dict[str, Any]:
        shop_ids = await _shop_ids(db, shop) if shop else [None]
        started = time.perf_counter()
        balances, drift = 0, []
        async with db.session() as session:
            for shop_id in shop_ids:
                report = await rebuild_points(session, shop_id, fix=not check)
                balances += report.balances
                drift.extend(report.drift)
            if check:
                await session.rollback()
            else:
                await session.commit()
        for found in drift:
            typer.echo(
                f"drift customer {found.customer_id} {found.field}: was {found.was}, "
                f"is {found.is_}",
                err=True,
            )
        seconds = round(time.perf_counter() - started, 3)
        return {"balances": balances, "drift": len(drift), "seconds": seconds}

    try:
        summary = run_on_database(work)
    except ShopError as exc:
        raise fail(str(exc)) from exc
    print(json.dumps(summary, ensure_ascii=False))
    if check and summary["drift"]:
        raise typer.Exit(1)


@points_app.command("settle")
def settle_command(shop: ShopOption = None) -> None:
    """Run the periodic pass now: earn for imported paid orders, take back for refunds,
    confirm what is due, expire what is past. The last line is one JSON object per
    run: ``{"shops": n, "earned": …, "confirmed": …, "reversed": …, "restored": …,
    "expired": …}``."""
    from xiaoer.customers.points_settle import settle_points
    from xiaoer.shops.service import ShopError

    async def work(db: Database) -> dict[str, Any]:
        totals: dict[str, int] = {}
        shop_ids = await _shop_ids(db, shop)
        for shop_id in shop_ids:
            async with db.session() as session:
                report = await settle_points(session, shop_id)
                await session.commit()
            for key, value in report.as_json().items():
                totals[key] = totals.get(key, 0) + value
        return {"shops": len(shop_ids), **totals}

    try:
        summary = run_on_database(work)
    except ShopError as exc:
        raise fail(str(exc)) from exc
    print(json.dumps(summary, ensure_ascii=False))
