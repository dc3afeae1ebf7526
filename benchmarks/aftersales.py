"""After-sales at a busy shop's size: the desk, the case page and the lists through HTTP.

A scratch PostgreSQL database is migrated with the product's migrations and filled in
SQL (``generate_series``; not timed as the product): at ``--scale 1`` one shop with
50,000 buyers, 200,000 paid orders, 200,000 refunds (one per order, in every platform
state), 100,000 tickets (about 2,000 waiting in the queue, 1,000 in the hands of 20
after-sales agents, 300 escalated, the rest closed under the default causes) with four
timeline lines each, and 20,000 of the tickets carrying a conversation of ten messages.
``VACUUM ANALYZE`` follows, as autovacuum would.

Then a real ``xiaoer serve`` process (Uvicorn, one worker, timers off) answers, and an
HTTP client signed in as an after-sales agent, then as the supervisor, asks each page
``--requests`` times one after another (after ten unmeasured warm-up requests):

- ``GET /aftersales``: the desk (the queue's first 50, the agent's open cases);
- ``GET /aftersales/tickets/{id}``: the case page of a random ticket (order, refund,
  conversation, timeline);
- ``GET /aftersales/tickets`` and ``?q=<order number>``: the list and a search;
- ``GET /aftersales/supervise``: the supervisor's view;
- reference: ``GET /healthz`` of the same server, which reads one row.

Each line prints p50 and p95 in milliseconds and the p95 as a multiple of the
reference's. Target: every page p95 < 100 ms.

Then the import of a 100,000-row refund report (``--import-rows``), as
``benchmarks/aftersales_import.py`` measures it: ``import_refunds`` (rows, tickets for the
refunds still open) against COPY of the same rows into a bare table, in the same run.
Target: ≥ 10,000 rows/s. ``--skip-import`` leaves it out.

    python benchmarks/aftersales.py                # the target run
    python benchmarks/aftersales.py --scale 0.05 --requests 50 --json

``--json`` prints one JSON object last. The database ``xiaoer_as_<pid>`` is created on
``--pg-url`` (127.0.0.1 only) and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.accounts import quick_hashes  # noqa: E402
from benchmarks.kpi import _database_url, _pg_execute  # noqa: E402

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-password-1"
TARGET_MS = 100.0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _prepare(url: str) -> dict[str, int]:
    """Migrate, and make the shop and its staff through the product's services."""
    import xiaoer.all_models  # noqa: F401
    from xiaoer.aftersales.tickets import causes_of
    from xiaoer.core.db import Database
    from xiaoer.core.migrate import upgrade_async
    from xiaoer.shops.service import do_create_shop
    from xiaoer.staff.service import do_add_staff

    await upgrade_async(url)
    db = Database(url)
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code="bench", name="售后压测店")
            ids = {"shop": shop.id}
            for number in range(20):
                agent = await do_add_staff(
                    session, shop_id=shop.id, username=f"after{number}",
                    number=str(3000 + number), name=f"售后{number}", password=PASSWORD,
                    level="senior", team="aftersale", roles=("agent",),
                )  # fmt: skip
                ids[f"after{number}"] = agent.id
            boss = await do_add_staff(
                session, shop_id=shop.id, username="boss", number="3999", name="主管",
                password=PASSWORD, level="senior", team="aftersale", roles=("supervisor",),
            )  # fmt: skip
            ids["boss"] = boss.id
            await causes_of(session, shop.id)
            await session.commit()
        return ids
    finally:
        await db.dispose()


