"""Full cycle collections are rare while a batch job runs, and as before after it."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.order_exports import write_sample_export
from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from xiaoer.core.collector import BATCH_FULL_AFTER, batch_job, rare_full_collections
from xiaoer.core.db import Database
from xiaoer.sellercentre import ingest
from xiaoer.sellercentre.ingest import import_orders
from xiaoer.shops.models import Shop


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """Python's own thresholds for the test, put back after it whatever it did."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)


@pytest.mark.database_free
def test_within_a_job_full_collections_are_rare_and_young_ones_as_before(
    thresholds: tuple[int, int, int],
) -> None:
    with rare_full_collections():
        assert gc.get_threshold() == (700, 10, BATCH_FULL_AFTER)
    assert gc.get_threshold() == thresholds


@pytest.mark.database_free
def test_overlapping_jobs_restore_the_thresholds_after_the_last(
    thresholds: tuple[int, int, int],
) -> None:
    first = rare_full_collections()
    second = rare_full_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, BATCH_FULL_AFTER)  # the second still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == thresholds


@pytest.mark.database_free
def test_a_job_that_fails_restores_the_thresholds(thresholds: tuple[int, int, int]) -> None:
    @batch_job
    async def failing() -> None:
        assert gc.get_threshold()[2] == BATCH_FULL_AFTER
        raise RuntimeError("the file was broken")

    with pytest.raises(RuntimeError, match="broken"):
        asyncio.run(failing())
    assert gc.get_threshold() == thresholds


@pytest.mark.database_free
def test_jobs_side_by_side_keep_it_rare_until_both_end(
    thresholds: tuple[int, int, int],
) -> None:
    seen: list[int] = []

    @batch_job
    async def job(pause: float) -> int:
        await asyncio.sleep(pause)
        seen.append(gc.get_threshold()[2])
        return 1

    async def both() -> list[int]:
        return list(await asyncio.gather(job(0.01), job(0.05)))

    assert asyncio.run(both()) == [1, 1]
    assert seen == [BATCH_FULL_AFTER, BATCH_FULL_AFTER]
    assert gc.get_threshold() == thresholds


@pytest.mark.database_free
def test_a_larger_threshold_is_kept_and_a_collector_switched_off_stays_off() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 5000)
        with rare_full_collections():
            assert gc.get_threshold() == (700, 10, 5000)
        gc.set_threshold(0, 10, 10)
        with rare_full_collections():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*before)


async def test_an_order_import_runs_with_rare_full_collections(
    db: Database, shop: Shop, tmp_path: Path, thresholds: tuple[int, int, int]
) -> None:
    order_list, item_list = write_sample_export(tmp_path, 30, seed=11)
    during: list[int] = []

    def progress(_phase: str, _done: int, _total: int) -> None:
        during.append(gc.get_threshold()[2])

    result = await import_orders(db, shop.id, order_list, item_list, progress=progress)
    assert result.orders.created == 30
    assert during and set(during) == {BATCH_FULL_AFTER}
    assert gc.get_threshold() == thresholds


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No automatic collection during the test: what is still alive after it is held by
    a reference, or by a cycle only the collector would free."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _alive(kind: type) -> list[object]:
    return [o for o in gc.get_objects() if type(o) is kind]


async def test_an_import_leaves_its_maps_to_be_freed_without_the_collector(
    db: Database, shop: Shop, tmp_path: Path, collector_off: None
) -> None:
    """The import's run (its maps of every order met) and, on PostgreSQL, its stager
    hold each other while it runs; both are freed when it ends, not at a full collection
    (rare in a busy server, and rarer still while other imports run)."""
    order_list, item_list = write_sample_export(tmp_path, 40, seed=12)
    result = await import_orders(db, shop.id, order_list, item_list)
    assert result.orders.created == 40
    assert _alive(ingest._Run) == []
    assert _alive(ingest._Stager) == []


@pytest.mark.database_free
def test_a_look_up_given_its_values_at_run_time_holds_none_of_them(
    collector_off: None,
) -> None:
    """A chunk's values given to the statement at run time are freed with the chunk;
    given to the statement itself they would wait for the collector (SQLAlchemy's bound
    parameter and its comparator hold each other)."""

    class Values(list[str]):
        pass

    for postgres in (True, False):
        held = Values(["1001", "1002"])
        watch = weakref.ref(held)
        column = ingest._ORDER_TABLE.c.platform_order_id
        query = select(column).where(ingest.among_given(postgres, column, "pids"))
        query.compile(dialect=postgresql.dialect() if postgres else sqlite.dialect())
        del query, held
        assert watch() is None
        # What the import did before: the values go into the statement and stay alive.
        held = Values(["1001", "1002"])
        watch = weakref.ref(held)
        query = select(column).where(column == any_(bindparam(None, held, ARRAY(String()))))
        del query, held
        assert watch() is not None
        gc.collect()
        assert watch() is None
