"""Monthly pay per agent (P1–P3), every item with what it rests on.

An agent's month, with the policy version in force on the month's last day:

- **base**: the base pay of the agent's level (P1);
- **commission**: the commission rate × the paid sales credited to the agent as
  owner in the month (P2), rounded to the fen;
- **sale deductions**: for each sale the supervisor took out of commission — a
  return caused by the agent or not for quality, a bad review caused by the agent
  (P3) — minus the rate × that sale, rounded to the fen;
- **team bonus**: the policy's share of base × the team's score for the month
  (0–100, recorded by the supervisor; 100 when none was recorded);
- **full attendance**: the bonus, when the agent had shifts and no absence, fined
  lateness or leave in the month (P7);
- **living allowance**;
- **bonuses and deductions** the supervisor added, each with its reason;
- **fines**: each violation of the month still standing (recorded, appealed or
  upheld; a withdrawn one is not), linked to its evidence.

Slow replies beyond the month's free count become one violation per agent when the
month is over (:func:`do_detect_slow_replies`). A supervisor locks a finished month
(:func:`do_lock`): its lines are kept as they were, and later changes no longer
move them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund, Ticket, TicketCause
from xiaoer.aftersales.refund_states import MONEY_BACK, RefundStatus
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.orders.models import CreditRole, Order, SalesCredit
from xiaoer.performance.kpi import month_bounds, period_span
from xiaoer.performance.models import (
    AdjustmentKind,
    KpiDay,
    KpiScope,
    PayAdjustment,
    PayrollMonth,
    Violation,
    ViolationStatus,
)
from xiaoer.performance.violations import (
    detect_violations,
    do_record_detected,
    evidence_link,
)
from xiaoer.staff.models import LEADERS, StaffAccount, is_leader

STANDING = (
    ViolationStatus.recorded.value,
    ViolationStatus.appealed.value,
    ViolationStatus.upheld.value,
)
FULL_SCORE = 100


class PayrollError(ValueError):
    """A payroll action that cannot be done; the message says why."""


@dataclass(frozen=True)
class PayItem:
    """One line of an agent's pay: a signed amount, what it is and what it rests on."""

    kind: str
    amount_fen: int
    detail: dict[str, Any] = field(default_factory=dict)
    link: str = ""


@dataclass(frozen=True)
class PayLine:
    """An agent's month."""

    agent_id: int
    number: str
    name: str
    level: str
    team: str
    items: tuple[PayItem, ...]

    @property
    def total_fen(self) -> int:
        return sum(item.amount_fen for item in self.items)

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "number": self.number,
            "name": self.name,
            "level": self.level,
            "team": self.team,
            "total_fen": self.total_fen,
            "items": [asdict(item) for item in self.items],
        }


@dataclass(frozen=True)
class Payroll:
    month: str
    lines: tuple[PayLine, ...] | None  # None when locked: see ``locked``
    locked: PayrollMonth | None = None

    def rows(self) -> list[dict[str, Any]]:
        """The lines as plain data (the locked copy for a locked month)."""
        if self.locked is not None:
            return list(self.locked.lines)
        return [line.as_dict() for line in self.lines or ()]

    def rows_for(self, staff: StaffAccount) -> list[dict[str, Any]]:
        """The lines a staff member may read: a leader every agent's, an agent their own."""
        rows = self.rows()
        return rows if is_leader(staff) else [r for r in rows if r["agent_id"] == staff.id]

    @property
    def total_fen(self) -> int:
        return sum(int(row["total_fen"]) for row in self.rows())


