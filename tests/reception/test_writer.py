"""The chat writer: many messages, one transaction, each answered after the commit.

Pinned here: the statements a batch costs (the same for 1 message as for 60), that
nothing acknowledged is lost or stored twice, that a conversation keeps its order,
that a failed batch fails only its own messages, and that a message the service
refuses is refused alone.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests.core.test_events import _collect
from tests.core.test_feed import count_reads
from tests.reception.conftest import AFTERNOON, MakeAgent, MakeBuyer
from xiaoer.buyers.models import Customer
from xiaoer.core import memo
from xiaoer.core.db import Database
from xiaoer.core.events import last_seq, read_after
from xiaoer.core.feed import follow
from xiaoer.core.models import Timer
from xiaoer.core.policy import parse_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.reception import writer as writer_module
from xiaoer.reception.errors import NotAllowed
from xiaoer.reception.models import Conversation, Message, ResponseRound
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.reception.sla import REPLY_DUE
from xiaoer.reception.writer import (
    BuyerJob,
    ChatWriter,
    NotStored,
    ReplyJob,
    SessionEnded,
    write_batch,
)
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_set_active
from xiaoer.staff.sessions import do_end_session, do_start_session, session_key


def _note_into(statements: list[str]) -> Any:
    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper() + " " + statement[:80])

    return note


async def _conversations(
    db: Database, shop: Shop, buyers: list[Customer]
) -> dict[int, Conversation]:
    """Each buyer's first message, the long way: the conversation is open and routed."""
    found = {}
    async with db.session() as session:
        for buyer in buyers:
            posted = await do_receive_buyer_message(
                session, shop=shop, customer=buyer, text="你好", client_id="first", now=AFTERNOON
            )
            found[buyer.id] = posted.conversation
        await session.commit()
    return found


