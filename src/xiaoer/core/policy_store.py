"""Policy versions in the database: which handbook numbers are in force when."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.audit import record_audit
from xiaoer.core.clock import DEFAULT_ZONE, utcnow
from xiaoer.core.events import record_event
from xiaoer.core.models import PolicyVersion
from xiaoer.core.policy import Policy, default_policy, policy_from_data

# The shop table as far as this layer reads it (the shops package sits above core).
_SHOPS = table("shop", column("id"), column("timezone"))


async def shop_day(session: AsyncSession, shop_id: int, now: datetime | None = None) -> date:
    """Today (or ``now``'s day) on the shop's wall clock: the day a version's
    ``effective_from`` counts in."""
    zone = await session.scalar(select(_SHOPS.c.timezone).where(_SHOPS.c.id == shop_id))
    return (now or utcnow()).astimezone(ZoneInfo(str(zone or DEFAULT_ZONE))).date()


async def policy_version_on(
    session: AsyncSession, shop_id: int, on: date | None = None
) -> PolicyVersion | None:
    """The version in force on a day (the shop's today when none is given): the latest
    applied with ``effective_from <= on``."""
    day = on or await shop_day(session, shop_id)
    return await session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.shop_id == shop_id, PolicyVersion.effective_from <= day)
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


_DEFAULT = default_policy()
# (version id, created at) → policy: versions are only ever added, never changed.
_VALIDATED: dict[tuple[int, datetime], Policy] = {}


async def policy_on(session: AsyncSession, shop_id: int, on: date | None = None) -> Policy:
    """The shop's policy in force on a day (the shop's today when none is given); the
    defaults when none was applied.

    Called on every message: it reads only the id of the version in force and
    validates a version's data once per process (policies are frozen, versions
    are only ever added).
    """
    day = on or await shop_day(session, shop_id)
    row = (
        await session.execute(
            select(PolicyVersion.id, PolicyVersion.created_at)
            .where(PolicyVersion.shop_id == shop_id, PolicyVersion.effective_from <= day)
            .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return _DEFAULT
    key = (int(row[0]), row[1])
    policy = _VALIDATED.get(key)
    if policy is None:
        data = await session.scalar(select(PolicyVersion.data).where(PolicyVersion.id == key[0]))
        policy = policy_from_data(data or {}, f"policy version {key[0]}")
        if len(_VALIDATED) > 10_000:
            _VALIDATED.clear()
        _VALIDATED[key] = policy
    return policy


async def policy_versions(session: AsyncSession, shop_id: int) -> list[PolicyVersion]:
    rows = await session.scalars(
        select(PolicyVersion)
        .where(PolicyVersion.shop_id == shop_id)
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.id.desc())
    )
    return list(rows)


async def do_apply_policy(
    session: AsyncSession,
    *,
    shop_id: int,
    policy: Policy,
    source: str,
    effective_from: date,
    actor: str,
) -> PolicyVersion:
    """Store a validated policy as a new version in force from ``effective_from``."""
    version = PolicyVersion(
        shop_id=shop_id,
        effective_from=effective_from,
        source=source,
        data=policy.to_plain(),
        created_by=actor,
    )
    session.add(version)
    await session.flush()
    await record_audit(
        session,
        shop_id=shop_id,
        actor=actor,
        entity="policy",
        entity_id=str(version.id),
        action="apply",
        after={"effective_from": effective_from.isoformat()},
    )
    await record_event(
        session,
        shop_id,
        "policy.applied",
        {"version": version.id, "effective_from": effective_from.isoformat()},
    )
    return version
