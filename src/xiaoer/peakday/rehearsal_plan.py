"""The hour a rehearsal plays: the forecast read, its peak hour found, each session a
buyer arriving within its interval compressed by the speed, and the agents it needs.

The peak hour is the four consecutive 15-minute intervals with the most sessions; at
``speed`` 10 each interval lasts 90 s and brings the same sessions.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from xiaoer.core.texts import say
from xiaoer.peakday import forecast_file
from xiaoer.peakday.rehearsal_scratch import RehearsalError
from xiaoer.peakday.staffing import StaffingError

INTERVAL = timedelta(minutes=15)
HOUR = 4  # intervals


# --- the forecast ------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    start: datetime
    sessions: int


def read_forecast(path: Path, zone: ZoneInfo, today: date | None = None) -> list[Interval]:
    """The intervals of a forecast file, read as ``xiaoer staffing plan`` reads it
    (:mod:`xiaoer.peakday.forecast_file`): a start without a zone is on the shop's
    clock, a start without a day is on ``today`` (the next day once the times turn past
    midnight), and the teams' sessions of one interval are played together."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        why = say("{path}: cannot read it: {why}", path=str(path), why=str(exc))
        raise RehearsalError(why) from exc
    try:
        rows = forecast_file.read_forecast(data, path.name)
    except StaffingError as exc:
        raise RehearsalError(say("{path}: {problem}", path=str(path), problem=exc)) from exc
    day, previous = today or datetime.now(zone).date(), None
    found: dict[datetime, int] = {}
    seen: dict[tuple[datetime, str], int] = {}
    for row in rows:
        try:
            moment = time.fromisoformat(row.start)
        except ValueError:
            start = datetime.fromisoformat(row.start)
            start = start if start.tzinfo else start.replace(tzinfo=zone)
        else:
            start = datetime.combine(day, moment, zone)
            if previous is not None and start < previous:
                day += timedelta(days=1)
                start = datetime.combine(day, moment, zone)
        previous = start
        if (start, row.team) in seen:
            raise RehearsalError(say("{path}: line {line} repeats line {first}", path=str(path),
                                     line=row.line, first=seen[start, row.team]))  # fmt: skip
        seen[start, row.team] = row.line
        found[start] = found.get(start, 0) + round(row.sessions)
    return [Interval(start, found[start]) for start in sorted(found)]


def peak_hour(intervals: Sequence[Interval]) -> list[Interval]:
    """The four consecutive 15-minute intervals with the most sessions (the earliest of
    equals); an interval missing from the forecast counts as none."""
    by_start = {i.start: i.sessions for i in intervals}
    best: list[Interval] = []
    for first in intervals:
        hour = [first.start + n * INTERVAL for n in range(HOUR)]
        window = [Interval(s, by_start.get(s, 0)) for s in hour]
        if sum(i.sessions for i in window) > sum(i.sessions for i in best) or not best:
            best = window
    return best


# --- the plan ----------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    buyer: int
    interval: int
    at: float  # seconds after the start
    messages: int
    pauses: tuple[float, ...]  # before the second, third … message


def plan_arrivals(
    hour: Sequence[Interval], speed: float, max_buyers: int, seed: int = 19
) -> list[Arrival]:
    """Each session of the hour a buyer, arriving within its interval (compressed by
    ``speed``); above ``max_buyers`` each interval keeps its share."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible plan, not secrets)
    slot = INTERVAL.total_seconds() / speed
    total = sum(i.sessions for i in hour)
    keep = min(total, max_buyers)
    shares = [i.sessions * keep / total if total else 0.0 for i in hour]
    counts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(hour)), key=lambda n: counts[n] - shares[n])
    for n in by_remainder[: keep - sum(counts)]:
        counts[n] += 1
    arrivals: list[Arrival] = []
    for index, count in enumerate(counts):
        for k in range(count):
            at = slot * index + slot * (k + rng.random()) / count
            messages = rng.choice((2, 3, 3, 4))
            pauses = tuple(rng.uniform(15, 45) / speed for _ in range(messages - 1))
            arrivals.append(Arrival(len(arrivals), index, at, messages, pauses))
    arrivals.sort(key=lambda a: a.at)
    return arrivals


def agents_needed(hour: Sequence[Interval], per_agent: int) -> int:
    """Agents enough that the busiest interval's buyers are served without a queue: a
    buyer stays about 90 s (three lines, half a minute between them, ten seconds to
    type each answer), an agent takes ``per_agent`` at once, a quarter spare."""
    busiest = max((i.sessions for i in hour), default=0)
    at_once = busiest / INTERVAL.total_seconds() * 90
    return max(1, math.ceil(at_once / max(1, per_agent) * 1.25))
