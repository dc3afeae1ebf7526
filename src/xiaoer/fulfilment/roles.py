"""Who works which part of fulfilment: the roles every screen and service checks."""

from __future__ import annotations

from xiaoer.staff.models import LEADERS, Role, StaffAccount

AUDITORS = (Role.auditor.value, *LEADERS)  # the audit queue, holds, merges, splits
WAREHOUSE = (Role.warehouse.value, *LEADERS)  # pick, pack, ship, receive, count
STOCK_READERS = (Role.warehouse.value, Role.auditor.value, *LEADERS)  # see stock and ledger
# Agents follow their own orders' parcels (O10); the back office and leaders all of them.
PARCEL_READERS = (Role.agent.value, Role.warehouse.value, Role.auditor.value, *LEADERS)
BACK_OFFICE = (Role.agent.value, Role.auditor.value, Role.warehouse.value, *LEADERS)


def first_screen(staff: StaffAccount) -> str:
    """Where ``/fulfilment`` leads: the screen of the account's own work."""
    if staff.has_role(*LEADERS):
        return "/fulfilment/parcels"
    if staff.has_role(Role.auditor.value):
        return "/fulfilment/audit"
    if staff.has_role(Role.warehouse.value):
        return "/fulfilment/warehouse"
    return "/fulfilment/health"
