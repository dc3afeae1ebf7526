"""Promotion (P5, 晋升): who may move up a level, why not yet, and the move itself.

The steps and what each needs, from the policy's ``[promotion]`` section:

- junior → intermediate: ``junior_clean_months`` clean months, and a passed exam for
  intermediate when ``exam_required``;
- intermediate → senior: ``intermediate_clean_months`` clean months;
- senior → account manager: ``senior_months`` months as senior, the last
  ``senior_clean_months`` of them clean.

``exam_required`` speaks of the step from junior only, so the later steps ask for no
exam (a shop that wants one records it anyway; it is shown, not required).

A *clean month* is a calendar month on the shop's wall clock in which the agent has
no violation that stands (recorded, appealed or upheld; a withdrawn one is no error).
Only whole months at the current level count: the month the agent reached it counts
when that was its first day. The clean months are consecutive and end with the last
complete month, so one error starts the count again; the month under way counts
neither way. The day an agent reached their level is the newest level change in the
audit log (``staff.level``), else the day they were hired, else the day the account
was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.models import AuditEntry
from xiaoer.core.policy import Promotion
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say
from xiaoer.performance.models import ExamResult, Violation, ViolationStatus
from xiaoer.shops.service import shop_today, shop_zone
from xiaoer.staff.models import LEADERS, Level, StaffAccount, is_leader

LEVEL_ACTION = "staff.level"  # the audit action of a level change (entity "staff")
NEXT_LEVEL: dict[str, str] = {
    Level.junior.value: Level.intermediate.value,
    Level.intermediate.value: Level.senior.value,
    Level.senior.value: Level.account_manager.value,
}
# Violations that are errors for promotion: everything but a withdrawn one.
STANDING = (
    ViolationStatus.recorded.value,
    ViolationStatus.appealed.value,
    ViolationStatus.upheld.value,
)
MAX_NOTE = 1000
# The levels one is promoted to, by name in messages.
LEVEL_NAMES: dict[str, Text] = {
    Level.intermediate.value: say("intermediate"),
    Level.senior.value: say("senior"),
    Level.account_manager.value: say("account_manager"),
}


class PromotionError(ValueError):
    """An exam or a promotion that cannot be recorded; the message says why."""


class PromotionForbidden(PromotionError, NotPermitted):
    """The account may not do this."""


class PromotionNotFound(PromotionError, NotFound):
    """No such agent in this shop."""


class NotEligible(PromotionError):
    """The agent does not meet every condition of the next level (yet)."""


@dataclass(frozen=True)
class Condition:
    """One line of the checklist: ``current`` against ``required`` (months; 1 = an exam)."""

    key: str  # "clean_months", "months_at_level" or "exam"
    required: int
    current: int
    met: bool


@dataclass(frozen=True)
class Checklist:
    """Where an agent stands on the way to the next level."""

    staff_id: int
    level: str
    next_level: str | None  # None at the top level
    level_since: date  # on the shop's wall clock
    level_source: str  # "audit", "hired_on" or "created_at"
    months_at_level: int  # whole months, up to the last complete one
    clean_months: int
    conditions: tuple[Condition, ...]
    exam: ExamResult | None  # the passed exam for the next level that counts, if any

    @property
    def eligible(self) -> bool:
        return self.next_level is not None and all(c.met for c in self.conditions)

    @property
    def unmet(self) -> list[Condition]:
        return [c for c in self.conditions if not c.met]


def _month(day: date) -> int:
    """A month as a number that counts up by one per month."""
    return day.year * 12 + day.month - 1


def _month_start(month: int, zone: ZoneInfo) -> datetime:
    return datetime(month // 12, month % 12 + 1, 1, tzinfo=zone).astimezone(UTC)


def _first_whole_month(since: date) -> int:
    return _month(since) if since.day == 1 else _month(since) + 1


def count_clean_months(since: date, today: date, error_months: set[int]) -> tuple[int, int]:
    """(whole months at the level, clean months in a row ending with the last complete
    month), for an agent at their level since ``since``, with errors in those months."""
    first, last = _first_whole_month(since), _month(today) - 1
    whole = max(0, last - first + 1)
    clean, month = 0, last
    while month >= first and month not in error_months:
        clean += 1
        month -= 1
    return whole, clean


def conditions_for(
    level: str, rules: Promotion, *, months_at_level: int, clean_months: int, has_exam: bool
) -> tuple[Condition, ...]:
    """The checklist of the step up from ``level`` (empty at the top level)."""

    def months(key: str, required: int, current: int) -> Condition:
        return Condition(key, required, current, current >= required)

    if level == Level.junior.value:
        found = [months("clean_months", rules.junior_clean_months, clean_months)]
        if rules.exam_required:
            found.append(Condition("exam", 1, int(has_exam), has_exam))
        return tuple(found)
    if level == Level.intermediate.value:
        return (months("clean_months", rules.intermediate_clean_months, clean_months),)
    if level == Level.senior.value:
        return (
            months("months_at_level", rules.senior_months, months_at_level),
            months("clean_months", rules.senior_clean_months, clean_months),
        )
    return ()


async def _level_changes(
    session: AsyncSession, shop_id: int, staff_ids: Sequence[int]
) -> dict[int, datetime]:
    """The newest level change of each agent that has one in the audit log."""
    rows = await session.execute(
        select(AuditEntry.entity_id, AuditEntry.at)
        .where(
            AuditEntry.shop_id == shop_id,
            AuditEntry.entity == "staff",
            AuditEntry.action == LEVEL_ACTION,
            AuditEntry.entity_id.in_([str(i) for i in staff_ids]),
        )
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    newest: dict[int, datetime] = {}
    for entity_id, at in rows:
        newest.setdefault(int(entity_id), at)
    return newest


async def checklists(
    session: AsyncSession, shop_id: int, today: date, staff_ids: Sequence[int] | None = None
) -> list[Checklist]:
    """The checklist of each active agent of the shop (or of those named), by number.

    ``today`` is the shop's date; the policy in force today sets the requirements.
    """
    query = select(StaffAccount).where(
        StaffAccount.shop_id == shop_id, StaffAccount.active.is_(True)
    )
    if staff_ids is not None:
        query = query.where(StaffAccount.id.in_(list(staff_ids)))
    everyone = await session.scalars(query.order_by(StaffAccount.number))
    agents = [a for a in everyone if a.has_role("agent")]
    if not agents:
        return []
    ids = [a.id for a in agents]
    zone = await shop_zone(session, shop_id)
    rules = (await policy_on(session, shop_id, today)).promotion
    changes = await _level_changes(session, shop_id, ids)

    since: dict[int, tuple[date, str]] = {}
    for agent in agents:
        if agent.id in changes:
            moment, source = changes[agent.id], "audit"
        elif agent.hired_on is not None:
            moment, source = agent.hired_on, "hired_on"
        else:
            moment, source = agent.created_at, "created_at"
        since[agent.id] = (moment.astimezone(zone).date(), source)

    earliest = min(_first_whole_month(day) for day, _ in since.values())
    errors: dict[int, set[int]] = {i: set() for i in ids}
    occurred = await session.execute(
        select(Violation.agent_id, Violation.occurred_at).where(
            Violation.shop_id == shop_id,
            Violation.agent_id.in_(ids),
            Violation.status.in_(STANDING),
            Violation.occurred_at >= _month_start(earliest, zone),
            Violation.occurred_at < _month_start(_month(today), zone),
        )
    )
    for agent_id, at in occurred:
        errors[agent_id].add(_month(at.astimezone(zone).date()))

    exams: dict[int, list[ExamResult]] = {i: [] for i in ids}
    for result in await session.scalars(
        select(ExamResult)
        .where(
            ExamResult.shop_id == shop_id,
            ExamResult.staff_id.in_(ids),
            ExamResult.passed.is_(True),
        )
        .order_by(ExamResult.taken_on.desc(), ExamResult.id.desc())
    ):
        exams[result.staff_id].append(result)

    found: list[Checklist] = []
    for agent in agents:
        day, source = since[agent.id]
        whole, clean = count_clean_months(day, today, errors[agent.id])
        next_level = NEXT_LEVEL.get(agent.level)
        exam = next(
            (e for e in exams[agent.id] if e.to_level == next_level and e.taken_on >= day),
            None,
        )
        found.append(
            Checklist(
                staff_id=agent.id,
                level=agent.level,
                next_level=next_level,
                level_since=day,
                level_source=source,
                months_at_level=whole,
                clean_months=clean,
                conditions=conditions_for(
                    agent.level,
                    rules,
                    months_at_level=whole,
                    clean_months=clean,
                    has_exam=exam is not None,
                ),
                exam=exam,
            )
        )
    return found


async def checklists_for(
    session: AsyncSession, staff: StaffAccount, today: date
) -> list[Checklist]:
    """Every agent's checklist for a leader; an agent's own for an agent."""
    if is_leader(staff):
        return await checklists(session, staff.shop_id, today)
    if not staff.has_role("agent"):
        return []
    return [await eligibility(session, staff.shop_id, staff.id, today)]


async def eligibility(session: AsyncSession, shop_id: int, staff_id: int, today: date) -> Checklist:
    """One agent's checklist; raises :class:`PromotionNotFound` for anyone else."""
    found = await checklists(session, shop_id, today, [staff_id])
    if not found:
        raise PromotionNotFound(say("no such agent in this shop"))
    return found[0]


