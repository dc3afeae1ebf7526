"""The appeal packet for a malicious review (S4): the evidence in one ZIP file.

For a review case the manager (or supervisor) downloads what the platform asks for: a
summary of the review and the case, the order with its items and logistics, every
message the buyer exchanged with the shop, and the buyer's history — other orders,
refunds and reviews. The files are CSV (UTF-8 with a byte-order mark, so Excel opens
them in Chinese) written through the safe writer; the buyer's phone is kept as the
order has it, since the platform needs it to identify the trade.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund, Review, TicketKind, TicketLine
from xiaoer.aftersales.tickets import TicketError, TicketForbidden, ticket_for
from xiaoer.core.clock import local
from xiaoer.core.money import fen_to_yuan
from xiaoer.core.sheets import csv_writer
from xiaoer.core.texts import from_data, say
from xiaoer.http.i18n import Translator
from xiaoer.orders.models import Order, OrderItem
from xiaoer.reception.models import Conversation, Message
from xiaoer.staff.models import StaffAccount, is_leader

WORDS = Translator("zh")  # the platform reads the packet in Chinese
RATING_WORDS = {"good": "好评", "neutral": "中评", "bad": "差评"}


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _when(value: Any) -> str:
    return local(value).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


async def appeal_packet(
    session: AsyncSession, staff: StaffAccount, ticket_id: int
) -> tuple[str, bytes]:
    """The packet's file name and bytes, for a leader and a review case."""
    ticket = await ticket_for(session, staff, ticket_id)
    if not is_leader(staff):
        raise TicketForbidden(say("only a supervisor or a manager downloads an appeal packet"))
    if ticket.kind != TicketKind.review.value or ticket.review_id is None:
        raise TicketError(say("an appeal packet is made for a review case"))
    review = await session.get(Review, ticket.review_id)
    order = await session.get(Order, ticket.order_id) if ticket.order_id else None
    if review is None or order is None:
        raise TicketError(say("the review or its order is gone"))
    items = list(await session.scalars(select(OrderItem).where(OrderItem.order_id == order.id)))
    lines = list(
        await session.scalars(
            select(TicketLine)
            .where(TicketLine.ticket_id == ticket.id, TicketLine.internal.is_(False))
            .order_by(TicketLine.id)
        )
    )
    summary = "\n".join(
        [
            f"订单编号：{order.platform_order_id}",
            f"买家：{order.buyer_nick or review.buyer_nick}",
            f"评价：{RATING_WORDS.get(review.rating, review.rating)}  {_when(review.reviewed_at)}",
            f"评价内容：{review.content}",
            f"追评：{review.follow_up}  {_when(review.follow_up_at)}",
            f"店铺解释：{review.reply}",
            "",
            "处理记录：",
            *(
                f"{_when(line.at)}  {WORDS.text(from_data(line.what))}  {line.why}"
                for line in lines
            ),
        ]
    )
    order_csv = _csv(
        ["订单编号", "状态", "实付", "收货人", "收货电话", "收货地址", "快递公司", "运单号",
         "付款时间", "发货时间", "成交时间", "宝贝", "规格", "数量"],
        [[order.platform_order_id, order.status, fen_to_yuan(order.paid_fen), order.receiver_name,
          order.receiver_phone, order.receiver_address, order.courier, order.tracking_number,
          _when(order.paid_at), _when(order.shipped_at), _when(order.finished_at), item.title,
          item.sku_text, item.quantity] for item in items],
    )  # fmt: skip
    messages: list[tuple[Message, Conversation]] = []
    if order.customer_id is not None or ticket.customer_id is not None:
        customer = ticket.customer_id or order.customer_id
        messages = [
            (m, c)
            for m, c in await session.execute(
                select(Message, Conversation)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.shop_id == ticket.shop_id, Conversation.customer_id == customer)
                .order_by(Message.id)
                .limit(5000)
            )
        ]
    chat_csv = _csv(
        ["会话", "时间", "发送方", "内容"],
        [[c.id, _when(m.created_at), m.sender, m.text] for m, c in messages],
    )
    history: list[list[Any]] = []
    if order.customer_id is not None:
        for other in await session.scalars(
            select(Order).where(Order.shop_id == ticket.shop_id,
                                Order.customer_id == order.customer_id).order_by(Order.id)
        ):  # fmt: skip
            history.append(["订单", other.platform_order_id, other.status,
                            fen_to_yuan(other.paid_fen), _when(other.created_at), ""])  # fmt: skip
        for refund, number in await session.execute(
            select(Refund, Order.platform_order_id)
            .join(Order, Order.id == Refund.order_id)
            .where(Order.customer_id == order.customer_id, Refund.shop_id == ticket.shop_id)
        ):
            history.append(["退款", number, refund.status, fen_to_yuan(refund.amount_fen),
                            _when(refund.created_at), refund.reason])  # fmt: skip
        for other_review, number in await session.execute(
            select(Review, Order.platform_order_id)
            .join(Order, Order.id == Review.order_id)
            .where(Order.customer_id == order.customer_id, Review.shop_id == ticket.shop_id)
        ):
            rating = RATING_WORDS.get(other_review.rating, other_review.rating)
            history.append(["评价", number, rating, "",
                            _when(other_review.reviewed_at), other_review.content])  # fmt: skip
    history_csv = _csv(["类别", "订单编号", "状态", "金额", "时间", "内容"], history)
    packet = io.BytesIO()
    with zipfile.ZipFile(packet, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("说明.txt", summary.encode("utf-8"))
        archive.writestr("订单与物流.csv", order_csv)
        archive.writestr("聊天记录.csv", chat_csv)
        archive.writestr("买家历史.csv", history_csv)
    return f"appeal-{order.platform_order_id}.zip", packet.getvalue()
