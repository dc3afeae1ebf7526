"""Customer-service KPIs and payroll for a busy month: rollups, reports and pay on
SQLite and PostgreSQL, against DuckDB over Parquet.

A deterministic month of one shop (``benchmarks/kpi_data.py``; at ``--scale 1``: 100
agents, 300,000 conversations, about 3,000,000 messages and the response rounds they
imply, 400,000 orders with sales credits, payment reminders and seller notes, spread
over the month's days in Asia/Shanghai with daily peaks) is written into a fresh,
migrated scratch database of each kind: COPY (asyncpg ``copy_records_to_table``) on
PostgreSQL, followed by ``VACUUM ANALYZE`` as autovacuum would do after such a load;
``executemany`` in one transaction per day on SQLite (no ANALYZE: xiaoer runs none on
SQLite). Writing is not timed.

Then, on each database, with the product's own sessions (``xiaoer.core.db.Database``):

a. ``rollup_days`` for every day of the month, in one session, committed;
b. ``report`` for the month, scopes shop, team and agent (a session each);
c. ``payroll.compute`` for the month;
   the **month** figure is a + b + c;
d. one day: ``rollup_day`` of the month's last day again (its rows exist: the recount
   a nightly job does), and ``rollup_day`` of the day after the month once that day's
   rows (an ordinary day's volume) have been written — **day** is the latter.

Statement timings of (a) come from SQLAlchemy's cursor events: what the driver spent
per statement shape (asyncpg: rows fetched included; aiosqlite fetches the rows later,
so on SQLite more of the time shows as Python); the rest of (a) is Python.

Reference, in the same run: the tables' needed columns are exported to Parquet (from
PostgreSQL with ``COPY … TO STDOUT`` as CSV, converted by DuckDB; from SQLite with a
plain SELECT when PostgreSQL is not run) — timed on its own as the export — and DuckDB
computes every KPI column per agent and day over the Parquet files, summed over the
month (peaks: maximum), with the definitions of ``xiaoer.performance.kpi`` written
independently in SQL: days and response hours by DuckDB's own Asia/Shanghai clock, the
default policy's 08:00–23:00, cap 600 s, fast 180 s, slow > 120 s, conversion window one
day, long conversations 30 minutes, notes within 20 minutes. Only the DuckDB query is
timed for the ratio (the median of three runs of it). The rolled-up agent figures of
each database must equal DuckDB's for every agent and every column checked (all 27
columns of ``KpiDay``); a difference is printed and the run exits 1.

``--quarter`` also writes the quarter's two earlier months first, rolls them up (as the
nightly job would have) and times the quarter's KPI page (``/performance/kpi?period=
quarter``, per agent, team and shop) through HTTP from a real ``xiaoer serve``, after
warm-up requests, with ``/healthz`` as the bare server's reference. ``--profile FILE``
writes a cProfile of (a)–(c) per database; the statements' time is the database's, and
each statement names the part of the rollup it counts (``/* kpi.peaks */``), so the
parts' driver seconds are printed too.

Targets (PostgreSQL, ``--scale 1``): month ≤ 10 s, month ≤ 2x DuckDB (and on SQLite),
one new day ≤ 0.3 s, the quarter's page p95 < 300 ms. The floor: month ≤ 5x DuckDB on
PostgreSQL.

    python benchmarks/kpi.py                                  # the target run, both databases
    python benchmarks/kpi.py --scale 0.05 --database postgres
    python benchmarks/kpi.py --scale 0.002 --database sqlite --json
    python benchmarks/kpi.py --database postgres --quarter --profile /tmp/kpi

``--json`` prints one JSON object last: ``seconds`` (PostgreSQL month; null when
PostgreSQL is not run), ``ratio_to_duckdb``, ``day_seconds``, ``duckdb_seconds``,
``sqlite_*``, the sizes, ``peak_rss_mb`` (the process's peak resident set over the whole
run, generation included) and more. Progress goes to standard error. Only 127.0.0.1 is
contacted; the PostgreSQL database ``xiaoer_kpi_<pid>_<random>`` is created on
``--pg-url`` and dropped at the end, the SQLite file lives in a temporary folder;
``--keep DIR`` keeps both (the SQLite file in DIR) for a closer look.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.kpi_data import (
    COLUMNS,
    DAY_TABLES,
    ZONE,
    Month,
    Sizes,
    for_postgres,
    for_sqlite,
    local_midnight,
)

DEFAULT_MONTH = "2025-12"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MONTH_SECONDS = 10.0
TARGET_DUCKDB_RATIO = 2.0
FLOOR_DUCKDB_RATIO = 5.0  # below this (on PostgreSQL) the work is not done
TARGET_DAY_SECONDS = 0.3
TARGET_QUARTER_MS = 300.0


def _say(text: str) -> None:
    """Progress, on standard error: the figures on standard output stay clean."""
    print(text, file=sys.stderr, flush=True)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Peak:
    """The process's peak resident set: overall, and per measured part (VmHWM reset)."""

    def __init__(self) -> None:
        self.overall_kb = 0

    def reset(self) -> None:
        self.overall_kb = max(self.overall_kb, _status_kb("VmHWM"))
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")

    def part_mb(self) -> float:
        now = _status_kb("VmHWM")
        self.overall_kb = max(self.overall_kb, now)
        return round(now / 1024, 1)

    def overall_mb(self) -> float:
        self.overall_kb = max(self.overall_kb, _status_kb("VmHWM"))
        return round(self.overall_kb / 1024, 1)


# --- scratch databases ---------------------------------------------------------------


def _database_url(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(server_url)
        .set(drivername="postgresql", database=name)
        .render_as_string(hide_password=False)
    )


async def _pg_execute(url: str, *statements: str) -> None:
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database,
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


