"""What a process remembers of a shop between two messages, kept current by its events.

A chat message needs the shop's policy and its automatic replies; reading them from
the database for each of a thousand messages a second would be most of the work.
They change only through a few actions, each of which records an event
(:data:`FORGET_AT`); every process reads its shops' events anyway (``core.feed``).
So a value is remembered together with the shop's *generation*, which each such
event advances, and is recalled only while the generation is unchanged and the
shop's feed has run without a break since the value was read. A process that does
not follow a shop's events (no widget or workbench open on it) remembers nothing of
it, and its callers read the database.
"""

from __future__ import annotations

from typing import Any

# Event kinds after which a shop's remembered values are read again.
FORGET_AT = frozenset({"policy.applied", "autoreply.changed"})

_generation: dict[int, int] = {}
_values: dict[tuple[int, str], tuple[int, Any]] = {}
_MISSING = object()


def feed_started(shop_id: int) -> None:
    """The shop's feed runs (again): what was remembered before may have changed since."""
    _generation[shop_id] = _generation.get(shop_id, 0) + 1


def feed_stopped(shop_id: int) -> None:
    _generation.pop(shop_id, None)
    for key in [k for k in _values if k[0] == shop_id]:
        del _values[key]


def event_seen(shop_id: int, kind: str) -> None:
    if kind in FORGET_AT and shop_id in _generation:
        _generation[shop_id] += 1


def generation(shop_id: int) -> int | None:
    """The shop's generation now, ``None`` when its events are not followed here."""
    return _generation.get(shop_id)


def recall(shop_id: int, name: str) -> Any:
    """The remembered value, or :data:`MISSING`."""
    current = _generation.get(shop_id)
    found = _values.get((shop_id, name))
    if current is None or found is None or found[0] != current:
        return _MISSING
    return found[1]


def remember(shop_id: int, name: str, value: Any, read_at: int | None) -> None:
    """Keep ``value``, read while the shop's generation was ``read_at``."""
    if read_at is not None and _generation.get(shop_id) == read_at:
        if len(_values) > 10_000:
            _values.clear()
        _values[(shop_id, name)] = (read_at, value)


MISSING = _MISSING
