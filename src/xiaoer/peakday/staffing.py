"""Agents needed per interval (D1, C11): the Erlang figures turned into people.

One interval is planned in four steps (docs/architecture.md, "Staffing formulas"):

1. **Servers.** The load is A = sessions × AHT / interval. With no patience known,
   Erlang C gives the smallest number of servers N > A whose service level reaches
   the target; with a mean patience, Erlang A (sessions that give up) gives the
   fewest servers whose level reaches it.
2. **Chat concurrency.** The handling time of chats is measured from the shop's own
   sessions, while agents held several at once, so it already contains the slowing
   down that holding several causes. An agent who holds ``c`` chats therefore counts
   as ``c`` servers of that handling time: agents = ⌈servers / c⌉, and the figures
   are those of agents × c servers.
3. **Occupancy cap.** More agents until load / (agents × c) <= the cap, so nobody is
   kept busy every second of the peak.
4. **Shrinkage.** Paid time away from chats (breaks, training, meetings): the agents
   on the roster are ⌈agents / (1 - shrinkage)⌉. The figures stay those of the agents
   at the chats.

With concurrency 1 and neither a cap nor shrinkage, ``agents`` is exactly Erlang C's
smallest N > A that reaches the target (0 for no sessions). A target that no number
of agents meets (a level of 100 %, or more than :data:`~xiaoer.peakday.erlang.MAX_SERVERS`
servers) is unreachable: ``agents`` is None, never a number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from xiaoer.core.texts import say
from xiaoer.peakday.erlang import (
    MAX_SERVERS,
    UNREACHABLE,
    average_speed_of_answer,
    erlang_a,
    servers_needed,
    servers_needed_with_patience,
    service_level,
)

# Buyers who would wait longer than an hour do not give up in practice: plan those
# by Erlang C (no patience); the bound also keeps Erlang A's queue a finite size.
MAX_PATIENCE_S = 3600

# A float quotient such as 10 / (1 - 0.2) may land a hair above a whole number.
_ROUNDING = 1e-9


class StaffingError(ValueError):
    """An input of the plan that cannot be used; the message says which and why."""


_TARGET = re.compile(r"^\s*([0-9.]+)\s*(%?)\s*/\s*([0-9.]+)\s*s?\s*$")


@dataclass(frozen=True)
class Target:
    """A service level: ``level`` of the sessions answered within ``within_s`` seconds
    ("0.8/30" or "80%/30": 80 % answered within 30 s)."""

    level: float
    within_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.level) and 0 < self.level <= 1):
            raise StaffingError(
                say(
                    "the target's level is a share above 0 and at most 1, not {level}",
                    level=self.level,
                )
            )
        if not (math.isfinite(self.within_s) and self.within_s >= 0):
            raise StaffingError(
                say(
                    "the target's answer time is 0 seconds or more, not {seconds}",
                    seconds=self.within_s,
                )
            )

    @classmethod
    def parse(cls, text: str) -> Target:
        found = _TARGET.match(text)
        if found is None:
            raise StaffingError(
                say(
                    "a target is a level and an answer time such as 0.8/30 "
                    "(80 % within 30 seconds), not {text!r}",
                    text=text,
                )
            )
        try:
            level, within = float(found[1]), float(found[3])
        except ValueError as exc:
            raise StaffingError(
                say(
                    "a target is a level and an answer time such as 0.8/30 "
                    "(80 % within 30 seconds), not {text!r}",
                    text=text,
                )
            ) from exc
        return cls(level / 100 if found[2] else level, within)

    def __str__(self) -> str:
        return f"{self.level:g}/{self.within_s:g}"


@dataclass(frozen=True)
class Options:
    """How the servers become agents (see the module's steps)."""

    concurrency: int = 1  # chats one agent holds at once
    shrinkage: float = 0.0  # share of paid time not at the chats (breaks, training)
    max_occupancy: float | None = None
    patience_s: float | None = None  # mean patience: Erlang A when given
    interval_s: int = 900

    def __post_init__(self) -> None:
        if (
            isinstance(self.concurrency, bool)
            or not isinstance(self.concurrency, int)
            or (self.concurrency < 1)
        ):
            raise StaffingError(
                say(
                    "concurrency is a whole number of chats, 1 or more, not {value}",
                    value=self.concurrency,
                )
            )
        if not (math.isfinite(self.shrinkage) and 0 <= self.shrinkage < 1):
            raise StaffingError(
                say(
                    "shrinkage is a share from 0 up to but not including 1, not {value}",
                    value=self.shrinkage,
                )
            )
        cap = self.max_occupancy
        if cap is not None and not (math.isfinite(cap) and 0 < cap <= 1):
            raise StaffingError(
                say("the occupancy cap is a share above 0 and at most 1, not {value}", value=cap)
            )
        patience = self.patience_s
        if patience is not None and not (
            math.isfinite(patience) and 0 < patience <= MAX_PATIENCE_S
        ):
            raise StaffingError(
                say(
                    "the mean patience is above 0 and at most {limit} seconds, not {value}",
                    value=patience,
                    limit=MAX_PATIENCE_S,
                )
            )
        if self.interval_s <= 0:
            raise StaffingError(
                say("an interval is more than 0 seconds, not {value}", value=self.interval_s)
            )


@dataclass(frozen=True)
class IntervalPlan:
    """One interval's figures.

    From :func:`plan_interval`, ``agents`` is the number to roster, None when the
    target is unreachable (and then every figure is None too). From :func:`served_by`,
    ``agents`` is the roster given, and the figures are None when the load reaches
    the agents at the chats. ``service_level``, ``asa_s`` (mean wait) and
    ``occupancy`` are those of the agents at the chats; ``abandon`` is the share of
    sessions that give up, known only with a patience (Erlang A).
    """

    sessions: float
    load: float  # A = sessions × AHT / interval, in erlangs
    agents: int | None
    service_level: float | None
    asa_s: float | None
    occupancy: float | None
    abandon: float | None = None

    @property
    def unreachable(self) -> bool:
        return self.agents is None or self.service_level is None


def _check_inputs(sessions: float, aht_s: float) -> None:
    if not (math.isfinite(sessions) and sessions >= 0):
        raise StaffingError(say("sessions are a number, 0 or more, not {value}", value=sessions))
    check_handling_time(aht_s)


def check_handling_time(aht_s: float) -> None:
    """The average handling time is a number of seconds above 0."""
    if not (math.isfinite(aht_s) and aht_s > 0):
        raise StaffingError(
            say("the handling time is more than 0 seconds, not {value}", value=aht_s)
        )


def _load(sessions: float, aht_s: float, options: Options) -> float:
    _check_inputs(sessions, aht_s)
    return sessions * aht_s / options.interval_s


def _figures(
    on_chat: int, load: float, aht_s: float, target: Target, options: Options
) -> tuple[float | None, float | None, float | None, float | None]:
    """(service level, ASA, occupancy, abandon) of ``on_chat`` agents at the chats."""
    servers = on_chat * options.concurrency
    if load == 0:
        return 1.0, 0.0, 0.0, (0.0 if options.patience_s is not None else None)
    if options.patience_s is not None:
        found = erlang_a(servers, load, aht_s, options.patience_s, target.within_s)
        return found.service_level, found.asa_s, found.occupancy, found.abandon
    level = service_level(servers, load, aht_s, target.within_s)
    asa = average_speed_of_answer(servers, load, aht_s)
    if level is UNREACHABLE or asa is UNREACHABLE:
        return None, None, None, None
    return level, asa, load / servers, None


def _unreachable(sessions: float, load: float) -> IntervalPlan:
    return IntervalPlan(sessions, load, None, None, None, None, None)


def plan_interval(sessions: float, aht_s: float, target: Target, options: Options) -> IntervalPlan:
    """The agents to roster for one interval, and the figures they give."""
    load = _load(sessions, aht_s, options)
    if load == 0:
        level, asa, busy, abandon = _figures(0, 0.0, aht_s, target, options)
        return IntervalPlan(sessions, 0.0, 0, level, asa, busy, abandon)
    if options.patience_s is None:
        servers = servers_needed(load, aht_s, target.level, target.within_s)
    else:
        found = servers_needed_with_patience(
            load, aht_s, options.patience_s, target.level, target.within_s
        )
        servers = UNREACHABLE if found is UNREACHABLE else found[0]
    if servers is UNREACHABLE:
        return _unreachable(sessions, load)
    concurrency = options.concurrency
    on_chat = math.ceil(servers / concurrency)
    if options.max_occupancy is not None:
        capped = max(on_chat, math.ceil(load / (concurrency * options.max_occupancy) - _ROUNDING))
        while load / (capped * concurrency) > options.max_occupancy:
            capped += 1
        on_chat = capped
    if on_chat * concurrency > MAX_SERVERS:
        return _unreachable(sessions, load)
    level, asa, busy, abandon = _figures(on_chat, load, aht_s, target, options)
    rostered = math.ceil(on_chat / (1.0 - options.shrinkage) - _ROUNDING)
    return IntervalPlan(sessions, load, rostered, level, asa, busy, abandon)


def served_by(
    agents: int, sessions: float, aht_s: float, target: Target, options: Options
) -> IntervalPlan:
    """The figures that ``agents`` on the roster give for one interval: after
    shrinkage ⌊agents × (1 - shrinkage)⌋ are at the chats, each holding
    ``concurrency`` of them. Without a patience (Erlang C) the figures are None when
    the load reaches them; with one, sessions give up instead and there are figures."""
    if agents < 0:
        raise StaffingError(say("agents are 0 or more, not {value}", value=agents))
    load = _load(sessions, aht_s, options)
    on_chat = math.floor(agents * (1.0 - options.shrinkage) + _ROUNDING)
    level, asa, busy, abandon = _figures(on_chat, load, aht_s, target, options)
    return IntervalPlan(sessions, load, agents, level, asa, busy, abandon)
