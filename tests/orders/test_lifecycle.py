"""An order's life is one table: each move starts from its states, leads to one, and is
audited, told and followed the same way whoever makes it — the shop or the platform."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry, Event, Timer
from xiaoer.orders.errors import OrderError
from xiaoer.orders.lifecycle import (
    TRANSITIONS,
    Details,
    Move,
    do_record_status,
    do_transition,
)
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order
from xiaoer.orders.workflow import DELIVER_DUE, NOTE_DUE, SHIP_DUE
from xiaoer.shops.models import Shop

PARCEL = Details(courier="顺丰", tracking_number="SF1234567890")


async def _order(db: Database, shop: Shop, number: str = "L-1", cod: bool = False) -> int:
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id="b1", items=(NewItem("茶叶", 8800),),
                       cash_on_delivery=cod)  # fmt: skip
        order = await do_create_order(session, shop_id=shop.id, new=new)
        await session.commit()
        return order.id


async def _move(db: Database, order_id: int, move: Move, details: Details | None = None) -> str:
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        await do_transition(session, order, move, details=details, actor="test")
        await session.commit()
        return order.status


async def _status_events(db: Database, order_id: int) -> list[tuple[str, str]]:
    async with db.session() as session:
        events = await session.scalars(
            select(Event).where(Event.kind == "order.status").order_by(Event.seq)
        )
        return [
            (e.payload["before"], e.payload["status"])
            for e in events
            if e.payload["order_id"] == order_id
        ]


def test_the_table_names_every_move_once() -> None:
    assert set(TRANSITIONS) == set(Move)
    assert TRANSITIONS[Move.pay].sources == {TradeStatus.WAIT_BUYER_PAY}
    assert TradeStatus.TRADE_CLOSED not in TRANSITIONS[Move.finish].sources


async def test_an_order_paid_shipped_and_finished_leaves_one_event_and_audit_per_move(
    db: Database, shop: Shop
) -> None:
    order_id = await _order(db, shop)
    assert await _move(db, order_id, Move.pay) == TradeStatus.WAIT_SELLER_SEND_GOODS
    assert await _move(db, order_id, Move.ship, PARCEL) == TradeStatus.WAIT_BUYER_CONFIRM_GOODS
    assert await _move(db, order_id, Move.finish) == TradeStatus.TRADE_FINISHED
    assert await _move(db, order_id, Move.finish) == TradeStatus.TRADE_FINISHED  # repeated
    assert await _status_events(db, order_id) == [
        ("WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS"),
        ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS"),
        ("WAIT_BUYER_CONFIRM_GOODS", "TRADE_FINISHED"),
    ]
    async with db.session() as session:
        audits = list(await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "status").order_by(AuditEntry.id)
        ))  # fmt: skip
        assert [(a.before, a.after, a.actor) for a in audits] == [
            ({"status": "WAIT_BUYER_PAY"}, {"status": "WAIT_SELLER_SEND_GOODS"}, "test"),
            ({"status": "WAIT_SELLER_SEND_GOODS"}, {"status": "WAIT_BUYER_CONFIRM_GOODS"}, "test"),
            ({"status": "WAIT_BUYER_CONFIRM_GOODS"}, {"status": "TRADE_FINISHED"}, "test"),
        ]


@pytest.mark.parametrize(
    ("moves", "refused", "message"),
    [
        ((), Move.finish, "has not shipped"),
        ((Move.pay,), Move.pay, None),  # paid already: a repeat, not a refusal
        ((Move.close,), Move.pay, "cannot be paid"),
        ((Move.close,), Move.ship, "cannot ship"),
        ((Move.pay, Move.ship), Move.close, "cannot close"),
        ((), Move.ship, "cannot ship"),  # unpaid, and not paid on delivery
    ],
)
async def test_a_move_from_a_state_the_table_does_not_list_is_refused_and_changes_nothing(
    db: Database, shop: Shop, moves: tuple[Move, ...], refused: Move, message: str | None
) -> None:
    order_id = await _order(db, shop)
    for move in moves:
        await _move(db, order_id, move, PARCEL if move == Move.ship else None)
    before = await _status_events(db, order_id)
    if message is None:
        await _move(db, order_id, refused)
    else:
        with pytest.raises(OrderError, match=message):
            await _move(db, order_id, refused, PARCEL if refused == Move.ship else None)
    assert await _status_events(db, order_id) == before


async def test_cash_on_delivery_ships_unpaid_and_is_paid_when_it_finishes(
    db: Database, shop: Shop
) -> None:
    order_id = await _order(db, shop, cod=True)
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        with pytest.raises(OrderError, match="confirm the order with the buyer by phone"):
            await do_transition(session, order, Move.ship, details=PARCEL)
        order.cod_confirmed_at = order.created_at
        await session.commit()
    assert await _move(db, order_id, Move.ship, PARCEL) == TradeStatus.WAIT_BUYER_CONFIRM_GOODS
    await _move(db, order_id, Move.finish)
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None and order.paid_fen == 8800 and order.paid_at is not None


async def test_a_status_the_platform_reports_is_told_and_followed_like_any_other(
    db: Database, shop: Shop
) -> None:
    """An export a day late jumps from unpaid to shipped: recorded as one change, with
    the payment's note deadline set and the delivery deadline of a shipped parcel."""
    order_id = await _order(db, shop)
    async with db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        order.status = TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value
        order.paid_at = order.shipped_at = order.created_at
        order.paid_fen = order.total_fen
        await do_record_status(session, order, "WAIT_BUYER_PAY", actor="import")
        await do_record_status(session, order, order.status, actor="import")  # no move: nothing
        await session.commit()
    assert await _status_events(db, order_id) == [("WAIT_BUYER_PAY", "WAIT_BUYER_CONFIRM_GOODS")]
    async with db.session() as session:
        subject = f"order:{order_id}"
        timers = {t.kind: t for t in await session.scalars(select(Timer).where(
            Timer.subject == subject))}  # fmt: skip
        assert timers[NOTE_DUE].cancelled_at is None  # the note is still due after payment
        assert timers[DELIVER_DUE].cancelled_at is None  # the parcel is on its way
        assert SHIP_DUE not in timers  # it left already
