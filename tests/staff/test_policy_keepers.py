"""Who changes the shop policy (xiaoer.staff.policy), and from which day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import MakeStaff
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry, PolicyVersion
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.shops.models import Shop
from xiaoer.staff.policy import PolicyDateError, PolicyForbidden, do_change_policy

TODAY = date(2026, 12, 6)


def _stricter() -> Policy:
    plain = Policy().to_plain()
    plain["orders"]["seller_note_minutes"] = 15
    return Policy.model_validate(plain)


async def _versions(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(PolicyVersion)) or 0)


@pytest.mark.parametrize("role", ["agent", "supervisor", "auditor", "warehouse"])
async def test_only_the_manager_or_an_administrator_changes_the_policy(
    role: str, db: Database, make_staff: MakeStaff
) -> None:
    someone = await make_staff("who", role)
    async with db.session() as session:
        with pytest.raises(PolicyForbidden):
            await do_change_policy(session, someone, section="orders", policy=_stricter(),
                                   effective_from=TODAY, today=TODAY)  # fmt: skip
        await session.commit()
    assert await _versions(db) == 0


async def test_a_change_takes_effect_today_or_later(db: Database, make_staff: MakeStaff) -> None:
    man = await make_staff("man", "manager")
    async with db.session() as session:
        with pytest.raises(PolicyDateError):
            await do_change_policy(
                session, man, section="orders", policy=_stricter(),
                effective_from=TODAY - timedelta(days=1), today=TODAY,
            )  # fmt: skip
    assert await _versions(db) == 0


@pytest.mark.parametrize("role", ["manager", "admin"])
async def test_a_keepers_change_is_a_version_in_force_from_its_day(
    role: str, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    keeper = await make_staff("keeper", role)
    async with db.session() as session:
        await do_change_policy(session, keeper, section="orders", policy=_stricter(),
                               effective_from=TODAY + timedelta(days=1), today=TODAY)  # fmt: skip
        await session.commit()
    async with db.session() as session:
        assert (await policy_on(session, shop.id, TODAY)).orders.seller_note_minutes == 20
        later = await policy_on(session, shop.id, TODAY + timedelta(days=1))
        assert later.orders.seller_note_minutes == 15
        version = await session.scalar(select(PolicyVersion))
        assert version is not None
        assert (version.created_by, version.source) == ("keeper", "page: orders")
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "policy"))
        assert audit is not None and (audit.actor, audit.action) == ("keeper", "apply")