def _fill_sql(ids: dict[str, int], scale: float) -> list[str]:
    shop = ids["shop"]
    agents = [ids[f"after{n}"] for n in range(20)]
    buyers = max(100, int(50_000 * scale))
    orders = max(200, int(200_000 * scale))
    tickets = max(100, int(100_000 * scale))
    chats = max(20, int(20_000 * scale))
    queued, taken, escalated = (max(5, int(n * scale)) for n in (2_000, 1_000, 300))
    agent_array = "ARRAY[" + ",".join(map(str, agents)) + "]"
    statuses = ("ARRAY['WAIT_SELLER_AGREE','WAIT_BUYER_RETURN_GOODS','WAIT_SELLER_CONFIRM_GOODS',"
                "'SELLER_REFUSE_BUYER','CLOSED','SUCCESS','SUCCESS','SUCCESS']")  # fmt: skip
    now = "now()"
    return [
        f"""INSERT INTO customer (shop_id, channel, buyer_id, nick, name, phone, city, gender,
              tags, created_at)
            SELECT {shop}, 'taobao', 'buyer-' || g, '买家' || g, '',
                   '1380000' || lpad(g::text, 4, '0'),
                   '杭州', '', '[]', {now} - interval '200 days'
            FROM generate_series(1, {buyers}) g""",
        f"""INSERT INTO "order" (shop_id, platform_order_id, customer_id, buyer_nick, status,
              source, goods_fen, postage_fen, total_fen, paid_fen, refunded_fen, receiver_name,
              receiver_phone, receiver_address, buyer_message, shipping_method, courier,
              tracking_number, cash_on_delivery, close_reason, created_at, paid_at,
              updated_at, flag)
            SELECT {shop}, (4000000000000000 + g)::text,
                   (SELECT min(id) FROM customer) + (g % {buyers}), '买家' || (g % {buyers}),
                   'TRADE_FINISHED', 'bench', 9900 + (g % 50) * 100, 0, 9900 + (g % 50) * 100,
                   9900 + (g % 50) * 100, 0, '收货人', '13800001234',
                   '浙江省杭州市西湖区文三路' || g,
                   '', 'express', (ARRAY['顺丰速运','圆通速递','中通快递'])[1 + g % 3],
                   'SF' || (1000000000 + g), false, '',
                   {now} - (g % 90) * interval '1 day', {now} - (g % 90) * interval '1 day',
                   {now} - (g % 90) * interval '1 day', 0
            FROM generate_series(1, {orders}) g""",
        f"""INSERT INTO order_item (order_id, sku_code, title, sku_text, price_fen, quantity)
            SELECT id, 'SKU' || (id % 40),
                   (ARRAY['遮光窗帘','纱帘','罗马杆','挂钩套装'])[1 + id % 4],
                   '', total_fen, 1
            FROM "order" WHERE shop_id = {shop}""",
        f"""INSERT INTO refund (shop_id, order_id, platform_refund_id, kind, status, goods,
              amount_fen, reason, refusal, return_carrier, return_waybill, approval,
              decision_note, created_at, updated_at)
            SELECT {shop}, id, 'R' || id, (ARRAY['refund_only','return_refund'])[1 + id % 2],
                   ({statuses})[1 + id % 8], 'BUYER_RECEIVED', total_fen / 2, '尺寸不合适', '',
                   '', '', '', '', created_at + interval '3 days', created_at + interval '4 days'
            FROM "order" WHERE shop_id = {shop}""",
        f"""INSERT INTO conversation (shop_id, customer_id, team, agent_id, status, opened_at,
              queued_at, last_message_at, closed_at, outcome, unread, buyer_messages,
              agent_messages)
            SELECT {shop}, (SELECT min(id) FROM customer) + (g % {buyers}), 'aftersale',
                   ({agent_array})[1 + g % 20], 'closed', {now} - (g % 60) * interval '1 day',
                   {now} - (g % 60) * interval '1 day', {now} - (g % 60) * interval '1 day',
                   {now} - (g % 60) * interval '1 day', 'resolved', 0, 5, 5
            FROM generate_series(1, {chats}) g""",
        f"""INSERT INTO message (shop_id, conversation_id, sender, agent_id, text, meta,
              created_at)
            SELECT {shop}, c.id, CASE WHEN k % 2 = 0 THEN 'buyer' ELSE 'agent' END,
                   CASE WHEN k % 2 = 0 THEN NULL ELSE c.agent_id END,
                   '亲，窗帘尺寸不合适想退货，第' || k || '句', '{{}}',
                   c.opened_at + k * interval '1 minute'
            FROM conversation c, generate_series(0, 9) k WHERE c.shop_id = {shop}""",
        f"""INSERT INTO ticket (shop_id, kind, source, status, team, priority, subject, order_id,
              conversation_id, customer_id, refund_id, owner_id, created_at, queued_at,
              taken_at, due_at, escalated_at, escalation, cause_id, outcome, result, closed_at,
              closed_by, steps, major, updated_at)
            SELECT {shop}, 'refund', 'refund_import',
                   CASE WHEN g <= {queued} THEN 'queued'
                        WHEN g <= {queued + taken} THEN 'taken'
                        WHEN g <= {queued + taken + escalated} THEN 'escalated'
                        ELSE 'closed' END,
                   'aftersale', 0, '退款：' || o.platform_order_id, o.id,
                   CASE WHEN g % 5 = 0 THEN (SELECT min(id) FROM conversation) + (g / 5) % {chats}
                   END,
                   o.customer_id, r.id,
                   CASE WHEN g <= {queued} THEN NULL ELSE ({agent_array})[1 + g % 20] END,
                   {now} - (g % 80) * interval '1 day' - interval '1 hour',
                   {now} - (g % 80) * interval '1 day' - interval '1 hour',
                   CASE WHEN g <= {queued} THEN NULL ELSE {now} - (g % 80) * interval '1 day' END,
                   {now} - (g % 80) * interval '1 day' + interval '23 hours',
                   NULL, '', CASE WHEN g > {queued + taken + escalated}
                   THEN (SELECT min(id) FROM ticket_cause WHERE shop_id = {shop}) + g % 8 END,
                   CASE WHEN g > {queued + taken + escalated} THEN 'refunded' ELSE '' END, '',
                   CASE WHEN g > {queued + taken + escalated}
                        THEN {now} - (g % 80) * interval '1 day' END,
                   NULL, '{{}}', false, {now} - (g % 80) * interval '1 day'
            FROM generate_series(1, {tickets}) g
            JOIN "order" o ON o.shop_id = {shop}
                 AND o.platform_order_id = (4000000000000000 + (g * 2 - 1) % {orders} + 1)::text
            JOIN refund r ON r.order_id = o.id""",
        f"""UPDATE ticket SET queued_at = now() - interval '2 hours' + id * interval '1 millisecond'
            WHERE status = 'queued' AND shop_id = {shop}""",
        f"""INSERT INTO ticket_line (shop_id, ticket_id, at, by_id, action, what, why, internal)
            SELECT {shop}, t.id, t.created_at + k * interval '10 minutes', t.owner_id,
                   (ARRAY['opened','taken','note','closed'])[k + 1],
                   '{{"template": "note", "values": {{}}}}', '买家要求退货', k = 2
            FROM ticket t, generate_series(0, 3) k WHERE t.shop_id = {shop}""",
        "VACUUM ANALYZE",
    ]