class Target:
    """One scratch database: its URL, the product's Database on it, its writer."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.db: Any = None
        self.shop_id = 0
        self.pg: Any = None  # asyncpg connection used for writing
        self.lite: sqlite3.Connection | None = None

    @property
    def title(self) -> str:
        return "PostgreSQL" if self.kind == "postgres" else "SQLite"

    async def open(self) -> None:
        import xiaoer.all_models  # noqa: F401  (every table registered, as the CLI does)
        from xiaoer.core.db import Database
        from xiaoer.core.migrate import upgrade_async
        from xiaoer.shops.service import do_create_shop

        await upgrade_async(self.url)
        self.db = Database(self.url)
        async with self.db.session() as session:
            shop = await do_create_shop(session, code="kpi", name="压测旗舰店")
            await session.commit()
            self.shop_id = shop.id
        if self.kind == "postgres":
            import asyncpg
            from sqlalchemy.engine import make_url

            parsed = make_url(self.url)
            self.pg = await asyncpg.connect(
                user=parsed.username,
                password=parsed.password,
                host=parsed.host or "127.0.0.1",
                port=parsed.port or 5432,
                database=parsed.database,
            )
        else:
            path = self.url.removeprefix("sqlite:///")
            self.lite = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.lite.execute("PRAGMA synchronous=OFF")  # this writer's connection only

    async def write(self, tables: dict[str, list[tuple[Any, ...]]]) -> None:
        """Write rows, table by table in the given order, in one transaction."""
        if self.pg is not None:
            async with self.pg.transaction():
                for table, rows in tables.items():
                    if rows:
                        await self.pg.copy_records_to_table(
                            table, records=for_postgres(table, rows), columns=COLUMNS[table]
                        )
            return
        await asyncio.to_thread(self._write_sqlite, tables)

    def _write_sqlite(self, tables: dict[str, list[tuple[Any, ...]]]) -> None:
        assert self.lite is not None
        self.lite.execute("BEGIN")
        for table, rows in tables.items():
            if rows:
                columns = COLUMNS[table]
                names = ", ".join(f'"{c}"' for c in columns)
                marks = ", ".join("?" for _ in columns)
                self.lite.executemany(
                    f'INSERT INTO "{table}" ({names}) VALUES ({marks})', for_sqlite(table, rows)
                )
        self.lite.execute("COMMIT")

    async def settle(self) -> None:
        """After writing: sequences past the ids given, statistics, the WAL folded in."""
        if self.pg is not None:
            for table in ("staff_account", "customer", *DAY_TABLES):
                await self.pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'(SELECT max(id) FROM "{table}"))'
                )
            await self.pg.execute(
                "VACUUM ANALYZE staff_account, customer, conversation, message, "
                'response_round, "order", sales_credit, order_task, seller_note'
            )
        elif self.lite is not None:
            await asyncio.to_thread(self.lite.execute, "PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.close()
            self.pg = None
        if self.lite is not None:
            self.lite.close()
            self.lite = None
        if self.db is not None:
            await self.db.dispose()


# --- writing the month ---------------------------------------------------------------


def _count(sizes: dict[str, int], tables: dict[str, list[tuple[Any, ...]]]) -> None:
    for table, rows in tables.items():
        sizes[table] = sizes.get(table, 0) + len(rows)


async def _write_day(
    month: Month, index: int, targets: list[Target], counts: dict[str, int]
) -> float:
    """One day's rows into every target, counted; returns the seconds spent generating."""
    began = time.perf_counter()
    tables = month.day(index)
    generating = time.perf_counter() - began
    await asyncio.gather(*(t.write(tables) for t in targets))
    _count(counts, tables)
    return generating


async def write_month(
    month: Month, targets: list[Target], before: list[Month] | None = None
) -> tuple[dict[str, int], float, dict[str, int]]:
    """Every row of the month into every target, after those of the months ``before`` it
    (for the quarter); returns the month's row counts, the seconds spent generating (the
    rest of the writing time is the databases') and the earlier months' row counts."""
    counts: dict[str, int] = {}
    earlier: dict[str, int] = {}
    generating = 0.0
    started = time.perf_counter()
    staff = {"staff_account": month.staff_rows()}
    await asyncio.gather(*(t.write(staff) for t in targets))
    for chunk in month.customer_rows():
        await asyncio.gather(*(t.write({"customer": chunk}) for t in targets))
        _count(counts, {"customer": chunk})
    for other in before or []:
        for index in range(other.days):
            generating += await _write_day(other, index, targets, earlier)
        _say(
            f"  {other.first:%Y-%m} written: {earlier['conversation']:,} conversations so far "
            f"({time.perf_counter() - started:.0f} s)"
        )
    for index in range(month.days):
        generating += await _write_day(month, index, targets, counts)
        if index % 5 == 4 or index == month.days - 1:
            _say(
                f"  day {index + 1}/{month.days} written: {counts['conversation']:,} "
                f"conversations, {counts['message']:,} messages, {counts['order']:,} orders "
                f"({time.perf_counter() - started:.0f} s)"
            )
    return counts, generating, earlier


# --- the measured work ---------------------------------------------------------------


