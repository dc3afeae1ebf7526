"""The chat writer's statements on PostgreSQL, sent on the driver's own connection.

A batch's rows go as arrays, one parameter per column (``unnest``), so each statement
has one text for any number of rows: asyncpg prepares it once per connection, and no
statement is compiled or its rows bound one by one in Python. They run in the
transaction the batch's session opened (:func:`driver_of` checks that one is open) and
write what the session's own statements would have; the session's objects are kept as
stored by the writer (``set_committed_value``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.timers import TimerPlan

_INSERT_MESSAGES = """
INSERT INTO message (shop_id, conversation_id, sender, agent_id, text, dedupe_key, meta,
                     created_at)
SELECT m.shop_id, m.conversation_id, m.sender, m.agent_id, m.text, m.dedupe_key,
       CAST(m.meta AS json), m.created_at
FROM unnest($1::integer[], $2::bigint[], $3::varchar[], $4::integer[], $5::text[],
            $6::varchar[], $7::text[], $8::timestamptz[])
     WITH ORDINALITY AS m(shop_id, conversation_id, sender, agent_id, text, dedupe_key,
                          meta, created_at, place)
ORDER BY m.place
RETURNING id
"""

_UPDATE_CONVERSATIONS = """
UPDATE conversation AS c
SET buyer_messages = v.buyer_messages, agent_messages = v.agent_messages,
    unread = v.unread, waiting_since = v.waiting_since,
    first_response_at = v.first_response_at, last_message_at = v.last_message_at
FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::integer[], $5::timestamptz[],
            $6::timestamptz[], $7::timestamptz[])
     AS v(id, buyer_messages, agent_messages, unread, waiting_since, first_response_at,
          last_message_at)
WHERE c.id = v.id
"""

_INSERT_ROUNDS = """
INSERT INTO response_round (shop_id, conversation_id, agent_id, first, started_at,
                            answered_at, seconds, capped_seconds, breached)
SELECT r.shop_id, r.conversation_id, r.agent_id, r.first, r.started_at, r.answered_at,
       r.seconds, r.capped_seconds, false
FROM unnest($1::integer[], $2::bigint[], $3::integer[], $4::boolean[], $5::timestamptz[],
            $6::timestamptz[], $7::integer[], $8::integer[])
     WITH ORDINALITY AS r(shop_id, conversation_id, agent_id, first, started_at,
                          answered_at, seconds, capped_seconds, place)
ORDER BY r.place
RETURNING id
"""

_OPEN_ROUNDS = """
SELECT id, conversation_id, started_at FROM response_round
WHERE conversation_id = ANY($1::bigint[]) AND capped_seconds IS NULL
"""

_ANSWER_ROUNDS = """
UPDATE response_round AS r
SET agent_id = v.agent_id, answered_at = v.answered_at, seconds = v.seconds,
    capped_seconds = v.capped_seconds
FROM unnest($1::bigint[], $2::integer[], $3::timestamptz[], $4::integer[], $5::integer[])
     AS v(id, agent_id, answered_at, seconds, capped_seconds)
WHERE r.id = v.id
"""

_INSERT_TIMERS = """
INSERT INTO timer (shop_id, kind, subject, due_at, payload, created_at, attempts)
SELECT $1, t.kind, t.subject, t.due_at, CAST(t.payload AS json), $2, 0
FROM unnest($3::varchar[], $4::varchar[], $5::timestamptz[], $6::text[])
     AS t(kind, subject, due_at, payload)
"""

_CANCEL_TIMERS = """
UPDATE timer SET cancelled_at = $1
WHERE shop_id = $2 AND kind = ANY($3::varchar[]) AND subject = ANY($4::varchar[])
  AND fired_at IS NULL AND cancelled_at IS NULL
"""

_TOUCH_PRESENCE = """
UPDATE agent_presence SET last_activity_at = $1
WHERE staff_id = ANY($2::integer[]) AND last_activity_at < $3
"""

# ``= ANY`` of the array, not a join with ``unnest``: the prepared statement's generic
# plan then still probes the unique (shop_id, dedupe_key) index, where a join reads the
# shop's messages through ``ix_message_shop_created``.
_STORED_KEYS = """
SELECT dedupe_key FROM message WHERE shop_id = $1 AND dedupe_key = ANY($2::varchar[])
"""


async def driver_of(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's open transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None or not driver.is_in_transaction():
        raise RuntimeError("the session's transaction has not begun on its connection")
    return driver


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value)


async def insert_messages(driver: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert the messages; their ids in the rows' order."""
    found = await driver.fetch(
        _INSERT_MESSAGES,
        [r["shop_id"] for r in rows],
        [r["conversation_id"] for r in rows],
        [r["sender"] for r in rows],
        [r["agent_id"] for r in rows],
        [r["text"] for r in rows],
        [r["dedupe_key"] for r in rows],
        [_json(r["meta"]) for r in rows],
        [r["created_at"] for r in rows],
    )
    # The sequence numbers the rows in the order the ORDER BY gives them.
    return sorted(int(r[0]) for r in found)


