"""The rehearsal's plan: the forecast read, its peak hour found, the hour compressed by
the speed; only this machine's server is ever loaded."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from xiaoer.cli import app
from xiaoer.peakday.rehearsal_cli import check_bounds
from xiaoer.peakday.rehearsal_plan import Interval, peak_hour, plan_arrivals, read_forecast
from xiaoer.peakday.rehearsal_scratch import RehearsalError, check_local_url

pytestmark = pytest.mark.database_free
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _hour(*sessions: int) -> list[Interval]:
    first = datetime(2026, 11, 11, 0, 0, tzinfo=SHANGHAI)
    return [Interval(first + n * timedelta(minutes=15), s) for n, s in enumerate(sessions)]


def test_the_peak_hour_is_the_four_consecutive_intervals_with_most_sessions() -> None:
    intervals = _hour(5, 40, 90, 80, 70, 60, 50, 10)
    hour = peak_hour(intervals)
    assert [i.sessions for i in hour] == [90, 80, 70, 60]  # 300; before it 280
    assert hour[0].start == datetime(2026, 11, 11, 0, 30, tzinfo=SHANGHAI)


def test_an_interval_missing_from_the_forecast_counts_as_none() -> None:
    intervals = [i for i in _hour(10, 10, 10, 10, 50, 50) if i.sessions != 10 or i.start.minute]
    hour = peak_hour(intervals)
    assert [i.sessions for i in hour] == [10, 10, 50, 50]
    assert peak_hour(_hour(7))[0].sessions == 7  # a forecast shorter than an hour


def test_at_speed_10_each_interval_lasts_90_seconds_with_the_same_sessions() -> None:
    arrivals = plan_arrivals(_hour(30, 60, 90, 20), speed=10, max_buyers=5000)
    per_interval = [sum(1 for a in arrivals if a.interval == n) for n in range(4)]
    assert per_interval == [30, 60, 90, 20]
    for a in arrivals:
        assert 90 * a.interval <= a.at < 90 * (a.interval + 1)
        assert 2 <= a.messages <= 4 and len(a.pauses) == a.messages - 1
        assert all(1.5 <= p <= 4.5 for p in a.pauses)  # 15–45 s on the day
    assert sorted(a.buyer for a in arrivals) == list(range(200))


def test_above_the_cap_each_interval_keeps_its_share() -> None:
    arrivals = plan_arrivals(_hour(1000, 3000, 4000, 2000), speed=10, max_buyers=100)
    assert [sum(1 for a in arrivals if a.interval == n) for n in range(4)] == [10, 30, 40, 20]


def test_the_forecast_reader_names_every_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("start,sessions\n2026-11-11T00:00,12\n2026-11-11 00:15,30.4\n")
    read = read_forecast(good, SHANGHAI)
    assert [(i.start.isoformat(), i.sessions) for i in read] == [
        ("2026-11-11T00:00:00+08:00", 12),
        ("2026-11-11T00:15:00+08:00", 30),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("start,sessions\n2026-11-11T00:00,3\n2026-11-11T00:15,-2\n")
    with pytest.raises(RehearsalError) as refused:
        read_forecast(bad, SHANGHAI)
    assert "line 3: sessions cannot be negative (-2)" in str(refused.value)
    columns = tmp_path / "columns.csv"
    columns.write_text("when,count\n2026-11-11T00:00,1\n")
    with pytest.raises(RehearsalError, match="no column 'start'"):
        read_forecast(columns, SHANGHAI)
    twice = tmp_path / "twice.csv"
    twice.write_text("start,sessions\n2026-11-11T00:00,1\n2026-11-11T00:00,2\n")
    with pytest.raises(RehearsalError, match="line 3 repeats line 2"):
        read_forecast(twice, SHANGHAI)


def test_times_of_day_run_on_past_midnight_and_teams_play_together(tmp_path: Path) -> None:
    times = tmp_path / "times.csv"
    times.write_text("start,sessions,team\n23:45,10,presale\n23:45,4,aftersale\n00:00,30,\n")
    read = read_forecast(times, SHANGHAI, today=date(2026, 11, 10))
    assert [(i.start.isoformat(), i.sessions) for i in read] == [
        ("2026-11-10T23:45:00+08:00", 14),
        ("2026-11-11T00:00:00+08:00", 30),
    ]


@pytest.mark.parametrize(
    "url", ["http://192.0.2.10:8000", "http://8.8.8.8/", "ftp://127.0.0.1/", "127.0.0.1:8000"]
)
def test_a_url_off_this_machine_is_refused(url: str) -> None:
    with pytest.raises(RehearsalError):
        check_local_url(url)


def test_loopback_is_the_shops_own_server() -> None:
    target = check_local_url("http://127.0.0.1:8123")
    assert (target.host, target.port, target.loopback) == ("127.0.0.1", 8123, True)
    assert check_local_url("http://localhost:8123").port == 8123


def test_the_command_refuses_a_server_elsewhere_before_touching_anything(tmp_path: Path) -> None:
    forecast = tmp_path / "f.csv"
    forecast.write_text("start,sessions\n2026-11-11T00:00,1\n")
    result = CliRunner().invoke(
        app, ["rehearse", "--forecast", str(forecast), "--url", "http://192.0.2.10:8000"]
    )
    assert result.exit_code == 1
    assert "is not this machine (192.0.2.10)" in result.output
    assert "only loads the shop's own server" in result.output


def test_a_rehearsal_is_bounded_in_time() -> None:
    check_bounds(speed=10, max_buyers=5000, max_seconds=900)
    with pytest.raises(RehearsalError, match="at speed 2 the peak hour takes 1800 s"):
        check_bounds(speed=2, max_buyers=5000, max_seconds=900)
    with pytest.raises(RehearsalError, match="max buyers"):
        check_bounds(speed=10, max_buyers=50_000, max_seconds=900)


def test_a_real_shop_cannot_take_a_rehearsals_code() -> None:
    from xiaoer.shops.service import ShopError, check_new_shop

    with pytest.raises(ShopError, match="kept for rehearsals"):
        check_new_shop("rehearsal-tea", "茶香小铺", "taobao", "Asia/Shanghai")
    check_new_shop("rehearsal-tea", "压力预演", "taobao", "Asia/Shanghai", scratch=True)
