"""Request size limits for public endpoints, enforced before a body is parsed."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xiaoer.core.texts import say
from xiaoer.http.i18n import DEFAULT_LANGUAGE, Translator


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Answers 413 with a clear JSON message when a request body exceeds its limit,
    whether it announces its length or not: at once, before reading it, when the
    announced length is too large, else as soon as the bytes read pass the limit.

    The limit is ``max_bytes``, or the first of ``by_prefix`` (path prefix, bytes)
    whose prefix starts the request's path.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, by_prefix: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_prefix = by_prefix

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit, scope)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit, scope)

    async def _refuse(self, send: Send, limit: int, scope: Scope) -> None:
        too_large = say("request too large: at most {limit} bytes", limit=limit)
        await send_refusal(send, 413, too_large, "too_large", scope)


def asked_language(scope: Scope) -> str:
    """The language a request asks for in ``Accept-Language`` (English first, else
    Chinese): a middleware answers before it knows who is asking."""
    for name, value in scope.get("headers", ()):
        if name == b"accept-language":
            return "en" if value.decode("latin-1").strip().lower().startswith("en") else "zh"
    return DEFAULT_LANGUAGE


async def send_refusal(
    send: Send, status: int, detail: str, code: str, scope: Scope | None = None
) -> None:
    """Answer ``status`` with ``{"code": …, "detail": …}`` from a middleware, before any
    route (the shape of every JSON error: ``xiaoer.http.api_errors``), the detail in the
    language the request asks for."""
    language = asked_language(scope) if scope is not None else DEFAULT_LANGUAGE
    shown = Translator(language).error(detail)
    body = json.dumps({"code": code, "detail": shown}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