async def _setup(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent, n: int
) -> tuple[StaffAccount, list[Customer], dict[int, Conversation]]:
    agent = await make_agent("lina", name="李娜")
    for i in range(n // 5):  # enough agents that nobody waits in the queue
        await make_agent(f"agent{i}", name=f"客服{i}")
    buyers = [await make_buyer(f"w-{i}", f"买家{i}") for i in range(n)]
    return agent, buyers, await _conversations(db, shop, buyers)


def _buyer_jobs(shop: Shop, buyers: list[Customer], tag: str, at: Any) -> list[BuyerJob]:
    return [BuyerJob(shop, b, f"这件有货吗 {tag}", f"{tag}-{b.id}", at) for b in buyers]


def _reply_jobs(
    agents: dict[int, StaffAccount], conversations: dict[int, Conversation], tag: str, at: Any
) -> list[ReplyJob]:
    """Each conversation's agent answers it."""
    return [
        ReplyJob(agents[c.agent_id], c.id, f"有的亲 {tag}", f"{tag}-{c.id}", None, at)
        for c in conversations.values()
        if c.agent_id is not None
    ]


async def _write(db: Database, jobs: list[Any]) -> list[str]:
    statements: list[str] = []
    async with db.session() as session:
        # Only this session's statements: the shop's feed reads on its own connection.
        connection = await session.connection()
        assert connection.sync_connection is not None
        event.listen(connection.sync_connection, "before_cursor_execute", _note_into(statements))
        # On PostgreSQL the writer also sends statements on the driver's connection.
        driver = (await connection.get_raw_connection()).driver_connection
        logger = None
        if hasattr(driver, "add_query_logger"):

            def logger(query: Any) -> None:
                text = " ".join(query.query.split())
                # Not the writer's: the transaction's own, and the driver's reads of the
                # catalogue on a connection's first use of a type.
                if text.split(";")[0] in ("BEGIN", "COMMIT", "ROLLBACK"):
                    return
                if "typeinfo_tree" in text or "set_config('jit'" in text:
                    return
                statements.append("DRIVER " + text[:80])

            driver.add_query_logger(logger)
        try:
            await write_batch(session, jobs)
            await session.commit()
        finally:
            if logger is not None:
                driver.remove_query_logger(logger)
    for job in jobs:
        assert job.error is None, job.error
    return statements


async def test_a_batch_costs_the_same_statements_for_one_message_as_for_sixty(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent, on_postgres: bool
) -> None:
    _, buyers, conversations = await _setup(db, shop, make_buyer, make_agent, 60)
    async with db.session() as session:
        agents = {
            a.id: a
            for a in await session.scalars(
                select(StaffAccount).where(StaffAccount.shop_id == shop.id)
            )
        }
    assert all(c.agent_id is not None for c in conversations.values())
    items = list(conversations.items())
    # The policy and the replies come from memory while the shop's events are followed,
    # as a server does while a widget or a workbench is open.
    workbench = follow(db, shop.id, 0)
    await anext(workbench)  # its first event: the shop's feed runs now
    assert memo.generation((str(db.engine.url), shop.id)) is not None
    try:
        t = AFTERNOON + timedelta(seconds=5)
        await _write(db, _reply_jobs(agents, dict(items[:1]), "w", t))  # read once
        one = await _write(db, _reply_jobs(agents, dict(items[1:2]), "r1", t))
        many = await _write(db, _reply_jobs(agents, dict(items[2:]), "r2", t))
        t2 = t + timedelta(seconds=10)
        buyers_one = await _write(db, _buyer_jobs(shop, buyers[:1], "b1", t2))
        buyers_many = await _write(db, _buyer_jobs(shop, buyers[1:], "b2", t2))
    finally:
        await workbench.aclose()
    # PostgreSQL: the conversations, the resends, the new rows' ids, one statement
    # writing every table (deadlines, messages, counters, rounds, activity), and the
    # events with their counters. SQLite, a statement a table: replies: conversations,
    # resends, deadlines cancelled, messages, counters, rounds read, rounds answered,
    # agents' activity, the event counters, events; buyer messages: conversations,
    # resends, messages, counters, rounds, deadlines, the event counters, events; and as
    # it cannot give a multi-row insert's ids in order, an insert a message and a round.
    if on_postgres:
        assert (len(one), len(many)) == (5, 5), (one, many)
        assert len(buyers_many) == 5, buyers_many
        assert len(buyers_one) <= 6, buyers_one  # the shop's replies may be read once more
    else:
        assert (len(one), len(many)) == (10, 10 + 57), many
        assert len(buyers_many) == 8 + 58 * 2, buyers_many
        assert len(buyers_one) <= 9, buyers_one

    async with db.session() as session:
        rounds = await session.scalar(
            select(func.count()).where(
                ResponseRound.shop_id == shop.id, ResponseRound.capped_seconds.is_(None)
            )
        )
        deadlines = await session.scalar(
            select(func.count()).where(
                Timer.kind == REPLY_DUE, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None)
            )
        )
    assert rounds == 60 and deadlines == 60  # one open round and deadline per waiting buyer


