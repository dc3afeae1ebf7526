"""Automatic replies (C2, C4): welcome, keyword, busy, offline. Never a human response."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Promotion
from xiaoer.core.db import lock_shop
from xiaoer.core.errors import NotFound
from xiaoer.core.events import record_event
from xiaoer.core.policy import Policy, in_span
from xiaoer.core.texts import message_of, say
from xiaoer.reception.defaults import DEFAULT_AUTO_REPLIES, NO_ACTIVITY, NO_AGENT
from xiaoer.reception.models import AutoReply, AutoReplyKind
from xiaoer.reception.phrases import PhraseError, check_template
from xiaoer.shops.models import Shop
from xiaoer.shops.service import peak_state


async def auto_replies(session: AsyncSession, shop_id: int) -> list[AutoReply]:
    """The shop's replies in force; the shipped defaults until the shop has any of its
    own. In peak mode a kind's active peak replies take the place of its others."""
    rows = list(
        await session.scalars(
            select(AutoReply)
            .where(AutoReply.shop_id == shop_id)
            .order_by(AutoReply.kind, AutoReply.position, AutoReply.id)
        )
    )
    if rows:
        active = [r for r in rows if r.active]
        if (await peak_state(session, shop_id)).on:
            peak_kinds = {r.kind for r in active if r.peak}
            return [r for r in active if r.peak or r.kind not in peak_kinds]
        return [r for r in active if not r.peak]
    return [
        AutoReply(shop_id=shop_id, kind=kind, keywords=list(words), text=text, active=True)
        for kind, words, text in DEFAULT_AUTO_REPLIES
    ]


async def current_activities(session: AsyncSession, shop_id: int, now: datetime) -> list[str]:
    rows = await session.scalars(
        select(Promotion.name)
        .where(Promotion.shop_id == shop_id, Promotion.starts_at <= now, Promotion.ends_at > now)
        .order_by(Promotion.id)
    )
    return list(rows)


async def template_values(
    session: AsyncSession,
    shop: Shop,
    now: datetime,
    *,
    agent_name: str | None = None,
    buyer: str = "",
    position: int | None = None,
    cutoff: str = "",
) -> dict[str, str]:
    activities = await current_activities(session, shop.id, now)
    return values_of(
        shop, activities, agent_name=agent_name, buyer=buyer, position=position, cutoff=cutoff
    )


def values_of(
    shop: Shop,
    activities: list[str],
    *,
    agent_name: str | None = None,
    buyer: str = "",
    position: int | None = None,
    cutoff: str = "",
) -> dict[str, str]:
    """The variables a reply template may use, from what they are made of. ``cutoff``:
    the policy's dispatch cut-off (``fulfilment.cutoff_time``, shop time)."""
    return {
        "shop": shop.name,
        "agent": agent_name or NO_AGENT,
        "buyer": buyer,
        "activity": "；".join(activities) if activities else NO_ACTIVITY,
        "courier": shop.default_courier or "快递",
        "cutoff": cutoff,
        "position": "" if position is None else str(position),
    }


def in_service_hours(policy: Policy, shop: Shop, now: datetime) -> bool:
    wall = now.astimezone(ZoneInfo(shop.timezone)).time()
    return in_span(policy.reception.service_hours, wall)


def first_of(replies: list[AutoReply], kind: AutoReplyKind) -> AutoReply | None:
    return next((r for r in replies if r.kind == kind.value), None)


def keyword_reply(replies: list[AutoReply], text: str) -> AutoReply | None:
    """The first keyword reply any of whose keywords occurs in the buyer's text."""
    lowered = text.lower()
    for reply in replies:
        if reply.kind == AutoReplyKind.keyword.value and any(
            word and word.lower() in lowered for word in reply.keywords
        ):
            return reply
    return None


class AutoReplyError(ValueError):
    pass


class AutoReplyNotFound(NotFound):
    """No such automatic reply in the shop: answered 404, not shown as a form error."""


def check_auto_reply(kind: str, keywords: list[str], text: str) -> list[str]:
    """Validate a rule; returns its keywords cleaned (a keyword rule needs one)."""
    if kind not in {k.value for k in AutoReplyKind}:
        raise AutoReplyError(
            say("kind {kind!r}: expected welcome, keyword, busy or offline", kind=kind)
        )
    words = [w.strip() for w in keywords if w.strip()]
    if kind == AutoReplyKind.keyword.value and not words:
        raise AutoReplyError(say("a keyword reply needs at least one keyword"))
    if any(len(w) > 32 for w in words):
        raise AutoReplyError(say("a keyword is longer than {limit} characters", limit=32))
    try:
        check_template(text)
    except PhraseError as exc:
        raise AutoReplyError(message_of(exc)) from exc
    return words


async def _ensure_own_rules(session: AsyncSession, shop_id: int) -> None:
    """A shop editing its replies for the first time starts from the shipped ones.

    The shop is locked first, so two first edits at once store the shipped replies once.
    """
    await lock_shop(session, shop_id)
    exists = await session.scalar(select(AutoReply.id).where(AutoReply.shop_id == shop_id).limit(1))
    if exists is None:
        for position, (kind, words, text) in enumerate(DEFAULT_AUTO_REPLIES):
            session.add(
                AutoReply(
                    shop_id=shop_id,
                    kind=kind,
                    keywords=list(words),
                    text=text,
                    active=True,
                    position=position,
                )
            )
        await session.flush()


async def all_auto_replies(session: AsyncSession, shop_id: int) -> list[AutoReply]:
    """Every rule, active or not, for the manager's page (the defaults stored first)."""
    await _ensure_own_rules(session, shop_id)
    return list(
        await session.scalars(
            select(AutoReply)
            .where(AutoReply.shop_id == shop_id)
            .order_by(AutoReply.kind, AutoReply.position, AutoReply.id)
        )
    )


async def do_save_auto_reply(
    session: AsyncSession,
    *,
    shop_id: int,
    reply_id: int | None,
    kind: str,
    keywords: list[str],
    text: str,
    active: bool,
    peak: bool = False,
) -> AutoReply:
    words = check_auto_reply(kind, keywords, text)
    await _ensure_own_rules(session, shop_id)
    if reply_id is None:
        rule = AutoReply(shop_id=shop_id, kind=kind, position=100)
        session.add(rule)
    else:
        found = await session.get(AutoReply, reply_id)
        if found is None or found.shop_id != shop_id:
            raise AutoReplyNotFound(say("no automatic reply {reply_id}", reply_id=reply_id))
        rule = found
    rule.kind, rule.keywords, rule.text, rule.active = kind, words, text.strip(), active
    rule.peak = peak
    await session.flush()
    await record_event(session, shop_id, "autoreply.changed", {"reply_id": rule.id})
    return rule


async def do_delete_auto_reply(session: AsyncSession, *, shop_id: int, reply_id: int) -> None:
    await _ensure_own_rules(session, shop_id)
    found = await session.get(AutoReply, reply_id)
    if found is None or found.shop_id != shop_id:
        raise AutoReplyNotFound(say("no automatic reply {reply_id}", reply_id=reply_id))
    await session.delete(found)
    await record_event(session, shop_id, "autoreply.changed", {"reply_id": reply_id})
