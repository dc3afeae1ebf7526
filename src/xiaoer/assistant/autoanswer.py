"""Automatic answers: a buyer nobody answered in time gets the knowledge base's answer.

When a buyer starts waiting, a timer is set for the policy's seconds. If, when it
fires, the buyer still waits and no keyword reply or earlier automatic answer has
answered the question since, the latest buyer message is classified; above the
policy's confidence, and unless the buyer wants a person or complains, the best
suggestion is sent, marked automatic. It never counts as a human response: the
round stays open and its deadline still holds (C3, C4).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.assistant.knowledge import suggest_for_conversation
from xiaoer.assistant.learning import classifier_for
from xiaoer.core.hooks import on_buyer_waiting
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.timers import TimerPlan, timer_handler
from xiaoer.reception.models import Conversation, ConversationStatus, Message, Sender
from xiaoer.reception.service import do_add_automatic_reply
from xiaoer.staff.models import StaffAccount

AUTO_ANSWER = "assistant.auto_answer"
ALWAYS_A_PERSON = frozenset({"human", "complaint"})
# Automatic messages that answer the buyer's question: a keyword reply the shop wrote,
# or a knowledge-base answer. After one of them, no second one follows for the wait.
ANSWERS = ("keyword", "assistant")


@on_buyer_waiting(AUTO_ANSWER)
def plan_auto_answer(policy: Policy, conversation_id: int, at: datetime) -> list[TimerPlan]:
    """The automatic answer's timer; a person's reply cancels it."""
    if not policy.assistant.auto_answer:
        return []
    return [
        TimerPlan(
            AUTO_ANSWER,
            f"conversation:{conversation_id}",
            at + timedelta(seconds=policy.assistant.auto_answer_seconds),
            {"conversation_id": conversation_id},
        )
    ]


async def _said_already(session: AsyncSession, conversation: Conversation, intent: str) -> bool:
    """Whether an automatic answer earlier in the conversation was on ``intent``: a
    knowledge answer records its intent; a keyword reply answered the buyer message
    just before it, which is classified now."""
    earlier = list(
        await session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.meta["auto"].as_string().in_(ANSWERS),
            )
            .order_by(Message.id)
        )
    )
    classifier = None
    for answer in earlier:
        if answer.meta.get("intent") == intent:
            return True
        if answer.meta.get("auto") != "keyword":
            continue
        asked = await session.scalar(
            select(Message.text)
            .where(
                Message.conversation_id == conversation.id,
                Message.sender == Sender.buyer.value,
                Message.id < answer.id,
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        if asked is None:
            continue
        classifier = classifier or await classifier_for(session, conversation.shop_id)
        if classifier.classify(asked).intent == intent:
            return True
    return False


@timer_handler(AUTO_ANSWER)
async def _auto_answer(session: AsyncSession, timer: Timer, now: datetime) -> None:
    conversation = await session.get(Conversation, int(timer.payload["conversation_id"]))
    if (
        conversation is None
        or conversation.status == ConversationStatus.closed.value
        or conversation.waiting_since is None  # a person answered meanwhile
    ):
        return
    already = await session.scalar(
        select(Message.id).where(
            Message.conversation_id == conversation.id,
            Message.created_at >= conversation.waiting_since,
            Message.meta["auto"].as_string().in_(ANSWERS),
        )
    )
    if already is not None:
        return  # one automatic answer per question: the shop has said its word
    agent_id = conversation.agent_id
    agent = await session.get(StaffAccount, agent_id) if agent_id is not None else None
    suggested = await suggest_for_conversation(
        session, conversation, agent_name=agent.name if agent else "", now=now
    )
    if suggested is None:
        return
    _, found = suggested
    policy = await policy_on(session, conversation.shop_id, now.date())
    c = found.classification
    if (
        c.intent in ALWAYS_A_PERSON
        or c.confidence < policy.assistant.auto_answer_confidence
        or not found.suggestions
    ):
        return
    if await _said_already(session, conversation, c.intent):
        return  # the shop answered this kind of question before: never say otherwise
    best = found.suggestions[0]
    await do_add_automatic_reply(
        session,
        conversation,
        best.text,
        source="assistant",
        meta={"intent": c.intent, "confidence": round(c.confidence, 4), "entry_id": best.entry_id},
        now=now,
    )
