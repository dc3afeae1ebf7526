"""The seller's marks on an order: the seller note in versions (O3) and the flag (O4, O5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.events import record_event
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.core.timers import cancel_timer
from xiaoer.orders import workflow
from xiaoer.orders.access import (
    OrderForbidden,
    OrderNotFound,
)
from xiaoer.orders.errors import OrderError
from xiaoer.orders.models import (
    Order,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.orders.notes import SellerNote as ParsedNote
from xiaoer.orders.notes import check_flag, memo_text, parse_note
from xiaoer.reception.models import AgentPresence, PresenceStatus
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount

MEMO_BYTES = 1000  # the platform's memo holds at most this many bytes

MARKERS = ("agent", *LEADERS)


def check_may_mark(staff: StaffAccount, order: Order) -> None:
    """Any agent of the shop writes the note (O3) and flags a sale (the flag's own rules
    say whose); the back office (auditor, warehouse) reads them."""
    if staff.shop_id != order.shop_id:
        raise OrderNotFound(say("no order {order_id} in this shop", order_id=order.id))
    if not staff.has_role(*MARKERS):
        raise OrderForbidden(say("only agents and their leaders write notes and flags"))


async def note_versions(session: AsyncSession, order_id: int) -> list[SellerNote]:
    """The note's versions, oldest first: the original stays readable (O3)."""
    rows = await session.scalars(
        select(SellerNote).where(SellerNote.order_id == order_id).order_by(SellerNote.version)
    )
    return list(rows)


@dataclass(frozen=True)
class NoteDeadline:
    """When an order's note was due (O3): payment plus the policy's minutes; ``late_minutes``
    how far past it the first version came (or now, with none yet), 0 when in time."""

    due_at: datetime
    minutes: int
    late_minutes: int


