"""Who may add, change, disable and reset whom (xiaoer.staff.service's ``check_*``)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, MakeStaff
from xiaoer.core.auth import verify_password
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import (
    StaffError,
    StaffForbidden,
    StaffNotFound,
    do_edit_staff,
    do_hire,
    do_reset_password,
    do_switch_active,
    staff_member,
)


async def _audit(db: Database, staff_id: int) -> list[tuple[str, str, object, object]]:
    async with db.session() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "staff", AuditEntry.entity_id == str(staff_id))
            .order_by(AuditEntry.id)
        )
        return [(r.actor, r.action, r.before, r.after) for r in rows]


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(StaffAccount)) or 0)


async def test_a_supervisor_hires_an_agent_whose_new_password_works(
    db: Database, make_staff: MakeStaff
) -> None:
    # given
    sup = await make_staff("sup", "supervisor")
    # when
    async with db.session() as session:
        actor = await staff_member(session, sup, sup.id)
        account, password = await do_hire(
            session, actor, username="lan", number="A07", name="小兰",
            level="junior", team="aftersale", roles=["agent"],
        )  # fmt: skip
        await session.commit()
    # then
    assert len(password) == 14 and password.count("-") == 2
    assert verify_password(account.password_hash, password)
    assert (account.team, account.roles, account.active) == ("aftersale", ["agent"], True)
    [(actor_name, action, _before, after)] = await _audit(db, account.id)
    assert (actor_name, action) == ("sup", "add")
    assert after == {"username": "lan", "number": "A07", "level": "junior",
                     "team": "aftersale", "roles": ["agent"]}  # fmt: skip


async def test_a_supervisor_may_not_make_anyone_manager(
    db: Database, make_staff: MakeStaff
) -> None:
    sup = await make_staff("sup", "supervisor")
    bo = await make_staff("bo", "agent")
    before = await _count(db)
    async with db.session() as session:
        with pytest.raises(StaffForbidden):
            await do_hire(
                session, sup, username="boss", number="M9", name="老板",
                level="senior", team="presale", roles=["manager"],
            )  # fmt: skip
        account = await staff_member(session, sup, bo.id)
        with pytest.raises(StaffForbidden) as caught:
            await do_edit_staff(
                session, sup, account, number=bo.number, name=bo.name,
                level=bo.level, team=bo.team, roles=["agent", "manager"],
            )  # fmt: skip
        assert caught.value.field == "roles"
        await session.commit()
    assert await _count(db) == before
    async with db.session() as session:
        assert (await session.get(StaffAccount, bo.id)).roles == ["agent"]  # type: ignore[union-attr]


async def test_a_supervisor_may_not_change_or_disable_a_manager(
    db: Database, make_staff: MakeStaff
) -> None:
    sup = await make_staff("sup", "supervisor")
    man = await make_staff("man", "manager")
    await make_staff("man2", "manager")
    async with db.session() as session:
        account = await staff_member(session, sup, man.id)
        with pytest.raises(StaffForbidden):
            await do_switch_active(session, sup, account, False)
        with pytest.raises(StaffForbidden):
            await do_reset_password(session, sup, account)
        with pytest.raises(StaffForbidden):
            await do_edit_staff(
                session, sup, account, number=man.number, name="改名",
                level=man.level, team=man.team, roles=man.roles,
            )  # fmt: skip
    assert await _audit(db, man.id) == [("system", "add", None, await _added(db, man.id))]


async def _added(db: Database, staff_id: int) -> object:
    return (await _audit(db, staff_id))[0][3]


async def test_nobody_disables_or_demotes_the_last_manager(
    db: Database, make_staff: MakeStaff
) -> None:
    man = await make_staff("man", "manager")
    adm = await make_staff("adm", "admin")
    async with db.session() as session:
        account = await staff_member(session, adm, man.id)
        with pytest.raises(StaffError) as caught:
            await do_switch_active(session, adm, account, False)
        assert "last active manager" in str(caught.value)
        with pytest.raises(StaffError):
            await do_edit_staff(
                session, adm, account, number=man.number, name=man.name,
                level=man.level, team=man.team, roles=["supervisor"],
            )  # fmt: skip
        await session.rollback()
    # a second manager lets the first go
    await make_staff("man2", "manager")
    async with db.session() as session:
        account = await staff_member(session, adm, man.id)
        assert await do_switch_active(session, adm, account, False) == 0
        await session.commit()
    async with db.session() as session:
        assert (await session.get(StaffAccount, man.id)).active is False  # type: ignore[union-attr]
    assert (await _audit(db, man.id))[-1][:2] == ("adm", "disable")


async def test_nobody_changes_another_shops_staff(db: Database, make_staff: MakeStaff) -> None:
    man = await make_staff("man", "manager")
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        other = StaffAccount(
            shop_id=far.id, username="far1", number="F1", name="远", roles=["agent"],
            password_hash="x",
        )  # fmt: skip
        session.add(other)
        await session.commit()
        other_id = other.id
    async with db.session() as session:
        with pytest.raises(StaffNotFound):
            await staff_member(session, man, other_id)
        account = await session.get(StaffAccount, other_id)
        assert account is not None
        for act in (
            do_switch_active(session, man, account, False),
            do_reset_password(session, man, account),
            do_edit_staff(session, man, account, number="F2", name="改", level="junior",
                          team="presale", roles=["agent"]),
        ):  # fmt: skip
            with pytest.raises(StaffNotFound):
                await act
        await session.commit()
    async with db.session() as session:
        account = await session.get(StaffAccount, other_id)
        assert account is not None and (account.active, account.number) == (True, "F1")


async def test_an_agent_keeps_no_staff(db: Database, make_staff: MakeStaff) -> None:
    mei = await make_staff("mei", "agent")
    bo = await make_staff("bo", "agent")
    async with db.session() as session:
        account = await staff_member(session, mei, bo.id)
        with pytest.raises(StaffForbidden):
            await do_switch_active(session, mei, account, False)
        with pytest.raises(StaffForbidden):
            await do_hire(
                session, mei, username="x1", number="X1", name="某",
                level="junior", team="presale", roles=["agent"],
            )  # fmt: skip


async def test_an_edit_and_a_reset_are_audited_with_what_changed(
    db: Database, make_staff: MakeStaff
) -> None:
    man = await make_staff("man", "manager")
    bo = await make_staff("bo", "agent")
    async with db.session() as session:
        account = await staff_member(session, man, bo.id)
        changed = await do_edit_staff(
            session, man, account, number=bo.number, name=bo.name, level="senior",
            team="assist", roles=["agent", "supervisor"],
        )  # fmt: skip
        password = await do_reset_password(session, man, account)
        await session.commit()
    assert set(changed) == {"level", "team", "roles"}
    audit = await _audit(db, bo.id)
    assert audit[1] == (
        "man", "edit",
        {"level": "junior", "team": "presale", "roles": ["agent"]},
        {"level": "senior", "team": "assist", "roles": ["agent", "supervisor"]},
    )  # fmt: skip
    assert audit[2][:2] == ("man", "password")
    async with db.session() as session:
        account = await session.get(StaffAccount, bo.id)
        assert account is not None
        assert verify_password(account.password_hash, password)
        assert not verify_password(account.password_hash, PASSWORD)


async def test_every_bad_field_of_an_account_is_named_at_once(
    db: Database, make_staff: MakeStaff
) -> None:
    man = await make_staff("man", "manager")
    async with db.session() as session:
        with pytest.raises(StaffError) as caught:
            await do_hire(
                session, man, username="x", number=" ", name="小兰",
                level="expert", team="presale", roles=[],
            )  # fmt: skip
    assert set(caught.value.problems) == {"username", "number", "level", "roles"}
    assert caught.value.field == "username"
    assert str(caught.value.problems["roles"]) == "choose at least one role"
    assert await _count(db) == 1
