"""The orders list on a million orders: every filter and every search through HTTP.

A scratch PostgreSQL database is migrated with the product's migrations (so the list's
indexes are migrations 0025's and 0026's) and filled in SQL with ``generate_series``
(not timed as the product): one shop, 25 agents, 100,000 buyers on five channels,
``--orders`` orders (default 1,000,000) placed over a year, in every trade state, four
in five flagged by an agent, with notes on most paid ones, payment reminders, late-note
tasks, reminder credits and refunds, whose marks on the order rows (migration 0026) the
database's triggers set as they are inserted. ``VACUUM ANALYZE`` follows, as autovacuum
would.

Then a real ``xiaoer serve`` process (Uvicorn, one worker, timers off) answers, and an
HTTP client signed in as the supervisor asks ``/orders`` with each filter and each
search ``--requests`` times one after another (after ten unmeasured warm-up
requests): the page (its first 50 rows, the form) and then, as the page's script
does, ``/orders/sum`` (the filtered set's count and total). Each line prints the
set's size and p50 and p95 in milliseconds of both; ``/healthz`` on the same server
is the reference. Target: every p95 < 150 ms.

    python benchmarks/orders_list.py                     # the target run
    python benchmarks/orders_list.py --orders 50000 --requests 20 --json

``--json`` prints one JSON object last. The database ``xiaoer_ol_<pid>`` is created on
``--pg-url`` (127.0.0.1 only) and dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.accounts import quick_hashes  # noqa: E402
from benchmarks.aftersales import _measure, _p, _sign_in, _start_server  # noqa: E402
from benchmarks.kpi import _database_url, _pg_execute  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-password-1"
TARGET_MS = 150.0
AGENTS = 25


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _prepare(url: str) -> dict[str, int]:
    """Migrate, and make the shop and its staff through the product's services."""
    import xiaoer.all_models  # noqa: F401
    from xiaoer.core.db import Database
    from xiaoer.core.migrate import upgrade_async
    from xiaoer.shops.service import do_create_shop
    from xiaoer.staff.service import do_add_staff

    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code="bench", name="订单压测店")
            ids = {"shop": shop.id}
            for number in range(AGENTS):
                agent = await do_add_staff(
                    session, shop_id=shop.id, username=f"agent{number}",
                    number=str(2000 + number), name=f"客服{number}", password=PASSWORD,
                    level="junior", team="presale", roles=("agent",),
                )  # fmt: skip
                ids[f"agent{number}"] = agent.id
            boss = await do_add_staff(
                session, shop_id=shop.id, username="boss", number="2999", name="主管",
                password=PASSWORD, level="senior", team="presale", roles=("supervisor",),
            )  # fmt: skip
            ids["boss"] = boss.id
            await session.commit()
        return ids
    finally:
        await db.dispose()


