"""``xiaoer rehearse``: the forecast's peak hour against the shop's own running server."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from xiaoer.core.cli_database import DatabaseNotReady, check_ready, command_settings
from xiaoer.core.db import Database
from xiaoer.core.texts import say
from xiaoer.peakday.rehearsal import Run
from xiaoer.peakday.rehearsal_figures import figures, report_lines
from xiaoer.peakday.rehearsal_http import post_json, request
from xiaoer.peakday.rehearsal_plan import (
    INTERVAL,
    agents_needed,
    peak_hour,
    plan_arrivals,
    read_forecast,
)
from xiaoer.peakday.rehearsal_scratch import (
    MAX_AGENTS,
    RehearsalError,
    Target,
    check_local_url,
    do_clean_abandoned,
    do_finish_rehearsal,
    do_open_rehearsal,
    do_remove_scratch_shop,
    roster_agents,
)

MAX_BUYERS = 5000
MAX_SECONDS = 900.0


def _echo(line: str) -> None:
    typer.echo(line, err=True)


def check_bounds(speed: float, max_buyers: int, max_seconds: float) -> None:
    """A rehearsal is bounded: the hour must fit in the time allowed."""
    if not 1 <= speed <= 3600:
        raise RehearsalError(say("speed: expected 1 to 3600, not {speed:g}", speed=speed))
    if not 1 <= max_buyers <= MAX_BUYERS:
        raise RehearsalError(
            say("max buyers: expected 1 to {most}, not {given}", most=MAX_BUYERS, given=max_buyers)
        )
    if not 1 <= max_seconds <= 3600:
        raise RehearsalError(
            say("max seconds: expected 1 to 3600, not {given:g}", given=max_seconds)
        )
    hour = 4 * INTERVAL.total_seconds() / speed
    if hour > max_seconds:
        raise RehearsalError(
            say(
                "at speed {speed:g} the peak hour takes {hour:.0f} s, more than --max-seconds "
                "{most:.0f}: raise the speed or the time allowed",
                speed=speed,
                hour=hour,
                most=max_seconds,
            )
        )


async def _check_server(target: Target) -> None:
    try:
        answer = await request(target, "GET", "/healthz")
    except (OSError, TimeoutError) as exc:
        raise RehearsalError(
            say("no server answers at {url}: {why}", url=target.base, why=str(exc) or "timeout")
        ) from exc
    if answer.status != 200:
        raise RehearsalError(
            say("{url}/healthz answered {status}: is it xiaoer?", url=target.base,
                status=answer.status)
        )  # fmt: skip


async def rehearse(
    db: Database,
    *,
    target: Target,
    url: str,
    forecast: Path,
    speed: float,
    shop_code: str | None,
    max_buyers: int,
    max_seconds: float,
    agents: int | None,
    target_ms: float,
) -> dict[str, Any]:
    """The whole rehearsal: scratch shop in, load, figures recorded, scratch shop out."""
    from xiaoer.core.policy_store import policy_on
    from xiaoer.shops.service import ShopError, resolve_shop, shop_zone

    check_bounds(speed, max_buyers, max_seconds)
    await _check_server(target)
    for code in await do_clean_abandoned(db):
        _echo(f"removed {code}, left by a rehearsal that was stopped halfway")
    async with db.session() as session:
        try:
            shop = await resolve_shop(session, shop_code)
        except ShopError as exc:
            raise RehearsalError(str(exc)) from exc
        zone = await shop_zone(session, shop.id)
        roster = await roster_agents(session, shop.id)
        per_agent = (await policy_on(session, shop.id)).reception.max_concurrent_conversations
    hour = peak_hour(read_forecast(forecast, zone))
    arrivals = plan_arrivals(hour, speed, max_buyers)
    needed = agents_needed(hour, per_agent)
    count = min(MAX_AGENTS, agents if agents is not None else max(roster, needed))
    _echo(
        f"peak hour from {hour[0].start:%Y-%m-%d %H:%M}: "
        f"{sum(i.sessions for i in hour):,} sessions, {len(arrivals):,} buyers to play; "
        f"{count} agents (the shop has {roster}; the busiest interval needs {needed} at "
        f"{per_agent} conversations each); preparing the scratch shop…"
    )
    started = time.monotonic()
    async with db.session() as session:
        scratch = await do_open_rehearsal(
            session,
            shop=shop,
            url=url,
            forecast_name=str(forecast),
            peak_start=hour[0].start,
            peak_sessions=sum(i.sessions for i in hour),
            speed=speed,
            buyers=len(arrivals),
            agents=count,
            max_seconds=max_seconds,
        )
        await session.commit()
    try:
        probe = await post_json(target, f"/b/{scratch.code}/session", {})
        if probe.status == 404:
            raise RehearsalError(
                say("the server at {url} does not use this database (XIAOER_DATABASE_URL): "
                    "it does not know the rehearsal's shop", url=target.base)
            )  # fmt: skip
        run = Run(
            target=target,
            code=scratch.code,
            speed=speed,
            hour=hour,
            arrivals=arrivals,
            usernames=scratch.usernames,
            password=scratch.password,
            target_ms=target_ms,
            deadline=started + max_seconds,
            say_progress=_echo,
        )
        _echo(f"signing in {count} agents, then the hour in {4 * 900 / speed:.0f} s…")
        await run_load_bounded(run, started + max_seconds)
        result = figures(run)
        async with db.session() as session:
            await do_finish_rehearsal(
                session, scratch.run_id, held=bool(result["held"]), figures=result
            )
            await session.commit()
        return result
    except BaseException as exc:
        stopped = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
        why = "stopped before its end" if stopped else str(exc) or repr(exc)
        async with db.session() as session:
            await do_finish_rehearsal(session, scratch.run_id, held=None, figures={}, error=why)
            await session.commit()
        raise
    finally:
        await do_remove_scratch_shop(db, scratch.code)
        _echo(f"scratch shop {scratch.code} removed")


async def run_load_bounded(run: Run, deadline: float) -> None:
    from xiaoer.peakday.rehearsal import run_load

    try:
        await asyncio.wait_for(run_load(run), max(1.0, deadline - time.monotonic() + 10))
    except TimeoutError:
        run.problems["stopped at the time limit"] += 1


def rehearse_command(
    forecast: Annotated[
        Path, typer.Option(help="CSV with columns start,sessions (15-minute intervals).")
    ],
    url: Annotated[str, typer.Option(help="The shop's own server, e.g. http://127.0.0.1:8000.")],
    speed: Annotated[float, typer.Option(help="How many times faster than the day.")] = 10.0,
    shop: Annotated[str | None, typer.Option(help="Shop code (the only shop if left out).")] = None,
    max_buyers: Annotated[int, typer.Option(help="At most this many buyers.")] = MAX_BUYERS,
    max_seconds: Annotated[
        float, typer.Option(help="It stops by itself after this many seconds.")
    ] = MAX_SECONDS,
    agents: Annotated[
        int | None, typer.Option(help="Simulated agents (the shop's own agents if left out).")
    ] = None,
    target_ms: Annotated[
        float, typer.Option(help="Delivery p99 an interval must stay within (ms).")
    ] = 2000.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object last.")] = False,
) -> None:
    """Replay the forecast's peak hour against the shop's own server, in a scratch shop
    of simulated buyers and agents, and say whether the system held; recorded for the
    readiness checklist."""
    try:
        target = check_local_url(url)
        settings = command_settings()
    except (RehearsalError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc

    async def run() -> dict[str, Any]:
        # Stopped by a signal, the run is cancelled, so the scratch shop still goes.
        main = asyncio.current_task()
        assert main is not None
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(stop, main.cancel)
        await check_ready(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await rehearse(
                db,
                target=target,
                url=url,
                forecast=forecast,
                speed=speed,
                shop_code=shop,
                max_buyers=max_buyers,
                max_seconds=max_seconds,
                agents=agents,
                target_ms=target_ms,
            )
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except (RehearsalError, DatabaseNotReady) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (KeyboardInterrupt, asyncio.CancelledError):
        typer.echo("stopped: the scratch shop is removed, the run recorded as failed", err=True)
        raise typer.Exit(130) from None
    for line in report_lines(result):
        typer.echo(line)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