class StatementClock:
    """Seconds the driver spent per statement shape while attached."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine.sync_engine
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._started: dict[int, float] = {}  # per connection: the rollup uses two at once

    def _before(self, conn: Any, *_: Any) -> None:
        self._started[id(conn)] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        shape = re.sub(r"\s+", " ", statement).strip()
        shape = re.sub(r"\$\d+|\?", "?", shape)[:160]
        self.seconds[shape] += time.perf_counter() - self._started.pop(id(conn))
        self.calls[shape] += 1

    def __enter__(self) -> StatementClock:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: Any) -> None:
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def parts(self) -> list[dict[str, Any]]:
        """Driver seconds per part of the rollup (each statement names its part)."""
        seconds: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        for shape, spent in self.seconds.items():
            found = re.match(r"/\* kpi\.(\w+) \*/", shape)
            name = found.group(1) if found else "other"
            seconds[name] += spent
            calls[name] += self.calls[shape]
        ranked = sorted(seconds.items(), key=lambda item: -item[1])
        return [{"part": k, "calls": calls[k], "seconds": round(v, 3)} for k, v in ranked]

    def top(self, n: int = 8) -> list[dict[str, Any]]:
        ranked = sorted(self.seconds.items(), key=lambda item: -item[1])[:n]
        return [
            {"statement": shape, "calls": self.calls[shape], "seconds": round(seconds, 3)}
            for shape, seconds in ranked
        ]


async def measure_month(
    target: Target, first: date, last: date, now: datetime, peak: Peak, profile: str | None = None
) -> dict[str, Any]:
    from xiaoer.performance.kpi import report, rollup_days
    from xiaoer.performance.models import KpiScope
    from xiaoer.performance.payroll import compute

    db, shop_id = target.db, target.shop_id
    month = first.strftime("%Y-%m")
    peak.reset()
    out: dict[str, Any] = {}
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    with StatementClock(db.engine) as clock:
        async with db.session() as session:
            began = time.perf_counter()
            out["kpi_rows"] = await rollup_days(session, shop_id, first, last, now=now)
            await session.commit()
            out["rollup_seconds"] = time.perf_counter() - began
    out["rollup_sql_seconds"] = sum(clock.seconds.values())
    out["rollup_statements"] = sum(clock.calls.values())
    out["rollup_top"] = clock.top()
    out["rollup_parts"] = clock.parts()
    out["report_seconds"] = {}
    for scope in (KpiScope.shop, KpiScope.team, KpiScope.agent):
        async with db.session() as session:
            began = time.perf_counter()
            result = await report(session, shop_id, first, last, scope)
            out["report_seconds"][scope.value] = time.perf_counter() - began
        if scope is KpiScope.agent:
            out["agents"] = {subject: dict(f.counts) for subject, f in result.subjects.items()}
        out[f"{scope.value}_subjects"] = len(result.subjects)
    async with db.session() as session:
        began = time.perf_counter()
        lines = await compute(session, shop_id, month)
        out["payroll_seconds"] = time.perf_counter() - began
    out["payroll_lines"] = len(lines)
    out["payroll_total_fen"] = sum(line.total_fen for line in lines)
    if profiler is not None and profile:
        profiler.disable()
        path = Path(profile).with_suffix(f".{target.kind}.prof")
        profiler.dump_stats(str(path))
        out["profile"] = str(path)
    out["seconds"] = (
        out["rollup_seconds"] + sum(out["report_seconds"].values()) + out["payroll_seconds"]
    )
    out["peak_rss_mb"] = peak.part_mb()
    return out


async def measure_day(target: Target, day: date, now: datetime) -> tuple[float, int]:
    from xiaoer.performance.kpi import rollup_day

    async with target.db.session() as session:
        began = time.perf_counter()
        rows = await rollup_day(session, target.shop_id, day, now=now)
        await session.commit()
        return time.perf_counter() - began, rows


async def measure_quarter(
    target: Target, before: list[Month], last: date, now: datetime, requests: int
) -> dict[str, Any]:
    """The quarter's KPI page through HTTP: the earlier months are rolled up first (as the
    nightly job would have), then a real ``xiaoer serve`` answers the supervisor's
    ``/performance/kpi?period=quarter`` per agent, team and shop, after warm-up requests
    (the first recounts the days still settling)."""
    import httpx

    from benchmarks.accounts import quick_hashes
    from benchmarks.aftersales import PASSWORD, _p, _sign_in, _start_server
    from xiaoer.core.auth import hash_password
    from xiaoer.performance.kpi import rollup_days

    out: dict[str, Any] = {}
    began = time.perf_counter()
    async with target.db.session() as session:
        for month in before:
            following = month.first + timedelta(days=month.days - 1)
            await rollup_days(session, target.shop_id, month.first, following, now=now)
        await session.commit()
    out["earlier_rollup_seconds"] = time.perf_counter() - began
    with quick_hashes():
        secret = hash_password(PASSWORD)
    await target.pg.execute(
        "UPDATE staff_account SET password_hash = $1 WHERE username = 'kpi-lead'", secret
    )
    log = Path(tempfile.gettempdir()) / f"kpi-bench-server-{os.getpid()}.log"
    process, base = _start_server(target.url, log)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            await _sign_in(client, "kpi-lead")
            for scope in ("agent", "team", "shop"):
                path = f"/performance/kpi?period=quarter&on={last.isoformat()}&scope={scope}"
                for _ in range(3):  # warm-up, not measured
                    answer = await client.get(path)
                    if answer.status_code != 200:
                        raise RuntimeError(f"GET {path} answered {answer.status_code}")
                times = []
                for _ in range(requests):
                    started = time.perf_counter()
                    answer = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    if answer.status_code != 200:
                        raise RuntimeError(f"GET {path} answered {answer.status_code}")
                out[scope] = {"p50_ms": _p(times, 50), "p95_ms": _p(times, 95),
                              "bytes": len(answer.content)}  # fmt: skip
            health = []
            for _ in range(requests):
                started = time.perf_counter()
                await client.get("/healthz")
                health.append((time.perf_counter() - started) * 1000)
            out["healthz_p50_ms"] = _p(health, 50)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return out


# --- the DuckDB reference ------------------------------------------------------------

# What DuckDB needs of each table: (table, columns as selected, DuckDB column types).
EXPORT: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("conversation", "id, agent_id, customer_id, opened_at, assigned_at, first_response_at, "
     "closed_at", {"id": "BIGINT", "agent_id": "INTEGER", "customer_id": "INTEGER",
                   "opened_at": "TIMESTAMPTZ", "assigned_at": "TIMESTAMPTZ",
                   "first_response_at": "TIMESTAMPTZ", "closed_at": "TIMESTAMPTZ"}),
    ("message", "conversation_id, sender, agent_id, created_at",
     {"conversation_id": "BIGINT", "sender": "VARCHAR", "agent_id": "INTEGER",
      "created_at": "TIMESTAMPTZ"}),
    ("response_round", "agent_id, first, started_at, answered_at, seconds, capped_seconds",
     {"agent_id": "INTEGER", "first": "BOOLEAN", "started_at": "TIMESTAMPTZ",
      "answered_at": "TIMESTAMPTZ", "seconds": "INTEGER", "capped_seconds": "INTEGER"}),
    ("order", "id, customer_id, owner_id, created_at, paid_at, paid_fen",
     {"id": "BIGINT", "customer_id": "INTEGER", "owner_id": "INTEGER",
      "created_at": "TIMESTAMPTZ", "paid_at": "TIMESTAMPTZ", "paid_fen": "BIGINT"}),
    ("sales_credit", "order_id, agent_id, role, amount_fen, paid_at",
     {"order_id": "BIGINT", "agent_id": "INTEGER", "role": "VARCHAR", "amount_fen": "BIGINT",
      "paid_at": "TIMESTAMPTZ"}),
    ("order_task", "assignee_id, kind, created_at",
     {"assignee_id": "INTEGER", "kind": "VARCHAR", "created_at": "TIMESTAMPTZ"}),
    ("seller_note", "order_id, created_at", {"order_id": "BIGINT", "created_at": "TIMESTAMPTZ"}),
)  # fmt: skip


def _select(table: str, columns: str, types: dict[str, str], sqlite: bool) -> str:
    """The export query; on SQLite, times get their UTC offset and booleans a word."""
    parts = []
    for name in (c.strip() for c in columns.split(",")):
        quoted = f'"{name}"'
        if sqlite and types[name] == "TIMESTAMPTZ":
            parts.append(f"{quoted} || '+00' AS {quoted}")
        elif sqlite and types[name] == "BOOLEAN":
            parts.append(f"CASE {quoted} WHEN 1 THEN 'true' ELSE 'false' END AS {quoted}")
        else:
            parts.append(quoted)
    return f'SELECT {", ".join(parts)} FROM "{table}" WHERE shop_id = {{shop}}'


async def export_parquet(target: Target, folder: Path) -> dict[str, Any]:
    """The needed columns of every table as Parquet files in ``folder``, timed."""
    import csv

    import duckdb

    began = time.perf_counter()
    if target.pg is not None:
        await target.pg.execute("SET TIME ZONE 'UTC'")
    for table, columns, types in EXPORT:
        query = _select(table, columns, types, sqlite=target.pg is None).format(shop=target.shop_id)
        path = folder / f"{table}.csv"
        if target.pg is not None:
            await target.pg.copy_from_query(query, output=str(path), format="csv", header=True)
        else:
            assert target.lite is not None
            cursor = target.lite.execute(query)
            with path.open("w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(types)
                while batch := cursor.fetchmany(50_000):
                    writer.writerows(batch)
    csv_seconds = time.perf_counter() - began
    connection = duckdb.connect()
    for table, _columns, types in EXPORT:
        source, target_path = folder / f"{table}.csv", folder / f"{table}.parquet"
        spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
        connection.execute(
            f"COPY (SELECT * FROM read_csv('{source}', header = true, columns = {spec})) "
            f"TO '{target_path}' (FORMAT parquet)"
        )
        source.unlink()
    connection.close()
    seconds = time.perf_counter() - began
    size = sum(p.stat().st_size for p in folder.glob("*.parquet"))  # noqa: ASYNC240
    return {
        "seconds": seconds,
        "csv_seconds": csv_seconds,
        "parquet_seconds": seconds - csv_seconds,
        "parquet_mb": round(size / 1e6, 1),
        "source": target.title,
    }


def duckdb_sql(folder: Path, first: date, last: date, now: datetime) -> str:
    """Every KPI column per agent for the month, from the Parquet files."""
    from xiaoer.core.policy import default_policy, span_bounds
    from xiaoer.performance.kpi import COUNTS, PEAKS

    policy = default_policy()
    kpi = policy.kpi
    opens, closes = span_bounds(kpi.response_hours)
    if closes <= opens:
        raise SystemExit("the reference handles response hours within one day only")
    closes_text = "23:59:59.999999" if closes == dt_time.max else closes.isoformat()
    zone = ZONE.key
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")

    def p(table: str) -> str:
        return f"read_parquet('{folder / f'{table}.parquet'}')"

    totals = ",\n  ".join(
        f"coalesce(max({c}), 0)::BIGINT AS {c}"
        if c in PEAKS
        else f"coalesce(sum({c}), 0)::BIGINT AS {c}"
        for c in COUNTS
    )
    return f"""
