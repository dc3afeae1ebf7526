"""What a rehearsal showed: delivery latency, refusals, lost messages, and the first
interval of the peak hour where the system fell behind; and whether it held."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from xiaoer.peakday.rehearsal import Run, Sent
from xiaoer.peakday.rehearsal_plan import HOUR


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile; ``nan`` of nothing, ``inf`` when it falls on a
    message never delivered."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) or math.isinf(seconds) else round(seconds * 1000, 1)


def _latency(sent: Sent) -> float:
    return sent.delivered_at - sent.sent_at if sent.delivered_at else math.inf


def figures(run: Run) -> dict[str, Any]:
    """The report's figures; ``held``: every buyer got in, nothing refused or lost, the
    delivery p99 within the target and no interval behind."""
    slot = run.slot
    target_s = run.target_ms / 1000
    messages = list(run.sent.values())
    accepted = [s for s in messages if s.acked_at or (s.delivered_at and not s.refused)]
    undelivered = [s for s in messages if s.acked_at and not s.delivered_at]
    # Still waiting for an agent at the end (too few agents), or lost by the system.
    waiting = [s for s in undelivered if run.conversation_of.get(s.buyer) not in run.assigned]
    lost = [s for s in undelivered if run.conversation_of.get(s.buyer) in run.assigned]
    never_answered = [s for s in messages if not s.acked_at and not s.refused]
    latencies = [_latency(s) for s in accepted]
    intervals = []
    fell_behind_at: str | None = None
    previous_backlog = 0
    for index, interval in enumerate(run.hour):
        start, end = index * slot, (index + 1) * slot
        last = index == HOUR - 1
        inside = [s for s in accepted if start <= s.sent_at < end or (last and s.sent_at >= end)]
        p99 = percentile([_latency(s) for s in inside], 99)
        backlog = sum(
            1
            for s in accepted
            if s.sent_at < end and (not s.delivered_at or s.delivered_at > end)
        )
        in_flight = max(1.0, len(inside) / slot * target_s)  # on target, this many travel
        behind = (not math.isnan(p99) and p99 > target_s) or (
            backlog > in_flight and backlog > previous_backlog
        )
        if behind and fell_behind_at is None:
            fell_behind_at = interval.start.isoformat()
        intervals.append(
            {
                "start": interval.start.isoformat(),
                "sessions": interval.sessions,
                "buyers": sum(1 for a in run.arrivals if a.interval == index),
                "sent": len(inside),
                "delivered": sum(1 for s in inside if s.delivered_at),
                "p99_ms": _ms(p99),
                "backlog": backlog,
                "behind": behind,
            }
        )
        previous_backlog = backlog
    p99 = percentile(latencies, 99)
    refused = sum(1 for s in messages if s.refused)
    sent_again = sum(n for k, n in run.refusals.items() if k.endswith("sent again"))
    held = (
        bool(messages)
        and run.buyers_connected == len(run.arrivals)
        and refused == 0
        and not lost
        and not waiting
        and not never_answered
        and not math.isnan(p99)
        and p99 <= target_s
        and fell_behind_at is None
        and "stopped at the time limit" not in run.problems
    )
    answered = [s.answered_at - s.sent_at for s in messages if s.answered_at]
    return {
        "held": held,
        "speed": run.speed,
        "peak_start": run.hour[0].start.isoformat(),
        "peak_sessions": sum(i.sessions for i in run.hour),
        "buyers": len(run.arrivals),
        "buyers_connected": run.buyers_connected,
        "agents": len(run.usernames),
        "agents_connected": run.agents_connected,
        "messages_sent": len(messages),
        "delivered": sum(1 for s in messages if s.delivered_at),
        "answered": len(answered),
        "p50_ms": _ms(percentile(latencies, 50)),
        "p95_ms": _ms(percentile(latencies, 95)),
        "p99_ms": _ms(p99),
        "answer_p99_ms": _ms(percentile(answered, 99)),
        "target_ms": run.target_ms,
        "refused": refused,
        "sent_again": sent_again,
        "refusals": dict(run.refusals.most_common()),
        "lost": len(lost),
        "queued": sum(1 for s in messages if s.queued),
        "waiting_at_end": len(waiting),
        "never_acknowledged": len(never_answered),
        "fell_behind_at": fell_behind_at,
        "intervals": intervals,
        "problems": dict(run.problems.most_common(5)),
    }


def report_lines(result: dict[str, Any]) -> list[str]:
    """The figures for a person to read."""
    lines = [
        f"rehearsal of the peak hour from {result['peak_start']} "
        f"({result['peak_sessions']:,} sessions) at speed {result['speed']:g}: "
        f"{result['buyers']:,} buyers, {result['agents']} agents",
        f"  messages sent {result['messages_sent']:,}, delivered {result['delivered']:,}, "
        f"answered {result['answered']:,}",
        f"  delivery to the agent p50 {_show(result['p50_ms'])}, p95 {_show(result['p95_ms'])}, "
        f"p99 {_show(result['p99_ms'])} (target {result['target_ms']:g} ms)",
        f"  refused {result['refused']}, refused for a moment and sent again "
        f"{result['sent_again']}"
        + (f" ({_counts(result['refusals'])})" if result["refusals"] else "")
        + f", lost {result['lost']}, never acknowledged {result['never_acknowledged']}",
        f"  reached an agent only when the conversation left the queue {result['queued']:,}, "
        f"still waiting for an agent at the end {result['waiting_at_end']:,}",
        "  interval   sessions  buyers   sent  delivered     p99  backlog",
    ]
    for row in result["intervals"]:
        lines.append(
            f"  {row['start'][11:16]:<9} {row['sessions']:>9,} {row['buyers']:>7,} "
            f"{row['sent']:>6,} {row['delivered']:>10,} {_show(row['p99_ms']):>7} "
            f"{row['backlog']:>8}{'  behind' if row['behind'] else ''}"
        )
    if result["buyers"] < result["peak_sessions"]:
        lines.append(
            f"  note: {result['buyers']:,} of the hour's {result['peak_sessions']:,} sessions "
            "were played (--max-buyers): the full load was not tried"
        )
    if result["problems"]:
        lines.append(f"  seen: {_counts(result['problems'])}")
    behind = result["fell_behind_at"]
    verdict = "HELD" if result["held"] else "NOT HELD"
    lines.append(
        f"  the system {verdict}"
        + (f"; it first fell behind in the interval from {behind}" if behind else "")
    )
    return lines


def _show(ms: float | None) -> str:
    return "—" if ms is None else f"{ms:,.0f} ms"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())
