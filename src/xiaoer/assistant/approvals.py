"""An agent's message beyond their authority goes to the supervisor first (A5, A6, C9).

Before a message is sent, :func:`check_before_send` (registered with
:mod:`xiaoer.core.send_checks`) runs the checks of :mod:`xiaoer.assistant.checks`
against the authority of the agent's level in the shop's policy. What blocks may be
sent only once the supervisor has approved that very text for that conversation;
the agent asks with :func:`do_request_approval`, the supervisor answers with
:func:`do_decide`. Both are events, so the two workbenches hear of them at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.assistant.checks import Finding, check_message
from xiaoer.assistant.models import ApprovalRequest, ApprovalStatus
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.send_checks import Block
from xiaoer.core.texts import say
from xiaoer.reception.access import check_may_act, load_conversation
from xiaoer.reception.models import Message, Sender
from xiaoer.staff.models import LEADERS, StaffAccount


class ApprovalError(ValueError):
    """A request the approval flow cannot carry out; the message says why."""


class ApprovalForbidden(ApprovalError, NotPermitted):
    """The account may not decide on requests."""


class ApprovalNotFound(ApprovalError, NotFound):
    """No such request in the account's shop."""


async def findings_for(
    session: AsyncSession, *, shop_id: int, level: str, text: str
) -> list[Finding]:
    """Every finding on a draft: what blocks and what is only a hint."""
    return findings_under(await policy_on(session, shop_id), level, text)


def findings_under(policy: Policy, level: str, text: str) -> list[Finding]:
    return check_message(
        text, policy.authority_for(level), split_chars=policy.reception.split_reply_chars
    )


async def check_before_send(
    session: AsyncSession,
    policy: Policy,
    shop_id: int,
    agent_id: int,
    level: str,
    conversation_id: int,
    text: str,
) -> list[Block]:
    """What stops this message; an approval for exactly this text lets it through once."""
    findings = findings_under(policy, level, text)
    blocks = [f for f in findings if f.severity == "block"]
    if not blocks:
        return []
    approved = await session.scalar(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.shop_id == shop_id,
            ApprovalRequest.agent_id == agent_id,
            ApprovalRequest.conversation_id == conversation_id,
            ApprovalRequest.text == text,
            ApprovalRequest.status == ApprovalStatus.approved.value,
            ApprovalRequest.used_at.is_(None),
        )
        .limit(1)
    )
    if approved is not None:
        approved.used_at = utcnow()
        return []
    return [Block(f.code, f.message) for f in blocks]


async def do_request_approval(
    session: AsyncSession,
    *,
    agent: StaffAccount,
    conversation_id: int,
    text: str,
    now: datetime | None = None,
) -> ApprovalRequest:
    """Ask the supervisor to let a blocked message through; asking twice asks once."""
    conversation = await load_conversation(session, agent, conversation_id)
    check_may_act(agent, conversation)  # one's own conversation: the draft is to one's buyer
    cleaned = text.strip()
    findings = await findings_for(session, shop_id=agent.shop_id, level=agent.level, text=cleaned)
    reasons = [f.message for f in findings if f.severity == "block"]
    if not reasons:
        raise ApprovalError(say("this message needs no approval: it may be sent as it is"))
    earlier = await session.scalar(
        select(ApprovalRequest).where(
            ApprovalRequest.agent_id == agent.id,
            ApprovalRequest.conversation_id == conversation_id,
            ApprovalRequest.text == cleaned,
            ApprovalRequest.status == ApprovalStatus.pending.value,
        )
    )
    if earlier is not None:
        return earlier
    request = ApprovalRequest(
        shop_id=agent.shop_id,
        agent_id=agent.id,
        conversation_id=conversation_id,
        text=cleaned,
        reasons=reasons,
        created_at=now or utcnow(),
    )
    session.add(request)
    await session.flush()
    await record_event(
        session,
        agent.shop_id,
        "approval.requested",
        {
            "id": request.id,
            "agent_id": agent.id,
            "agent_name": agent.name,
            "conversation_id": conversation_id,
            "text": cleaned,
            "reasons": reasons,
        },
    )
    return request


async def do_decide(
    session: AsyncSession,
    *,
    actor: StaffAccount,
    request_id: int,
    approve: bool,
    note: str = "",
    now: datetime | None = None,
) -> ApprovalRequest:
    """The supervisor approves or refuses; the agent hears it on their workbench."""
    if not actor.has_role(*LEADERS):
        raise ApprovalForbidden(say("only a supervisor or manager decides on requests"))
    request = await session.get(ApprovalRequest, request_id)
    if request is None or request.shop_id != actor.shop_id:
        raise ApprovalNotFound(say("no request {request_id}", request_id=request_id))
    if request.status == ApprovalStatus.approved.value:
        raise ApprovalError(
            say("request {request_id} was decided already (approved)", request_id=request_id)
        )
    if request.status != ApprovalStatus.pending.value:
        raise ApprovalError(
            say("request {request_id} was decided already (refused)", request_id=request_id)
        )
    request.status = (ApprovalStatus.approved if approve else ApprovalStatus.refused).value
    request.decided_by = actor.id
    request.decided_at = now or utcnow()
    request.note = note.strip()
    await record_event(
        session,
        actor.shop_id,
        "approval.decided",
        {
            "id": request.id,
            "agent_id": request.agent_id,
            "conversation_id": request.conversation_id,
            "approved": approve,
            "note": request.note,
            "by": actor.name,
        },
    )
    return request


async def pending_requests(session: AsyncSession, shop_id: int) -> list[ApprovalRequest]:
    rows = await session.scalars(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.shop_id == shop_id,
            ApprovalRequest.status == ApprovalStatus.pending.value,
        )
        .order_by(ApprovalRequest.id)
    )
    return list(rows)


async def buyer_questions(
    session: AsyncSession, requests: list[ApprovalRequest]
) -> dict[int, str]:
    """What the buyer had last said when each request was made, in one query: the
    supervisor decides on an answer knowing the question."""
    if not requests:
        return {}
    asked = (
        select(Message.text)
        .where(
            Message.conversation_id == ApprovalRequest.conversation_id,
            Message.sender == Sender.buyer.value,
            Message.created_at <= ApprovalRequest.created_at,
        )
        .order_by(Message.id.desc())
        .limit(1)
        .correlate(ApprovalRequest)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(ApprovalRequest.id, asked).where(ApprovalRequest.id.in_([r.id for r in requests]))
    )
    return {int(rid): str(text) for rid, text in rows.all() if text is not None}


async def pending_requests_for(session: AsyncSession, staff: StaffAccount) -> list[ApprovalRequest]:
    """What a leader decides (all the shop's), or what an agent waits for (their own)."""
    rows = await pending_requests(session, staff.shop_id)
    if staff.has_role(*LEADERS):
        return rows
    return [r for r in rows if r.agent_id == staff.id]


def finding_json(finding: Finding) -> dict[str, object]:
    return {
        "code": finding.code,
        "severity": finding.severity,
        "message": finding.message,
        "span": list(finding.span) if finding.span else None,
    }
