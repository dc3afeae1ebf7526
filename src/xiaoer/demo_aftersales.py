"""A month of after-sales in the demo shop, made through the services as the desk makes it.

Refunds in every state of the platform (some from the seller centre's report, some
recorded at the desk), an exchange and a resend, one refund waiting for the
supervisor above an agent's authority, complaints at each of their five steps (one of
them major), tickets closed under the shop's causes, and a few waiting in the queue —
the newest at the back, so an agent signing in takes the oldest first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.cases import do_case_ask, do_case_move, do_open_case_refund
from xiaoer.aftersales.complaints import do_step
from xiaoer.aftersales.imported import open_review_tickets
from xiaoer.aftersales.models import Refund, Review, Ticket, TicketKind, TicketSource
from xiaoer.aftersales.refund_states import GoodsStatus, Move, RefundKind, RefundStatus
from xiaoer.aftersales.refunds import peak_day
from xiaoer.aftersales.tickets import (
    Opening,
    causes_of,
    do_close,
    do_escalate,
    do_note,
    do_take,
    open_ticket,
)
from xiaoer.core.db import Database
from xiaoer.orders.models import Order, TradeStatus
from xiaoer.reception.models import Conversation
from xiaoer.staff.models import StaffAccount


@dataclass(frozen=True)
class _Case:
    """One case of the month: how many days ago it began, what it is and how far it got."""

    days_ago: float
    kind: RefundKind | None  # None: a complaint
    subject: str
    reason: str
    share: float = 1.0  # of the order's payment asked back
    moves: tuple[Move, ...] = ()
    cause: str = ""  # closed under this cause when given
    outcome: str = ""
    from_report: bool = False  # came in with the seller centre's refund report


# Written for the demo in the shop's words.
CASES: tuple[_Case, ...] = (
    _Case(27, RefundKind.return_refund, "尺寸量错了，想退货", "尺寸不合适", 1.0,
          (Move.agree, Move.send_back, Move.confirm_goods), "尺码不合适", "refunded"),
    _Case(25, RefundKind.refund_only, "少发了一个挂钩配件", "少件", 0.08, (Move.agree,),
          "发错货/漏发", "refunded"),
    _Case(23, RefundKind.return_refund, "颜色和图片差别大", "描述不符", 1.0,
          (Move.agree, Move.send_back, Move.confirm_goods), "描述不符", "refunded", True),
    _Case(21, RefundKind.exchange, "想换成米白色", "颜色不喜欢", 1.0,
          (Move.agree, Move.send_back, Move.confirm_goods), "不喜欢/七天无理由", "exchanged"),
    _Case(19, RefundKind.refund_only, "定制尺寸已裁剪，要求全额退款", "不想要了", 1.0,
          (Move.refuse,), "其他", "refused"),
    _Case(17, RefundKind.resend, "快递外箱破了，窗帘弄脏", "运输破损", 0.0,
          (Move.agree,), "物流破损/延误", "resent"),
    _Case(14, RefundKind.refund_only, "客服说能包邮结果收了运费", "客服承诺不符", 0.05,
          (Move.agree,), "客服承诺或解释有误", "refunded"),
    _Case(12, RefundKind.refund_only, "买家撤销了退款申请", "拍错了", 1.0, (Move.withdraw,),
          "其他", "explained", True),
    _Case(6, RefundKind.return_refund, "布料有线头，要退", "质量问题", 1.0,
          (Move.agree, Move.send_back)),
    _Case(4, RefundKind.exchange, "换大一号的尺寸", "尺寸不合适", 1.0, (Move.agree,)),
    _Case(2, RefundKind.refund_only, "遮光效果不好，退一半差价", "质量问题", 0.5, (), "", "",
          False),
    # waiting in the queue, oldest first
    _Case(0.25, RefundKind.refund_only, "挂钩少了两个，退10元", "少件", 0.0, (), "", "", True),
    _Case(0.15, RefundKind.return_refund, "收到后不喜欢，七天无理由", "不喜欢", 1.0, (), "", "",
          True),
    _Case(0.08, RefundKind.refund_only, "轨道有划痕，协商退部分", "质量问题", 0.2, (), "", "",
          True),
)  # fmt: skip

# Complaints: how many of the five steps each one has done (5 closes it).
COMPLAINTS: tuple[tuple[float, str, str, int], ...] = (
    (20, "发货太慢，等了十天", "下单十天了还没发货，你们到底发不发", 5),
    (9, "安装师傅迟到两小时", "约好上午十点，师傅十二点才到，耽误我一上午", 4),
    (5, "客服回复太慢", "问了三遍没人理，这服务太差了", 3),
    (1.5, "要去12315投诉", "再不给我处理我就打12315投诉，还要去媒体曝光", 2),
    (0.1, "窗帘味道很重", "拆开味道特别大，家里有小孩，怎么处理", 1),
)  # fmt: skip

# Reviews: days ago, rating, words, and how the case ended (None: still open).
REVIEWS: tuple[tuple[float, str, str, tuple[str, str, str] | None], ...] = (
    (8, "bad", "少发了配件，联系客服半天才回", ("review_changed", "发错货/漏发",
                                             "已补发配件，买家同意改评")),
    (6, "bad", "同行买来比价的，质量差别买", ("appealed", "其他",
                                          "买家无聊天无退款，疑似恶意评价，已提交申诉")),
    (2, "neutral", "颜色比图片暗一点", None),
)  # fmt: skip

STEP_FIELDS = {
    "ask": {"what_happened": "买家反映的问题已核实", "when": "下单后", "item": "定制窗帘",
            "wants": "尽快解决"},
    "reply": {"result": "已安排专人处理，明天给您回电"},
    "record": {"handling": "核实订单与物流，联系仓库加急", "result": "买家接受处理方案"},
}  # fmt: skip


async def _load(session: AsyncSession, staff_id: int) -> StaffAccount:
    staff = await session.get(StaffAccount, staff_id)
    assert staff is not None
    return staff


async def seed_aftersales(
    db: Database, rng: random.Random, shop_id: int, base: datetime, staff_ids: dict[str, int]
) -> int:
    """The month's cases; returns how many tickets were opened."""
    async with db.session() as session:
        agent = await _load(session, staff_ids["agent2"])  # after-sales, intermediate
        boss = await _load(session, staff_ids["supervisor"])
        orders = list(
            await session.scalars(
                select(Order)
                .where(Order.shop_id == shop_id,
                       Order.status.in_((TradeStatus.TRADE_FINISHED.value,
                                         TradeStatus.WAIT_BUYER_CONFIRM_GOODS.value)),
                       Order.paid_fen > 5000)
                .order_by(Order.id)
            )
        )  # fmt: skip
        chats = list(
            await session.scalars(
                select(Conversation)
                .where(Conversation.shop_id == shop_id, Conversation.team == "aftersale")
                .order_by(Conversation.id.desc())
                .limit(40)
            )
        )
        causes = {c.name: c.id for c in await causes_of(session, shop_id)}
        picked = rng.sample(orders, len(CASES) + len(COMPLAINTS) + len(REVIEWS) + 1)
        opened = 0
        for number, case in enumerate(CASES):
            order = picked[number]
            at = base - timedelta(days=case.days_ago)
            await _refund_case(session, agent, boss, order, case, at, causes, number)
            opened += 1
        for number, (days, subject, words, steps) in enumerate(COMPLAINTS):
            order = picked[len(CASES) + number]
            at = base - timedelta(days=days)
            chat = chats[number] if steps <= 3 and number < len(chats) else None
            ticket = await open_ticket(
                session, shop_id,
                Opening(TicketKind.complaint, TicketSource.chat if chat else TicketSource.phone,
                        subject, order_id=None if chat else order.id,
                        conversation_id=chat.id if chat else None,
                        customer_id=chat.customer_id if chat else None, words=words),
                by=boss if chat is None else None, now=at,
            )  # fmt: skip
            opened += 1
            later = at + timedelta(minutes=20)
            if steps >= 2:
                await do_take(session, agent, ticket.id, now=later)
                await do_step(session, agent, ticket.id, "ask", STEP_FIELDS["ask"], now=later)
            if steps >= 3:
                await do_step(session, agent, ticket.id, "follow", {}, now=later)
            for step in ("reply", "record")[: max(0, steps - 3)]:
                await do_step(session, agent, ticket.id, step, STEP_FIELDS[step],
                              now=at + timedelta(hours=3))  # fmt: skip
            if steps == 5:
                await do_close(session, agent, ticket.id, cause_id=causes["物流破损/延误"],
                               outcome="explained", result="买家满意",
                               now=at + timedelta(hours=4))  # fmt: skip
        # a refund above the agent's authority, asked of the supervisor
        big = picked[-1]
        at = base - timedelta(hours=5)
        ticket = await open_ticket(
            session, shop_id,
            Opening(TicketKind.refund, TicketSource.phone, "整单质量问题，要求全额退款",
                    order_id=big.id),
            by=agent, now=at,
        )  # fmt: skip
        opened += 1
        await do_take(session, agent, ticket.id, now=at)
        await do_open_case_refund(session, agent, ticket.id, kind=RefundKind.refund_only,
                                  amount_fen=big.paid_fen, reason="质量问题", now=at)  # fmt: skip
        await do_case_ask(session, agent, ticket.id, reason="金额超出我的权限", now=at)
        first = len(CASES) + len(COMPLAINTS)
        reviewed = picked[first : first + len(REVIEWS)]
        for order, (days, rating, content, _end) in zip(reviewed, REVIEWS, strict=True):
            session.add(Review(
                shop_id=shop_id, order_id=order.id, platform_sub_order_id="", rating=rating,
                content=content, item_title="", buyer_nick=order.buyer_nick,
                reviewed_at=base - timedelta(days=days), created_at=base - timedelta(days=days),
                updated_at=base - timedelta(days=days),
            ))  # fmt: skip
        await session.commit()
    opened += await open_review_tickets(db, shop_id, now=base - timedelta(days=3))
    async with db.session() as session:
        boss = await _load(session, staff_ids["supervisor"])
        tickets = list(await session.scalars(
            select(Ticket).where(Ticket.shop_id == shop_id, Ticket.review_id.is_not(None))
            .order_by(Ticket.review_id)
        ))  # fmt: skip
        for ticket, (_days, _rating, _content, end) in zip(tickets, REVIEWS, strict=True):
            if end is None:
                continue
            outcome, cause, note = end
            moment = base - timedelta(days=2)
            await do_note(session, boss, ticket.id, note, now=moment)
            if outcome == "review_changed":
                for step, fields in (
                    ("contact", {"how": "旺旺留言后电话联系上"}),
                    ("cause", {"cause": "仓库漏发配件"}),
                    ("ask_change", {"answer": "补发后买家愿意改评"}),
                    ("record", {"handling": "顺丰补发配件", "result": "买家已改好评"}),
                ):
                    await do_step(session, boss, ticket.id, step, fields, now=moment)
                review = await session.get(Review, ticket.review_id)
                assert review is not None
                review.rating, review.follow_up = "good", "客服态度很好，补发很快，改好评"
            await do_close(session, boss, ticket.id, cause_id=causes[cause], outcome=outcome,
                           now=moment)  # fmt: skip
        await session.commit()
    return opened


