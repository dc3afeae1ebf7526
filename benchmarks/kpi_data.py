"""A deterministic month of one shop's customer service, for ``benchmarks/kpi.py``.

At ``scale=1.0``: 100 agents (levels junior/intermediate/senior/account manager, teams
presale/aftersale, two days off a week each), 250,000 buyers, 300,000 conversations,
about 3,000,000 messages (buyer, agent and automatic) with the response rounds they
imply, 400,000 orders with their sales credits, payment-reminder tasks and seller
notes. Every row is made by a seeded :class:`random.Random` per day, so two runs with
the same seed, scale and month write the same rows, and the rows of one day do not
depend on which databases are filled.

How the month looks (times in the shop's zone, Asia/Shanghai):

- Conversations per day follow the month's days (weekends busier, 12-12 a sale day at
  2.5x) and, within a day, an hourly profile with peaks at 10–11, 14–16 and 20–22 and
  a quiet night. About 1 % are never assigned: the buyer waits and leaves.
- A conversation is rounds: a buyer message or a run of 1–3 of them, answered after a
  lognormal spread of seconds (median 12 s for the first round, 30 s later; about 2 %
  take 10 minutes to an hour), by 1–3 agent messages; about 2 % of rounds are answered
  by another agent of the team. The last round of about 4 % of conversations is never
  answered (the conversation closes with the buyer waiting). 60 % of conversations get
  the automatic welcome. Rounds are exactly what ``xiaoer.reception.sla`` would record:
  ``first`` until the first human reply, ``seconds`` from the round's first buyer
  message to the reply, ``capped_seconds`` at 600, the cap for an unanswered one.
- Orders: about 45 % follow a conversation (minutes to a day later, owned by its agent
  in 90 % of cases), the rest are silent orders (half of them owned by an agent who
  took them over). 86 % are paid, most within ten minutes, some days later. A paid
  owned order has its ``owner`` sales credit; an order still unpaid ten minutes after
  it was placed gets a payment reminder (held until 08:30 in the rest hours) for its
  owner or the buyer's agent, and a payment within 24 hours of the reminder gives the
  reminder an ``assist`` credit. 92 % of paid owned orders get a seller note (a few
  exactly at the 20-minute limit, 19 % late, 6 % changed later: a second version).

Times are whole seconds. Rows come as tuples in the tables' column order (``COLUMNS``)
with times as Unix seconds; :func:`for_postgres` and :func:`for_sqlite` turn them into
what asyncpg's COPY and sqlite3 take.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")
LEVELS = (("junior", 0.4), ("intermediate", 0.3), ("senior", 0.2), ("account_manager", 0.1))
LEVEL_WEIGHT = {"junior": 1.0, "intermediate": 1.2, "senior": 1.3, "account_manager": 0.8}
PRESALE_SHARE = 0.6  # of the agents; conversations go 65 % to presale
HOURLY = (
    0.30, 0.15, 0.08, 0.05, 0.05, 0.08, 0.20, 0.50, 1.20, 2.00, 2.60, 2.40,
    1.80, 2.00, 2.60, 2.80, 2.60, 2.00, 1.80, 2.40, 3.00, 3.20, 2.60, 1.20,
)  # fmt: skip
_HOUR_CUM = list(accumulate(HOURLY))

BUYER_TEXTS = ("在吗", "这款有货吗", "什么时候发货", "能便宜点吗", "尺码怎么选", "好的", "谢谢")
AGENT_TEXTS = ("在的亲", "有货的亲，今天下单明天发", "亲，这款是正品哦", "好的亲，稍等", "不客气")
AUTO_TEXTS = ("您好，欢迎光临，请问有什么可以帮您？", "客服繁忙，请稍候")
NOTE_TEXTS = ("发顺丰", "送小样，发顺丰", "加急，周五前到", "改发中通")

COLUMNS: dict[str, tuple[str, ...]] = {
    "staff_account": (
        "id", "shop_id", "username", "number", "name", "level", "team", "roles",
        "password_hash", "language", "active", "hired_on", "created_at",
    ),
    "customer": (
        "id", "shop_id", "channel", "buyer_id", "nick", "name", "phone", "email", "city",
        "gender", "birth_lunar", "birth_leap", "tags", "notes", "created_at",
    ),
    "conversation": (
        "id", "shop_id", "customer_id", "channel_id", "team", "agent_id", "status",
        "opened_at", "queued_at", "assigned_at", "first_response_at", "waiting_since",
        "last_message_at", "closed_at", "outcome", "unread", "buyer_messages",
        "agent_messages",
    ),
    "message": (
        "id", "shop_id", "conversation_id", "sender", "agent_id", "text", "dedupe_key",
        "meta", "created_at",
    ),
    "response_round": (
        "id", "shop_id", "conversation_id", "agent_id", "first", "started_at", "answered_at",
        "seconds", "capped_seconds", "breached",
    ),
    "order": (
        "id", "shop_id", "platform_order_id", "customer_id", "buyer_nick", "status", "source",
        "goods_fen", "postage_fen", "total_fen", "paid_fen", "refunded_fen", "receiver_name",
        "receiver_phone", "receiver_address", "buyer_message", "shipping_method", "courier",
        "tracking_number", "cash_on_delivery", "close_reason", "created_at", "paid_at",
        "shipped_at", "finished_at", "closed_at", "updated_at", "owner_id", "flag",
        "confirmed_at", "cod_confirmed_at", "import_digest",
    ),
    "sales_credit": (
        "id", "shop_id", "order_id", "agent_id", "role", "reason", "amount_fen", "paid_at",
        "created_at",
    ),
    "order_task": (
        "id", "shop_id", "order_id", "kind", "assignee_id", "status", "created_at", "due_at",
        "done_at", "done_by", "outcome", "evidence",
    ),
    "seller_note": (
        "id", "shop_id", "order_id", "version", "text", "fields", "errors", "author_id",
        "author_number", "reason", "created_at",
    ),
}  # fmt: skip
# Columns holding times (Unix seconds here) and booleans, by table.
TIMES = {
    table: tuple(
        i for i, name in enumerate(columns) if name.endswith("_at") or name in ("hired_on",)
    )
    for table, columns in COLUMNS.items()
}
BOOLS = {
    table: tuple(
        i
        for i, name in enumerate(columns)
        if name in ("active", "first", "breached", "cash_on_delivery")
    )
    for table, columns in COLUMNS.items()
}
# The order in which a day's rows go in (foreign keys: orders before their credits).
DAY_TABLES = (
    "conversation", "message", "response_round", "order", "sales_credit", "order_task",
    "seller_note",
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    agents: int
    customers: int
    conversations: int
    orders: int

    @classmethod
    def at(cls, scale: float, agents: int = 100) -> Sizes:
        return cls(
            agents=agents,
            customers=max(50, round(250_000 * scale)),
            conversations=max(1, round(300_000 * scale)),
            orders=max(1, round(400_000 * scale)),
        )


def local_midnight(day: date) -> int:
    """The day's first second in the shop's zone, as Unix seconds."""
    return int(datetime.combine(day, time(), ZONE).timestamp())


def _spread(total: int, weights: list[float]) -> list[int]:
    """``total`` split by ``weights``, largest remainders first, summing exactly."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: counts[i] - shares[i])
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass
class _Order:
    created: int
    customer: int | None
    owner: int | None
    agent: int | None  # the buyer's agent, when the order follows a conversation
    id: int = 0


