"""One person across channels and nicks: buyers merged by phone or by hand, and undone.

A merge points every buyer of the merged persons at the person kept
(``customer.merged_into_id``) and records in ``customer_merge`` what each pointed at
before, which is what undo restores. Merging is a leader's call (``MANAGERS``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import say
from xiaoer.customers.file import actor_of
from xiaoer.customers.models import CustomerMerge
from xiaoer.customers.people import buyer_ids, check_manager, person_of
from xiaoer.customers.stats import refresh
from xiaoer.staff.models import StaffAccount

HOW = ("phone", "hand")
MAX_MERGED = 20


class MergeError(ValueError):
    """A merge or an undo the rules refuse."""


async def _phones(session: AsyncSession, person: Customer) -> set[str]:
    ids = await buyer_ids(session, person)
    rows = await session.scalars(select(Customer.phone).where(Customer.id.in_(ids)))
    return {p.strip() for p in rows if p and p.strip()}


async def merge_candidates(
    session: AsyncSession, staff: StaffAccount, customer_id: int
) -> list[Customer]:
    """Other persons of the shop with a phone of this person's, not erased."""
    person = await person_of(session, staff, customer_id)
    phones = await _phones(session, person)
    if not phones:
        return []
    found = await session.scalars(
        select(Customer)
        .where(
            Customer.shop_id == person.shop_id,
            Customer.phone.in_(sorted(phones)),
            Customer.erased_at.is_(None),
        )
        .order_by(Customer.id)
        .limit(50)
    )
    persons: dict[int, Customer] = {}
    for buyer in found:
        target = buyer.merged_into_id or buyer.id
        if target == person.id or target in persons:
            continue
        other = buyer if buyer.merged_into_id is None else await session.get(Customer, target)
        if other is not None and other.erased_at is None:
            persons[target] = other
    return list(persons.values())


async def check_merge(
    session: AsyncSession,
    staff: StaffAccount,
    into_id: int,
    ids: Sequence[int],
    how: str,
    not_numbers: Sequence[str] = (),
) -> tuple[Customer, list[Customer]]:
    """The person kept and the persons merged into them, or the reason not."""
    check_manager(staff)
    if not_numbers:
        raise MergeError(say("{word} is not a customer number", word=not_numbers[0]))
    if how not in HOW:
        raise MergeError(say("a merge is by phone or by hand"))
    into = await person_of(session, staff, into_id)  # another shop's: not found
    if not ids:
        raise MergeError(say("pick the customers to merge"))
    if len(ids) > MAX_MERGED:
        raise MergeError(say("at most {n} customers in one merge", n=MAX_MERGED))
    if into.erased_at is not None:
        raise MergeError(say("an erased customer cannot be merged"))
    merged: dict[int, Customer] = {}
    for ident in ids:
        try:
            other = await person_of(session, staff, ident)
        except NotFound as exc:
            raise MergeError(say("no customer {id} in this shop", id=ident)) from exc
        if other.id == into.id:
            raise MergeError(say("a customer cannot be merged into themselves"))
        if other.erased_at is not None:
            raise MergeError(say("an erased customer cannot be merged"))
        merged[other.id] = other
    if how == "phone":
        phones = await _phones(session, into)
        for other in merged.values():
            if not phones & await _phones(session, other):
                raise MergeError(
                    say("{nick} has no phone in common with this customer", nick=other.nick)
                )
    return into, list(merged.values())


async def do_merge(
    session: AsyncSession,
    staff: StaffAccount,
    into_id: int,
    ids: Sequence[int],
    how: str = "hand",
    *,
    not_numbers: Sequence[str] = (),
    now: datetime | None = None,
) -> CustomerMerge:
    """Merge the persons ``ids`` into the person of ``into_id``: every buyer of theirs
    then belongs to it. Their stats are summed again at once."""
    now = now or utcnow()
    into, merged = await check_merge(session, staff, into_id, ids, how, not_numbers)
    ids_merged = [p.id for p in merged]
    buyers = list(
        await session.scalars(
            select(Customer)
            .where(
                Customer.shop_id == into.shop_id,
                or_(Customer.id.in_(ids_merged), Customer.merged_into_id.in_(ids_merged)),
            )
            .order_by(Customer.id)
            .with_for_update()
        )
    )
    moved = [{"id": b.id, "was": b.merged_into_id} for b in buyers]
    for buyer in buyers:
        buyer.merged_into_id = into.id
    merge = CustomerMerge(
        shop_id=into.shop_id, into_id=into.id, moved=moved, how=how, by_id=staff.id, at=now
    )
    session.add(merge)
    await session.flush()
    await record_audit(
        session, shop_id=into.shop_id, actor=actor_of(staff), entity="customer",
        entity_id=str(into.id), action="merge",
        after={"merge_id": merge.id, "merged": ids_merged, "how": how}, at=now,
    )  # fmt: skip
    policy = await policy_on(session, into.shop_id)
    await refresh(session, into.shop_id, policy, [into.id, *ids_merged], now=now)
    return merge


async def merge_for(session: AsyncSession, staff: StaffAccount, merge_id: int) -> CustomerMerge:
    check_manager(staff)
    merge = await session.get(CustomerMerge, merge_id)
    if merge is None or merge.shop_id != staff.shop_id:
        raise NotFound(say("no such merge"))
    return merge


async def do_undo_merge(
    session: AsyncSession, staff: StaffAccount, merge_id: int, *, now: datetime | None = None
) -> CustomerMerge:
    """Give each buyer the person it had before the merge. Refused when undone
    already, or when a later merge moved these buyers on (undo that one first)."""
    now = now or utcnow()
    merge = await merge_for(session, staff, merge_id)
    if merge.undone_at is not None:
        raise MergeError(say("this merge was undone already"))
    ids = [int(m["id"]) for m in merge.moved]
    buyers = {
        b.id: b
        for b in await session.scalars(
            select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id).with_for_update()
        )
    }
    kept = await session.get(Customer, merge.into_id)
    if kept is None or kept.erased_at is not None:
        raise MergeError(say("an erased customer cannot be merged"))
    for buyer in buyers.values():
        if buyer.merged_into_id != merge.into_id:
            raise MergeError(say("a later merge moved these buyers on: undo that one first"))
        if buyer.erased_at is not None:
            raise MergeError(say("an erased customer cannot be merged"))
    for item in merge.moved:
        moved = buyers.get(int(item["id"]))
        if moved is not None:
            was = item.get("was")
            moved.merged_into_id = int(was) if was is not None else None
    merge.undone_at = now
    merge.undone_by_id = staff.id
    await session.flush()
    persons = sorted({merge.into_id, *(b.merged_into_id or b.id for b in buyers.values())})
    await record_audit(
        session, shop_id=merge.shop_id, actor=actor_of(staff), entity="customer",
        entity_id=str(merge.into_id), action="merge_undone",
        after={"merge_id": merge.id, "persons": persons}, at=now,
    )  # fmt: skip
    policy = await policy_on(session, merge.shop_id)
    await refresh(session, merge.shop_id, policy, persons, now=now)
    return merge
