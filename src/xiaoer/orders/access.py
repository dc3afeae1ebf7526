"""Who may act on an order, and what of the buyer's contact details each person sees.

Every service function that changes an order or shows one person's order work calls
these; routes never decide it. Leaders act on every order. An agent acts on the
orders they own and on the tasks given to them; a task nobody holds on an order
nobody owns is open to any agent. The owning agent and the back office (supervisor,
manager, admin, auditor, warehouse) see the receiver's phone and address in full;
everyone else sees them masked, in every page, panel and message preview.
"""

from __future__ import annotations

from dataclasses import dataclass

from xiaoer.buyers.privacy import mask_address, mask_phone
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.texts import say
from xiaoer.orders.models import Order, OrderTask
from xiaoer.staff.models import LEADERS, StaffAccount

SEES_CONTACT = ("supervisor", "manager", "admin", "warehouse", "auditor")


class OrderForbidden(NotPermitted):
    """The account may not act on this order or task."""


class OrderNotFound(NotFound):
    """No such order or task in the account's shop."""


def may_act(staff: StaffAccount, order: Order, task: OrderTask | None = None) -> bool:
    if staff.shop_id != order.shop_id:
        return False
    if staff.has_role(*LEADERS):
        return True
    if not staff.has_role("agent"):
        return False
    if order.owner_id == staff.id or (task is not None and task.assignee_id == staff.id):
        return True
    return task is not None and task.assignee_id is None and order.owner_id is None


def check_may_act(staff: StaffAccount, order: Order, task: OrderTask | None = None) -> None:
    if not may_act(staff, order, task):
        if task is not None:
            raise OrderForbidden(say("this task is another agent's"))
        raise OrderForbidden(say("this order is another agent's sale"))


def check_same_shop(staff: StaffAccount, order: Order | None, order_id: int) -> Order:
    if order is None or order.shop_id != staff.shop_id:
        raise OrderNotFound(say("no order {order_id} in this shop", order_id=order_id))
    return order


def may_see_contact(staff: StaffAccount, order: Order) -> bool:
    return staff.shop_id == order.shop_id and (
        order.owner_id == staff.id or staff.has_role(*SEES_CONTACT)
    )


@dataclass(frozen=True)
class Contact:
    """The receiver as one reader may see them."""

    name: str
    phone: str
    address: str
    full: bool


def contact_for(staff: StaffAccount, order: Order) -> Contact:
    if may_see_contact(staff, order):
        return Contact(order.receiver_name, order.receiver_phone, order.receiver_address, True)
    return Contact(
        order.receiver_name,
        mask_phone(order.receiver_phone),
        mask_address(order.receiver_address),
        False,
    )
