"""Peak mode (D1, C6): prepared in advance, switched on and off on time.

The manager (or the supervisor) prepares it: its window, who works in which team while
it is on (the role split: pre-sales, after-sales, assist), the cap of conversations
routing gives one agent, whether refunds are held, and the forecast whose plan the
roster should cover. Two timers switch it: ``peakday.on`` at the start and
``peakday.off`` at the end; either may be done by hand as well, and each is done once
(a second switch finds it already done and changes nothing).

Switching on writes the shop's peak state (``shops.models.Shop.peak_*``, which
reception and after-sales read: the cap, the peak automatic replies and quick phrases,
the held refunds), keeps each agent's team and moves them to the team of the split,
and records ``peakday.switched`` so every process reads the shop's remembered replies
and state again. Switching off puts back each team the split changed (unless someone
changed it again meanwhile) and clears the state. Every step is an audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.models import Timer
from xiaoer.core.texts import say
from xiaoer.core.timers import cancel_timer, schedule_timer, timer_handler
from xiaoer.peakday.models import Forecast, PeakMode, PeakStatus
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount, Team, is_leader

SWITCH_ON = "peakday.on"
SWITCH_OFF = "peakday.off"
TEAMS = tuple(team.value for team in Team)
MAX_CAP = 50
MAX_HOURS = 24 * 14  # a peak mode lasts at most two weeks


class PeakModeError(ValueError):
    """A peak mode that cannot be prepared or switched as asked."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Preparation:
    """What the manager asks for."""

    name: str
    starts_at: datetime
    ends_at: datetime
    agent_cap: int | None
    refund_blackout: bool
    teams: dict[int, str]
    forecast_id: int | None = None
    note: str = ""


def check_may_prepare(staff: StaffAccount) -> None:
    if not is_leader(staff):
        raise NotPermitted(say("only a supervisor or a manager prepares peak mode"))


def _subject(mode: PeakMode) -> str:
    return f"peak:{mode.id}"


async def mode_of(session: AsyncSession, staff: StaffAccount, mode_id: int) -> PeakMode:
    check_may_prepare(staff)
    mode = await session.get(PeakMode, mode_id)
    if mode is None or mode.shop_id != staff.shop_id:
        raise NotFound(say("no such peak mode"))
    return mode


async def modes_of(session: AsyncSession, staff: StaffAccount) -> list[PeakMode]:
    check_may_prepare(staff)
    return list(
        await session.scalars(
            select(PeakMode)
            .where(PeakMode.shop_id == staff.shop_id)
            .order_by(PeakMode.starts_at.desc(), PeakMode.id.desc())
        )
    )


async def current_mode(session: AsyncSession, shop_id: int) -> PeakMode | None:
    """The shop's peak mode that is on, else the next one scheduled."""
    on = await session.scalar(
        select(PeakMode).where(
            PeakMode.shop_id == shop_id, PeakMode.status == PeakStatus.on.value
        )
    )
    if on is not None:
        return on
    return await session.scalar(
        select(PeakMode)
        .where(PeakMode.shop_id == shop_id, PeakMode.status == PeakStatus.scheduled.value)
        .order_by(PeakMode.starts_at)
        .limit(1)
    )


