"""Checks an agent's message must pass before it is sent, registered by later packages.

Reception sends agents' messages but may not import the assistant, which knows what
an agent may promise (A5, A6). The assistant registers its check here when the app
is built; reception asks every registered check and refuses a message any of them
blocks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.policy import Policy


@dataclass(frozen=True)
class Block:
    """Why a message may not be sent as it is, for the agent to read."""

    code: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


# (session, policy in force, shop_id, agent_id, agent_level, conversation_id, text) -> blocks
SendCheck = Callable[[AsyncSession, Policy, int, int, str, int, str], Awaitable[list[Block]]]

_checks: list[SendCheck] = []


def register_send_check(check: SendCheck) -> None:
    if check not in _checks:
        _checks.append(check)


async def blocks_for(
    session: AsyncSession,
    policy: Policy,
    *,
    shop_id: int,
    agent_id: int,
    agent_level: str,
    conversation_id: int,
    text: str,
) -> list[Block]:
    found: list[Block] = []
    for check in _checks:
        found.extend(
            await check(session, policy, shop_id, agent_id, agent_level, conversation_id, text)
        )
    return found
