"""Who may read and act on a conversation: one answer for routes, sockets and services.

A supervisor or manager reads and acts on every conversation of the shop. An agent
acts on the conversations assigned to them and reads those, and reads the ones
waiting unassigned in their own team's queue (the workbench lists them, to take);
another agent's conversation or another team's queue stays closed to them, in
the panel, the assistant's suggestions and the live stream alike.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.errors import NotFound
from xiaoer.core.texts import say
from xiaoer.reception.errors import NotAllowed, ReceptionError
from xiaoer.reception.models import Conversation
from xiaoer.staff.models import StaffAccount, is_leader


class ConversationNotFound(ReceptionError, NotFound):
    """No such conversation in the account's shop."""


def may_read(staff: StaffAccount, conversation: Conversation) -> bool:
    if staff.shop_id != conversation.shop_id:
        return False
    if is_leader(staff):
        return True
    if not staff.has_role("agent"):
        return False
    if conversation.agent_id == staff.id:
        return True
    return conversation.agent_id is None and conversation.team == staff.team


def check_may_read(staff: StaffAccount, conversation: Conversation) -> None:
    if not may_read(staff, conversation):
        if conversation.agent_id is None:
            raise NotAllowed(say("this conversation waits in another team's queue"))
        raise NotAllowed(say("this conversation is with another agent"))


def check_may_act(agent: StaffAccount, conversation: Conversation) -> None:
    """The assigned agent acts on a conversation; a supervisor may act on any."""
    if agent.shop_id != conversation.shop_id:
        raise ConversationNotFound(say("no conversation {cid}", cid=conversation.id))
    if conversation.agent_id != agent.id and not is_leader(agent):
        raise NotAllowed(say("this conversation is with another agent"))


async def load_conversation(
    session: AsyncSession, staff: StaffAccount, conversation_id: int
) -> Conversation:
    """A conversation of the account's shop, whoever may read it (the caller checks)."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None or conversation.shop_id != staff.shop_id:
        raise ConversationNotFound(say("no conversation {cid}", cid=conversation_id))
    return conversation


async def conversation_for(
    session: AsyncSession, staff: StaffAccount, conversation_id: int
) -> Conversation:
    """A conversation the account may read; refused otherwise."""
    conversation = await load_conversation(session, staff, conversation_id)
    check_may_read(staff, conversation)
    return conversation