def _times_rate(amount_fen: int, rate: Decimal) -> int:
    return int((Decimal(amount_fen) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def month_span(session: AsyncSession, shop_id: int, month: str) -> tuple[datetime, datetime]:
    """The month's first moment and the next month's, in UTC, by the shop's clock."""
    return await period_span(session, shop_id, *month_bounds(month))


async def _agents(session: AsyncSession, shop_id: int) -> list[StaffAccount]:
    rows = await session.scalars(
        select(StaffAccount).where(StaffAccount.shop_id == shop_id).order_by(StaffAccount.number)
    )
    return [s for s in rows if "agent" in s.roles]


async def compute(session: AsyncSession, shop_id: int, month: str) -> list[PayLine]:
    """Every agent's pay for the month as it stands now."""
    from xiaoer.performance.attendance import attendance_summaries

    first, last = month_bounds(month)
    start, end = await month_span(session, shop_id, month)
    policy = await policy_on(session, shop_id, last)
    agents = await _agents(session, shop_id)
    attendance = await attendance_summaries(session, shop_id, [a.id for a in agents], month)

    sales: dict[int, tuple[int, int]] = {}
    for agent_id, count, amount in await session.execute(
        select(SalesCredit.agent_id, func.count(), func.sum(SalesCredit.amount_fen))
        .where(SalesCredit.shop_id == shop_id, SalesCredit.role == CreditRole.owner.value,
               SalesCredit.paid_at >= start, SalesCredit.paid_at < end)
        .group_by(SalesCredit.agent_id)
    ):  # fmt: skip
        sales[agent_id] = (int(count), int(amount or 0))

    adjustments: dict[int, list[PayAdjustment]] = defaultdict(list)
    scores: dict[str, PayAdjustment] = {}
    for adjustment in await session.scalars(
        select(PayAdjustment)
        .where(PayAdjustment.shop_id == shop_id, PayAdjustment.month == month)
        .order_by(PayAdjustment.id)
    ):
        if adjustment.kind == AdjustmentKind.team_score.value:
            scores[adjustment.team] = adjustment  # the newest counts
        elif adjustment.agent_id is not None:
            adjustments[adjustment.agent_id].append(adjustment)
    order_numbers = await _order_numbers(session, adjustments)

    fines: dict[int, list[Violation]] = defaultdict(list)
    for violation in await session.scalars(
        select(Violation)
        .where(Violation.shop_id == shop_id, Violation.occurred_at >= start,
               Violation.occurred_at < end, Violation.status.in_(STANDING))
        .order_by(Violation.occurred_at, Violation.id)
    ):  # fmt: skip
        fines[violation.agent_id].append(violation)

    refunds = await _refund_deductions(session, shop_id, start, end)
    lines = []
    for agent in agents:
        items = [_base(agent, policy)]
        count, amount = sales.get(agent.id, (0, 0))
        rate = policy.pay.commission_rate
        items.append(
            PayItem("commission", _times_rate(amount, rate),
                    {"sales_fen": amount, "orders": count, "rate": str(rate)},
                    f"/performance/kpi?agent={agent.id}&month={month}")
        )  # fmt: skip
        own = adjustments.get(agent.id, [])
        for adjustment in own:
            if adjustment.kind == AdjustmentKind.sale_deduction.value:
                items.append(_adjusted(adjustment, rate, order_numbers))
        for deduction in refunds.get(agent.id, []):
            items.append(deduction.item(rate))
        for violation in fines.get(agent.id, []):
            if violation.rule == "bad_review_not_changed" and violation.order_id is not None:
                items.append(await _review_deduction(session, violation, rate))
        items.append(_team_bonus(agent, policy, scores.get(agent.team)))
        summary = attendance[agent.id]
        rostered = int(summary.shifts)
        full = bool(summary.full_attendance) and rostered > 0
        items.append(
            PayItem("full_attendance", policy.pay.full_attendance_bonus if full else 0,
                    {"shifts": rostered, "absent": int(summary.absent),
                     "late_fined": int(summary.late_fined), "on_leave": int(summary.on_leave)},
                    f"/performance/roster?staff={agent.id}&month={month}")
        )  # fmt: skip
        items.append(PayItem("allowance", policy.pay.living_allowance))
        for adjustment in own:
            if adjustment.kind != AdjustmentKind.sale_deduction.value:
                items.append(_adjusted(adjustment, rate, order_numbers))
        for violation in fines.get(agent.id, []):
            items.append(_fine(violation))
        lines.append(
            PayLine(agent.id, agent.number, agent.name, agent.level, agent.team, tuple(items))
        )
    del first
    return lines


@dataclass(frozen=True)
class RefundDeduction:
    """A refund that takes its sale out of the credited agent's commission (P3)."""

    refund_id: int
    order_id: int
    order: str
    amount_fen: int
    cause: str
    agent_caused: bool

    def item(self, rate: Decimal) -> PayItem:
        detail = {
            "refund_id": self.refund_id,
            "order": self.order,
            "sales_fen": self.amount_fen,
            "rate": str(rate),
            "cause": self.cause,
            "agent_caused": self.agent_caused,
        }
        return PayItem("refund_deduction", -_times_rate(self.amount_fen, rate), detail,
                       f"/orders/{self.order_id}")  # fmt: skip


async def _refund_deductions(
    session: AsyncSession, shop_id: int, start: datetime, end: datetime
) -> dict[int, list[RefundDeduction]]:
    """Refunds that paid money back within the month, by the agent credited with the sale:
    every one, except those whose case was closed under a cause about the goods' quality
    that no agent caused (P3)."""
    rows = await session.execute(
        select(SalesCredit.agent_id, Refund.id, Refund.order_id, Order.platform_order_id,
               Refund.amount_fen, TicketCause.name, TicketCause.about_quality,
               TicketCause.agent_caused)
        .join(SalesCredit, (SalesCredit.order_id == Refund.order_id)
              & (SalesCredit.role == CreditRole.owner.value))
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(Ticket, Ticket.refund_id == Refund.id)
        .outerjoin(TicketCause, TicketCause.id == Ticket.cause_id)
        .where(Refund.shop_id == shop_id, Refund.status == RefundStatus.SUCCESS.value,
               Refund.kind.in_([k.value for k in MONEY_BACK]),
               Refund.finished_at >= start, Refund.finished_at < end)
        .order_by(Refund.finished_at, Refund.id)
    )  # fmt: skip
    found: dict[int, list[RefundDeduction]] = defaultdict(list)
    seen: set[int] = set()
    for agent_id, refund_id, order_id, number, amount, cause, quality, by_agent in rows:
        if refund_id in seen:
            continue  # a refund on two tickets (a merged duplicate) counts once
        seen.add(refund_id)
        if quality and not by_agent:
            continue
        found[agent_id].append(
            RefundDeduction(refund_id, order_id, number, int(amount), cause or "", bool(by_agent))
        )
    return found


async def _review_deduction(session: AsyncSession, violation: Violation, rate: Decimal) -> PayItem:
    """A bad review the agent caused and did not get changed takes its sale out too (P3)."""
    amount = await session.scalar(
        select(func.coalesce(func.sum(SalesCredit.amount_fen), 0)).where(
            SalesCredit.order_id == violation.order_id,
            SalesCredit.agent_id == violation.agent_id,
            SalesCredit.role == CreditRole.owner.value,
        )
    )
    number = await session.scalar(
        select(Order.platform_order_id).where(Order.id == violation.order_id)
    )
    sales = int(amount or 0)
    detail = {"order": number or "", "sales_fen": sales, "rate": str(rate),
              "violation_id": violation.id}  # fmt: skip
    return PayItem("review_deduction", -_times_rate(sales, rate), detail,
                   f"/orders/{violation.order_id}")  # fmt: skip


def _base(agent: StaffAccount, policy: Policy) -> PayItem:
    base = policy.pay.base_by_level.get(agent.level)
    if base is None:
        raise PayrollError(say("the policy has no base pay for level {level!r}", level=agent.level))
    return PayItem("base", base, {"level": agent.level})


def _team_bonus(agent: StaffAccount, policy: Policy, score: PayAdjustment | None) -> PayItem:
    base = _base(agent, policy).amount_fen
    share = policy.pay.team_bonus_share_of_base
    points = score.amount_fen if score is not None else FULL_SCORE
    amount = _times_rate(base, share * Decimal(points) / Decimal(FULL_SCORE))
    detail = {"base_fen": base, "share": str(share), "score": points,
              "recorded": score is not None}  # fmt: skip
    return PayItem("team_bonus", amount, detail)


def _adjusted(adjustment: PayAdjustment, rate: Decimal, numbers: dict[int, str]) -> PayItem:
    link = f"/orders/{adjustment.order_id}" if adjustment.order_id else ""
    detail: dict[str, Any] = {"reason": adjustment.reason, "adjustment_id": adjustment.id}
    if adjustment.order_id:
        detail["order"] = numbers.get(adjustment.order_id, "")
    if adjustment.kind == AdjustmentKind.sale_deduction.value:
        detail.update(sales_fen=adjustment.amount_fen, rate=str(rate))
        return PayItem("sale_deduction", -_times_rate(adjustment.amount_fen, rate), detail, link)
    sign = 1 if adjustment.kind == AdjustmentKind.bonus.value else -1
    return PayItem(adjustment.kind, sign * adjustment.amount_fen, detail, link)


def _fine(violation: Violation) -> PayItem:
    detail = {
        "rule": violation.rule,
        "requirement": violation.requirement,
        "violation_id": violation.id,
        "status": violation.status,
        "occurred_at": violation.occurred_at.isoformat(),
        "note": violation.note,
    }
    return PayItem("fine", -violation.amount_fen, detail, evidence_link(violation))


async def _order_numbers(
    session: AsyncSession, adjustments: dict[int, list[PayAdjustment]]
) -> dict[int, str]:
    ids = {a.order_id for rows in adjustments.values() for a in rows if a.order_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Order.id, Order.platform_order_id).where(Order.id.in_(ids)))
    return {order_id: number for order_id, number in rows}


async def payroll(session: AsyncSession, shop_id: int, month: str) -> Payroll:
    """The month's payroll: the locked copy if the month is locked, else as it stands."""
    month_bounds(month)  # checks the form
    locked = await session.scalar(
        select(PayrollMonth).where(PayrollMonth.shop_id == shop_id, PayrollMonth.month == month)
    )
    if locked is not None:
        return Payroll(month, None, locked)
    await detect_violations(session, shop_id)  # fines told since the last look
    return Payroll(month, tuple(await compute(session, shop_id, month)))


# --- What the supervisor does -----------------------------------------------------


class PayrollForbidden(PayrollError, NotPermitted):
    """The account may not change the payroll."""


class PayrollNotFound(PayrollError, NotFound):
    """The agent or order named is not of the account's shop."""


def _require_leader(actor: StaffAccount) -> None:
    if not actor.has_role(*LEADERS):
        raise PayrollForbidden(say("only a supervisor or manager may change the payroll"))


async def _require_open(session: AsyncSession, shop_id: int, month: str) -> None:
    locked = await session.scalar(
        select(PayrollMonth.id).where(PayrollMonth.shop_id == shop_id, PayrollMonth.month == month)
    )
    if locked is not None:
        raise PayrollError(
            say("the payroll of {month} is locked; it can no longer change", month=month)
        )


async def do_add_adjustment(
    session: AsyncSession,
    *,
    actor: StaffAccount,
    month: str,
    kind: str,
    amount_fen: int | None = None,
    agent_id: int | None = None,
    team: str = "",
    order_id: int | None = None,
    reason: str,
) -> PayAdjustment:
    """Add a sale deduction, bonus, deduction or team score to an open month."""
    _require_leader(actor)
    month_bounds(month)
    await _require_open(session, actor.shop_id, month)
    if kind not in {k.value for k in AdjustmentKind}:
        raise PayrollError(
            say(
                "kind {kind!r}: expected one of {kinds}",
                kind=kind,
                kinds=", ".join(AdjustmentKind),
            )
        )
    if not reason.strip():
        raise PayrollError(say("give the reason: it is shown on the pay line"))
    if kind == AdjustmentKind.team_score.value:
        if not team or amount_fen is None or not 0 <= amount_fen <= FULL_SCORE:
            raise PayrollError(say("a team score needs the team and a score from 0 to 100"))
        agent_id = order_id = None
    else:
        agent = await session.get(StaffAccount, agent_id) if agent_id is not None else None
        if agent is None or agent.shop_id != actor.shop_id:
            raise PayrollNotFound(say("choose an agent of this shop"))
        if order_id is not None:
            order = await session.get(Order, order_id)
            if order is None or order.shop_id != actor.shop_id:
                raise PayrollNotFound(say("no order {order_id} in this shop", order_id=order_id))
            if amount_fen is None and kind == AdjustmentKind.sale_deduction.value:
                amount_fen = order.paid_fen
        if kind == AdjustmentKind.sale_deduction.value and order_id is None:
            raise PayrollError(
                say("a sale deduction names the order that was returned or reviewed")
            )
        if amount_fen is None or amount_fen <= 0:
            raise PayrollError(say("the amount must be more than 0 fen"))
    adjustment = PayAdjustment(
        shop_id=actor.shop_id, month=month, agent_id=agent_id, team=team, kind=kind,
        amount_fen=amount_fen, order_id=order_id, reason=reason.strip(), created_by=actor.id,
    )  # fmt: skip
    session.add(adjustment)
    await session.flush()
    await record_audit(
        session, shop_id=actor.shop_id, actor=actor.username, entity="payroll",
        entity_id=month, action="adjust", reason=adjustment.reason,
        after={"adjustment_id": adjustment.id, "kind": kind, "agent_id": agent_id,
               "team": team, "amount_fen": amount_fen, "order_id": order_id},
    )  # fmt: skip
    return adjustment


async def do_detect_slow_replies(
    session: AsyncSession, shop_id: int, month: str, *, now: datetime | None = None
) -> int:
    """When the month is over, one violation for each agent whose slow replies passed the
    policy's free count (P4); returns how many were recorded. Done once per agent-month."""
    moment = now or utcnow()
    first, last = month_bounds(month)
    start, end = await month_span(session, shop_id, month)
    if moment < end:
        return 0
    policy = await policy_on(session, shop_id, last)
    free = policy.fines.slow_reply_free_per_month
    counts = await session.execute(
        select(KpiDay.subject, func.sum(KpiDay.slow_rounds))
        .where(KpiDay.shop_id == shop_id, KpiDay.scope == KpiScope.agent.value,
               KpiDay.day >= first, KpiDay.day <= last)
        .group_by(KpiDay.subject)
    )  # fmt: skip
    already = set(
        await session.scalars(
            select(Violation.agent_id).where(
                Violation.shop_id == shop_id, Violation.rule == "slow_reply",
                Violation.occurred_at >= start, Violation.occurred_at < end,
            )
        )
    )  # fmt: skip
    recorded = 0
    for subject, slow in counts.all():
        agent_id, slow = int(subject), int(slow or 0)
        if slow <= free or agent_id in already:
            continue
        await do_record_detected(
            session, shop_id=shop_id, agent_id=agent_id, rule="slow_reply", requirement="P4",
            occurred_at=end - timedelta(seconds=1),
            evidence={"check": "slow_reply", "month": month, "slow_replies": slow,
                      "free_per_month": free, "reply_seconds": policy.reception.reply_seconds},
        )  # fmt: skip
        recorded += 1
    return recorded


async def do_lock(
    session: AsyncSession, *, actor: StaffAccount, month: str, now: datetime | None = None
) -> PayrollMonth:
    """Keep the finished month's lines as they are now; they no longer change."""
    _require_leader(actor)
    moment = now or utcnow()
    start, end = await month_span(session, actor.shop_id, month)
    if moment < end:
        raise PayrollError(
            say("{month} is not over yet; a month is locked after its last day", month=month)
        )
    await _require_open(session, actor.shop_id, month)
    await detect_violations(session, actor.shop_id)
    await do_detect_slow_replies(session, actor.shop_id, month, now=moment)
    pending = await session.scalar(
        select(func.count()).where(
            Violation.shop_id == actor.shop_id, Violation.status == ViolationStatus.appealed.value,
            Violation.occurred_at >= start, Violation.occurred_at < end,
        )
    )  # fmt: skip
    if pending:
        raise PayrollError(
            say(
                "{pending} appeal(s) of {month} wait for a decision; decide them first",
                pending=pending,
                month=month,
            )
        )
    lines = [line.as_dict() for line in await compute(session, actor.shop_id, month)]
    locked = PayrollMonth(
        shop_id=actor.shop_id, month=month, lines=lines,
        total_fen=sum(int(line["total_fen"]) for line in lines),
        locked_by=actor.id, locked_at=moment,
    )  # fmt: skip
    session.add(locked)
    await session.flush()
    await record_audit(
        session, shop_id=actor.shop_id, actor=actor.username, entity="payroll",
        entity_id=month, action="lock", after={"total_fen": locked.total_fen,
                                              "agents": len(lines)}, at=moment,
    )  # fmt: skip
    return locked


def previous_month(today: date) -> str:
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
