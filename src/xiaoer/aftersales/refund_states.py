"""A refund's two state machines, money and goods, as the platform keeps them.

The money side is the platform's refund status (DOMAIN.md): a buyer asks
(``WAIT_SELLER_AGREE``); the shop agrees, and the refund either succeeds at once
(nothing to send back) or waits for the goods (``WAIT_BUYER_RETURN_GOODS``, then
``WAIT_SELLER_CONFIRM_GOODS`` once the buyer has sent them); or the shop refuses
(``SELLER_REFUSE_BUYER``), after which the buyer may ask again; or the buyer
withdraws (``CLOSED``). The goods side follows the parcel: not received or received
by the buyer, returned by the buyer, received back by the seller.

:data:`MOVES` is the whole money machine as one table: each move names the states it
may start from, the state it leads to and what it needs. :func:`next_state` is the
only way from one state to another; the services that store refunds call it, so a
page, the API, an import and a timer cannot disagree about what may happen next.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from xiaoer.core.texts import Text, say


class RefundStatus(enum.StrEnum):
    WAIT_SELLER_AGREE = "WAIT_SELLER_AGREE"
    WAIT_BUYER_RETURN_GOODS = "WAIT_BUYER_RETURN_GOODS"
    WAIT_SELLER_CONFIRM_GOODS = "WAIT_SELLER_CONFIRM_GOODS"
    SELLER_REFUSE_BUYER = "SELLER_REFUSE_BUYER"
    CLOSED = "CLOSED"
    SUCCESS = "SUCCESS"


class GoodsStatus(enum.StrEnum):
    BUYER_NOT_RECEIVED = "BUYER_NOT_RECEIVED"
    BUYER_RECEIVED = "BUYER_RECEIVED"
    BUYER_RETURNED_GOODS = "BUYER_RETURNED_GOODS"
    SELLER_RECEIVED = "SELLER_RECEIVED"


class RefundKind(enum.StrEnum):
    """What the buyer asked for: money only, money for the goods sent back, the same
    goods again in another size or colour, or the goods sent again."""

    refund_only = "refund_only"
    return_refund = "return_refund"
    exchange = "exchange"
    resend = "resend"


# Kinds in which the buyer sends the goods back before the case can end.
GOODS_BACK = frozenset({RefundKind.return_refund, RefundKind.exchange})
# Kinds that pay money back when they succeed; an exchange or a resend sends goods.
MONEY_BACK = frozenset({RefundKind.refund_only, RefundKind.return_refund})
# States in which the case is still open on the money side.
OPEN = frozenset(
    {
        RefundStatus.WAIT_SELLER_AGREE,
        RefundStatus.WAIT_BUYER_RETURN_GOODS,
        RefundStatus.WAIT_SELLER_CONFIRM_GOODS,
    }
)

# The seller centre's refund report writes the status in words.
STATUS_OF_TEXT: dict[str, RefundStatus] = {
    "买家已经申请退款，等待卖家同意": RefundStatus.WAIT_SELLER_AGREE,
    "卖家已经同意退款，等待买家退货": RefundStatus.WAIT_BUYER_RETURN_GOODS,
    "买家已经退货，等待卖家确认收货": RefundStatus.WAIT_SELLER_CONFIRM_GOODS,
    "卖家拒绝退款": RefundStatus.SELLER_REFUSE_BUYER,
    "退款关闭": RefundStatus.CLOSED,
    "退款成功": RefundStatus.SUCCESS,
}
GOODS_OF_TEXT: dict[str, GoodsStatus] = {
    "买家未收到货": GoodsStatus.BUYER_NOT_RECEIVED,
    "买家已收到货": GoodsStatus.BUYER_RECEIVED,
    "买家已退货": GoodsStatus.BUYER_RETURNED_GOODS,
}


class Move(enum.StrEnum):
    agree = "agree"  # the shop agrees to the request
    refuse = "refuse"  # the shop refuses, with a reason
    send_back = "send_back"  # the buyer sends the goods back, with a waybill
    confirm_goods = "confirm_goods"  # the shop has the goods back
    withdraw = "withdraw"  # the buyer withdraws the request
    ask_again = "ask_again"  # the buyer asks again after a refusal


@dataclass(frozen=True)
class Rule:
    starts: frozenset[RefundStatus]
    needs_reason: bool = False
    needs_waybill: bool = False


MOVES: dict[Move, Rule] = {
    Move.agree: Rule(frozenset({RefundStatus.WAIT_SELLER_AGREE})),
    Move.refuse: Rule(
        frozenset({RefundStatus.WAIT_SELLER_AGREE, RefundStatus.WAIT_SELLER_CONFIRM_GOODS}),
        needs_reason=True,
    ),
    Move.send_back: Rule(frozenset({RefundStatus.WAIT_BUYER_RETURN_GOODS}), needs_waybill=True),
    Move.confirm_goods: Rule(frozenset({RefundStatus.WAIT_SELLER_CONFIRM_GOODS})),
    Move.withdraw: Rule(OPEN),
    Move.ask_again: Rule(frozenset({RefundStatus.SELLER_REFUSE_BUYER})),
}


class RefundStateError(ValueError):
    """The move is not possible from the refund's state, or lacks what it needs."""


