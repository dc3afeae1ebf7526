"""Reception's errors: a request it cannot carry out, and why."""

from __future__ import annotations

from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.send_checks import Block


class ReceptionError(ValueError):
    """A request reception cannot carry out; the message says why."""


class NotAllowed(ReceptionError, NotPermitted):
    pass


class NeedsApproval(ReceptionError):
    """A message a registered check blocks: the supervisor must let it through first."""

    def __init__(self, blocks: list[Block]) -> None:
        super().__init__("; ".join(b.message for b in blocks))
        self.blocks = blocks


class BuyerNotFound(ReceptionError, NotFound):
    """No such buyer in the account's shop."""