async def _agent(session: AsyncSession, shop_id: int, staff_id: int) -> StaffAccount:
    agent = await session.get(StaffAccount, staff_id)
    if agent is None or agent.shop_id != shop_id or not agent.has_role("agent"):
        raise PromotionNotFound(say("no such agent in this shop"))
    return agent


def _shortfall(condition: Condition) -> Text:
    """One unmet condition, as ``clean_months 1/3``."""
    current, required = condition.current, condition.required
    if condition.key == "clean_months":
        return say("clean_months {current}/{required}", current=current, required=required)
    if condition.key == "months_at_level":
        return say("months_at_level {current}/{required}", current=current, required=required)
    if condition.key == "exam":
        return say("exam {current}/{required}", current=current, required=required)
    return say(
        "{condition} {current}/{required}",
        condition=condition.key,
        current=current,
        required=required,
    )


def _not_yet(level: str, unmet: Sequence[Condition]) -> Text:
    """Why an agent may not move up to ``level`` yet: the conditions not met (one or two)."""
    name = LEVEL_NAMES.get(level, level)
    first, *rest = [_shortfall(c) for c in unmet]
    if not rest:
        return say("not eligible for {level} yet: {missing}", level=name, missing=first)
    more = rest[0] if len(rest) == 1 else ", ".join(rest)
    return say(
        "not eligible for {level} yet: {missing}, {more}", level=name, missing=first, more=more
    )


