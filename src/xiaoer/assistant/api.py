"""The assistant over HTTP, for staff: ``POST /api/assistant/classify``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator

from xiaoer.assistant.classifier import Classification, default_classifier
from xiaoer.staff.models import StaffAccount
from xiaoer.web.deps import require_staff

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
async def classify(body: ClassifyIn, staff: Staff) -> dict[str, Any]:
    """The intent of each message with its confidence, and a bargain's type (A1, A2)."""
    model = default_classifier()
    texts = body.texts if body.texts is not None else [body.text or ""]
    results = [classification_json(model.classify(text)) for text in texts]
    return {"results": results} if body.texts is not None else results[0]
