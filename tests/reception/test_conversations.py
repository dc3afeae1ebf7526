"""A buyer writes, routing finds an agent, auto-replies answer, the agent replies (C2–C8)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.reception.conftest import AFTERNOON, NIGHT, MakeAgent, MakeBuyer
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Promotion
from xiaoer.core.db import Database
from xiaoer.core.events import read_after
from xiaoer.core.policy import parse_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.reception.errors import ReceptionError
from xiaoer.reception.models import Conversation, Message, ResponseRound
from xiaoer.reception.service import (
    Posted,
    do_close,
    do_receive_buyer_message,
    do_send_agent_message,
    do_set_presence,
    do_transfer,
    split_reply,
)
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount


async def say(
    db: Database,
    shop: Shop,
    buyer: Customer,
    text: str,
    *,
    at=AFTERNOON,
    client_id=None,
    team: str = "presale",
) -> Posted:
    async with db.session() as session:
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text=text, client_id=client_id, now=at, team=team
        )
        await session.commit()
        return posted


async def reply(
    db: Database,
    agent: StaffAccount,
    conversation_id: int,
    text: str,
    *,
    at=AFTERNOON,
    client_id=None,
) -> Posted:
    async with db.session() as session:
        posted = await do_send_agent_message(
            session,
            agent=agent,
            conversation_id=conversation_id,
            text=text,
            client_id=client_id,
            now=at,
        )
        await session.commit()
        return posted


async def test_first_message_gets_the_welcome_with_agent_activity_and_courier(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    async with db.session() as session:
        session.add(
            Promotion(
                shop_id=shop.id,
                kind="full_reduction",
                name="满300减30",
                starts_at=AFTERNOON - timedelta(days=1),
                ends_at=AFTERNOON + timedelta(days=1),
            )
        )
        await session.commit()
    await make_agent("lina", name="李娜")
    buyer = await make_buyer("b1", "小鱼")
    posted = await say(db, shop, buyer, "在吗")
    assert posted.conversation.status == "active"
    assert [m.sender for m in posted.replies] == ["auto"]
    welcome = posted.replies[0].text
    assert "茶香小铺" in welcome and "李娜" in welcome
    assert "满300减30" in welcome and "顺丰" in welcome
    assert posted.replies[0].created_at == posted.messages[0].created_at


async def test_automatic_replies_are_not_human_responses(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    await make_agent("lina")
    posted = await say(db, shop, await make_buyer("b1"), "发什么快递")
    # The welcome and the courier keyword's answer, both due at once, are one message.
    assert len(posted.replies) == 1
    merged = posted.replies[0]
    assert merged.meta == {"auto": "keyword", "greeting": "welcome"}
    greeting, answer = merged.text.split("\n", 1)
    assert "茶香小铺" in greeting and "顺丰" in answer
    async with db.session() as session:
        conversation = await session.get(Conversation, posted.conversation.id)
        rounds = list(await session.scalars(select(ResponseRound)))
    assert conversation is not None and conversation.first_response_at is None
    assert len(rounds) == 1 and rounds[0].answered_at is None and rounds[0].first


async def test_keyword_reply_on_a_later_message(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    await make_agent("lina")
    buyer = await make_buyer("b1")
    await say(db, shop, buyer, "你好")
    posted = await say(db, shop, buyer, "请问包邮吗？", at=AFTERNOON + timedelta(seconds=5))
    assert len(posted.replies) == 1
    assert "暂无活动" in posted.replies[0].text


async def test_offline_reply_outside_service_hours_when_nobody_is_online(
    db: Database, shop: Shop, make_buyer: MakeBuyer
) -> None:
    posted = await say(db, shop, await make_buyer("b1"), "有人吗", at=NIGHT)
    assert [m.meta["auto"] for m in posted.replies] == ["offline"]
    assert "不在线" in posted.replies[0].text and "茶香小铺" in posted.replies[0].text


async def test_an_agent_online_after_hours_gets_the_usual_welcome(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    await make_agent("night_owl", at=NIGHT, name="夜班小王")
    posted = await say(db, shop, await make_buyer("b1"), "有人吗", at=NIGHT)
    assert [m.meta["auto"] for m in posted.replies] == ["welcome"]
    assert "夜班小王" in posted.replies[0].text


async def test_routing_uses_online_agents_of_the_team_only(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    await make_agent("offline1", online=False)
    after = await make_agent("after1", team="aftersale")
    pre = await make_agent("pre1")
    first = await say(db, shop, await make_buyer("b1"), "这个有货吗")
    second = await say(db, shop, await make_buyer("b2"), "退货怎么弄", team="aftersale")
    assert first.conversation.agent_id == pre.id
    assert second.conversation.agent_id == after.id


async def test_load_is_spread_and_capped_then_the_buyer_waits_in_line(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    async with db.session() as session:
        policy = parse_policy(
            "[reception]\nmax_concurrent_conversations = 2\nbusy_queue_length = 2\n"
        )
        await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=policy,
            source="",
            effective_from=AFTERNOON.date(),
            actor="test",
        )
        await session.commit()
    a = await make_agent("a1")
    b = await make_agent("b1")
    agents = []
    for i in range(4):
        posted = await say(
            db, shop, await make_buyer(f"buyer{i}"), "你好", at=AFTERNOON + timedelta(seconds=i)
        )
        agents.append(posted.conversation.agent_id)
    assert agents == [a.id, b.id, a.id, b.id]
    fifth = await say(
        db, shop, await make_buyer("buyer4"), "你好", at=AFTERNOON + timedelta(seconds=10)
    )
    sixth = await say(
        db, shop, await make_buyer("buyer5"), "你好", at=AFTERNOON + timedelta(seconds=11)
    )
    assert fifth.conversation.status == sixth.conversation.status == "queued"
    assert [r.meta["auto"] for r in fifth.replies] == ["welcome"]  # first in line: no busy reply
    assert [r.meta["auto"] for r in sixth.replies] == ["welcome", "busy"]
    assert "第 2 位" in sixth.replies[1].text
    # a closed conversation frees a place: the longest-waiting buyer gets it
    async with db.session() as session:
        closed_id = await session.scalar(
            select(Conversation.id).where(Conversation.agent_id == a.id).order_by(Conversation.id)
        )
        await do_close(
            session,
            actor=a,
            conversation_id=closed_id,
            outcome="resolved",
            now=AFTERNOON + timedelta(minutes=1),
        )
        await session.commit()
    async with db.session() as session:
        fifth_now = await session.get(Conversation, fifth.conversation.id)
        sixth_now = await session.get(Conversation, sixth.conversation.id)
        events = await read_after(session, shop.id, 0, limit=1000)
    assert fifth_now is not None and fifth_now.agent_id == a.id and fifth_now.status == "active"
    assert sixth_now is not None and sixth_now.status == "queued"
    positions = [e.payload for e in events if e.kind == "queue.position"]
    assert positions[-1] == {"conversation_id": sixth.conversation.id, "position": 1}


async def test_returning_buyer_goes_back_to_the_agent_who_served_them(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    first_agent = await make_agent("a1")
    buyer = await make_buyer("regular")
    posted = await say(db, shop, buyer, "上次买的窗帘很好")
    assert posted.conversation.agent_id == first_agent.id
    async with db.session() as session:
        await do_close(
            session,
            actor=first_agent,
            conversation_id=posted.conversation.id,
            outcome="resolved",
            now=AFTERNOON,
        )
        await session.commit()
    second_agent = await make_agent("a0")  # an idle agent who would otherwise get it
    for i in range(2):
        await say(db, shop, await make_buyer(f"other{i}"), "你好")
    again = await say(db, shop, buyer, "又来啦", at=AFTERNOON + timedelta(hours=1))
    assert again.conversation.id != posted.conversation.id
    assert again.conversation.agent_id == first_agent.id
    assert second_agent.id != first_agent.id


async def test_waiting_buyer_is_taken_when_an_agent_comes_online(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("late", online=False)
    posted = await say(db, shop, await make_buyer("b1"), "你好")
    assert posted.conversation.status == "queued"
    async with db.session() as session:
        await do_set_presence(session, agent=agent, status="online", now=AFTERNOON)
        await session.commit()
        conversation = await session.get(Conversation, posted.conversation.id)
    assert conversation is not None and conversation.agent_id == agent.id


async def test_agent_reply_records_the_response_round(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    buyer = await make_buyer("b1")
    posted = await say(db, shop, buyer, "在吗")
    await say(db, shop, buyer, "想问问尺寸", at=AFTERNOON + timedelta(seconds=10))
    await reply(db, agent, posted.conversation.id, "亲，在的", at=AFTERNOON + timedelta(seconds=25))
    await say(db, shop, buyer, "2米宽的有吗", at=AFTERNOON + timedelta(seconds=40))
    await reply(db, agent, posted.conversation.id, "有的哦", at=AFTERNOON + timedelta(seconds=100))
    async with db.session() as session:
        rounds = list(await session.scalars(select(ResponseRound).order_by(ResponseRound.id)))
        conversation = await session.get(Conversation, posted.conversation.id)
    assert [(r.first, r.seconds, r.capped_seconds, r.agent_id) for r in rounds] == [
        (True, 25, 25, agent.id),
        (False, 60, 60, agent.id),
    ]
    assert conversation is not None
    assert conversation.first_response_at == AFTERNOON + timedelta(seconds=25)
    assert conversation.unread == 0 and conversation.waiting_since is None


async def test_a_resend_with_the_same_client_id_is_stored_once(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    buyer = await make_buyer("b1")
    first = await say(db, shop, buyer, "在吗", client_id="c-1")
    again = await say(db, shop, buyer, "在吗", client_id="c-1")
    assert again.duplicate and again.messages[0].id == first.messages[0].id
    assert again.replies == []
    sent = await reply(db, agent, first.conversation.id, "在的", client_id="r-1")
    resent = await reply(db, agent, first.conversation.id, "在的", client_id="r-1")
    assert resent.duplicate and resent.messages[0].id == sent.messages[0].id
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Message))
    assert count == 3  # buyer, welcome, agent


async def test_long_replies_are_split_at_sentence_ends(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    posted = await say(db, shop, await make_buyer("b1"), "介绍一下")
    long_text = "这款窗帘用的是加厚棉麻面料，遮光率大约九成。" * 8
    sent = await reply(db, agent, posted.conversation.id, long_text)
    assert len(sent.messages) > 1
    assert all(len(m.text) <= 120 for m in sent.messages)
    assert "".join(m.text for m in sent.messages) == long_text


@pytest.mark.parametrize("limit", [5, 20, 120])
def test_split_reply_keeps_every_character(limit: int) -> None:
    text = "第一句。第二句比较长一些！第三句？" * 5 + "没有标点的一长串文字" * 3
    parts = split_reply(text, limit)
    assert "".join(parts) == text
    assert all(len(p) <= limit for p in parts)


async def test_transfer_to_another_agent_and_to_a_team(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    lina = await make_agent("lina")
    mei = await make_agent("mei", team="aftersale", name="林美")
    posted = await say(db, shop, await make_buyer("b1"), "我要退货")
    assert posted.conversation.agent_id == lina.id
    async with db.session() as session:
        moved = await do_transfer(
            session,
            actor=lina,
            conversation_id=posted.conversation.id,
            to_agent_id=mei.id,
            now=AFTERNOON,
        )
        await session.commit()
    assert moved.agent_id == mei.id and moved.team == "aftersale"
    async with db.session() as session:
        notes = list(await session.scalars(select(Message.text).where(Message.sender == "system")))
        with pytest.raises(ReceptionError, match="another agent"):
            await do_send_agent_message(session, agent=lina, conversation_id=moved.id, text="x")
        back = await do_transfer(
            session, actor=mei, conversation_id=moved.id, to_team="presale", now=AFTERNOON
        )
        await session.commit()
    assert notes == ["已转接给客服 林美"]
    assert back.agent_id == lina.id and back.team == "presale"


async def test_close_needs_an_outcome_and_counts_an_unanswered_round_as_the_cap(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    posted = await say(db, shop, await make_buyer("b1"), "在吗")
    async with db.session() as session:
        with pytest.raises(ReceptionError, match="outcome 'done'"):
            await do_close(
                session, actor=agent, conversation_id=posted.conversation.id, outcome="done"
            )
        await do_close(
            session,
            actor=agent,
            conversation_id=posted.conversation.id,
            outcome="no_reply",
            now=AFTERNOON + timedelta(minutes=30),
        )
        await session.commit()
        entry = await session.scalar(select(ResponseRound))
        conversation = await session.get(Conversation, posted.conversation.id)
    assert entry is not None and entry.answered_at is None and entry.capped_seconds == 600
    assert conversation is not None and conversation.outcome == "no_reply"


@pytest.mark.parametrize("text", ["", "   ", "字" * 2001])
async def test_bad_messages_are_refused_and_nothing_is_stored(
    db: Database, shop: Shop, make_buyer: MakeBuyer, text: str
) -> None:
    buyer = await make_buyer("b1")
    with pytest.raises(ReceptionError):
        await say(db, shop, buyer, text)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 0


async def test_workbench_list_reads_a_constant_number_of_queries(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    from sqlalchemy import event

    from xiaoer.core.policy import Policy
    from xiaoer.reception.workbench import list_conversations

    agent = await make_agent("lina")

    async def count_for(buyers: int) -> tuple[int, list[str]]:
        for i in range(buyers):
            await say(db, shop, await make_buyer(f"q{buyers}-{i}"), f"问题{i}")
        statements: list[str] = []

        def note(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(db.engine.sync_engine, "before_cursor_execute", note)
        try:
            async with db.session() as session:
                rows = await list_conversations(session, agent, Policy())
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", note)
        return len(statements), [r["last_text"] for r in rows]

    few, _ = await count_for(2)
    many, texts = await count_for(6)
    assert few == many == 2
    assert texts[-1] == "问题5"  # the buyer's words, not the welcome that came after them
