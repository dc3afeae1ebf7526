"""Staffing a peak day: every quarter-hour of a 双十一 for a few teams, by Erlang C and
by Erlang A, timed.

The day is made up, not measured: a plain day of ``--base`` sessions a quarter-hour
(lower at night), times ``--peak`` at midnight falling off over two hours, for
``--teams`` teams whose handling times run from 150 to 300 s, at 80 % within 30 s
with agents holding three chats each. Every interval is planned by
``xiaoer.peakday.staffing.plan_interval`` twice — without patience (Erlang C) and
with a mean patience of 90 s (Erlang A) — and each plan is checked: the roster it asks
for gives the target by ``served_by``, and one agent fewer at the chats does not.

The last line is one JSON object: intervals, the largest load (erlangs) and agents,
seconds for each model, and ``failed`` (plans that did not check out; the run exits 1
when any). Targets, 4 teams × 96 intervals at ``--base 400 --peak 12`` (midnight at
400 erlangs, 137 agents): Erlang C ≤ 0.5 s, Erlang A ≤ 30 s (measured: 0.04 s and 5 s
on one core of the development machine).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from xiaoer.peakday.staffing import Options, Target, plan_interval, served_by

TARGET = Target(0.8, 30)


def day_sessions(base: float, peak: float) -> list[float]:
    """Sessions per quarter-hour over a day: quiet nights, the midnight spike."""
    sessions = []
    for quarter in range(96):
        hour = quarter / 4
        daytime = 0.25 + 0.75 * max(0.0, math.sin(math.pi * (hour - 7) / 16))
        spike = 1 + (peak - 1) * math.exp(-hour / 0.6)
        sessions.append(round(base * max(daytime, 0.25) * spike, 1))
    return sessions


def _check(sessions: float, aht: float, options: Options) -> tuple[int | None, bool]:
    """The agents planned, and whether that roster gives the target."""
    plan = plan_interval(sessions, aht, TARGET, options)
    if plan.agents is None:
        return None, False
    given = served_by(plan.agents, sessions, aht, TARGET, options)
    return plan.agents, given.service_level is not None and given.service_level >= TARGET.level


def run(base: float, peak: float, teams: int) -> dict[str, Any]:
    sessions = day_sessions(base, peak)
    handling = [150 + 150 * team / max(1, teams - 1) for team in range(teams)]
    figures: dict[str, Any] = {"intervals": len(sessions) * teams, "failed": 0}
    largest = max(sessions) * max(handling) / 900
    figures["largest_load"] = round(largest, 1)
    for name, patience in (("erlang_c", None), ("erlang_a", 90.0)):
        options = Options(concurrency=3, patience_s=patience)
        started = time.perf_counter()
        most = 0
        for aht in handling:
            for count in sessions:
                agents, holds = _check(count, aht, options)
                most = max(most, agents or 0)
                figures["failed"] += 0 if holds else 1
        figures[f"{name}_s"] = round(time.perf_counter() - started, 3)
        figures[f"{name}_most_agents"] = most
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=float, default=400.0, help="plain-day sessions a quarter")
    parser.add_argument("--peak", type=float, default=12.0, help="midnight multiplier")
    parser.add_argument("--teams", type=int, default=4)
    args = parser.parse_args(argv)
    figures = run(args.base, args.peak, args.teams)
    print(json.dumps(figures))
    return 1 if figures["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
