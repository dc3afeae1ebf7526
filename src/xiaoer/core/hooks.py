"""Moments of one package that later packages act on, without the first importing them.

Reception tells when a buyer starts waiting for an answer; the assistant, which
reception may not import, registers here to answer automatically when nobody
does in time. Hooks run inside the caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
