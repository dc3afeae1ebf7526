"""The audit's rules (审单, F1): what makes a paid order risky to ship as it stands.

:func:`evaluate` reads what the rules need for many orders at once (their items, the
latest seller notes, changes, open refunds and the stock) in a handful of queries, so
the queue can judge a page of orders, or a backlog an import left, in one go. Each
finding is a flag ``{"rule": code, "detail": message}`` (the message kept as data to
show in the reader's language); what the auditor compares field by field (the note
against each item's size, the stock per location) is in ``checks``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Refund
from xiaoer.aftersales.refund_states import RefundStatus
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.clock import utcnow
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.texts import Text, say, to_data
from xiaoer.fulfilment import ledger
from xiaoer.orders.models import ChangeStatus, Order, OrderChange, OrderItem, SellerNote
from xiaoer.orders.notes import stored_message

# The rules, in the order the page lists them.
RULES = (
    "stock_short", "unknown_sku", "note_missing", "note_unparsable", "custom_no_spec",
    "note_mismatch", "address_changed", "refund_open", "amount_over", "remote_area",
)  # fmt: skip

# Flags that stop a pass unless the auditor overrides them with a reason. A remote
# address is worth seeing but ships as it is; short stock cannot be overridden (the
# ledger will not reserve what is not there).
WARNINGS = frozenset({"remote_area"})
NEVER_OVERRIDDEN = frozenset({"stock_short"})

RULE_SAID: dict[str, Text] = {
    "stock_short": say("stock short"),
    "unknown_sku": say("item without a known SKU"),
    "note_missing": say("seller note missing"),
    "note_unparsable": say("seller note not parsable"),
    "custom_no_spec": say("custom item without a production spec"),
    "note_mismatch": say("the note does not match the items"),
    "address_changed": say("address changed after payment"),
    "refund_open": say("the buyer has a refund open"),
    "amount_over": say("amount over the audit limit"),
    "remote_area": say("remote area"),
}

OPEN_REFUND = frozenset(
    s.value for s in RefundStatus if s not in (RefundStatus.CLOSED, RefundStatus.SUCCESS)
)

_SIZE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(米|m|M|厘米|cm|CM)?\s*[*×xX＊]\s*(\d+(?:\.\d+)?)\s*(米|m|M|厘米|cm|CM)?"
)
_CM = ("厘米", "cm", "CM")


def blocking(flags: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [flag for flag in flags if flag.get("rule") not in WARNINGS]


def attributes_of(sku_text: str) -> dict[str, str]:
    """``颜色分类：黑色;尺码：L`` as ``{"颜色分类": "黑色", "尺码": "L"}``."""
    found: dict[str, str] = {}
    for part in re.split(r"[;；]", sku_text):
        name, sep, value = part.replace(":", "：").partition("：")
        if sep and name.strip():
            found[name.strip()] = value.strip()
    return found


def size_in(text: str) -> tuple[Decimal, Decimal] | None:
    """A width*height written in ``text``, in metres (a bare number of 10 or more is
    centimetres, as in the seller note)."""
    match = _SIZE.search(text)
    if match is None:
        return None
    first, unit1, second, unit2 = match.groups()
    try:
        values = [Decimal(first), Decimal(second)]
    except InvalidOperation:  # pragma: no cover - the pattern holds numbers only
        return None
    units = [unit1 or unit2, unit2 or unit1]
    metres = []
    for value, unit in zip(values, units, strict=True):
        if unit in _CM or (unit is None and value >= 10):
            value = value / 100
        metres.append(value.normalize())
    return metres[0], metres[1]


@dataclass
class Facts:
    """What the rules read for a set of orders."""

    items: dict[int, list[OrderItem]]
    notes: dict[int, SellerNote]
    custom: set[int]  # SKU ids of custom-made products
    changes: dict[int, list[OrderChange]]
    refunds: set[int]  # order ids with a refund open
    available: dict[int, dict[int, int]]  # sku → location → units


async def gather(session: AsyncSession, shop_id: int, order_ids: Sequence[int]) -> Facts:
    ids = set(order_ids)
    items: dict[int, list[OrderItem]] = defaultdict(list)
    for item in await session.scalars(
        select(OrderItem).where(OrderItem.order_id.in_(ids)).order_by(OrderItem.id)
    ):
        items[item.order_id].append(item)
    notes: dict[int, SellerNote] = {}
    for note in await session.scalars(
        select(SellerNote)
        .where(SellerNote.order_id.in_(ids))
        .order_by(SellerNote.order_id, SellerNote.version)
    ):
        notes[note.order_id] = note  # the latest version wins
    sku_ids = {i.sku_id for rows in items.values() for i in rows if i.sku_id is not None}
    custom = (
        set(
            await session.scalars(
                select(Sku.id)
                .join(Product, Product.id == Sku.product_id)
                .where(Sku.id.in_(sku_ids), Product.custom_made.is_(True))
            )
        )
        if sku_ids
        else set()
    )
    changes: dict[int, list[OrderChange]] = defaultdict(list)
    for change in await session.scalars(
        select(OrderChange).where(
            OrderChange.order_id.in_(ids),
            OrderChange.status.in_((ChangeStatus.applied.value, ChangeStatus.approved.value)),
        )
    ):
        changes[change.order_id].append(change)
    refunds = set(
        await session.scalars(
            select(Refund.order_id).where(Refund.order_id.in_(ids), Refund.status.in_(OPEN_REFUND))
        )
    )
    available = await ledger.available(session, shop_id, list(sku_ids)) if sku_ids else {}
    return Facts(items, notes, custom, changes, refunds, available)


def _flag(rule: str, detail: Text) -> dict[str, Any]:
    return {"rule": rule, "detail": to_data(detail)}


def _changed_after_payment(order: Order, changes: list[OrderChange]) -> bool:
    if order.paid_at is None:
        return False
    for change in changes:
        when = change.decided_at or change.created_at
        if "receiver_address" in change.after and when > order.paid_at:
            return True
    return False


def _item_check(item: OrderItem, note_size: tuple[Decimal, Decimal] | None) -> dict[str, Any]:
    size = size_in(item.sku_text) or size_in(item.title)
    mismatch = note_size is not None and size is not None and size != note_size
    return {
        "item_id": item.id,
        "code": item.sku_code,
        "title": item.title,
        "quantity": item.quantity,
        "attributes": attributes_of(item.sku_text),
        "size_m": [str(v) for v in size] if size else None,
        "mismatch": mismatch,
    }


def judge(
    order: Order, facts: Facts, policy: Policy
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The flags and checks of one order."""
    flags: list[dict[str, Any]] = []
    items = facts.items.get(order.id, [])
    need: dict[int, int] = defaultdict(int)
    for item in items:
        if item.sku_id is None:
            flags.append(_flag("unknown_sku", say(
                "{title} ({code}) is not a SKU of the catalog",
                title=item.title, code=item.sku_code or "—",
            )))  # fmt: skip
        else:
            need[item.sku_id] += item.quantity
    for sku, quantity in sorted(need.items()):
        have = sum(max(0, n) for n in facts.available.get(sku, {}).values())
        if have < quantity:
            code = next((i.sku_code for i in items if i.sku_id == sku), str(sku))
            flags.append(_flag("stock_short", say(
                "{code}: {quantity} needed, {have} available", code=code, quantity=quantity,
                have=have,
            )))  # fmt: skip
    note = facts.notes.get(order.id)
    fields = note.fields if note is not None else None
    if note is None:
        flags.append(_flag("note_missing", say("no seller note was written")))
    elif fields is None:
        problems = "; ".join(stored_message(e) for e in note.errors) or note.text
        flags.append(_flag("note_unparsable", say("the note does not read: {problems}",
                                                  problems=problems)))  # fmt: skip
    custom = [i for i in items if i.sku_id in facts.custom]
    if custom and fields is None:
        flags.append(_flag("custom_no_spec", say(
            "{title} is made to order: the note must give its size and design",
            title=custom[0].title,
        )))  # fmt: skip
    note_size = None
    if fields is not None and "width_m" in fields and "height_m" in fields:
        note_size = (
            Decimal(str(fields["width_m"])).normalize(),
            Decimal(str(fields["height_m"])).normalize(),
        )
    checked = [_item_check(item, note_size) for item in items]
    for check in checked:
        if check["mismatch"]:
            flags.append(_flag("note_mismatch", say(
                "the note's size {note} differs from {code}'s {size}",
                note="*".join(str(v) for v in note_size or ()), code=check["code"] or "—",
                size="*".join(check["size_m"]),
            )))  # fmt: skip
    if _changed_after_payment(order, facts.changes.get(order.id, [])):
        flags.append(_flag("address_changed", say("the address was changed after payment")))
    if order.id in facts.refunds:
        flags.append(_flag("refund_open", say("a refund of this order is open")))
    paid = order.paid_fen or order.total_fen
    limit = policy.fulfilment.audit_amount_over
    if paid > limit:
        flags.append(_flag("amount_over", say("paid {paid} fen, over the {limit} fen limit",
                                              paid=paid, limit=limit)))  # fmt: skip
    area = next((a for a in policy.fulfilment.remote_areas if a and a in order.receiver_address),
                None)  # fmt: skip
    if area is not None:
        flags.append(_flag("remote_area", say("ships to {area}", area=area)))
    checks = {
        "at": utcnow().isoformat(),
        "note": fields,
        "note_text": note.text if note is not None else "",
        "items": checked,
    }
    return flags, checks


async def evaluate(
    session: AsyncSession, shop_id: int, orders: Sequence[Order]
) -> dict[int, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Each order's flags and checks, by order id."""
    if not orders:
        return {}
    facts = await gather(session, shop_id, [o.id for o in orders])
    policy = await policy_on(session, shop_id)
    return {order.id: judge(order, facts, policy) for order in orders}
