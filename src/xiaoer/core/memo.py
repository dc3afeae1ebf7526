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

# A shop of one database: the same id in another database (tests, two deployments in one
# process) is another shop.
Key = tuple[str, int]

# Event kinds after which a shop's remembered values are read again.
FORGET_AT = frozenset({"policy.applied", "autoreply.changed", "peakday.switched"})

_generation: dict[Key, int] = {}
_values: dict[tuple[Key, str], tuple[int, Any]] = {}
_MISSING = object()


def feed_started(shop: Key) -> None:
    """The shop's feed runs (again): what was remembered before may have changed since."""
    _generation[shop] = _generation.get(shop, 0) + 1


def feed_stopped(shop: Key) -> None:
    _generation.pop(shop, None)
    for key in [k for k in _values if k[0] == shop]:
        del _values[key]


def event_seen(shop: Key, kind: str) -> None:
    if kind in FORGET_AT and shop in _generation:
        _generation[shop] += 1


def generation(shop: Key) -> int | None:
    """The shop's generation now, ``None`` when its events are not followed here."""
    return _generation.get(shop)


def recall(shop: Key, name: str) -> Any:
    """The remembered value, or :data:`MISSING`."""
    current = _generation.get(shop)
    found = _values.get((shop, name))
    if current is None or found is None or found[0] != current:
        return _MISSING
    return found[1]


def remember(shop: Key, name: str, value: Any, read_at: int | None) -> None:
    """Keep ``value``, read while the shop's generation was ``read_at``."""
    if read_at is not None and _generation.get(shop) == read_at:
        if len(_values) > 10_000:
            _values.clear()
        _values[(shop, name)] = (read_at, value)


MISSING = _MISSING
