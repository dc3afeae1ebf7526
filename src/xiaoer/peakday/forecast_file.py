"""Forecast files: the sessions expected per 15-minute interval, as a CSV (UTF-8, with or
without a byte-order mark) or an Excel workbook (.xlsx), with the columns ``start`` (a
time such as 20:15, or a day and time) and ``sessions``, and optionally ``team``
(presale, aftersale or assist). ``xiaoer staffing plan``, the forecast page's import
and ``xiaoer rehearse`` read them alike; a bad line is named with its reason."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime, time

from xiaoer.core.sheets import SheetError, read_rows
from xiaoer.core.texts import say
from xiaoer.peakday.staffing import StaffingError

COLUMNS = ("start", "sessions")
MAX_INTERVALS = 20_000  # a year of quarter-hours for two teams is well below this


@dataclass(frozen=True)
class ForecastRow:
    """One interval of a forecast file: its start as written and its sessions."""

    line: int
    start: str
    sessions: float
    team: str = ""


def _start(text: str, line: int) -> str:
    cleaned = text.strip()
    for parse in (time.fromisoformat, datetime.fromisoformat):
        try:
            parse(cleaned)
        except ValueError:
            continue
        return cleaned
    raise StaffingError(
        say(
            "line {line}: the start {value!r} is not a time such as 20:15 or 2026-11-11T00:15",
            line=line,
            value=text,
        )
    )


def _sessions(text: str, line: int) -> float:
    try:
        value = float(text.strip().replace(",", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise StaffingError(
            say("line {line}: sessions {value!r} is not a number", line=line, value=text)
        )
    if value < 0:
        raise StaffingError(
            say("line {line}: sessions cannot be negative ({value})", line=line, value=text)
        )
    return value


def _csv_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StaffingError(say("the forecast is not UTF-8 text (save the CSV as UTF-8)")) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise StaffingError(
            say("the forecast is empty: the first row names the columns start,sessions")
        )
    names = [name.strip().lower() for name in header]
    for column in COLUMNS:
        if column not in names:
            raise StaffingError(
                say(
                    "the forecast has no column {column!r} (the first row names the columns "
                    "start,sessions)",
                    column=column,
                )
            )
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        line = reader.line_num
        rows.append(
            (line, {name: (values[i] if i < len(values) else "") for i, name in enumerate(names)})
        )
    return rows


def read_forecast(data: bytes, name: str = "") -> list[ForecastRow]:
    """The intervals of a forecast: a CSV (UTF-8, with or without a byte-order mark)
    or an Excel workbook (.xlsx), with columns ``start`` and ``sessions``."""
    if name.lower().endswith(".xlsx") or data.startswith(b"PK\x03\x04"):
        try:
            raw = list(read_rows(data, COLUMNS, ("team",)))
        except SheetError as exc:
            raise StaffingError(exc.args[0]) from exc
    else:
        raw = _csv_rows(data)
    if not raw:
        raise StaffingError(say("the forecast has no intervals"))
    if len(raw) > MAX_INTERVALS:
        raise StaffingError(
            say(
                "the forecast has {count} intervals; a plan takes at most {limit}",
                count=len(raw),
                limit=MAX_INTERVALS,
            )
        )
    return [
        ForecastRow(line, _start(row["start"], line), _sessions(row["sessions"], line),
                    _team(row.get("team") or "", line))
        for line, row in raw
    ]  # fmt: skip


TEAMS = ("presale", "aftersale", "assist")


def _team(text: str, line: int) -> str:
    team = text.strip().lower()
    if team and team not in TEAMS:
        raise StaffingError(
            say("line {line}: no team {value!r} (presale, aftersale or assist)", line=line,
                value=text)
        )  # fmt: skip
    return team


