"""Importing a seller-centre refund report (退款报表): 100,000 refunds.

A fresh, migrated scratch database gets a shop and a sample order export (orders
enough that ``--rows`` of them are paid), imported with ``import_orders`` and not
timed. A refund report with one refund per paid order (``benchmarks.aftersales_exports``:
GB18030 CSV, the full header, ``="…"`` ids) is then imported with ``import_refunds``
twice: the first import (every row new) and a re-import of the same file (every row
unchanged). Only the ``import_refunds`` calls are timed (wall seconds); rows/s = rows
read / seconds. A run in which the first import does not create every row, or the
re-import does not find every row unchanged, is a failure (exit 1), not a speed.

Reference, in the same run on the same file: PostgreSQL ``COPY … FROM STDIN WITH
(FORMAT csv, HEADER true, ENCODING 'GB18030')`` into a bare table (one text column per
header column, no key) by asyncpg's ``copy_to_table``; on SQLite, the file read by the
``csv`` module and every row inserted into a bare table by one ``executemany``.

Target on PostgreSQL: ≥ 10,000 rows/s for the first import.

    python benchmarks/aftersales_import.py                      # PostgreSQL, 100,000 rows
    python benchmarks/aftersales_import.py --database sqlite
    python benchmarks/aftersales_import.py --rows 20000 --json  # last line: one JSON object
    python benchmarks/aftersales_import.py --profile out.prof   # cProfile of the first import
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import itertools
import json
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script too

from benchmarks.aftersales_exports import REFUND_HEADER, sample_refunds, write_report
from benchmarks.import_orders import (
    DEFAULT_PG_URL,
    _database_url,
    _pg_execute,
    header_width,
    migrate,
)
from benchmarks.order_exports import write_sample_export

DEFAULT_ROWS = 100_000
TARGET_ROWS_PER_S = 10_000


async def _prepare(url: str, folder: Path, rows: int) -> tuple[int, Path]:
    """A shop with its orders imported; the refund report of ``rows`` of them."""
    from sqlalchemy import select

    from xiaoer.core.db import Database
    from xiaoer.orders.models import Order
    from xiaoer.sellercentre.ingest import import_orders
    from xiaoer.shops.service import do_create_shop

    db = Database(url)
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code="bench", name="压测茶叶旗舰店")
            await session.commit()
            shop_id = shop.id
        order_list, item_list = write_sample_export(folder, rows * 5 // 4, seed=1, quirks=False)
        await import_orders(db, shop_id, order_list, item_list)
        async with db.session() as session:
            paid = list(
                await session.execute(
                    select(Order.platform_order_id, Order.paid_fen)
                    .where(Order.shop_id == shop_id, Order.paid_fen > 0)
                    .order_by(Order.id)
                )
            )
    finally:
        await db.dispose()
    if len(paid) < rows:
        raise RuntimeError(f"only {len(paid)} paid orders for {rows} refunds")
    refunds = itertools.islice(sample_refunds(((p, f) for p, f in paid), seed=3), rows)
    report = write_report(folder / "退款报表.csv", REFUND_HEADER, refunds)
    return shop_id, report


async def _import(url: str, shop_id: int, report: Path, profile: str | None) -> dict[str, Any]:
    from xiaoer.aftersales.refund_import import import_refunds
    from xiaoer.core.db import Database

    db = Database(url)
    runs: list[dict[str, Any]] = []
    try:
        for number in range(2):
            profiler = cProfile.Profile() if profile and number == 0 else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            result = await import_refunds(db, shop_id, report)
            seconds = time.perf_counter() - started
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
            runs.append({"seconds": seconds, **result.summary()})
    finally:
        await db.dispose()
    return {"first": runs[0], "again": runs[1]}


async def _copy_postgres(url: str, report: Path) -> dict[str, Any]:
    import asyncpg  # type: ignore[import-untyped]

    columns = ", ".join(f"c{i} text" for i in range(header_width(report)))
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"CREATE TABLE bench_copy_refunds ({columns})")
        started = time.perf_counter()
        status = await connection.copy_to_table(
            "bench_copy_refunds", source=str(report), format="csv", header=True, encoding="GB18030"
        )
        seconds = time.perf_counter() - started
        await connection.execute("DROP TABLE bench_copy_refunds")
    finally:
        await connection.close()
    return {"seconds": seconds, "rows": int(status.split()[-1]), "how": "COPY (asyncpg)"}


def _copy_sqlite(path: Path, report: Path) -> dict[str, Any]:
    width = header_width(report)
    connection = sqlite3.connect(path)
    try:
        columns = ", ".join(f"c{i} text" for i in range(width))
        connection.execute(f"CREATE TABLE bench_copy_refunds ({columns})")
        marks = ", ".join("?" * width)
        started = time.perf_counter()
        with report.open(encoding="gb18030", newline="") as source:
            rows = csv.reader(source)
            next(rows)
            cursor = connection.executemany(
                f"INSERT INTO bench_copy_refunds VALUES ({marks})", rows
            )
        connection.commit()
        seconds = time.perf_counter() - started
        count = cursor.rowcount
        connection.execute("DROP TABLE bench_copy_refunds")
    finally:
        connection.close()
    return {"seconds": seconds, "rows": count, "how": "csv + executemany (sqlite3)"}


def run(database: str, rows: int, pg_url: str, profile: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xiaoer-refunds-") as tmp:
        folder = Path(tmp)
        if database == "postgresql":
            name = f"xiaoer_bench_refunds_{secrets.token_hex(4)}"
            asyncio.run(_pg_execute(pg_url, f'CREATE DATABASE "{name}"'))
            url = _database_url(pg_url, name)
        else:
            url = f"sqlite:///{folder / 'bench.sqlite'}"
        try:
            migrate(url)
            shop_id, report = asyncio.run(_prepare(url, folder, rows))
            imports = asyncio.run(_import(url, shop_id, report, profile))
            if database == "postgresql":
                copy = asyncio.run(_copy_postgres(url, report))
            else:
                copy = _copy_sqlite(folder / "bench.sqlite", report)
        finally:
            if database == "postgresql":
                drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                asyncio.run(_pg_execute(pg_url, drop))
    first, again = imports["first"], imports["again"]
    failures = []
    if (first["created"], first["rejected"]) != (rows, 0):
        failures.append(f"the first import created {first['created']} of {rows} rows")
    if again["unchanged"] != rows:
        failures.append(f"the re-import found {again['unchanged']} of {rows} rows unchanged")
    per_s = first["read"] / first["seconds"]
    return {
        "database": database,
        "rows": rows,
        "import_seconds": round(first["seconds"], 3),
        "rows_per_s": round(per_s),
        "reimport_seconds": round(again["seconds"], 3),
        "reimport_rows_per_s": round(again["read"] / again["seconds"]),
        "reference": copy["how"],
        "reference_seconds": round(copy["seconds"], 3),
        "reference_rows_per_s": round(copy["rows"] / copy["seconds"]),
        "times_reference": round(first["seconds"] / copy["seconds"], 1),
        "target_rows_per_s": TARGET_ROWS_PER_S if database == "postgresql" else None,
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="refunds in the report")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (admin) URL")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the first import into FILE")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    figures = run(args.database, args.rows, args.pg_url, args.profile)
    print(
        f"{figures['database']}: {figures['rows']:,} refund rows imported in "
        f"{figures['import_seconds']:.2f} s = {figures['rows_per_s']:,} rows/s; re-import "
        f"{figures['reimport_rows_per_s']:,} rows/s; {figures['reference']} of the same rows "
        f"{figures['reference_rows_per_s']:,} rows/s: the import takes "
        f"{figures['times_reference']}× as long"
    )
    if figures["target_rows_per_s"]:
        met = figures["rows_per_s"] >= figures["target_rows_per_s"]
        print(f"target ≥ {figures['target_rows_per_s']:,} rows/s: {'met' if met else 'NOT met'}")
    for failure in figures["failures"]:
        print(f"FAILED: {failure}")
    if args.json:
        print(json.dumps(figures))
    if figures["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
