"""Violations (P4): detected from the event stream, or added by a supervisor; appealable.

Other packages say that a rule was broken by recording an event on the
``violation`` topic (``violation.<what>``, with ``agent_id``, ``rule`` and what it
rests on). :func:`detect_violations` turns each such event into one
:class:`Violation` row, once (the row keeps the event's number), with the fine of
the policy version in force when it happened. A supervisor adds what no event
can see (a wrong note, tracking neglect, a loss), and decides an agent's appeal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import from_local, month_days, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import read_after, record_event
from xiaoer.core.models import Event
from xiaoer.core.policy_store import policy_on, policy_version_on
from xiaoer.core.texts import say
from xiaoer.performance.models import Violation, ViolationSource, ViolationStatus
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, StaffAccount, is_leader

TOPIC = "violation"

# What a supervisor may add by hand, with its policy fine and requirement. The loss
# at cost takes the amount the supervisor gives (above the policy's threshold).
ADDED_BY_HAND: dict[str, str] = {
    "note_late_or_wrong": "O3",
    "note_wrong_at_factory": "O9",
    "tracking_neglect": "O10",
    "loss_paid_at_cost_over": "P4",
    "bad_review_not_changed": "P3",
}


class ViolationError(ValueError):
    """A violation that cannot be added or decided; the message says why."""


class ViolationForbidden(ViolationError, NotPermitted):
    """The account may not do this to a violation."""


class ViolationFilterError(ViolationError):
    """A filter of the list that cannot be used; ``field`` names it for the form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ViolationNotFound(ViolationError, NotFound):
    """No such violation in the account's shop."""


async def _fine(
    session: AsyncSession, shop_id: int, rule: str, at: datetime
) -> tuple[int, int | None]:
    """The fine of ``rule`` in the policy version in force on the day of ``at``."""
    policy = await policy_on(session, shop_id, at.date())
    version = await policy_version_on(session, shop_id, at.date())
    amount = getattr(policy.fines, rule, None)
    if not isinstance(amount, int):
        raise ViolationError(say("the policy has no fine {rule!r}", rule=rule))
    return amount, version.id if version is not None else None


async def _last_detected(session: AsyncSession, shop_id: int) -> int:
    """The topic number of the newest violation event already turned into a row."""
    seq = await session.scalar(
        select(func.max(Event.topic_seq))
        .join(Violation, (Violation.shop_id == Event.shop_id) & (Violation.event_seq == Event.seq))
        .where(Event.shop_id == shop_id, Event.topic == TOPIC)
    )
    return int(seq or 0)


async def detect_violations(session: AsyncSession, shop_id: int, *, limit: int = 500) -> int:
    """Record a violation for each new ``violation.*`` event; returns how many."""
    after = await _last_detected(session, shop_id)
    added = 0
    while True:
        events = await read_after(session, shop_id, after, limit, topic=TOPIC)
        if not events:
            return added
        for event in events:
            after = event.topic_seq
            data = event.payload
            agent_id, rule = data.get("agent_id"), data.get("fine_rule")
            if not isinstance(agent_id, int) or not isinstance(rule, str):
                continue  # nobody to hold to it (e.g. an order without an owner)
            known = await session.scalar(
                select(Violation.id).where(
                    Violation.shop_id == shop_id, Violation.event_seq == event.seq
                )
            )
            if known is not None:
                continue
            at = datetime.fromisoformat(event.created_at)
            amount, version = await _fine(session, shop_id, rule, at)
            session.add(
                Violation(
                    shop_id=shop_id,
                    agent_id=agent_id,
                    rule=rule,
                    requirement=str(data.get("rule", "")),
                    amount_fen=amount,
                    policy_version_id=version,
                    source=ViolationSource.detected.value,
                    event_seq=event.seq,
                    order_id=data.get("order_id")
                    if isinstance(data.get("order_id"), int)
                    else None,
                    conversation_id=data.get("conversation_id")
                    if isinstance(data.get("conversation_id"), int)
                    else None,
                    evidence={"event": event.kind, **data},
                    occurred_at=at,
                )
            )
            added += 1
        await session.flush()


