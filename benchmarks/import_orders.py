"""Importing a Taobao seller-centre export: 1,000,000 orders into SQLite and PostgreSQL.

Generates an order list of ``--orders`` orders and its item list (1–3 items an order)
in the real format: GB18030 CSV with the seller centre's full header, ``="…"`` order
numbers, multi-line buyer messages and the other quirks (``benchmarks.order_exports``).
Generation is timed on its own and is not part of any import figure.

Each database gets a fresh, migrated scratch database and a shop, then a child process
of its own runs ``import_orders`` on the pair twice: the first import (every row new)
and a re-import of the unchanged files (every row unchanged). Only the
``import_orders`` call is timed (wall seconds). rows/s = order rows read / seconds;
item rows/s = item rows read / the same seconds. Peak memory is the child's VmHWM
(peak resident set, /proc/self/status), reset between the two imports, so it is the
import's own: interpreter, xiaoer and the database driver included, the parent's
generation and references not. The first import must create every order and item
and reject none, the re-import must find every one unchanged: a run where that does
not hold is reported as a failure (exit 1), never as a speed.

References, measured in the same run on the same files:

* DuckDB ``read_csv`` of both files, every column VARCHAR, counting rows and summing
  the length of every column so that every cell is parsed. DuckDB reads only UTF-8,
  UTF-16 and Latin-1 (GB18030 needs its ``encodings`` extension, which is downloaded
  from DuckDB's own server and so is used only when already installed); otherwise it
  reads a UTF-8 copy of each file, written beforehand and not timed, and the output
  says so. DuckDB uses all its threads.
* PostgreSQL ``COPY … FROM STDIN WITH (FORMAT csv, HEADER true, ENCODING 'GB18030')``
  of both files into bare tables (one text column per header column, no key, no
  index) in the same scratch database, sent by asyncpg's ``copy_to_table`` (the
  client streams the file, as psql's ``\\copy`` does).

Targets on PostgreSQL (for 1,000,000 orders): ≥ 20,000 rows/s, peak memory < 500 MB,
within 5× of COPY, re-import ≥ 50,000 rows/s. The orders are from March 2024 and are
imported as of now, so none is still in motion and none starts the order workflow.

    python benchmarks/import_orders.py                        # the target run, both databases
    python benchmarks/import_orders.py --quick                # 50,000 orders
    python benchmarks/import_orders.py --database postgresql --keep /tmp/orders-bench
    python benchmarks/import_orders.py --json                 # last line: one JSON object
    python benchmarks/import_orders.py --quick --profile prof.svg   # py-spy flame graph

Each import also prints its phases, from ``import_orders(phases=…)``: the seconds spent
reading the file (waiting for the reader), reading order numbers and fingerprints
(digest), parsing, checking against the database (lookups, buyers, ids), staging new
orders, writing them (a window at a time), statistics (analyze), and the same for the
item list. Phases run beside each other (the database writes while the next chunk is
read), so they add up to more than the import's seconds. It also prints the CPU
seconds of the import's process and of the database server (PostgreSQL's processes on
this machine) over the first import, and how busy the machine's cores were: with both
near their sum, the import is bound by work, not by waiting.

Only 127.0.0.1 is contacted. PostgreSQL: a database ``xiaoer_bench_<pid>_<random>`` is
created on ``--pg-url`` and dropped at the end; SQLite: a file in a temporary folder.
``--keep DIR`` keeps the generated files (and the UTF-8 copies) in DIR and reuses
them in later runs with the same ``--orders``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_ORDERS = 1_000_000
QUICK_ORDERS = 50_000
SEED = 0
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

TARGET_ROWS_PER_S = 20_000
TARGET_PEAK_MB = 500
TARGET_COPY_RATIO = 5.0
TARGET_REIMPORT_ROWS_PER_S = 50_000

MIGRATE = "import sys; from xiaoer.core.migrate import upgrade; upgrade(sys.argv[1])"


def _say(text: str) -> None:
    """Progress, on standard error: the figures on standard output stay clean."""
    print(text, file=sys.stderr, flush=True)


# --- the child: one database, two imports ------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _postgres_cpu() -> float | None:
    """CPU seconds of this machine's PostgreSQL processes so far (their exited children
    counted through their parents), or None when none can be read."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().startswith("postgres"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found = True
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / tick if found else None


