"""The Erlang formulas against published tables, an independent exact computation,
and the properties every queue has."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xiaoer.peakday.erlang import (
    MAX_SERVERS,
    UNREACHABLE,
    Unreachable,
    average_speed_of_answer,
    erlang_a,
    erlang_b,
    erlang_c,
    occupancy,
    servers_needed,
    servers_needed_with_patience,
    service_level,
)

pytestmark = pytest.mark.database_free


def _exact_b(servers: int, load: Fraction) -> Fraction:
    """Erlang B by its textbook definition, in exact fractions: (A^N/N!) / Σ A^k/k!."""
    terms = [load**k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


def _exact_c(servers: int, load: Fraction) -> Fraction:
    """Erlang C by its textbook definition, in exact fractions."""
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    below = sum(load**k / math.factorial(k) for k in range(servers))
    return top / (below + top)


def _float(value: float | Unreachable) -> float:
    assert isinstance(value, float), value
    return value


# Erlang B tables (the traffic in erlangs that N lines carry at a grade of service,
# as printed in every teletraffic handbook's Erlang B table, to two decimals).
ERLANG_B_TABLE = [
    (5, 0.01, 1.36),
    (10, 0.01, 4.46),
    (10, 0.02, 5.08),
    (20, 0.01, 12.03),
    (50, 0.01, 37.90),
    (100, 0.01, 84.06),
]


@pytest.mark.parametrize(("lines", "grade", "erlangs"), ERLANG_B_TABLE)
def test_erlang_b_matches_the_published_table(lines: int, grade: float, erlangs: float) -> None:
    # The table's figure is the largest traffic, to 0.01 Erl, still within the grade.
    assert erlang_b(lines, erlangs) <= grade < erlang_b(lines, erlangs + 0.01)


@pytest.mark.parametrize(("servers", "load"), [(1, "0.5"), (3, "2"), (10, "10"), (25, "17.5")])
def test_erlang_b_equals_the_exact_textbook_formula(servers: int, load: str) -> None:
    exact = _exact_b(servers, Fraction(load))
    assert erlang_b(servers, float(load)) == pytest.approx(float(exact), rel=1e-12)


def test_erlang_c_matches_the_worked_example() -> None:
    # The classic worked example ("Erlang C formula made simple", callcentrehelper.com):
    # 100 calls in 30 minutes of 180 s each (A = 10 Erl), 80 % answered within 20 s.
    published = {11: 0.6821, 12: 0.4494, 13: 0.2853, 14: 0.1741}
    for servers, waits in published.items():
        assert _float(erlang_c(servers, 10.0)) == pytest.approx(waits, abs=5e-5)
    assert _float(service_level(12, 10.0, 180, 20)) == pytest.approx(0.6402, abs=5e-5)
    assert _float(service_level(13, 10.0, 180, 20)) == pytest.approx(0.7956, abs=5e-5)
    assert _float(service_level(14, 10.0, 180, 20)) == pytest.approx(0.8884, abs=5e-5)
    assert _float(average_speed_of_answer(14, 10.0, 180)) == pytest.approx(7.8, abs=0.05)
    assert _float(occupancy(14, 10.0)) == pytest.approx(0.7143, abs=5e-5)
    assert servers_needed(10.0, 180, 0.8, 20) == 14


@pytest.mark.parametrize(("servers", "load"), [(2, "1"), (12, "10"), (30, "27.5"), (60, "41")])
def test_erlang_c_equals_the_exact_textbook_formula(servers: int, load: str) -> None:
    exact = _exact_c(servers, Fraction(load))
    assert _float(erlang_c(servers, float(load))) == pytest.approx(float(exact), rel=1e-12)


def test_thousands_of_servers_are_computed_without_overflow() -> None:
    # A^N/N! for N = 5000 overflows a float many times over; the recursion does not.
    waits = _float(erlang_c(5000, 4950.0))
    assert 0.0 < waits < 1.0
    assert 0.0 < erlang_b(20_000, 19_000.0) < erlang_b(20_000, 19_500.0) < 1.0
    needed = servers_needed(4000.0, 300, 0.8, 30)
    assert isinstance(needed, int) and 4000 < needed < 4100
    assert _float(service_level(needed, 4000.0, 300, 30)) >= 0.8
    assert _float(service_level(needed - 1, 4000.0, 300, 30)) < 0.8


@pytest.mark.parametrize("load", [10.0, 12.5, 1000.0])
def test_a_load_that_reaches_the_servers_is_unreachable_not_a_number(load: float) -> None:
    for figure in (
        erlang_c(10, load) if load < 1000 else erlang_c(1000, load),
        service_level(10, load, 180, 20),
        average_speed_of_answer(10, load, 180),
        occupancy(10, load),
    ):
        assert figure is UNREACHABLE
        assert not isinstance(figure, float)
        assert str(figure) == "unreachable"


def test_a_target_no_number_of_servers_meets_is_unreachable() -> None:
    assert servers_needed(3.0, 180, 1.0, 20) is UNREACHABLE
    assert servers_needed(3.0, 180, 1.0, 0) is UNREACHABLE
    assert servers_needed(MAX_SERVERS + 1.0, 60, 0.8, 20) is UNREACHABLE
    assert servers_needed_with_patience(3.0, 180, 60, 1.0, 20) is UNREACHABLE


def test_no_load_needs_no_servers_and_nobody_waits() -> None:
    assert servers_needed(0.0, 180, 0.8, 20) == 0
    assert erlang_c(0, 0.0) == 0.0
    assert service_level(3, 0.0, 180, 20) == 1.0
    assert average_speed_of_answer(3, 0.0, 180) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    load=st.floats(min_value=0.1, max_value=400.0),
    extra=st.integers(min_value=1, max_value=60),
    within=st.floats(min_value=0.0, max_value=120.0),
)
def test_more_servers_never_serve_worse(load: float, extra: int, within: float) -> None:
    servers = math.floor(load) + extra
    waits, more = _float(erlang_c(servers, load)), _float(erlang_c(servers + 1, load))
    assert 0.0 <= more <= waits <= 1.0
    assert waits >= erlang_b(servers, load)
    level = _float(service_level(servers, load, 180, within))
    assert level <= _float(service_level(servers + 1, load, 180, within))
    assert level <= _float(service_level(servers, load, 180, within + 10))
    assert _float(average_speed_of_answer(servers + 1, load, 180)) <= _float(
        average_speed_of_answer(servers, load, 180)
    )


@settings(max_examples=60, deadline=None)
@given(
    load=st.floats(min_value=0.01, max_value=300.0),
    level=st.floats(min_value=0.05, max_value=0.99),
    within=st.floats(min_value=0.0, max_value=90.0),
)
def test_the_servers_needed_are_the_smallest_above_the_load(
    load: float, level: float, within: float
) -> None:
    needed = servers_needed(load, 120, level, within)
    assert isinstance(needed, int) and needed > load
    assert _float(service_level(needed, load, 120, within)) >= level
    if needed - 1 > load:
        assert _float(service_level(needed - 1, load, 120, within)) < level


def _birth_death(
    servers: int, load: float, aht_s: float, patience_s: float, states: int
) -> list[float]:
    """M/M/N+M's stationary distribution by brute force over ``states`` states."""
    rate, serve, leave = load / aht_s, 1 / aht_s, 1 / patience_s
    weights = [1.0]
    for k in range(1, states):
        down = min(k, servers) * serve + max(k - servers, 0) * leave
        weights.append(weights[-1] * rate / down)
    total = sum(weights)
    return [w / total for w in weights]


