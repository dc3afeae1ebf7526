"""The stock ledger under load: concurrent orders reserved and shipped, never oversold.

A scratch PostgreSQL database is migrated with the product's migrations and filled in
SQL (``generate_series``; not timed as the product): one shop, ``--skus`` SKUs (default
10,000) at one sellable location, and ``--moves`` ledger moves (default 1,000,000):
each SKU received once, then reserved and shipped one unit at a time, in turns.
``--hot`` SKUs (default 20) are received with little stock, so the run refuses orders
for them. The projections (``stock_level``, ``sku.stock``) are then built by the
product's ``stock rebuild``, and ``VACUUM ANALYZE`` follows, as autovacuum would.

Then ``--clients`` clients (default 8; each an asyncio task with its own connection,
spread over ``--processes`` processes, default 2: one per core of a small server) for
``--seconds`` each place orders of 1–3 lines (1–2 units; one line in twenty of a
hot SKU, ``--hot-share``) through :func:`xiaoer.fulfilment.ledger.post`, the calls the
audit and shipping services make: ``reserve`` with document kind ``order``, committed,
then ``ship`` with document kind ``shipment``, committed. A receiving client restocks
the hot SKUs one unit each every second, so they stay contended and sold out by turns.
Printed: orders/s, p50/p99 latency of an order (reserve and ship), refusals; then
oversold (levels with reserved > on hand or on hand < 0) and whether the ledger's sums
equal the projections (a ``rebuild --check``). Targets: ≥ 200 orders/s, zero oversold and
negative, no drift.

Last, ``stock rebuild`` (every shop, as the command runs it) is timed against a plain
``SELECT sku_id, location_id, sum(on_hand_delta), sum(reserved_delta) FROM stock_move
GROUP BY 1, 2`` in the same run (the better of three each); target ratio ≤ 5.

    python benchmarks/stock.py                      # the target run
    python benchmarks/stock.py --skus 500 --moves 20000 --seconds 3 --json

``--json`` prints one JSON object last. Without ``--database-url`` the database
``xiaoer_stock_<pid>`` is created on ``--pg-url`` (127.0.0.1 only) and dropped at the
end unless ``--keep``; with it, that (empty) database is used and left as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.accounts import quick_hashes  # noqa: E402
from benchmarks.kpi import _database_url, _pg_execute  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_ORDERS_PER_S = 200.0
TARGET_RATIO = 5.0
HOT_UNITS = 55  # a hot SKU's receipt: 50 reserved and 49 shipped leave 5 to sell
COLD_UNITS = 100_000


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _p(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def _prepare(url: str) -> dict[str, int]:
    """Migrate; make the shop and its location through the product's services."""
    import xiaoer.all_models  # noqa: F401
    from xiaoer.core.db import Database
    from xiaoer.core.migrate import upgrade_async
    from xiaoer.fulfilment.stock import default_location
    from xiaoer.shops.service import do_create_shop

    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code="bench", name="库存压测店")
            place = await default_location(session, shop.id)
            await session.commit()
            return {"shop": shop.id, "location": place.id}
    finally:
        await db.dispose()