async def do_record_detected(
    session: AsyncSession,
    *,
    shop_id: int,
    agent_id: int,
    rule: str,
    requirement: str,
    occurred_at: datetime,
    evidence: dict[str, Any],
    order_id: int | None = None,
    conversation_id: int | None = None,
) -> Violation:
    """A violation found by a check rather than an event (slow replies in a month, late
    notes found in imported history), with the fine of the policy version in force then."""
    amount, version = await _fine(session, shop_id, rule, occurred_at)
    violation = Violation(
        shop_id=shop_id,
        agent_id=agent_id,
        rule=rule,
        requirement=requirement,
        amount_fen=amount,
        policy_version_id=version,
        source=ViolationSource.detected.value,
        order_id=order_id,
        conversation_id=conversation_id,
        evidence=evidence,
        occurred_at=occurred_at,
    )
    session.add(violation)
    await session.flush()
    return violation


async def do_add_violation(
    session: AsyncSession,
    *,
    supervisor: StaffAccount,
    agent_id: int,
    rule: str,
    note: str,
    occurred_at: datetime | None = None,
    order_id: int | None = None,
    amount_fen: int | None = None,
) -> Violation:
    """A violation the supervisor saw: a wrong note, tracking neglect, a loss at cost."""
    if not supervisor.has_role(*LEADERS):
        raise ViolationForbidden(say("only a supervisor or a manager adds violations"))
    if rule not in ADDED_BY_HAND:
        raise ViolationError(say("choose one of: {rules}", rules=", ".join(ADDED_BY_HAND)))
    if not note.strip():
        raise ViolationError(say("say what happened: it is the agent's evidence too"))
    agent = await session.get(StaffAccount, agent_id)
    if agent is None or agent.shop_id != supervisor.shop_id:
        raise ViolationNotFound(say("no such agent in this shop"))
    at = occurred_at or utcnow()
    amount, version = await _fine(session, supervisor.shop_id, rule, at)
    if rule == "loss_paid_at_cost_over":
        if amount_fen is None or amount_fen <= amount:
            raise ViolationError(
                say(
                    "a loss is paid at cost only above ¥{yuan:.2f}; give the loss",
                    yuan=amount / 100,
                )
            )
        amount = amount_fen
    violation = Violation(
        shop_id=supervisor.shop_id,
        agent_id=agent_id,
        rule=rule,
        requirement=ADDED_BY_HAND[rule],
        amount_fen=amount,
        policy_version_id=version,
        source=ViolationSource.supervisor.value,
        order_id=order_id,
        evidence={},
        note=note.strip()[:1000],
        occurred_at=at,
        created_by=supervisor.id,
    )
    session.add(violation)
    await session.flush()
    await _announce(session, violation, "violation.added")
    return violation


async def _announce(session: AsyncSession, violation: Violation, kind: str) -> None:
    payload: dict[str, Any] = {
        "violation_id": violation.id,
        "agent_id": violation.agent_id,
        "status": violation.status,
    }
    await record_event(
        session, violation.shop_id, kind, payload, topic=f"agent:{violation.agent_id}"
    )


async def do_appeal(
    session: AsyncSession, *, agent: StaffAccount, violation: Violation, text: str
) -> Violation:
    if violation.shop_id != agent.shop_id or violation.agent_id != agent.id:
        raise ViolationForbidden(say("only the agent it names may appeal a violation"))
    if violation.status != ViolationStatus.recorded.value:
        raise ViolationError(say("this violation was appealed or decided already"))
    if not text.strip():
        raise ViolationError(say("say why the violation is wrong"))
    violation.status = ViolationStatus.appealed.value
    violation.appeal = text.strip()[:1000]
    violation.appealed_at = utcnow()
    await _announce(session, violation, "violation.appealed")
    return violation


async def do_decide(
    session: AsyncSession,
    *,
    supervisor: StaffAccount,
    violation: Violation,
    withdraw: bool,
    decision: str,
) -> Violation:
    """Uphold or withdraw a violation (after an appeal, or on the supervisor's own)."""
    if violation.shop_id != supervisor.shop_id:
        raise ViolationNotFound(say("no such violation in this shop"))
    if not supervisor.has_role(*LEADERS):
        raise ViolationForbidden(say("only a supervisor or a manager decides on violations"))
    if violation.status in (ViolationStatus.upheld.value, ViolationStatus.withdrawn.value):
        raise ViolationError(say("this violation was decided already"))
    if not withdraw and violation.status != ViolationStatus.appealed.value:
        raise ViolationError(say("only an appealed violation is upheld; it stands as it is"))
    violation.status = (ViolationStatus.withdrawn if withdraw else ViolationStatus.upheld).value
    violation.decided_by, violation.decided_at = supervisor.id, utcnow()
    violation.decision = decision.strip()[:1000]
    await _announce(session, violation, "violation.decided")
    return violation


