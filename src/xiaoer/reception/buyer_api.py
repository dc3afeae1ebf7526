"""The buyer-facing endpoints of live chat, mounted in the buyer app at ``/b``.

A buyer holds a signed token naming their shop and their own buyer id; with it
they read and write only their own conversation. A token expires when unused for
the buyer app's ``token_max_age``; opening the chat renews it. It travels in request
bodies and the socket's first frame, never in a URL, which servers and proxies
write into their access logs. Limits on size and rate answer with a clear error.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.admission import Busy, buyer_messages
from xiaoer.core.db import Database
from xiaoer.core.events import last_seq
from xiaoer.core.feed import follow
from xiaoer.core.texts import message_of, say
from xiaoer.http.inputs import loads as json_frame
from xiaoer.http.params import Cursor
from xiaoer.http.render import error_text
from xiaoer.reception.buyers import (
    WIDGET_CHANNEL,
    BadToken,
    BuyerToken,
    RateLimiter,
    buyer_event,
    buyer_history,
    buyer_state,
    new_buyer_token,
    read_buyer_token,
    topic_of,
)
from xiaoer.reception.errors import ReceptionError
from xiaoer.reception.service import MAX_MESSAGE_CHARS
from xiaoer.reception.sockets import run_socket
from xiaoer.reception.writer import NotStored, chat_writer
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_by_code

log = logging.getLogger(__name__)
router = APIRouter()

MAX_BODY_BYTES = 16 * 1024
MAX_FRAME_BYTES = 8 * 1024
MAX_TOKEN_CHARS = 512
AUTH_SECONDS = 10.0  # a socket says who it is within this, or is closed
message_limiter = RateLimiter(limit=40, window=60)
session_limiter = RateLimiter(limit=30, window=60)
_NOT_STORED = say("the message could not be stored just now; it will be sent again")


class SessionIn(BaseModel):
    token: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)
    nick: str = Field(default="", max_length=64)


class MessageIn(BaseModel):
    token: str = Field(max_length=MAX_TOKEN_CHARS)
    text: str = Field(max_length=MAX_MESSAGE_CHARS * 2)
    client_id: str | None = Field(default=None, max_length=64)


def _db(request: Request | WebSocket) -> Database:
    db: Database = request.app.state.db
    return db


def _secret(request: Request | WebSocket) -> str:
    secret: str = request.app.state.secret_key
    return secret


def _read_token(connection: Request | WebSocket, token: str, shop_code: str) -> BuyerToken:
    max_age: timedelta = connection.app.state.buyer_token_max_age
    return read_buyer_token(_secret(connection), token, shop_code, max_age)


def _text(connection: Request | WebSocket, error: BaseException | str) -> str:
    """An error's message for the buyer: the buyers' app has no session, so Chinese
    (or English for a client asking for it first in ``Accept-Language``)."""
    return error_text(connection, error)


async def _shop(connection: Request | WebSocket, session: AsyncSession, code: str) -> Shop:
    shop = await shop_by_code(session, code)
    if shop is None:
        raise HTTPException(404, _text(connection, say("no shop {code!r}", code=code)))
    return shop


async def _buyer(
    session: AsyncSession, shop: Shop, identity: BuyerToken, nick: str = ""
) -> Customer:
    return await do_get_or_create_customer(
        session,
        shop_id=shop.id,
        channel=WIDGET_CHANNEL,
        buyer_id=identity.buyer_id,
        nick=nick,
        default_nick=f"访客{identity.buyer_id[-4:]}",
    )


def _identity(request: Request | WebSocket, token: str, shop_code: str) -> BuyerToken:
    try:
        return _read_token(request, token, shop_code)
    except BadToken as exc:
        raise HTTPException(401, _text(request, exc)) from exc


@router.post("/{shop_code}/session")
async def open_session(shop_code: str, body: SessionIn, request: Request) -> dict[str, Any]:
    """A token for a new buyer, or the history of the buyer a token names with the
    token renewed; an expired or unknown token is answered 401, and the widget starts
    again as a new buyer."""
    address = request.client.host if request.client else "?"
    async with _db(request).session() as session:
        shop = await _shop(request, session, shop_code)
        if body.token:
            identity = _identity(request, body.token, shop_code)
            token, _ = new_buyer_token(_secret(request), shop_code, identity.buyer_id)
        else:
            if not session_limiter.allow(address):
                wait = say("too many new chats from this address; wait a minute")
                raise HTTPException(429, _text(request, wait))
            token, identity = new_buyer_token(_secret(request), shop_code)
        customer = await _buyer(session, shop, identity, body.nick)
        await session.commit()
        # The cursor first, then the history: a message committed in between is in both,
        # and the widget drops the second copy by its id; none can fall between them.
        after = await last_seq(session, shop.id, topic_of(customer.id))
        return {
            "token": token,
            "shop": {"code": shop.code, "name": shop.name},
            "messages": await buyer_history(session, customer.id),
            "conversation": await buyer_state(session, customer.id),
            "after": after,
        }


@router.post("/{shop_code}/messages")
async def post_message(shop_code: str, body: MessageIn, request: Request) -> dict[str, Any]:
    """Send a message over HTTP (the WebSocket does the same); a resend is stored once."""
    identity = _identity(request, body.token, shop_code)
    return await _receive(request, shop_code, identity, body.text, body.client_id)


async def _receive(
    connection: Request | WebSocket,
    shop_code: str,
    identity: BuyerToken,
    text: str,
    client_id: str | None,
    known: tuple[Shop, Customer] | None = None,
) -> dict[str, Any]:
    """Store a buyer's message. ``known``: the shop and buyer a socket read when it opened."""
    if not message_limiter.allow(f"{shop_code}/{identity.buyer_id}"):
        wait = say("too many messages; wait a moment before sending more")
        raise HTTPException(429, _text(connection, wait))
    db = _db(connection)
    try:
        async with buyer_messages.turn():
            if known is None:
                async with db.session() as session:
                    shop = await _shop(connection, session, shop_code)
                    customer = await _buyer(session, shop, identity)
                    await session.commit()
            else:
                shop, customer = known
            try:
                posted = await chat_writer(db).buyer_message(
                    shop=shop, customer=customer, text=text, client_id=client_id
                )
            except NotStored as exc:  # its batch failed: the client sends it again
                retry = {"Retry-After": "1"}
                raise HTTPException(503, _text(connection, exc), headers=retry) from exc
            except ReceptionError as exc:
                raise HTTPException(422, _text(connection, exc)) from exc
    except Busy as exc:
        raise HTTPException(503, _text(connection, exc), headers={"Retry-After": "2"}) from exc
    return {
        "message_id": posted.messages[0].id,
        "conversation_id": posted.conversation.id,
        "duplicate": posted.duplicate,
    }


