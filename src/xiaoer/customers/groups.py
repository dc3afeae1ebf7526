"""Customer groups (R1): by rule ("two purchases in 90 days"), whose members are whoever
the rule picks when asked, and by hand, whose members were put in one by one.

Supervisors and the manager keep them (``people.MANAGERS``); every change is in the
audit log. A rule is stored as :func:`xiaoer.customers.filters.rule_data` writes it,
so the campaign that starts from a group reads the same conditions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound
from xiaoer.core.texts import say
from xiaoer.customers.filters import (
    FIELDS,
    Condition,
    RuleError,
    parse_rule,
    people,
    rule_data,
)
from xiaoer.customers.listing import COUNT_CAP, Count, count_capped
from xiaoer.customers.models import CustomerGroup, CustomerGroupMember, GroupKind
from xiaoer.customers.people import check_manager
from xiaoer.staff.models import StaffAccount

NAME_LENGTH = 64
NOTE_LENGTH = 500
MAX_GROUPS = 200  # a shop's groups; the list shows them all
ADD_AT_ONCE = 500  # customers ticked on one page of the list, with room to spare

# Ready-made rules for a new group, in the words; the manager edits them.
SUGGESTIONS: dict[str, list[dict[str, Any]]] = {
    "twice_in_90_days": [{"field": "recent_orders", "op": ">=", "value": 2, "days": 90}],
    "spent_over_500": [{"field": "spent", "op": ">=", "value": 500}],
    "lapsed_180_days": [{"field": "days_since_last", "op": ">=", "value": 180}],
}


class GroupError(ValueError):
    """A change to a group that cannot be made; the message says why."""


def _actor(staff: StaffAccount) -> str:
    return staff.number or staff.username


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise GroupError(say("a group needs a name"))
    if len(name) > NAME_LENGTH:
        raise GroupError(say("a group's name is at most {n} characters", n=NAME_LENGTH))
    return name


def _note(note: str) -> str:
    note = note.strip()
    if len(note) > NOTE_LENGTH:
        raise GroupError(say("a group's note is at most {n} characters", n=NOTE_LENGTH))
    return note


def _checked_rule(data: Any) -> list[dict[str, Any]]:
    try:
        conditions = parse_rule(data)
    except RuleError as exc:
        raise GroupError(exc.args[0]) from exc
    if not conditions:
        raise GroupError(say("a rule group needs at least one condition"))
    return rule_data(conditions)


RULE_ROWS = 20  # rows of a rule's form read at most (a rule holds no more conditions)


def rule_from_rows(
    fields: Sequence[str], ops: Sequence[str], values: Sequence[str], days: Sequence[str]
) -> list[dict[str, Any]]:
    """A rule as a form's rows of field, operator, value (and days) sends it: blank rows
    left out, numbers as numbers, words split at spaces and commas, yes/no as a flag.
    What does not read is passed on as typed for :func:`parse_rule` to name."""
    rule: list[dict[str, Any]] = []
    for index, name in enumerate(fields[: RULE_ROWS + 1]):
        name = name.strip()
        op = ops[index].strip() if index < len(ops) else ""
        raw = values[index].strip() if index < len(values) else ""
        if not name:
            continue
        spec = FIELDS.get(name)
        value: Any = raw
        if spec is not None and spec.kind in ("count", "yuan", "days", "recent", "month"):
            value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else raw
        elif spec is not None and spec.kind == "choice":
            value = [w for w in raw.replace("，", ",").replace(",", " ").split() if w]
        elif spec is not None and spec.kind == "flag":
            value = {"yes": True, "no": False}.get(raw, raw)
        item: dict[str, Any] = {"field": name, "op": op, "value": value}
        if name == "recent_orders":
            text = days[index].strip() if index < len(days) else ""
            item["days"] = (
                int(text) if text.isascii() and text.isdigit() and len(text) < 10 else text
            )
        rule.append(item)
    return rule


def rule_rows(rule: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """A stored rule as the form's rows show it: the inverse of :func:`rule_from_rows`."""
    rows = []
    for item in rule:
        value = item.get("value")
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, list):
            shown = " ".join(str(v) for v in value)
        else:
            shown = str(value)
        rows.append({"field": str(item.get("field", "")), "op": str(item.get("op", "")),
                     "value": shown, "days": str(item.get("days", ""))})  # fmt: skip
    return rows


async def _name_taken(
    session: AsyncSession, shop_id: int, name: str, but: int | None = None
) -> bool:
    query = select(CustomerGroup.id).where(
        CustomerGroup.shop_id == shop_id, CustomerGroup.name == name
    )
    if but is not None:
        query = query.where(CustomerGroup.id != but)
    return await session.scalar(query) is not None


