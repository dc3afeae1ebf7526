"""``xiaoer staffing plan``: a forecast file in, the agents per interval out."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from xiaoer.cli import app
from xiaoer.core.sheets import write_sheet

pytestmark = pytest.mark.database_free


def _plan(tmp_path: Path, content: str | bytes, *args: str, name: str = "f.csv") -> Result:
    forecast = tmp_path / name
    if isinstance(content, str):
        forecast.write_text(content, "utf-8")
    else:
        forecast.write_bytes(content)
    return CliRunner().invoke(
        app, ["staffing", "plan", "--forecast", str(forecast), *args], catch_exceptions=False
    )


def _last_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    found = json.loads(last)
    assert isinstance(found, dict)
    return found


def _textbook_agents(sessions: int, aht: int, level: Fraction, within: int) -> int:
    """The smallest N > A whose Erlang C service level reaches the target, from the
    textbook formula with exact factorials (floats only for the exponential)."""
    if sessions == 0:
        return 0
    load = Fraction(sessions * aht, 900)
    n = math.floor(load) + 1
    while True:
        top = load**n / math.factorial(n) * n / (n - load)
        waits = top / (sum(load**k / math.factorial(k) for k in range(n)) + top)
        if 1 - float(waits) * math.exp(-float(n - load) * within / aht) >= level:
            return n
        n += 1


FORECAST = "start,sessions\n00:00,50\n00:15,0\n00:30,213\n00:45,7\n01:00,1\n"


def test_the_plan_gives_erlang_cs_exact_figures(tmp_path: Path) -> None:
    result = _plan(tmp_path, FORECAST, "--aht", "180", "--target", "0.8/20", "--json")
    intervals = _last_json(result)["intervals"]
    assert [i["start"] for i in intervals] == ["00:00", "00:15", "00:30", "00:45", "01:00"]
    assert [i["sessions"] for i in intervals] == [50, 0, 213, 7, 1]
    expected = [_textbook_agents(s, 180, Fraction(8, 10), 20) for s in (50, 0, 213, 7, 1)]
    assert [i["agents"] for i in intervals] == expected
    first = intervals[0]
    assert set(first) == {"start", "sessions", "agents", "service_level", "asa_s", "occupancy"}
    # 50 sessions of 180 s in a quarter-hour are the worked example's 10 erlangs.
    assert first["agents"] == 14
    assert first["service_level"] == pytest.approx(0.8884, abs=5e-5)
    assert first["asa_s"] == pytest.approx(7.84, abs=5e-3)
    assert first["occupancy"] == pytest.approx(10 / 14)
    assert intervals[1] == {
        "start": "00:15",
        "sessions": 0,
        "agents": 0,
        "service_level": 1.0,
        "asa_s": 0.0,
        "occupancy": 0.0,
    }
    assert "unreachable" not in result.stdout


def test_the_table_is_readable_without_json(tmp_path: Path) -> None:
    result = _plan(tmp_path, FORECAST, "--aht", "180", "--target", "80%/20")
    assert result.exit_code == 0
    assert "00:30" in result.stdout and "88.8%" in result.stdout
    assert not result.stdout.strip().splitlines()[-1].startswith("{")


def test_an_unreachable_interval_says_so_and_has_no_number(tmp_path: Path) -> None:
    result = _plan(tmp_path, FORECAST, "--aht", "180", "--target", "1/20", "--json")
    intervals = _last_json(result)["intervals"]
    assert [i["agents"] for i in intervals] == [None, 0, None, None, None]
    assert intervals[0]["service_level"] is None and intervals[0]["occupancy"] is None
    assert "unreachable" in result.stdout
    assert "4 interval(s) unreachable" in result.stdout


def test_options_change_the_plan(tmp_path: Path) -> None:
    result = _plan(
        tmp_path,
        "start,sessions\n2026-11-11T00:00,50\n",
        *("--aht", "180", "--target", "0.8/20", "--concurrency", "2"),
        *("--max-occupancy", "0.6", "--shrinkage", "0.2", "--json"),
    )
    assert _last_json(result)["intervals"][0]["agents"] == 12
    patient = _plan(
        tmp_path,
        "start,sessions\n00:00,50\n",
        "--aht",
        "180",
        "--target",
        "0.8/20",
        "--patience",
        "120",
        "--json",
    )
    first = _last_json(patient)["intervals"][0]
    assert first["agents"] == 12 and first["abandon"] == pytest.approx(0.0616, abs=5e-5)


def test_a_byte_order_mark_and_extra_columns_are_fine(tmp_path: Path) -> None:
    content = "\ufeffnote,start,sessions\npre,00:00,50\n\n".encode()
    intervals = _last_json(
        _plan(tmp_path, content, "--aht", "180", "--target", "0.8/20", "--json")
    )["intervals"]
    assert [(i["start"], i["agents"]) for i in intervals] == [("00:00", 14)]


def test_a_team_column_names_known_teams_only(tmp_path: Path) -> None:
    content = "start,sessions,team\n00:00,50,presale\n00:15,40,sales\n"
    result = _plan(tmp_path, content, "--aht", "180", "--target", "0.8/20")
    assert result.exit_code == 1
    assert "line 3: no team 'sales'" in result.stderr


def test_a_workbook_reads_like_a_csv(tmp_path: Path) -> None:
    workbook = write_sheet("forecast", ["start", "sessions"], [["00:00", 50], ["00:15", 213]])
    result = _plan(
        tmp_path, workbook, "--aht", "180", "--target", "0.8/20", "--json", name="f.xlsx"
    )
    assert [i["agents"] for i in _last_json(result)["intervals"]] == [
        14,
        _textbook_agents(213, 180, Fraction(8, 10), 20),
    ]


@pytest.mark.parametrize(
    ("content", "args", "says"),
    [
        ("start,count\n00:00,5\n", (), "no column 'sessions'"),
        ("sessions\n5\n", (), "no column 'start'"),
        ("", (), "the forecast is empty"),
        ("start,sessions\n", (), "no intervals"),
        (
            "start,sessions\n" + "".join(f"00:{m:02},5\n" for m in range(5)) + "00:05,many\n",
            (),
            "line 7: sessions 'many' is not a number",
        ),
        ("start,sessions\n00:00,5\n00:15,-3\n", (), "line 3: sessions cannot be negative"),
        ("start,sessions\n00:00,nan\n", (), "line 2: sessions 'nan' is not a number"),
        ("start,sessions\nmidnight,5\n", (), "line 2: the start 'midnight'"),
        ("start,sessions\n00:00,5\n", ("--target", "eighty"), "such as 0.8/30"),
        ("start,sessions\n00:00,5\n", ("--shrinkage", "1"), "shrinkage is a share"),
        ("start,sessions\n00:00,5\n", ("--concurrency", "0"), "concurrency"),
        ("start,sessions\n00:00,5\n", ("--aht", "0"), "handling time"),
        ("start,sessions\n00:00,5\n", ("--max-occupancy", "1.5"), "occupancy cap"),
    ],
)
def test_bad_input_is_named_and_exits_without_a_traceback(
    tmp_path: Path, content: str, args: tuple[str, ...], says: str
) -> None:
    defaults = {"--aht": "180", "--target": "0.8/20"}
    for name, value in zip(args[::2], args[1::2], strict=True):
        defaults[name] = value
    flat = [part for pair in defaults.items() for part in pair]
    result = _plan(tmp_path, content, *flat, "--json")
    assert result.exit_code == 1
    assert says in result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_a_file_that_is_not_utf8_or_not_there_is_named(tmp_path: Path) -> None:
    result = _plan(
        tmp_path, "start,sessions\n00:00,五\n".encode("gb18030"), "--aht", "1", "--target", "0.8/20"
    )
    assert result.exit_code == 1 and "not UTF-8" in result.stderr
    missing = CliRunner().invoke(
        app,
        [
            "staffing",
            "plan",
            "--forecast",
            str(tmp_path / "none.csv"),
            "--aht",
            "180",
            "--target",
            "0.8/20",
        ],
    )
    assert missing.exit_code == 1 and "cannot read the forecast" in missing.stderr
    broken = _plan(
        tmp_path, b"PK\x03\x04 not really", "--aht", "180", "--target", "0.8/20", name="f.xlsx"
    )
    assert broken.exit_code == 1 and "not an Excel workbook" in broken.stderr
