"""Where one chat message's time goes: statements and CPU per step, without the network.

Runs the services a buyer message and an agent reply go through, one unit of work
each, one after another against a fresh database; then the chat writer's batches of
1, 10 and 50 buyer messages and of as many replies, as the WebSocket and HTTP handlers
run them. Prints per operation: SQL statements, wall and CPU milliseconds, CPU
microseconds a message, and the statements most often run. It is the magnifying glass for the
figures of ``chat_load.py``; it measures no concurrency.

    python benchmarks/message_path.py                      # PostgreSQL
    python benchmarks/message_path.py --database sqlite
    python benchmarks/message_path.py --messages 400 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

import xiaoer.all_models  # noqa: F401
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.feed import follow
from xiaoer.core.migrate import upgrade
from xiaoer.reception.service import (
    do_receive_buyer_message,
    do_send_agent_message,
    do_set_presence,
)
from xiaoer.reception.writer import BuyerJob, ReplyJob, write_batch
from xiaoer.shops.service import do_create_shop, shop_by_code
from xiaoer.staff.service import do_add_staff


class Statements:
    """Counts the statements an engine runs, by their shape."""

    def __init__(self) -> None:
        self.count = 0
        self.shapes: Counter[str] = Counter()

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.count += 1
        shape = re.sub(r"\s+", " ", statement)[:90]
        self.shapes[shape] += 1

    def driver_query(self, query: Any) -> None:
        """A statement sent on asyncpg's connection itself (the chat writer's on
        PostgreSQL); not the transaction's BEGIN/COMMIT, which the engine's count leaves
        out too, nor the driver's catalogue reads on a connection's first use of a type."""
        text = re.sub(r"\s+", " ", query.query).strip()
        if text.split(";")[0] in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
            return
        if "typeinfo_tree" in text or "set_config('jit'" in text:
            return
        self.count += 1
        self.shapes["(driver) " + text[:80]] += 1

    def watch(self, engine: Any) -> None:
        """Count the engine's statements, and those sent on its connections' driver."""
        event.listen(engine, "before_cursor_execute", self)
        watched: set[int] = set()

        def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            driver = record.driver_connection
            if hasattr(driver, "add_query_logger") and id(driver) not in watched:
                watched.add(id(driver))
                driver.add_query_logger(self.driver_query)

        event.listen(engine, "checkout", checkout)


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username, host=parsed.host, port=parsed.port or 5432, database="postgres"
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def run(options: argparse.Namespace) -> dict[str, Any]:
    name = f"xiaoer_path_{secrets.token_hex(4)}"
    if options.database == "postgresql":
        await _admin(options.pg_admin_url, f'CREATE DATABASE "{name}"')
        url = str(make_url(options.pg_admin_url).set(database=name))
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/{name}.sqlite"
    try:
        await asyncio.to_thread(upgrade, url)
        return await _measure(Database(url), options)
    finally:
        if options.database == "postgresql":
            await _admin(options.pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _measure(db: Database, options: argparse.Namespace) -> dict[str, Any]:
    async with db.session() as session:
        shop = await do_create_shop(session, code="path", name="路径小店", default_courier="顺丰")
        agents = [
            await do_add_staff(
                session,
                shop_id=shop.id,
                username=f"a{i}",
                number=f"{i:03d}",
                name=f"客服{i}",
                password="path-benchmark-password",
            )
            for i in range(options.agents)
        ]
        for agent in agents:
            await do_set_presence(session, agent=agent, status="online")
        await session.commit()

    counter = Statements()
    counter.watch(db.engine.sync_engine)
    figures: dict[str, dict[str, list[float]]] = {}
    shapes: dict[str, Counter[str]] = {}

    async def step(label: str, work: Callable[[], Awaitable[None]]) -> None:
        before_count, before_shapes = counter.count, counter.shapes.copy()
        wall, cpu = time.perf_counter(), time.process_time()
        await work()
        entry = figures.setdefault(label, {"statements": [], "wall_ms": [], "cpu_ms": []})
        entry["statements"].append(counter.count - before_count)
        entry["wall_ms"].append((time.perf_counter() - wall) * 1000)
        entry["cpu_ms"].append((time.process_time() - cpu) * 1000)
        shapes.setdefault(label, Counter()).update(counter.shapes - before_shapes)

    conversations: dict[int, int] = {}
    known: dict[str, tuple[Any, Any]] = {}
    agent_of: dict[int, Any] = {a.id: a for a in agents}

    for i in range(options.messages):
        buyer = f"buyer{i % options.buyers}"
        first = i < options.buyers

        if buyer not in known:  # as the buyer socket does when it opens
            async with db.session() as session:
                shop_row = await shop_by_code(session, "path")
                assert shop_row is not None
                customer = await do_get_or_create_customer(
                    session, shop_id=shop_row.id, channel="widget", buyer_id=buyer
                )
                await session.commit()
                known[buyer] = (shop_row, customer)

        async def buyer_message(buyer: str = buyer, i: int = i) -> None:
            # As the buyer socket does for each message: one unit of work, one commit.
            shop_row, customer = known[buyer]
            async with db.session() as session:
                posted = await do_receive_buyer_message(
                    session, shop=shop_row, customer=customer, text=f"在吗 {i}", client_id=f"c{i}"
                )
                await session.commit()
                conversations[i] = posted.conversation.id
                agent_id = posted.conversation.agent_id
                conversations[-i - 1] = agent_id or 0

        await step("buyer message (new conversation)" if first else "buyer message", buyer_message)
        agent_id = conversations[-i - 1]
        if not agent_id:
            continue

        async def reply(i: int = i, agent_id: int = agent_id) -> None:
            async with db.session() as session:  # as the HTTP handler: one unit of work
                await do_send_agent_message(
                    session,
                    agent=agent_of[agent_id],
                    conversation_id=conversations[i],
                    text="您好，在的，请问有什么可以帮您？",
                    client_id=f"r{i}",
                )
                await session.commit()

        await step("agent reply", reply)

    # The chat writer's batches: what the sockets and the reply route actually run. The
    # shop's events are followed, as while a widget or workbench is open, so the policy
    # and the automatic replies come from memory.
    feed = follow(db, known[next(iter(known))][0].id, 0)
    await anext(feed)
    open_ones = [
        (known[f"buyer{i}"], conversations[i], agent_of[conversations[-i - 1]])
        for i in range(options.buyers)
        if conversations.get(-i - 1)
    ]
    for size in options.batches:
        chosen = open_ones[:size]
        if len(chosen) < size:
            continue
        for round_ in range(options.rounds):
            now = utcnow()
            tag = f"{size}-{round_}"
            buyers = [
                BuyerJob(shop_row, customer, f"还有货吗 {tag}", f"bb{tag}-{n}", now)
                for n, ((shop_row, customer), _, _) in enumerate(chosen)
            ]
            replies = [
                ReplyJob(agent, cid, f"有的亲 {tag}", f"rb{tag}-{n}", None, now)
                for n, (_, cid, agent) in enumerate(chosen)
            ]
            for label, jobs in (("buyer messages", buyers), ("agent replies", replies)):

                async def batch(jobs: list[Any] = jobs) -> None:
                    async with db.session() as session:
                        await write_batch(session, jobs)
                        await session.commit()
                    assert all(job.error is None for job in jobs), [j.error for j in jobs]

                await step(f"writer batch of {size} {label}", batch)
    await feed.aclose()
    await db.dispose()

    out: dict[str, Any] = {"database": options.database, "messages": options.messages}
    for label, entry in figures.items():
        size = int(label.split()[3]) if label.startswith("writer batch") else 1
        out[label] = {
            "n": len(entry["statements"]),
            "per_message_cpu_us_p50": round(statistics.median(entry["cpu_ms"]) * 1000 / size),
            "statements": round(statistics.mean(entry["statements"]), 1),
            "wall_ms_p50": round(statistics.median(entry["wall_ms"]), 2),
            "cpu_ms_p50": round(statistics.median(entry["cpu_ms"]), 2),
            "top_statements": [
                [round(n / len(entry["statements"]), 2), shape]
                for shape, n in shapes[label].most_common(options.top)
            ],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--buyers", type=int, default=100)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--batches", type=int, nargs="*", default=[1, 10, 50], help="writer batch sizes"
    )
    parser.add_argument("--rounds", type=int, default=5, help="batches of each size")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    result = asyncio.run(run(options))
    for label, entry in result.items():
        if not isinstance(entry, dict):
            continue
        print(
            f"\n{label}: n={entry['n']}  statements {entry['statements']}  "
            f"wall p50 {entry['wall_ms_p50']} ms  CPU p50 {entry['cpu_ms_p50']} ms  "
            f"= {entry['per_message_cpu_us_p50']} µs CPU a message"
        )
        for per, shape in entry["top_statements"]:
            print(f"  {per:5.2f}  {shape}")
    if options.json:
        print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