async def group_of(session: AsyncSession, staff: StaffAccount, group_id: int) -> CustomerGroup:
    """Group ``group_id`` of the reader's own shop."""
    check_manager(staff)
    group = await session.get(CustomerGroup, group_id)
    if group is None or group.shop_id != staff.shop_id:
        raise NotFound(say("no such group"))
    return group


def conditions_of(group: CustomerGroup) -> list[Condition]:
    """Who the group holds, as conditions: its rule, or membership of the hand group."""
    if group.kind == GroupKind.hand:
        return [Condition("group", "=", group.id)]
    try:
        return parse_rule(group.rule)
    except RuleError:
        # A rule that a newer field list no longer reads picks nobody rather than all.
        return [Condition("group", "=", 0)]


@dataclass(frozen=True)
class GroupLine:
    group: CustomerGroup
    count: Count | None  # None: not counted in its time (see ``listing.count_capped``)


async def list_groups(
    session: AsyncSession, staff: StaffAccount, *, now: datetime | None = None
) -> list[GroupLine]:
    """The shop's groups by name, each with its members counted up to the cap."""
    check_manager(staff)
    now = now or utcnow()
    groups = await session.scalars(
        select(CustomerGroup)
        .where(CustomerGroup.shop_id == staff.shop_id)
        .order_by(CustomerGroup.name)
        .limit(MAX_GROUPS)
    )
    lines = []
    for group in groups:
        query = people(staff.shop_id, conditions_of(group), now)
        lines.append(GroupLine(group, await count_capped(session, query)))
    return lines


async def do_create_group(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    name: str,
    kind: str,
    rule: Any = None,
    note: str = "",
) -> CustomerGroup:
    """A new group: a rule group with its conditions, or an empty hand group."""
    check_manager(staff)
    name, note = _name(name), _note(note)
    if kind not in {k.value for k in GroupKind}:
        raise GroupError(say("a group is made by rule or by hand"))
    stored = _checked_rule(rule) if kind == GroupKind.rule else []
    if await _name_taken(session, staff.shop_id, name):
        raise GroupError(say("there is already a group named {name}", name=name))
    count = await session.scalar(
        select(func.count())
        .select_from(CustomerGroup)
        .where(CustomerGroup.shop_id == staff.shop_id)
    )
    if (count or 0) >= MAX_GROUPS:
        raise GroupError(say("a shop keeps at most {n} groups", n=MAX_GROUPS))
    group = CustomerGroup(shop_id=staff.shop_id, name=name, kind=kind, rule=stored, note=note,
                          created_by_id=staff.id)  # fmt: skip
    session.add(group)
    await session.flush()
    await record_audit(session, shop_id=staff.shop_id, actor=_actor(staff),
                       entity="customer_group", entity_id=str(group.id), action="created",
                       after={"name": name, "kind": kind, "rule": stored,
                              "note": note})  # fmt: skip
    return group


async def do_update_group(
    session: AsyncSession,
    staff: StaffAccount,
    group_id: int,
    *,
    name: str,
    rule: Any = None,
    note: str = "",
) -> CustomerGroup:
    """A group renamed, its note and (a rule group's) rule changed."""
    group = await group_of(session, staff, group_id)
    name, note = _name(name), _note(note)
    stored = _checked_rule(rule) if group.kind == GroupKind.rule else []
    if await _name_taken(session, staff.shop_id, name, but=group.id):
        raise GroupError(say("there is already a group named {name}", name=name))
    before = {"name": group.name, "rule": group.rule, "note": group.note}
    after = {"name": name, "rule": stored, "note": note}
    if before == after:
        return group
    group.name, group.rule, group.note, group.updated_at = name, stored, note, utcnow()
    await record_audit(session, shop_id=staff.shop_id, actor=_actor(staff),
                       entity="customer_group", entity_id=str(group.id), action="changed",
                       before=before, after=after)  # fmt: skip
    await session.flush()
    return group


async def do_delete_group(session: AsyncSession, staff: StaffAccount, group_id: int) -> None:
    """A group gone, with its hand-picked members (the customers stay)."""
    group = await group_of(session, staff, group_id)
    members = await session.scalar(
        select(func.count())
        .select_from(CustomerGroupMember)
        .where(CustomerGroupMember.group_id == group.id)
    )
    await record_audit(session, shop_id=staff.shop_id, actor=_actor(staff),
                       entity="customer_group", entity_id=str(group.id), action="deleted",
                       before={"name": group.name, "kind": group.kind, "rule": group.rule,
                               "members": members or 0})  # fmt: skip
    await session.execute(
        delete(CustomerGroupMember).where(CustomerGroupMember.group_id == group.id)
    )
    await session.delete(group)
    await session.flush()


