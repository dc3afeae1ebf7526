"""The assistant over HTTP, for staff: classify, suggest, and record what agents chose."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, model_validator

from xiaoer.assistant.approvals import (
    ApprovalError,
    buyer_questions,
    do_decide,
    do_request_approval,
    finding_json,
    findings_for,
    pending_requests_for,
)
from xiaoer.assistant.classifier import Classification
from xiaoer.assistant.knowledge import suggestions_for
from xiaoer.assistant.learning import classifier_for, do_record_feedback
from xiaoer.assistant.models import ApprovalRequest
from xiaoer.core.texts import say
from xiaoer.http.deps import SessionDep, require_staff
from xiaoer.http.errors import refusal
from xiaoer.http.params import RowId
from xiaoer.http.render import error_text
from xiaoer.staff.models import StaffAccount

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
            raise ValueError(say("send either text (one message) or texts (a list)"))
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
async def suggestions(
    body: SuggestIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    """What the buyer asks and the best answers, filled from live shop data (A1–A4)."""
    found = await suggestions_for(session, staff, body.conversation_id, text=body.text)
    if found is None:
        return {"text": None, "suggestions": []}
    text, result = found
    return {"text": text, **result.to_json()}


class FeedbackIn(BaseModel):
    buyer_text: str = Field(min_length=1, max_length=2000)
    intent: str = Field(min_length=1, max_length=32)
    bargain_type: str | None = Field(default=None, max_length=32)
    action: str = Field(pattern="^(picked|edited|rejected)$")
    entry_id: int | None = None
    sent_text: str = Field(default="", max_length=2000)


@router.post("/feedback")
async def feedback(
    body: FeedbackIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    """An agent picked, edited or rejected a suggestion; learning folds it in later."""
    try:
        row = await do_record_feedback(
            session,
            agent=staff,
            buyer_text=body.buyer_text,
            intent=body.intent,
            bargain_type=body.bargain_type,
            action=body.action,
            entry_id=body.entry_id,
            sent_text=body.sent_text,
        )
    except ValueError as exc:
        raise HTTPException(422, error_text(request, exc)) from exc
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
async def request_approval(
    body: DraftIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    """The agent asks the supervisor to let a blocked message through."""
    try:
        row = await do_request_approval(
            session, agent=staff, conversation_id=body.conversation_id, text=body.text
        )
    except ApprovalError as exc:
        raise HTTPException(422, error_text(request, exc)) from exc
    await session.commit()
    return _approval_json(row)


@router.get("/approvals")
async def list_approvals(session: SessionDep, staff: Staff) -> dict[str, Any]:
    """Requests waiting for a decision: all of the shop's for a leader, else one's own."""
    rows = await pending_requests_for(session, staff)
    asked = await buyer_questions(session, rows)
    return {"approvals": [{**_approval_json(r), "buyer_text": asked.get(r.id, "")} for r in rows]}


class DecisionIn(BaseModel):
    approve: bool
    note: str = Field(default="", max_length=500)


@router.post("/approvals/{request_id}/decision")
async def decide(
    request_id: RowId, body: DecisionIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        row = await do_decide(
            session, actor=staff, request_id=request_id, approve=body.approve, note=body.note
        )
    except ApprovalError as exc:
        raise refusal(request, exc) from exc
    await session.commit()
    return _approval_json(row)
