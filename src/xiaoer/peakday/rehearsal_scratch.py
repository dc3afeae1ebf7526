"""The load rehearsal's rules on the database: only the shop's own server, one rehearsal
at a time, a scratch shop made for it and removed after it, and the record kept for the
real shop.

The scratch shop is a shop of its own (code ``rehearsal-…``), so nothing of it reaches
the real shop's pages, figures or timers, which all read by shop; shop lists leave it
out (``shops.service.list_shops``). Its rows are removed table by table, children
first, following the foreign keys from every table to the shop.
"""

from __future__ import annotations

import ipaddress
import math
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.db import Base, Database
from xiaoer.core.models import LoginThrottle
from xiaoer.core.policy import parse_policy
from xiaoer.core.policy_store import do_apply_policy, policy_on
from xiaoer.core.texts import say
from xiaoer.peakday.rehearsal_models import RehearsalRun, RehearsalStatus
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import SCRATCH_PREFIX, Shop
from xiaoer.shops.service import do_create_shop, shop_by_code
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_add_staff

MAX_AGENTS = 200
CLEANUP_GRACE = timedelta(minutes=2)  # after its deadline a run still "running" was killed


class RehearsalError(ValueError):
    """A rehearsal that may not run, or cannot: the message says why."""


@dataclass(frozen=True)
class Target:
    """Where the load goes: the shop's own server."""

    scheme: str
    host: str
    port: int
    loopback: bool

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _own_address(address: str) -> bool:
    """Whether the address is this machine's: it can be bound here."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


def check_local_url(url: str) -> Target:
    """The URL of the shop's own server, on loopback or one of this machine's addresses;
    anything else is refused, so a rehearsal never loads someone else's server."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RehearsalError(
            say("{url!r}: expected the server's address, e.g. http://127.0.0.1:8000", url=url)
        )
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (OSError, ValueError) as exc:
        raise RehearsalError(say("{url!r}: the host is not known here", url=url)) from exc
    addresses = [ipaddress.ip_address(str(a).split("%")[0]) for a in found]
    foreign = sorted(
        str(a)
        for a in addresses
        if a.is_unspecified or not (a.is_loopback or _own_address(str(a)))
    )
    if foreign:
        raise RehearsalError(
            say(
                "{url!r} is not this machine ({addresses}): a rehearsal only loads the "
                "shop's own server, on 127.0.0.1 or one of this machine's addresses",
                url=url,
                addresses=", ".join(foreign),
            )
        )
    return Target(parts.scheme, host, port, all(a.is_loopback for a in addresses))


# --- the scratch shop --------------------------------------------------------------


def _belongs(table: Table, shop_id: int, seen: frozenset[str] = frozenset()) -> Any:
    """A condition picking the rows of ``table`` that belong to the shop: its own
    ``shop_id``, or a foreign key to a row that belongs to it; ``None`` if neither."""
    if table.name == "shop":
        return table.c.id == shop_id
    if "shop_id" in table.c:
        return table.c.shop_id == shop_id
    ways = []
    for key in table.foreign_keys:
        parent = key.column.table
        if parent.name in seen or parent is table or not isinstance(parent, Table):
            continue
        inner = _belongs(parent, shop_id, seen | {table.name})
        if inner is not None:
            ways.append(key.parent.in_(select(key.column).where(inner)))
    return or_(false(), *ways) if ways else None


async def do_remove_scratch_shop(db: Database, code: str) -> bool:
    """Every row of the scratch shop ``code``, then the shop; whether it was there.
    Only a code with the scratch prefix is ever removed."""
    if not code.startswith(SCRATCH_PREFIX):
        raise RehearsalError(say("{code!r} is not a rehearsal's shop", code=code))
    async with db.session() as session:
        shop = await shop_by_code(session, code)
        if shop is None:
            return False
        shop_id = shop.id
        for table in reversed(Base.metadata.sorted_tables):
            condition = _belongs(table, shop_id)
            if condition is not None:
                await session.execute(delete(table).where(condition))
        await session.execute(
            delete(LoginThrottle).where(LoginThrottle.username.startswith(code, autoescape=True))
        )
        await session.commit()
    return True


async def do_clean_abandoned(db: Database, now: datetime | None = None) -> list[str]:
    """Remove the scratch shops of rehearsals killed halfway (still ``running`` after
    their deadline); the codes removed."""
    moment = now or utcnow()
    async with db.session() as session:
        stale = list(
            await session.scalars(
                select(RehearsalRun).where(
                    RehearsalRun.status == RehearsalStatus.running.value,
                    RehearsalRun.deadline_at < moment - CLEANUP_GRACE,
                )
            )
        )
        codes = [run.scratch_code for run in stale]
    removed = []
    for code in codes:
        if await do_remove_scratch_shop(db, code):
            removed.append(code)
    async with db.session() as session:
        for run in await session.scalars(
            select(RehearsalRun).where(RehearsalRun.scratch_code.in_(codes))
        ):
            run.status = RehearsalStatus.abandoned.value
            run.finished_at = moment
        await session.commit()
    return removed


