"""The readiness checklist (D1, D2): what must be true before the peak day, each item
with what it found.

- **Peak mode prepared**: one is scheduled (or on), with its window.
- **Replies and phrases reviewed**: automatic replies or quick phrases are kept for the
  peak, and a leader marked them reviewed on that peak mode.
- **Activities quizzed**: every active agent passed a quiz on the current activities
  (``quiz.quiz_readiness``); the ones who have not are named.
- **Roster covers the forecast**: the peak mode names a forecast, and its plan has no
  quarter-hour short of agents.
- **Rehearsal passed**: the shop's latest rehearsal held (``xiaoer rehearse``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, utcnow
from xiaoer.peakday.forecast import check_may_plan
from xiaoer.peakday.models import Forecast, PeakMode
from xiaoer.peakday.peak_mode import current_mode
from xiaoer.peakday.plan import plan_of
from xiaoer.peakday.quiz import quiz_readiness
from xiaoer.peakday.rehearsal_scratch import latest_rehearsal
from xiaoer.reception.models import AutoReply, QuickPhrase
from xiaoer.staff.models import StaffAccount


@dataclass(frozen=True)
class Check:
    key: str
    done: bool
    values: dict[str, Any] = field(default_factory=dict)
    link: str = ""
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Readiness:
    mode: PeakMode | None
    checks: list[Check]

    @property
    def ready(self) -> bool:
        return all(check.done for check in self.checks)


async def prepared_counts(session: AsyncSession, shop_id: int) -> tuple[int, int]:
    """The shop's active automatic replies and its quick phrases kept for peak mode."""
    replies = await session.scalar(
        select(func.count())
        .select_from(AutoReply)
        .where(AutoReply.shop_id == shop_id, AutoReply.peak.is_(True), AutoReply.active)
    )
    phrases = await session.scalar(
        select(func.count())
        .select_from(QuickPhrase)
        .where(QuickPhrase.shop_id == shop_id, QuickPhrase.peak.is_(True))
    )
    return int(replies or 0), int(phrases or 0)


async def readiness(
    session: AsyncSession, staff: StaffAccount, now: datetime | None = None
) -> Readiness:
    """The checklist for the shop's peak mode that is on or next (leaders only)."""
    check_may_plan(staff)
    moment = now or utcnow()
    mode = await current_mode(session, staff.shop_id)
    checks = [
        Check(
            "mode",
            mode is not None,
            {"name": mode.name, "starts": as_utc(mode.starts_at)} if mode else {},
            f"/peakday/peak/{mode.id}" if mode else "/peakday/peak",
        )
    ]
    replies, phrases = await prepared_counts(session, staff.shop_id)
    reviewed = mode is not None and mode.phrases_reviewed_at is not None
    phrases_link = f"/peakday/peak/{mode.id}" if mode else "/reception/phrases"
    checks.append(
        Check(
            "phrases",
            reviewed and replies + phrases > 0,
            {"replies": replies, "phrases": phrases, "reviewed": reviewed},
            phrases_link,
        )
    )
    passed, total, missing = await quiz_readiness(session, staff.shop_id, moment)
    quizzed = total > 0 and passed == total
    checks.append(
        Check("quiz", quizzed, {"passed": passed, "total": total}, "/peakday/quiz/results",
              list(missing))
    )  # fmt: skip
    forecast = (
        await session.get(Forecast, mode.forecast_id) if mode and mode.forecast_id else None
    )
    if forecast is not None:
        plan = await plan_of(session, staff, forecast)
        short = sum(team.short_intervals for team in plan.teams)
        values: dict[str, Any] = {"forecast": forecast.name, "short": short}
        checks.append(Check("roster", short == 0, values, f"/peakday/forecasts/{forecast.id}"))
    else:
        checks.append(Check("roster", False, {"forecast": ""}, "/peakday/forecasts"))
    run = await latest_rehearsal(session, staff.shop_id)
    held = run is not None and bool(run.held)
    checks.append(
        Check("rehearsal", held,
              {"at": as_utc(run.started_at) if run else None, "held": held, "ran": run is not None},
              "/peakday")
    )  # fmt: skip
    return Readiness(mode, checks)
