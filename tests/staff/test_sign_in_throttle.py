"""Failed sign-ins lock one account for one address, hold off a guesser spread over many
addresses, and let no more attempts check a password than allowed, however concurrent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import xiaoer.staff.service as staff_service
from tests.conftest import PASSWORD, MakeStaff
from xiaoer.core.auth import SignInLocked, Throttle, address_key
from xiaoer.core.db import Database
from xiaoer.core.models import LoginThrottle
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_sign_in
from xiaoer.staff.sessions import do_start_session

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
OFFICE = "192.0.2.10"


async def try_sign_in(
    db: Database,
    throttle: Throttle,
    address: str,
    password: str = "guess-guess",
    username: str = "lina",
    now: datetime = NOW,
) -> StaffAccount | SignInLocked | None:
    """One attempt on a session of its own: the account, ``None``, or the lock."""
    async with db.session() as session:
        try:
            account = await do_sign_in(
                session, throttle, username=username, password=password, address=address, now=now
            )
        except SignInLocked as locked:
            return locked
        await session.commit()
        return account


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check the sign-in makes, by the password checked."""
    checked: list[str] = []
    real: Callable[[str, str], bool] = staff_service.verify_password
    real_burn: Callable[[str], None] = staff_service.burn_verification

    def verify(password_hash: str, password: str) -> bool:
        checked.append(password)
        return real(password_hash, password)

    def burn(password: str) -> None:
        checked.append(password)
        real_burn(password)

    monkeypatch.setattr(staff_service, "verify_password", verify)
    monkeypatch.setattr(staff_service, "burn_verification", burn)
    return checked


async def test_failures_from_one_address_lock_the_account_for_that_address_only(
    db: Database, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina")
    throttle = Throttle(5, WINDOW, 50)
    for _ in range(5):
        assert await try_sign_in(db, throttle, "203.0.113.7") is None
    locked = await try_sign_in(db, throttle, "203.0.113.7", PASSWORD)
    assert isinstance(locked, SignInLocked) and locked.until == NOW + WINDOW
    elsewhere = await try_sign_in(db, throttle, OFFICE, PASSWORD)
    assert isinstance(elsewhere, StaffAccount) and elsewhere.id == lina.id
    # Signing in from the office cleared nothing of the other address's count.
    still = await try_sign_in(db, throttle, "203.0.113.7", PASSWORD, now=NOW + timedelta(minutes=1))
    assert isinstance(still, SignInLocked) and still.until == NOW + WINDOW


async def test_the_lock_opens_a_window_after_the_last_failure(
    db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    throttle = Throttle(5, WINDOW, 50)
    for minute in range(5):
        at = NOW + timedelta(minutes=minute)
        assert await try_sign_in(db, throttle, "203.0.113.7", now=at) is None
    last = NOW + timedelta(minutes=4)
    second = timedelta(seconds=1)
    before = await try_sign_in(db, throttle, "203.0.113.7", PASSWORD, now=last + WINDOW - second)
    assert isinstance(before, SignInLocked) and before.until == last + WINDOW
    after = await try_sign_in(db, throttle, "203.0.113.7", PASSWORD, now=last + WINDOW)
    assert isinstance(after, StaffAccount)


async def test_unknown_names_are_counted_the_same(db: Database, make_staff: MakeStaff) -> None:
    throttle = Throttle(2, WINDOW, 50)
    for _ in range(2):
        assert await try_sign_in(db, throttle, "203.0.113.7", username="nobody") is None
    assert isinstance(
        await try_sign_in(db, throttle, "203.0.113.7", username="nobody"), SignInLocked
    )


def test_an_ipv6_subscriber_counts_as_one_address() -> None:
    assert address_key("2001:db8:1:2::a") == address_key("2001:db8:1:2:ffff::1")
    assert address_key("2001:db8:1:2::a") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::a") != address_key("2001:db8:1:2::a")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("203.0.113.7") == "203.0.113.7"


async def test_addresses_of_one_ipv6_network_share_their_count(
    db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    throttle = Throttle(3, WINDOW, 50)
    for host in ("a", "b", "c"):
        assert await try_sign_in(db, throttle, f"2001:db8:1:2::{host}") is None
    assert isinstance(await try_sign_in(db, throttle, "2001:db8:1:2::d", PASSWORD), SignInLocked)
    assert isinstance(await try_sign_in(db, throttle, "2001:db8:1:3::1", PASSWORD), StaffAccount)


async def test_a_guesser_on_many_addresses_is_held_off_but_the_account_s_own_address_gets_in(
    db: Database, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina")
    async with db.session() as session:
        await do_start_session(
            session, lina, address=OFFICE, user_agent="", now=NOW - timedelta(days=3)
        )
        await session.commit()
    throttle = Throttle(2, WINDOW, 4)
    for address in ("198.51.100.1", "198.51.100.2"):
        for _ in range(2):
            assert await try_sign_in(db, throttle, address) is None
    # Four failures of the account in all: an address it never signed in from waits,
    # even with the right password; the office's address does not.
    newcomer = await try_sign_in(db, throttle, "198.51.100.3", PASSWORD)
    assert isinstance(newcomer, SignInLocked) and newcomer.until == NOW + WINDOW
    office = await try_sign_in(db, throttle, OFFICE, PASSWORD)
    assert isinstance(office, StaffAccount) and office.id == lina.id
    # The office still has its own limit: two wrong guesses from there lock it too.
    for _ in range(2):
        assert await try_sign_in(db, throttle, OFFICE) is None
    assert isinstance(await try_sign_in(db, throttle, OFFICE, PASSWORD), SignInLocked)


async def test_a_success_takes_its_attempt_back_from_the_account_s_count(
    db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("lina")
    throttle = Throttle(5, WINDOW, 3)
    assert await try_sign_in(db, throttle, "198.51.100.1") is None
    assert isinstance(await try_sign_in(db, throttle, "198.51.100.2", PASSWORD), StaffAccount)
    async with db.session() as session:
        counts = {
            row.address: row.failures
            for row in await session.scalars(
                select(LoginThrottle).where(LoginThrottle.username == "lina")
            )
        }
    assert counts == {"*": 1, "198.51.100.1": 1, "198.51.100.2": 0}


async def test_thirty_concurrent_wrong_passwords_check_at_most_the_limit(
    db: Database, make_staff: MakeStaff, verifications: list[str]
) -> None:
    await make_staff("lina")
    throttle = Throttle(5, WINDOW, 50)
    results = await asyncio.gather(
        *(try_sign_in(db, throttle, "203.0.113.7", f"guess-{n}") for n in range(30))
    )
    assert len(verifications) == 5
    assert sum(result is None for result in results) == 5
    assert sum(isinstance(result, SignInLocked) for result in results) == 25
    assert isinstance(await try_sign_in(db, throttle, "203.0.113.7", PASSWORD), SignInLocked)
    assert len(verifications) == 5


async def test_thirty_concurrent_guesses_from_thirty_addresses_check_at_most_the_account_limit(
    db: Database, make_staff: MakeStaff, verifications: list[str]
) -> None:
    await make_staff("lina")
    throttle = Throttle(5, WINDOW, 10)
    results = await asyncio.gather(
        *(try_sign_in(db, throttle, f"198.51.100.{n + 1}", f"guess-{n}") for n in range(30))
    )
    assert len(verifications) == 10
    assert sum(result is None for result in results) == 10
    assert sum(isinstance(result, SignInLocked) for result in results) == 20
