"""Learning from the agents: accepted suggestions become examples of the shop's classifier.

An agent who inserts a suggestion (as it is, or edited before sending) confirms
that the buyer's message was of the suggestion's intent; a rejected suggestion
says nothing about what it was. :func:`do_retrain` trains the shop's classifier on
the shipped examples plus every confirmed pair, stores it, and marks the pairs
learnt. :func:`classifier_for` is what the assistant uses: the shop's own model
when it has one, else the shipped one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.assistant.classifier import (
    BARGAIN,
    BARGAIN_TYPES,
    INTENTS,
    Classifier,
    Example,
    default_classifier,
    default_classifier_trained,
    shipped_examples,
)
from xiaoer.assistant.models import KnowledgeEntry, ShopClassifier, SuggestionFeedback
from xiaoer.core.clock import utcnow
from xiaoer.core.texts import say
from xiaoer.staff.models import StaffAccount

ACCEPTED = ("picked", "edited")


@dataclass(frozen=True)
class Retrained:
    shop_id: int
    examples: int
    learned: int
    new: int


async def accepted_examples(session: AsyncSession, shop_id: int) -> list[Example]:
    """One example per distinct buyer text the agents confirmed, the latest word winning."""
    rows = await session.scalars(
        select(SuggestionFeedback)
        .where(SuggestionFeedback.shop_id == shop_id, SuggestionFeedback.action.in_(ACCEPTED))
        .order_by(SuggestionFeedback.id)
    )
    latest: dict[str, Example] = {}
    for row in rows:
        if row.intent not in INTENTS:
            continue
        kind = row.bargain_type if row.intent == BARGAIN else None
        if row.intent == BARGAIN and kind not in BARGAIN_TYPES:
            continue  # a bargain without its type cannot teach the type model
        latest[row.buyer_text.strip()] = Example(row.buyer_text.strip(), row.intent, kind)
    return list(latest.values())


async def do_retrain(session: AsyncSession, shop_id: int, now: datetime | None = None) -> Retrained:
    """Train and store the shop's classifier; the pairs used are marked learnt."""
    learned = await accepted_examples(session, shop_id)
    shipped = shipped_examples()
    known = {e.text for e in shipped}
    examples = shipped + [e for e in learned if e.text not in known]
    model = Classifier.train(examples)
    new = await session.execute(
        update(SuggestionFeedback)
        .where(
            SuggestionFeedback.shop_id == shop_id,
            SuggestionFeedback.action.in_(ACCEPTED),
            SuggestionFeedback.learned.is_(False),
        )
        .values(learned=True)
    )
    row = await session.get(ShopClassifier, shop_id)
    if row is None:
        row = ShopClassifier(shop_id=shop_id, model={}, examples=0, learned=0)
        session.add(row)
    row.model = model.to_dict()
    row.examples = len(examples)
    row.learned = len(examples) - len(shipped)
    row.trained_at = now or utcnow()
    _cache.pop(shop_id, None)
    return Retrained(shop_id, len(examples), row.learned, int(getattr(new, "rowcount", 0) or 0))


async def do_record_feedback(
    session: AsyncSession,
    *,
    agent: StaffAccount,
    buyer_text: str,
    intent: str,
    bargain_type: str | None,
    action: str,
    entry_id: int | None = None,
    sent_text: str = "",
) -> SuggestionFeedback:
    """Record what an agent did with a suggestion (picked, edited or rejected)."""
    if intent not in INTENTS:
        raise ValueError(say("unknown intent {intent!r}", intent=intent))
    if entry_id is not None:
        entry = await session.get(KnowledgeEntry, entry_id)
        if entry is None or entry.shop_id != agent.shop_id:
            entry_id = None  # a default entry, or one since deleted: keep the rest
    row = SuggestionFeedback(
        shop_id=agent.shop_id,
        agent_id=agent.id,
        entry_id=entry_id,
        buyer_text=buyer_text,
        intent=intent,
        bargain_type=bargain_type if intent == BARGAIN else None,
        action=action,
        sent_text=sent_text,
    )
    session.add(row)
    await session.flush()
    return row


_cache: dict[int, tuple[datetime, Classifier]] = {}


async def classifier_for(session: AsyncSession, shop_id: int) -> Classifier:
    """The shop's own classifier if it was retrained, else the shipped one."""
    trained_at = await session.scalar(
        select(ShopClassifier.trained_at).where(ShopClassifier.shop_id == shop_id)
    )
    if trained_at is None:
        if default_classifier_trained():
            return default_classifier()
        # Training takes seconds: in a worker thread, so the server goes on answering.
        return await asyncio.to_thread(default_classifier)
    cached = _cache.get(shop_id)
    if cached is not None and cached[0] == trained_at:
        return cached[1]
    data = await session.scalar(
        select(ShopClassifier.model).where(ShopClassifier.shop_id == shop_id)
    )
    model = await asyncio.to_thread(Classifier.from_dict, data or {})
    _cache[shop_id] = (trained_at, model)
    return model
