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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.timers import TimerPlan

# One probe of the unique (shop_id, dedupe_key) index a key, whatever the table's
# statistics say: ``= ANY`` of the keys, or a plain join with them, was planned on a
# young table as a read of all the shop's messages through ``ix_message_shop_created``
# (the keys looked many, the shop's messages few). ``LIMIT 1`` keeps each look-up a
# look-up of its own.
_STORED_KEYS = """
SELECT m.dedupe_key
FROM unnest($2::varchar[]) AS k(key)
CROSS JOIN LATERAL (
    SELECT dedupe_key FROM message WHERE shop_id = $1 AND dedupe_key = k.key LIMIT 1
) AS m
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


@dataclass
class Writes:
    """A segment's rows for every table the short way writes to."""

    kinds: list[str]  # the deadline kinds a reply cancels
    cancels: list[tuple[int, str, datetime]]  # (shop, subject, at): its open deadlines end
    messages: list[dict[str, Any]]
    conversations: list[dict[str, Any]]  # the counters of each conversation changed
    # rounds stored earlier that a reply answers: conversation, agent_id, answered_at, cap
    answers: list[dict[str, Any]]
    rounds: list[dict[str, Any]]  # rounds opened
    # deadlines set, each with the place in ``rounds`` of the round whose id it carries
    timers: list[tuple[int, TimerPlan, int | None]]
    presence: tuple[list[int], datetime, datetime] | None  # agents, at, older than


@dataclass
class Written:
    message_ids: list[int]  # in the order of ``Writes.messages``
    answered: list[tuple[int, int, datetime]]  # (round, conversation, started_at)


def with_round(plan: TimerPlan, round_id: int | None) -> TimerPlan:
    """The deadline of a round, naming it in its payload."""
    if round_id is None:
        return plan
    return TimerPlan(plan.kind, plan.subject, plan.due_at, {"round_id": round_id, **plan.payload})


_IDS = """
SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('message', 'id'))
             FROM generate_series(1, $1::integer)),
       ARRAY(SELECT nextval(pg_get_serial_sequence('response_round', 'id'))
             FROM generate_series(1, $2::integer))
"""

# Each UPDATE also names its rows with ``= ANY`` of the array: the generic plan of a
# prepared statement knows nothing of the arrays' lengths, and joined with ``unnest``
# alone it would read the whole table of a young database, where an index now finds
# them.
_WRITE = """
WITH cancelled AS (
    UPDATE timer SET cancelled_at = c.at
    FROM unnest($2::integer[], $3::varchar[], $4::timestamptz[]) AS c(shop_id, subject, at)
    WHERE timer.shop_id = ANY($2::integer[]) AND timer.subject = ANY($3::varchar[])
      AND timer.shop_id = c.shop_id AND timer.subject = c.subject
      AND timer.kind = ANY($1::varchar[])
      AND timer.fired_at IS NULL AND timer.cancelled_at IS NULL
    RETURNING 1
), messages AS (
    INSERT INTO message (id, shop_id, conversation_id, sender, agent_id, text, dedupe_key,
                         meta, created_at)
    SELECT m.id, m.shop_id, m.conversation_id, m.sender, m.agent_id, m.text, m.dedupe_key,
           CAST(m.meta AS json), m.created_at
    FROM unnest($5::bigint[], $6::integer[], $7::bigint[], $8::varchar[], $9::integer[],
                $10::text[], $11::varchar[], $12::text[], $13::timestamptz[])
         AS m(id, shop_id, conversation_id, sender, agent_id, text, dedupe_key, meta,
              created_at)
    RETURNING 1
), conversations AS (
    UPDATE conversation AS c
    SET buyer_messages = v.buyer_messages, agent_messages = v.agent_messages,
        unread = v.unread, waiting_since = v.waiting_since,
        first_response_at = v.first_response_at, last_message_at = v.last_message_at
    FROM unnest($14::bigint[], $15::integer[], $16::integer[], $17::integer[],
                $18::timestamptz[], $19::timestamptz[], $20::timestamptz[])
         AS v(id, buyer_messages, agent_messages, unread, waiting_since, first_response_at,
              last_message_at)
    WHERE c.id = ANY($14::bigint[]) AND c.id = v.id
    RETURNING 1
), answered AS (
    -- Whole seconds as Python's round() gives them: float8's round() goes to even.
    UPDATE response_round AS r
    SET agent_id = a.agent_id, answered_at = a.at,
        seconds = greatest(0, round(extract(epoch FROM a.at - r.started_at)::float8)),
        capped_seconds = least(
            greatest(0, round(extract(epoch FROM a.at - r.started_at)::float8)), a.cap
        )
    FROM unnest($21::bigint[], $22::integer[], $23::timestamptz[], $24::integer[])
         AS a(conversation_id, agent_id, at, cap)
    WHERE r.conversation_id = ANY($21::bigint[]) AND r.conversation_id = a.conversation_id
      AND r.capped_seconds IS NULL
    RETURNING r.id, r.conversation_id, r.started_at
), rounds AS (
    INSERT INTO response_round (id, shop_id, conversation_id, agent_id, first, started_at,
                                answered_at, seconds, capped_seconds, breached)
    SELECT n.id, n.shop_id, n.conversation_id, n.agent_id, n.first, n.started_at,
           n.answered_at, n.seconds, n.capped_seconds, false
    FROM unnest($25::bigint[], $26::integer[], $27::bigint[], $28::integer[], $29::boolean[],
                $30::timestamptz[], $31::timestamptz[], $32::integer[], $33::integer[])
         AS n(id, shop_id, conversation_id, agent_id, first, started_at, answered_at, seconds,
              capped_seconds)
    RETURNING 1
), timers AS (
    INSERT INTO timer (shop_id, kind, subject, due_at, payload, created_at, attempts)
    SELECT t.shop_id, t.kind, t.subject, t.due_at, CAST(t.payload AS json), $39, 0
    FROM unnest($34::integer[], $35::varchar[], $36::varchar[], $37::timestamptz[],
                $38::text[]) AS t(shop_id, kind, subject, due_at, payload)
    RETURNING 1
), presence AS (
    UPDATE agent_presence SET last_activity_at = $41
    WHERE staff_id = ANY($40::integer[]) AND last_activity_at < $42
    RETURNING 1
)
SELECT id, conversation_id, started_at FROM answered
"""


