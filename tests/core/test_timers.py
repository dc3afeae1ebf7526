"""Timers: a deadline fires once when due, never before, never twice."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.events import read_after, record_event
from xiaoer.core.models import Event, Timer
from xiaoer.core.timers import (
    cancel_timer,
    fire_all_due,
    fire_due_timers,
    schedule_timer,
    timer_handler,
)
from xiaoer.shops.models import Shop

calls: list[str] = []


@timer_handler("test.record")
async def _record_fired(session: AsyncSession, timer: Timer, now: object) -> None:
    await record_event(session, timer.shop_id, "order.task_done", {"timer": timer.id})


@timer_handler("test.flaky")
async def _flaky(session: AsyncSession, timer: Timer, now: object) -> None:
    await record_event(session, timer.shop_id, "order.flag", {})
    raise RuntimeError("courier API down")


async def _schedule(db: Database, shop: Shop, n: int, kind: str, due_in: timedelta) -> None:
    now = utcnow()
    async with db.session() as session:
        for i in range(n):
            await schedule_timer(
                session, shop_id=shop.id, kind=kind, subject=f"order:{i}", due_at=now + due_in
            )
        await session.commit()


async def _fired_events(db: Database, shop: Shop) -> list[int]:
    async with db.session() as session:
        events = await read_after(session, shop.id, 0, limit=100_000)
    return [e.payload["timer"] for e in events if e.kind == "order.task_done"]


async def test_timer_does_not_fire_before_it_is_due(db: Database, shop: Shop) -> None:
    await _schedule(db, shop, 1, "test.record", timedelta(minutes=20))
    assert await fire_due_timers(db) == 0
    assert await fire_due_timers(db, now=utcnow() + timedelta(minutes=21)) == 1
    assert len(await _fired_events(db, shop)) == 1


async def test_a_fired_timer_never_fires_again(db: Database, shop: Shop) -> None:
    await _schedule(db, shop, 3, "test.record", timedelta(seconds=-1))
    assert await fire_all_due(db) == 3
    assert await fire_all_due(db) == 0
    async with db.session() as session:
        open_count = await session.scalar(
            select(func.count()).select_from(Timer).where(Timer.fired_at.is_(None))
        )
    assert open_count == 0
    assert sorted(await _fired_events(db, shop)) == [1, 2, 3]


async def test_rescheduling_moves_the_open_timer_instead_of_adding_one(
    db: Database, shop: Shop
) -> None:
    now = utcnow()
    async with db.session() as session:
        first = await schedule_timer(
            session, shop_id=shop.id, kind="test.record", subject="order:9", due_at=now
        )
        again = await schedule_timer(
            session,
            shop_id=shop.id,
            kind="test.record",
            subject="order:9",
            due_at=now + timedelta(hours=1),
        )
        await session.commit()
    assert first.id == again.id
    assert await fire_all_due(db) == 0


async def test_cancelled_timer_does_not_fire(db: Database, shop: Shop) -> None:
    await _schedule(db, shop, 1, "test.record", timedelta(seconds=-1))
    async with db.session() as session:
        assert await cancel_timer(session, shop_id=shop.id, kind="test.record", subject="order:0")
        await session.commit()
    assert await fire_all_due(db) == 0
    assert await _fired_events(db, shop) == []


async def test_failing_handler_is_retried_later_and_leaves_no_trace(
    db: Database, shop: Shop
) -> None:
    await _schedule(db, shop, 1, "test.flaky", timedelta(seconds=-1))
    await _schedule(db, shop, 1, "test.record", timedelta(seconds=-1))
    assert await fire_due_timers(db) == 1  # the good one fires, the flaky one waits
    async with db.session() as session:
        flaky = await session.scalar(select(Timer).where(Timer.kind == "test.flaky"))
        kinds = [e.kind for e in await read_after(session, shop.id, 0)]
    assert flaky is not None
    assert flaky.fired_at is None and flaky.attempts == 1
    assert flaky.last_error == "RuntimeError: courier API down"
    assert flaky.due_at > utcnow()
    assert "order.flag" not in kinds
    assert kinds.count("order.task_done") == 1


async def test_timer_without_a_handler_is_kept_with_an_error(db: Database, shop: Shop) -> None:
    await _schedule(db, shop, 1, "test.nobody_handles_this", timedelta(seconds=-1))
    assert await fire_due_timers(db) == 0
    async with db.session() as session:
        timer = await session.scalar(select(Timer))
    assert timer is not None and timer.fired_at is None
    assert "no handler" in (timer.last_error or "")


async def test_two_concurrent_workers_fire_each_timer_exactly_once(
    database_url: str, db: Database, shop: Shop, on_postgres: bool
) -> None:
    """Two workers, each with its own engine and connections, share 400 due timers."""
    if not on_postgres:
        pytest.skip("concurrent workers share timers on PostgreSQL (SKIP LOCKED)")
    total = 400
    await _schedule(db, shop, total, "test.record", timedelta(seconds=-1))
    workers = [Database(database_url), Database(database_url)]
    fired_by: list[int] = [0, 0]

    async def work(index: int) -> None:
        while True:
            fired = await fire_due_timers(workers[index], limit=10)
            if fired == 0:
                return
            fired_by[index] += fired
            await asyncio.sleep(0)

    try:
        await asyncio.gather(work(0), work(1))
    finally:
        for worker in workers:
            await worker.dispose()
    fired = await _fired_events(db, shop)
    async with db.session() as session:
        open_count = await session.scalar(
            select(func.count()).select_from(Timer).where(Timer.fired_at.is_(None))
        )
        event_count = await session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "order.task_done")
        )
    assert open_count == 0
    assert event_count == total
    assert len(fired) == len(set(fired)) == total
    assert sum(fired_by) == total
    assert min(fired_by) > 0, f"one worker did all the work: {fired_by}"


async def test_the_loop_fires_a_timer_as_it_falls_due(db: Database, shop: Shop) -> None:
    from xiaoer.core.timers import run_timer_loop

    await _schedule(db, shop, 1, "test.record", timedelta(milliseconds=300))
    stop = asyncio.Event()
    loop = asyncio.create_task(run_timer_loop(db, stop, interval=0.05))
    try:
        for _ in range(100):
            if await _fired_events(db, shop):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(loop, 5)
    assert len(await _fired_events(db, shop)) == 1