@router.websocket("/{shop_code}/ws")
async def buyer_socket(
    websocket: WebSocket,
    shop_code: str,
    after: Cursor = 0,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN_CHARS)] = None,
) -> None:
    """Live chat for one buyer: their own events after ``after``, and sending.

    The first frame names the buyer: ``{"type": "auth", "token": …}``; the socket is
    closed with 4401 if it does not within ``AUTH_SECONDS`` or the token is refused.
    ``?token=`` is still read for widgets loaded before the token left the URL (their
    logged address is redacted: ``xiaoer.web.logs``).
    """
    if token is not None:
        try:
            identity = _read_token(websocket, token, shop_code)
        except BadToken as exc:
            await websocket.close(code=4401, reason=str(exc))
            return
        await websocket.accept()
    else:
        await websocket.accept()
        found = await _first_frame_identity(websocket, shop_code)
        if found is None:
            return
        identity = found
    db = _db(websocket)
    async with db.session() as session:
        shop = await shop_by_code(session, shop_code)
        if shop is None:
            await websocket.close(code=4404, reason=f"no shop {shop_code!r}")
            return
        customer = await _buyer(session, shop, identity)
        await session.commit()
        shop_id, customer_id = shop.id, customer.id
    known = (shop, customer)  # loaded, detached: read-only in the units of work below
    await websocket.send_json({"type": "hello", "after": after})

    async def receive(websocket: WebSocket) -> None:
        while True:
            raw = await websocket.receive_text()
            await _handle_frame(websocket, shop_code, identity, raw, known)

    push = _push(websocket, db, shop_id, topic_of(customer_id), after)
    await run_socket(websocket, push, receive)


