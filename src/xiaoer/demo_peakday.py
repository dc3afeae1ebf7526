"""The demo shop's last 双十一, so the peak-day forecast and plan show something real.

Its chats on the last 11 November before today: the ordinary level of that weekday
times five, with a midnight spike six times that high falling back over an hour and a
half, buyers who gave up waiting in the rush, and the same weekday's ordinary chats in
the eight weeks before it (for the days older than the demo's everyday chat history,
which holds the rest). Each chat holds the buyer's question and the agent's answer.
Then the manager's forecast of the next 双十一 from that history, the next 双十一's
peak mode prepared (the role split, a cap, refunds held), and its replies and phrases.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.peakday.forecast import do_forecast_from_history
from xiaoer.peakday.peak_mode import Preparation, do_mark_reviewed, do_prepare
from xiaoer.reception.autoreply import do_save_auto_reply
from xiaoer.reception.models import (
    Conversation,
    ConversationStatus,
    Message,
    QuickPhrase,
    ResponseRound,
)
from xiaoer.staff.models import StaffAccount

ZONE = ZoneInfo("Asia/Shanghai")
# Chats an ordinary day brings per hour of the day (shop time), by team, as many as the
# everyday history's: the afternoon and evening peaks of C11.
ORDINARY: dict[str, tuple[float, ...]] = {
    "presale": (0, 0, 0, 0, 0, 0, 0, 0, 0.5, 0.8, 1.0, 1.0, 0.7, 0.7, 1.2, 1.3,
                1.2, 0.8, 0.7, 1.1, 1.3, 1.2, 0.8, 0.4),
    "aftersale": (0, 0, 0, 0, 0, 0, 0, 0, 0.3, 0.4, 0.5, 0.4, 0.3, 0.3, 0.4, 0.5,
                  0.4, 0.3, 0.3, 0.4, 0.5, 0.4, 0.3, 0.2),
}  # fmt: skip
MULTIPLIER = 5.0
SPIKE = 6.0
SPIKE_MINUTES = 90
WEEKS = 8
QUESTIONS = {
    "presale": ("双十一的满减怎么算？", "定金什么时候付尾款？", "今晚零点开始吗？",
                "这款有现货吗？", "能和优惠券一起用吗？"),
    "aftersale": ("我的订单什么时候发货？", "拍错了能改地址吗？", "怎么申请退款？"),
}  # fmt: skip
ANSWERS = {
    "presale": "亲，活动规则都在首页，满减可以和店铺券一起用哦，有问题随时找我～",
    "aftersale": "亲，大促期间订单会按付款顺序尽快发出，您的问题我已记下，马上帮您处理～",
}
PEAK_REPLIES = (
    ("welcome", "亲，双十一快乐！咨询的人比较多，请把问题一次说完，我们会按顺序尽快回复您～"),
    ("busy", "亲，现在咨询的人多，请稍等一下，马上轮到您～"),
)
PEAK_PHRASES = (
    ("满减", "双十一", "亲，活动是跨店满300减50，可以和店铺券叠加使用哦～"),
    ("尾款", "双十一", "亲，定金付好后，11月11日0点起付尾款，记得在当天付完哦～"),
    ("发货", "双十一", "亲，大促订单量大，我们会在72小时内按付款顺序发出，请耐心等待～"),
)


@dataclass(frozen=True)
class PeakdaySummary:
    last_event: date
    conversations: int
    messages: int
    forecast_id: int
    peak_mode_id: int


def last_event(today: date) -> date:
    """The last 11 November before today."""
    this_year = date(today.year, 11, 11)
    return this_year if this_year < today else date(today.year - 1, 11, 11)


def next_event(today: date) -> date:
    """The next 11 November after today."""
    this_year = date(today.year, 11, 11)
    return this_year if this_year > today else date(today.year + 1, 11, 11)


def _level(team: str, slot: int) -> float:
    """An ordinary day's chats expected in a quarter-hour."""
    return ORDINARY[team][slot // 4] / 4


def _event_level(team: str, slot: int) -> float:
    """The event's chats expected in a quarter-hour: the ordinary day's times the
    multiplier, and at midnight a spike from its busiest quarter-hour."""
    level, top = _level(team, slot), SPIKE * max(ORDINARY[team]) / 4
    rise = max(0.0, 1 - slot * 15 / SPIKE_MINUTES)
    return MULTIPLIER * (level + (top - level) * rise)


def _poisson(rng: random.Random, mean: float) -> int:
    """A count with that mean (Knuth's method for small means, normal beyond)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _chats(
    rng: random.Random,
    day: date,
    counts: dict[str, list[int]],
    buyers: list[int],
    agents: dict[str, list[int]],
    rush: bool,
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Conversation rows and their messages for one day's counts per quarter-hour."""
    made = []
    start = datetime.combine(day, time(0), ZONE).astimezone(UTC)
    for team, slots in counts.items():
        for slot, count in enumerate(slots):
            for _ in range(count):
                opened = start + timedelta(seconds=slot * 900 + rng.randint(0, 899))
                busy = rush and slot < SPIKE_MINUTES // 15
                wait = rng.randint(40, 300) if busy else rng.randint(3, 25)
                gave_up = busy and rng.random() < 0.12
                agent = rng.choice(agents[team])
                taken = opened + timedelta(seconds=wait)
                closed = taken + timedelta(seconds=rng.randint(150, 420))
                row = {
                    "team": team, "customer_id": rng.choice(buyers),
                    "agent_id": None if gave_up else agent,
                    "status": ConversationStatus.closed.value, "opened_at": opened,
                    "queued_at": opened, "assigned_at": None if gave_up else taken,
                    "first_response_at": None if gave_up else taken + timedelta(seconds=8),
                    "last_message_at": taken if gave_up else closed,
                    "closed_at": taken if gave_up else closed,
                    "outcome": "other" if gave_up else "resolved", "unread": 0,
                    "buyer_messages": 1, "agent_messages": 0 if gave_up else 1,
                }  # fmt: skip
                messages: list[dict[str, Any]] = [
                    {"sender": "buyer", "agent_id": None, "created_at": opened,
                     "text": rng.choice(QUESTIONS[team])}]  # fmt: skip
                if not gave_up:
                    messages.append({"sender": "agent", "agent_id": agent,
                                     "created_at": taken + timedelta(seconds=8),
                                     "text": ANSWERS[team]})  # fmt: skip
                made.append((row, messages))
    return made


def _round(shop_id: int, conversation_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """The chat's one response round, as reception would have kept it (C3)."""
    opened, answered = row["opened_at"], row["first_response_at"]
    seconds = int((answered - opened).total_seconds()) if answered is not None else None
    return {
        "shop_id": shop_id, "conversation_id": conversation_id, "agent_id": row["agent_id"],
        "first": True, "started_at": opened, "answered_at": answered, "seconds": seconds,
        "capped_seconds": min(seconds, 600) if seconds is not None else 600,
        "breached": seconds is None or seconds > 30,
    }  # fmt: skip


async def seed_peakday(
    db: Database, rng: random.Random, shop_id: int, base: datetime, first_history_day: date
) -> PeakdaySummary:
    """Last 双十一's chats, the next one's forecast and its peak mode prepared.
    ``first_history_day``: the oldest day of the demo's everyday chats."""
    today = base.astimezone(ZONE).date()
    event = last_event(today)
    async with db.session() as session:
        buyers = list(
            await session.scalars(
                select(Customer.id).where(Customer.shop_id == shop_id).order_by(Customer.id)
            )
        )
        staff = list(await session.scalars(
            select(StaffAccount).where(StaffAccount.shop_id == shop_id)))  # fmt: skip
        agents = {
            team: [a.id for a in staff if a.has_role("agent") and a.team == team]
            for team in ORDINARY
        }
        days: list[tuple[date, dict[str, list[int]], bool]] = []
        for k in range(1, WEEKS + 1):
            ordinary = event - timedelta(days=7 * k)
            if ordinary < first_history_day:  # the everyday history holds the newer ones
                days.append((ordinary, {team: [_poisson(rng, _level(team, s)) for s in range(96)]
                                        for team in ORDINARY}, False))  # fmt: skip
        covered = event >= first_history_day  # its ordinary chats are there already
        days.append((event, {
            team: [_poisson(rng, _event_level(team, s) - (_level(team, s) if covered else 0))
                   for s in range(96)]
            for team in ORDINARY}, True))  # fmt: skip
        added = written = 0
        for day, counts, rush in days:
            chats = _chats(rng, day, counts, buyers, agents, rush)
            if not chats:
                continue
            rows = [{"shop_id": shop_id, "channel_id": None, "waiting_since": None, **row}
                    for row, _ in chats]  # fmt: skip
            ids = list(await session.scalars(
                insert(Conversation).returning(Conversation.id)
                .execution_options(render_nulls=True), rows))  # fmt: skip
            await session.execute(insert(ResponseRound), [
                _round(shop_id, cid, row) for cid, (row, _) in zip(ids, chats, strict=True)
            ])  # fmt: skip
            await session.execute(insert(Message), [
                {"shop_id": shop_id, "conversation_id": cid, "dedupe_key": None, "meta": {},
                 **message}
                for cid, (_, messages) in zip(ids, chats, strict=True) for message in messages
            ])  # fmt: skip
            added += len(chats)
            written += sum(len(messages) for _, messages in chats)
        manager = next(a for a in staff if a.has_role("manager"))
        coming = next_event(today)
        forecast = await do_forecast_from_history(
            session, manager, name=f"{coming.year} 双十一", day=coming, multiplier=MULTIPLIER,
            spike=SPIKE, spike_minutes=SPIKE_MINUTES, now=base,
        )
        for kind, text in PEAK_REPLIES:
            await do_save_auto_reply(session, shop_id=shop_id, reply_id=None, kind=kind,
                                     keywords=[], text=text, active=True, peak=True)  # fmt: skip
        session.add_all(
            QuickPhrase(shop_id=shop_id, owner_id=None, group=group, shortcut=shortcut,
                        text=text, peak=True)
            for shortcut, group, text in PEAK_PHRASES
        )  # fmt: skip
        split = {a.id: "aftersale" for a in staff if a.has_role("supervisor")}
        midnight = datetime.combine(coming, time(0), ZONE)
        mode = await do_prepare(session, manager, Preparation(
            name=f"{coming.year} 双十一大促", starts_at=midnight,
            ends_at=midnight + timedelta(days=1), agent_cap=12, refund_blackout=True,
            teams=split, forecast_id=forecast.id, note="零点开启，次日零点结束。"),
            now=base)  # fmt: skip
        await do_mark_reviewed(session, manager, mode.id, now=base)
        await session.commit()
    return PeakdaySummary(event, added, written, forecast.id, mode.id)
