"""Queueing formulas for staffing: Erlang B, Erlang C and Erlang A (Palm's M/M/N+M).

Pure arithmetic, no database. ``load`` is the offered traffic in erlangs
(A = arrivals per second × mean handling time in seconds), ``servers`` the number of
places that each hold one session at a time, ``aht_s`` the mean handling time.

Everything is computed by recursions or in log space, never with factorials or big
powers, so a load of thousands of erlangs is as exact as one of two:

* Erlang B by the recursion ``B(0) = 1``, ``B(n) = A·B(n-1) / (n + A·B(n-1))``;
* Erlang C from B: ``C = N·B / (N - A·(1 - B))``, defined only while ``A < N``;
  when the load reaches the servers the queue grows without end and every figure is
  :data:`UNREACHABLE`, a value of its own (never a number, NaN or infinity);
* Erlang A from the birth–death chain of M/M/N+M, whose weights above N are summed
  in log space; the chance that a waiting session reaches a server within ``t`` comes
  from following one arriving session through the queue (uniformisation), and the
  chance that it is served at all in closed form.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

# Where the search for servers gives up: no shop staffs a quarter-hour beyond this.
MAX_SERVERS: Final = 100_000

# Weights of the queue smaller than this share of the total are left out.
_NEGLIGIBLE: Final = 1e-16


class Unreachable(enum.Enum):
    """The load reaches the servers (or no number of them meets the target)."""

    UNREACHABLE = "unreachable"

    def __str__(self) -> str:
        return self.value


UNREACHABLE: Final = Unreachable.UNREACHABLE


def _check(servers: int, load: float) -> None:
    if servers < 0:
        raise ValueError(f"servers must be 0 or more, not {servers}")
    if not math.isfinite(load) or load < 0:
        raise ValueError(f"the load must be a finite number of erlangs, 0 or more, not {load}")


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of N servers offered ``load`` erlangs with no queue."""
    _check(servers, load)
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = load * blocking / (n + load * blocking)
    return blocking


def _log_inverse_b(servers: int, load: float) -> float:
    """log(1 / B(N, A)) by the recursion 1/B(n) = 1 + (n / A)·1/B(n-1) in log space:
    B itself underflows to 0 when there are far more servers than load."""
    log_inverse = 0.0
    log_load = math.log(load)
    for n in range(1, servers + 1):
        log_inverse = _log_add(0.0, math.log(n) - log_load + log_inverse)
    return log_inverse


def _c_from_b(servers: int, load: float, blocking: float) -> float:
    return servers * blocking / (servers - load * (1.0 - blocking))


def erlang_c(servers: int, load: float) -> float | Unreachable:
    """The chance that a session waits at all (M/M/N); unreachable when A >= N."""
    _check(servers, load)
    if load == 0:
        return 0.0
    if load >= servers:
        return UNREACHABLE
    return _c_from_b(servers, load, erlang_b(servers, load))


def _service_level(servers: int, load: float, waits: float, aht_s: float, within_s: float) -> float:
    return 1.0 - waits * math.exp(-(servers - load) * within_s / aht_s)


def service_level(servers: int, load: float, aht_s: float, within_s: float) -> float | Unreachable:
    """P(wait <= ``within_s``) = 1 - C·exp(-(N - A)·t / AHT)."""
    _check_times(aht_s, within_s)
    waits = erlang_c(servers, load)
    if waits is UNREACHABLE:
        return UNREACHABLE
    return _service_level(servers, load, waits, aht_s, within_s)


def average_speed_of_answer(servers: int, load: float, aht_s: float) -> float | Unreachable:
    """Mean wait over all sessions: ASA = C·AHT / (N - A)."""
    _check_times(aht_s, 0.0)
    waits = erlang_c(servers, load)
    if waits is UNREACHABLE:
        return UNREACHABLE
    return waits * aht_s / (servers - load) if waits else 0.0


def occupancy(servers: int, load: float) -> float | Unreachable:
    """The share of the servers' time spent on sessions: A / N (M/M/N, so A < N)."""
    _check(servers, load)
    if load == 0:
        return 0.0
    if load >= servers:
        return UNREACHABLE
    return load / servers


def _check_times(aht_s: float, within_s: float) -> None:
    if not math.isfinite(aht_s) or aht_s <= 0:
        raise ValueError(f"the handling time must be more than 0 seconds, not {aht_s}")
    if not math.isfinite(within_s) or within_s < 0:
        raise ValueError(f"the answer time must be 0 seconds or more, not {within_s}")


