"""The daily work log (P8): one entry per agent and day, searched by the supervisor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from xiaoer.core.db import Database
from xiaoer.performance.models import WorkLog
from xiaoer.performance.worklog import (
    MAX_TEXT,
    WorkLogError,
    WorkLogForbidden,
    do_write_log,
    logs_for,
    search_logs,
    shop_today,
)
from xiaoer.shops.models import Shop

TODAY = date(2026, 5, 20)


async def test_writing_the_same_day_again_replaces_the_entry(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    async with db.session() as session:
        first = await do_write_log(session, mei, TODAY, "买家问尺码", "发了尺码表", today=TODAY)
        await session.commit()
        again = await do_write_log(
            session, mei, TODAY, "  买家问尺码和色差  ", "发了尺码表和实拍图", today=TODAY
        )
        await session.commit()
        assert again.id == first.id
        assert await session.scalar(select(func.count()).select_from(WorkLog)) == 1
    async with db.session() as session:
        stored = await session.get(WorkLog, first.id)
        assert stored is not None
        assert (stored.problems, stored.solutions) == ("买家问尺码和色差", "发了尺码表和实拍图")
        assert stored.shop_id == shop.id and stored.day == TODAY


async def test_a_log_needs_both_texts_within_their_length(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    async with db.session() as session:
        with pytest.raises(WorkLogError, match="problems"):
            await do_write_log(session, mei, TODAY, "   ", "处理了", today=TODAY)
        with pytest.raises(WorkLogError, match="solved"):
            await do_write_log(session, mei, TODAY, "有问题", "", today=TODAY)
        with pytest.raises(WorkLogError, match=f"at most {MAX_TEXT}"):
            await do_write_log(session, mei, TODAY, "问" * (MAX_TEXT + 1), "处理了", today=TODAY)
        await do_write_log(session, mei, TODAY, "问" * MAX_TEXT, "处理了", today=TODAY)


async def test_a_log_is_for_today_or_the_past_week_never_ahead(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei")
    async with db.session() as session:
        with pytest.raises(WorkLogError, match="happened"):
            await do_write_log(session, mei, TODAY + timedelta(days=1), "a", "b", today=TODAY)
        with pytest.raises(WorkLogError, match="last 7 days"):
            await do_write_log(session, mei, TODAY - timedelta(days=8), "a", "b", today=TODAY)
        week_ago = await do_write_log(
            session, mei, TODAY - timedelta(days=7), "补写", "补写", today=TODAY
        )
        assert week_ago.day == date(2026, 5, 13)


async def test_only_agents_keep_a_log(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        with pytest.raises(WorkLogForbidden):
            await do_write_log(session, boss, TODAY, "a", "b", today=TODAY)


async def test_today_is_the_shops_date(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        # 17:00 UTC is already the next morning in Shanghai.
        evening = datetime(2026, 5, 19, 17, 0, tzinfo=UTC)
        assert await shop_today(session, shop.id, evening) == TODAY
        morning = datetime(2026, 5, 19, 15, 59, tzinfo=UTC)
        assert await shop_today(session, shop.id, morning) == date(2026, 5, 19)


async def _three_logs(db: Database, make_staff: MakeStaff) -> tuple[int, int]:
    mei = await make_staff("mei")
    lan = await make_staff("lan")
    async with db.session() as session:
        await do_write_log(
            session, mei, date(2026, 5, 18), "Buyer asked for a REFUND", "explained", today=TODAY
        )
        await do_write_log(
            session, mei, date(2026, 5, 19), "满50%减10 的活动没生效", "请运营改了", today=TODAY
        )
        await do_write_log(
            session, lan, date(2026, 5, 20), "refund_ticket 卡住", "找主管处理", today=TODAY
        )
        await session.commit()
    return mei.id, lan.id


async def test_search_finds_words_in_any_case_newest_first(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei, lan = await _three_logs(db, make_staff)
    async with db.session() as session:
        found = await search_logs(session, shop.id, text="Refund")
        assert [(e.staff_id, e.day) for e in found] == [
            (lan, date(2026, 5, 20)),
            (mei, date(2026, 5, 18)),
        ]
        assert [e.day for e in await search_logs(session, shop.id, text="运营")] == [
            date(2026, 5, 19)
        ]
        everything = await search_logs(session, shop.id)
        assert [e.day.day for e in everything] == [20, 19, 18]
        assert len(await search_logs(session, shop.id, limit=2)) == 2


async def test_search_takes_percent_and_underscore_literally(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await _three_logs(db, make_staff)
    async with db.session() as session:
        assert [e.day.day for e in await search_logs(session, shop.id, text="50%")] == [19]
        assert await search_logs(session, shop.id, text="%") != []
        assert await search_logs(session, shop.id, text="5%0") == []
        # As wildcards, "5%0" would match "50" and "refund_" would match "REFUND ".
        assert [e.day.day for e in await search_logs(session, shop.id, text="refund_")] == [20]
        assert await search_logs(session, shop.id, text="/") == []


async def test_search_by_agent_and_dates(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    mei, _lan = await _three_logs(db, make_staff)
    async with db.session() as session:
        assert {e.staff_id for e in await search_logs(session, shop.id, staff_id=mei)} == {mei}
        ranged = await search_logs(session, shop.id, start=date(2026, 5, 19), end=date(2026, 5, 20))
        assert [e.day.day for e in ranged] == [20, 19]
        assert [e.day.day for e in await search_logs(session, shop.id, end=date(2026, 5, 18))] == [
            18
        ]
        with pytest.raises(WorkLogError, match="ends before"):
            await search_logs(session, shop.id, start=date(2026, 5, 20), end=date(2026, 5, 19))


async def test_agents_read_their_own_and_supervisors_everyones(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei, lan = await _three_logs(db, make_staff)
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        agent = await session.get(type(boss), mei)
        assert agent is not None
        assert {e.staff_id for e in await logs_for(session, agent)} == {mei}
        assert await logs_for(session, agent, text="refund_ticket") == []
        with pytest.raises(WorkLogForbidden, match="own"):
            await logs_for(session, agent, staff_id=lan)
        assert {e.staff_id for e in await logs_for(session, boss)} == {mei, lan}
        assert {e.staff_id for e in await logs_for(session, boss, staff_id=lan)} == {lan}