async def _first_frame_identity(websocket: WebSocket, shop_code: str) -> BuyerToken | None:
    """The buyer the socket's first frame names, or ``None`` once the socket is closed."""
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), AUTH_SECONDS)
    except TimeoutError:
        await websocket.close(code=4401, reason="send the token first")
        return None
    except WebSocketDisconnect:
        return None
    try:
        frame = json_frame(raw) if len(raw) <= MAX_FRAME_BYTES else None
        given = frame.get("token") if isinstance(frame, dict) else None
        if not (isinstance(frame, dict) and frame.get("type") == "auth"):
            raise BadToken(say("the buyer token is not valid"))
        if not isinstance(given, str) or len(given) > MAX_TOKEN_CHARS:
            raise BadToken(say("the buyer token is not valid"))
        return _read_token(websocket, given, shop_code)
    except (ValueError, BadToken) as exc:
        reason = str(exc) if isinstance(exc, BadToken) else "the first frame is not JSON"
        await websocket.close(code=4401, reason=reason)
        return None


async def _push(websocket: WebSocket, db: Database, shop_id: int, topic: str, after: int) -> None:
    async for event in follow(db, shop_id, after, topic=topic):
        shown = buyer_event(event)
        if shown is not None:
            await websocket.send_json(shown)
        else:  # keep the client's cursor moving past what it may not see
            await websocket.send_json({"type": "skip", "seq": event.topic_seq})


async def _handle_frame(
    websocket: WebSocket,
    shop_code: str,
    identity: BuyerToken,
    raw: str,
    known: tuple[Shop, Customer],
) -> None:
    if len(raw.encode()) > MAX_FRAME_BYTES:
        too_large = say("message too large: at most {limit} bytes", limit=MAX_FRAME_BYTES)
        await websocket.send_json({"type": "error", "message": _text(websocket, too_large)})
        return
    try:
        frame = json_frame(raw)
        if not isinstance(frame, dict) or frame.get("type") != "send":
            raise ValueError(say("expected a send frame with a text and a client id"))
        text, client_id = frame.get("text"), frame.get("client_id")
        if not isinstance(text, str) or not (client_id is None or isinstance(client_id, str)):
            raise ValueError(say("the text and the client id are strings"))
    except ValueError as exc:
        why = say("bad frame: {why}", why=message_of(exc))
        await websocket.send_json({"type": "error", "message": _text(websocket, why)})
        return
    try:
        result = await _receive(websocket, shop_code, identity, text, client_id, known)
    except HTTPException as exc:
        frame = {
            "type": "error",
            "client_id": client_id,
            "status": exc.status_code,
            "message": exc.detail,
        }
        if exc.status_code in (429, 503):
            frame["retry"] = True
        await websocket.send_json(frame)
        return
    except Exception:  # the database is overloaded or gone for a moment: say so, keep the socket
        log.exception("a buyer message could not be stored")
        await websocket.send_json(
            {
                "type": "error",
                "client_id": client_id,
                "status": 503,
                "retry": True,
                "message": _text(websocket, _NOT_STORED),
            }
        )
        return
    await websocket.send_json({"type": "ack", "client_id": client_id, **result})