async def update_conversations(driver: Any, rows: Sequence[dict[str, Any]]) -> None:
    names = (
        "conversation",
        "buyer_messages",
        "agent_messages",
        "unread",
        "waiting_since",
        "first_response_at",
        "last_message_at",
    )
    await driver.execute(_UPDATE_CONVERSATIONS, *([r[n] for r in rows] for n in names))


async def insert_rounds(driver: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    names = (
        "shop_id",
        "conversation_id",
        "agent_id",
        "first",
        "started_at",
        "answered_at",
        "seconds",
        "capped_seconds",
    )
    found = await driver.fetch(_INSERT_ROUNDS, *([r[n] for r in rows] for n in names))
    return sorted(int(r[0]) for r in found)


async def open_rounds(
    driver: Any, conversation_ids: Iterable[int]
) -> dict[int, tuple[int, datetime]]:
    """The unanswered round of each conversation: conversation id → (round id, started)."""
    found = await driver.fetch(_OPEN_ROUNDS, sorted(set(conversation_ids)))
    return {int(r[1]): (int(r[0]), r[2]) for r in found}


async def answer_rounds(driver: Any, rows: Sequence[dict[str, Any]]) -> None:
    names = ("round", "agent_id", "answered_at", "seconds", "capped_seconds")
    await driver.execute(_ANSWER_ROUNDS, *([r[n] for r in rows] for n in names))


async def insert_timers(driver: Any, shop_id: int, plans: Sequence[TimerPlan]) -> None:
    await driver.execute(
        _INSERT_TIMERS,
        shop_id,
        utcnow(),
        [p.kind for p in plans],
        [p.subject for p in plans],
        [p.due_at for p in plans],
        [_json(p.payload) for p in plans],
    )


async def cancel_timers(
    driver: Any, shop_id: int, kinds: Iterable[str], subjects: Iterable[str], now: datetime
) -> None:
    await driver.execute(_CANCEL_TIMERS, now, shop_id, sorted(set(kinds)), sorted(set(subjects)))


async def touch_presence(driver: Any, agents: Iterable[int], at: datetime, older: datetime) -> None:
    await driver.execute(_TOUCH_PRESENCE, at, sorted(set(agents)), older)


async def stored_keys(driver: Any, shop_id: int, keys: Iterable[str]) -> set[str]:
    found = await driver.fetch(_STORED_KEYS, shop_id, sorted(set(keys)))
    return {str(r[0]) for r in found}


_INSERT_CONVERSATIONS = """
INSERT INTO conversation (shop_id, customer_id, team, agent_id, status, opened_at, queued_at,
                          assigned_at, last_message_at, outcome, unread, buyer_messages,
                          agent_messages)
SELECT c.shop_id, c.customer_id, c.team, c.agent_id, $6, c.at, c.at, c.at, c.at, '', 0, 0, 0
FROM unnest($1::integer[], $2::integer[], $3::varchar[], $4::integer[], $5::timestamptz[])
     WITH ORDINALITY AS c(shop_id, customer_id, team, agent_id, at, place)
ORDER BY c.place
RETURNING id
"""

_PREVIOUS_AGENTS = """
SELECT DISTINCT ON (customer_id) customer_id, agent_id FROM conversation
WHERE customer_id = ANY($1::integer[]) AND agent_id IS NOT NULL
ORDER BY customer_id, opened_at DESC
"""


async def insert_conversations(
    driver: Any, rows: Sequence[dict[str, Any]], status: str
) -> list[int]:
    """Open routed conversations (``status``, their agent, assigned at their opening)."""
    names = ("shop_id", "customer_id", "team", "agent_id", "at")
    found = await driver.fetch(
        _INSERT_CONVERSATIONS, *([r[n] for r in rows] for n in names), status
    )
    return sorted(int(r[0]) for r in found)


async def previous_agents(driver: Any, customers: Iterable[int]) -> dict[int, int]:
    """The agent who last served each buyer, by customer id (as ``routing.previous_agent``)."""
    found = await driver.fetch(_PREVIOUS_AGENTS, sorted(set(customers)))
    return {int(r[0]): int(r[1]) for r in found}