@pytest.mark.parametrize(
    ("servers", "load", "patience"),
    [(12, 10.0, 120.0), (8, 10.0, 120.0), (3, 3.5, 30.0), (40, 45.0, 300.0)],
)
def test_erlang_a_agrees_with_the_birth_death_chain(
    servers: int, load: float, patience: float
) -> None:
    # Palm's model: the chain steps up at λ and down at min(k, N)·μ + max(k - N, 0)·θ.
    chain = _birth_death(servers, load, 180, patience, 3000)
    waits = sum(chain[servers:])
    queue = sum((k - servers) * p for k, p in enumerate(chain) if k > servers)
    found = erlang_a(servers, load, 180, patience, 20)
    assert found.waits == pytest.approx(waits, rel=1e-9)
    assert found.mean_queue == pytest.approx(queue, rel=1e-9)
    # The sessions that give up are θ·E[Q] per second out of λ (flow balance), which
    # checks the closed form of the chance to be served against the chain.
    assert found.abandon == pytest.approx((queue / patience) / (load / 180), rel=1e-9)
    assert found.occupancy == pytest.approx(load * (1 - found.abandon) / servers, rel=1e-12)


def _served_within_by_integration(
    servers: int, load: float, aht_s: float, patience_s: float, within_s: float
) -> float:
    """The tagged session's chance to reach a server within t, by stepping its
    Kolmogorov equations forward in small Runge–Kutta steps (another method than the
    uniformisation the module uses)."""
    chain = _birth_death(servers, load, aht_s, patience_s, 400)
    place = chain[servers:]
    serve, leave = servers / aht_s, 1 / patience_s
    reached = sum(chain[:servers])

    def slope(p: list[float]) -> tuple[list[float], float]:
        out = [-(serve + (i + 1) * leave) * x for i, x in enumerate(p)]
        for i in range(1, len(p)):
            out[i - 1] += (serve + i * leave) * p[i]
        return out, serve * p[0]

    steps = 2000
    h = within_s / steps
    for _ in range(steps):
        k1, r1 = slope(place)
        k2, r2 = slope([x + h / 2 * k for x, k in zip(place, k1, strict=True)])
        k3, r3 = slope([x + h / 2 * k for x, k in zip(place, k2, strict=True)])
        k4, r4 = slope([x + h * k for x, k in zip(place, k3, strict=True)])
        place = [
            x + h / 6 * (a + 2 * b + 2 * c + d)
            for x, a, b, c, d in zip(place, k1, k2, k3, k4, strict=True)
        ]
        reached += h / 6 * (r1 + 2 * r2 + 2 * r3 + r4)
    return reached


