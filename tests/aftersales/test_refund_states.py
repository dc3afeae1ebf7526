"""A refund's money and goods states move only as the platform's table allows."""

from __future__ import annotations

import pytest

from xiaoer.aftersales.refund_states import (
    MOVES,
    OPEN,
    STATUS_OF_TEXT,
    GoodsStatus,
    Move,
    RefundKind,
    RefundStateError,
    RefundStatus,
    State,
    check_amount,
    next_state,
    refundable_fen,
)
from xiaoer.http.i18n import Translator

pytestmark = pytest.mark.database_free

ASKED = RefundStatus.WAIT_SELLER_AGREE


def asked(kind: RefundKind, goods: GoodsStatus = GoodsStatus.BUYER_RECEIVED) -> State:
    return State(ASKED, goods, kind)


def test_a_refund_without_goods_succeeds_when_agreed() -> None:
    done = next_state(asked(RefundKind.refund_only, GoodsStatus.BUYER_NOT_RECEIVED), Move.agree)
    assert done == State(
        RefundStatus.SUCCESS, GoodsStatus.BUYER_NOT_RECEIVED, RefundKind.refund_only
    )


@pytest.mark.parametrize("kind", [RefundKind.return_refund, RefundKind.exchange])
def test_goods_go_back_and_are_confirmed_before_the_case_ends(kind: RefundKind) -> None:
    agreed = next_state(asked(kind), Move.agree)
    assert agreed.status is RefundStatus.WAIT_BUYER_RETURN_GOODS
    sent = next_state(agreed, Move.send_back, waybill="SF1234567890", carrier="顺丰")
    assert (sent.status, sent.goods) == (
        RefundStatus.WAIT_SELLER_CONFIRM_GOODS,
        GoodsStatus.BUYER_RETURNED_GOODS,
    )
    done = next_state(sent, Move.confirm_goods)
    assert (done.status, done.goods) == (RefundStatus.SUCCESS, GoodsStatus.SELLER_RECEIVED)


def test_a_refusal_needs_a_reason_and_the_buyer_may_ask_again() -> None:
    start = asked(RefundKind.refund_only)
    with pytest.raises(RefundStateError, match="a refusal needs a reason"):
        next_state(start, Move.refuse, reason="  ")
    refused = next_state(start, Move.refuse, reason="商品已拆封使用，影响二次销售")
    assert refused.status is RefundStatus.SELLER_REFUSE_BUYER
    assert next_state(refused, Move.ask_again).status is ASKED


def test_sending_back_needs_the_waybill_and_its_carrier() -> None:
    agreed = next_state(asked(RefundKind.return_refund), Move.agree)
    with pytest.raises(RefundStateError, match="waybill and its carrier"):
        next_state(agreed, Move.send_back, waybill="SF1234567890")


@pytest.mark.parametrize("status", list(RefundStatus))
@pytest.mark.parametrize("move", list(Move))
def test_every_move_from_a_state_the_table_does_not_list_is_refused(
    status: RefundStatus, move: Move
) -> None:
    state = State(status, GoodsStatus.BUYER_RECEIVED, RefundKind.return_refund)
    details = {"reason": "理由", "waybill": "SF1", "carrier": "顺丰"}
    if status in MOVES[move].starts:
        assert next_state(state, move, **details) != state
    else:
        with pytest.raises(RefundStateError, match=f"a refund that is {status.value} cannot"):
            next_state(state, move, **details)


def test_ended_refunds_cannot_be_withdrawn_and_open_ones_can() -> None:
    assert MOVES[Move.withdraw].starts == OPEN
    for status in set(RefundStatus) - OPEN:
        with pytest.raises(RefundStateError):
            next_state(
                State(status, GoodsStatus.BUYER_RECEIVED, RefundKind.refund_only), Move.withdraw
            )


def test_the_report_words_name_every_status() -> None:
    assert set(STATUS_OF_TEXT.values()) == set(RefundStatus)
    assert (
        STATUS_OF_TEXT["买家已经退货，等待卖家确认收货"] is RefundStatus.WAIT_SELLER_CONFIRM_GOODS
    )


def test_a_refund_is_capped_at_what_was_paid_less_what_was_refunded() -> None:
    assert refundable_fen(9900, 3000) == 6900
    assert refundable_fen(9900, 12000) == 0
    check_amount(6900, paid_fen=9900, refunded_fen=3000)
    with pytest.raises(RefundStateError, match="at most 6900 fen can be refunded: 9900 paid"):
        check_amount(6901, paid_fen=9900, refunded_fen=3000)
    with pytest.raises(RefundStateError, match="more than ¥0"):
        check_amount(0, paid_fen=9900, refunded_fen=0)


def test_the_refusal_reads_in_chinese_on_a_page() -> None:
    with pytest.raises(RefundStateError) as refused:
        next_state(
            State(RefundStatus.SUCCESS, GoodsStatus.SELLER_RECEIVED, RefundKind.exchange),
            Move.agree,
        )
    assert Translator("zh").error(refused.value) == "处于“退款成功”的退款不能同意"