async def _refund_case(
    session: AsyncSession,
    agent: StaffAccount,
    boss: StaffAccount,
    order: Order,
    case: _Case,
    at: datetime,
    causes: dict[str, int],
    number: int,
) -> None:
    assert case.kind is not None
    amount = max(1000, int(order.paid_fen * case.share)) if case.share else 1000
    amount = min(amount, order.paid_fen)
    if case.from_report:
        refund = Refund(
            shop_id=order.shop_id, order_id=order.id, platform_refund_id=f"DEMO-R{number:04d}",
            kind=case.kind.value, status=RefundStatus.WAIT_SELLER_AGREE.value,
            goods=GoodsStatus.BUYER_RECEIVED.value, amount_fen=amount, reason=case.reason,
            deadline_at=at + timedelta(days=2), created_at=at, updated_at=at,
        )  # fmt: skip
        session.add(refund)
        await session.flush()
        ticket = await open_ticket(
            session, order.shop_id,
            Opening(TicketKind.refund, TicketSource.refund_import, case.subject,
                    order_id=order.id, refund_id=refund.id),
            by=None, now=at,
        )  # fmt: skip
        if not case.moves and not case.cause:
            return  # waits in the queue
        await do_take(session, agent, ticket.id, now=at + timedelta(minutes=15))
    else:
        ticket = await open_ticket(
            session, order.shop_id,
            Opening(TicketKind.refund, TicketSource.phone, case.subject, order_id=order.id),
            by=agent, now=at,
        )  # fmt: skip
        await do_take(session, agent, ticket.id, now=at + timedelta(minutes=5))
        await do_open_case_refund(
            session, agent, ticket.id, kind=case.kind, amount_fen=amount, reason=case.reason,
            now=at + timedelta(minutes=10),
        )  # fmt: skip
    step = at + timedelta(hours=1)
    for move in case.moves:
        actor = boss if move is Move.agree and amount > 10000 else agent
        while move is Move.agree and await peak_day(session, order.shop_id, step) is not None:
            step += timedelta(days=1)  # held on the peak day, agreed the day after
        await do_case_move(
            session, actor, ticket.id, move,
            reason="定制商品已按买家尺寸裁剪，不支持无理由退款" if move is Move.refuse else "",
            waybill=f"SF{1400000000 + number * 7919}" if move is Move.send_back else "",
            carrier="顺丰速运" if move is Move.send_back else "",
            now=step,
        )  # fmt: skip
        step += timedelta(days=1)
    if case.days_ago > 10 and case.moves:
        await do_note(session, agent, ticket.id, "已电话联系买家确认", now=step)
    if case.cause:
        await do_close(session, agent, ticket.id, cause_id=causes[case.cause],
                       outcome=case.outcome, now=step)  # fmt: skip
    elif case.days_ago > 5:
        await do_escalate(session, agent, ticket.id, "买家要求补偿运费，超出处理范围",
                          now=step)  # fmt: skip
