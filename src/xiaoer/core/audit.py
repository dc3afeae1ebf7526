"""The audit log: every change to an order, note, payroll line or account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.models import AuditEntry


async def record_audit(
    session: AsyncSession,
    *,
    shop_id: int,
    actor: str,
    entity: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        shop_id=shop_id,
        actor=actor,
        entity=entity,
        entity_id=entity_id,
        action=action,
        before=before,
        after=after,
        reason=reason,
        at=at or utcnow(),
    )
    session.add(entry)
    return entry
