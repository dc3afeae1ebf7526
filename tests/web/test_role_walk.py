"""Every route and socket, as each role, against another agent's, team's and shop's objects.

The world (``tests/web/world.py``) gives each object kind three owners ``mei`` (the
agent) is kept from: ``bo`` (her team), the after-sales team, and another shop. For
every role the walk

- sends each route that names an object (in its path, query or body) at each owner's
  object and checks the answer against the table below — a refusal is 403 or 404
  (``deny``), or a rule of the trade 409/422 (``refuse``), and changes nothing: the
  object's row, the shop's events and audit log stay as they were;
- reads every page and JSON route and asserts that no answer holds a marker the role
  may not see (another shop's anything; for an agent, colleagues' chats, drafts,
  fines, leave, work log, own phrases and full phone numbers);
- follows the workbench socket from the first event and asserts the same of every
  frame.

A route of the app that is in no list fails the walk, so a new route gets a rule.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import app_settings, csrf_from, sign_in
from tests.live import serving
from tests.web.world import (
    COLLEAGUE,
    DISCOUNT,
    OTHER_SHOP,
    OTHER_TEAM,
    OWNERS,
    ROLES,
    World,
    build_world,
    forbidden_markers,
)
from xiaoer.aftersales.models import Refund, Ticket, TicketCause
from xiaoer.assistant.models import ApprovalRequest, KnowledgeEntry
from xiaoer.buyers.models import Customer
from xiaoer.catalog.models import Promotion, Sku
from xiaoer.core.broker import get_broker
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, Database
from xiaoer.core.models import AuditEntry, Event
from xiaoer.customers.models import (
    Campaign,
    CampaignCall,
    CustomerGroup,
    CustomerMerge,
    GreetingTemplate,
)
from xiaoer.fulfilment.models import ProductionSlip, Shipment, StockLocation, StockTake
from xiaoer.orders.models import Order, OrderChange, OrderTask
from xiaoer.peakday.models import Forecast, PeakMode
from xiaoer.peakday.target_models import ShopTarget
from xiaoer.performance.models import LeaveRequest, RosterEntry, Violation
from xiaoer.reception.models import AutoReply, Channel, Conversation, Message, QuickPhrase
from xiaoer.sellercentre.models import ImportJob
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount
from xiaoer.web.app import STAFF_ROUTERS, create_app

# allow: let in (a rule of the trade may still say no: 409/422); deny: 403/404;
# refuse: 403/404, or 409/422 where a rule of the trade says no first.
Expect = Literal["allow", "deny", "refuse"]
REFUSALS: dict[Expect, set[int]] = {"deny": {403, 404}, "refuse": {403, 404, 409, 422}}

# The row an object kind is, to see that a refused request left it as it was.
KINDS: dict[str, type[Base]] = {
    "conversation": Conversation,
    "order": Order,
    "task": OrderTask,
    "change": OrderChange,
    "approval": ApprovalRequest,
    "violation": Violation,
    "roster": RosterEntry,
    "leave": LeaveRequest,
    "phrase": QuickPhrase,
    "auto_reply": AutoReply,
    "job": ImportJob,
    "staff": StaffAccount,
    "customer": Customer,
    "ticket": Ticket,
    "cause": TicketCause,
    "channel": Channel,
    "shipment": Shipment,
    "slip": ProductionSlip,
    "refund": Refund,
    "location": StockLocation,
    "sku": Sku,
    "parcel": Shipment,
    "pick_location": StockLocation,
    "take": StockTake,
    "campaign": Campaign,
    "campaign_call": CampaignCall,
    "campaign_group": CustomerGroup,
    "customer_group": CustomerGroup,
    "peak_forecast": Forecast,
    "peak_mode": PeakMode,
    "merge": CustomerMerge,
    "greeting_template": GreetingTemplate,
    "activity": Promotion,
    "target": ShopTarget,
}


def _month_before(world: World) -> str:
    first = utcnow().date().replace(day=1) - timedelta(days=1)
    return first.strftime("%Y-%m")


Body = Callable[[World, Any], dict[str, Any]]


def _same_account(world: World, staff_id: int) -> dict[str, Any]:
    """An account's own values, sent back unchanged."""
    account = next(a for a in world.staff.values() if a.id == staff_id)
    return {"number": account.number, "name": account.name, "level": account.level,
            "team": account.team, "roles": list(account.roles)}  # fmt: skip


@dataclass(frozen=True)
class Probe:
    """A route at an object: ``{id}`` in the path (or the query) takes the object's id,
    ``body`` builds the request body from it. ``agent`` and ``leader`` say what each may
    do with a colleague's and another team's object; another shop's is always denied.
    The back office (auditor, warehouse, admin) is held by the route's roles, or by
    ``back`` where a route lets it in."""

    method: str
    path: str
    kind: str
    agent: Expect
    leader: Expect = "allow"
    back: Expect | None = None
    body: Body | None = None
    form: bool = False
    route: str = ""  # the route's own path when ``path`` carries a query
    owners: tuple[str, ...] = OWNERS
    other_team: Expect | None = None  # when another team's object differs for an agent
    # A query filter: another shop's id filters down to nothing, which the marker walk
    # checks holds nothing of that shop, rather than a refusal.
    filter: bool = False

    @property
    def route_path(self) -> str:
        return self.route or self.path.split("?")[0]


def _json(**values: Any) -> Body:
    return lambda _world, _id: dict(values)


