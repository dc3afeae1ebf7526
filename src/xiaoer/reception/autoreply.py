"""Automatic replies (C2, C4): welcome, keyword, busy, offline. Never a human response."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.catalog.models import Promotion
from xiaoer.core.policy import Policy, in_span
from xiaoer.reception.defaults import DEFAULT_AUTO_REPLIES, NO_ACTIVITY, NO_AGENT
from xiaoer.reception.models import AutoReply, AutoReplyKind
from xiaoer.shops.models import Shop


async def auto_replies(session: AsyncSession, shop_id: int) -> list[AutoReply]:
    """The shop's replies; the shipped defaults until the shop has any of its own."""
    rows = list(
        await session.scalars(
            select(AutoReply)
            .where(AutoReply.shop_id == shop_id)
            .order_by(AutoReply.kind, AutoReply.position, AutoReply.id)
        )
    )
    if rows:
        return [r for r in rows if r.active]
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
) -> dict[str, str]:
    activities = await current_activities(session, shop.id, now)
    return {
        "shop": shop.name,
        "agent": agent_name or NO_AGENT,
        "buyer": buyer,
        "activity": "；".join(activities) if activities else NO_ACTIVITY,
        "courier": shop.default_courier or "快递",
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
