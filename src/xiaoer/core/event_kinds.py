"""Every kind of event, and who may receive it: one table for every stream.

An event is recorded for the whole shop (the database keeps them all), but each
follower receives only what this table gives it:

- **leaders** (supervisors and managers) receive a kind when its ``leaders`` is true;
- an **agent** receives it according to ``agents``:
  ``all`` (a fact of the shop any agent's pages show), ``concerned`` (only the
  agents the payload names under ``keys``: a colleague's fine, roster, draft or task
  is theirs and their supervisor's), ``conversation`` (the agent the conversation
  is with, before and after the change; while it waits unassigned, the agents of
  its team — of its messages only the one that queued it, enough to list it), or
  ``none``;
- a **buyer** receives, on their own topic only, the ``buyer`` fields of the kinds
  that have them, and nothing of any other kind.

:func:`xiaoer.core.events.record_event` refuses a kind that is not in the table, and
a test finds every kind recorded in the code, so a new kind cannot reach a socket
without a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

AgentRule = Literal["all", "concerned", "conversation", "none"]


@dataclass(frozen=True)
class Audience:
    leaders: bool
    agents: AgentRule
    keys: tuple[str, ...] = ("agent_id",)  # for "concerned": who the event is about
    buyer: tuple[str, ...] | None = None  # the fields a buyer sees; None: never


LEADERS_ONLY = Audience(True, "none")
SHOP = Audience(True, "all")
CONCERNED = Audience(True, "concerned")
CONCERNED_STAFF = Audience(True, "concerned", ("staff_id",))

MESSAGE_FIELDS = ("id", "conversation_id", "sender", "agent_name", "text", "created_at")

EVENT_KINDS: dict[str, Audience] = {
    # the shop and its people
    "shop.created": LEADERS_ONLY,
    "policy.applied": SHOP,
    "autoreply.changed": LEADERS_ONLY,  # each process reads the shop's replies again
    "peakday.switched": SHOP,  # peak mode on or off: every page may say so; memos reread
    "channel.added": LEADERS_ONLY,
    "staff.added": LEADERS_ONLY,
    "staff.changed": LEADERS_ONLY,
    "staff.promoted": CONCERNED_STAFF,
    # reception
    "agent.presence": SHOP,  # whom a chat can be handed to: every agent's workbench lists it
    "agent.idle": CONCERNED_STAFF,
    "conversation.assigned": Audience(
        True, "conversation", buyer=("conversation_id", "agent_name")
    ),
    "conversation.closed": Audience(True, "conversation", buyer=("conversation_id",)),
    "message.created": Audience(True, "conversation", buyer=MESSAGE_FIELDS),
    "queue.position": Audience(False, "none", buyer=("conversation_id", "position")),
    "call.logged": CONCERNED,
    "sla.breached": CONCERNED,
    "mail.failed": CONCERNED,  # a reply by mail given up on: its agent and the leaders
    # the assistant
    "approval.requested": CONCERNED,  # carries the agent's draft to a buyer
    "approval.decided": CONCERNED,
    # orders
    "order.created": SHOP,
    "order.status": SHOP,
    "order.note": SHOP,
    "order.flag": SHOP,
    "order.imported": LEADERS_ONLY,
    "order.task": CONCERNED,
    # after-sales: the supervisor's floor, and the agent who made the move
    "refund.status": Audience(True, "concerned", ("by",)),
    "refund.approval": Audience(True, "concerned", ("asked_by", "by")),
    "ticket.moved": Audience(True, "concerned", ("owner_id", "by", "was_owner_id")),
    "complaint.major": LEADERS_ONLY,
    # the peak day
    "target.changed": LEADERS_ONLY,  # a shop target set, changed or removed
    "tickets.opened": LEADERS_ONLY,  # a report's refunds or reviews queued in bulk
    "refund.imported": LEADERS_ONLY,
    # reviews: the floor's leaders (the tickets opened for bad ones reach the agents)
    "review.changed": LEADERS_ONLY,
    "review.imported": LEADERS_ONLY,
    "order.task_done": CONCERNED,
    "order.change": CONCERNED,
    # performance: each agent's own record
    "violation.no_reply": CONCERNED,
    "violation.late_note": CONCERNED,
    "violation.absent": CONCERNED,
    "violation.late": CONCERNED,
    "violation.online_unattended": CONCERNED,
    "violation.complaint_reply_missed": CONCERNED,
    "violation.bad_review_not_changed": CONCERNED,
    "violation.added": CONCERNED,
    "violation.appealed": CONCERNED,
    "violation.decided": CONCERNED,
    "roster.add": CONCERNED_STAFF,
    "roster.remove": CONCERNED_STAFF,
    "roster.judged": CONCERNED_STAFF,
    "leave.requested": CONCERNED_STAFF,
    "leave.cancelled": CONCERNED_STAFF,
    "leave.decided": CONCERNED_STAFF,
    # fulfilment: parcels on their way; the order's own agent hears of its trouble
    "parcel.tracked": LEADERS_ONLY,
    "parcel.problem": CONCERNED,
    "parcel.late": CONCERNED,
    "parcel.chased": Audience(True, "concerned", ("agent_id", "by")),
    # fulfilment's audit queue: the floor's leaders; a hold also reaches the agent who
    # must clear it
    "audit.passed": LEADERS_ONLY,
    "audit.held": Audience(True, "concerned", ("owner_id",)),
    "audit.released": Audience(True, "concerned", ("owner_id",)),
    "audit.merged": LEADERS_ONLY,
    "audit.split": LEADERS_ONLY,
    "audit.cancelled": LEADERS_ONLY,
    "slip.sent": LEADERS_ONLY,
    "slip.made": LEADERS_ONLY,
    # fulfilment: a return's goods back in stock (the warehouse's work, the floor's news)
    "return.received": LEADERS_ONLY,
    # fulfilment: the warehouse's line (its people read it on their own screens)
    "shipment.scanned": LEADERS_ONLY,
    "shipment.packed": LEADERS_ONLY,
    "shipment.shipped": LEADERS_ONLY,
    "waybill.imported": LEADERS_ONLY,
    # fulfilment's stock: the back office's, shown to leaders (and on the stock page)
    "stock.low": LEADERS_ONLY,
    "stock.location": LEADERS_ONLY,
    "stock.received": LEADERS_ONLY,
    "stock.adjusted": LEADERS_ONLY,
    "stock.safety": LEADERS_ONLY,
    "stock.take": LEADERS_ONLY,
    "stock.rebuilt": LEADERS_ONLY,
    # customers: a follow-up list given to an agent, and a campaign closed
    "campaign.assigned": CONCERNED,
    "campaign.closed": LEADERS_ONLY,
    # customers: member prices and points (R5), the back office's news
    "member_price.changed": LEADERS_ONLY,
    "points.spent": LEADERS_ONLY,
    "points.adjusted": LEADERS_ONLY,
    "points.rebuilt": LEADERS_ONLY,
}


class UnknownEventKind(ValueError):
    """A kind without a rule of who receives it."""


def audience_of(kind: str) -> Audience:
    try:
        return EVENT_KINDS[kind]
    except KeyError:
        raise UnknownEventKind(
            f"event kind {kind!r} has no audience: add it to xiaoer.core.event_kinds"
        ) from None


@dataclass(frozen=True)
class Viewer:
    """A staff member following the shop's stream."""

    staff_id: int
    team: str
    leader: bool