async def violations_of(
    session: AsyncSession,
    shop_id: int,
    *,
    agent_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    rule: str = "",
    status: str = "",
) -> list[Violation]:
    """The violations of a shop (or one agent), oldest first; the fines that count are
    those not withdrawn."""
    query = select(Violation).where(Violation.shop_id == shop_id)
    if rule:
        query = query.where(Violation.rule == rule)
    if status:
        query = query.where(Violation.status == status)
    if agent_id is not None:
        query = query.where(Violation.agent_id == agent_id)
    if since is not None:
        query = query.where(Violation.occurred_at >= since)
    if until is not None:
        query = query.where(Violation.occurred_at < until)
    return list(await session.scalars(query.order_by(Violation.occurred_at, Violation.id)))


@dataclass(frozen=True)
class ViolationFilter:
    """What the list is narrowed to: an agent, a rule, a month (``YYYY-MM``), a state;
    empty for all."""

    agent_id: int | None = None
    rule: str = ""
    month: str = ""
    status: str = ""


def check_violation_filter(chosen: ViolationFilter) -> None:
    """Refuse a month or a state the list cannot be narrowed to, naming the field."""
    if chosen.month and month_days(chosen.month) is None:
        raise ViolationFilterError(
            "month", say("month {month!r}: expected YYYY-MM, e.g. 2026-03", month=chosen.month)
        )
    if chosen.status and chosen.status not in {s.value for s in ViolationStatus}:
        raise ViolationFilterError("status", say("no such state {status!r}", status=chosen.status))


async def violations_for(
    session: AsyncSession, staff: StaffAccount, chosen: ViolationFilter | None = None
) -> list[Violation]:
    """A leader sees every agent's violations (or one agent's); an agent only their own,
    whichever agent the filter names. Narrowed by rule, month (the shop's) and state."""
    chosen = chosen or ViolationFilter()
    check_violation_filter(chosen)
    agent = chosen.agent_id if is_leader(staff) else staff.id
    since = until = None
    days = month_days(chosen.month) if chosen.month else None
    if days is not None:
        zone = (await shop_zone(session, staff.shop_id)).key
        since = from_local(datetime.combine(days[0], time()), zone)
        until = from_local(datetime.combine(days[1] + timedelta(days=1), time()), zone)
    return await violations_of(session, staff.shop_id, agent_id=agent, since=since,
                               until=until, rule=chosen.rule, status=chosen.status)  # fmt: skip


async def violation_for(session: AsyncSession, staff: StaffAccount, violation_id: int) -> Violation:
    """A violation of the account's shop; what they may do with it is checked by the
    action (the agent it names appeals, a leader decides)."""
    violation = await session.get(Violation, violation_id)
    if violation is None or violation.shop_id != staff.shop_id:
        raise ViolationNotFound(say("no such violation in this shop"))
    return violation


def evidence_link(violation: Violation) -> str:
    """The page that shows what a violation rests on: the order's note, the conversation,
    the shift, the month's slow rounds; else the violation in the list."""
    evidence = violation.evidence or {}
    if violation.order_id is not None:
        anchor = "#note" if violation.rule.startswith("note_") else ""
        return f"/orders/{violation.order_id}{anchor}"
    if violation.conversation_id is not None:
        return f"/performance/conversations/{violation.conversation_id}"
    day = evidence.get("day")
    if isinstance(day, str) and evidence.get("roster_entry_id") is not None:
        return f"/performance/roster?staff={violation.agent_id}&week={day}&day={day}"
    month = evidence.get("month")
    if violation.rule == "slow_reply" and isinstance(month, str):
        first = f"{month}-01"
        following = (date.fromisoformat(first).replace(day=28) + timedelta(days=4)).replace(day=1)
        last = following - timedelta(days=1)
        return (
            f"/performance/kpi/rounds?start={first}&end={last.isoformat()}"
            f"&agent={violation.agent_id}&kind=slow"
        )
    return f"/performance/violations#violation-{violation.id}"