async def write(driver: Any, w: Writes) -> Written:
    """All of a segment's rows with two statements: the new rows' ids taken from their
    sequences, then one statement of data-modifying parts, one per table."""
    message_ids, round_ids = await driver.fetchrow(_IDS, len(w.messages), len(w.rounds))
    message_ids, round_ids = sorted(message_ids), sorted(round_ids)
    m, c, a, r = w.messages, w.conversations, w.answers, w.rounds
    timers = [
        (shop, with_round(plan, None if place is None else round_ids[place]))
        for shop, plan, place in w.timers
    ]
    agents, at, older = w.presence or ([], utcnow(), utcnow())
    found = await driver.fetch(
        _WRITE,
        w.kinds,
        [shop for shop, _, _ in w.cancels],
        [subject for _, subject, _ in w.cancels],
        [when for _, _, when in w.cancels],
        message_ids,
        *([row[name] for row in m] for name in _MESSAGE_COLUMNS),
        [_json(row["meta"]) for row in m],
        [row["created_at"] for row in m],
        *([row[name] for row in c] for name in _CONVERSATION_COLUMNS),
        *([row[name] for row in a] for name in ("conversation", "agent_id", "answered_at", "cap")),
        round_ids,
        *([row[name] for row in r] for name in _ROUND_COLUMNS),
        [shop for shop, _ in timers],
        [plan.kind for _, plan in timers],
        [plan.subject for _, plan in timers],
        [plan.due_at for _, plan in timers],
        [_json(plan.payload) for _, plan in timers],
        utcnow(),
        agents,
        at,
        older,
    )
    return Written(message_ids, [(int(r[0]), int(r[1]), r[2]) for r in found])


_MESSAGE_COLUMNS = ("shop_id", "conversation_id", "sender", "agent_id", "text", "dedupe_key")
# What a message changes on its conversation, written for a whole batch at once.
COUNTED = (
    "buyer_messages",
    "agent_messages",
    "unread",
    "waiting_since",
    "first_response_at",
    "last_message_at",
)
_CONVERSATION_COLUMNS = ("conversation", *COUNTED)
_ROUND_COLUMNS = (
    "shop_id",
    "conversation_id",
    "agent_id",
    "first",
    "started_at",
    "answered_at",
    "seconds",
    "capped_seconds",
)