def servers_needed(load: float, aht_s: float, level: float, within_s: float) -> int | Unreachable:
    """The smallest N > A whose Erlang C service level reaches ``level``; 0 for no
    load; unreachable for a level of 1 or beyond :data:`MAX_SERVERS`.

    Erlang B is carried up N by N, so the search costs one step per server.
    """
    _check(0, load)
    _check_times(aht_s, within_s)
    if load == 0:
        return 0
    if level >= 1.0 or load >= MAX_SERVERS:  # some session always waits longer than any t
        return UNREACHABLE
    blocking = 1.0
    for n in range(1, MAX_SERVERS + 1):
        blocking = load * blocking / (n + load * blocking)
        if n <= load:
            continue
        waits = _c_from_b(n, load, blocking)
        if _service_level(n, load, waits, aht_s, within_s) >= level:
            return n
    return UNREACHABLE


@dataclass(frozen=True)
class AbandonFigures:
    """Erlang A's figures for N servers.

    ``waits``: the chance that an arriving session finds every server busy;
    ``abandon``: the chance that it leaves before it is served; ``service_level``:
    the chance that it is served within the answer time (a session that leaves is
    never counted as answered); ``asa_s``: the mean wait of the sessions served
    (None when none is); ``occupancy``: the served load per server.
    """

    waits: float
    abandon: float
    service_level: float
    asa_s: float | None
    occupancy: float | None
    mean_queue: float


def _log_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def _queue_log_weights(servers: int, rate: float, serve: float, leave: float) -> list[float]:
    """log(π_{N+j} / π_N) for j = 0, 1, … while they still count; the chain steps up
    at ``rate`` and down at N·serve + j·leave."""
    weights = [0.0]
    log_weight = 0.0
    total = 0.0
    j = 0
    while True:
        j += 1
        log_weight += math.log(rate) - math.log(servers * serve + j * leave)
        total = _log_add(total, log_weight)
        weights.append(log_weight)
        falling = rate < servers * serve + j * leave
        if falling and log_weight - total < math.log(_NEGLIGIBLE):
            return weights


def erlang_a(
    servers: int, load: float, aht_s: float, patience_s: float, within_s: float
) -> AbandonFigures:
    """Palm's M/M/N+M: sessions arrive at λ = A/AHT, are served at 1/AHT each, and a
    waiting session gives up after an exponential patience of mean ``patience_s``.

    Stable for every N, even N <= A: the sessions that give up keep the queue finite.
    """
    _check(servers, load)
    _check_times(aht_s, within_s)
    if not math.isfinite(patience_s) or patience_s <= 0:
        raise ValueError(f"the patience must be more than 0 seconds, not {patience_s}")
    if load == 0:
        return AbandonFigures(0.0, 0.0, 1.0, 0.0, 0.0 if servers else None, 0.0)
    rate, serve, leave = load / aht_s, 1.0 / aht_s, 1.0 / patience_s
    if servers == 0:
        return AbandonFigures(1.0, 1.0, 0.0, None, None, rate * patience_s)
    # Up to N the weights relative to π_N sum to 1/B(N, A) (Erlang B's own chain).
    log_below = _log_inverse_b(servers, load)  # includes π_N itself
    log_queue = _queue_log_weights(servers, rate, serve, leave)
    log_total = log_below
    for log_weight in log_queue[1:]:
        log_total = _log_add(log_total, log_weight)
    # π_{N+j}: the chance an arrival finds j waiting ahead of it (PASTA).
    ahead = [math.exp(w - log_total) for w in log_queue]
    waits = min(1.0, sum(ahead))
    # Found a free server: the weights below N, (1/B - 1)·π_N, without subtracting.
    free = math.exp(log_below + math.log1p(-math.exp(-log_below)) - log_total)
    mean_queue = sum(j * p for j, p in enumerate(ahead))
    # A session with j ahead is served when j+1 steps of rates N·serve + i·leave
    # (i = j … 0) all come before its own patience runs out: each step wins with
    # chance r/(r + leave), and the mean wait of a served one adds 1/(r + leave) per step.
    served_after_wait = 0.0
    wait_of_served = 0.0
    wins, mean_steps = 1.0, 0.0
    for j, p in enumerate(ahead):
        step = servers * serve + j * leave
        wins *= step / (step + leave)
        mean_steps += 1.0 / (step + leave)
        served_after_wait += p * wins
        wait_of_served += p * wins * mean_steps
    served = min(1.0, free + served_after_wait)
    abandon = min(1.0, max(0.0, 1.0 - served))
    within = _served_within(servers, serve, leave, ahead, within_s)
    return AbandonFigures(
        waits=waits,
        abandon=abandon,
        service_level=min(1.0, free + within),
        asa_s=wait_of_served / served if served > 0 else None,
        occupancy=min(1.0, load * (1.0 - abandon) / servers),
        mean_queue=mean_queue,
    )


