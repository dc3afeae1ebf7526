"""An interval's plan: servers from Erlang C or A, then concurrency, the occupancy cap
and shrinkage, and what a roster of a given size gives."""

from __future__ import annotations

import math

import pytest

from xiaoer.peakday.erlang import erlang_a, servers_needed, service_level
from xiaoer.peakday.staffing import (
    IntervalPlan,
    Options,
    StaffingError,
    Target,
    plan_interval,
    served_by,
)

pytestmark = pytest.mark.database_free

EIGHTY_IN_TWENTY = Target(0.8, 20)
# 50 sessions in a quarter-hour of 180 s each: A = 10 erlangs.
SESSIONS, AHT = 50, 180


@pytest.mark.parametrize(
    ("text", "level", "within"),
    [("0.8/30", 0.8, 30), ("80%/20", 0.8, 20), (" 0.95 / 15s ", 0.95, 15), ("1/0", 1.0, 0)],
)
def test_a_target_is_read_from_its_short_form(text: str, level: float, within: float) -> None:
    assert Target.parse(text) == Target(level, within)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("80/20", "share above 0 and at most 1"),
        ("0/20", "share above 0 and at most 1"),
        ("0.8", "such as 0.8/30"),
        ("0.8/-3", "such as 0.8/30"),
        ("fast", "such as 0.8/30"),
        ("0.8.1/30", "such as 0.8/30"),
    ],
)
def test_a_bad_target_says_what_a_target_looks_like(text: str, says: str) -> None:
    with pytest.raises(StaffingError, match=says):
        Target.parse(text)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"concurrency": 0}, "concurrency is a whole number"),
        ({"shrinkage": 1.0}, "shrinkage is a share"),
        ({"shrinkage": -0.1}, "shrinkage is a share"),
        ({"max_occupancy": 0.0}, "occupancy cap"),
        ({"max_occupancy": 1.2}, "occupancy cap"),
        ({"patience_s": 0.0}, "mean patience"),
        ({"patience_s": 86_400.0}, "mean patience"),
        ({"interval_s": 0}, "an interval"),
    ],
)
def test_bad_options_are_refused_with_their_name(options: dict[str, float], says: str) -> None:
    with pytest.raises(StaffingError, match=says):
        Options(**options)  # type: ignore[arg-type]


def test_plain_plan_is_erlang_cs_smallest_number_above_the_load() -> None:
    plan = plan_interval(SESSIONS, AHT, EIGHTY_IN_TWENTY, Options())
    # The worked example of Erlang C: 14 agents give 88.84 %, 7.8 s, 71.4 % busy.
    assert (plan.load, plan.agents) == (10.0, 14)
    assert plan.service_level == pytest.approx(0.8884, abs=5e-5)
    assert plan.asa_s == pytest.approx(7.84, abs=5e-3)
    assert plan.occupancy == pytest.approx(10 / 14)
    assert plan.abandon is None and not plan.unreachable


@pytest.mark.parametrize("sessions", [1, 7, 33.5, 120, 640, 2500])
def test_the_plan_agrees_with_erlang_c_at_every_size(sessions: float) -> None:
    target = Target(0.9, 15)
    plan = plan_interval(sessions, 240, target, Options())
    load = sessions * 240 / 900
    assert plan.agents == servers_needed(load, 240, 0.9, 15)
    assert plan.agents is not None and plan.agents > load
    assert service_level(plan.agents, load, 240, 15) == plan.service_level


def test_no_sessions_need_no_agents() -> None:
    plan = plan_interval(0, AHT, EIGHTY_IN_TWENTY, Options(shrinkage=0.3, concurrency=3))
    assert plan == IntervalPlan(0, 0.0, 0, 1.0, 0.0, 0.0, None)


def test_an_agent_holding_three_chats_counts_as_three_servers() -> None:
    plan = plan_interval(SESSIONS, AHT, EIGHTY_IN_TWENTY, Options(concurrency=3))
    # 14 servers of the measured chat time, three to an agent: ⌈14 / 3⌉ = 5 agents,
    # whose 15 places give the figures.
    assert plan.agents == 5
    assert plan.service_level == service_level(15, 10.0, AHT, 20)
    assert plan.occupancy == pytest.approx(10 / 15)


def test_shrinkage_adds_the_agents_away_from_the_chats() -> None:
    plan = plan_interval(SESSIONS, AHT, EIGHTY_IN_TWENTY, Options(shrinkage=0.3))
    assert plan.agents == math.ceil(14 / 0.7) == 20
    # The figures are those of the 14 at the chats.
    assert plan.service_level == service_level(14, 10.0, AHT, 20)
    # 12 / (1 - 0.25) is 16 exactly, although the float quotient may not be.
    exact = plan_interval(SESSIONS, AHT, Target(0.6, 20), Options(shrinkage=0.25))
    assert exact.agents == 16