WITH
conv AS (SELECT * FROM {p("conversation")}),
msg AS (SELECT * FROM {p("message")}),
rnd AS (SELECT * FROM {p("response_round")}),
ord AS (SELECT * FROM {p("order")}),
credit AS (SELECT * FROM {p("sales_credit")}),
task AS (SELECT * FROM {p("order_task")}),
note AS (SELECT * FROM {p("seller_note")}),
rounds_d AS (
  SELECT agent_id, CAST(timezone('{zone}', started_at) AS DATE) AS day,
    count(*) AS rounds,
    sum(coalesce(capped_seconds, {kpi.round_cap_seconds})) AS response_seconds,
    count(*) FILTER (answered_at IS NOT NULL AND seconds <= {kpi.fast_response_seconds})
      AS fast_rounds,
    count(*) FILTER (answered_at IS NOT NULL AND seconds > {policy.reception.reply_seconds})
      AS slow_rounds,
    count(*) FILTER (answered_at IS NULL) AS unanswered_rounds,
    count(*) FILTER (first) AS first_rounds,
    coalesce(sum(coalesce(capped_seconds, {kpi.round_cap_seconds})) FILTER (first), 0)
      AS first_response_seconds
  FROM rnd
  WHERE CAST(timezone('{zone}', started_at) AS TIME) >= TIME '{opens}'
    AND CAST(timezone('{zone}', started_at) AS TIME) < TIME '{closes_text}'
  GROUP BY ALL),
said AS (
  SELECT m.sender, m.agent_id AS writer, c.agent_id, c.customer_id,
    CAST(timezone('{zone}', m.created_at) AS DATE) AS day
  FROM msg m JOIN conv c ON c.id = m.conversation_id
  WHERE m.sender IN ('buyer', 'agent')),
messages_d AS (
  SELECT CASE WHEN sender = 'agent' THEN writer ELSE agent_id END AS agent_id, day,
    count(*) FILTER (sender = 'buyer') AS buyer_messages,
    count(*) FILTER (sender = 'agent') AS agent_messages
  FROM said GROUP BY ALL),