@dataclass(frozen=True)
class State:
    """Where a refund stands: its money status, its goods status and its kind."""

    status: RefundStatus
    goods: GoodsStatus
    kind: RefundKind


def next_state(
    state: State, move: Move, *, reason: str = "", waybill: str = "", carrier: str = ""
) -> State:
    """The state ``move`` leads to from ``state``; :class:`RefundStateError` saying why
    when the table does not allow it or the move lacks its reason or waybill."""
    rule = MOVES[move]
    if state.status not in rule.starts:
        raise RefundStateError(
            say(
                "a refund that is {status} cannot {move}",
                status=STATUS_SAID[state.status],
                move=MOVE_SAID[move],
            )
        )
    if rule.needs_reason and not reason.strip():
        raise RefundStateError(say("a refusal needs a reason the buyer can read"))
    if rule.needs_waybill and not (waybill.strip() and carrier.strip()):
        raise RefundStateError(say("sending the goods back needs the waybill and its carrier"))
    goods_back = state.kind in GOODS_BACK
    if move is Move.agree:
        status = RefundStatus.WAIT_BUYER_RETURN_GOODS if goods_back else RefundStatus.SUCCESS
        return State(status, state.goods, state.kind)
    if move is Move.refuse:
        return State(RefundStatus.SELLER_REFUSE_BUYER, state.goods, state.kind)
    if move is Move.send_back:
        return State(
            RefundStatus.WAIT_SELLER_CONFIRM_GOODS, GoodsStatus.BUYER_RETURNED_GOODS, state.kind
        )
    if move is Move.confirm_goods:
        return State(RefundStatus.SUCCESS, GoodsStatus.SELLER_RECEIVED, state.kind)
    if move is Move.withdraw:
        return State(RefundStatus.CLOSED, state.goods, state.kind)
    return State(RefundStatus.WAIT_SELLER_AGREE, state.goods, state.kind)


def refundable_fen(paid_fen: int, refunded_fen: int) -> int:
    """What may still be refunded of a payment: never below nothing."""
    return max(0, paid_fen - refunded_fen)


def check_amount(amount_fen: int, *, paid_fen: int, refunded_fen: int) -> None:
    """A refund is more than nothing and at most what was paid less what was refunded."""
    left = refundable_fen(paid_fen, refunded_fen)
    if amount_fen <= 0:
        raise RefundStateError(say("a refund is more than ¥0"))
    if amount_fen > left:
        raise RefundStateError(
            say(
                "at most {left} fen can be refunded: {paid} paid, {refunded} refunded already",
                left=left,
                paid=paid_fen,
                refunded=refunded_fen,
            )
        )


# The states in messages: the code in English, the seller centre's words on pages.
STATUS_SAID: dict[RefundStatus, Text] = {
    RefundStatus.WAIT_SELLER_AGREE: say("WAIT_SELLER_AGREE"),
    RefundStatus.WAIT_BUYER_RETURN_GOODS: say("WAIT_BUYER_RETURN_GOODS"),
    RefundStatus.WAIT_SELLER_CONFIRM_GOODS: say("WAIT_SELLER_CONFIRM_GOODS"),
    RefundStatus.SELLER_REFUSE_BUYER: say("SELLER_REFUSE_BUYER"),
    RefundStatus.CLOSED: say("CLOSED"),
    RefundStatus.SUCCESS: say("SUCCESS"),
}
MOVE_SAID: dict[Move, Text] = {
    Move.agree: say("be agreed"),
    Move.refuse: say("be refused"),
    Move.send_back: say("have its goods sent back"),
    Move.confirm_goods: say("have its goods confirmed"),
    Move.withdraw: say("be withdrawn"),
    Move.ask_again: say("be asked for again"),
}