def _machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values) - idle) / tick, sum(values) / tick


def _reset_peak() -> bool:
    """Set VmHWM back to the current resident size (Linux: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


_PARSE = "XIAOER_BENCH_PARSE"


async def _child(url: str, order_list: Path, item_list: Path) -> dict[str, Any]:
    import xiaoer.all_models  # noqa: F401  (every table registered, as the CLI does)
    from xiaoer.core.db import Database
    from xiaoer.sellercentre.ingest import import_orders
    from xiaoer.shops.service import do_create_shop

    db = Database(url)
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code="bench", name="压测家居旗舰店")
            await session.commit()
            shop_id = shop.id
        figures: dict[str, Any] = {"startup_mb": _status_kb("VmRSS") / 1024}
        for name in ("first", "again"):
            reset = _reset_peak()
            phases: dict[str, float] = {}

            def progress(
                phase: str, _done: int, _total: int, into: dict[str, float] = phases
            ) -> None:
                into[phase] = time.perf_counter()  # when the phase's latest chunk ended

            spent: dict[str, float] = {}
            server = _postgres_cpu() if db.dialect == "postgresql" else None
            busy, every = _machine_cpu()
            cpu = time.process_time()
            started = time.perf_counter()
            apart = {"process": True, "thread": False}.get(os.environ.get(_PARSE, "auto"))
            result = await import_orders(
                db, shop_id, order_list, item_list, progress=progress, phases=spent, apart=apart
            )
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            after = _postgres_cpu() if server is not None else None
            busy_after, every_after = _machine_cpu()
            orders_done = phases.get("orders", started)
            figures[name] = figure = {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "db_cpu_seconds": None if after is None or server is None else after - server,
                "machine_busy": (busy_after - busy) / max(1e-9, every_after - every),
                "cores": os.cpu_count(),
                "orders_phase_seconds": orders_done - started,
                "items_phase_seconds": seconds - (orders_done - started),
                # The processes that parsed the files (large ones) count apart.
                "parse_cpu_seconds": sum(cpu for cpu, _mb in result.parsing.values()),
                "import_peak_mb": _status_kb("VmHWM") / 1024,
                "parse_peak_mb": sum(mb for _cpu, mb in result.parsing.values()),
                "peak_reset": reset,
                "phases": spent,
                "summary": result.summary(),
                "messages": result.messages[:5],
            }
            # Memory in all: the import's own peak and the parsing processes' (which run
            # beside it) added up.
            figure["peak_mb"] = figure["import_peak_mb"] + figure["parse_peak_mb"]
    finally:
        await db.dispose()
    return figures


def run_child(
    url: str, order_list: Path, item_list: Path, profile: Path | None = None
) -> dict[str, Any]:
    """This script again, in ``--child`` mode: the import's own process.

    With ``profile``, py-spy records the child and the processes it starts (a flame
    graph, ``.svg``, speedscope JSON, ``.json``, or collapsed stacks, ``.txt``); a
    ``.prof`` / ``.pstats`` name gets a cProfile of the child's main thread instead
    (the two imports, one after the other).
    """
    command = [sys.executable, __file__, "--child", url, str(order_list), str(item_list)]
    if profile is not None and profile.suffix in (".prof", ".pstats"):
        command += ["--cprofile", str(profile)]
    elif profile is not None:
        spy = Path(sys.executable).with_name("py-spy")
        form = {".json": "speedscope", ".txt": "raw"}.get(profile.suffix, "flamegraph")
        command = [
            str(spy), "record", "--subprocesses", "--rate", "200", "--format", form,
            "--output", str(profile), "--", *command,
        ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"the import process exited with {done.returncode}:\n{done.stderr[-4000:]}"
        )
    # The figures are the last JSON line (py-spy writes its own lines after it).
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


# --- files ---------------------------------------------------------------------------


def generate(folder: Path, orders: int) -> tuple[Path, Path, float | None]:
    """The export pair in ``folder`` and the seconds it took; None when reused."""
    from benchmarks.order_exports import write_sample_export

    marker = folder / "complete.json"
    if marker.is_file():
        done = json.loads(marker.read_text())
        order_list, item_list = Path(done["order_list"]), Path(done["item_list"])
        if done.get("orders") == orders and order_list.is_file() and item_list.is_file():
            return order_list, item_list, None
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    order_list, item_list = write_sample_export(folder, orders, SEED, encoding="gb18030")
    seconds = time.perf_counter() - started
    marker.write_text(
        json.dumps({"orders": orders, "order_list": str(order_list), "item_list": str(item_list)})
    )
    return order_list, item_list, seconds


def utf8_copy(path: Path) -> Path:
    """``path`` re-encoded from GB18030 to UTF-8 beside it (kept when already there)."""
    target = path.with_name(path.stem + ".utf8.csv")
    if target.is_file() and target.stat().st_mtime >= path.stat().st_mtime:
        return target
    partial = target.with_name(target.name + ".part")
    with (
        path.open(encoding="gb18030", newline="") as source,
        partial.open("w", encoding="utf-8", newline="") as out,
    ):
        while chunk := source.read(1 << 22):
            out.write(chunk)
    partial.replace(target)
    return target


def header_width(path: Path) -> int:
    """How many columns the file's header line has."""
    import csv

    with path.open(encoding="gb18030", newline="") as file:
        return len(next(csv.reader(file)))