asked AS (SELECT DISTINCT agent_id, customer_id, day FROM said WHERE sender = 'buyer'),
converted AS (
  SELECT a.agent_id, a.day, a.customer_id,
    count(o.id) > 0 AS ordered, count(o.paid_at) > 0 AS paid
  FROM asked a LEFT JOIN ord o ON o.customer_id = a.customer_id
    AND CAST(timezone('{zone}', o.created_at) AS DATE)
        BETWEEN a.day AND a.day + {kpi.conversion_window_days}
  GROUP BY ALL),
inquiries_d AS (
  SELECT agent_id, day, count(*) AS inquiring_buyers,
    count(*) FILTER (ordered) AS ordering_buyers, count(*) FILTER (paid) AS paying_buyers
  FROM converted GROUP BY ALL),
conversations_d AS (
  SELECT agent_id, CAST(timezone('{zone}', opened_at) AS DATE) AS day,
    count(*) AS conversations,
    count(*) FILTER (first_response_at IS NOT NULL) AS replied_conversations,
    count(*) FILTER (first_response_at IS NULL AND closed_at IS NOT NULL)
      AS unanswered_conversations,
    count(*) FILTER (coalesce(closed_at, TIMESTAMPTZ '{stamp}') - opened_at
                     > INTERVAL {kpi.long_conversation_minutes} MINUTE) AS long_conversations
  FROM conv GROUP BY ALL),
days AS (
  SELECT CAST(d AS DATE) AS day,
    timezone('{zone}', CAST(d AS TIMESTAMP)) AS day_start,
    least(timezone('{zone}', CAST(d AS TIMESTAMP) + INTERVAL 1 DAY), TIMESTAMPTZ '{stamp}')
      AS day_end
  FROM range(DATE '{first}', DATE '{last}' + INTERVAL 1 DAY, INTERVAL 1 DAY) AS t(d)),
held AS (
  SELECT c.agent_id, d.day,
    greatest(coalesce(c.assigned_at, c.opened_at), d.day_start) AS held_from,
    least(coalesce(c.closed_at, d.day_end), d.day_end) AS held_to
  FROM conv c JOIN days d
    ON c.opened_at >= d.day_start - INTERVAL 1 DAY
   AND c.opened_at < timezone('{zone}', CAST(d.day AS TIMESTAMP) + INTERVAL 1 DAY)
   AND (c.closed_at IS NULL OR c.closed_at >= d.day_start)
  WHERE c.agent_id IS NOT NULL),
steps AS (
  SELECT agent_id, day, held_from AS moment, 1 AS step FROM held WHERE held_to > held_from
  UNION ALL
  SELECT agent_id, day, held_to AS moment, -1 AS step FROM held WHERE held_to > held_from),
running AS (
  SELECT agent_id, day, sum(step) OVER (PARTITION BY agent_id, day ORDER BY moment, step
                                        ROWS UNBOUNDED PRECEDING) AS holding
  FROM steps),
peaks_d AS (SELECT agent_id, day, max(holding) AS peak_concurrent FROM running GROUP BY ALL),
first_note AS (SELECT order_id, min(created_at) AS noted FROM note GROUP BY ALL),
sales_d AS (
  SELECT o.owner_id AS agent_id, CAST(timezone('{zone}', o.paid_at) AS DATE) AS day,
    count(*) AS paid_orders, sum(o.paid_fen) AS paid_fen,
    count(DISTINCT o.customer_id) AS paid_buyers,
    count(*) AS notes_due,
    count(*) FILTER (n.noted <= o.paid_at + INTERVAL {policy.orders.seller_note_minutes} MINUTE)
      AS notes_on_time
  FROM ord o LEFT JOIN first_note n ON n.order_id = o.id
  WHERE o.paid_at IS NOT NULL AND o.owner_id IS NOT NULL
  GROUP BY ALL),
credits_d AS (
  SELECT s.agent_id, CAST(timezone('{zone}', s.paid_at) AS DATE) AS day,
    count(*) FILTER (s.role = 'owner') AS service_orders,
    coalesce(sum(s.amount_fen) FILTER (s.role = 'owner'), 0) AS service_fen,
    count(DISTINCT o.customer_id) FILTER (s.role = 'owner') AS service_buyers,
    count(*) FILTER (s.role = 'assist') AS reminders_recovered
  FROM credit s JOIN ord o ON o.id = s.order_id
  GROUP BY ALL),
reminders_d AS (
  SELECT assignee_id AS agent_id, CAST(timezone('{zone}', created_at) AS DATE) AS day,
    count(*) AS reminders
  FROM task WHERE kind = 'remind' GROUP BY ALL),
every AS (
  SELECT * FROM rounds_d
  UNION ALL BY NAME SELECT * FROM messages_d
  UNION ALL BY NAME SELECT * FROM inquiries_d
  UNION ALL BY NAME SELECT * FROM conversations_d
  UNION ALL BY NAME SELECT * FROM peaks_d
  UNION ALL BY NAME SELECT * FROM sales_d
  UNION ALL BY NAME SELECT * FROM credits_d
  UNION ALL BY NAME SELECT * FROM reminders_d)
SELECT agent_id,
  {totals}
FROM every
WHERE agent_id IS NOT NULL AND day BETWEEN DATE '{first}' AND DATE '{last}'
GROUP BY agent_id
ORDER BY agent_id
"""


def duckdb_reference(folder: Path, first: date, last: date, now: datetime) -> dict[str, Any]:
    import duckdb

    from xiaoer.performance.kpi import COUNTS

    query = duckdb_sql(folder, first, last, now)
    connection = duckdb.connect()
    threads = connection.execute("SELECT current_setting('threads')").fetchone()
    runs = []
    rows: list[Any] = []
    for _ in range(3):  # the median of three: the first also reads the files from disk
        began = time.perf_counter()
        rows = connection.execute(query).fetchall()
        runs.append(time.perf_counter() - began)
    connection.close()
    seconds = sorted(runs)[1]
    agents = {
        str(row[0]): dict(zip(COUNTS, (int(v) for v in row[1:]), strict=True)) for row in rows
    }
    return {
        "seconds": seconds,
        "runs": runs,
        "agents": agents,
        "threads": int(threads[0]) if threads else None,
        "version": duckdb.__version__,
    }


def compare(
    rolled: dict[str, dict[str, int]], reference: dict[str, dict[str, int]]
) -> list[tuple[str, str, int, int]]:
    """Every (agent, column, rolled up, DuckDB) where the month differs from DuckDB's."""
    from xiaoer.performance.kpi import COUNTS

    problems = []
    for agent in sorted(set(rolled) | set(reference), key=int):
        mine, theirs = rolled.get(agent, {}), reference.get(agent, {})
        for column in COUNTS:
            a, b = mine.get(column, 0), theirs.get(column, 0)
            if a != b:
                problems.append((agent, column, a, b))
    return problems


