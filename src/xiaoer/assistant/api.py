"""The assistant over HTTP, for staff: classify, suggest, and record what agents chose."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from xiaoer.assistant.approvals import (
    LEADERS,
    ApprovalError,
    do_decide,
    do_request_approval,
    finding_json,
    findings_for,
    pending_requests,
)
from xiaoer.assistant.classifier import INTENTS, Classification
from xiaoer.assistant.knowledge import suggest
from xiaoer.assistant.learning import classifier_for
from xiaoer.assistant.models import ApprovalRequest, KnowledgeEntry, SuggestionFeedback
from xiaoer.core.policy_store import policy_on
from xiaoer.customers.models import Customer
from xiaoer.reception.models import Conversation, Message
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount
from xiaoer.web.deps import SessionDep, require_staff

router = APIRouter(prefix="/api/assistant")
Staff = Annotated[StaffAccount, Depends(require_staff("agent", "supervisor", "manager"))]

MAX_TEXTS = 200


class ClassifyIn(BaseModel):
    """One message (``text``) or several (``texts``, at most 200)."""

    text: str | None = Field(default=None, min_length=1, max_length=2000)
    texts: list[Annotated[str, Field(min_length=1, max_length=2000)]] | None = Field(
        default=None, min_length=1, max_length=MAX_TEXTS
    )

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyIn:
        if (self.text is None) == (self.texts is None):
            raise ValueError("send either text (one message) or texts (a list)")
        return self


def classification_json(result: Classification) -> dict[str, Any]:
    return {
        "intent": result.intent,
        "confidence": round(result.confidence, 4),
        "bargain_type": result.bargain_type,
        "bargain_confidence": None
        if result.bargain_confidence is None
        else round(result.bargain_confidence, 4),
    }


@router.post("/classify")
async def classify(body: ClassifyIn, session: SessionDep, staff: Staff) -> dict[str, Any]:
    """The intent of each message with its confidence, and a bargain's type (A1, A2)."""
    model = await classifier_for(session, staff.shop_id)
    texts = body.texts if body.texts is not None else [body.text or ""]
    results = [classification_json(model.classify(text)) for text in texts]
    return {"results": results} if body.texts is not None else results[0]


class SuggestIn(BaseModel):
    """Suggestions for a conversation's latest buyer message, or for ``text``."""

    conversation_id: int
    text: str | None = Field(default=None, min_length=1, max_length=2000)


@router.post("/suggestions")
async def suggestions(body: SuggestIn, session: SessionDep, staff: Staff) -> dict[str, Any]:
    """What the buyer asks and the best answers, filled from live shop data (A1–A4)."""
    conversation = await session.get(Conversation, body.conversation_id)
    if conversation is None or conversation.shop_id != staff.shop_id:
        raise HTTPException(404, f"no conversation {body.conversation_id}")
    text = body.text
    if text is None:
        text = await session.scalar(
            select(Message.text)
            .where(Message.conversation_id == conversation.id, Message.sender == "buyer")
            .order_by(Message.id.desc())
            .limit(1)
        )
    shop = await session.get(Shop, staff.shop_id)
    customer = await session.get(Customer, conversation.customer_id)
    assert shop is not None
    if text is None:
        return {"text": None, "suggestions": []}
    policy = await policy_on(session, staff.shop_id)
    found = await suggest(
        session,
        shop=shop,
        policy=policy,
        text=text,
        agent_name=staff.name,
        buyer=customer.nick if customer else "",
    )
    return {"text": text, **found.to_json()}


class FeedbackIn(BaseModel):
    buyer_text: str = Field(min_length=1, max_length=2000)
    intent: str = Field(min_length=1, max_length=32)
    bargain_type: str | None = Field(default=None, max_length=32)
    action: str = Field(pattern="^(picked|edited|rejected)$")
    entry_id: int | None = None
    sent_text: str = Field(default="", max_length=2000)


@router.post("/feedback")
async def feedback(body: FeedbackIn, session: SessionDep, staff: Staff) -> dict[str, Any]:
    """An agent picked, edited or rejected a suggestion; learning folds it in later."""
    if body.intent not in INTENTS:
        raise HTTPException(422, f"unknown intent {body.intent!r}")
    entry_id = body.entry_id
    if entry_id is not None:
        entry = await session.get(KnowledgeEntry, entry_id)
        if entry is None or entry.shop_id != staff.shop_id:
            entry_id = None  # a default entry, or one since deleted: keep the rest
    row = SuggestionFeedback(
        shop_id=staff.shop_id,
        agent_id=staff.id,
        entry_id=entry_id,
        buyer_text=body.buyer_text,
        intent=body.intent,
        bargain_type=body.bargain_type if body.intent == "bargain" else None,
        action=body.action,
        sent_text=body.sent_text,
    )
    session.add(row)
    await session.commit()
    return {"id": row.id}


class DraftIn(BaseModel):
    conversation_id: int
    text: str = Field(min_length=1, max_length=2000)


@router.post("/check")
async def check(body: DraftIn, session: SessionDep, staff: Staff) -> dict[str, Any]:
    """Hints and blocks on a draft, while the agent types (C9, A5, A6)."""
    findings = await findings_for(
        session, shop_id=staff.shop_id, level=staff.level, text=body.text.strip()
    )
    return {
        "findings": [finding_json(f) for f in findings],
        "blocked": any(f.severity == "block" for f in findings),
    }


def _approval_json(row: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": row.id,
        "agent_id": row.agent_id,
        "conversation_id": row.conversation_id,
        "text": row.text,
        "reasons": row.reasons,
        "status": row.status,
        "note": row.note,
        "created_at": row.created_at.isoformat(),
    }


@router.post("/approvals")
async def request_approval(body: DraftIn, session: SessionDep, staff: Staff) -> dict[str, Any]:
    """The agent asks the supervisor to let a blocked message through."""
    try:
        row = await do_request_approval(
            session, agent=staff, conversation_id=body.conversation_id, text=body.text
        )
    except ApprovalError as exc:
        raise HTTPException(422, str(exc)) from exc
    await session.commit()
    return _approval_json(row)


@router.get("/approvals")
async def list_approvals(session: SessionDep, staff: Staff) -> dict[str, Any]:
    """Requests waiting for a decision: all of the shop's for a leader, else one's own."""
    rows = await pending_requests(session, staff.shop_id)
    if not staff.has_role(*LEADERS):
        rows = [r for r in rows if r.agent_id == staff.id]
    return {"approvals": [_approval_json(r) for r in rows]}


class DecisionIn(BaseModel):
    approve: bool
    note: str = Field(default="", max_length=500)


@router.post("/approvals/{request_id}/decision")
async def decide(
    request_id: int, body: DecisionIn, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        row = await do_decide(
            session, actor=staff, request_id=request_id, approve=body.approve, note=body.note
        )
    except ApprovalError as exc:
        raise HTTPException(403 if "only a supervisor" in str(exc) else 422, str(exc)) from exc
    await session.commit()
    return _approval_json(row)
