"""Who may open the performance pages: agents see their own, leaders everyone's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from xiaoer.http.deps import require_staff
from xiaoer.staff.models import LEADERS, StaffAccount

Worker = Annotated[StaffAccount, Depends(require_staff("agent", *LEADERS))]
Leader = Annotated[StaffAccount, Depends(require_staff(*LEADERS))]