def by_column(problems: list[tuple[str, str, int, int]]) -> dict[str, dict[str, int]]:
    """Differences per column: how many agents, and the sum of (rolled up − DuckDB)."""
    out: dict[str, dict[str, int]] = {}
    for _agent, column, a, b in problems:
        entry = out.setdefault(column, {"agents": 0, "difference": 0})
        entry["agents"] += 1
        entry["difference"] += a - b
    return out


# --- the run ---------------------------------------------------------------------------


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from xiaoer.performance.kpi import month_bounds

    first, last = month_bounds(args.month)
    new_day = last + timedelta(days=1)
    # "Now" for the rollups: the small hours after the day(s) rolled up.
    month_now = datetime.fromtimestamp(local_midnight(new_day) + 2 * 3600, ZONE)
    day_now = datetime.fromtimestamp(local_midnight(new_day + timedelta(days=1)) + 3600, ZONE)
    kinds = ["postgres", "sqlite"] if args.database == "both" else [args.database]
    targets: list[Target] = []
    peak = Peak()
    created: list[str] = []
    result: dict[str, Any] = {"scale": args.scale, "month": args.month}
    try:
        for kind in kinds:
            if kind == "postgres":
                name = f"xiaoer_kpi_{os.getpid()}_{secrets.token_hex(3)}"
                await _pg_execute(args.pg_url, f'CREATE DATABASE "{name}"')
                created.append(name)
                targets.append(Target(kind, _database_url(args.pg_url, name)))
            else:
                place = Path(args.keep) if args.keep else work
                sqlite_name = f"kpi-{os.getpid()}-{secrets.token_hex(3)}.sqlite"
                targets.append(Target(kind, f"sqlite:///{place / sqlite_name}"))
        _say("migrating the scratch database(s) …")
        for target in targets:
            await target.open()
        shop_ids = {t.shop_id for t in targets}
        if len(shop_ids) != 1:
            raise RuntimeError(f"the shops got different ids: {shop_ids}")
        sizes = Sizes.at(args.scale, agents=args.agents)
        shop_id = shop_ids.pop()
        month = Month(first, sizes, shop_id=shop_id, seed=args.seed)
        before: list[Month] = []
        if args.quarter:
            quarter_first = date(first.year, (first.month - 1) // 3 * 3 + 1, 1)
            if quarter_first == first:
                raise SystemExit("--quarter needs the last month of a quarter, e.g. 2025-12")
            at = quarter_first
            while at < first:
                earlier = Month(at, sizes, shop_id=shop_id, seed=args.seed + 1 + len(before))
                earlier.next_id = month.next_id  # one sequence of ids for the quarter
                before.append(earlier)
                at = at + timedelta(days=earlier.days)
        _say(
            f"writing {args.month} at scale {args.scale}: {sizes.conversations:,} "
            f"conversations, {sizes.orders:,} orders, {sizes.agents} agents into "
            f"{' and '.join(t.title for t in targets)} …"
        )
        began = time.perf_counter()
        counts, generating, earlier_counts = await write_month(month, targets, before)
        written = time.perf_counter() - began
        _say("  VACUUM ANALYZE / WAL checkpoint …")
        await asyncio.gather(*(t.settle() for t in targets))
        result["write_seconds"] = round(time.perf_counter() - began, 1)
        result["generate_seconds"] = round(generating, 1)
        result["sizes"] = {"agents": sizes.agents, **counts}
        if before:
            result["earlier_sizes"] = earlier_counts
        _say(f"  written in {written:.0f} s ({generating:.0f} s of it generating rows)")

        for target in targets:
            _say(f"{target.title}: rolling up {args.month}, reports, payroll …")
            result[target.kind] = await measure_month(
                target, first, last, month_now, peak, args.profile
            )
            _say(f"  {result[target.kind]['seconds']:.2f} s")

        source = (
            next(t for t in targets if t.kind == "postgres")
            if "postgres" in kinds
            else (targets[0])
        )
        _say(f"exporting to Parquet from {source.title} …")
        folder = work / "parquet"
        folder.mkdir()
        result["export"] = await export_parquet(source, folder)
        _say("DuckDB (reference) …")
        result["duckdb"] = duckdb_reference(folder, first, last, month_now)
        for target in targets:
            result[target.kind]["mismatches"] = compare(
                result[target.kind]["agents"], result["duckdb"]["agents"]
            )

        _say(f"one day: {last} again, then {new_day} after writing its rows …")
        for target in targets:
            seconds, rows = await measure_day(target, last, month_now)
            result[target.kind]["day_again_seconds"] = seconds
        tables = month.day(month.days)
        result["new_day_sizes"] = {table: len(rows) for table, rows in tables.items()}
        await asyncio.gather(*(t.write(tables) for t in targets))
        await asyncio.gather(*(t.settle() for t in targets if t.kind == "sqlite"))
        for target in targets:
            seconds, rows = await measure_day(target, new_day, day_now)
            result[target.kind]["day_seconds"] = seconds
            result[target.kind]["day_rows"] = rows
        if before:
            pg = next((t for t in targets if t.kind == "postgres"), None)
            if pg is None:
                raise SystemExit("--quarter measures the page on PostgreSQL")
            _say("the quarter's KPI page through HTTP …")
            result["quarter"] = await measure_quarter(pg, before, last, day_now, args.requests)
    finally:
        for target in targets:
            await target.close()
        if args.keep:
            for target in targets:
                _say(f"kept: {target.url}")
            created = []
        for name in created:
            await _pg_execute(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["peak_rss_mb"] = peak.overall_mb()
    return result


# --- the report ------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def figures_of(result: dict[str, Any]) -> dict[str, Any]:
    """The flat JSON figures."""
    duck = result["duckdb"]
    out: dict[str, Any] = {
        "scale": result["scale"],
        "month": result["month"],
        "sizes": result["sizes"],
        "new_day_sizes": result["new_day_sizes"],
        "write_seconds": result["write_seconds"],
        "generate_seconds": result["generate_seconds"],
        "duckdb_seconds": round(duck["seconds"], 3),
        "duckdb_runs": [round(r, 3) for r in duck["runs"]],
        "duckdb_threads": duck["threads"],
        "duckdb_version": duck["version"],
        "export_seconds": round(result["export"]["seconds"], 3),
        "export_source": result["export"]["source"],
        "parquet_mb": result["export"]["parquet_mb"],
        "peak_rss_mb": result["peak_rss_mb"],
        "checked_agents": len(duck["agents"]),
        "seconds": None,
        "ratio_to_duckdb": None,
        "day_seconds": None,
        "day_again_seconds": None,
    }
    mismatches = 0
    for kind, prefix in (("postgres", "pg"), ("sqlite", "sqlite")):
        if kind not in result:
            continue
        run = result[kind]
        out[f"{prefix}_seconds"] = round(run["seconds"], 3)
        out[f"{prefix}_rollup_seconds"] = round(run["rollup_seconds"], 3)
        out[f"{prefix}_rollup_sql_seconds"] = round(run["rollup_sql_seconds"], 3)
        out[f"{prefix}_rollup_statements"] = run["rollup_statements"]
        out[f"{prefix}_report_seconds"] = {k: round(v, 3) for k, v in run["report_seconds"].items()}
        out[f"{prefix}_payroll_seconds"] = round(run["payroll_seconds"], 3)
        out[f"{prefix}_kpi_rows"] = run["kpi_rows"]
        out[f"{prefix}_payroll_lines"] = run["payroll_lines"]
        out[f"{prefix}_day_seconds"] = round(run["day_seconds"], 3)
        out[f"{prefix}_day_again_seconds"] = round(run["day_again_seconds"], 3)
        out[f"{prefix}_ratio_to_duckdb"] = round(run["seconds"] / duck["seconds"], 2)
        out[f"{prefix}_peak_rss_mb"] = run["peak_rss_mb"]
        out[f"{prefix}_mismatches"] = len(run["mismatches"])
        out[f"{prefix}_mismatched_columns"] = by_column(run["mismatches"])
        out[f"{prefix}_top_statements"] = run["rollup_top"][:5]
        out[f"{prefix}_rollup_parts"] = run["rollup_parts"]
        mismatches += len(run["mismatches"])
    if "postgres" in result:
        out["seconds"] = out["pg_seconds"]
        out["ratio_to_duckdb"] = out["pg_ratio_to_duckdb"]
        out["day_seconds"] = out["pg_day_seconds"]
        out["day_again_seconds"] = out["pg_day_again_seconds"]
        out["meets_month_seconds"] = out["seconds"] <= TARGET_MONTH_SECONDS
        out["meets_duckdb_ratio"] = out["ratio_to_duckdb"] <= TARGET_DUCKDB_RATIO
        out["meets_duckdb_floor"] = out["ratio_to_duckdb"] <= FLOOR_DUCKDB_RATIO
        out["meets_day_seconds"] = out["day_seconds"] <= TARGET_DAY_SECONDS
        out["meets_all"] = all(
            out[k] for k in ("meets_month_seconds", "meets_duckdb_ratio", "meets_day_seconds")
        )
    if "sqlite" in result:
        out["sqlite_meets_duckdb_ratio"] = out["sqlite_ratio_to_duckdb"] <= TARGET_DUCKDB_RATIO
    if "quarter" in result:
        quarter = result["quarter"]
        out["quarter_page_ms"] = {
            scope: {k: round(v, 1) for k, v in quarter[scope].items()}
            for scope in ("agent", "team", "shop")
        }
        out["quarter_healthz_p50_ms"] = round(quarter["healthz_p50_ms"], 1)
        out["quarter_earlier_rollup_seconds"] = round(quarter["earlier_rollup_seconds"], 2)
        out["earlier_sizes"] = result["earlier_sizes"]
        out["meets_quarter_ms"] = all(
            quarter[scope]["p95_ms"] < TARGET_QUARTER_MS for scope in ("agent", "team", "shop")
        )
    out["mismatches"] = mismatches
    out["ok"] = mismatches == 0
    return out


def report(result: dict[str, Any]) -> dict[str, Any]:
    out = figures_of(result)
    sizes = result["sizes"]
    print(
        f"{result['month']} at scale {result['scale']}: {sizes['agents']} agents, "
        f"{sizes['customer']:,} buyers, {sizes['conversation']:,} conversations, "
        f"{sizes['message']:,} messages, {sizes['response_round']:,} response rounds, "
        f"{sizes['order']:,} orders, {sizes['sales_credit']:,} sales credits, "
        f"{sizes['order_task']:,} reminder tasks, {sizes['seller_note']:,} seller notes"
    )
    print(
        f"written in {result['write_seconds']:.0f} s ({result['generate_seconds']:.0f} s "
        "generating rows; not part of any figure below)"
    )
    duck = result["duckdb"]
    for kind, title in (("postgres", "PostgreSQL"), ("sqlite", "SQLite")):
        if kind not in result:
            continue
        run = result[kind]
        reports = run["report_seconds"]
        print(f"\n{title}")
        print(
            f"  a. rollup_days, {run['kpi_rows']:,} KPI rows   {run['rollup_seconds']:8.2f} s  "
            f"({run['rollup_statements']} statements, {run['rollup_sql_seconds']:.2f} s in the "
            f"driver, {run['rollup_seconds'] - run['rollup_sql_seconds']:.2f} s Python)"
        )
        print(
            f"  b. report shop / team / agent      {sum(reports.values()):8.2f} s  "
            f"({reports['shop']:.3f} / {reports['team']:.3f} / {reports['agent']:.3f} s)"
        )
        print(
            f"  c. payroll.compute, {run['payroll_lines']} lines      "
            f"{run['payroll_seconds']:8.2f} s"
        )
        print(
            f"  month (a + b + c)                  {run['seconds']:8.2f} s  "
            f"= {run['seconds'] / duck['seconds']:.1f}x DuckDB"
        )
        print(
            f"  d. one day: the last day again     {run['day_again_seconds']:8.2f} s; "
            f"the next day, new rows  {run['day_seconds']:.2f} s ({run['day_rows']} KPI rows)"
        )
        print(f"  peak resident set during a–c       {run['peak_rss_mb']:8.0f} MB")
        print(
            "  rollup parts (driver seconds; on PostgreSQL two connections count at once, "
            "so they add up to more than the wall time):"
        )
        for entry in run["rollup_parts"]:
            print(f"    {entry['seconds']:7.2f} s {entry['calls']:4d}x  {entry['part']}")
        if run.get("profile"):
            print(f"  cProfile of a–c written to {run['profile']}")
        print("  rollup statements by time spent (driver seconds, calls):")
        for entry in run["rollup_top"][:6]:
            print(f"    {entry['seconds']:7.2f} s {entry['calls']:4d}x  {entry['statement'][:110]}")
        checked = len(duck["agents"])
        if run["mismatches"]:
            print(f"  CHECK FAILED: {len(run['mismatches'])} differences from DuckDB:")
            for column, entry in by_column(run["mismatches"]).items():
                print(
                    f"    {column}: {entry['agents']} of {checked} agents differ, rolled up "
                    f"{entry['difference']:+,} in total"
                )
            for agent, column, a, b in run["mismatches"][:12]:
                print(f"    agent {agent} {column}: rolled up {a:,}, DuckDB {b:,}")
            if len(run["mismatches"]) > 12:
                print(f"    … and {len(run['mismatches']) - 12} more")
        else:
            print(f"  check: all 27 KPI columns of all {checked} agents equal DuckDB's — ok")
    export = result["export"]
    print("\nReference (the same rows, in this run)")
    print(
        f"  export from {export['source']} to Parquet: {export['seconds']:.2f} s "
        f"(CSV {export['csv_seconds']:.2f} s, to Parquet {export['parquet_seconds']:.2f} s; "
        f"{export['parquet_mb']} MB), not part of the ratio"
    )
    print(
        f"  DuckDB {duck['version']}, {duck['threads']} threads, every KPI column per agent "
        f"and day, summed for the month: {duck['seconds']:.2f} s (median of "
        f"{', '.join(f'{r:.2f}' for r in duck['runs'])} s)"
    )
    if "postgres" in result:
        scale = "" if result["scale"] == 1.0 else f"; set for scale 1.0, run at {result['scale']}"
        print(f"\nTargets on PostgreSQL{scale}")
        print(
            f"  month ≤ {TARGET_MONTH_SECONDS:.0f} s          {out['seconds']:8.2f} s   "
            f"{_met(out['meets_month_seconds'])}"
        )
        print(
            f"  month ≤ {TARGET_DUCKDB_RATIO:.0f}x DuckDB      {out['ratio_to_duckdb']:8.2f}x   "
            f"{_met(out['meets_duckdb_ratio'])}  (floor ≤ {FLOOR_DUCKDB_RATIO:.0f}x: "
            f"{_met(out['meets_duckdb_floor'])})"
        )
        again = out["day_again_seconds"]
        print(
            f"  one new day ≤ {TARGET_DAY_SECONDS:.1f} s  {out['day_seconds']:8.2f} s   "
            f"{_met(out['meets_day_seconds'])}  (the last day again: "
            f"{again:.2f} s, {_met(again <= TARGET_DAY_SECONDS)})"
        )
    if "sqlite_meets_duckdb_ratio" in out:
        print(
            f"  SQLite month ≤ {TARGET_DUCKDB_RATIO:.0f}x DuckDB "
            f"{out['sqlite_ratio_to_duckdb']:6.2f}x   {_met(out['sqlite_meets_duckdb_ratio'])}"
        )
    if "quarter_page_ms" in out:
        earlier = out["earlier_sizes"]
        print(
            f"\nThe quarter's KPI page through HTTP (xiaoer serve; the two earlier months: "
            f"{earlier['conversation']:,} conversations, {earlier['message']:,} messages, "
            f"{earlier['order']:,} orders, rolled up first in "
            f"{out['quarter_earlier_rollup_seconds']:.1f} s)"
        )
        for scope, entry in out["quarter_page_ms"].items():
            print(
                f"  {scope:6s} p50 {entry['p50_ms']:7.1f} ms  p95 {entry['p95_ms']:7.1f} ms  "
                f"({entry['bytes']:,} bytes)"
            )
        print(f"  /healthz p50 {out['quarter_healthz_p50_ms']:.1f} ms (the bare server)")
        print(
            f"  every p95 < {TARGET_QUARTER_MS:.0f} ms          "
            f"{_met(out['meets_quarter_ms'])}"
        )
    print(
        f"\npeak resident set of the whole run (generation included): {out['peak_rss_mb']:.0f} MB"
    )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 300,000 conversations")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres", "postgresql", "both"),
        default="both",
        help="where to measure",
    )
    parser.add_argument("--month", default=DEFAULT_MONTH, help="YYYY-MM")
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (admin) URL")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--quarter",
        action="store_true",
        help="also write the quarter's earlier months and time its KPI page through HTTP",
    )
    parser.add_argument(
        "--requests", type=int, default=20, help="measured requests per scope of the quarter"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="write a cProfile of (a)–(c) per database to FILE.<database>.prof",
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the databases (the SQLite file in DIR) to look into"
    )
    args = parser.parse_args(argv)
    if args.database == "postgresql":
        args.database = "postgres"
    if not 0 < args.scale <= 10:
        parser.error("--scale must be more than 0 and at most 10")
    if args.agents < 2:
        parser.error("--agents must be at least 2")
    return args


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="kpi_bench_") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    figures = report(result)
    if args.json:
        slim = {k: v for k, v in figures.items() if not k.endswith("_top_statements")}
        slim["top_statements"] = {
            k.removesuffix("_top_statements"): v
            for k, v in figures.items()
            if k.endswith("_top_statements")
        }
        print(json.dumps(slim, ensure_ascii=False))
    if not figures["ok"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