@pytest.mark.parametrize(("servers", "load", "patience"), [(3, 3.5, 30.0), (5, 4.0, 90.0)])
def test_erlang_a_service_level_agrees_with_integrating_the_queue(
    servers: int, load: float, patience: float
) -> None:
    found = erlang_a(servers, load, 60, patience, 20)
    expected = _served_within_by_integration(servers, load, 60, patience, 20)
    assert found.service_level == pytest.approx(expected, abs=1e-7)


def test_erlang_a_with_endless_patience_is_erlang_c() -> None:
    found = erlang_a(12, 10.0, 180, 1e12, 20)
    assert found.waits == pytest.approx(_float(erlang_c(12, 10.0)), rel=1e-6)
    assert found.service_level == pytest.approx(_float(service_level(12, 10.0, 180, 20)), rel=1e-6)
    assert found.asa_s == pytest.approx(_float(average_speed_of_answer(12, 10.0, 180)), rel=1e-5)
    assert found.abandon == pytest.approx(0.0, abs=1e-6)


def test_erlang_a_stays_finite_where_erlang_c_is_unreachable() -> None:
    assert erlang_c(8, 10.0) is UNREACHABLE
    found = erlang_a(8, 10.0, 180, 120, 20)
    assert 0 < found.abandon < 1 and 0 < found.service_level < 1
    assert found.occupancy is not None and found.occupancy <= 1.0
    nobody = erlang_a(0, 10.0, 180, 120, 20)
    assert (nobody.abandon, nobody.service_level, nobody.asa_s) == (1.0, 0.0, None)


def test_erlang_a_staffing_is_the_fewest_that_reach_the_level() -> None:
    found = servers_needed_with_patience(10.0, 180, 120, 0.8, 20)
    assert not isinstance(found, Unreachable)
    servers, figures = found
    assert figures.service_level >= 0.8
    assert erlang_a(servers - 1, 10.0, 180, 120, 20).service_level < 0.8
    # Sessions that give up leave the queue shorter: no more agents than Erlang C.
    assert servers <= servers_needed(10.0, 180, 0.8, 20)


@settings(max_examples=30, deadline=None)
@given(
    load=st.floats(min_value=0.5, max_value=60.0),
    servers=st.integers(min_value=1, max_value=80),
    patience=st.floats(min_value=5.0, max_value=900.0),
)
def test_erlang_a_serves_better_with_more_servers(
    load: float, servers: int, patience: float
) -> None:
    fewer = erlang_a(servers, load, 120, patience, 30)
    more = erlang_a(servers + 1, load, 120, patience, 30)
    assert more.waits <= fewer.waits + 1e-12
    assert more.abandon <= fewer.abandon + 1e-12
    assert more.service_level >= fewer.service_level - 1e-12
    assert 0.0 <= fewer.service_level <= 1.0 and 0.0 <= fewer.abandon <= 1.0


@settings(max_examples=12, deadline=None)
@given(
    load=st.floats(min_value=0.2, max_value=80.0),
    patience=st.floats(min_value=10.0, max_value=900.0),
    level=st.floats(min_value=0.3, max_value=0.97),
)
def test_erlang_a_staffing_is_always_the_fewest(load: float, patience: float, level: float) -> None:
    found = servers_needed_with_patience(load, 150, patience, level, 20)
    assert not isinstance(found, Unreachable)
    servers, figures = found
    assert figures.service_level >= level
    assert servers == 0 or erlang_a(servers - 1, load, 150, patience, 20).service_level < level