async def test_the_short_way_stores_what_the_service_would(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent
) -> None:
    """A buyer message, then a reply, in one batch: counters, the round, the events."""
    agent, buyers, conversations = await _setup(db, shop, make_buyer, make_agent, 1)
    conversation = conversations[buyers[0].id]
    t = AFTERNOON + timedelta(seconds=3)
    await _write(db, [ReplyJob(agent, conversation.id, "在的", "r0", None, t)])
    t2 = t + timedelta(seconds=20)
    jobs: list[Any] = [
        BuyerJob(shop, buyers[0], "能便宜点吗", "b1", t2),
        ReplyJob(agent, conversation.id, "已经是活动价了哦", "r1", 4000, t2 + timedelta(seconds=7)),
    ]
    await _write(db, jobs)
    async with db.session() as session:
        stored = await session.get(Conversation, conversation.id)
        assert stored is not None
        assert (stored.buyer_messages, stored.agent_messages, stored.unread) == (2, 2, 0)
        assert stored.waiting_since is None
        rounds = list(
            await session.scalars(
                select(ResponseRound)
                .where(ResponseRound.conversation_id == conversation.id)
                .order_by(ResponseRound.id)
            )
        )
        assert [(r.first, r.seconds, r.agent_id) for r in rounds] == [
            (True, 3, agent.id),
            (False, 7, agent.id),
        ]
        texts = list(
            await session.scalars(
                select(Message.text)
                .where(Message.conversation_id == conversation.id)
                .order_by(Message.id)
            )
        )
        assert texts[-3:] == ["在的", "能便宜点吗", "已经是活动价了哦"]
        open_deadlines = await session.scalar(
            select(func.count()).where(
                Timer.subject == f"conversation:{conversation.id}",
                Timer.fired_at.is_(None),
                Timer.cancelled_at.is_(None),
            )
        )
        assert open_deadlines == 0  # answered within the batch: no deadline was left open
        told = await read_after(session, shop.id, 0)
    created = [e.payload for e in told if e.kind == "message.created"]
    assert [p["text"] for p in created[-2:]] == ["能便宜点吗", "已经是活动价了哦"]
    assert created[-1]["agent_name"] == "李娜"
    assert created[-1]["conversation"]["waiting_since"] is None
    assert created[-2]["conversation"]["waiting_since"] is not None


async def test_nothing_acknowledged_is_lost_doubled_or_out_of_order(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent
) -> None:
    """Twenty buyers send ten messages each at once, and every one of them again."""
    _, buyers, conversations = await _setup(db, shop, make_buyer, make_agent, 20)
    async with db.session() as session:
        agents = {
            a.id: a
            for a in await session.scalars(
                select(StaffAccount).where(StaffAccount.shop_id == shop.id)
            )
        }
    chat = ChatWriter(db)
    try:

        async def buyer_sends(buyer: Customer) -> list[int]:
            ids = []
            for i in range(10):
                posted = await chat.buyer_message(
                    shop=shop, customer=buyer, text=f"第{i}条", client_id=f"m{i}"
                )
                assert not posted.duplicate
                ids.append(posted.messages[0].id)
            return ids

        sent = await asyncio.gather(*(buyer_sends(b) for b in buyers))
        again = await asyncio.gather(
            *(
                chat.buyer_message(shop=shop, customer=b, text=f"第{i}条", client_id=f"m{i}")
                for b in buyers
                for i in range(10)
            )
        )
        replies = await asyncio.gather(
            *(
                chat.agent_reply(
                    agent=agents[c.agent_id or 0],
                    conversation_id=c.id,
                    text="好的",
                    client_id=f"x{c.id}",
                )
                for c in conversations.values()
            )
        )
        assert chat.batches < 200 + 200 + 20  # batched: fewer transactions than messages
    finally:
        await chat.stop()
    assert all(p.duplicate for p in again)
    assert sorted(p.messages[0].id for p in again) == sorted(i for ids in sent for i in ids)
    assert [(len(r.messages), r.duplicate) for r in replies] == [(1, False)] * len(replies)
    async with db.session() as session:
        for buyer, ids in zip(buyers, sent, strict=True):
            rows = list(
                await session.execute(
                    select(Message.id, Message.text)
                    .where(
                        Message.conversation_id == conversations[buyer.id].id,
                        Message.sender == "buyer",
                    )
                    .order_by(Message.id)
                )
            )
            assert [text for _, text in rows] == ["你好", *(f"第{i}条" for i in range(10))]
            assert [i for i, _ in rows][1:] == ids  # acknowledged ids, in the order sent
            conversation = await session.get(Conversation, conversations[buyer.id].id)
            assert conversation is not None and conversation.buyer_messages == 11