PROBES: list[Probe] = [
    # reception: conversations are their agent's; a queued one is its team's
    Probe("GET", "/api/reception/conversations/{id}", "conversation", "deny",
          route="/api/reception/conversations/{cid}"),
    Probe("POST", "/api/reception/conversations/{id}/messages", "conversation", "deny",
          body=_json(text="您好", client_id="walk"),
          route="/api/reception/conversations/{cid}/messages"),
    Probe("POST", "/api/reception/conversations/{id}/transfer", "conversation", "deny",
          body=_json(team="assist"),
          route="/api/reception/conversations/{cid}/transfer"),
    Probe("POST", "/api/reception/conversations/{id}/close", "conversation", "deny",
          body=_json(outcome="resolved"), route="/api/reception/conversations/{cid}/close"),
    Probe("POST", "/api/reception/conversations/{id}/read", "conversation", "deny",
          route="/api/reception/conversations/{cid}/read"),
    Probe("GET", "/performance/conversations/{id}", "conversation", "deny",
          route="/performance/conversations/{conversation_id}"),
    Probe("POST", "/api/reception/calls", "customer", "allow",
          body=lambda _w, i: {"customer_id": i, "summary": "回访", "outcome": "resolved"}),
    # the assistant reads a conversation only for who may read it
    Probe("POST", "/api/assistant/suggestions", "conversation", "deny",
          body=lambda _w, i: {"conversation_id": i}),
    Probe("POST", "/api/assistant/approvals", "conversation", "deny",
          body=lambda _w, i: {"conversation_id": i, "text": DISCOUNT}),
    Probe("POST", "/api/assistant/approvals/{id}/decision", "approval", "deny",
          body=_json(approve=False), route="/api/assistant/approvals/{request_id}/decision"),
    # orders: any agent reads an order (contact masked) and writes its note (O3); the
    # owner acts on it, the assignee on a task
    Probe("GET", "/api/orders/panel?customer_id={id}", "customer", "allow"),
    Probe("GET", "/api/orders/tasks/{id}/message", "task", "deny",
          route="/api/orders/tasks/{task_id}/message"),
    Probe("POST", "/api/orders/tasks/{id}/send", "task", "deny",
          body=_json(text=""), route="/api/orders/tasks/{task_id}/send"),
    Probe("POST", "/api/orders/tasks/{id}/finish", "task", "deny",
          body=_json(outcome="confirmed_by_phone"), route="/api/orders/tasks/{task_id}/finish"),
    Probe("POST", "/api/orders/{id}/note", "order", "allow",
          body=_json(text="宽2米 高2.5米 按原图 12月20日发货 包送货安装"),
          route="/api/orders/{order_id}/note"),
    Probe("GET", "/orders/{id}", "order", "allow", route="/orders/{order_id}"),
    Probe("GET", "/orders/{id}/slip", "order", "allow", back="allow",
          route="/orders/{order_id}/slip"),
    Probe("POST", "/orders/{id}/note", "order", "allow", form=True,
          body=_json(text="宽2米 高2.5米 按原图 12月20日发货 自提"),
          route="/orders/{order_id}/note"),
    Probe("POST", "/orders/{id}/flag", "order", "refuse", form=True, body=_json(flag="3"),
          route="/orders/{order_id}/flag"),
    Probe("POST", "/orders/{id}/change", "order", "deny", form=True,
          body=_json(reason="买家要求", receiver_name="新收货人"),
          route="/orders/{order_id}/change"),
    Probe("POST", "/orders/changes/{id}/decide", "change", "deny", form=True,
          body=_json(decision="refuse"), route="/orders/changes/{change_id}/decide"),
    Probe("POST", "/orders/tasks/{id}/send", "task", "deny", form=True,
          body=_json(text=""), route="/orders/tasks/{task_id}/send"),
    Probe("POST", "/orders/tasks/{id}/finish", "task", "deny", form=True,
          body=_json(outcome="confirmed_by_phone"), route="/orders/tasks/{task_id}/finish"),
    Probe("GET", "/orders/import/{id}", "job", "deny", route="/orders/import/{job_id}",
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/api/orders/imports/{id}", "job", "deny", route="/api/orders/imports/{job_id}",
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/orders/import/{id}/resume", "job", "deny", form=True, body=_json(),
          route="/orders/import/{job_id}/resume", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/orders/import/{id}/rejects/0", "job", "deny", "refuse",
          route="/orders/import/{job_id}/rejects/{index}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/orders/tasks?agent={id}", "staff", "allow", filter=True),
    Probe("GET", "/orders?agent={id}", "staff", "allow", filter=True),
    Probe("GET", "/orders/export.xlsx?agent={id}", "staff", "allow", filter=True),
    Probe("GET", "/orders/sum?agent={id}", "staff", "allow", filter=True),
    # performance: an agent's record is theirs and their leaders'
    Probe("POST", "/performance/violations/{id}/appeal", "violation", "deny", "deny",
          form=True, body=_json(text="不是我"),
          route="/performance/violations/{violation_id}/appeal"),
    Probe("POST", "/performance/violations/{id}/decide", "violation", "deny", form=True,
          body=_json(outcome="withdraw"), route="/performance/violations/{violation_id}/decide"),
    Probe("POST", "/performance/violations", "staff", "deny", form=True,
          body=lambda _w, i: {"agent_id": str(i), "rule": "tracking_neglect", "note": "查件慢"}),
    Probe("POST", "/performance/roster/{id}/remove", "roster", "deny", form=True, body=_json(),
          route="/performance/roster/{entry_id}/remove"),
    Probe("POST", "/performance/roster", "staff", "deny", form=True,
          body=lambda _w, i: {"staff_id": str(i), "shift": "late",
                              "day": (utcnow().date() + timedelta(days=6)).isoformat()}),
    Probe("POST", "/performance/leave/{id}/cancel", "leave", "deny", "deny", form=True,
          body=_json(), route="/performance/leave/{leave_id}/cancel"),
    Probe("POST", "/performance/leave/{id}/decide", "leave", "deny", form=True,
          body=_json(outcome="refuse", decision="人手不够"),
          route="/performance/leave/{leave_id}/decide"),
    Probe("POST", "/performance/payroll/adjust", "staff", "deny", form=True,
          body=lambda w, i: {"month": _month_before(w), "kind": "bonus", "reason": "好评",
                             "agent_id": str(i), "amount_yuan": "10"}),
    Probe("POST", "/performance/promotion/exam", "staff", "deny", form=True,
          body=lambda w, i: {"staff_id": str(i), "to_level": "intermediate",
                             "taken_on": utcnow().date().isoformat(), "passed": "yes",
                             "score": "90"}),
    Probe("POST", "/performance/promotion/{id}/promote", "staff", "deny", form=True,
          body=_json(), route="/performance/promotion/{staff_id}/promote"),
    Probe("GET", "/performance/kpi/rounds?agent={id}", "staff", "deny", filter=True),
    Probe("GET", "/performance/kpi/orders?agent={id}", "staff", "deny", filter=True),
    Probe("GET", "/performance/kpi/buyers?agent={id}", "staff", "deny", filter=True),
    Probe("GET", "/performance/kpi?agent={id}", "staff", "deny", filter=True),
    Probe("GET", "/performance/kpi.xlsx?agent={id}", "staff", "deny", filter=True),
    Probe("GET", "/performance/worklog?staff_id={id}", "staff", "deny", filter=True),
    Probe("GET", "/performance/roster?staff_id={id}", "staff", "allow", filter=True),
    Probe("GET", "/performance/violations?agent={id}", "staff", "allow", filter=True),
    # after-sales: the after-sales team and the leaders work tickets; the walk's agent is
    # of the presale team (tests/aftersales/test_pages.py walks an after-sales agent)
    Probe("GET", "/aftersales/tickets/{id}", "ticket", "deny",
          route="/aftersales/tickets/{ticket_id}"),
    Probe("GET", "/aftersales/tickets/{id}/appeal.zip", "ticket", "deny", "refuse",
          route="/aftersales/tickets/{ticket_id}/appeal.zip"),
    Probe("POST", "/aftersales/tickets/{id}/take", "ticket", "deny", form=True, body=_json(),
          route="/aftersales/tickets/{ticket_id}/take"),
    Probe("POST", "/aftersales/tickets/{id}/note", "ticket", "deny", form=True,
          body=_json(text="备注"), route="/aftersales/tickets/{ticket_id}/note"),
    Probe("POST", "/aftersales/tickets/{id}/escalate", "ticket", "deny", form=True,
          body=_json(reason="复杂"), route="/aftersales/tickets/{ticket_id}/escalate"),
    Probe("POST", "/aftersales/tickets/{id}/assign", "ticket", "deny", form=True,
          body=lambda w, _i: {"owner": str(w.staff["cai"].id)},
          route="/aftersales/tickets/{ticket_id}/assign"),
    Probe("POST", "/aftersales/tickets/{id}/merge", "ticket", "deny", form=True,
          body=lambda _w, i: {"into": str(i)}, route="/aftersales/tickets/{ticket_id}/merge"),
    Probe("POST", "/aftersales/tickets/{id}/close", "ticket", "deny", form=True,
          body=_json(cause="1", outcome="other"), route="/aftersales/tickets/{ticket_id}/close"),
    Probe("POST", "/aftersales/tickets/{id}/refund", "ticket", "deny", form=True,
          body=_json(kind="refund_only", amount="1.00", reason="少件"),
          route="/aftersales/tickets/{ticket_id}/refund"),
    Probe("POST", "/aftersales/tickets/{id}/refund/ask", "ticket", "deny", form=True,
          body=_json(reason="超权限"), route="/aftersales/tickets/{ticket_id}/refund/ask"),
    Probe("POST", "/aftersales/tickets/{id}/refund/decide", "ticket", "deny", form=True,
          body=_json(approve="no"), route="/aftersales/tickets/{ticket_id}/refund/decide"),
    Probe("POST", "/aftersales/tickets/{id}/refund/withdraw", "ticket", "deny", form=True,
          body=_json(), route="/aftersales/tickets/{ticket_id}/refund/{move}"),
    Probe("POST", "/aftersales/tickets/{id}/step/listen", "ticket", "deny", form=True,
          body=_json(words="原话"), route="/aftersales/tickets/{ticket_id}/step/{step}"),
    Probe("POST", "/aftersales/tickets/{id}/promise", "ticket", "deny", form=True,
          body=_json(when="2030-01-01T10:00"), route="/aftersales/tickets/{ticket_id}/promise"),
    Probe("POST", "/aftersales/causes", "cause", "deny", form=True,
          body=lambda _w, i: {"cause_id": str(i), "name": "改名"}, owners=(OTHER_SHOP,)),
    Probe("POST", "/aftersales/seller-reviews", "order", "deny", form=True,
          body=lambda _w, i: {"order": str(i), "text": "好买家"}),
    Probe("POST", "/api/aftersales/tickets", "conversation", "deny",
          body=lambda _w, i: {"conversation_id": i, "subject": "售后"}),
    # fulfilment's audit: the auditors' and the leaders' (an agent reads and clears the
    # holds given to them); production slips are read by the auditors and the warehouse,
    # marked made by the warehouse
    Probe("GET", "/fulfilment/audit/{id}", "order", "deny", back="allow",
          route="/fulfilment/audit/{order_id}"),
    Probe("POST", "/fulfilment/audit/{id}/pass", "order", "deny", back="allow", form=True,
          body=_json(), route="/fulfilment/audit/{order_id}/pass"),
    Probe("POST", "/fulfilment/audit/{id}/hold", "order", "deny", back="allow", form=True,
          body=_json(reason="核对尺寸"), route="/fulfilment/audit/{order_id}/hold"),
    Probe("POST", "/fulfilment/audit/{id}/release", "order", "deny", back="allow", form=True,
          body=_json(), route="/fulfilment/audit/{order_id}/release"),
    Probe("POST", "/fulfilment/audit/{id}/merge", "order", "deny", back="allow", form=True,
          body=lambda _w, i: {"other": str(i)}, route="/fulfilment/audit/{order_id}/merge"),
    Probe("POST", "/fulfilment/audit/{id}/split", "order", "deny", back="allow", form=True,
          body=_json(), route="/fulfilment/audit/{order_id}/split"),
    Probe("POST", "/fulfilment/audit/pass-clean", "order", "deny", back="allow", form=True,
          body=lambda _w, i: {"order": str(i)}),
    Probe("GET", "/fulfilment/audit/slips/{id}", "slip", "deny", back="allow",
          route="/fulfilment/audit/slips/{slip_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/audit/slips/{id}/made", "slip", "deny", back="allow", form=True,
          body=_json(), route="/fulfilment/audit/slips/{slip_id}/made",
          owners=(COLLEAGUE, OTHER_SHOP)),
    # the shop's words: own phrases are their owner's; the rest is the shop's
    Probe("POST", "/reception/phrases/{id}/delete", "phrase", "refuse", "refuse", form=True,
          body=_json(scope="own"), route="/reception/phrases/{phrase_id}/delete"),
    Probe("POST", "/reception/auto-replies/{id}/delete", "auto_reply", "deny", form=True,
          body=_json(), route="/reception/auto-replies/{reply_id}/delete", owners=(OTHER_SHOP,)),
    # bridge channels are the shop's, kept by its manager
    Probe("POST", "/reception/channels/{id}/secret", "channel", "deny", form=True,
          body=_json(), route="/reception/channels/{channel_id}/secret", owners=(OTHER_SHOP,)),
    Probe("POST", "/reception/channels/{id}/disable", "channel", "deny", form=True,
          body=_json(), route="/reception/channels/{channel_id}/{move}", owners=(OTHER_SHOP,)),
    Probe("POST", "/assistant/knowledge/delete", "kb", "deny", form=True,
          body=lambda _w, title: {"intent": "stock", "title": title}, owners=(OTHER_SHOP,)),
    Probe("GET", "/assistant/knowledge/edit?intent=stock&title={id}", "kb", "deny",
          route="/assistant/knowledge/edit", owners=(OTHER_SHOP,)),
    Probe("POST", "/assistant/knowledge/edit", "kb", "deny", form=True,
          body=lambda _w, title: {"intent": "stock", "title": title, "new_intent": "stock",
                                  "new_title": "改过", "answer": "有货的亲"},
          owners=(OTHER_SHOP,)),
    # parcels: an agent follows her own orders' ones; leaders and the back office all
    Probe("GET", "/fulfilment/parcels/{id}", "shipment", "deny", back="allow",
          route="/fulfilment/parcels/{shipment_id}"),
    Probe("POST", "/fulfilment/parcels/{id}/chase", "shipment", "deny", form=True,
          body=_json(), route="/fulfilment/parcels/{shipment_id}/chase"),
    Probe("POST", "/fulfilment/parcels/{id}/not-received", "shipment", "deny", "refuse",
          form=True, body=_json(note="没收到"),
          route="/fulfilment/parcels/{shipment_id}/not-received"),
    # customers: follow-up campaigns are the leaders' (and the administrator's); an agent
    # reaches a campaign and a call only through her own list
    Probe("POST", "/customers/campaigns", "campaign_group", "deny", back="allow", form=True,
          body=lambda w, i: {"name": "走查回访", "source": "group", "group_id": str(i),
                             "agent": str(w.staff["bo"].id), "split": "balanced"},
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/customers/campaigns/{id}", "campaign", "deny", back="allow",
          route="/customers/campaigns/{campaign_id}"),
    Probe("GET", "/customers/campaigns/{id}/results.xlsx", "campaign", "deny", back="allow",
          route="/customers/campaigns/{campaign_id}/results.xlsx"),
    Probe("POST", "/customers/campaigns/calls/{id}", "campaign_call", "deny", back="allow",
          form=True, body=_json(reached="no", feedback="走查"),
          route="/customers/campaigns/calls/{call_id}"),
    Probe("POST", "/customers/campaigns/{id}/close", "campaign", "deny", back="allow",
          form=True, body=_json(), route="/customers/campaigns/{campaign_id}/close"),
    # customers: groups are the leaders' (and the administrator's) of their own shop; the
    # delete comes last of them, the walk reads on after it
    # the peak day: a forecast and its plan are the shop's leaders'
    Probe("GET", "/peakday/forecasts/{id}", "peak_forecast", "deny",
          route="/peakday/forecasts/{forecast_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/peakday/forecasts/{id}/forecast.csv", "peak_forecast", "deny",
          route="/peakday/forecasts/{forecast_id}/forecast.csv", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/forecasts/{id}/roster", "peak_forecast", "deny", form=True,
          route="/peakday/forecasts/{forecast_id}/roster", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/forecasts/{id}/delete", "peak_forecast", "deny", form=True,
          route="/peakday/forecasts/{forecast_id}/delete", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/peakday/peak/{id}", "peak_mode", "deny",
          route="/peakday/peak/{mode_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/peak/{id}", "peak_mode", "deny", form=True,
          body=_json(name="TEA-PEAK", starts_at="2099-11-11T00:00", ends_at="2099-11-12T00:00"),
          route="/peakday/peak/{mode_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/peak/{id}/reviewed", "peak_mode", "deny", form=True,
          route="/peakday/peak/{mode_id}/reviewed", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/peak/{id}/on", "peak_mode", "deny", form=True,
          route="/peakday/peak/{mode_id}/on", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/peak/{id}/off", "peak_mode", "deny", form=True,
          route="/peakday/peak/{mode_id}/off", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/peak/{id}/cancel", "peak_mode", "deny", form=True,
          route="/peakday/peak/{mode_id}/cancel", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/customers/groups/{id}", "customer_group", "deny", back="allow",
          route="/customers/groups/{group_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/customers/groups/{id}/export.xlsx", "customer_group", "deny", back="allow",
          route="/customers/groups/{group_id}/export.xlsx", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/customers/groups/{id}", "customer_group", "deny", back="allow", form=True,
          body=_json(name="TEA-GROUP", note=""), route="/customers/groups/{group_id}",
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/customers/groups/{id}/add", "customer_group", "deny", back="allow",
          form=True, body=_json(who="nobody-of-the-walk"),
          route="/customers/groups/{group_id}/add", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/customers/groups/add", "customer_group", "deny", back="allow", form=True,
          body=lambda w, i: {"group": str(i), "customer": str(w.objects[COLLEAGUE]["customer"])},
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/customers/groups/{id}/remove", "customer_group", "deny", back="allow",
          form=True, body=lambda w, i: {"customer": str(next(
              o["customer"] for o in w.objects.values() if o.get("customer_group") == i))},
          route="/customers/groups/{group_id}/remove", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/customers/groups/{id}/delete", "customer_group", "deny", back="allow",
          form=True, body=_json(), route="/customers/groups/{group_id}/delete",
          owners=(COLLEAGUE, OTHER_SHOP)),
    # greetings: the shop's words, kept by its leaders
    Probe("POST", "/customers/greetings/templates/{id}", "greeting_template", "deny",
          back="allow", form=True,
          body=_json(kind="holiday", name="default", body="{name}，节日快乐", active="1"),
          route="/customers/greetings/templates/{template_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    # staff: the leaders and the administrator keep their own shop's accounts (a
    # supervisor not a manager's); the disabling comes last, the walk reads on after it
    Probe("GET", "/staff/{id}", "staff", "deny", back="allow", route="/staff/{staff_id}"),
    Probe("POST", "/staff/{id}", "staff", "deny", back="allow", form=True,
          body=lambda w, i: _same_account(w, i), route="/staff/{staff_id}"),
    Probe("POST", "/staff/{id}/password", "staff", "deny", back="allow", form=True,
          body=_json(), route="/staff/{staff_id}/password"),
    Probe("POST", "/staff/{id}/active", "staff", "deny", back="allow", form=True,
          body=_json(active="no"), route="/staff/{staff_id}/active"),
    # fulfilment: an order's courier is its owner's and the leaders' (F6); returns come
    # back through the warehouse (a receipt without lines is a rule's 422)
    Probe("GET", "/fulfilment/orders/{id}/courier", "order", "deny",
          route="/fulfilment/orders/{order_id}/courier"),
    Probe("POST", "/fulfilment/orders/{id}/courier", "order", "deny", form=True,
          body=_json(carrier="SF", reason="买家要求改发顺丰"),
          route="/fulfilment/orders/{order_id}/courier"),
    Probe("GET", "/fulfilment/returns/{id}", "refund", "deny", back="allow",
          route="/fulfilment/returns/{refund_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/returns/{id}/receive", "refund", "deny", back="allow", form=True,
          body=_json(note="拆包"), route="/fulfilment/returns/{refund_id}/receive",
          owners=(COLLEAGUE, OTHER_SHOP)),
    # fulfilment, shipping: the warehouse and leaders work the shop's parcels
    Probe("GET", "/fulfilment/warehouse/shipments/{id}", "parcel", "deny", back="allow",
          route="/fulfilment/warehouse/shipments/{shipment_id}"),
    Probe("GET", "/fulfilment/warehouse/shipments/{id}/slip.pdf", "parcel", "deny",
          back="allow", route="/fulfilment/warehouse/shipments/{shipment_id}/slip.pdf"),
    Probe("POST", "/fulfilment/warehouse/shipments/{id}/scan", "parcel", "deny", back="allow",
          form=True, body=_json(code="NOT-IN-IT", quantity="1"),
          route="/fulfilment/warehouse/shipments/{shipment_id}/scan"),
    Probe("POST", "/fulfilment/warehouse/shipments/{id}/ship", "parcel", "deny", back="allow",
          form=True, body=_json(carrier="SF", waybill="SF1234567890123"),
          route="/fulfilment/warehouse/shipments/{shipment_id}/ship"),
    Probe("GET", "/fulfilment/warehouse/locations/{id}", "pick_location", "deny", back="allow",
          route="/fulfilment/warehouse/locations/{location_id}"),
    Probe("GET", "/fulfilment/warehouse/locations/{id}/pick.pdf", "pick_location", "deny",
          back="allow", route="/fulfilment/warehouse/locations/{location_id}/pick.pdf"),
    # fulfilment's stock: the shop's, read by the back office, kept by the warehouse
    Probe("GET", "/fulfilment/stock/{id}", "sku", "deny", back="allow",
          route="/fulfilment/stock/{sku_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/stock/receipts", "location", "deny", back="allow", form=True,
          body=lambda _w, i: {"location_id": str(i), "lines": "TEA-STOCK-1 1"},
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/stock/adjust", "location", "deny", back="allow", form=True,
          body=lambda _w, i: {"location_id": str(i), "sku": "TEA-STOCK-1", "delta": "1",
                              "reason": "盘盈"}, owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/fulfilment/stock/takes/{id}", "take", "deny", back="allow",
          route="/fulfilment/stock/takes/{take_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/fulfilment/stock/takes/{id}/sheet.xlsx", "take", "deny", back="allow",
          route="/fulfilment/stock/takes/{take_id}/sheet.xlsx", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/stock/takes/{id}/upload", "take", "deny", back="allow",
          form=True, body=_json(), route="/fulfilment/stock/takes/{take_id}/upload",
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/stock/takes/{id}/counts", "take", "deny", back="allow",
          form=True, body=_json(), route="/fulfilment/stock/takes/{take_id}/counts",
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/stock/takes/{id}/post", "take", "deny", back="allow",
          form=True, body=_json(), route="/fulfilment/stock/takes/{take_id}/post",
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/fulfilment/stock/takes", "location", "deny", back="allow", form=True,
          body=lambda _w, i: {"location_id": str(i)}, owners=(COLLEAGUE, OTHER_SHOP)),
    # the customer file: any agent reads (contact masked) and annotates a buyer of the
    # shop; merges are the leaders'; a buyer's data is exported and erased by the manager
    Probe("GET", "/customers/{id}", "customer", "allow", back="allow",
          route="/customers/{customer_id:int}"),
    Probe("POST", "/customers/{id}", "customer", "allow", back="allow", form=True,
          body=_json(notes="回头客"), route="/customers/{customer_id:int}"),
    Probe("POST", "/customers/{id}/greetings", "customer", "allow", back="allow", form=True,
          body=_json(on="no"), route="/customers/{customer_id:int}/greetings"),
    Probe("POST", "/customers/{id}/merge", "customer", "deny", "refuse", back="refuse",
          form=True, body=lambda _w, i: {"ids": str(i), "how": "hand"},
          route="/customers/{customer_id:int}/merge"),
    Probe("POST", "/customers/merges/{id}/undo", "merge", "deny", back="allow", form=True,
          body=_json(), route="/customers/merges/{merge_id}/undo",
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("GET", "/customers/{id}/export.json", "customer", "deny", back="allow",
          route="/customers/{customer_id:int}/export.json"),
    Probe("POST", "/customers/{id}/erase", "customer", "deny", "refuse", back="refuse",
          form=True, body=_json(reason="本人要求"), route="/customers/{customer_id:int}/erase"),
    Probe("GET", "/api/customers/panel/{id}", "conversation", "deny",
          route="/api/customers/panel/{conversation_id}"),
    # customers' points are the shop's: any agent reads a person's, the leaders adjust
    # them and keep the member prices of the shop's SKUs
    Probe("GET", "/customers/{id}/points", "customer", "allow",
          route="/customers/{customer_id}/points"),
    Probe("POST", "/customers/{id}/points/adjust", "customer", "deny", back="allow", form=True,
          body=_json(points="5", reason="补偿"), route="/customers/{customer_id}/points/adjust"),
    Probe("POST", "/customers/members/prices", "sku", "deny", back="allow", form=True,
          body=lambda _w, i: {"sku_id": str(i), "level": "gold", "price": "50"},
          owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/customers/members/prices/delete", "sku", "deny", back="allow", form=True,
          body=lambda _w, i: {"sku_id": str(i), "level": "member"},
          owners=(COLLEAGUE, OTHER_SHOP)),
    # the shop's activities: every agent reads them, the leaders (and the administrator)
    # keep them; ending one comes last, the walk reads on after it
    Probe("GET", "/peakday/activities/{id}", "activity", "deny", back="allow",
          route="/peakday/activities/{promotion_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/activities/{id}", "activity", "deny", back="allow", form=True,
          body=_json(kind="full_reduction", name="TEA-ACTIVITY", starts_at="bad"),
          route="/peakday/activities/{promotion_id}", owners=(COLLEAGUE, OTHER_SHOP)),
    Probe("POST", "/peakday/activities/{id}/end", "activity", "deny", back="allow", form=True,
          body=_json(reason="走查"), route="/peakday/activities/{promotion_id}/end",
          owners=(COLLEAGUE, OTHER_SHOP)),
    # the shop's targets: set by its manager; the removal comes last of them
    Probe("POST", "/peakday/targets/{id}", "target", "deny", form=True,
          body=_json(period="event", name="改过", starts="2030-01-02T00:00",
                     ends="2030-01-03T00:00", trades="7"),
          route="/peakday/targets/{target_id}"),
    Probe("POST", "/peakday/targets/{id}/delete", "target", "deny", form=True, body=_json(),
          route="/peakday/targets/{target_id}/delete"),
]  # fmt: skip

# Routes naming no object of anyone's, with why: the GET ones are read in the marker walk.
NO_OBJECT: dict[tuple[str, str], str] = {
    ("POST", "/fulfilment/warehouse/waybills"): "ships the caller's shop's orders from a sheet",
    ("POST", "/api/assistant/classify"): "classifies the text it is given",
    ("POST", "/api/assistant/feedback"): "records the caller's own pick",
    ("POST", "/api/assistant/check"): "checks the caller's own draft",
    ("POST", "/assistant/knowledge"): "writes the caller's shop's knowledge base",
    ("POST", "/assistant/knowledge/import"): "imports into the caller's shop",
    ("POST", "/aftersales/take-next"): "takes the oldest ticket of the caller's own queue",
    ("POST", "/aftersales/tickets/new"): "opens a ticket in the caller's shop",
    ("POST", "/aftersales/report/proposals"): "writes the caller's shop's proposals of a month",
    ("POST", "/login"): "signs in",
    ("POST", "/logout"): "signs out",
    ("POST", "/orders/import"): "starts an import into the caller's shop",
    ("POST", "/me/language"): "sets the caller's own language",
    ("POST", "/performance/leave"): "asks for the caller's own leave",
    ("POST", "/performance/payroll/lock"): "locks the caller's shop's month",
    ("POST", "/performance/worklog"): "writes the caller's own work log",
    ("POST", "/api/reception/presence"): "sets the caller's own presence",
    ("POST", "/reception/calls"): "logs the caller's call, finding the buyer in their shop",
    ("POST", "/reception/phrases"): "saves the caller's own (or, a leader's, the shop's) phrase",
    ("POST", "/reception/phrases/import"): "imports the caller's own or the shop's phrases",
    ("POST", "/reception/auto-replies"): "saves the caller's shop's automatic reply",
    ("POST", "/staff"): "adds an account to the caller's shop",
    ("POST", "/policy/{section}"): "changes the caller's shop's policy (test_policy_pages.py)",
    ("POST", "/reception/channels"): "creates a channel of the caller's shop",
    ("POST", "/fulfilment/stock/locations"): "adds a location to the caller's shop",
    ("POST", "/fulfilment/stock/safety"): "sets the caller's shop's safety stock (SKU by code)",
    ("POST", "/customers/groups"): "creates a group in the caller's shop",
    ("POST", "/peakday/forecasts"): "makes a forecast of the caller's shop",
    ("POST", "/peakday/forecasts/import"): "imports a forecast into the caller's shop",
    ("POST", "/peakday/peak"): "prepares peak mode in the caller's shop",
    ("POST", "/customers/greetings/templates"): "writes the caller's shop's greeting words",
    ("POST", "/customers/greetings/plan"): "plans a day's greetings of the caller's shop",
    ("POST", "/peakday/activities"): "adds an activity to the caller's shop",
    ("POST", "/peakday/quiz"): "scores the caller's own answers",
    ("POST", "/peakday/targets"): "sets a target of the caller's shop",
}


def staff_routes() -> dict[tuple[str, str], tuple[str, ...]]:
    """(method, path) → the roles the route lets in (empty: anyone signed in)."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for router in STAFF_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            calls = _dependency_calls(route.dependant)
            roles = next((c.required_roles for c in calls if hasattr(c, "required_roles")), ())
            for method in route.methods:
                found[(method, route.path)] = tuple(roles)
    return found


def _dependency_calls(dependant: Any) -> list[Any]:
    found = []
    for dep in getattr(dependant, "dependencies", []):
        found.append(dep.call)
        found.extend(_dependency_calls(dep))
    return found


def test_every_staff_route_is_walked() -> None:
    routes = set(staff_routes())
    probed = {(p.method, p.route_path) for p in PROBES}
    read = {key for key in routes if key[0] == "GET"}
    assert probed - routes == set()
    assert routes - probed - read - set(NO_OBJECT) == set()


# --- the walk ------------------------------------------------------------------------


@dataclass
class Walk:
    world: World
    db: Database
    client: httpx.AsyncClient
    role: str
    roles_of: dict[tuple[str, str], tuple[str, ...]]
    problems: list[str] = field(default_factory=list)

    @property
    def account(self) -> StaffAccount:
        return self.world.staff[ROLES[self.role]]

    def lets_in(self, method: str, path: str) -> bool:
        roles = self.roles_of[(method, path)]
        return not roles or self.account.has_role(*roles)

    def expect(self, probe: Probe, owner: str) -> Expect:
        if owner == OTHER_SHOP:
            if probe.filter and self.lets_in(probe.method, probe.route_path):
                return (
                    "allow"
                    if self.role in ("supervisor", "manager")
                    else self.expect(probe, COLLEAGUE)
                )
            return "refuse" if probe.leader == "refuse" or probe.agent == "refuse" else "deny"
        if not self.lets_in(probe.method, probe.route_path):
            return "deny"
        if self.role in ("supervisor", "manager"):
            return probe.leader
        if self.role == "agent":
            return probe.other_team if owner == OTHER_TEAM and probe.other_team else probe.agent
        return probe.back or probe.agent

    async def snapshot(self, kind: str, ident: Any) -> tuple[Any, ...]:
        """The object's row and the counts of events, audit entries and messages."""
        async with self.db.session() as session:
            if kind == "kb":
                row = await session.scalar(
                    select(KnowledgeEntry).where(
                        KnowledgeEntry.shop_id == self.world.far.id, KnowledgeEntry.title == ident
                    )
                )
            else:
                row = await session.get(KINDS[kind], ident)
            assert row is not None, (kind, ident)
            columns = tuple(
                str(getattr(row, c.key))
                for c in row.__table__.columns  # type: ignore[attr-defined]
            )
            counts = []
            for model in (Event, AuditEntry, Message):
                counts.append(await session.scalar(select(func.count()).select_from(model)))
        return columns, tuple(counts)

    async def send(self, probe: Probe, ident: Any) -> httpx.Response:
        path = probe.path.replace("{id}", str(ident))
        body = probe.body(self.world, ident) if probe.body is not None else None
        token = await self.csrf()
        if probe.method == "GET":
            return await self.client.get(path)
        if probe.form:
            return await self.client.post(path, data={**(body or {}), "csrf_token": token})
        return await self.client.post(path, json=body, headers={"X-CSRF-Token": token})

    async def csrf(self) -> str:
        if not hasattr(self, "_csrf"):
            self._csrf = csrf_from((await self.client.get("/")).text)
        return self._csrf

    def check_markers(self, where: str, text: str, sent: str = "") -> None:
        """No marker the role may not see, unless the request itself carried it (a form
        shown again with what was typed)."""
        for name, marker in forbidden_markers(self.world, self.role).items():
            if marker in text and marker not in sent:
                self.problems.append(f"{self.role}: {where} shows {name} ({marker!r})")

    async def probe(self, probe: Probe) -> None:
        for owner in probe.owners:
            ident = self.world.objects[owner][probe.kind]
            expected = self.expect(probe, owner)
            before = await self.snapshot(probe.kind, ident) if expected != "allow" else None
            response = await self.send(probe, ident)
            where = f"{probe.method} {probe.path} at {owner}'s {probe.kind}"
            status = response.status_code
            if status >= 500:
                self.problems.append(f"{self.role}: {where} answered {status}")
                continue
            self.check_markers(where, response.text, str(response.request.content, "utf-8"))
            if expected == "allow":
                if status in (401, 403, 404):
                    self.problems.append(f"{self.role}: {where} refused with {status}")
                continue
            if status not in REFUSALS[expected]:
                self.problems.append(
                    f"{self.role}: {where} answered {status}, expected {sorted(REFUSALS[expected])}"
                )
            after = await self.snapshot(probe.kind, ident)
            if after != before:
                self.problems.append(f"{self.role}: {where} was refused but changed something")

    async def read_everything(self) -> None:
        """Every page and JSON route that reads, with the role's own parameters."""
        for (method, path), _roles in sorted(self.roles_of.items()):
            if method != "GET" or "{" in path or path in ("/login",):
                continue
            response = await self.client.get(path)
            if response.status_code >= 500:
                self.problems.append(f"{self.role}: GET {path} answered {response.status_code}")
            expected_in = self.lets_in(method, path)
            if not expected_in and response.status_code != 403:
                self.problems.append(
                    f"{self.role}: GET {path} let in a role it is not for ({response.status_code})"
                )
            self.check_markers(f"GET {path}", response.text)


@pytest.fixture
async def world(db: Database, shop: Shop) -> World:
    return await build_world(db, shop)


@pytest.fixture
async def served(db: Database, database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The app served by Uvicorn in the test's loop: HTTP through it, and its socket."""
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    async with serving(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as client:
        yield client, address


async def _socket_frames(address: str, cookies: httpx.Cookies) -> list[dict[str, Any]] | int:
    """Every frame the workbench socket sends from the first event, until it is quiet;
    or the close code when it refuses."""
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    frames: list[dict[str, Any]] = []
    try:
        async with connect(
            f"ws://{address}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ) as ws:
            while True:
                try:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), 1.0)))
                except TimeoutError:
                    return frames
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else -1
    except InvalidStatus as refused:  # closed before it was accepted: HTTP 403
        return refused.response.status_code


SOCKET_SEND = next(p for p in PROBES if p.route == "/api/reception/conversations/{cid}/messages")


async def _send_over_socket(address: str, cookies: httpx.Cookies, conversation: int) -> int:
    """A reply sent as the workbench sends it over its socket, as an HTTP-like status:
    200 for an ``ack``, an ``error`` frame's status, or the socket's refusal."""
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    client_id = f"walk-socket-{conversation}"
    frame = {
        "type": "send",
        "conversation_id": conversation,
        "text": "您好",
        "client_id": client_id,
        "typing_ms": 1500,
        "typed_chars": 2,
    }
    try:
        async with connect(
            f"ws://{address}/ws/workbench?after=0", additional_headers={"Cookie": cookie}
        ) as ws:
            await ws.send(json.dumps(frame))
            async with asyncio.timeout(10):
                while True:
                    answer = json.loads(await ws.recv())
                    if answer.get("client_id") == client_id:
                        return 200 if answer["type"] == "ack" else int(answer["status"])
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else -1
    except InvalidStatus as refused:
        return refused.response.status_code


async def _walk_socket_sends(walk: Walk, address: str, cookies: httpx.Cookies) -> None:
    """The socket's replies hold to the same rules as ``POST …/messages``."""
    for owner in SOCKET_SEND.owners:
        ident = walk.world.objects[owner]["conversation"]
        expected = walk.expect(SOCKET_SEND, owner)
        before = await walk.snapshot("conversation", ident)
        status = await _send_over_socket(address, cookies, ident)
        where = f"a reply over the workbench socket at {owner}'s conversation"
        if status >= 500 and status < 1000:
            walk.problems.append(f"{walk.role}: {where} answered {status}")
        elif expected == "allow":
            if status in (401, 403, 404):
                walk.problems.append(f"{walk.role}: {where} refused with {status}")
        elif status not in REFUSALS[expected]:
            walk.problems.append(f"{walk.role}: {where} answered {status}, expected a refusal")
        elif await walk.snapshot("conversation", ident) != before:
            walk.problems.append(f"{walk.role}: {where} was refused but changed something")


@pytest.mark.parametrize("role", list(ROLES))
async def test_each_role_reaches_only_what_is_theirs(
    role: str,
    world: World,
    db: Database,
    served: tuple[httpx.AsyncClient, str],
) -> None:
    client, address = served
    signed = await sign_in(client, ROLES[role])
    assert signed.status_code == 303
    walk = Walk(world, db, client, role, staff_routes())
    for probe in PROBES:
        await walk.probe(probe)
    await walk.read_everything()
    await _walk_socket_sends(walk, address, client.cookies)
    frames = await _socket_frames(address, client.cookies)
    if role in ("auditor", "warehouse", "admin"):
        assert frames == 403
    else:
        assert isinstance(frames, list) and frames[0]["type"] == "hello"
        events = [f for f in frames if f["type"] == "event"]
        assert len(events) >= 3, frames
        walk.check_markers("the workbench socket", json.dumps(frames, ensure_ascii=False))
        if role == "agent":
            personal = ("violation.", "roster.", "leave.", "approval.")
            private = {f["kind"] for f in events if f["kind"].startswith(personal)}
            assert private == set(), private
    assert walk.problems == [], "\n".join(walk.problems)


async def test_another_shops_channel_reaches_nothing_of_this_shop(
    world: World, client: httpx.AsyncClient
) -> None:
    """The server-to-server doors: another shop's channel secret opens none of this shop's
    channels, and through its own channel sees none of this shop's orders."""
    far_id, far_secret = world.far_channel
    tea_id, _secret = world.channel
    far_auth = {"Authorization": f"Bearer {far_secret}"}
    assert (await client.get(f"/site/{tea_id}/orders/T-BO-1", headers=far_auth)).status_code == 401
    assert (await client.get(f"/site/{far_id}/orders/T-BO-1", headers=far_auth)).status_code == 404
    own = {"number": "F-SITE-1", "buyer_id": "fb", "items": [{"title": "布", "price_fen": 100}]}
    assert (await client.post(f"/site/{far_id}/orders", json=own, headers=far_auth)).is_success
    assert (await client.get(f"/site/{far_id}/orders/F-SITE-1", headers=far_auth)).is_success
    paid = await client.post(f"/site/{far_id}/orders/T-BO-1/close", json={}, headers=far_auth)
    assert paid.status_code == 404
    replies = await client.get(f"/b/bridge/{tea_id}/replies", headers=far_auth)
    assert replies.status_code == 401
    sent = await client.post(
        f"/b/bridge/{tea_id}/messages",
        json={"buyer_id": "x", "text": "hi", "client_id": "c1"},
        headers=far_auth,
    )
    assert sent.status_code == 401
