"""The orders package's own error: a change that cannot be made, saying why."""

from __future__ import annotations


class OrderError(ValueError):
    """An order change that cannot be made; the message says why."""