async def test_a_failed_batch_fails_its_own_messages_and_stores_nothing_of_them(
    db: Database,
    shop: Shop,
    make_buyer: MakeBuyer,
    make_agent: MakeAgent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, buyers, _ = await _setup(db, shop, make_buyer, make_agent, 2)
    real = writer_module.write_batch
    calls = []

    async def fails_after_writing(session: Any, jobs: Any) -> Any:
        calls.append(len(jobs))
        events = await real(session, jobs)
        if len(calls) == 1:
            raise ConnectionError("the database went away before the commit")
        return events

    monkeypatch.setattr(writer_module, "write_batch", fails_after_writing)
    chat = ChatWriter(db, window=0.05)
    try:
        first = await asyncio.gather(
            *(
                chat.buyer_message(shop=shop, customer=b, text="在吗", client_id="q")
                for b in buyers
            ),
            return_exceptions=True,
        )
        assert calls == [2]
        assert all(isinstance(r, NotStored) for r in first)
        async with db.session() as session:
            assert await session.scalar(select(func.count()).where(Message.text == "在吗")) == 0
        resent = [
            await chat.buyer_message(shop=shop, customer=b, text="在吗", client_id="q")
            for b in buyers
        ]
    finally:
        await chat.stop()
    assert [r.duplicate for r in resent] == [False, False]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).where(Message.text == "在吗")) == 2


async def test_a_refused_reply_is_refused_alone(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent
) -> None:
    agent, buyers, conversations = await _setup(db, shop, make_buyer, make_agent, 2)
    colleague = await make_agent("wangfang", name="王芳")
    first, second = conversations[buyers[0].id], conversations[buyers[1].id]
    assert first.agent_id == agent.id and second.agent_id == agent.id
    chat = ChatWriter(db, window=0.05)
    try:
        results = await asyncio.gather(
            chat.agent_reply(agent=agent, conversation_id=first.id, text="在的", client_id="a"),
            chat.agent_reply(
                agent=colleague, conversation_id=second.id, text="我来", client_id="b"
            ),
            chat.buyer_message(shop=shop, customer=buyers[1], text="人呢", client_id="c"),
            return_exceptions=True,
        )
    finally:
        await chat.stop()
    assert chat.batches == 1
    assert not isinstance(results[0], BaseException)
    assert isinstance(results[1], NotAllowed)
    assert not isinstance(results[2], BaseException)
    async with db.session() as session:
        texts = set(await session.scalars(select(Message.text)))
    assert {"在的", "人呢"} <= texts and "我来" not in texts


async def test_a_new_policy_reaches_the_writer_through_the_shops_events(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent
) -> None:
    """The writer remembers the policy while it follows the shop's events, and reads it
    again once ``policy.applied`` goes by: the next round's deadline is the new one."""
    agent, buyers, conversations = await _setup(db, shop, make_buyer, make_agent, 1)
    conversation = conversations[buyers[0].id]
    async with db.session() as session:
        after = await last_seq(session, shop.id)
    events = follow(db, shop.id, after - 1)
    await anext(events)  # the shop's feed runs now

    async def deadline_of(tag: str, at: Any) -> float:
        await _write(db, [ReplyJob(agent, conversation.id, "在的", f"r{tag}", None, at)])
        await _write(db, [BuyerJob(shop, buyers[0], "还在吗", f"b{tag}", at)])
        async with db.session() as session:
            timer = await session.scalar(
                select(Timer).where(
                    Timer.kind == REPLY_DUE,
                    Timer.subject == f"conversation:{conversation.id}",
                    Timer.fired_at.is_(None),
                    Timer.cancelled_at.is_(None),
                )
            )
        assert timer is not None
        return (timer.due_at - at).total_seconds()

    try:
        assert await deadline_of("1", AFTERNOON + timedelta(seconds=10)) == 120  # the default
        assert await deadline_of("2", AFTERNOON + timedelta(seconds=20)) == 120  # from memory
        async with db.session() as session:
            await do_apply_policy(
                session,
                shop_id=shop.id,
                policy=parse_policy("[reception]\nreply_seconds = 45\n"),
                source="",
                effective_from=AFTERNOON.date(),
                actor="test",
            )
            await session.commit()
        async with asyncio.timeout(10):
            while (await anext(events)).kind != "policy.applied":
                pass
        assert await deadline_of("3", AFTERNOON + timedelta(seconds=30)) == 45
    finally:
        await events.aclose()