def _hand(group: CustomerGroup) -> None:
    if group.kind != GroupKind.hand:
        raise GroupError(say("a rule group's members follow its rule; edit the rule instead"))


async def _persons(session: AsyncSession, shop_id: int, ids: Sequence[int]) -> list[int]:
    """The persons behind buyers ``ids`` of the shop (a merged buyer stands for the one
    it was merged into), without repeats; erased ones are left out."""
    rows = await session.execute(
        select(Customer.id, Customer.merged_into_id).where(
            Customer.shop_id == shop_id, Customer.id.in_(ids), Customer.erased_at.is_(None)
        )
    )
    return sorted({into or own for own, into in rows})


async def _add(
    session: AsyncSession, staff: StaffAccount, group: CustomerGroup, persons: Sequence[int]
) -> list[int]:
    present = set(
        await session.scalars(
            select(CustomerGroupMember.customer_id).where(
                CustomerGroupMember.group_id == group.id,
                CustomerGroupMember.customer_id.in_(persons),
            )
        )
    )
    added = [p for p in persons if p not in present]
    session.add_all(
        CustomerGroupMember(group_id=group.id, customer_id=p, added_by_id=staff.id) for p in added
    )
    if added:
        await record_audit(session, shop_id=staff.shop_id, actor=_actor(staff),
                           entity="customer_group", entity_id=str(group.id), action="added",
                           after={"customers": added})  # fmt: skip
        group.updated_at = utcnow()
    await session.flush()
    return added


async def do_add_members(
    session: AsyncSession, staff: StaffAccount, group_id: int, customer_ids: Sequence[int]
) -> list[int]:
    """Customers ticked on the list put into a hand group; returns the persons added
    (those already in it are not added twice). Another shop's ids are not found."""
    group = await group_of(session, staff, group_id)
    _hand(group)
    wanted = sorted(set(customer_ids))
    if not wanted:
        raise GroupError(say("tick the customers to add first"))
    if len(wanted) > ADD_AT_ONCE:
        raise GroupError(say("at most {n} customers at once", n=ADD_AT_ONCE))
    persons = await _persons(session, staff.shop_id, wanted)
    if len(persons) == 0:
        raise NotFound(say("no such customer"))
    return await _add(session, staff, group, persons)


async def do_add_member_by(
    session: AsyncSession, staff: StaffAccount, group_id: int, text: str
) -> list[int]:
    """The customer whose phone or nick is ``text`` put into a hand group."""
    group = await group_of(session, staff, group_id)
    _hand(group)
    text = text.strip()
    if not text:
        raise GroupError(say("type a phone number or a nick"))
    found = list(
        await session.scalars(
            select(Customer.id)
            .where(
                Customer.shop_id == staff.shop_id,
                or_(Customer.phone == text, Customer.nick == text),
            )
            .limit(ADD_AT_ONCE)
        )
    )
    persons = await _persons(session, staff.shop_id, found) if found else []
    if not persons:
        raise GroupError(say("no customer has the phone or nick {text}", text=text[:64]))
    if len(persons) > 1:
        raise GroupError(
            say("{n} customers have the phone or nick {text}; tick the one you mean on the list",
                n=len(persons), text=text[:64])
        )  # fmt: skip
    return await _add(session, staff, group, persons)


async def do_remove_member(
    session: AsyncSession, staff: StaffAccount, group_id: int, customer_id: int
) -> None:
    """One customer taken out of a hand group."""
    group = await group_of(session, staff, group_id)
    _hand(group)
    member = await session.get(CustomerGroupMember, (group.id, customer_id))
    if member is None:
        raise NotFound(say("the customer is not in this group"))
    await session.delete(member)
    group.updated_at = utcnow()
    await record_audit(session, shop_id=staff.shop_id, actor=_actor(staff),
                       entity="customer_group", entity_id=str(group.id), action="removed",
                       before={"customer": customer_id})  # fmt: skip
    await session.flush()


__all__ = [
    "COUNT_CAP",
    "SUGGESTIONS",
    "GroupError",
    "GroupLine",
    "conditions_of",
    "do_add_member_by",
    "do_add_members",
    "do_create_group",
    "do_delete_group",
    "do_remove_member",
    "do_update_group",
    "group_of",
    "list_groups",
    "rule_from_rows",
    "rule_rows",
]
