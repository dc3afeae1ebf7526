"""Deadlines: a breach alerts the supervisor; an idle agent is recorded (C3, C7)."""

from datetime import timedelta

from sqlalchemy import select

from tests.reception.conftest import AFTERNOON, MakeAgent, MakeBuyer
from tests.reception.test_conversations import reply, say
from xiaoer.core.db import Database
from xiaoer.core.events import read_after
from xiaoer.core.timers import fire_all_due
from xiaoer.reception.models import AgentPresence, IdleRecord, ResponseRound
from xiaoer.shops.models import Shop


async def _kinds(db: Database, shop: Shop, kind: str) -> list[dict[str, object]]:
    async with db.session() as session:
        return [e.payload for e in await read_after(session, shop.id, 0, 5000) if e.kind == kind]


async def test_first_response_later_than_30_seconds_is_a_breach(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    posted = await say(db, shop, await make_buyer("b1"), "在吗")
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=29))
    assert await _kinds(db, shop, "sla.breached") == []
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=31))
    breaches = await _kinds(db, shop, "sla.breached")
    assert len(breaches) == 1
    assert breaches[0]["conversation_id"] == posted.conversation.id
    assert breaches[0]["agent_id"] == agent.id
    assert breaches[0]["first"] is True and breaches[0]["target_seconds"] == 30
    async with db.session() as session:
        entry = await session.scalar(select(ResponseRound))
    assert entry is not None and entry.breached


async def test_an_answered_round_is_no_breach(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    posted = await say(db, shop, await make_buyer("b1"), "在吗")
    await reply(db, agent, posted.conversation.id, "在的", at=AFTERNOON + timedelta(seconds=12))
    await fire_all_due(db, now=AFTERNOON + timedelta(minutes=10))
    assert await _kinds(db, shop, "sla.breached") == []


async def test_later_replies_have_two_minutes(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    buyer = await make_buyer("b1")
    posted = await say(db, shop, buyer, "在吗")
    await reply(db, agent, posted.conversation.id, "在的", at=AFTERNOON + timedelta(seconds=5))
    asked = AFTERNOON + timedelta(minutes=1)
    await say(db, shop, buyer, "能便宜点吗", at=asked)
    await fire_all_due(db, now=asked + timedelta(seconds=119))
    assert await _kinds(db, shop, "sla.breached") == []
    await fire_all_due(db, now=asked + timedelta(seconds=121))
    breaches = await _kinds(db, shop, "sla.breached")
    assert [(b["first"], b["target_seconds"]) for b in breaches] == [(False, 120)]


async def test_online_agent_with_waiting_buyers_and_no_activity_is_idle(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    await say(db, shop, await make_buyer("b1"), "在吗", at=AFTERNOON + timedelta(minutes=1))
    await fire_all_due(db, now=AFTERNOON + timedelta(minutes=9))
    assert await _kinds(db, shop, "agent.idle") == []
    await fire_all_due(db, now=AFTERNOON + timedelta(minutes=11))
    idle = await _kinds(db, shop, "agent.idle")
    assert [(i["staff_id"], i["waiting_buyers"]) for i in idle] == [(agent.id, 1)]
    async with db.session() as session:
        presence = await session.get(AgentPresence, agent.id)
        record = await session.scalar(select(IdleRecord))
    assert presence is not None and presence.status == "away"
    assert record is not None and record.started_at == AFTERNOON


async def test_online_agent_without_waiting_buyers_is_not_idle(
    db: Database, shop: Shop, make_agent: MakeAgent
) -> None:
    await make_agent("lina")
    await fire_all_due(db, now=AFTERNOON + timedelta(minutes=11))
    await fire_all_due(db, now=AFTERNOON + timedelta(minutes=22))
    assert await _kinds(db, shop, "agent.idle") == []


async def test_replies_keep_the_agent_active_to_within_fifteen_seconds(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    """A busy agent's replies do not all write (and lock) their presence row."""
    agent = await make_agent("lina")
    buyer = await make_buyer("b1")
    asked = await say(db, shop, buyer, "在吗", at=AFTERNOON + timedelta(minutes=1))
    conversation = asked.conversation.id

    async def last_activity() -> object:
        async with db.session() as session:
            presence = await session.get(AgentPresence, agent.id)
            assert presence is not None
            return presence.last_activity_at

    await reply(db, agent, conversation, "在的", at=AFTERNOON + timedelta(minutes=2))
    assert await last_activity() == AFTERNOON + timedelta(minutes=2)
    await reply(db, agent, conversation, "请讲", at=AFTERNOON + timedelta(minutes=2, seconds=10))
    assert await last_activity() == AFTERNOON + timedelta(minutes=2)  # within 15 s: kept
    await reply(db, agent, conversation, "还在吗", at=AFTERNOON + timedelta(minutes=3))
    assert await last_activity() == AFTERNOON + timedelta(minutes=3)