async def test_a_reply_naming_a_session_that_ended_is_refused_and_stores_nothing(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent
) -> None:
    """Replies from the socket name their staff session; it is checked in the batch's own
    transaction, with the account as it is then (signed out, disabled: refused)."""
    agent, buyers, conversations = await _setup(db, shop, make_buyer, make_agent, 2)
    first, second = (conversations[b.id] for b in buyers)
    async with db.session() as session:
        account = await session.get(StaffAccount, agent.id)
        assert account is not None
        live = await do_start_session(session, account, address="127.0.0.1", user_agent="t")
        ended = await do_start_session(session, account, address="127.0.0.1", user_agent="t")
        await do_end_session(session, ended)
        await session.commit()
    day = timedelta(days=1)
    t = AFTERNOON + timedelta(seconds=5)
    jobs = [
        ReplyJob(agent, first.id, "在的", "s1", None, t, session_key=session_key(live)),
        ReplyJob(agent, second.id, "您好", "s2", None, t, session_key=session_key(ended)),
    ]
    for job in jobs:
        job.session_max_age = day
    async with db.session() as session:
        await write_batch(session, jobs)
        await session.commit()
    assert jobs[0].error is None and jobs[0].result is not None
    assert isinstance(jobs[1].error, SessionEnded)
    async with db.session() as session:
        account = await session.get(StaffAccount, agent.id)
        assert account is not None
        await do_set_active(session, account, False, actor="admin")
        await session.commit()
    later = ReplyJob(agent, first.id, "还在吗", "s3", None, t, session_key=session_key(live))
    later.session_max_age = day
    async with db.session() as session:
        await write_batch(session, [later])
        await session.commit()
    assert isinstance(later.error, SessionEnded)
    async with db.session() as session:
        texts = set(await session.scalars(select(Message.text).where(Message.sender == "agent")))
    assert "在的" in texts and "您好" not in texts and "还在吗" not in texts


async def _trail(db: Database, shop: Shop, conversation_id: int, customer_id: int) -> Any:
    """What a conversation left behind, without its ids: to compare two ways of writing."""
    async with db.session() as session:
        c = await session.get(Conversation, conversation_id)
        assert c is not None
        conversation = (
            c.status, c.team, c.agent_id, c.opened_at, c.queued_at, c.assigned_at,
            c.waiting_since, c.first_response_at, c.last_message_at, c.unread,
            c.buyer_messages, c.agent_messages, c.outcome, c.channel_id,
        )  # fmt: skip
        messages = [
            (m.sender, m.agent_id, m.text, m.meta, m.created_at, m.dedupe_key is None)
            for m in await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            )
        ]
        rounds = [
            (r.first, r.agent_id, r.started_at, r.answered_at, r.seconds, r.breached)
            for r in await session.scalars(
                select(ResponseRound).where(ResponseRound.conversation_id == conversation_id)
            )
        ]
        timers = sorted(
            (t.kind, t.due_at, t.cancelled_at, sorted(t.payload))
            for t in await session.scalars(
                select(Timer).where(Timer.subject.like(f"%conversation:{conversation_id}"))
            )
        )
        told = [
            e for e in await read_after(session, shop.id, 0) if e.topic == f"buyer:{customer_id}"
        ]
    events = []
    for e in told:
        payload = dict(e.payload)
        payload.pop("conversation_id", None)
        payload.pop("id", None)
        if "conversation" in payload:
            payload["conversation"] = {
                k: v for k, v in payload["conversation"].items() if k not in ("id", "customer_id")
            }
        events.append((e.kind, e.topic_seq, payload))
    return conversation, messages, rounds, timers, events