class Month:
    """The shop's month, made one day at a time (``day(i)``; ``i`` past the month's
    last day makes the days after it, at an ordinary day's volume)."""

    def __init__(self, first: date, sizes: Sizes, shop_id: int = 1, seed: int = 0) -> None:
        self.first = first
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        self.days = (following - first).days
        self.sizes = sizes
        self.shop_id = shop_id
        self.seed = seed
        self.next_id: dict[str, int] = dict.fromkeys(COLUMNS, 1)
        weights = [self._weight(first + timedelta(days=i)) for i in range(self.days)]
        self.day_conversations = _spread(sizes.conversations, weights)
        self.conversation_order_rate = 0.45 * sizes.orders / sizes.conversations
        expected = [n * self.conversation_order_rate * 1.05 for n in self.day_conversations]
        silent_total = max(0, sizes.orders - round(sum(expected)))
        self.day_silent = _spread(silent_total, weights)
        self.mean_conversations = sizes.conversations / self.days
        self.mean_silent = silent_total / self.days
        rng = random.Random(seed)
        levels = [lv for lv, share in LEVELS for _ in range(round(share * sizes.agents))]
        levels = (levels + ["junior"] * sizes.agents)[: sizes.agents]
        rng.shuffle(levels)
        presale = round(PRESALE_SHARE * sizes.agents)
        self.agents = [
            (i + 1, levels[i], "presale" if i < presale else "aftersale")
            for i in range(sizes.agents)
        ]
        self.next_id["staff_account"] = sizes.agents + 3  # agents, a supervisor, a manager

    @staticmethod
    def _weight(day: date) -> float:
        if (day.month, day.day) in ((11, 11), (12, 12), (6, 18)):
            return 2.5
        return 1.15 if day.weekday() >= 5 else 1.0

    def _take(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    # --- the fixed rows ------------------------------------------------------------

    def staff_rows(self) -> list[tuple[Any, ...]]:
        hired = local_midnight(self.first) - 400 * 86400
        rows = [
            (agent_id, self.shop_id, f"kpi-agent{agent_id:03d}", str(1000 + agent_id),
             f"客服{agent_id:03d}", level, team, '["agent"]', "x", "zh", True, hired, hired)
            for agent_id, level, team in self.agents
        ]  # fmt: skip
        n = self.sizes.agents
        for offset, (username, role) in enumerate((("kpi-lead", "supervisor"),
                                                   ("kpi-boss", "manager"))):  # fmt: skip
            staff_id = n + 1 + offset
            rows.append(
                (staff_id, self.shop_id, username, str(1000 + staff_id), username,
                 "senior", "presale", f'["{role}"]', "x", "zh", True, hired, hired)
            )  # fmt: skip
        return rows

    def customer_rows(self) -> Iterable[list[tuple[Any, ...]]]:
        created = local_midnight(self.first) - 200 * 86400
        chunk: list[tuple[Any, ...]] = []
        for customer_id in range(1, self.sizes.customers + 1):
            chunk.append(
                (customer_id, self.shop_id, "taobao", f"tb{customer_id:08d}",
                 f"买家{customer_id}", "", "", "", "", "", False, False, "[]", "", created)
            )  # fmt: skip
            if len(chunk) == 50_000:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        self.next_id["customer"] = self.sizes.customers + 1

    # --- one day ---------------------------------------------------------------------

    def day(self, index: int) -> dict[str, list[tuple[Any, ...]]]:
        """The rows of the month's ``index``-th day (0-based) for every table."""
        rng = random.Random(self.seed * 100_003 + index + 1)
        day = self.first + timedelta(days=index)
        start = local_midnight(day)
        if index < self.days:
            conversations, silent = self.day_conversations[index], self.day_silent[index]
        else:  # a day after the month: an ordinary day's volume
            conversations = round(self.mean_conversations)
            silent = round(self.mean_silent)
        working = [a for a in self.agents if (a[0] + index) % 7 not in (0, 1)] or self.agents
        teams = {
            team: [a for a in working if a[2] == team] or working
            for team in ("presale", "aftersale")
        }
        team_weights = {
            team: list(accumulate(LEVEL_WEIGHT[a[1]] for a in members))
            for team, members in teams.items()
        }
        rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in DAY_TABLES}
        orders: list[_Order] = []
        opened = sorted(start + self._second_of_day(rng) for _ in range(conversations))
        messages: list[list[Any]] = []
        for opened_at in opened:
            self._conversation(rng, opened_at, teams, team_weights, rows, messages, orders)
        messages.sort(key=lambda m: m[8])
        for m in messages:
            m[0] = self._take("message")
        rows["message"] = [tuple(m) for m in messages]
        rows["response_round"].sort(key=lambda r: r[5])
        rows["response_round"] = [
            (self._take("response_round"), *r[1:]) for r in rows["response_round"]
        ]
        customers = self.sizes.customers
        for _ in range(silent):
            customer = None if rng.random() < 0.01 else 1 + int(customers * rng.random() ** 1.4)
            owner = rng.choice(working)[0] if rng.random() < 0.5 else None
            orders.append(_Order(start + self._second_of_day(rng), customer, owner, None))
        orders.sort(key=lambda o: o.created)
        for order in orders:
            order.id = self._take("order")
            self._order(rng, order, rows)
        return rows

    @staticmethod
    def _second_of_day(rng: random.Random) -> int:
        hour = bisect.bisect_right(_HOUR_CUM, rng.random() * _HOUR_CUM[-1])
        return min(hour, 23) * 3600 + rng.randrange(3600)

    def _conversation(
        self,
        rng: random.Random,
        opened: int,
        teams: dict[str, list[tuple[int, str, str]]],
        team_weights: dict[str, list[float]],
        rows: dict[str, list[tuple[Any, ...]]],
        messages: list[list[Any]],
        orders: list[_Order],
    ) -> None:
        shop = self.shop_id
        conversation_id = self._take("conversation")
        customer = 1 + int(self.sizes.customers * rng.random() ** 1.4)
        team = "presale" if rng.random() < 0.65 else "aftersale"
        members = teams[team]
        agent: int | None = None
        if rng.random() >= 0.01:
            cum = team_weights[team]
            agent = members[bisect.bisect_right(cum, rng.random() * cum[-1] * 0.999999)][0]
        assigned = opened + rng.randint(0, 20) if agent is not None else None
        rounds = 1 + min(int(rng.expovariate(1 / 2.7)), 29)
        buyer_count = agent_count = 0
        first_response: int | None = None
        closed = last = opened
        at = opened
        for number in range(rounds):
            first = first_response is None
            started = at
            unanswered = agent is None or (number == rounds - 1 and rng.random() < 0.04)
            if unanswered:
                delay = rng.randint(300, 2400)
            elif rng.random() < 0.02:
                delay = rng.randint(600, 3600)
            else:
                median = 12 if first else 30
                delay = max(1, round(rng.lognormvariate(math.log(median), 0.9)))
            extra = (rng.random() < 0.35) + (rng.random() < 0.15) if delay > 1 else 0
            times = [started, *sorted(started + rng.randrange(1, delay) for _ in range(extra))]
            for moment in times:
                messages.append(
                    [0, shop, conversation_id, "buyer", None, rng.choice(BUYER_TEXTS),
                     f"b{customer}:{conversation_id}.{buyer_count}", "{}", moment]
                )  # fmt: skip
                buyer_count += 1
            if number == 0 and rng.random() < 0.6:
                messages.append(
                    [0, shop, conversation_id, "auto", None, AUTO_TEXTS[agent is None],
                     None, "{}", started + 1]
                )  # fmt: skip
            if unanswered:
                rows["response_round"].append(
                    (0, shop, conversation_id, agent, first, started, None, None, 600, True)
                )
                last = times[-1]
                closed = started + delay
                break
            answered = started + delay
            writer = agent
            if rng.random() < 0.02 and len(members) > 1:
                writer = rng.choice(members)[0]
            seconds = answered - started
            target = 30 if first else 120
            rows["response_round"].append(
                (0, shop, conversation_id, writer, first, started, answered, seconds,
                 min(seconds, 600), seconds > target)
            )  # fmt: skip
            if first_response is None:
                first_response = answered
            moment = answered
            for _ in range(1 + (rng.random() < 0.35) + (rng.random() < 0.1)):
                messages.append(
                    [0, shop, conversation_id, "agent", writer, rng.choice(AGENT_TEXTS),
                     f"a{writer}:{conversation_id}.{agent_count}", "{}", moment]
                )  # fmt: skip
                agent_count += 1
                last = moment
                moment += rng.randint(3, 40)
            at = last + rng.randint(20, 600)
            closed = last + rng.randint(30, 600)
        ordered = False
        if agent is not None or rng.random() < 0.5:
            for _ in range(2 if rng.random() < 0.05 else 1):
                if rng.random() >= self.conversation_order_rate:
                    continue
                ordered = True
                roll = rng.random()
                if roll < 0.8:
                    created = opened + rng.randint(60, 3600)
                elif roll < 0.92:
                    created = opened + rng.randint(3600, 6 * 3600)
                else:
                    created = opened + rng.randint(14 * 3600, 34 * 3600)
                owner = agent if agent is not None and rng.random() < 0.9 else None
                orders.append(_Order(created, customer, owner, agent))
        rows["conversation"].append(
            (conversation_id, shop, customer, None, team, agent, "closed", opened, opened,
             assigned, first_response, None, max(last, opened), closed,
             "ordered" if ordered else "other", 0, buyer_count, agent_count)
        )  # fmt: skip

    def _order(
        self, rng: random.Random, order: _Order, rows: dict[str, list[tuple[Any, ...]]]
    ) -> None:
        shop = self.shop_id
        created = order.created
        fen = min(500_000, max(990, round(rng.lognormvariate(math.log(12_900), 0.7) / 10) * 10))
        paid: int | None = None
        if rng.random() < 0.86:
            roll = rng.random()
            if roll < 0.72:
                paid = created + rng.randint(5, 600)
            elif roll < 0.90:
                paid = created + rng.randint(601, 6 * 3600)
            elif roll < 0.98:
                paid = created + rng.randint(6 * 3600, 48 * 3600)
            else:
                paid = created + rng.randint(2 * 86400, 5 * 86400)
        status = "TRADE_FINISHED" if paid is not None else "TRADE_CLOSED"
        closed = created + 72 * 3600 if paid is None else None
        rows["order"].append(
            (order.id, shop, str(4_100_000_000_000_000 + order.id), order.customer,
             f"买家{order.customer}" if order.customer else "", status, "api", fen, 0, fen,
             fen if paid is not None else 0, 0, "", "", "", "", "", "", "", False, "",
             created, paid, None, None, closed, paid or created, order.owner,
             1 if order.owner is not None else 0, None, None, None)
        )  # fmt: skip
        if paid is not None and order.owner is not None:
            rows["sales_credit"].append(
                (self._take("sales_credit"), shop, order.id, order.owner, "owner", "flag", fen,
                 paid, paid)
            )  # fmt: skip
        # The payment reminder, ten minutes on, held until 08:30 in the rest hours.
        remind_at = created + 600
        local = (remind_at - local_midnight(self.first)) % 86400
        if local >= 22 * 3600 + 1800:
            remind_at += 86400 - local + 8 * 3600 + 1800
        elif local < 8 * 3600 + 1800:
            remind_at += 8 * 3600 + 1800 - local
        assignee = order.owner or order.agent
        if (paid is None or paid > remind_at) and rng.random() < 0.6:
            if assignee is None and rng.random() < 0.5:
                return
            rows["order_task"].append(
                (self._take("order_task"), shop, order.id, "remind", assignee,
                 "done" if paid is not None else "open", remind_at, remind_at + 3600,
                 paid, None, "paid" if paid is not None else "", "{}")
            )  # fmt: skip
            if paid is not None and assignee is not None and paid - remind_at <= 24 * 3600:
                rows["sales_credit"].append(
                    (self._take("sales_credit"), shop, order.id, assignee, "assist",
                     "reminder", fen, paid, paid)
                )  # fmt: skip
        if paid is not None and order.owner is not None and rng.random() < 0.92:
            roll = rng.random()
            if roll < 0.78:
                noted = paid + rng.randint(30, 1199)
            elif roll < 0.81:
                noted = paid + 1200  # exactly at the limit: on time
            else:
                noted = paid + rng.randint(1201, 7200)
            versions = [noted]
            if rng.random() < 0.06:
                versions.append(noted + rng.randint(600, 86400))
            for version, at in enumerate(versions, start=1):
                rows["seller_note"].append(
                    (self._take("seller_note"), shop, order.id, version,
                     rng.choice(NOTE_TEXTS), None, "[]", order.owner,
                     str(1000 + order.owner), "", at)
                )  # fmt: skip


# --- what each database takes --------------------------------------------------------


def _converter(
    table: str, time_of: Callable[[int], Any], bool_of: Callable[[bool], Any] | None
) -> Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]]:
    times, bools = TIMES[table], BOOLS[table] if bool_of is not None else ()

    def convert(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        out = []
        for row in rows:
            values = list(row)
            for i in times:
                if values[i] is not None:
                    values[i] = time_of(values[i])
            for i in bools:
                values[i] = bool_of(values[i])  # type: ignore[misc]
            out.append(tuple(values))
        return out

    return convert


def _pg_time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


_DAY_TEXT: dict[int, str] = {}


def sqlite_time(seconds: int) -> str:
    """Unix seconds as SQLAlchemy stores a UTC time in SQLite (naive, microseconds)."""
    days, rest = divmod(seconds, 86400)
    prefix = _DAY_TEXT.get(days)
    if prefix is None:
        prefix = _DAY_TEXT[days] = (date(1970, 1, 1) + timedelta(days=days)).isoformat()
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{prefix} {hours:02d}:{minutes:02d}:{secs:02d}.000000"


def for_postgres(table: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return _converter(table, _pg_time, None)(rows)


def for_sqlite(table: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return _converter(table, sqlite_time, int)(rows)