def test_the_occupancy_cap_adds_agents_until_the_share_is_below_it() -> None:
    plan = plan_interval(SESSIONS, AHT, EIGHTY_IN_TWENTY, Options(max_occupancy=0.7))
    assert plan.agents == 15  # 10 / 14 = 71 % is above the cap; 10 / 15 = 67 % is not
    assert plan.occupancy is not None and plan.occupancy <= 0.7
    loose = plan_interval(SESSIONS, AHT, EIGHTY_IN_TWENTY, Options(max_occupancy=0.8))
    assert loose.agents == 14


def test_steps_apply_in_order_concurrency_cap_then_shrinkage() -> None:
    options = Options(concurrency=2, max_occupancy=0.6, shrinkage=0.2)
    plan = plan_interval(SESSIONS, AHT, EIGHTY_IN_TWENTY, options)
    # 14 servers -> 7 agents of 2 chats; 10 / (2 × 0.6) = 8.3 -> 9 agents; / 0.8 -> 12.
    assert plan.agents == 12
    assert plan.occupancy == pytest.approx(10 / 18)


@pytest.mark.parametrize(
    ("target", "sessions"),
    [(Target(1.0, 20), SESSIONS), (Target(1.0, 0), SESSIONS), (EIGHTY_IN_TWENTY, 10_000_000)],
)
def test_a_target_no_roster_meets_is_unreachable(target: Target, sessions: float) -> None:
    plan = plan_interval(sessions, AHT, target, Options())
    assert plan.unreachable
    assert (plan.agents, plan.service_level, plan.asa_s, plan.occupancy) == (
        None,
        None,
        None,
        None,
    )


def test_with_patience_the_plan_is_erlang_as_fewest() -> None:
    options = Options(patience_s=120)
    plan = plan_interval(SESSIONS, AHT, EIGHTY_IN_TWENTY, options)
    assert plan.agents == 12
    assert plan.service_level == erlang_a(12, 10.0, AHT, 120, 20).service_level
    assert plan.service_level is not None and plan.service_level >= 0.8
    assert erlang_a(11, 10.0, AHT, 120, 20).service_level < 0.8
    assert plan.abandon == pytest.approx(0.0616, abs=5e-5)


def test_a_roster_gives_its_figures_and_unreachable_where_the_load_reaches_it() -> None:
    twelve = served_by(12, SESSIONS, AHT, EIGHTY_IN_TWENTY, Options())
    assert twelve.agents == 12 and twelve.service_level == pytest.approx(0.6402, abs=5e-5)
    ten = served_by(10, SESSIONS, AHT, EIGHTY_IN_TWENTY, Options())
    assert ten.unreachable and ten.agents == 10
    assert (ten.service_level, ten.asa_s, ten.occupancy) == (None, None, None)
    # With 30 % away, 20 on the roster are 14 at the chats.
    shrunk = served_by(20, SESSIONS, AHT, EIGHTY_IN_TWENTY, Options(shrinkage=0.3))
    assert shrunk.service_level == service_level(14, 10.0, AHT, 20)
    # Buyers who give up keep an understaffed queue finite: figures, not unreachable.
    patient = served_by(8, SESSIONS, AHT, EIGHTY_IN_TWENTY, Options(patience_s=120))
    assert not patient.unreachable and patient.abandon is not None and patient.abandon > 0.2


def test_a_plan_meets_its_target_on_the_roster_it_asks_for() -> None:
    options = Options(concurrency=2, shrinkage=0.25, max_occupancy=0.85)
    for sessions in (3, 40, 175, 900):
        plan = plan_interval(sessions, 300, EIGHTY_IN_TWENTY, options)
        assert plan.agents is not None
        roster = served_by(plan.agents, sessions, 300, EIGHTY_IN_TWENTY, options)
        assert roster.service_level is not None and roster.service_level >= 0.8


@pytest.mark.parametrize(
    ("sessions", "aht", "says"),
    [(-1, AHT, "sessions are a number"), (math.nan, AHT, "sessions"), (5, 0, "handling time")],
)
def test_bad_inputs_are_refused(sessions: float, aht: float, says: str) -> None:
    with pytest.raises(StaffingError, match=says):
        plan_interval(sessions, aht, EIGHTY_IN_TWENTY, Options())
    with pytest.raises(StaffingError, match="agents are 0 or more"):
        served_by(-1, 5, AHT, EIGHTY_IN_TWENTY, Options())