def _actor(staff: StaffAccount) -> str:
    return staff.number or staff.username


async def do_record_exam(
    session: AsyncSession,
    supervisor: StaffAccount,
    staff_id: int,
    to_level: str,
    passed: bool,
    score: int | None,
    taken_on: date,
    note: str,
    *,
    today: date | None = None,
) -> ExamResult:
    """Record an exam an agent sat for their next level (P5)."""
    if not supervisor.has_role(*LEADERS):
        raise PromotionForbidden(say("only a supervisor or a manager records exams"))
    agent = await _agent(session, supervisor.shop_id, staff_id)
    next_level = NEXT_LEVEL.get(agent.level)
    if next_level is None:
        raise PromotionError(say("this agent is at the top level already"))
    if to_level != next_level:
        raise PromotionError(
            say(
                "the exam is for the agent's next level, {level}",
                level=LEVEL_NAMES.get(next_level, next_level),
            )
        )
    if score is not None and not 0 <= score <= 100:
        raise PromotionError(say("a score is between 0 and 100"))
    if today is None:
        today = await shop_today(session, supervisor.shop_id)
    if taken_on > today:
        raise PromotionError(say("record an exam once it has been sat"))
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise PromotionError(say("the note is at most {limit} characters", limit=MAX_NOTE))
    exam = ExamResult(
        shop_id=supervisor.shop_id,
        staff_id=agent.id,
        to_level=to_level,
        passed=passed,
        score=score,
        taken_on=taken_on,
        note=note,
        recorded_by=supervisor.id,
    )
    session.add(exam)
    await session.flush()
    await record_audit(
        session,
        shop_id=supervisor.shop_id,
        actor=_actor(supervisor),
        entity="staff",
        entity_id=str(agent.id),
        action="staff.exam",
        after={
            "to_level": to_level,
            "passed": passed,
            "score": score,
            "taken_on": taken_on.isoformat(),
        },
    )
    return exam


async def do_promote(
    session: AsyncSession, supervisor: StaffAccount, staff_id: int, today: date
) -> StaffAccount:
    """Raise an eligible agent one level; the audit entry dates their new level."""
    if not supervisor.has_role(*LEADERS):
        raise PromotionForbidden(say("only a supervisor or a manager promotes agents"))
    if staff_id == supervisor.id:
        raise PromotionForbidden(say("nobody promotes themselves"))
    agent = await _agent(session, supervisor.shop_id, staff_id)
    checklist = await eligibility(session, supervisor.shop_id, staff_id, today)
    if checklist.next_level is None:
        raise NotEligible(say("this agent is at the top level already"))
    if not checklist.eligible:
        raise NotEligible(_not_yet(checklist.next_level, checklist.unmet))
    old, new = checklist.level, checklist.next_level
    # Only if nobody changed the level meanwhile (two supervisors, one click each).
    moved = await session.execute(
        update(StaffAccount)
        .where(StaffAccount.id == agent.id, StaffAccount.level == old)
        .values(level=new)
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) != 1:
        raise NotEligible(say("the agent's level changed meanwhile; look again"))
    await session.refresh(agent)
    await record_audit(
        session,
        shop_id=supervisor.shop_id,
        actor=_actor(supervisor),
        entity="staff",
        entity_id=str(agent.id),
        action=LEVEL_ACTION,
        before={"level": old},
        after={"level": new},
        reason="promotion (P5)",
    )
    await record_event(
        session,
        supervisor.shop_id,
        "staff.promoted",
        {"staff_id": agent.id, "from": old, "to": new},
        topic=f"agent:{agent.id}",
    )
    return agent
