"""Moments of one package that later packages act on, without the first importing them.

Reception tells when a buyer starts waiting for an answer; the assistant, which
reception may not import, registers here to answer automatically when nobody
does in time. Reception also tells when an agent's reply is stored, so the mail
package sends it to a buyer who wrote by e-mail; and the mail package tells of
every mail it stores, for after-sales tickets (below it) to open one. Hooks run
inside the caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

# (session, shop_id, conversation_id, at): a buyer message found nobody answering.
WaitingHook = Callable[[AsyncSession, int, int, datetime], Awaitable[None]]

_waiting: list[WaitingHook] = []


def on_buyer_waiting(hook: WaitingHook) -> WaitingHook:
    """Register ``hook`` (usable as a decorator); registering twice registers once."""
    if hook not in _waiting:
        _waiting.append(hook)
    return hook


async def buyer_waiting(
    session: AsyncSession, *, shop_id: int, conversation_id: int, at: datetime
) -> None:
    for hook in _waiting:
        await hook(session, shop_id, conversation_id, at)


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
