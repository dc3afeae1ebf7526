"""One person across channels: the buyer others were merged into, and who may see what.

A person is the buyer row whose ``merged_into_id`` is null; the buyers merged into it
keep their own orders and conversations, which the file reads through them all.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.texts import say
from xiaoer.staff.models import LEADERS, Role, StaffAccount

# Agents serve any buyer of the shop, so they read the file; the back office does not.
READERS = (Role.agent.value, *LEADERS, Role.admin.value)
# Full phone, address and birthday: those who phone buyers back and answer for them.
# Everyone else sees them masked (an agent sees in full only a customer on their own
# follow-up list, where the call needs the number).
PERSONAL = (*LEADERS, Role.admin.value)
# Groups, campaigns, greeting templates, member prices, merges.
MANAGERS = (*LEADERS, Role.admin.value)
# One buyer's data exported or erased on their request.
PRIVACY = (Role.manager.value, Role.admin.value)


def person_id() -> ColumnElement[int]:
    """The person a buyer row belongs to, as SQL."""
    return func.coalesce(Customer.merged_into_id, Customer.id)


def check_reader(staff: StaffAccount) -> None:
    if not staff.has_role(*READERS):
        raise NotPermitted(say("only agents and their leaders read the customer file"))


def check_manager(staff: StaffAccount) -> None:
    if not staff.has_role(*MANAGERS):
        raise NotPermitted(say("only a supervisor or the manager may do that"))


def sees_personal(staff: StaffAccount) -> bool:
    return staff.has_role(*PERSONAL)


async def person_in_shop(session: AsyncSession, shop_id: int, customer_id: int) -> Customer:
    """The person behind buyer ``customer_id`` of the shop, for a caller that decided
    who may see it (the site's own API, a timer); another shop's buyer is not found."""
    buyer = await session.get(Customer, customer_id)
    if buyer is None or buyer.shop_id != shop_id:
        raise NotFound(say("no such customer"))
    if buyer.merged_into_id is None:
        return buyer
    person = await session.get(Customer, buyer.merged_into_id)
    if person is None:  # the row it pointed at is gone: it stands for itself again
        return buyer
    return person


async def person_of(session: AsyncSession, staff: StaffAccount, customer_id: int) -> Customer:
    """The person behind buyer ``customer_id`` of the reader's own shop."""
    check_reader(staff)
    return await person_in_shop(session, staff.shop_id, customer_id)


async def buyer_ids(session: AsyncSession, person: Customer) -> list[int]:
    """Every buyer row of the person, the person's own first."""
    rows = await session.scalars(
        select(Customer.id)
        .where(
            Customer.shop_id == person.shop_id,
            or_(Customer.id == person.id, Customer.merged_into_id == person.id),
        )
        .order_by(Customer.id != person.id, Customer.id)
    )
    return list(rows)