async def note_deadline(
    session: AsyncSession, order: Order, versions: list[SellerNote], now: datetime | None = None
) -> NoteDeadline | None:
    """The note's deadline under the policy in force on the day of payment; ``None``
    for an order not paid."""
    if order.paid_at is None:
        return None
    paid = as_utc(order.paid_at)
    day = paid.astimezone(await shop_zone(session, order.shop_id)).date()
    minutes = (await policy_on(session, order.shop_id, day)).orders.seller_note_minutes
    due = paid + timedelta(minutes=minutes)
    written = as_utc(versions[0].created_at) if versions else (now or utcnow())
    late = -int((due - written).total_seconds() // 60) if written > due else 0  # whole minutes, up
    return NoteDeadline(due, minutes, late)


async def current_note(session: AsyncSession, order_id: int) -> SellerNote | None:
    return await session.scalar(
        select(SellerNote)
        .where(SellerNote.order_id == order_id)
        .order_by(SellerNote.version.desc())
        .limit(1)
    )


async def do_write_note(
    session: AsyncSession,
    *,
    order: Order,
    author: StaffAccount,
    text: str,
    reason: str = "",
    now: datetime | None = None,
) -> SellerNote:
    """Write the seller note, or a new version of it with a reason (O3).

    A note whose fields do not parse is kept as written, with its errors, so the
    agent sees what to fix; the production slip waits until it parses (O9).
    """
    now = now or utcnow()
    check_may_mark(author, order)
    text = " ".join(text.split())
    if not text:
        raise OrderError(say("the note is empty"))
    if len(text.encode()) > MEMO_BYTES:
        raise OrderError(
            say(
                "the note is {size} bytes; the platform keeps {limit}",
                size=len(text.encode()),
                limit=MEMO_BYTES,
            )
        )
    versions = await note_versions(session, order.id)
    reason = reason.strip()
    if versions and not reason:
        raise OrderError(say("a change to a written note needs a reason"))
    if versions and versions[-1].text == text:
        raise OrderError(say("the note is unchanged"))
    parsed = parse_note(text)
    note = SellerNote(
        shop_id=order.shop_id,
        order_id=order.id,
        version=len(versions) + 1,
        text=text,
        fields=parsed.to_json() if isinstance(parsed, ParsedNote) else None,
        errors=[] if isinstance(parsed, ParsedNote) else [e.to_stored() for e in parsed],
        author_id=author.id,
        author_number=author.number,
        reason=reason,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    if not versions:
        await cancel_timer(
            session, shop_id=order.shop_id, kind=workflow.NOTE_DUE, subject=workflow.subject(order),
            now=now,
        )  # fmt: skip
        await workflow.close_tasks(
            session, order, (TaskKind.late_note,), outcome="written late", now=now,
            status=TaskStatus.done,
        )  # fmt: skip
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=author.number or author.username,
        entity="order",
        entity_id=order.platform_order_id,
        action="note" if not versions else "note changed",
        before={"note": versions[-1].text} if versions else None,
        after={"note": text},
        reason=reason,
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.note",
        {"order_id": order.id, "version": note.version, "ok": not note.errors},
        at=now,
    )
    return note


async def _presence(session: AsyncSession, staff_id: int) -> str:
    status = await session.scalar(
        select(AgentPresence.status).where(AgentPresence.staff_id == staff_id)
    )
    return status or PresenceStatus.offline.value


async def do_flag(
    session: AsyncSession,
    *,
    order: Order,
    agent: StaffAccount,
    flag: int,
    now: datetime | None = None,
) -> str:
    """Flag the order as the agent's sale (O4, O5); returns why the agent may.

    The owner may change the colour. Another agent may take the sale only to chase
    an order left unpaid for the policy's hours while its owner is offline; a
    supervisor may give it to anyone by flagging it themselves.
    """
    now = now or utcnow()
    check_may_mark(agent, order)
    flag = check_flag(flag)
    why = "owner"
    if order.owner_id is not None and order.owner_id != agent.id:
        policy = await policy_on(session, order.shop_id)
        unpaid_for = now - order.created_at
        if agent.has_role("supervisor", "manager", "admin"):
            why = "supervisor"
        elif (
            TradeStatus(order.status) == TradeStatus.WAIT_BUYER_PAY
            and unpaid_for >= timedelta(hours=policy.orders.chase_after_hours)
            and await _presence(session, order.owner_id) == PresenceStatus.offline.value
        ):
            why = "chase"
        else:
            raise OrderError(
                say(
                    "another agent owns this sale; it may be chased only after "
                    "{hours} h unpaid with its owner offline",
                    hours=policy.orders.chase_after_hours,
                )
            )
    if order.flag == flag and order.owner_id == agent.id:
        return why  # nothing changes
    before = {"flag": order.flag, "owner_id": order.owner_id}
    order.flag = flag
    order.owner_id = agent.id
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=agent.number or agent.username,
        entity="order",
        entity_id=order.platform_order_id,
        action="flag",
        before=before,
        after={"flag": flag, "owner_id": agent.id},
        reason=why,
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.flag",
        {"order_id": order.id, "flag": flag, "agent_id": agent.id, "why": why},
        at=now,
    )
    return why


def memo_for(order: Order, note: SellerNote | None, history: list[SellerNote]) -> dict[str, object]:
    """The note and flag in the platform's memo form: flag 0–5, at most 1000 bytes."""
    line = note.text if note is not None else ""
    older = [f"{n.version}:{n.text}" for n in history if note is None or n.id != note.id]
    return {
        "tid": order.platform_order_id,
        "flag": check_flag(order.flag),
        "memo": memo_text(line, older),
    }


async def current_notes(session: AsyncSession, order_ids: list[int]) -> dict[int, SellerNote]:
    """Each order's latest note version, in one read."""
    if not order_ids:
        return {}
    rows = await session.scalars(
        select(SellerNote).where(SellerNote.order_id.in_(order_ids)).order_by(SellerNote.version)
    )
    return {note.order_id: note for note in rows}