def _holders(payload: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(agent id, team) of the conversation an event is about: as it is now, and, for
    a change of hands, as it was (``from_agent_id``, ``from_team``)."""
    nested = payload.get("conversation")
    now = nested if isinstance(nested, dict) else payload
    holders = [(now.get("agent_id"), now.get("team"))]
    if "from_team" in payload or "from_agent_id" in payload:
        holders.append((payload.get("from_agent_id"), payload.get("from_team")))
    return holders


def _sees_conversation(kind: str, payload: dict[str, Any], viewer: Viewer) -> bool:
    for agent_id, team in _holders(payload):
        if agent_id is not None:
            if agent_id == viewer.staff_id:
                return True
            continue
        if team == viewer.team and _team_sees(kind, payload):
            return True
    return False


@dataclass(frozen=True)
class Receivers:
    """Who on the staff an event is for, worked out once for all viewers: every leader
    (``leaders``), every agent (``everyone``), or the agents named (``ids``) and the
    teams whose queue it concerns (``teams``). ``takes(viewer)`` is ``staff_receives``."""

    leaders: bool = False
    everyone: bool = False
    ids: frozenset[Any] = frozenset()
    teams: frozenset[Any] = frozenset()

    def takes(self, viewer: Viewer) -> bool:
        if viewer.leader:
            return self.leaders
        return self.everyone or viewer.staff_id in self.ids or viewer.team in self.teams


def receivers(kind: str, payload: dict[str, Any]) -> Receivers:
    """The staff an event of ``kind`` with ``payload`` is for (see :func:`staff_receives`)."""
    audience = EVENT_KINDS.get(kind)
    if audience is None:
        return Receivers()
    if audience.agents == "all":
        return Receivers(audience.leaders, everyone=True)
    if audience.agents == "concerned":
        return Receivers(audience.leaders, ids=frozenset(payload.get(k) for k in audience.keys))
    if audience.agents == "conversation":
        ids, teams = set(), set()
        for agent_id, team in _holders(payload):
            if agent_id is not None:
                ids.add(agent_id)
            elif _team_sees(kind, payload):
                teams.add(team)
        return Receivers(audience.leaders, ids=frozenset(ids), teams=frozenset(teams))
    return Receivers(audience.leaders)


def _team_sees(kind: str, payload: dict[str, Any]) -> bool:
    """Whether the team in whose queue a conversation waits sees this event of it."""
    if kind != "message.created":
        return True
    # Of a waiting buyer's messages, only the one that queued the conversation (new,
    # or sent back by a transfer), not the automatic replies nor every later line.
    conversation = payload.get("conversation") or {}
    queued_by_it = conversation.get("queued_at") == payload.get("created_at")
    return bool(queued_by_it and payload.get("sender") != "auto")


def staff_receives(kind: str, payload: dict[str, Any], viewer: Viewer) -> bool:
    """Whether a staff member's stream carries an event of ``kind`` with ``payload``."""
    audience = EVENT_KINDS.get(kind)
    if audience is None:
        return False
    if viewer.leader:
        return audience.leaders
    if audience.agents == "all":
        return True
    if audience.agents == "concerned":
        return any(payload.get(key) == viewer.staff_id for key in audience.keys)
    if audience.agents == "conversation":
        return _sees_conversation(kind, payload, viewer)
    return False


def buyer_view(kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The fields of an event a buyer sees on their own topic, or ``None``."""
    audience = EVENT_KINDS.get(kind)
    if audience is None or audience.buyer is None:
        return None
    return {name: payload.get(name) for name in audience.buyer}
