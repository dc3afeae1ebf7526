"""Deadlines as data: timers that fire exactly once when due.

Every "within N minutes" of the handbook is a :class:`Timer` row. A loop in
``xiaoer serve`` or ``xiaoer worker`` takes due timers in batches. On
PostgreSQL several workers share them with ``FOR UPDATE SKIP LOCKED``; the
claim is also a conditional update, so a timer fires once even where row locks
do not exist (SQLite). A handler runs in the same transaction that marks the
timer fired: its effects and the mark commit together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.events import pending_events
from xiaoer.core.models import Timer

log = logging.getLogger(__name__)

TimerHandler = Callable[[AsyncSession, Timer, datetime], Awaitable[None]]

MAX_ATTEMPTS = 8

_handlers: dict[str, TimerHandler] = {}


def timer_handler(kind: str) -> Callable[[TimerHandler], TimerHandler]:
    """Register the function that runs when a timer of ``kind`` is due."""

    def register(func: TimerHandler) -> TimerHandler:
        _handlers[kind] = func
        return func

    return register


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def _open(shop_id: int, kind: str, subject: str) -> Any:
    return and_(
        Timer.shop_id == shop_id,
        Timer.kind == kind,
        Timer.subject == subject,
        Timer.fired_at.is_(None),
        Timer.cancelled_at.is_(None),
    )


async def schedule_timer(
    session: AsyncSession,
    *,
    shop_id: int,
    kind: str,
    subject: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    none_open: bool = False,
) -> Timer:
    """Set the deadline ``kind`` for ``subject``; an open one is moved, not doubled.

    ``none_open``: the caller knows no deadline of this kind is open for the subject
    (it cancelled the last one itself), which saves looking for it.
    """
    existing = (
        None
        if none_open
        else await session.scalar(select(Timer).where(_open(shop_id, kind, subject)))
    )
    if existing is not None:
        existing.due_at = due_at
        existing.payload = payload or {}
        return existing
    timer = Timer(shop_id=shop_id, kind=kind, subject=subject, due_at=due_at, payload=payload or {})
    session.add(timer)
    await session.flush()
    return timer


@dataclass(frozen=True)
class TimerPlan:
    """A deadline to set, as data: many are stored with one statement
    (:func:`insert_timers`)."""

    kind: str
    subject: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


async def insert_timers(session: AsyncSession, shop_id: int, plans: Sequence[TimerPlan]) -> None:
    """Store new deadlines with one statement; the caller knows none of them is open."""
    if not plans:
        return
    await session.execute(
        insert(Timer),
        [
            {
                "shop_id": shop_id,
                "kind": p.kind,
                "subject": p.subject,
                "due_at": p.due_at,
                "payload": p.payload,
                "created_at": utcnow(),
            }
            for p in plans
        ],
    )


async def cancel_timers(
    session: AsyncSession,
    *,
    shop_id: int,
    kinds: Iterable[str],
    subjects: Iterable[str],
    now: datetime,
) -> None:
    """Cancel the open deadlines of these kinds for these subjects, in one statement."""
    kinds, subjects = sorted(set(kinds)), sorted(set(subjects))
    if not kinds or not subjects:
        return
    await session.execute(
        update(Timer)
        .where(
            Timer.shop_id == shop_id,
            Timer.kind.in_(kinds),
            Timer.subject.in_(subjects),
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )


async def cancel_timer(
    session: AsyncSession, *, shop_id: int, kind: str, subject: str, now: datetime | None = None
) -> int:
    """Cancel the open deadline ``kind`` for ``subject``; returns how many were open."""
    result = await session.execute(
        update(Timer).where(_open(shop_id, kind, subject)).values(cancelled_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _claim(session: AsyncSession, now: datetime, limit: int) -> list[Timer]:
    query = (
        select(Timer)
        .where(Timer.fired_at.is_(None), Timer.cancelled_at.is_(None), Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    candidates = list(await session.scalars(query))
    claimed: list[Timer] = []
    for timer in candidates:
        result = await session.execute(
            update(Timer)
            .where(Timer.id == timer.id, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
            .values(fired_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(timer)
    return claimed


async def _run_one(session: AsyncSession, timer: Timer, now: datetime) -> bool:
    handler = _handlers.get(timer.kind)
    events = pending_events(session)
    mark = len(events)
    try:
        if handler is None:
            raise LookupError(f"no handler for timer kind {timer.kind!r}")
        async with session.begin_nested():
            await handler(session, timer, now)
    except Exception as exc:
        del events[mark:]
        attempts = timer.attempts + 1
        log.warning("timer %s (%s %s) failed: %s", timer.id, timer.kind, timer.subject, exc)
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_error": f"{type(exc).__name__}: {exc}",
        }
        if attempts < MAX_ATTEMPTS:
            values["fired_at"] = None
            values["due_at"] = now + timedelta(seconds=min(30 * 2**attempts, 3600))
        await session.execute(update(Timer).where(Timer.id == timer.id).values(**values))
        return False
    return True


async def fire_due_timers(db: Database, *, now: datetime | None = None, limit: int = 100) -> int:
    """Fire one batch of due timers; returns how many fired successfully."""
    moment = now or utcnow()
    async with db.session() as session, session.begin():
        claimed = await _claim(session, moment, limit)
        fired = 0
        for timer in claimed:
            fired += await _run_one(session, timer, moment)
    return fired


async def fire_all_due(db: Database, *, now: datetime | None = None, limit: int = 100) -> int:
    """Fire batches until none is due; for tests and ``xiaoer worker --once``."""
    total = 0
    while True:
        async with db.session() as session:
            due = await session.scalar(
                select(Timer.id)
                .where(
                    Timer.fired_at.is_(None),
                    Timer.cancelled_at.is_(None),
                    Timer.due_at <= (now or utcnow()),
                )
                .limit(1)
            )
        if due is None:
            return total
        total += await fire_due_timers(db, now=now, limit=limit)


async def run_timer_loop(db: Database, stop: asyncio.Event, interval: float = 1.0) -> None:
    """Fire due timers until ``stop`` is set; a failing batch never ends the loop."""
    while not stop.is_set():
        try:
            fired = await fire_due_timers(db)
        except Exception:
            log.exception("timer batch failed")
            fired = 0
        if fired:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
