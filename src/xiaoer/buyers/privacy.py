"""A buyer's contact details as shown to those who may not see them in full.

Which readers see what is each package's rule (``orders.access``, the workbench);
how a masked phone or address looks is decided here, once.
"""

from __future__ import annotations

ADDRESS_SHOWN = 6  # characters of the address a masked reader sees


def mask_phone(phone: str) -> str:
    """``13800001234`` → ``138****1234``; short numbers keep only their last two digits."""
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_address(address: str) -> str:
    """The first few characters (province and city, usually) and an ellipsis."""
    return address if len(address) <= ADDRESS_SHOWN else address[:ADDRESS_SHOWN] + "…"


def mask_birthday(
    year: int | None, month: int | None, day: int | None
) -> tuple[None, int | None, None]:
    """Only the month of a birthday: enough to greet in the right month, not to tell
    who someone is (year and day, with a name, narrow a person down)."""
    del year, day
    return None, month, None
