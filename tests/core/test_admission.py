"""A few units of work run at once; a line waits; past the line, "busy" at once."""

import asyncio

import pytest

from xiaoer.core.admission import Admission, Busy


async def test_runs_a_few_at_once_queues_some_and_refuses_the_rest() -> None:
    gate = Admission(running=2)
    release = asyncio.Event()
    running = 0
    peak = 0

    async def unit() -> str:
        nonlocal running, peak
        try:
            async with gate.turn(max_waiting=3):
                running += 1
                peak = max(peak, running)
                await release.wait()
                running -= 1
                return "done"
        except Busy:
            return "busy"

    tasks = [asyncio.create_task(unit()) for _ in range(8)]
    await asyncio.sleep(0.05)
    assert gate.waiting == 3  # two run, three wait
    release.set()
    results = await asyncio.gather(*tasks)
    assert results.count("done") == 5 and results.count("busy") == 3
    assert peak == 2


async def test_a_free_slot_is_taken_even_with_no_line_allowed() -> None:
    gate = Admission(running=1)
    async with gate.turn(max_waiting=0):
        with pytest.raises(Busy):
            async with gate.turn(max_waiting=0):
                pass
    async with gate.turn(max_waiting=0):
        assert gate.waiting == 0
