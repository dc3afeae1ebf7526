"""A buyer nobody answers in time gets the knowledge base's answer, marked automatic."""

from datetime import date, timedelta

from sqlalchemy import select

import xiaoer.assistant.autoanswer  # noqa: F401  (registers the hook and the timer handler)
from tests.reception.conftest import AFTERNOON, MakeAgent, MakeBuyer
from tests.reception.test_conversations import reply, say
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.core.timers import fire_all_due
from xiaoer.reception.autoreply import do_save_auto_reply
from xiaoer.reception.models import Message, ResponseRound
from xiaoer.shops.models import Shop


async def _automatic(db: Database, conversation_id: int) -> list[Message]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        )
        return [m for m in rows if m.meta.get("auto") == "assistant"]


async def test_an_unanswered_question_is_answered_automatically_and_still_counts_as_waiting(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    await make_agent("lina", name="李娜")
    # no keyword reply of the shop matches this wording; the knowledge base knows
    asked = await say(db, shop, await make_buyer("b1"), "你们用的是顺丰还是圆通")
    cid = asked.conversation.id
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=59))
    assert await _automatic(db, cid) == []
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=61))
    answers = await _automatic(db, cid)
    assert len(answers) == 1 and "顺丰" in answers[0].text
    assert answers[0].sender == "auto" and answers[0].meta["intent"] == "courier"
    async with db.session() as session:
        rounds = list(await session.scalars(select(ResponseRound)))
    assert [(r.answered_at, r.breached) for r in rounds] == [(None, True)]  # still unanswered
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=300))
    assert len(await _automatic(db, cid)) == 1  # once per wait


async def test_a_buyer_asking_for_a_person_or_complaining_waits_for_one(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    await make_agent("lina")
    human = await say(db, shop, await make_buyer("b1"), "转人工")
    angry = await say(db, shop, await make_buyer("b2"), "我要投诉你们，太差劲了")
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=120))
    assert await _automatic(db, human.conversation.id) == []
    assert await _automatic(db, angry.conversation.id) == []


async def test_an_agent_who_answered_in_time_is_not_talked_over(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    agent = await make_agent("lina")
    asked = await say(db, shop, await make_buyer("b1"), "你们发什么快递呀")
    await reply(
        db, agent, asked.conversation.id, "亲，默认发顺丰", at=AFTERNOON + timedelta(seconds=20)
    )
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=120))
    assert await _automatic(db, asked.conversation.id) == []


async def test_the_policy_can_switch_automatic_answers_off(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    base = default_policy()
    off = base.model_copy(
        update={"assistant": base.assistant.model_copy(update={"auto_answer": False})}
    )
    async with db.session() as session:
        await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=off,
            source="test",
            effective_from=date(2000, 1, 1),
            actor="t",
        )
        await session.commit()
    await make_agent("lina")
    asked = await say(db, shop, await make_buyer("b1"), "你们发什么快递呀")
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=120))
    assert await _automatic(db, asked.conversation.id) == []


async def test_a_keyword_reply_already_answered_the_question(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    """To 你们能开发票吗 the shop's keyword reply on 发票 answers; the knowledge base, a
    minute later, says nothing more (it might say otherwise)."""
    await make_agent("lina")
    async with db.session() as session:
        await do_save_auto_reply(
            session, shop_id=shop.id, reply_id=None, kind="keyword", keywords=["发票"],
            text="亲，下单后联系客服开具电子发票哦", active=True,
        )  # fmt: skip
        await session.commit()
    asked = await say(db, shop, await make_buyer("b1"), "你们能开发票吗")
    cid = asked.conversation.id
    await fire_all_due(db, now=AFTERNOON + timedelta(seconds=300))
    async with db.session() as session:
        autos = [
            m.meta.get("auto")
            for m in await session.scalars(
                select(Message).where(Message.conversation_id == cid).order_by(Message.id)
            )
            if m.sender == "auto"
        ]
    assert "keyword" in autos and "assistant" not in autos


async def test_a_later_question_on_the_same_topic_gets_no_answer_saying_otherwise(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    """The shop's keyword reply answered 你们能开发票吗; when the buyer later asks 可以开票吗
    (no keyword in it) and nobody answers in time, the knowledge base keeps quiet rather
    than answer the same question in its own words. Another topic is still answered."""
    lina = await make_agent("lina")
    async with db.session() as session:
        await do_save_auto_reply(
            session, shop_id=shop.id, reply_id=None, kind="keyword", keywords=["发票"],
            text="亲，下单后联系客服开具电子发票哦", active=True,
        )  # fmt: skip
        await session.commit()
    buyer = await make_buyer("b1")
    asked = await say(db, shop, buyer, "你们能开发票吗")
    cid = asked.conversation.id
    assert [m.meta["auto"] for m in asked.replies] == ["keyword"]  # merged with the welcome
    await reply(db, lina, cid, "好的亲", at=AFTERNOON + timedelta(seconds=10))
    later = AFTERNOON + timedelta(minutes=5)
    await say(db, shop, buyer, "可以开票吗", at=later)
    await fire_all_due(db, now=later + timedelta(seconds=300))
    assert await _automatic(db, cid) == []

    await reply(db, lina, cid, "可以的", at=later + timedelta(seconds=400))
    other = later + timedelta(minutes=10)
    await say(db, shop, buyer, "这个是正品吗", at=other)
    await fire_all_due(db, now=other + timedelta(seconds=300))
    answered = await _automatic(db, cid)
    assert [m.meta["intent"] for m in answered] == ["authenticity"]