def _poisson_weights(mean: float) -> list[float]:
    """Poisson probabilities of 0, 1, … steps, past the mean until the rest is
    negligible (each from its logarithm: e^-mean alone underflows beyond 745)."""
    weights: list[float] = []
    seen = 0.0
    k = 0
    log_mean = math.log(mean) if mean > 0 else -math.inf
    while True:
        weight = math.exp(k * log_mean - mean - math.lgamma(k + 1)) if k or mean else 1.0
        weights.append(weight)
        seen += weight
        if k >= mean and (1.0 - seen < _NEGLIGIBLE * 100 or weight == 0.0):
            return weights
        k += 1


def _served_within(
    servers: int, serve: float, leave: float, ahead: list[float], within_s: float
) -> float:
    """The chance that an arrival waits, and still reaches a server within ``within_s``.

    The arrival's place in the queue (i sessions ahead) falls at N·serve + i·leave and
    it gives up at ``leave``; uniformised at a rate above every one of them, the
    chance of having reached a server is a Poisson mixture of the chances after k
    steps. A step passes at most one place, so a place further back than the steps
    left can no longer arrive in time and is dropped as the steps go.
    """
    if within_s == 0:
        return 0.0
    # Leave out the far end of the queue where too little weight is left to show.
    top, tail = len(ahead), 0.0
    while top > 1 and tail + ahead[top - 1] < 1e-13:
        top -= 1
        tail += ahead[top]
    uniform = servers * serve + top * leave
    weights = _poisson_weights(uniform * within_s)
    if len(weights) < top:
        top = len(weights)
        uniform = servers * serve + top * leave
        weights = _poisson_weights(uniform * within_s)
    place = ahead[:top]
    move = [(servers * serve + i * leave) / uniform for i in range(len(place) + 1)]
    stay = [1.0 - (servers * serve + (i + 1) * leave) / uniform for i in range(len(place))]
    reached, total = 0.0, 0.0
    last = len(weights) - 1
    for k in range(1, last + 1):
        reached += place[0] * move[0]
        place = [
            here * still + behind * step
            for here, still, behind, step in zip(place, stay, place[1:], move[1:], strict=False)
        ] + [place[-1] * stay[len(place) - 1]]
        # After step k, place i needs i + 1 of the (last - k) steps left.
        del place[last - k :]
        total += weights[k] * reached
        if not place:
            total += reached * math.fsum(weights[k + 1 :])
            break
    return total


def servers_needed_with_patience(
    load: float, aht_s: float, patience_s: float, level: float, within_s: float
) -> tuple[int, AbandonFigures] | Unreachable:
    """The fewest servers whose Erlang A service level reaches ``level``, with their
    figures; unreachable beyond :data:`MAX_SERVERS` or for a level of 1."""
    if load == 0:
        return 0, erlang_a(0, 0.0, aht_s, patience_s, within_s)
    if level >= 1.0:
        return UNREACHABLE

    def meets(servers: int) -> bool:
        return erlang_a(servers, load, aht_s, patience_s, within_s).service_level >= level

    # The level rises with N. Start from Erlang C's answer, which is near (sessions
    # that give up shorten the queue), gallop away from it until the answer is
    # bracketed, then halve the gap: a handful of evaluations instead of a dozen.
    guess = servers_needed(load, aht_s, level, within_s)
    start = min(MAX_SERVERS, guess if isinstance(guess, int) else math.ceil(load) + 1)
    if meets(start):
        high, step = start, 1
        low = max(0, high - step)
        while low > 0 and meets(low):
            high, step = low, step * 2
            low = max(0, high - step)
    else:
        low, step = start, 1
        high = min(MAX_SERVERS, low + step)
        while not meets(high):
            if high == MAX_SERVERS:
                return UNREACHABLE
            low, step = high, step * 2
            high = min(MAX_SERVERS, low + step)
    # Now ``high`` meets the level and ``low`` does not (or is 0, which never does).
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return high, erlang_a(high, load, aht_s, patience_s, within_s)
