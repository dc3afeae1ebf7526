"""What a rehearsal's figures say: the first interval that fell behind, lost lines, and
lines that only waited in the queue for too few agents."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from xiaoer.peakday.rehearsal import Run, Sent
from xiaoer.peakday.rehearsal_figures import figures, report_lines
from xiaoer.peakday.rehearsal_plan import Arrival, Interval
from xiaoer.peakday.rehearsal_scratch import Target

pytestmark = pytest.mark.database_free
MIDNIGHT = datetime(2026, 11, 11, tzinfo=ZoneInfo("Asia/Shanghai"))


def _run(latencies: list[list[float | None]]) -> Run:
    """A run at speed 900 (an interval a second), each interval's lines delivered after
    the latencies given (None: never); every buyer writes one line."""
    hour = [Interval(MIDNIGHT + n * timedelta(minutes=15), len(x)) for n, x in enumerate(latencies)]
    run = Run(
        target=Target("http", "127.0.0.1", 8000, True), code="rehearsal-x", speed=900,
        hour=hour, arrivals=[], usernames=["a"], password="", target_ms=500,
        deadline=0.0, say_progress=print,
    )  # fmt: skip
    buyer = 0
    for index, interval in enumerate(latencies):
        for k, latency in enumerate(interval):
            at = index + k / len(interval)
            run.arrivals.append(Arrival(buyer, index, at, 1, ()))
            sent = Sent(buyer, 0, at, "", last=True, acked_at=at + 0.01)
            sent.delivered_at = 0.0 if latency is None else at + latency
            run.sent[(buyer, 0)] = sent
            run.conversation_of[buyer] = 100 + buyer
            run.assigned.add(100 + buyer)
            buyer += 1
    run.buyers_connected = buyer
    return run


def test_a_system_on_time_held() -> None:
    result = figures(_run([[0.02] * 10, [0.05] * 10, [0.03] * 10, [0.01] * 10]))
    assert result["held"] is True
    assert (result["messages_sent"], result["delivered"], result["lost"]) == (40, 40, 0)
    assert result["fell_behind_at"] is None
    assert result["p99_ms"] == 50.0
    assert report_lines(result)[-1] == "  the system HELD"


def test_the_first_interval_over_the_target_is_named() -> None:
    result = figures(_run([[0.02] * 10, [0.05] * 9 + [0.9], [0.03] * 10, [0.01] * 10]))
    assert [i["behind"] for i in result["intervals"]] == [False, True, False, False]
    assert result["fell_behind_at"] == "2026-11-11T00:15:00+08:00"
    assert result["held"] is False
    assert "it first fell behind in the interval from 2026-11-11T00:15" in report_lines(result)[-1]


def test_a_line_acknowledged_and_never_delivered_is_lost() -> None:
    result = figures(_run([[0.02] * 10, [0.02] * 10, [0.02] * 9 + [None], [0.02] * 10]))
    assert (result["lost"], result["waiting_at_end"], result["held"]) == (1, 0, False)
    assert result["p99_ms"] is None  # the slowest percent holds a line never delivered
    assert result["intervals"][2]["backlog"] == 1


def test_a_line_whose_conversation_never_left_the_queue_is_waiting_not_lost() -> None:
    run = _run([[0.02] * 10, [0.02] * 10, [0.02] * 9 + [None], [0.02] * 10])
    run.assigned.discard(run.conversation_of[29])
    result = figures(run)
    assert (result["lost"], result["waiting_at_end"], result["held"]) == (0, 1, False)