async def test_a_first_message_is_stored_by_the_writer_as_the_service_stores_it(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent, on_postgres: bool
) -> None:
    """Two new buyers, the same words: one through the service, one through the writer's
    batch (with a second message of theirs in it). Routed, greeted (the greeting and the
    keyword answer in one message), the round and its deadlines, the events: the same."""
    agent = await make_agent("lina", name="李娜")
    by_service, by_writer = await make_buyer("s-1", "老王"), await make_buyer("w-1", "老王")
    t = AFTERNOON + timedelta(seconds=1)
    async with db.session() as session:
        first = await do_receive_buyer_message(
            session, shop=shop, customer=by_service, text="你们发什么快递", client_id="a", now=t
        )
        await do_receive_buyer_message(
            session, shop=shop, customer=by_service, text="今天能发吗", client_id="b", now=t
        )
        await session.commit()
    jobs = [
        BuyerJob(shop, by_writer, "你们发什么快递", "a", t),
        BuyerJob(shop, by_writer, "今天能发吗", "b", t),
    ]
    statements = await _write(db, jobs)
    assert jobs[0].result is not None and jobs[1].result is not None
    if on_postgres:  # the batch's own way: the conversation opened with its statement
        assert any(s.startswith("DRIVER INSERT INTO conversation") for s in statements)
        assert not any("SAVEPOINT" in s for s in statements), statements
    posted = jobs[0].result
    assert posted.conversation.agent_id == agent.id
    assert [m.sender for m in posted.replies] == ["auto"]  # greeting and answer, merged
    assert "李娜" in posted.replies[0].text and "顺丰" in posted.replies[0].text
    assert jobs[1].result.conversation.id == posted.conversation.id

    served = await _trail(db, shop, first.conversation.id, by_service.id)
    written = await _trail(db, shop, posted.conversation.id, by_writer.id)
    parts = ("conversation", "messages", "rounds", "timers", "events")
    for part, theirs, ours in zip(parts, served, written, strict=True):
        assert ours == theirs, part
    assert [kind for kind, _, _ in written[4]] == [
        "conversation.assigned",
        "message.created",
        "message.created",
        "message.created",
    ]


async def test_a_first_message_nobody_can_take_waits_in_the_queue_the_services_way(
    db: Database, shop: Shop, make_buyer: MakeBuyer, make_agent: MakeAgent
) -> None:
    await make_agent("lina", name="李娜", online=False)
    buyer = await make_buyer("w-q", "小周")
    job = BuyerJob(shop, buyer, "在吗", "q1", AFTERNOON)
    await _write(db, [job])
    assert job.result is not None
    assert job.result.conversation.status == "queued"
    assert job.result.conversation.agent_id is None
    assert [m.meta.get("auto") for m in job.result.replies] == ["welcome"]  # first in line


async def test_a_batchs_events_reach_the_followers_as_the_database_holds_them(
    db: Database,
    shop: Shop,
    make_buyer: MakeBuyer,
    make_agent: MakeAgent,
    on_postgres: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On PostgreSQL the writer hands its committed events to the process's feed, which
    then need not read them back: what followers get equals what the database holds."""
    _, buyers, _ = await _setup(db, shop, make_buyer, make_agent, 3)
    reads = count_reads(monkeypatch)
    async with db.session() as session:
        start = await last_seq(session, shop.id)
    stream = follow(db, shop.id, start)
    collector = asyncio.create_task(_collect(stream, 3))
    await asyncio.sleep(0.1)  # the follower is live
    before = len(reads)
    writer = ChatWriter(db)
    try:
        await asyncio.gather(
            *(
                writer.buyer_message(shop=shop, customer=b, text="还在吗", client_id=f"x{b.id}")
                for b in buyers
            )
        )
        got = await asyncio.wait_for(collector, 5)
        await asyncio.sleep(0.1)  # the commit's notice is heard
    finally:
        await writer.stop()
        await stream.aclose()  # type: ignore[attr-defined]
    assert writer.batches == 1
    async with db.session() as session:
        stored = await read_after(session, shop.id, start)
    assert [e.kind for e in got] == ["message.created"] * 3
    assert got == stored  # number, topic, payload and time as read back
    if on_postgres:
        assert reads[before:] == []  # given by the writer, not read again
    else:
        assert reads[before:] == [start]  # the feed read them