# --- references ----------------------------------------------------------------------


def duckdb_reference(order_list: Path, item_list: Path) -> dict[str, Any]:
    """DuckDB reading both files, every cell parsed; GB18030 itself when it can."""
    import duckdb

    connection = duckdb.connect()
    native = False
    with contextlib.suppress(duckdb.Error):
        connection.execute("LOAD encodings")  # only if installed: no download here
        native = True
    files = [(order_list, "gb18030"), (item_list, "gb18030")]
    if not native:
        files = [(utf8_copy(order_list), "utf-8"), (utf8_copy(item_list), "utf-8")]
    threads = connection.execute("SELECT current_setting('threads')").fetchone()
    rows: list[int] = []
    started = time.perf_counter()
    for path, encoding in files:
        query = (
            "SELECT count(*), sum(length(COLUMNS(*))) FROM read_csv(?, header = true, "
            "all_varchar = true, delim = ',', quote = '\"', escape = '\"', encoding = ?)"
        )
        found = connection.execute(query, [str(path), encoding]).fetchone()
        assert found is not None
        rows.append(int(found[0]))
    seconds = time.perf_counter() - started
    connection.close()
    return {
        "seconds": seconds,
        "order_rows": rows[0],
        "item_rows": rows[1],
        "encoding": "gb18030" if native else "utf-8 copy",
        "threads": int(threads[0]) if threads else None,
        "version": duckdb.__version__,
    }


