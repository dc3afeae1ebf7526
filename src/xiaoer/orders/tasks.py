"""Order tasks: confirmation, reminders, phone calls, duplicates (O2, O6, O7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.texts import Text, say
from xiaoer.orders import workflow
from xiaoer.orders.access import OrderNotFound, check_may_act
from xiaoer.orders.errors import OrderError
from xiaoer.orders.lifecycle import Details, Move, do_transition
from xiaoer.orders.marks import current_note
from xiaoer.orders.models import (
    Order,
    OrderTask,
    SellerNote,
    TaskKind,
    TaskStatus,
    TradeStatus,
)
from xiaoer.reception.models import Message
from xiaoer.reception.service import do_send_agent_message, open_conversation_of
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount, is_leader

DELIVERY_WORDS = {"pickup": "自提", "downstairs": "送货到楼下", "install": "包送货安装"}


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def confirmation_text(
    order: Order, note: SellerNote | None, *, courier: str, ship_date: str = ""
) -> str:
    """The message that asks the buyer to check their paid order (O2)."""
    lines = ["亲，您的订单已付款，麻烦核对一下信息："]
    lines.append(f"收货人：{order.receiver_name}  电话：{order.receiver_phone}")
    lines.append(f"地址：{order.receiver_address}")
    for item in order.items:
        spec = f"（{item.sku_text}）" if item.sku_text else ""
        lines.append(f"商品：{item.title}{spec} × {item.quantity}")
    fields = note.fields if note is not None and note.fields else None
    if fields:
        design = {"normal": "图案正常", "modified": "图案修改", "custom": "图案定制"}
        lines.append(
            f"尺寸：宽{fields['width_m']}米 × 高{fields['height_m']}米，"
            f"{design.get(str(fields['design']), str(fields['design']))}"
        )
        month, day = str(fields["ship_date"]).split("-")
        ship_date = f"{int(month)}月{int(day)}日"
        lines.append(f"配送方式：{DELIVERY_WORDS.get(str(fields['delivery']), '')}")
        if fields.get("extras"):
            lines.append(f"备注：{'，'.join(str(e) for e in fields['extras'])}")
    if ship_date:
        lines.append(f"预计发货：{ship_date}")
    if courier:
        lines.append(f"快递：{courier}")
    lines.append("信息没问题请回复“确认”；哪里需要改，直接告诉我就好。")
    return "\n".join(lines)


def reminder_text(order: Order, shop_name: str) -> str:
    """A friendly payment reminder (O6), naming the goods so the buyer knows which."""
    first = order.items[0].title if order.items else "您选的宝贝"
    more = f"等{len(order.items)}件" if len(order.items) > 1 else ""
    return (
        f"亲，看到您在{shop_name}拍下了「{first}」{more}，还没有付款哦。"
        "付款后我们会尽快安排发货；有任何疑问随时问我～"
    )


async def load_task(session: AsyncSession, shop_id: int, task_id: int) -> OrderTask:
    task = await session.get(OrderTask, task_id)
    if task is None or task.shop_id != shop_id:
        raise OrderNotFound(say("no task {task_id} in this shop", task_id=task_id))
    return task


async def task_for(
    session: AsyncSession, staff: StaffAccount, task_id: int
) -> tuple[OrderTask, Order]:
    """A task of the staff member's shop with its order (and items): anyone of the shop
    may look it up; acting on it and reading its message are checked where they happen."""
    task = await load_task(session, staff.shop_id, task_id)
    return task, await _order_with_items(session, task.order_id)


async def _order_with_items(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(
        select(Order).options(selectinload(Order.items)).where(Order.id == order_id)
    )
    if order is None:
        raise OrderError(say("no order {order_id}", order_id=order_id))
    return order


async def task_message(session: AsyncSession, task: OrderTask) -> str:
    """The text a confirmation or reminder task sends, filled from the order."""
    order = await _order_with_items(session, task.order_id)
    shop = await session.get(Shop, order.shop_id)
    if task.kind == TaskKind.remind.value:
        return reminder_text(order, shop.name if shop else "")
    if task.kind == TaskKind.confirm.value:
        note = await current_note(session, order.id)
        courier = order.courier or (shop.default_courier if shop else "")
        return confirmation_text(order, note, courier=courier)
    raise OrderError(NO_MESSAGE.get(task.kind) or f"a {task.kind} task sends no message")


async def task_message_for(session: AsyncSession, staff: StaffAccount, task: OrderTask) -> str:
    """The message a task would send, for the agent who may send it: it carries the
    receiver's phone and address, which others see masked."""
    order = await _order_with_items(session, task.order_id)
    check_may_act(staff, order, task)
    return await task_message(session, task)


