"""Numbers in paths and query strings, held to what the database can store.

A row's id is a 64-bit integer; FastAPI's ``int`` takes any length, and a number
beyond 64 bits would fail in the database as a 500. Routes declare ids with these
types instead, so ``/orders/99999999999999999999`` is a clear 422 before any
service runs. ``tests/web/test_bad_input.py`` fails on a route that declares a
bare ``int``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**63 - 1  # BIGINT

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
"""An object's id in the path."""

QueryId = Annotated[int, Query(ge=1, le=MAX_ID)]
"""An object's id in the query string (``?agent=7``)."""

Cursor = Annotated[int, Query(ge=0, le=MAX_ID)]
"""A position in an event stream (``?after=0`` is from the start)."""

Position = Annotated[int, Path(ge=0, le=MAX_ID)]
"""A 0-based position in a list, in the path."""