async def _check(
    session: AsyncSession, staff: StaffAccount, asked: Preparation, now: datetime, keep: int | None
) -> Preparation:
    name = asked.name.strip()
    if not name or len(name) > 128:
        raise PeakModeError(say("give peak mode a name of at most 128 characters"), "name")
    starts, ends = as_utc(asked.starts_at), as_utc(asked.ends_at)
    if ends <= starts:
        raise PeakModeError(say("peak mode must end after it starts"), "ends_at")
    if ends <= now:
        raise PeakModeError(say("peak mode must end in the future"), "ends_at")
    if (ends - starts).total_seconds() > MAX_HOURS * 3600:
        raise PeakModeError(say("peak mode lasts at most {days} days", days=MAX_HOURS // 24),
                            "ends_at")  # fmt: skip
    if asked.agent_cap is not None and not 1 <= asked.agent_cap <= MAX_CAP:
        raise PeakModeError(
            say("the cap per agent is from 1 to {most} conversations", most=MAX_CAP), "agent_cap"
        )
    staff_ids = set(
        await session.scalars(
            select(StaffAccount.id).where(
                StaffAccount.shop_id == staff.shop_id, StaffAccount.active.is_(True)
            )
        )
    )
    for staff_id, team in asked.teams.items():
        if staff_id not in staff_ids:
            raise NotFound(say("no such colleague"))
        if team not in TEAMS:
            raise PeakModeError(say("no team {team!r}", team=team), "teams")
    if asked.forecast_id is not None:
        forecast = await session.get(Forecast, asked.forecast_id)
        if forecast is None or forecast.shop_id != staff.shop_id:
            raise NotFound(say("no such forecast"))
    overlapping = await session.scalar(
        select(PeakMode.name).where(
            PeakMode.shop_id == staff.shop_id,
            PeakMode.status.in_((PeakStatus.scheduled.value, PeakStatus.on.value)),
            PeakMode.starts_at < ends,
            PeakMode.ends_at > starts,
            PeakMode.id != (keep or 0),
        )
    )
    if overlapping is not None:
        raise PeakModeError(
            say("peak mode {name!r} is prepared for that time already", name=overlapping),
            "starts_at",
        )
    return Preparation(name, starts, ends, asked.agent_cap, asked.refund_blackout,
                       dict(asked.teams), asked.forecast_id, asked.note.strip()[:2000])  # fmt: skip


def _shown(mode: PeakMode) -> dict[str, Any]:
    return {
        "name": mode.name,
        "starts_at": as_utc(mode.starts_at).isoformat(),
        "ends_at": as_utc(mode.ends_at).isoformat(),
        "agent_cap": mode.agent_cap,
        "refund_blackout": mode.refund_blackout,
        "teams": dict(mode.teams),
        "forecast_id": mode.forecast_id,
        "status": mode.status,
    }


async def _audit(
    session: AsyncSession,
    mode: PeakMode,
    actor: str,
    action: str,
    before: dict[str, Any] | None = None,
) -> None:
    await record_audit(session, shop_id=mode.shop_id, actor=actor, entity="peak_mode",
                       entity_id=str(mode.id), action=action, before=before,
                       after=_shown(mode))  # fmt: skip


async def _schedule(session: AsyncSession, mode: PeakMode) -> None:
    for kind, due in ((SWITCH_ON, mode.starts_at), (SWITCH_OFF, mode.ends_at)):
        await schedule_timer(session, shop_id=mode.shop_id, kind=kind, subject=_subject(mode),
                             due_at=as_utc(due), payload={"mode_id": mode.id})  # fmt: skip


async def do_prepare(
    session: AsyncSession, staff: StaffAccount, asked: Preparation, now: datetime | None = None
) -> PeakMode:
    """Prepare and schedule peak mode."""
    check_may_prepare(staff)
    moment = now or utcnow()
    checked = await _check(session, staff, asked, moment, None)
    mode = PeakMode(
        shop_id=staff.shop_id, name=checked.name, starts_at=checked.starts_at,
        ends_at=checked.ends_at, status=PeakStatus.scheduled.value,
        agent_cap=checked.agent_cap, refund_blackout=checked.refund_blackout,
        teams={str(k): v for k, v in checked.teams.items()}, saved_teams={},
        forecast_id=checked.forecast_id, note=checked.note, created_by=staff.id,
        created_at=moment,
    )  # fmt: skip
    session.add(mode)
    await session.flush()
    await _schedule(session, mode)
    await _audit(session, mode, staff.username, "prepare")
    return mode


async def do_change(
    session: AsyncSession,
    staff: StaffAccount,
    mode_id: int,
    asked: Preparation,
    now: datetime | None = None,
) -> PeakMode:
    """Change a peak mode that has not begun; its timers move with it."""
    mode = await mode_of(session, staff, mode_id)
    if mode.status != PeakStatus.scheduled.value:
        raise PeakModeError(say("only a peak mode that has not begun can be changed"))
    checked = await _check(session, staff, asked, now or utcnow(), mode.id)
    before = _shown(mode)
    mode.name, mode.starts_at, mode.ends_at = checked.name, checked.starts_at, checked.ends_at
    mode.agent_cap, mode.refund_blackout = checked.agent_cap, checked.refund_blackout
    mode.teams = {str(k): v for k, v in checked.teams.items()}
    mode.forecast_id, mode.note = checked.forecast_id, checked.note
    await _schedule(session, mode)
    await _audit(session, mode, staff.username, "change", before)
    return mode


async def do_cancel(
    session: AsyncSession, staff: StaffAccount, mode_id: int, now: datetime | None = None
) -> PeakMode:
    mode = await mode_of(session, staff, mode_id)
    if mode.status != PeakStatus.scheduled.value:
        raise PeakModeError(say("only a peak mode that has not begun can be called off"))
    moment = now or utcnow()
    for kind in (SWITCH_ON, SWITCH_OFF):
        await cancel_timer(session, shop_id=mode.shop_id, kind=kind, subject=_subject(mode),
                           now=moment)  # fmt: skip
    mode.status = PeakStatus.cancelled.value
    await _audit(session, mode, staff.username, "cancel")
    return mode


async def do_mark_reviewed(
    session: AsyncSession, staff: StaffAccount, mode_id: int, now: datetime | None = None
) -> PeakMode:
    """The peak replies and phrases were read through and found right."""
    mode = await mode_of(session, staff, mode_id)
    mode.phrases_reviewed_by, mode.phrases_reviewed_at = staff.id, now or utcnow()
    await _audit(session, mode, staff.username, "review_phrases")
    return mode


async def _locked(session: AsyncSession, mode_id: int) -> PeakMode | None:
    return await session.scalar(
        select(PeakMode).where(PeakMode.id == mode_id).with_for_update()
    )


async def switch_on(
    session: AsyncSession, mode_id: int, *, actor: str, now: datetime | None = None
) -> bool:
    """Switch peak mode on; False when it was not waiting to be (done already)."""
    mode = await _locked(session, mode_id)
    if mode is None or mode.status != PeakStatus.scheduled.value:
        return False
    moment = now or utcnow()
    shop = await session.get(Shop, mode.shop_id, with_for_update=True)
    assert shop is not None
    if shop.peak_mode_id is not None and shop.peak_mode_id != mode.id:
        other = await session.get(PeakMode, shop.peak_mode_id)
        if other is not None and other.status == PeakStatus.on.value:
            await switch_off(session, other.id, actor=actor, now=moment)
    saved: dict[str, str] = {}
    for account in await session.scalars(
        select(StaffAccount).where(
            StaffAccount.shop_id == mode.shop_id,
            StaffAccount.id.in_([int(k) for k in mode.teams] or [0]),
        )
    ):
        team = mode.teams[str(account.id)]
        if account.team != team:
            saved[str(account.id)] = account.team
            account.team = team
    mode.saved_teams = saved
    mode.status, mode.switched_on_at = PeakStatus.on.value, moment
    shop.peak_mode_id, shop.peak_agent_cap = mode.id, mode.agent_cap
    shop.peak_refund_blackout = mode.refund_blackout
    await cancel_timer(session, shop_id=mode.shop_id, kind=SWITCH_ON, subject=_subject(mode),
                       now=moment)  # fmt: skip
    await record_event(session, mode.shop_id, "peakday.switched",
                       {"mode_id": mode.id, "on": True, "name": mode.name})  # fmt: skip
    await _audit(session, mode, actor, "switch_on")
    return True


async def switch_off(
    session: AsyncSession, mode_id: int, *, actor: str, now: datetime | None = None
) -> bool:
    """Switch peak mode off; False when it was not on."""
    mode = await _locked(session, mode_id)
    if mode is None or mode.status != PeakStatus.on.value:
        return False
    moment = now or utcnow()
    shop = await session.get(Shop, mode.shop_id, with_for_update=True)
    assert shop is not None
    for account in await session.scalars(
        select(StaffAccount).where(
            StaffAccount.shop_id == mode.shop_id,
            StaffAccount.id.in_([int(k) for k in mode.saved_teams] or [0]),
        )
    ):
        if account.team == mode.teams.get(str(account.id)):  # unless changed meanwhile
            account.team = mode.saved_teams[str(account.id)]
    mode.status, mode.switched_off_at = PeakStatus.off.value, moment
    if shop.peak_mode_id == mode.id:
        shop.peak_mode_id, shop.peak_agent_cap, shop.peak_refund_blackout = None, None, False
    await cancel_timer(session, shop_id=mode.shop_id, kind=SWITCH_OFF, subject=_subject(mode),
                       now=moment)  # fmt: skip
    await record_event(session, mode.shop_id, "peakday.switched",
                       {"mode_id": mode.id, "on": False, "name": mode.name})  # fmt: skip
    await _audit(session, mode, actor, "switch_off")
    return True


async def do_switch(
    session: AsyncSession, staff: StaffAccount, mode_id: int, on: bool, now: datetime | None = None
) -> bool:
    """Switch by hand (a leader of the shop)."""
    mode = await mode_of(session, staff, mode_id)
    done = await (switch_on if on else switch_off)(session, mode.id, actor=staff.username, now=now)
    if not done:
        wrong = say("peak mode is not waiting to begin") if on else say("peak mode is not on")
        raise PeakModeError(wrong)
    return done


@timer_handler(SWITCH_ON)
async def _switch_on_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    await switch_on(session, int(timer.payload["mode_id"]), actor="system", now=now)


@timer_handler(SWITCH_OFF)
async def _switch_off_due(session: AsyncSession, timer: Timer, now: datetime) -> None:
    mode = await session.get(PeakMode, int(timer.payload["mode_id"]))
    if mode is not None and mode.status == PeakStatus.scheduled.value:
        # its start never fired (the timers ran late): it is over before it began
        await switch_on(session, mode.id, actor="system", now=now)
    await switch_off(session, int(timer.payload["mode_id"]), actor="system", now=now)