async def do_send_task_message(
    session: AsyncSession,
    *,
    task: OrderTask,
    agent: StaffAccount,
    text: str | None = None,
    client_id: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Send a confirmation or a reminder into the buyer's open conversation.

    Each send is kept in the task's evidence; the same ``client_id`` again (a retried
    request) sends and records nothing new.
    """
    now = now or utcnow()
    order = await _order_with_items(session, task.order_id)
    check_may_act(agent, order, task)
    if task.status != TaskStatus.open.value:
        raise OrderError(say("this task is done already"))
    if order.customer_id is None:
        raise OrderError(say("the order has no known buyer to write to"))
    conversation = await open_conversation_of(session, order.customer_id)
    if conversation is None:
        raise OrderError(
            say("the buyer has no open conversation; reach them by phone and record the outcome")
        )
    body = (text or "").strip() or await task_message(session, task)
    sends = list(task.evidence.get("sends", []))
    posted = await do_send_agent_message(
        session,
        agent=agent,
        conversation_id=conversation.id,
        text=body,
        client_id=client_id or f"task-{task.id}-{len(sends) + 1}",
        now=now,
    )
    sent = posted.messages[0]
    if posted.duplicate:  # a repeated request: the message went out the first time
        return sent
    sends.append(
        {"message_ids": [m.id for m in posted.messages], "text": body, "at": now.isoformat(),
         "by": agent.number}
    )  # fmt: skip
    task.evidence = {
        **task.evidence,
        "conversation_id": conversation.id,
        "sent_message_ids": [m.id for m in posted.messages],
        "sent_text": body,
        "sent_at": now.isoformat(),
        "sent_by": agent.number,
        "sends": sends,
    }
    if task.kind == TaskKind.remind.value:
        task.status, task.outcome = TaskStatus.done.value, "sent"
        task.done_at, task.done_by = now, agent.id
    else:
        task.outcome = "sent"
    return sent


async def _buyer_answer(session: AsyncSession, task: OrderTask) -> Message | None:
    conversation_id = task.evidence.get("conversation_id")
    sent = task.evidence.get("sent_message_ids") or []
    if conversation_id is None or not sent:
        return None
    return await session.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.sender == "buyer",
            Message.id > max(sent),
        )
        .order_by(Message.id)
        .limit(1)
    )


TASK_OUTCOMES: dict[str, tuple[str, ...]] = {
    TaskKind.confirm.value: ("confirmed", "changes_requested", "confirmed_by_phone"),
    TaskKind.remind.value: ("phoned", "sms", "buyer_declined"),
    TaskKind.cod_call.value: ("confirmed", "refused", "unreachable"),
    TaskKind.duplicate.value: ("closed", "kept"),
    TaskKind.late_note.value: ("written",),
    TaskKind.late_ship.value: ("chased",),
    TaskKind.late_delivery.value: ("chased",),
}

# What a task that sends nothing, or a wrong outcome, is told: one whole message per kind,
# so each reads naturally in every language (tests check them against the tables above).
NO_MESSAGE: dict[str, Text] = {
    TaskKind.cod_call.value: say("a cod_call task sends no message"),
    TaskKind.late_note.value: say("a late_note task sends no message"),
    TaskKind.late_ship.value: say("a late_ship task sends no message"),
    TaskKind.late_delivery.value: say("a late_delivery task sends no message"),
    TaskKind.duplicate.value: say("a duplicate task sends no message"),
}
ENDS_AS: dict[str, Text] = {
    TaskKind.confirm.value: say(
        "a confirm task ends as one of: confirmed, changes_requested, confirmed_by_phone"
    ),
    TaskKind.remind.value: say("a remind task ends as one of: phoned, sms, buyer_declined"),
    TaskKind.cod_call.value: say("a cod_call task ends as one of: confirmed, refused, unreachable"),
    TaskKind.duplicate.value: say("a duplicate task ends as one of: closed, kept"),
    TaskKind.late_note.value: say("a late_note task ends as one of: written"),
    TaskKind.late_ship.value: say("a late_ship task ends as one of: chased"),
    TaskKind.late_delivery.value: say("a late_delivery task ends as one of: chased"),
}


async def do_finish_task(
    session: AsyncSession,
    *,
    task: OrderTask,
    agent: StaffAccount,
    outcome: str,
    remark: str = "",
    now: datetime | None = None,
) -> OrderTask:
    """Record how a task ended, with what it rests on (the buyer's reply, a call)."""
    now = now or utcnow()
    order = await _order_with_items(session, task.order_id)
    check_may_act(agent, order, task)
    allowed = TASK_OUTCOMES.get(task.kind, ())
    if outcome not in allowed:
        raise OrderError(
            ENDS_AS.get(task.kind) or f"a {task.kind} task ends as one of: {', '.join(allowed)}"
        )
    if task.status != TaskStatus.open.value:
        raise OrderError(say("this task is done already"))
    evidence = dict(task.evidence)
    if remark.strip():
        evidence["remark"] = remark.strip()[:500]
    if task.kind == TaskKind.confirm.value and outcome in ("confirmed", "changes_requested"):
        answer = await _buyer_answer(session, task)
        if answer is None:
            raise OrderError(
                say(
                    "no reply from the buyer after the confirmation yet; "
                    "if they confirmed by phone, record it as such"
                )
            )
        evidence.update(
            answer_message_id=answer.id,
            answer_text=answer.text,
            answered_at=answer.created_at.isoformat(),
        )
    if task.kind == TaskKind.late_note.value and not await workflow.has_note(session, order.id):
        raise OrderError(say("write the seller note first"))
    if task.kind == TaskKind.confirm.value and outcome != "changes_requested":
        order.confirmed_at = now
    if task.kind == TaskKind.cod_call.value and outcome == "confirmed":
        order.cod_confirmed_at = now
    if task.kind == TaskKind.duplicate.value and outcome == "closed":
        await do_transition(
            session, order, Move.close, details=Details(reason="重复下单"),
            actor=agent.number or agent.username, now=now,
        )  # fmt: skip
    task.evidence = evidence
    task.outcome, task.status = outcome, TaskStatus.done.value
    task.done_at, task.done_by = now, agent.id
    if task.kind == TaskKind.confirm.value and outcome == "changes_requested":
        # The order is changed as the buyer asked; then it is confirmed again.
        await session.flush()
        await workflow.open_task(
            session, order, TaskKind.confirm, assignee_id=task.assignee_id, now=now
        )
    await record_audit(
        session,
        shop_id=order.shop_id,
        actor=agent.number or agent.username,
        entity="order",
        entity_id=order.platform_order_id,
        action=f"task {task.kind}",
        after={"outcome": outcome},
        reason=remark.strip(),
        at=now,
    )
    await record_event(
        session,
        order.shop_id,
        "order.task_done",
        {
            "task_id": task.id,
            "order_id": order.id,
            "kind": task.kind,
            "outcome": outcome,
            "agent_id": task.assignee_id,
            "by": agent.id,
        },
        at=now,
    )
    return task


async def open_tasks(
    session: AsyncSession, shop_id: int, *, assignee_id: int | None = None, limit: int = 200
) -> list[tuple[OrderTask, Order]]:
    """Open tasks, oldest first; one agent's when ``assignee_id`` is given."""
    query = (
        select(OrderTask, Order)
        .join(Order, Order.id == OrderTask.order_id)
        .where(OrderTask.shop_id == shop_id, OrderTask.status == TaskStatus.open.value)
        .order_by(OrderTask.created_at, OrderTask.id)
        .limit(limit)
    )
    if assignee_id is not None:
        query = query.where(OrderTask.assignee_id == assignee_id)
    return [(task, order) for task, order in await session.execute(query)]


async def unconfirmed_paid(session: AsyncSession, shop_id: int, limit: int = 100) -> list[Order]:
    """Paid orders not yet shipped whose buyer has not confirmed them (O2)."""
    rows = await session.scalars(
        select(Order)
        .where(
            Order.shop_id == shop_id,
            Order.status == TradeStatus.WAIT_SELLER_SEND_GOODS.value,
            Order.confirmed_at.is_(None),
        )
        .order_by(Order.paid_at)
        .limit(limit)
    )
    return list(rows)


async def tasks_for(
    session: AsyncSession, staff: StaffAccount, agent_id: int | None = None
) -> list[tuple[OrderTask, Order]]:
    """Open tasks: a leader's choice of agent (``None``: everyone's); an agent's own."""
    assignee = agent_id if is_leader(staff) else staff.id
    return await open_tasks(session, staff.shop_id, assignee_id=assignee)


async def unconfirmed_for(session: AsyncSession, staff: StaffAccount) -> list[Order]:
    """Paid orders waiting for the buyer's confirmation: every one for a leader, the
    agent's own and those nobody owns for an agent."""
    paid = await unconfirmed_paid(session, staff.shop_id)
    if is_leader(staff):
        return paid
    return [order for order in paid if order.owner_id in (None, staff.id)]
