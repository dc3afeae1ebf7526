"""Who may change the shop policy, and changing it from the policy page.

The page's change is a new policy version, made by the same
:func:`~xiaoer.core.policy_store.do_apply_policy` as ``xiaoer policy apply``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.errors import NotPermitted
from xiaoer.core.models import PolicyVersion
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.core.texts import say
from xiaoer.staff.models import Role, StaffAccount

# Who changes the handbook's numbers: the manager, and the administrator who set the shop up.
POLICY_KEEPERS = (Role.manager.value, Role.admin.value)
# Who reads them on the policy page: those, and the supervisor.
POLICY_READERS = (Role.supervisor.value, *POLICY_KEEPERS)


class PolicyForbidden(NotPermitted):
    """The account may not change the shop policy."""


class PolicyDateError(ValueError):
    """A date a change cannot take effect from."""


def check_may_change_policy(staff: StaffAccount) -> None:
    if not staff.has_role(*POLICY_KEEPERS):
        raise PolicyForbidden(say("only the manager or an administrator changes the shop policy"))


def check_effective_from(effective_from: date, today: date) -> None:
    """A change takes effect today or later: what was in force before stays as it was
    (payroll reads the version in force for its month)."""
    if effective_from < today:
        raise PolicyDateError(
            say("a change takes effect from today ({today}) or later", today=today.isoformat())
        )


async def do_change_policy(
    session: AsyncSession,
    staff: StaffAccount,
    *,
    section: str,
    policy: Policy,
    effective_from: date,
    today: date,
) -> PolicyVersion:
    """Store the policy with one section changed as a new version from ``effective_from``."""
    check_may_change_policy(staff)
    check_effective_from(effective_from, today)
    return await do_apply_policy(
        session,
        shop_id=staff.shop_id,
        policy=policy,
        source=f"page: {section}",
        effective_from=effective_from,
        actor=staff.username,
    )
