"""``xiaoer staffing …``: the agents a forecast needs, interval by interval (D1, C11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from xiaoer.core.texts import say
from xiaoer.peakday.forecast_file import ForecastRow, read_forecast
from xiaoer.peakday.staffing import (
    IntervalPlan,
    Options,
    StaffingError,
    Target,
    check_handling_time,
    plan_interval,
)

staffing_app = typer.Typer(
    help="Staffing for the peak day: agents per interval by Erlang C and A.",
    no_args_is_help=True,
)

def _number(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def plan_as_json(rows: list[ForecastRow], plans: list[IntervalPlan]) -> dict[str, Any]:
    """The plan as ``xiaoer staffing plan --json`` prints it: an unreachable interval
    has ``agents`` (and every figure) ``null``."""
    intervals = []
    for row, plan in zip(rows, plans, strict=True):
        item: dict[str, Any] = {
            "start": row.start,
            "sessions": _number(row.sessions),
            "agents": plan.agents,
            "service_level": plan.service_level,
            "asa_s": plan.asa_s,
            "occupancy": plan.occupancy,
        }
        if plan.abandon is not None:
            item["abandon"] = plan.abandon
        intervals.append(item)
    return {"intervals": intervals}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(
    rows: list[ForecastRow], plans: list[IntervalPlan], target: Target, with_patience: bool
) -> Table:
    table = Table(title=f"Agents for {target.level * 100:g}% answered within {target.within_s:g} s")
    for heading in (
        "start",
        "sessions",
        "load (Erl)",
        "agents",
        "service level",
        "ASA s",
        "occupancy",
    ):
        table.add_column(heading, justify="left" if heading == "start" else "right")
    if with_patience:
        table.add_column("abandon", justify="right")
    for row, plan in zip(rows, plans, strict=True):
        agents = "unreachable" if plan.agents is None else str(plan.agents)
        cells = [
            row.start,
            f"{row.sessions:g}",
            f"{plan.load:.2f}",
            agents,
            _percent(plan.service_level),
            "-" if plan.asa_s is None else f"{plan.asa_s:.1f}",
            _percent(plan.occupancy),
        ]
        if with_patience:
            cells.append(_percent(plan.abandon))
        table.add_row(*cells)
    return table


def _plan_rows(
    rows: list[ForecastRow], aht: float, target: Target, options: Options
) -> list[IntervalPlan]:
    """Every interval's plan, with a bar on stderr: Erlang A takes a moment each."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("planning intervals", total=len(rows))
        plans = []
        for row in rows:
            plans.append(plan_interval(row.sessions, aht, target, options))
            progress.advance(task)
    return plans


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@staffing_app.command("plan")
def plan_command(
    forecast: Annotated[
        Path,
        typer.Option(
            "--forecast", help="CSV or .xlsx with columns start,sessions (15-minute intervals)."
        ),
    ],
    aht: Annotated[float, typer.Option("--aht", help="Average handling time, seconds.")],
    target: Annotated[
        str, typer.Option("--target", help="Service level: 0.8/30 is 80% answered within 30 s.")
    ],
    concurrency: Annotated[int, typer.Option(help="Chats one agent holds at once.")] = 1,
    shrinkage: Annotated[
        float, typer.Option(help="Share of paid time away from the chats (0 to below 1).")
    ] = 0.0,
    max_occupancy: Annotated[
        float | None, typer.Option("--max-occupancy", help="Cap on the agents' busy share.")
    ] = None,
    patience: Annotated[
        float | None,
        typer.Option("--patience", help="Buyers' mean patience, seconds: Erlang A."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON on the last line too.")
    ] = False,
) -> None:
    """Agents needed per 15-minute interval by Erlang C (Erlang A with --patience).
    With --json the last line is ``{"intervals": [{"start", "sessions", "agents",
    "service_level", "asa_s", "occupancy"}, …]}``; an interval that no number of
    agents can serve has ``agents`` null and is shown as "unreachable"."""
    try:
        wanted = Target.parse(target)
        check_handling_time(aht)
        options = Options(
            concurrency=concurrency,
            shrinkage=shrinkage,
            max_occupancy=max_occupancy,
            patience_s=patience,
        )
        try:
            data = forecast.read_bytes()
        except OSError as exc:
            raise StaffingError(
                say(
                    "cannot read the forecast {path}: {reason}",
                    path=str(forecast),
                    reason=exc.strerror or str(exc),
                )
            ) from exc
        rows = read_forecast(data, forecast.name)
        plans = _plan_rows(rows, aht, wanted, options)
    except StaffingError as exc:
        raise fail(str(exc)) from exc
    Console(width=120).print(_table(rows, plans, wanted, patience is not None))
    short = sum(1 for plan in plans if plan.agents is None)
    if short:
        typer.echo(f"{short} interval(s) unreachable: no number of agents meets the target.")
    if as_json:
        typer.echo(json.dumps(plan_as_json(rows, plans), ensure_ascii=False))