async def check_no_rehearsal_running(session: AsyncSession, now: datetime) -> None:
    """One rehearsal at a time: two would measure each other."""
    running = await session.scalar(
        select(RehearsalRun)
        .where(
            RehearsalRun.status == RehearsalStatus.running.value,
            RehearsalRun.deadline_at >= now - CLEANUP_GRACE,
        )
        .limit(1)
    )
    if running is not None:
        free_at = as_utc(running.deadline_at) + CLEANUP_GRACE
        raise RehearsalError(
            say(
                "a rehearsal started at {started} is still running (until {until} UTC at "
                "the latest); wait for it to end",
                started=as_utc(running.started_at).strftime("%H:%M:%S"),
                until=free_at.strftime("%H:%M:%S"),
            )
        )


async def roster_agents(session: AsyncSession, shop_id: int) -> int:
    """How many agents the shop has on its staff: the simulated agents of a rehearsal."""
    roles = await session.scalars(
        select(StaffAccount.roles).where(
            StaffAccount.shop_id == shop_id, StaffAccount.active.is_(True)
        )
    )
    return sum(1 for held in roles if "agent" in (held or []))


@dataclass(frozen=True)
class ScratchShop:
    run_id: int
    code: str
    usernames: list[str]
    password: str


def _scratch_policy(per_agent: int) -> str:
    # Open all day, so the hour replayed is served whatever the clock says; the real
    # shop's cap on conversations per agent.
    return (
        "[reception]\n"
        f"max_concurrent_conversations = {per_agent}\n"
        'service_hours = "00:00-24:00"\n'
    )


async def do_open_rehearsal(
    session: AsyncSession,
    *,
    shop: Shop,
    url: str,
    forecast_name: str,
    peak_start: datetime,
    peak_sessions: int,
    speed: float,
    buyers: int,
    agents: int,
    max_seconds: float,
    now: datetime | None = None,
) -> ScratchShop:
    """The run's record for the real shop, and its scratch shop with agents online."""
    moment = now or utcnow()
    await check_no_rehearsal_running(session, moment)
    if not 1 <= agents <= MAX_AGENTS:
        raise RehearsalError(
            say("agents: expected 1 to {most}, not {agents}", most=MAX_AGENTS, agents=agents)
        )
    code = f"{SCRATCH_PREFIX}{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    run = RehearsalRun(
        shop_id=shop.id,
        status=RehearsalStatus.running.value,
        scratch_code=code,
        started_at=moment,
        deadline_at=moment + timedelta(seconds=max_seconds),
        url=url[:255],
        forecast_name=forecast_name[-255:],
        peak_start=peak_start,
        peak_sessions=peak_sessions,
        speed=speed,
        buyers=buyers,
        agents=agents,
        figures={},
        error="",
    )
    session.add(run)
    await session.flush()
    real = await policy_on(session, shop.id)
    per_agent = real.reception.max_concurrent_conversations
    scratch = await do_create_shop(session, code=code, name="压力预演", scratch=True)
    source = _scratch_policy(per_agent)
    await do_apply_policy(
        session,
        shop_id=scratch.id,
        policy=parse_policy(source, "rehearsal"),
        source=source,
        effective_from=moment.date() - timedelta(days=1),
        actor="rehearsal",
    )
    usernames = [f"{code}-{j:03d}" for j in range(1, agents + 1)]
    accounts = [
        await do_add_staff(
            session,
            shop_id=scratch.id,
            username=username,
            number=f"R{j:03d}",
            name=f"预演客服{j:03d}",
            password=password,
            roles=["agent"],
            actor="rehearsal",
        )
        for j, username in enumerate(usernames, start=1)
    ]
    await session.flush()
    for account in accounts:
        await do_set_presence(session, agent=account, status="online", now=moment)
    return ScratchShop(run.id, code, usernames, password)


async def do_finish_rehearsal(
    session: AsyncSession,
    run_id: int,
    *,
    held: bool | None,
    figures: dict[str, Any],
    error: str = "",
    now: datetime | None = None,
) -> RehearsalRun:
    """Write the figures on the run's record; ``held`` None: it could not run."""
    run = await session.get(RehearsalRun, run_id)
    if run is None:
        raise RehearsalError(say("no rehearsal {run_id}", run_id=run_id))
    run.status = (RehearsalStatus.failed if held is None else RehearsalStatus.done).value
    run.finished_at = now or utcnow()
    run.held = held
    run.figures = _finite(figures)
    run.error = error[:500]
    return run


def _finite(value: Any) -> Any:
    """JSON columns take no infinities or NaN: those become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


async def latest_rehearsal(session: AsyncSession, shop_id: int) -> RehearsalRun | None:
    """The shop's last rehearsal that ran to its end (held or not), for the readiness
    checklist; ``None`` if it has had none."""
    found: RehearsalRun | None = await session.scalar(
        select(RehearsalRun)
        .where(RehearsalRun.shop_id == shop_id, RehearsalRun.status == RehearsalStatus.done.value)
        .order_by(RehearsalRun.started_at.desc(), RehearsalRun.id.desc())
        .limit(1)
    )
    return found
