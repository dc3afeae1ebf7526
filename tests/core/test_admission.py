"""A limit on work under way: within it everything runs, past it "busy" at once."""

import asyncio

import pytest

from xiaoer.core.admission import Admission, Busy

pytestmark = pytest.mark.database_free


async def test_work_past_the_limit_is_refused_at_once_and_the_rest_runs() -> None:
    gate = Admission(limit=3)
    release = asyncio.Event()

    async def unit() -> str:
        try:
            async with gate.turn():
                await release.wait()
                return "done"
        except Busy:
            return "busy"

    tasks = [asyncio.create_task(unit()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert gate.under_way == 3
    release.set()
    results = await asyncio.gather(*tasks)
    assert sorted(results) == ["busy", "busy", "done", "done", "done"]
    assert gate.under_way == 0


async def test_a_failed_unit_gives_its_place_back() -> None:
    gate = Admission(limit=1)
    with pytest.raises(RuntimeError):
        async with gate.turn():
            raise RuntimeError("the database went away")
    async with gate.turn():
        assert gate.under_way == 1
