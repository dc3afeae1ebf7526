"""The agent workbench's JSON API and its live WebSocket (staff only)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket
from pydantic import BaseModel, Field

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.event_kinds import Viewer, staff_receives
from xiaoer.core.events import EventData, last_seq
from xiaoer.core.feed import follow
from xiaoer.core.policy_store import policy_on
from xiaoer.core.settings import Settings
from xiaoer.core.texts import message_of, say
from xiaoer.http.deps import SESSION_ID_KEY, SessionDep, require_staff, session_max_age
from xiaoer.http.inputs import loads as json_frame
from xiaoer.http.params import Cursor, RowId
from xiaoer.http.render import error_text
from xiaoer.reception import workbench
from xiaoer.reception.autoreply import current_activities
from xiaoer.reception.calls import do_log_call
from xiaoer.reception.errors import NeedsApproval, ReceptionError
from xiaoer.reception.models import AgentPresence, PresenceStatus
from xiaoer.reception.presence import socket_closed, socket_seen
from xiaoer.reception.service import (
    do_close,
    do_mark_read,
    do_set_presence,
    do_transfer,
)
from xiaoer.reception.sockets import run_socket
from xiaoer.reception.writer import NotStored, SessionEnded, chat_writer
from xiaoer.shops.models import Shop
from xiaoer.staff.models import WORKBENCH_ROLES, StaffAccount, is_leader
from xiaoer.staff.sessions import live_session, session_key

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/reception")
socket_router = APIRouter()

Staff = Annotated[StaffAccount, Depends(require_staff(*WORKBENCH_ROLES))]


class SendIn(BaseModel):
    text: str = Field(max_length=4000)
    client_id: str | None = Field(default=None, max_length=64)
    typing_ms: int | None = Field(default=None, ge=0, le=3_600_000)
    # Characters typed by hand; pasted text and inserted phrases are not typing.
    typed_chars: int | None = Field(default=None, ge=0, le=100_000)


class TransferIn(BaseModel):
    agent_id: int | None = None
    team: str | None = Field(default=None, max_length=16)


class CloseIn(BaseModel):
    outcome: str = Field(max_length=32)


class PresenceIn(BaseModel):
    status: str = Field(max_length=16)


class CallIn(BaseModel):
    customer_id: int
    summary: str = Field(max_length=4000)
    outcome: str = Field(max_length=32)


def _refuse(request: Request | WebSocket, exc: ReceptionError) -> HTTPException:
    message = error_text(request, exc)
    if isinstance(exc, NotStored):  # its batch failed: the workbench sends it again
        return HTTPException(503, message, headers={"Retry-After": "1"})
    if isinstance(exc, NeedsApproval):
        blocks = [{"code": b.code, "message": b.message, **b.detail} for b in exc.blocks]
        return HTTPException(
            409,
            {
                "code": "needs_approval",
                "message": message,
                "needs_approval": True,
                "blocks": blocks,
            },
        )
    if isinstance(exc, NotFound):
        return HTTPException(404, message)
    return HTTPException(403 if isinstance(exc, NotPermitted) else 422, message)


@router.get("/state")
async def state(session: SessionDep, staff: Staff) -> dict[str, Any]:
    """Everything the workbench shows at start; then it follows the live stream.

    The cursor first, then what it shows: a change committed in between is read and
    also replayed (the workbench applies it twice, to the same end); none can fall
    between them, as an agent's presence chosen while the page loaded once did."""
    after = await last_seq(session, staff.shop_id)
    now = utcnow()
    policy = await policy_on(session, staff.shop_id, now.date())
    presence = await session.get(AgentPresence, staff.id)
    shop = await session.get(Shop, staff.shop_id)
    assert shop is not None
    return {
        "shop": {
            "code": shop.code,
            "name": shop.name,
            "courier": shop.default_courier,
            "cutoff": policy.fulfilment.cutoff_time,
        },
        "activities": await current_activities(session, shop.id, now),
        "me": {
            "id": staff.id,
            "name": staff.name,
            "team": staff.team,
            "roles": staff.roles,
            "status": presence.status if presence else PresenceStatus.offline.value,
        },
        "after": after,
        "conversations": await workbench.list_conversations(session, staff, policy),
        "agents": await workbench.list_agents(session, staff.shop_id),
        "phrases": await workbench.phrases_json(session, staff),
        "policy": {
            "first_response_seconds": policy.reception.first_response_seconds,
            "reply_seconds": policy.reception.reply_seconds,
            "split_reply_chars": policy.reception.split_reply_chars,
            "typing_speed_target_cpm": policy.reception.typing_speed_target_cpm,
        },
    }