def _fill_sql(ids: dict[str, int], orders: int) -> list[str]:
    shop = ids["shop"]
    buyers = max(100, orders // 10)
    agents = "ARRAY[" + ",".join(str(ids[f"agent{n}"]) for n in range(AGENTS)) + "]"
    # status by a hash of the row, so it is independent of the other columns
    statuses = (
        "(ARRAY['WAIT_BUYER_PAY','WAIT_SELLER_SEND_GOODS','WAIT_BUYER_CONFIRM_GOODS',"
        "'TRADE_FINISHED','TRADE_CLOSED'])[CASE WHEN h < 5 THEN 1 WHEN h < 10 THEN 2 "
        "WHEN h < 20 THEN 3 WHEN h < 90 THEN 4 ELSE 5 END]"
    )
    paid = "status NOT IN ('WAIT_BUYER_PAY', 'TRADE_CLOSED')"
    return [
        f"""INSERT INTO customer (shop_id, channel, buyer_id, nick, name, phone, city, gender,
              tags, created_at)
            SELECT {shop},
                   (ARRAY['taobao','taobao','taobao','taobao','taobao','taobao','tmall',
                          'tmall','jd','own_site'])[g % 10 + 1],
                   'buyer-' || g, 'nick' || g, '', '', '', '', '[]', now()
            FROM generate_series(1, {buyers}) g""",
        f"""INSERT INTO "order" (shop_id, platform_order_id, customer_id, buyer_nick, status,
              source, goods_fen, postage_fen, total_fen, paid_fen, refunded_fen,
              receiver_name, receiver_phone, receiver_address, buyer_message,
              shipping_method, courier, tracking_number, cash_on_delivery, close_reason,
              created_at, paid_at, updated_at, owner_id, flag)
            SELECT {shop}, (3300000000000000000 + g)::text, c0 + c, 'nick' || c, s,
                   'bench', fen, 0, fen, CASE WHEN s IN ('WAIT_BUYER_PAY', 'TRADE_CLOSED')
                   THEN 0 ELSE fen END, 0,
                   (ARRAY['刘','王','李','张','陈','杨','赵','黄','周','吴'])[g % 10 + 1]
                     || (ARRAY['贺','芳','雷','伟','静','敏','磊','洋','艳','勇','军'])[g % 11 + 1],
                   '1' || (30 + g % 60)::text || lpad(((g::bigint * 48271) % 100000000)::text,
                     8, '0'),
                   '浙江省杭州市西湖区文三路' || (g % 500) || '号', '', '', '顺丰速运',
                   CASE WHEN s IN ('WAIT_BUYER_CONFIRM_GOODS', 'TRADE_FINISHED')
                     THEN 'SF' || (1000000000000 + g)::text ELSE '' END,
                   false, '', at, CASE WHEN s = 'WAIT_BUYER_PAY' THEN NULL
                   ELSE at + interval '2 minutes' END, at,
                   CASE WHEN g % 5 = 0 THEN NULL ELSE ({agents})[g % {AGENTS} + 1] END,
                   CASE WHEN g % 5 = 0 THEN 0 ELSE (g / 5) % 5 + 1 END
            FROM (SELECT g, {statuses} AS s, 5000 + (g % 97) * 300 AS fen,
                         (g % {buyers}) AS c,
                         now() - (({orders} - g) * interval '31536 seconds' / {orders} * 1000)
                           AS at
                  FROM (SELECT g, ((g::bigint * 7919) % 100)::int AS h
                        FROM generate_series(1, {orders}) g) hashed) rows,
                 (SELECT min(id) AS c0 FROM customer WHERE shop_id = {shop}) first""",
        f"""INSERT INTO seller_note (shop_id, order_id, version, text, errors, author_number,
              reason, created_at)
            SELECT {shop}, id, 1, '刘贺,3米*2.4米,图案正常,12月19发货,自提。', '[]', '2001', '',
                   paid_at + interval '5 minutes'
            FROM "order" WHERE shop_id = {shop} AND {paid} AND id % 10 <> 0""",
        f"""INSERT INTO order_task (shop_id, order_id, kind, status, created_at, outcome,
              evidence)
            SELECT {shop}, id, 'late_note', 'open', paid_at + interval '20 minutes', '', '{{}}'
            FROM "order" WHERE shop_id = {shop} AND {paid} AND id % 10 = 0 AND id % 3 = 0""",
        f"""INSERT INTO order_task (shop_id, order_id, kind, status, created_at, outcome,
              evidence)
            SELECT {shop}, id, 'remind', CASE WHEN status = 'WAIT_BUYER_PAY' THEN 'open'
                   ELSE 'done' END, created_at + interval '10 minutes',
                   CASE WHEN status = 'WAIT_BUYER_PAY' THEN '' ELSE 'phoned' END, '{{}}'
            FROM "order" WHERE shop_id = {shop} AND id % 7 = 0""",
        f"""INSERT INTO sales_credit (shop_id, order_id, agent_id, role, reason, amount_fen,
              paid_at, created_at)
            SELECT {shop}, id, owner_id, 'assist', 'reminder', paid_fen, paid_at, paid_at
            FROM "order" WHERE shop_id = {shop} AND id % 7 = 0 AND owner_id IS NOT NULL
              AND paid_at IS NOT NULL""",
        f"""INSERT INTO refund (shop_id, order_id, kind, status, goods, amount_fen, reason,
              refusal, return_carrier, return_waybill, approval, decision_note, created_at,
              updated_at)
            SELECT {shop}, id, 'refund_only',
                   (ARRAY['WAIT_SELLER_AGREE','SUCCESS','SUCCESS','CLOSED',
                          'SELLER_REFUSE_BUYER'])[id % 5 + 1],
                   'BUYER_NOT_RECEIVED', paid_fen, '不想要了', '', '', '', '', '',
                   paid_at + interval '1 day', paid_at + interval '1 day'
            FROM "order" WHERE shop_id = {shop} AND {paid} AND id % 33 = 0""",
        "VACUUM ANALYZE",
    ]


def _queries(ids: dict[str, int], sample: dict[str, list[str]], n: int) -> dict[str, list[str]]:
    """label -> the paths to ask (each query ``n`` times; searches over sampled values)."""
    rng = random.Random(0)
    agent = ids["agent3"]

    def same(query: dict[str, str]) -> list[str]:
        return [f"/orders?{urlencode(query)}" if query else "/orders"] * n

    def searched(values: list[str]) -> list[str]:
        return [f"/orders?{urlencode({'q': rng.choice(values)})}" for _ in range(n)]

    last_week = sample["last_week"][0]
    return {
        "everything": same({}),
        "page after a cursor": [f"/orders?after={rng.choice(sample['cursors'])}" for _ in range(n)],
        "status to ship (5 %)": same({"status": "WAIT_SELLER_SEND_GOODS"}),
        "status finished (70 %)": same({"status": "TRADE_FINISHED"}),
        "date range (a week)": same({"start": last_week, "end": sample["today"][0]}),
        "date range (a day)": same({"start": last_week, "end": last_week}),
        "agent": same({"agent": str(agent)}),
        "agent none": same({"agent": "none"}),
        "flag red": same({"flag": "1"}),
        "flag grey": same({"flag": "0"}),
        "channel jd": same({"channel": "jd"}),
        "channel taobao": same({"channel": "taobao"}),
        "note missing": same({"note": "missing"}),
        "note late": same({"note": "late"}),
        "reminder open": same({"reminder": "open"}),
        "reminder done": same({"reminder": "done"}),
        "reminder recovered": same({"reminder": "recovered"}),
        "reminder none": same({"reminder": "none"}),
        "refund open": same({"refund": "open"}),
        "refund success": same({"refund": "SUCCESS"}),
        "refund any": same({"refund": "any"}),
        "refund none": same({"refund": "none"}),
        "status+agent+week": same(
            {"status": "TRADE_FINISHED", "agent": str(agent), "start": last_week}
        ),
        "search order number": searched(sample["numbers"]),
        "search number start": searched([v[:16] for v in sample["numbers"]]),
        "search buyer nick": searched(sample["nicks"]),
        "search phone tail": searched([v[-4:] for v in sample["phones"]]),
        "search receiver": searched(sample["receivers"]),
        "search waybill": searched(sample["waybills"]),
    }


async def _sample(url: str, shop: int) -> dict[str, list[str]]:
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
    try:
        rows = await connection.fetch(
            "SELECT platform_order_id, buyer_nick, receiver_phone, receiver_name, "
            'tracking_number, created_at, id FROM "order" WHERE shop_id = $1 '
            "ORDER BY random() LIMIT 300",
            shop,
        )
        today = await connection.fetchval("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")
        count = await connection.fetchval('SELECT count(*) FROM "order"')
    finally:
        await connection.close()
    from datetime import UTC, datetime, timedelta

    def cursor(at: datetime, order_id: int) -> str:
        micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return f"{micros}.{order_id}"

    return {
        "numbers": [r[0] for r in rows],
        "nicks": [r[1] for r in rows],
        "phones": [r[2] for r in rows],
        "receivers": [r[3] for r in rows],
        "waybills": [r[4] for r in rows if r[4]],
        "cursors": [cursor(r[5], r[6]) for r in rows],
        "today": [today.isoformat()],
        "last_week": [(today - timedelta(days=7)).isoformat()],
        "count": [str(count)],
    }


def _sum_path(path: str) -> str:
    """The request the list's page makes for the count and total of its set."""
    return path.replace("/orders", "/orders/sum", 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"xiaoer_ol_{os.getpid()}"
    url = _database_url(args.pg_url, name)
    await _pg_execute(args.pg_url, f"CREATE DATABASE {name}")
    process = None
    try:
        _say("migrating and making the shop …")
        with quick_hashes():
            ids = await _prepare(url)
        _say(f"filling {args.orders:,} orders in SQL …")
        started = time.perf_counter()
        await _pg_execute(url, *_fill_sql(ids, args.orders))
        fill_s = time.perf_counter() - started
        sample = await _sample(url, ids["shop"])
        _say(f"filled in {fill_s:.1f} s: {sample['count'][0]} orders")
        process, base = _start_server(url, Path(f"/tmp/{name}.log"))
        results: dict[str, list[float]] = {}
        sums: dict[str, list[float]] = {}
        sizes: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            results["reference /healthz"] = await _measure(client, ["/healthz"] * args.requests)
            await _sign_in(client, "boss")
            for label, paths in _queries(ids, sample, args.requests).items():
                counted = [_sum_path(path) for path in paths]
                sizes[label] = str((await client.get(counted[0])).json()["count"])
                results[label] = await _measure(client, paths)
                sums[label] = await _measure(client, counted)
                _say(f"  {label}: page p95 {_p(results[label], 95):.1f} ms, "
                     f"count and total p95 {_p(sums[label], 95):.1f} ms")  # fmt: skip
        reference = _p(results["reference /healthz"], 95)
        report: dict[str, Any] = {
            "orders": int(sample["count"][0]),
            "fill_seconds": round(fill_s, 1),
            "reference_p95_ms": round(reference, 2),
            "queries": {},
        }
        print(f"orders list on {int(sample['count'][0]):,} orders (PostgreSQL), "
              f"{args.requests} requests each; /healthz p95 {reference:.1f} ms")  # fmt: skip
        print(f"{'query':<26} {'set':>8} {'page p50':>9} {'page p95':>9} {'sum p50':>8} "
              f"{'sum p95':>8}  target p95 < {TARGET_MS:.0f} (page, sum)")  # fmt: skip
        met = True
        for label, values in results.items():
            if label.startswith("reference"):
                continue
            page = statistics.median(values), _p(values, 95)
            summed = statistics.median(sums[label]), _p(sums[label], 95)
            verdicts = ["ok" if p95 < TARGET_MS else "MISSED" for _, p95 in (page, summed)]
            met = met and verdicts == ["ok", "ok"]
            print(f"{label:<26} {sizes[label]:>8} {page[0]:9.1f} {page[1]:9.1f} "
                  f"{summed[0]:8.1f} {summed[1]:8.1f}  {', '.join(verdicts)}")  # fmt: skip
            report["queries"][label] = {
                "set": sizes[label],
                "p50_ms": round(page[0], 2),
                "p95_ms": round(page[1], 2),
                "sum_p50_ms": round(summed[0], 2),
                "sum_p95_ms": round(summed[1], 2),
            }
        report["target_met"] = met
        return report
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        if not args.keep:
            await _pg_execute(args.pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders to fill")
    parser.add_argument("--requests", type=int, default=40, help="per query")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (admin) URL")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
