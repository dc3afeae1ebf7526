"""What every response carries: security headers, and a session cookie kept to HTTPS.

Policies, and why each is what it is:

- ``PAGE_POLICY``, for every HTML page (staff pages, the sign-in page and the demo
  storefront): everything from this site only, and no inline script or style at
  all (the templates have none; a test keeps it so), so an injected ``<script>`` or
  ``onerror=`` does not run. ``connect-src 'self'`` covers the page's own ``ws:``/
  ``wss:`` sockets. No page may be framed (``frame-ancestors 'none'``, and
  ``X-Frame-Options`` for browsers older than that), a ``<base>`` may not move its
  links elsewhere, and forms post only here.
- ``RESOURCE_POLICY``, for everything else (JSON, scripts, style sheets): nothing
  at all, so a JSON answer opened as a page cannot run or load anything.
  Browsers apply no policy to a script or style sheet another page loads, so this
  does not hinder the chat widget on a shop's own site.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
RESOURCE_POLICY = "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"

COMMON_HEADERS = {
    # Addresses in the staff pages (orders, customers) are nobody else's business.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Adds the policy fitting the response (a page or not) and the common headers,
    leaving any a route or an inner app has set itself."""

    def __init__(self, app: ASGIApp, extra: dict[str, str] | None = None) -> None:
        self.app = app
        self.extra = {**COMMON_HEADERS, **(extra or {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                page = headers.get("content-type", "").startswith("text/html")
                headers.setdefault(
                    "Content-Security-Policy", PAGE_POLICY if page else RESOURCE_POLICY
                )
                for name, value in self.extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SecureSessionCookie:
    """Marks the session cookie ``Secure`` when the request came over HTTPS (or always).

    Behind a TLS-terminating proxy the scheme is the one the trusted proxy reports
    (``X-Forwarded-Proto``); a cookie marked so is never sent over plain HTTP, where
    anyone on the path could read and replay it.
    """

    def __init__(self, app: ASGIApp, cookie: str, always: bool = False) -> None:
        self.app = app
        self.prefix = f"{cookie}=".encode()
        self.always = always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.always or scope.get("scheme") in ("https", "wss")):
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (name, self._secure(value) if name.lower() == b"set-cookie" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_secure)

    def _secure(self, value: bytes) -> bytes:
        if not value.startswith(self.prefix):
            return value
        if any(part.strip().lower() == b"secure" for part in value.split(b";")[1:]):
            return value
        return value + b"; secure"


class StaffSessions:
    """The staff session, for the staff's paths only.

    The buyer app (``/b``) and the server-to-server order API (``/site``) never decode
    a staff cookie: a buyer's browser that also holds a staff session (a supervisor
    trying the storefront) is still answered as a buyer, in the language its
    ``Accept-Language`` asks for.
    """

    def __init__(
        self,
        app: ASGIApp,
        outside: tuple[str, ...],
        secret_key: str,
        session_cookie: str,
        max_age: int,
        https_only: bool,
    ) -> None:
        self.plain = app
        self.staff = SessionMiddleware(
            app,
            secret_key=secret_key,
            session_cookie=session_cookie,
            max_age=max_age,
            same_site="lax",
            https_only=https_only,
        )
        self.outside = outside

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if any(path == prefix or path.startswith(prefix + "/") for prefix in self.outside):
            await self.plain(scope, receive, send)
            return
        await self.staff(scope, receive, send)
