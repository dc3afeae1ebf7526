"""Every JSON error answer in one shape: ``{"code": …, "detail": …}``.

``code`` is a stable word for programs (``unknown_channel``, ``not_found``,
``invalid`` …); ``detail`` is one sentence for people, in the caller's language.
A request whose fields are wrong (a missing field, a number out of range) answers
``422`` with ``code`` ``invalid``, ``detail`` naming every problem, and ``fields``:
one ``{"field", "code", "detail"}`` per problem. Pages keep their own error page.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response

from xiaoer.core.texts import Text, message_of, say
from xiaoer.http.render import error_text

# The code of an answer that names none of its own, by its status.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}

# Codes of the refusals a program may want to tell apart, by their English template.
TEMPLATE_CODES = {
    "unknown channel or wrong secret": "unknown_channel",
    "sign in first": "sign_in_first",
    "the message is empty": "empty_message",
    "the message has {chars} characters; at most {limit} are allowed": "message_too_long",
    "too many messages on this channel; slow down": "too_many_requests",
    "too many calls on this channel; slow down": "too_many_requests",
    "no order {number} on this channel": "no_such_order",
    "order number {number} is already used by an order not placed through this channel": (
        "number_taken"
    ),
    "cash on delivery: confirm the order with the buyer by phone before shipping": (
        "needs_phone_confirmation"
    ),
    "order {number} has not shipped": "not_shipped",
    "order {number} is {status}; it cannot close": "cannot_close",
    "no shipped parcel with waybill {waybill}": "no_such_parcel",
    "unknown carrier {carrier!r}": "unknown_carrier",
}

WHERE = {"body": "the body", "query": "the query", "path": "the address", "header": "a header"}


def _problem(kind: str, field: str, ctx: dict[str, Any]) -> Text:
    """A field's problem in our words, by pydantic's error type."""
    if kind == "missing":
        return say("{field} is required", field=field)
    if kind == "string_too_short" and "min_length" in ctx:
        return say("{field} needs at least {min_length} characters", field=field, **ctx)
    if kind == "string_too_long" and "max_length" in ctx:
        return say("{field} takes at most {max_length} characters", field=field, **ctx)
    if kind == "too_short" and "min_length" in ctx:
        return say("{field} needs at least {min_length} items", field=field, **ctx)
    if kind == "too_long" and "max_length" in ctx:
        return say("{field} takes at most {max_length} items", field=field, **ctx)
    if kind == "greater_than_equal" and "ge" in ctx:
        return say("{field} must be at least {ge}", field=field, ge=ctx["ge"])
    if kind == "greater_than" and "gt" in ctx:
        return say("{field} must be more than {gt}", field=field, gt=ctx["gt"])
    if kind == "less_than_equal" and "le" in ctx:
        return say("{field} must be at most {le}", field=field, le=ctx["le"])
    if kind == "less_than" and "lt" in ctx:
        return say("{field} must be less than {lt}", field=field, lt=ctx["lt"])
    if kind == "string_pattern_mismatch":
        return say("{field} has characters that are not allowed", field=field)
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return say("{field} must be a whole number", field=field)
    if kind == "string_type":
        return say("{field} must be text", field=field)
    if kind in ("bool_parsing", "bool_type"):
        return say("{field} must be true or false", field=field)
    if kind == "list_type":
        return say("{field} must be a list", field=field)
    if kind in ("dict_type", "model_attributes_type", "model_type"):
        return say("{field} must be a JSON object", field=field)
    if kind == "extra_forbidden":
        return say("{field} is not a known field", field=field)
    if kind == "json_invalid":
        return say("the body is not valid JSON")
    return say("{field} is not valid", field=field)


class CodedText(str):
    """An error's text for people that also carries its code for programs."""

    code: str

    def __new__(cls, text: str, code: str) -> CodedText:
        made = super().__new__(cls, text)
        made.code = code
        return made


def code_of(error: BaseException | str) -> str | None:
    """The code named for an error's message, if any."""
    message = message_of(error)
    return TEMPLATE_CODES.get(message.template if isinstance(message, Text) else str(message))


def coded_error(request: HTTPConnection, error: BaseException | str) -> str:
    """:func:`error_text` that also keeps the error's code for the answer."""
    text = error_text(request, error)
    code = code_of(error)
    return CodedText(text, code) if code else text


def error_body(status: int, detail: Any) -> dict[str, Any]:
    """The one shape of a JSON error from an ``HTTPException``'s detail."""
    if isinstance(detail, dict):
        extra = {k: v for k, v in detail.items() if k not in ("message", "detail", "code")}
        message = detail.get("detail", detail.get("message", ""))
        code = detail.get("code") or getattr(message, "code", None)
        return {"code": code or STATUS_CODES.get(status, "error"), "detail": message, **extra}
    code = getattr(detail, "code", None) or STATUS_CODES.get(status, "error")
    return {"code": code, "detail": "" if detail is None else str(detail)}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in WHERE:
        parts = parts[1:] if len(parts) > 1 else [WHERE[parts[0]]]
    return ".".join(parts) or "the body"


def field_problems(request: HTTPConnection, exc: RequestValidationError) -> list[dict[str, str]]:
    """Each wrong field, with its problem in the caller's language; never its input."""
    problems = []
    for error in exc.errors():
        kind = str(error.get("type", ""))
        field = _field_name(tuple(error.get("loc", ())))
        given = error.get("ctx") or {}
        raw = given.get("error")
        if kind == "value_error" and isinstance(raw, ValueError):
            message: str = message_of(raw)  # a validator's own sentence says it best
        else:
            context = {k: v for k, v in given.items() if isinstance(v, int | str)}
            message = _problem(kind, field, context)
        problems.append({"field": field, "code": kind, "detail": error_text(request, message)})
    return problems


def validation_body(request: HTTPConnection, exc: RequestValidationError) -> dict[str, Any]:
    fields = field_problems(request, exc)
    joined = "; ".join(problem["detail"] for problem in fields)
    return {"code": "invalid", "detail": joined, "fields": fields}


def install_api_errors(app: FastAPI) -> None:
    """Answer an app's ``HTTPException`` and bad fields in the one shape."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSONResponse(
            error_body(exc.status_code, exc.detail),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse(validation_body(request, exc), status_code=422)
