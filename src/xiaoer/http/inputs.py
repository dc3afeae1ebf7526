"""JSON a request or a socket frame may carry, refused with a clear reason otherwise.

Python's ``json`` reads more than JSON: ``NaN`` and ``Infinity``, ``1e999`` (which
becomes an infinite float), integers of any length, and ``"\\ud800"`` (a lone half
of a surrogate pair, which no database can store as UTF-8). Each of those would
fail deep inside a service, or in the database, as a 500. :func:`loads` refuses
them with a reason the sender can act on, and :class:`JsonCheck` applies it to every
JSON request body before a route sees it.

Well-formed bodies pay one regular-expression scan: only a body holding one of the
suspect patterns is parsed here a second time.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xiaoer.core.texts import message_of, say
from xiaoer.http.limits import send_refusal

MAX_INTEGER = 2**63 - 1  # the largest value a BIGINT column holds
MAX_DEPTH = 64  # nesting no client of ours sends; deeper is refused, not recursed

_SUSPECT = re.compile(rb"NaN|Infinity|\\u[dD][89a-fA-F]|[0-9][eE][+-]?[0-9]{3}|[0-9]{19}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BadJson(ValueError):
    """The body or frame is not JSON that xiaoer accepts; the text says why."""


def _constant(name: str) -> Any:
    raise BadJson(say("{name} is not a number: JSON has no NaN or Infinity", name=name))


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(say("the number {number} is too large", number=text[:40]))
    return value


def _int(text: str) -> int:
    # Length first: Python refuses to read integers of over 4,300 digits at all.
    value = int(text) if len(text.lstrip("-")) <= 19 else MAX_INTEGER + 1
    if abs(value) > MAX_INTEGER:
        raise BadJson(
            say(
                "the number {number} is too large: at most {limit}",
                number=text[:40],
                limit=MAX_INTEGER,
            )
        )
    return value


def _check(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise BadJson(say("the JSON is nested more than {depth} levels deep", depth=MAX_DEPTH))
    if isinstance(value, str):
        if _LONE_SURROGATE.search(value):
            raise BadJson(
                say("the text holds a lone surrogate (\\ud800-\\udfff), which is no character")
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, depth + 1)
            _check(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)


def loads(raw: str | bytes) -> Any:
    """``json.loads`` that refuses, with :class:`BadJson`, what xiaoer cannot store:
    NaN, infinities, integers beyond 64 bits, lone surrogates and very deep nesting.
    Text that is not JSON at all raises ``json.JSONDecodeError`` (a ``ValueError``)."""
    try:
        value = json.loads(raw, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError as exc:
        raise BadJson(
            say("the JSON is nested more than {depth} levels deep", depth=MAX_DEPTH)
        ) from exc
    _check(value)
    return value


def problem_of(raw: bytes) -> str | None:
    """Why a JSON body is refused, or None when it may go on (also when it is not
    JSON at all: the route answers that as it always has)."""
    if _SUSPECT.search(raw) is None and raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return None
    try:
        loads(raw)
    except BadJson as exc:
        return message_of(exc)
    except ValueError:
        return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind: bytes = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return False


class JsonCheck:
    """Reads a JSON request body (already held to its size limit) and answers 422 with
    the reason when :func:`problem_of` refuses it; otherwise hands the same bytes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = problem_of(body)
        if problem is not None:
            await send_refusal(send, 422, problem, "invalid", scope)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    waiting = list(messages)

    async def receive() -> Message:
        if waiting:
            return waiting.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
