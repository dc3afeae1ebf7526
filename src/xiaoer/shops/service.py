"""Shops: create, find, list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import DEFAULT_ZONE
from xiaoer.core.events import record_event
from xiaoer.core.policy_store import shop_day
from xiaoer.core.texts import say
from xiaoer.shops.models import SCRATCH_PREFIX, Platform, Shop

_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")


class ShopError(ValueError):
    pass


async def shop_zone(session: AsyncSession, shop_id: int) -> ZoneInfo:
    """The shop's time zone: its days, shifts and deadlines are on this clock."""
    name = await session.scalar(select(Shop.timezone).where(Shop.id == shop_id))
    return ZoneInfo(name or DEFAULT_ZONE)


async def shop_today(session: AsyncSession, shop_id: int, now: datetime | None = None) -> date:
    """Today's date on the shop's wall clock."""
    return await shop_day(session, shop_id, now)


def check_new_shop(
    code: str, name: str, platform: str, timezone: str, *, scratch: bool = False
) -> None:
    if not _CODE.match(code):
        raise ShopError(
            say("shop code {code!r}: use 2–32 lower-case letters, digits, '-' or '_'", code=code)
        )
    if code.startswith(SCRATCH_PREFIX) != scratch:
        raise ShopError(
            say(
                "shop code {code!r}: codes starting with {prefix!r} are kept for rehearsals",
                code=code,
                prefix=SCRATCH_PREFIX,
            )
        )
    if not name.strip():
        raise ShopError(say("shop name is empty"))
    if platform not in {p.value for p in Platform}:
        raise ShopError(
            say(
                "platform {platform!r}: expected one of {platforms}",
                platform=platform,
                platforms=", ".join(p.value for p in Platform),
            )
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ShopError(
            say("time zone {timezone!r} is unknown (e.g. Asia/Shanghai)", timezone=timezone)
        ) from exc


async def do_create_shop(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    platform: str = Platform.taobao.value,
    timezone: str = DEFAULT_ZONE,
    default_courier: str = "",
    scratch: bool = False,
) -> Shop:
    """A new shop; ``scratch``: a rehearsal's, left out of shop lists."""
    check_new_shop(code, name, platform, timezone, scratch=scratch)
    if await shop_by_code(session, code) is not None:
        raise ShopError(say("a shop with code {code!r} exists already", code=code))
    shop = Shop(
        code=code, name=name, platform=platform, timezone=timezone, default_courier=default_courier
    )
    session.add(shop)
    await session.flush()
    await record_event(session, shop.id, "shop.created", {"code": code, "name": name})
    return shop


async def shop_by_code(session: AsyncSession, code: str) -> Shop | None:
    return await session.scalar(select(Shop).where(Shop.code == code))


async def list_shops(session: AsyncSession) -> list[Shop]:
    """The shops, without a rehearsal's scratch shop."""
    real = select(Shop).where(~Shop.code.startswith(SCRATCH_PREFIX, autoescape=True))
    return list(await session.scalars(real.order_by(Shop.code)))


async def resolve_shop(session: AsyncSession, code: str | None) -> Shop:
    """The shop named by ``code``, or the only shop when none is named."""
    if code:
        shop = await shop_by_code(session, code)
        if shop is None:
            raise ShopError(f"no shop with code {code!r}")
        return shop
    shops = await list_shops(session)
    if len(shops) == 1:
        return shops[0]
    if not shops:
        raise ShopError("there is no shop yet: run `xiaoer seed-demo` or create one")
    codes = ", ".join(s.code for s in shops)
    raise ShopError(f"several shops ({codes}): name one with --shop")


@dataclass(frozen=True)
class PeakState:
    """The shop's peak mode as reception and after-sales follow it."""

    on: bool
    agent_cap: int | None = None
    refund_blackout: bool = False


PEAK_OFF = PeakState(False)


async def peak_state(session: AsyncSession, shop_id: int) -> PeakState:
    """Whether the shop is in peak mode now, with what it changes."""
    row = (
        await session.execute(
            select(Shop.peak_mode_id, Shop.peak_agent_cap, Shop.peak_refund_blackout).where(
                Shop.id == shop_id
            )
        )
    ).first()
    if row is None or row[0] is None:
        return PEAK_OFF
    return PeakState(True, int(row[1]) if row[1] is not None else None, bool(row[2]))


def agent_cap(state: PeakState, policy_cap: int) -> int:
    """Most conversations routing gives one agent: the peak cap while it is set."""
    return state.agent_cap if state.on and state.agent_cap else policy_cap