def _fill_sql(ids: dict[str, int], skus: int, moves: int, hot: int) -> list[str]:
    """Products, SKUs and the ledger's moves: round 0 receives every SKU; odd rounds
    reserve one unit, even rounds ship it (``moves`` rows in all)."""
    shop, place = ids["shop"], ids["location"]
    rounds = max(1, -(-moves // skus))
    return [
        f"""INSERT INTO product (shop_id, code, title, category, price_fen, description,
                custom_made, active, created_at, size_chart)
            SELECT {shop}, 'P' || g, '压测商品 ' || g, '', 9900, '', false, true, now(), '[]'
            FROM generate_series(0, {(skus - 1) // 100}) AS g""",
        f"""INSERT INTO sku (shop_id, product_id, code, attributes, price_fen, stock)
            SELECT {shop}, p.id, 'S' || g, '{{}}', 9900, 0
            FROM generate_series(0, {skus - 1}) AS g
            JOIN product p ON p.shop_id = {shop} AND p.code = 'P' || (g / 100)""",
        f"""CREATE TEMP TABLE bench_sku AS
            SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM sku
            WHERE shop_id = {shop}""",
        f"""INSERT INTO stock_move (shop_id, sku_id, location_id, kind, on_hand_delta,
                reserved_delta, document_kind, document_id, document_ref, order_id,
                actor_id, actor, reason, created_at)
            SELECT {shop}, s.id, {place},
                   CASE WHEN r = 0 THEN 'receive' WHEN r % 2 = 1 THEN 'reserve' ELSE 'ship' END,
                   CASE WHEN r = 0 THEN (CASE WHEN s.n < {hot} THEN {HOT_UNITS}
                                               ELSE {COLD_UNITS} END)
                        WHEN r % 2 = 1 THEN 0 ELSE -1 END,
                   CASE WHEN r = 0 THEN 0 WHEN r % 2 = 1 THEN 1 ELSE -1 END,
                   CASE WHEN r = 0 THEN 'receipt' WHEN r % 2 = 1 THEN 'order'
                        ELSE 'shipment' END,
                   NULL, 'fill', NULL, NULL, 'system', '',
                   now() - interval '1 second' * ({rounds} - r)
            FROM generate_series(0, {rounds - 1}) AS r
            CROSS JOIN bench_sku s
            WHERE r * {skus} + s.n < {moves}
            ORDER BY r, s.n""",
    ]


async def _build(url: str) -> dict[str, Any]:
    """The projections, built by the product's rebuild; then the planner's statistics."""
    import xiaoer.all_models  # noqa: F401
    from xiaoer.core.db import Database
    from xiaoer.fulfilment.rebuild import rebuild

    db = Database(url)
    try:
        async with db.session() as session:
            started = time.perf_counter()
            report = await rebuild(session, None)
            await session.commit()
            return {"levels": report.levels, "seconds": time.perf_counter() - started}
    finally:
        await db.dispose()


def _clients(url: str, shop: int, place: int, seconds: float, seeds: list[int],
             skus: list[int], hot: list[int], hot_share: float,
             start: Any) -> list[dict[str, Any]]:  # fmt: skip
    """One process of clients, one asyncio task and connection each: ready (imports
    done, connected), then orders from the common start until ``seconds`` are over."""
    return asyncio.run(_process(url, shop, place, seconds, seeds, skus, hot, hot_share, start))


async def _process(url: str, shop: int, place: int, seconds: float, seeds: list[int],
                   skus: list[int], hot: list[int], hot_share: float,
                   start: Any) -> list[Any]:  # fmt: skip
    import xiaoer.all_models  # noqa: F401
    from xiaoer.core.db import Database

    db = Database(url)
    try:
        await _ready(db, start)
        return list(await asyncio.gather(
            *(_orders(db, shop, place, seconds, seed, skus, hot, hot_share) for seed in seeds)
        ))  # fmt: skip
    finally:
        await db.dispose()


async def _ready(db: Any, start: Any) -> None:
    """Connected, then waiting for every other client (a shared barrier)."""
    from sqlalchemy import text

    async with db.session() as session:
        await session.execute(text("SELECT 1"))
    await asyncio.to_thread(start.wait)


async def _orders(db: Any, shop: int, place: int, seconds: float, seed: int,
                  skus: list[int], hot: list[int], hot_share: float) -> dict[str, Any]:  # fmt: skip
    """One client: an order after the other, each with its own sessions."""
    from xiaoer.fulfilment.ledger import Document, Line, StockError, post
    from xiaoer.fulfilment.models import MoveKind

    rng = random.Random(seed)
    latencies: list[float] = []
    refused = 0
    number = seed * 10_000_000
    began = time.perf_counter()
    until = began + seconds
    while time.perf_counter() < until:
        number += 1
        chosen: dict[int, int] = {}
        for _ in range(rng.randint(1, 3)):
            pool = hot if hot and rng.random() < hot_share else skus
            chosen[rng.choice(pool)] = rng.randint(1, 2)
        lines = [Line(sku, place, qty) for sku, qty in chosen.items()]
        ref = f"B{number}"
        started = time.perf_counter()
        async with db.session() as session:
            try:
                await post(session, shop, MoveKind.reserve, lines,
                           document=Document("order", number, ref=ref))  # fmt: skip
            except StockError:
                await session.rollback()
                refused += 1
                continue
            await session.commit()
        async with db.session() as session:
            await post(session, shop, MoveKind.ship, lines,
                       document=Document("shipment", number, ref=ref))  # fmt: skip
            await session.commit()
        latencies.append((time.perf_counter() - started) * 1000)
    return {"latencies": latencies, "refused": refused, "elapsed": time.perf_counter() - began}


def _restocker(url: str, shop: int, place: int, seconds: float, hot: list[int],
               start: Any) -> int:  # fmt: skip
    return asyncio.run(_restock(url, shop, place, seconds, hot, start))


async def _restock(url: str, shop: int, place: int, seconds: float, hot: list[int],
                   start: Any) -> int:  # fmt: skip
    import xiaoer.all_models  # noqa: F401
    from xiaoer.core.db import Database
    from xiaoer.fulfilment.ledger import Document, Line, post
    from xiaoer.fulfilment.models import MoveKind

    db = Database(url)
    received = 0
    try:
        await _ready(db, start)
        until = time.perf_counter() + seconds
        while time.perf_counter() < until and hot:
            async with db.session() as session:
                await post(session, shop, MoveKind.receive, [Line(sku, place, 1) for sku in hot],
                           document=Document("receipt", ref="restock"))  # fmt: skip
                await session.commit()
            received += len(hot)
            await asyncio.sleep(1.0)
    finally:
        await db.dispose()
    return received


async def _sku_ids(url: str, shop: int, hot: int) -> tuple[list[int], list[int]]:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f"SELECT id FROM sku WHERE shop_id = {shop} ORDER BY id")
    finally:
        await connection.close()
    ids = [row["id"] for row in rows]
    return ids[hot:], ids[:hot]


async def _checks(url: str) -> dict[str, Any]:
    """Oversold and negative levels; the ledger's sums against the projections."""
    from sqlalchemy import text

    import xiaoer.all_models  # noqa: F401
    from xiaoer.core.db import Database
    from xiaoer.fulfilment.rebuild import rebuild

    db = Database(url)
    try:
        async with db.session() as session:
            oversold = await session.scalar(
                text("SELECT count(*) FROM stock_level WHERE reserved > on_hand")
            )
            negative = await session.scalar(
                text("SELECT count(*) FROM stock_level WHERE on_hand < 0 OR reserved < 0")
            )
            moves = await session.scalar(text("SELECT count(*) FROM stock_move"))
            checked = await rebuild(session, None, fix=False)
            await session.rollback()
        return {"oversold": int(oversold or 0), "negative": int(negative or 0),
                "drift": len(checked.drift), "moves": int(moves or 0)}  # fmt: skip
    finally:
        await db.dispose()


async def _time_rebuild(url: str, tries: int = 3) -> dict[str, float]:
    """``stock rebuild`` against the plain GROUP BY, the better of ``tries`` each."""
    from sqlalchemy import text

    import xiaoer.all_models  # noqa: F401
    from xiaoer.core.db import Database
    from xiaoer.fulfilment.rebuild import rebuild

    plain = "SELECT sku_id, location_id, sum(on_hand_delta), sum(reserved_delta) "
    plain += "FROM stock_move GROUP BY 1, 2"
    db = Database(url)
    best_plain, best_rebuild = float("inf"), float("inf")
    try:
        for _ in range(tries):
            async with db.session() as session:
                started = time.perf_counter()
                rows = (await session.execute(text(plain))).all()
                best_plain = min(best_plain, time.perf_counter() - started)
            async with db.session() as session:
                started = time.perf_counter()
                report = await rebuild(session, None)
                await session.commit()
                best_rebuild = min(best_rebuild, time.perf_counter() - started)
            assert report.levels == len(rows) and not report.drift
    finally:
        await db.dispose()
    return {"group_by_s": best_plain, "rebuild_s": best_rebuild,
            "ratio": best_rebuild / best_plain if best_plain else 0.0}  # fmt: skip


async def _fill(url: str, args: argparse.Namespace) -> dict[str, Any]:
    with quick_hashes():
        ids = await _prepare(url)
    _say(f"filling {args.skus:,} SKUs and {args.moves:,} moves in SQL …")
    started = time.perf_counter()
    await _pg_execute(url, *_fill_sql(ids, args.skus, args.moves, args.hot))
    fill_s = time.perf_counter() - started
    _say(f"filled in {fill_s:.1f} s; building the projections with stock rebuild …")
    built = await _build(url)
    await _pg_execute(url, "VACUUM ANALYZE")
    _say(f"built {built['levels']:,} levels in {built['seconds']:.1f} s")
    return {**ids, "fill_seconds": fill_s, "build_seconds": built["seconds"]}


def _load(url: str, ids: dict[str, Any], args: argparse.Namespace,
          skus: list[int], hot: list[int]) -> dict[str, Any]:  # fmt: skip
    """The clients, spread over ``--processes`` processes, and the restocker; their
    figures together."""
    context = multiprocessing.get_context("spawn")
    shop, place = ids["shop"], ids["location"]
    processes = max(1, min(args.processes, args.clients))
    seeds = [list(range(p + 1, args.clients + 1, processes)) for p in range(processes)]
    with context.Manager() as manager, context.Pool(processes + 1) as pool:
        start = manager.Barrier(processes + 1)
        restock = pool.apply_async(_restocker, (url, shop, place, args.seconds, hot, start))
        groups = [
            pool.apply_async(
                _clients, (url, shop, place, args.seconds, group, skus, hot, args.hot_share, start)
            )
            for group in seeds
        ]
        results = [r for group in groups for r in group.get(timeout=args.seconds + 600)]
        received = restock.get(timeout=60)
    elapsed = max(result["elapsed"] for result in results)
    latencies = [value for result in results for value in result["latencies"]]
    return {"elapsed": elapsed, "latencies": latencies,
            "refused": sum(r["refused"] for r in results), "restocked": received}  # fmt: skip


async def _run_async(url: str, args: argparse.Namespace) -> dict[str, Any]:
    ids = await _fill(url, args)
    skus, hot = await _sku_ids(url, ids["shop"], args.hot)
    load = os.getloadavg()[0]
    _say(f"{args.clients} clients for {args.seconds:g} s (load average {load:.1f}) …")
    ran = await asyncio.to_thread(_load, url, ids, args, skus, hot)
    checks = await _checks(url)
    timed = await _time_rebuild(url)
    latencies = ran["latencies"]
    return {
        "skus": args.skus, "filled_moves": args.moves, "moves": checks["moves"],
        "fill_seconds": round(ids["fill_seconds"], 1),
        "build_seconds": round(ids["build_seconds"], 2),
        "clients": args.clients, "processes": args.processes, "hot": args.hot,
        "hot_share": args.hot_share, "seconds": round(ran["elapsed"], 1),
        "load_average": round(load, 1),
        "orders": len(latencies),
        "orders_per_s": round(len(latencies) / ran["elapsed"], 1) if ran["elapsed"] else 0.0,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else 0.0,
        "p99_ms": round(_p(latencies, 99), 1),
        "refused": ran["refused"], "restocked_units": ran["restocked"],
        "oversold": checks["oversold"], "negative": checks["negative"],
        "drift": checks["drift"],
        "group_by_s": round(timed["group_by_s"], 3), "rebuild_s": round(timed["rebuild_s"], 3),
        "rebuild_ratio": round(timed["ratio"], 2),
    }  # fmt: skip


def _print(report: dict[str, Any]) -> None:
    ok = report["orders_per_s"] >= TARGET_ORDERS_PER_S
    print(f"stock ledger on {report['skus']:,} SKUs and {report['moves']:,} moves (PostgreSQL)"
          f", load average {report['load_average']} at the start")  # fmt: skip
    print(f"{report['clients']} clients, {report['seconds']} s: {report['orders']:,} orders, "
          f"{report['orders_per_s']} orders/s (target ≥ {TARGET_ORDERS_PER_S:.0f}: "
          f"{'ok' if ok else 'MISSED'}); p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms "
          f"per order (reserve + ship); {report['refused']:,} refused")  # fmt: skip
    sound = report["oversold"] == report["negative"] == report["drift"] == 0
    verdict = "ok" if sound else "FAILED"
    print(f"oversold {report['oversold']}, negative {report['negative']}, ledger against "
          f"projections: {report['drift']} differences ({verdict})")  # fmt: skip
    fast = report["rebuild_ratio"] <= TARGET_RATIO
    print(f"stock rebuild {report['rebuild_s'] * 1000:.0f} ms, plain GROUP BY "
          f"{report['group_by_s'] * 1000:.0f} ms: {report['rebuild_ratio']}× (target ≤ "
          f"{TARGET_RATIO:.0f}×: {'ok' if fast else 'MISSED'})")  # fmt: skip


async def _scratch(args: argparse.Namespace) -> dict[str, Any]:
    if args.database_url:
        return await _run_async(args.database_url, args)
    name = f"xiaoer_stock_{os.getpid()}"
    url = _database_url(args.pg_url, name)
    await _pg_execute(args.pg_url, f"CREATE DATABASE {name}")
    try:
        return await _run_async(url, args)
    finally:
        if not args.keep:
            await _pg_execute(args.pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=1_000_000)
    parser.add_argument("--hot", type=int, default=20, help="SKUs with little stock")
    parser.add_argument("--hot-share", type=float, default=0.05, help="of the lines, hot ones")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2, help="the clients' processes")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (admin) URL")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(_scratch(args))
    _print(report)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