@router.get("/conversations/{cid}")
async def conversation(
    cid: RowId, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        return await workbench.conversation_panel(session, staff, cid)
    except ReceptionError as exc:
        raise _refuse(request, exc) from exc


@router.post("/conversations/{cid}/messages")
async def send(
    cid: RowId, body: SendIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    # The writer stores the reply in its own transaction: give back the connection that
    # read the account first, or a burst of replies would hold the pool it waits for.
    await session.close()
    try:
        posted = await chat_writer(request.app.state.db).agent_reply(
            agent=staff,
            conversation_id=cid,
            text=body.text,
            client_id=body.client_id,
            typing_ms=body.typing_ms,
            typed_chars=body.typed_chars,
        )
    except ReceptionError as exc:
        raise _refuse(request, exc) from exc
    return {"message_ids": [m.id for m in posted.messages], "duplicate": posted.duplicate}


@router.post("/conversations/{cid}/transfer")
async def transfer(
    cid: RowId, body: TransferIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        moved = await do_transfer(
            session,
            actor=staff,
            conversation_id=cid,
            to_agent_id=body.agent_id,
            to_team=body.team,
        )
    except ReceptionError as exc:
        raise _refuse(request, exc) from exc
    await session.commit()
    return {"id": moved.id, "agent_id": moved.agent_id, "team": moved.team, "status": moved.status}


@router.post("/conversations/{cid}/close")
async def close(
    cid: RowId, body: CloseIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        closed = await do_close(session, actor=staff, conversation_id=cid, outcome=body.outcome)
    except ReceptionError as exc:
        raise _refuse(request, exc) from exc
    await session.commit()
    return {"id": closed.id, "status": closed.status, "outcome": closed.outcome}


@router.post("/conversations/{cid}/read")
async def mark_read(
    cid: RowId, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        await do_mark_read(session, staff, cid)
    except ReceptionError as exc:
        raise _refuse(request, exc) from exc
    await session.commit()
    return {"id": cid, "unread": 0}


@router.post("/presence")
async def presence(
    body: PresenceIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        row = await do_set_presence(session, agent=staff, status=body.status)
    except ReceptionError as exc:
        raise _refuse(request, exc) from exc
    await session.commit()
    return {"status": row.status}


@router.post("/calls")
async def log_call(
    body: CallIn, request: Request, session: SessionDep, staff: Staff
) -> dict[str, Any]:
    try:
        entry = await do_log_call(
            session,
            agent=staff,
            customer_id=body.customer_id,
            summary=body.summary,
            outcome=body.outcome,
        )
    except ReceptionError as exc:
        raise _refuse(request, exc) from exc
    await session.commit()
    return {"id": entry.id}


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send Origin on WebSockets; only pages of this site may open one."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser (tests, tools): the session cookie still decides
    return urlsplit(origin).netloc == websocket.headers.get("host")


@socket_router.websocket("/ws/workbench")
async def workbench_socket(websocket: WebSocket, after: Cursor = 0) -> None:
    """The shop's live events after ``after`` for a signed-in agent or supervisor,
    each as :mod:`xiaoer.core.event_kinds` lets this account receive it."""
    db: Database = websocket.app.state.db
    settings: Settings = websocket.app.state.settings
    secret = websocket.session.get(SESSION_ID_KEY)
    if not isinstance(secret, str) or not _same_origin(websocket):
        await websocket.close(code=4401, reason="sign in first")
        return
    max_age = session_max_age(settings)
    staff = await _signed_in(db, secret, max_age)
    if staff is None:
        await websocket.close(code=4401, reason="sign in first")
        return
    if not staff.has_role(*WORKBENCH_ROLES):
        await websocket.close(code=4403, reason="not allowed")
        return
    await websocket.accept()
    websocket.state.staff = staff  # its error frames speak the account's language
    await websocket.send_json({"type": "hello", "after": after})
    viewer = Viewer(staff.id, staff.team, is_leader(staff))

    async def receive(websocket: WebSocket) -> None:
        await _read_while_signed_in(
            websocket, db, secret, max_age, settings.session_check_seconds, staff
        )

    await socket_seen(db, staff.id)
    try:
        await run_socket(websocket, _push(websocket, db, staff.shop_id, after, viewer), receive)
    finally:
        await socket_closed(db, staff.id)


async def _signed_in(db: Database, secret: str, max_age: timedelta) -> StaffAccount | None:
    async with db.session() as session:
        live = await live_session(session, secret, max_age=max_age)
        if live is None:
            return None
        if live.touched:
            await session.commit()
        return live.account


async def _read_while_signed_in(
    websocket: WebSocket,
    db: Database,
    secret: str,
    max_age: timedelta,
    every: float,
    staff: StaffAccount,
) -> None:
    """Read what the client sends (replies, pings); close with 4401 once the session ends.

    The session is checked every ``every`` seconds besides: the workbench may send
    nothing but a ping now and then while the server pushes the shop's conversations,
    so a check on sending alone would leave a signed-out or disabled account's socket
    streaming. A periodic read by primary key bounds how long a revoked session keeps
    receiving, at one small read per socket per period. A reply is checked against the
    session in the transaction that stores it (``writer.ReplyJob.session_key``).
    """
    reader = asyncio.create_task(_read_frames(websocket, db, secret, max_age, staff))
    try:
        while True:
            done, _ = await asyncio.wait({reader}, timeout=every)
            if done:
                reader.result()  # the client went away: end as it did
                return
            if await _signed_in(db, secret, max_age) is None:
                await websocket.close(code=4401, reason="signed out")
                return
            await socket_seen(db, staff.id)  # the page is open: presence holds
    finally:
        reader.cancel()


MAX_FRAME_BYTES = 16 * 1024


async def _read_frames(
    websocket: WebSocket, db: Database, secret: str, max_age: timedelta, staff: StaffAccount
) -> None:
    """Pings are dropped; ``{"type": "send", "conversation_id", "text", "client_id",
    "typing_ms", "typed_chars"}`` is a reply, answered with an ``ack`` or an ``error``
    frame naming its client id, as ``POST …/messages`` answers (the workbench sends over
    HTTP when its socket is down). Replies are handed over in the order they came."""
    key = session_key(secret)
    sending: set[asyncio.Task[None]] = set()
    try:
        while True:
            raw = await websocket.receive_text()
            if raw == "ping":
                continue
            task = asyncio.create_task(_reply_frame(websocket, db, key, max_age, staff, raw))
            sending.add(task)
            task.add_done_callback(sending.discard)
    finally:
        for task in sending:
            task.cancel()


async def _reply_frame(
    websocket: WebSocket,
    db: Database,
    key: str,
    max_age: timedelta,
    staff: StaffAccount,
    raw: str,
) -> None:
    client_id: Any = None
    try:
        if len(raw.encode()) > MAX_FRAME_BYTES:
            raise ValueError(say("message too large: at most {limit} bytes", limit=MAX_FRAME_BYTES))
        frame = json_frame(raw)
        if not isinstance(frame, dict) or frame.get("type") != "send":
            raise ValueError(say("expected a send frame with a text and a client id"))
        client_id = frame.get("client_id")
        body = SendIn.model_validate(
            {k: frame.get(k) for k in ("text", "client_id", "typing_ms", "typed_chars")}
        )
        conversation_id = frame.get("conversation_id")
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
            raise ValueError(say("the conversation id is a number"))
    except ValueError as exc:  # pydantic's ValidationError is one too
        message = error_text(websocket, say("bad frame: {why}", why=message_of(exc)))
        await websocket.send_json({"type": "error", "client_id": client_id, "message": message})
        return
    try:
        posted = await chat_writer(db).agent_reply(
            agent=staff,
            conversation_id=conversation_id,
            text=body.text,
            client_id=body.client_id,
            typing_ms=body.typing_ms,
            typed_chars=body.typed_chars,
            session_key=key,
            session_max_age=max_age,
        )
    except SessionEnded:
        await websocket.close(code=4401, reason="signed out")
        return
    except ReceptionError as exc:
        refused = _refuse(websocket, exc)
        detail = refused.detail if isinstance(refused.detail, dict) else {"message": refused.detail}
        await websocket.send_json(
            {
                "type": "error",
                "client_id": client_id,
                "status": refused.status_code,
                "retry": refused.status_code == 503,
                **detail,
            }
        )
        return
    await websocket.send_json(
        {
            "type": "ack",
            "client_id": client_id,
            "message_ids": [m.id for m in posted.messages],
            "duplicate": posted.duplicate,
        }
    )


def event_frame(event: EventData) -> str:
    """The workbench frame of an event, encoded once for all the sockets it goes to."""
    text = event.frames.get("workbench")
    if text is None:
        frame = {"type": "event", "seq": event.seq, "kind": event.kind, "data": event.payload}
        text = event.frames["workbench"] = json.dumps(
            frame, ensure_ascii=False, separators=(",", ":")
        )
    return text


async def _push(
    websocket: WebSocket, db: Database, shop_id: int, after: int, viewer: Viewer
) -> None:
    # Filtered as the feed hands events out: another agent's message wakes nobody here.
    async for event in follow(db, shop_id, after, viewer=viewer):
        # What was read from the database comes unfiltered.
        if staff_receives(event.kind, event.payload, viewer):
            await websocket.send_text(event_frame(event))