def _database_url(server_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def _pg_execute(url: str, *statements: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def copy_reference(url: str, order_list: Path, item_list: Path) -> dict[str, Any]:
    """COPY of both files into bare text tables of the scratch database, timed."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        tables = [("bench_copy_orders", order_list), ("bench_copy_items", item_list)]
        for table, path in tables:
            columns = ", ".join(f"c{i} text" for i in range(header_width(path)))
            await connection.execute(f"CREATE TABLE {table} ({columns})")
        await connection.execute("CHECKPOINT")
        rows: list[int] = []
        started = time.perf_counter()
        for table, path in tables:
            status = await connection.copy_to_table(
                table, source=str(path), format="csv", header=True, encoding="GB18030"
            )
            rows.append(int(status.split()[-1]))
        seconds = time.perf_counter() - started
        for table, _ in tables:  # the imports that follow get the server to themselves
            await connection.execute(f"DROP TABLE {table}")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()
    return {"seconds": seconds, "order_rows": rows[0], "item_rows": rows[1]}


# --- one database --------------------------------------------------------------------


def migrate(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", MIGRATE, url], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrating {url} failed:\n{done.stderr[-4000:]}")


def check(orders: int, run: dict[str, Any]) -> list[str]:
    """What the two imports did wrong, if anything: every row new, then unchanged."""
    problems: list[str] = []
    first, again = run["first"]["summary"], run["again"]["summary"]
    items = first["items"]["read"]
    want_first = {"read": orders, "created": orders, "updated": 0, "unchanged": 0, "rejected": 0}
    want_again = {"read": orders, "created": 0, "updated": 0, "unchanged": orders, "rejected": 0}
    want_items = {"read": items, "created": items, "updated": 0, "unchanged": 0, "rejected": 0}
    want_items_again = {**want_items, "created": 0, "unchanged": items}
    for label, got, want in (
        ("first import, orders", first, want_first),
        ("first import, items", first["items"], want_items),
        ("re-import, orders", again, want_again),
        ("re-import, items", again["items"], want_items_again),
    ):
        got_counts = {key: got[key] for key in want}
        if got_counts != want:
            problems.append(f"{label}: {got_counts}, expected {want}")
    if items == 0:
        problems.append("first import: no item rows read")
    for name in ("first", "again"):
        problems.extend(f"{name}: rejected {m}" for m in run[name]["messages"])
    return problems


def bench_database(
    kind: str,
    orders: int,
    order_list: Path,
    item_list: Path,
    folder: Path,
    pg_url: str,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Migrate a scratch database, COPY into it (PostgreSQL), and import twice."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'bench-{secrets.token_hex(3)}.sqlite'}"
        migrate(url)
        try:
            return {"import": run_child(url, order_list, item_list, profile)}
        finally:
            for leftover in folder.glob("bench-*.sqlite*"):
                leftover.unlink()
    name = f"xiaoer_bench_{os.getpid()}_{secrets.token_hex(3)}"
    url = _database_url(pg_url, name)
    asyncio.run(_pg_execute(pg_url, f'CREATE DATABASE "{name}"'))
    try:
        migrate(url)
        _say("  PostgreSQL COPY (reference) …")
        copy = asyncio.run(copy_reference(url, order_list, item_list))
        _say("  importing twice …")
        return {"import": run_child(url, order_list, item_list, profile), "copy": copy}
    finally:
        asyncio.run(_pg_execute(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the report ----------------------------------------------------------------------


def _per_s(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def _mb(path: Path) -> float:
    return path.stat().st_size / 1e6


# The import's phases (``import_orders(phases=…)``) in the order they are printed.
PHASE_ORDER = (
    "read", "digest", "parse", "check", "stage", "wait", "write", "analyze",
    "items read", "items check", "items wait", "items write",
)  # fmt: skip


def _phases_text(phases: dict[str, float]) -> str:
    names = [p for p in PHASE_ORDER if p in phases] + sorted(set(phases) - set(PHASE_ORDER))
    return ", ".join(f"{name} {phases[name]:.1f}" for name in names) or "none reported"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def figures_of(
    orders: int, results: dict[str, dict[str, Any]], duck: dict[str, Any]
) -> dict[str, Any]:
    """The flat figures: ``sqlite_…`` and ``pg_…`` per database, the references, targets."""
    out: dict[str, Any] = {"orders": orders}
    for kind, prefix in (("sqlite", "sqlite"), ("postgresql", "pg")):
        if kind not in results:
            continue
        run = results[kind]["import"]
        first, again = run["first"], run["again"]
        items = first["summary"]["items"]["read"]
        out["items"] = items
        out[f"{prefix}_seconds"] = round(first["seconds"], 3)
        out[f"{prefix}_rows_per_s"] = round(_per_s(orders, first["seconds"]))
        out[f"{prefix}_item_rows_per_s"] = round(_per_s(items, first["seconds"]))
        out[f"{prefix}_orders_phase_seconds"] = round(first["orders_phase_seconds"], 3)
        out[f"{prefix}_items_phase_seconds"] = round(first["items_phase_seconds"], 3)
        out[f"{prefix}_cpu_seconds"] = round(first["cpu_seconds"], 3)
        out[f"{prefix}_parse_cpu_seconds"] = round(first.get("parse_cpu_seconds", 0.0), 3)
        out[f"{prefix}_reimport_parse_cpu_seconds"] = round(
            again.get("parse_cpu_seconds", 0.0), 3
        )
        db_cpu = first.get("db_cpu_seconds")
        out[f"{prefix}_db_cpu_seconds"] = None if db_cpu is None else round(db_cpu, 3)
        out[f"{prefix}_machine_busy"] = round(first.get("machine_busy", 0.0), 3)
        out["cores"] = first.get("cores")
        out[f"{prefix}_reimport_seconds"] = round(again["seconds"], 3)
        out[f"{prefix}_reimport_rows_per_s"] = round(_per_s(orders, again["seconds"]))
        out[f"{prefix}_reimport_item_rows_per_s"] = round(_per_s(items, again["seconds"]))
        out[f"{prefix}_reimport_cpu_seconds"] = round(again["cpu_seconds"], 3)
        out[f"{prefix}_peak_mb"] = round(max(first["peak_mb"], again["peak_mb"]), 1)
        out[f"{prefix}_first_peak_mb"] = round(first["peak_mb"], 1)
        out[f"{prefix}_reimport_peak_mb"] = round(again["peak_mb"], 1)
        for when, figure in (("first", first), ("reimport", again)):
            out[f"{prefix}_{when}_import_peak_mb"] = round(figure.get("import_peak_mb", 0), 1)
            out[f"{prefix}_{when}_parse_peak_mb"] = round(figure.get("parse_peak_mb", 0), 1)
        out[f"{prefix}_startup_mb"] = round(run["startup_mb"], 1)
        out[f"{prefix}_phases"] = {k: round(v, 3) for k, v in first.get("phases", {}).items()}
        out[f"{prefix}_reimport_phases"] = {
            k: round(v, 3) for k, v in again.get("phases", {}).items()
        }
        out[f"{prefix}_ratio_to_duckdb"] = round(first["seconds"] / duck["seconds"], 1)
    out["duckdb_seconds"] = round(duck["seconds"], 3)
    out["duckdb_encoding"] = duck["encoding"]
    out["duckdb_threads"] = duck["threads"]
    out["ratio_to_duckdb"] = out.get("pg_ratio_to_duckdb")
    copy = results.get("postgresql", {}).get("copy")
    out["copy_seconds"] = round(copy["seconds"], 3) if copy else None
    out["copy_rows_per_s"] = round(_per_s(orders, copy["seconds"])) if copy else None
    out["ratio_to_copy"] = round(out["pg_seconds"] / copy["seconds"], 2) if copy else None
    if "postgresql" in results:
        out["meets_rows_per_s"] = out["pg_rows_per_s"] >= TARGET_ROWS_PER_S
        out["meets_peak_memory"] = out["pg_peak_mb"] < TARGET_PEAK_MB
        out["meets_copy_ratio"] = out["ratio_to_copy"] <= TARGET_COPY_RATIO
        out["meets_reimport_rows_per_s"] = (
            out["pg_reimport_rows_per_s"] >= TARGET_REIMPORT_ROWS_PER_S
        )
        out["meets_all"] = all(
            out[key]
            for key in (
                "meets_rows_per_s",
                "meets_peak_memory",
                "meets_copy_ratio",
                "meets_reimport_rows_per_s",
            )
        )
    return out


def report(
    orders: int,
    files: tuple[Path, Path],
    generated: float | None,
    results: dict[str, dict[str, Any]],
    duck: dict[str, Any],
) -> dict[str, Any]:
    out = figures_of(orders, results, duck)
    order_list, item_list = files
    print(
        f"{orders:,} orders, {out['items']:,} item rows: order list {_mb(order_list):.1f} MB, "
        f"item list {_mb(item_list):.1f} MB, GB18030 CSV"
    )
    if generated is None:
        print(f"files reused from {order_list.parent}")
    else:
        print(f"generated in {generated:.1f} s (not part of any figure below)")
        out["generate_seconds"] = round(generated, 3)
    for kind, prefix, title in (("sqlite", "sqlite", "SQLite"), ("postgresql", "pg", "PostgreSQL")):
        if kind not in results:
            continue
        print(f"\n{title} (files parsed: {os.environ.get(_PARSE, 'auto')})")
        print(
            f"  first import  {out[f'{prefix}_seconds']:8.2f} s  "
            f"{out[f'{prefix}_rows_per_s']:>9,} orders/s  "
            f"{out[f'{prefix}_item_rows_per_s']:>9,} item rows/s   "
            f"(order list {out[f'{prefix}_orders_phase_seconds']:.1f} s, item list "
            f"{out[f'{prefix}_items_phase_seconds']:.1f} s; import process CPU "
            f"{out[f'{prefix}_cpu_seconds']:.1f} s)"
        )
        db_cpu = out[f"{prefix}_db_cpu_seconds"]
        print(
            f"  CPU, first import: import process {out[f'{prefix}_cpu_seconds']:.1f} s, "
            f"parsing processes {out[f'{prefix}_parse_cpu_seconds']:.1f} s, "
            + ("" if db_cpu is None else f"database server {db_cpu:.1f} s, ")
            + f"the machine's {out['cores']} cores busy "
            f"{100 * out[f'{prefix}_machine_busy']:.0f} % of the time"
        )
        print(
            f"  re-import     {out[f'{prefix}_reimport_seconds']:8.2f} s  "
            f"{out[f'{prefix}_reimport_rows_per_s']:>9,} orders/s  "
            f"{out[f'{prefix}_reimport_item_rows_per_s']:>9,} item rows/s   "
            f"(import process CPU {out[f'{prefix}_reimport_cpu_seconds']:.1f} s, parsing "
            f"processes {out[f'{prefix}_reimport_parse_cpu_seconds']:.1f} s)"
        )
        print(
            f"  peak memory   {out[f'{prefix}_first_peak_mb']:.0f} MB first import, "
            f"{out[f'{prefix}_reimport_peak_mb']:.0f} MB re-import "
            f"({out[f'{prefix}_startup_mb']:.0f} MB resident before importing); import "
            f"process + parsing processes: {out[f'{prefix}_first_import_peak_mb']:.0f} + "
            f"{out[f'{prefix}_first_parse_peak_mb']:.0f} MB first, "
            f"{out[f'{prefix}_reimport_import_peak_mb']:.0f} + "
            f"{out[f'{prefix}_reimport_parse_peak_mb']:.0f} MB re-import"
        )
        for label, key in (("first import", "phases"), ("re-import", "reimport_phases")):
            print(f"  phases, {label} (seconds; phases beside each other overlap):")
            print(f"    {_phases_text(out[f'{prefix}_{key}'])}")
        print(
            f"  counts        first: {orders:,} orders and {out['items']:,} items created, "
            f"none rejected; re-import: all unchanged — ok"
        )
    print("\nReferences (the same files, in this run)")
    how = (
        "GB18030 read directly"
        if duck["encoding"] == "gb18030"
        else "on a UTF-8 copy written beforehand, not timed: DuckDB reads no GB18030"
    )
    print(
        f"  DuckDB {duck['version']} read_csv, all VARCHAR, every cell parsed, "
        f"{duck['threads']} threads, {how}: {duck['seconds']:.2f} s "
        f"({_per_s(orders, duck['seconds']):,.0f} orders/s)"
    )
    copy = results.get("postgresql", {}).get("copy")
    if copy:
        print(
            "  PostgreSQL COPY FROM STDIN (csv, header, ENCODING 'GB18030'; asyncpg "
            f"copy_to_table) into bare text tables: {copy['seconds']:.2f} s "
            f"({out['copy_rows_per_s']:,} orders/s)"
        )
    ratios = []
    if copy:
        ratios.append(f"PostgreSQL import / COPY {out['ratio_to_copy']:.2f}x")
    if "pg_ratio_to_duckdb" in out:
        ratios.append(f"PostgreSQL import / DuckDB {out['pg_ratio_to_duckdb']:.1f}x")
    if "sqlite_ratio_to_duckdb" in out:
        ratios.append(f"SQLite import / DuckDB {out['sqlite_ratio_to_duckdb']:.1f}x")
    print("  ratios: " + "; ".join(ratios))
    if "postgresql" in results:
        scale = (
            "" if orders == DEFAULT_ORDERS else f"; set for {DEFAULT_ORDERS:,}, run at {orders:,}"
        )
        print(f"\nTargets on PostgreSQL{scale}")
        print(
            f"  ≥ {TARGET_ROWS_PER_S:,} rows/s           {out['pg_rows_per_s']:>9,}    "
            f"{_met(out['meets_rows_per_s'])}"
        )
        print(
            f"  peak memory < {TARGET_PEAK_MB} MB       {out['pg_peak_mb']:>9.0f} MB "
            f"{_met(out['meets_peak_memory'])}"
        )
        print(
            f"  within {TARGET_COPY_RATIO:.0f}x of COPY        {out['ratio_to_copy']:>9.2f}x   "
            f"{_met(out['meets_copy_ratio'])}"
        )
        print(
            f"  re-import ≥ {TARGET_REIMPORT_ROWS_PER_S:,} rows/s "
            f"{out['pg_reimport_rows_per_s']:>9,}    "
            f"{_met(out['meets_reimport_rows_per_s'])}"
        )
    return out


# --- main ----------------------------------------------------------------------------


@contextlib.contextmanager
def _work_folder(keep: str | None, orders: int) -> Iterator[tuple[Path, Path]]:
    """(where the files go, where scratch databases go)."""
    with tempfile.TemporaryDirectory(prefix="import_orders_") as tmp:
        scratch = Path(tmp)
        files = Path(keep) / f"orders-{orders}-seed{SEED}" if keep else scratch / "files"
        yield files, scratch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS, help="orders to generate")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ORDERS:,} orders")
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql", "both"), default="both", help="where to"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (admin) URL")
    parser.add_argument("--keep", metavar="DIR", help="keep the generated files in DIR, reuse them")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        type=Path,
        help="profile the import process: py-spy flame graph (.svg), speedscope (.json) or "
        "collapsed stacks (.txt) of it and its helpers, or a cProfile of its main thread (.prof)",
    )
    parser.add_argument(
        "--parse",
        choices=("auto", "process", "thread"),
        default="auto",
        help="where the files are parsed: a process of their own, a worker thread of the "
        "import, or as the import decides by their size (the default)",
    )
    parser.add_argument("--cprofile", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument(
        "--child", nargs=3, metavar=("URL", "LIST", "ITEMS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.orders = QUICK_ORDERS
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if args.child:
        url, order_list, item_list = args.child
        if args.cprofile:
            import cProfile

            with cProfile.Profile() as profiler:
                figures = asyncio.run(_child(url, Path(order_list), Path(item_list)))
            profiler.dump_stats(args.cprofile)
        else:
            figures = asyncio.run(_child(url, Path(order_list), Path(item_list)))
        print(json.dumps(figures, ensure_ascii=False))
        return
    os.environ[_PARSE] = args.parse  # read by the import's process (``--child``)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    with _work_folder(args.keep, args.orders) as (folder, scratch):
        _say(f"export files for {args.orders:,} orders in {folder} (generated if not there) …")
        order_list, item_list, generated = generate(folder, args.orders)
        _say("DuckDB (reference) …")
        duck = duckdb_reference(order_list, item_list)
        for kind in kinds:
            _say(f"{kind} …")
            profile = args.profile
            if profile is not None and len(kinds) > 1:
                profile = profile.with_name(f"{profile.stem}-{kind}{profile.suffix}")
            result = bench_database(
                kind, args.orders, order_list, item_list, scratch, args.pg_url, profile
            )
            results[kind] = result
            problems.extend(f"{kind}: {p}" for p in check(args.orders, result["import"]))
            copy = result.get("copy")
            if copy and copy["order_rows"] != args.orders:
                problems.append(f"COPY read {copy['order_rows']:,} order rows")
            item_rows = result["import"]["first"]["summary"]["items"]["read"]
            if copy and copy["item_rows"] != item_rows:
                problems.append(
                    f"COPY read {copy['item_rows']:,} item rows, the import {item_rows:,}"
                )
        if duck["order_rows"] != args.orders:
            problems.append(f"DuckDB read {duck['order_rows']:,} order rows")
        if results and not problems:
            item_rows = next(iter(results.values()))["import"]["first"]["summary"]["items"]
            if duck["item_rows"] != item_rows["read"]:
                problems.append(f"DuckDB read {duck['item_rows']:,} item rows")
        if problems:
            print("FAILED: the imports did not do what they must, so no speed is reported")
            for problem in problems:
                print(f"  {problem}")
            if args.json:
                print(json.dumps({"orders": args.orders, "ok": False, "problems": problems}))
            raise SystemExit(1)
        figures = report(args.orders, (order_list, item_list), generated, results, duck)
    figures["ok"] = True
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