def _start_server(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    from tests.e2e.conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xiaoer", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "XIAOER_DATABASE_URL": url, "XIAOER_RUN_TIMERS": "false",
             "XIAOER_SECRET_KEY": "bench-secret-key-0123456789"},
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start within 120 s")


async def _sign_in(client: httpx.AsyncClient, username: str) -> None:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    answer = await client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in as {username} answered {answer.status_code}")


async def _measure(client: httpx.AsyncClient, paths: list[str]) -> list[float]:
    for path in paths[:10]:
        await client.get(path)
    times = []
    for path in paths:
        start = time.perf_counter()
        answer = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}")
    return times


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"xiaoer_as_{os.getpid()}"
    url = _database_url(args.pg_url, name)
    await _pg_execute(args.pg_url, f"CREATE DATABASE {name}")
    process = None
    try:
        _say("migrating and making the shop …")
        with quick_hashes():
            ids = await _prepare(url)
        _say("filling the tables in SQL …")
        started = time.perf_counter()
        statements = _fill_sql(ids, args.scale)
        await _pg_execute(url, *statements)
        fill_s = time.perf_counter() - started
        counts = {}
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(url.replace("postgresql://", "postgres://"))
        try:
            for table in ("order", "refund", "ticket", "ticket_line", "message"):
                counts[table] = await connection.fetchval(f'SELECT count(*) FROM "{table}"')
            ticket_ids = [r[0] for r in await connection.fetch("SELECT id FROM ticket")]
            numbers = [
                r[0]
                for r in await connection.fetch(
                    'SELECT platform_order_id FROM "order" ORDER BY random() LIMIT 200'
                )
            ]
        finally:
            await connection.close()
        _say(f"filled in {fill_s:.1f} s: {counts}")
        process, base = _start_server(url, Path(f"/tmp/{name}.log"))
        rng = random.Random(args.seed)
        n = args.requests
        results: dict[str, list[float]] = {}
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            results["reference /healthz"] = await _measure(client, ["/healthz"] * n)
            await _sign_in(client, "after1")
            results["desk /aftersales"] = await _measure(client, ["/aftersales"] * n)
            results["case /aftersales/tickets/{id}"] = await _measure(
                client, [f"/aftersales/tickets/{rng.choice(ticket_ids)}" for _ in range(n)]
            )
            results["list /aftersales/tickets"] = await _measure(
                client, ["/aftersales/tickets"] * n
            )
            results["search ?q=<order>"] = await _measure(
                client, [f"/aftersales/tickets?q={rng.choice(numbers)}" for _ in range(n)]
            )
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            await _sign_in(client, "boss")
            results["supervisor /aftersales/supervise"] = await _measure(
                client, ["/aftersales/supervise"] * n
            )
        reference = _p(results["reference /healthz"], 95)
        report: dict[str, Any] = {"scale": args.scale, "rows": counts, "pages": {}}
        print(
            f"{'page':<36} {'p50 ms':>8} {'p95 ms':>8} {'x ref':>7}  target p95 < {TARGET_MS:.0f}"
        )
        met = True
        for label, values in results.items():
            p50, p95 = statistics.median(values), _p(values, 95)
            ok = label.startswith("reference") or p95 < TARGET_MS
            met = met and ok
            verdict = "" if label.startswith("reference") else ("ok" if ok else "MISSED")
            print(f"{label:<36} {p50:8.1f} {p95:8.1f} {p95 / reference:7.1f}  {verdict}")
            report["pages"][label] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
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
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 100,000 tickets")
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (admin) URL")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--import-rows", type=int, default=100_000, help="refund report rows")
    parser.add_argument("--skip-import", action="store_true", help="measure the pages only")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    if not args.skip_import:
        from benchmarks.aftersales_import import run as run_import

        _say(f"importing a {args.import_rows:,}-row refund report …")
        figures = run_import("postgresql", args.import_rows, args.pg_url, None)
        met = figures["rows_per_s"] >= 10_000
        print(
            f"import of the refund report: {figures['rows']:,} rows in "
            f"{figures['import_seconds']:.2f} s = {figures['rows_per_s']:,} rows/s "
            f"(re-import {figures['reimport_rows_per_s']:,} rows/s); {figures['reference']} "
            f"{figures['reference_rows_per_s']:,} rows/s, {figures['times_reference']}x as long; "
            f"target >= 10,000 rows/s: {'ok' if met else 'MISSED'}"
        )
        report["import"] = figures
        report["target_met"] = report["target_met"] and met and not figures["failures"]
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
