"""Moments of one package that later packages act on, without the first importing them.

Reception asks which deadlines a buyer's wait for an answer starts; the assistant,
which reception may not import, registers here to answer automatically when nobody
does in time. Those are plans, not actions, so that a batch of messages stores all
its deadlines with one statement; a person's reply cancels them. Reception also tells
when an agent's reply is stored, so the mail package sends it to a buyer who wrote by
e-mail; and the mail package tells of every mail it stores, for after-sales tickets
(below it) to open one. The shop's own site asks the customers package for a member's
prices when an order is placed. The supervisor's floor shows panels of the packages above
performance (the peak day's targets). Hooks run inside the caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.policy import Policy
from xiaoer.core.timers import TimerPlan

# (policy, conversation_id, at) -> deadlines: a buyer message found nobody answering.
WaitingHook = Callable[[Policy, int, datetime], list[TimerPlan]]

_waiting: list[WaitingHook] = []
_answered_cancels: set[str] = set()


def on_buyer_waiting(*cancelled_by_reply: str) -> Callable[[WaitingHook], WaitingHook]:
    """Register a hook (a decorator) whose plans of the kinds ``cancelled_by_reply`` a
    person's reply makes moot; registering twice registers once."""

    def register(hook: WaitingHook) -> WaitingHook:
        if hook not in _waiting:
            _waiting.append(hook)
        _answered_cancels.update(cancelled_by_reply)
        return hook

    return register


def waiting_timers(policy: Policy, conversation_id: int, at: datetime) -> list[TimerPlan]:
    """The deadlines the registered hooks set when a buyer starts waiting."""
    return [plan for hook in _waiting for plan in hook(policy, conversation_id, at)]


def cancelled_by_reply() -> frozenset[str]:
    """Timer kinds a person's reply cancels, besides reception's own deadline."""
    return frozenset(_answered_cancels)


# (session, shop_id, conversation_id, message ids, the whole text, at): an agent's reply
# was stored. A channel that delivers replies itself (e-mail) registers here; reception
# may not import it. Not called for a resend that stored nothing.
RepliedHook = Callable[[AsyncSession, int, int, list[int], str, datetime], Awaitable[None]]

_replied: list[RepliedHook] = []


def on_agent_replied(hook: RepliedHook) -> RepliedHook:
    """Register ``hook`` (usable as a decorator); registering twice registers once."""
    if hook not in _replied:
        _replied.append(hook)
    return hook


async def agent_replied(
    session: AsyncSession,
    *,
    shop_id: int,
    conversation_id: int,
    message_ids: list[int],
    text: str,
    at: datetime,
) -> None:
    for hook in _replied:
        await hook(session, shop_id, conversation_id, message_ids, text, at)


@dataclass(frozen=True)
class MailThread:
    """A mail stored as a buyer message: what a later package (after-sales tickets)
    needs to act on the thread without importing the mail package."""

    shop_id: int
    mailbox_id: int
    conversation_id: int
    message_id: int  # the buyer message in the conversation
    customer_id: int
    address: str  # the buyer's address
    subject: str
    new: bool  # the mail opened the conversation


MailThreadHook = Callable[[AsyncSession, MailThread], Awaitable[None]]

_mail_threads: list[MailThreadHook] = []


def on_mail_thread(hook: MailThreadHook) -> MailThreadHook:
    """Register ``hook`` to run for every stored inbound mail, inside its unit of work."""
    if hook not in _mail_threads:
        _mail_threads.append(hook)
    return hook


async def mail_thread(session: AsyncSession, thread: MailThread) -> None:
    for hook in _mail_threads:
        await hook(session, thread)


# (session, shop_id, customer_id, sku ids) -> {sku_id: price_fen}: the prices a buyer of
# the shop's own site pays below the list price (member prices, R5). Orders sit below the
# customers package, which registers here; the lowest price any hook gives is paid.
SitePricesHook = Callable[[AsyncSession, int, int, list[int]], Awaitable[dict[int, int]]]

_site_prices: list[SitePricesHook] = []


def on_site_prices(hook: SitePricesHook) -> SitePricesHook:
    """Register ``hook`` (usable as a decorator); registering twice registers once."""
    if hook not in _site_prices:
        _site_prices.append(hook)
    return hook


async def site_prices(
    session: AsyncSession, shop_id: int, customer_id: int, sku_ids: list[int]
) -> dict[int, int]:
    """The lowest price each registered hook gives for the SKUs, where one gives any."""
    lowest: dict[int, int] = {}
    if not sku_ids:
        return lowest
    for hook in _site_prices:
        for sku_id, price in (await hook(session, shop_id, customer_id, sku_ids)).items():
            if sku_id not in lowest or price < lowest[sku_id]:
                lowest[sku_id] = price
    return lowest


@dataclass(frozen=True)
class FloorPanel:
    """A section of the supervisor's live floor from a package above performance (the
    peak day's targets): its template, rendered within the floor page with ``panel``
    set to this, and that template's values."""

    template: str
    context: dict[str, Any]


# (session, shop_id, now) -> a panel, or None for nothing to show. Run on every refresh
# of the floor, inside its unit of work, before it commits.
FloorPanelHook = Callable[[AsyncSession, int, datetime], Awaitable[FloorPanel | None]]

_floor_panels: list[FloorPanelHook] = []


def on_floor(hook: FloorPanelHook) -> FloorPanelHook:
    """Register ``hook`` (usable as a decorator); registering twice registers once."""
    if hook not in _floor_panels:
        _floor_panels.append(hook)
    return hook


async def floor_panels(session: AsyncSession, shop_id: int, now: datetime) -> list[FloorPanel]:
    """The registered panels of the floor, in the order their packages registered."""
    panels = []
    for hook in _floor_panels:
        panel = await hook(session, shop_id, now)
        if panel is not None:
            panels.append(panel)
    return panels


# (session, the reader's account, the days the roster page shows) -> a panel, or None.
# The roster page of performance shows the panels of the packages above it (the peak
# day's staffing gaps); the hook decides what the reader may see.
RosterPanelHook = Callable[[AsyncSession, Any, list[date]], Awaitable[FloorPanel | None]]

_roster_panels: list[RosterPanelHook] = []


def on_roster(hook: RosterPanelHook) -> RosterPanelHook:
    """Register ``hook`` for the roster page; registering twice registers once."""
    if hook not in _roster_panels:
        _roster_panels.append(hook)
    return hook


async def roster_panels(session: AsyncSession, staff: Any, days: list[date]) -> list[FloorPanel]:
    """The registered panels of the roster page for the days it shows."""
    panels = []
    for hook in _roster_panels:
        panel = await hook(session, staff, days)
        if panel is not None:
            panels.append(panel)
    return panels
