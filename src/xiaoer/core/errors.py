"""The two refusals every service shares, whatever its own errors.

A service raises :class:`NotPermitted` from its ``check_*`` when the account may not
do or see this, and :class:`NotFound` when the object is not in the account's shop
(another shop's object is as unknown as a missing one). The app answers them the
same way everywhere: 403 and 404, as JSON for the APIs and as the error page for
pages, with the message in the reader's language. A package's own refusal
subclasses one of these (and may subclass its package's error too).
"""

from __future__ import annotations


class NotPermitted(ValueError):
    """The signed-in account may not do or see this."""


class NotFound(LookupError):
    """No such object in this shop."""
