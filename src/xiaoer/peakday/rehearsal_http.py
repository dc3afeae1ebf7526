"""The few HTTP requests a rehearsal's simulated people make, on a bare connection.

A buyer's first request may leave from its own loopback address (127.0.0.x), as buyers
on the day come from many addresses: the server allows each address a number of new
chats a minute. Agents sign in as a browser does and keep their cookie.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from xiaoer.peakday.rehearsal_scratch import Target

TIMEOUT = 30.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


def _tls(target: Target) -> ssl.SSLContext | None:
    if target.scheme != "https":
        return None
    # The address is this machine's (checked before): its certificate may be its own.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def request(
    target: Target,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    local_address: str | None = None,
) -> Answer:
    """One request on its own connection, closed after the answer."""

    async def run() -> Answer:
        reader, writer = await asyncio.open_connection(
            target.host,
            target.port,
            ssl=_tls(target),
            local_addr=(local_address, 0) if local_address else None,
        )
        try:
            head = [f"{method} {path} HTTP/1.1", f"Host: {target.host}:{target.port}"]
            head += [f"{k}: {v}" for k, v in (headers or {}).items()]
            head += [f"Content-Length: {len(body)}", "Connection: close"]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        return _parse(raw)

    return await asyncio.wait_for(run(), TIMEOUT)


def _parse(raw: bytes) -> Answer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or len(lines[0].split()) < 2:
        raise ConnectionError("the server's answer is not HTTP")
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    if ("transfer-encoding", "chunked") in headers:
        rest = _unchunk(rest)
    return Answer(status, headers, rest)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def post_json(
    target: Target,
    path: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    local_address: str | None = None,
) -> Answer:
    body = json.dumps(payload, ensure_ascii=False).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    return await request(
        target, "POST", path, body=body, headers=sent, local_address=local_address
    )


@dataclass
class Browser:
    """An agent's cookie jar and CSRF token, as the workbench page holds them."""

    target: Target
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    def headers(self) -> dict[str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        out = {"Cookie": cookie} if cookie else {}
        if self.csrf:
            out["X-CSRF-Token"] = self.csrf
        return out

    def _keep(self, answer: Answer) -> None:
        for name, value in answer.headers:
            if name == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]

    async def get(self, path: str, follow: int = 3) -> Answer:
        answer = await request(self.target, "GET", path, headers=self.headers())
        self._keep(answer)
        location = answer.header("location")
        if answer.status in (301, 302, 303, 307) and location and follow:
            return await self.get(location, follow - 1)
        return answer

    async def post(self, path: str, body: bytes, content_type: str) -> Answer:
        headers = {**self.headers(), "Content-Type": content_type}
        answer = await request(self.target, "POST", path, body=body, headers=headers)
        self._keep(answer)
        return answer

    async def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """Sign in with the form; the workbench's state (``me``, ``after``)."""
        page = await self.get("/login")
        token = _CSRF.search(page.body.decode(errors="replace"))
        if token is None:
            raise ConnectionError(f"{self.target.base}/login has no sign-in form")
        form = urlencode({"username": username, "password": password, "csrf_token": token[1]})
        signed = await self.post("/login", form.encode(), "application/x-www-form-urlencoded")
        if signed.status != 303:
            raise ConnectionError(f"signing in {username}: HTTP {signed.status}")
        home = await self.get("/")
        csrf = _CSRF.search(home.body.decode(errors="replace"))
        if csrf is None:
            raise ConnectionError("the page after signing in has no CSRF token")
        self.csrf = csrf[1]
        state = await self.get("/api/reception/state")
        if state.status != 200:
            raise ConnectionError(f"the workbench state: HTTP {state.status}")
        found: dict[str, Any] = state.json()
        return found
