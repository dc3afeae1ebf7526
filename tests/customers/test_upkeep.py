"""Given a shop whose orders changed, when its hourly refresh timer fires (or an
operator runs ``xiaoer customers refresh``), then ``customer_stats`` sums them again and
the next refresh is set; starting a process again never doubles or delays the timer,
nor the nightly greetings plan it starts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from xiaoer.cli import app
from xiaoer.core.clock import as_utc
from xiaoer.core.db import Database
from xiaoer.core.models import Timer
from xiaoer.core.timers import fire_all_due
from xiaoer.customers.greetings import DAILY
from xiaoer.customers.models import CustomerStats
from xiaoer.customers.upkeep import REFRESH, schedule_every_shop
from xiaoer.shops.models import Shop

from .world import NOW, people


async def _timers(db: Database) -> list[tuple[object, ...]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Timer.due_at, Timer.fired_at).where(Timer.kind == REFRESH).order_by(Timer.id)
        )
        return [tuple(r) for r in rows]


async def test_the_hourly_refresh_sums_again_and_sets_the_next(db: Database, shop: Shop) -> None:
    import xiaoer.timer_handlers  # noqa: F401

    async with db.session() as session:
        world = await people(session, shop)
        await session.commit()
    await schedule_every_shop(db, now=NOW)
    await schedule_every_shop(db, now=NOW + timedelta(minutes=30))  # a restart: left alone
    assert await _timers(db) == [(NOW + timedelta(hours=1), None)]
    async with db.session() as session:  # and one nightly greetings plan, 00:10 shop time
        nightly = await session.scalars(select(Timer.due_at).where(Timer.kind == DAILY))
        assert [as_utc(d) for d in nightly] == [datetime(2026, 6, 15, 16, 10, tzinfo=UTC)]
    fired = await fire_all_due(db, now=NOW + timedelta(hours=1))
    assert fired == 1
    async with db.session() as session:
        wang = await session.get(CustomerStats, world.ids["wang"])
        assert wang is not None and (wang.orders, wang.spent_fen) == (2, 17000)
    assert await _timers(db) == [
        (NOW + timedelta(hours=1), NOW + timedelta(hours=1)),
        (NOW + timedelta(hours=2), None),
    ]


def test_the_refresh_command_prints_its_count(db: Database, shop: Shop, database_url: str) -> None:
    done = CliRunner().invoke(
        app, ["customers", "refresh", "--shop", "tea"], env={"XIAOER_DATABASE_URL": database_url}
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"shop": "tea", "persons": 0}
    every = CliRunner().invoke(app, ["customers", "refresh"],
                               env={"XIAOER_DATABASE_URL": database_url})  # fmt: skip
    assert json.loads(every.stdout.strip().splitlines()[-1]) == {
        "shop": None, "persons": 0, "shops": {"tea": 0}}  # fmt: skip
    missing = CliRunner().invoke(app, ["customers", "refresh", "--shop", "nope"],
                                 env={"XIAOER_DATABASE_URL": database_url})  # fmt: skip
    assert missing.exit_code == 1 and "no shop with code 'nope'" in missing.stderr
