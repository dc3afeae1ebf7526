"""Follow-up campaigns (回访, R4): customers picked, split among agents, called, analysed.

A supervisor picks customers (a group of the shop, or a filter in the rule language of
``filters``), chooses agents and how to split them (``balanced``: as even as possible;
``seller``: to the agent who sold to the customer last, the others balanced), and each
customer becomes one ``campaign_call`` on one agent's list. The agent works the list
with the campaign's script and records each result: reached or not, satisfaction (only
of a customer reached), feedback, a problem raised and the next step. A problem opens
an after-sales case through ``aftersales.tickets``, once per call: a second recording
corrects the result and adds a line to that case, never a second one.

Who may: the leaders (and the administrator) start, read and close every campaign of
their shop; an agent reads a campaign only through the calls on their own list and
records only those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.aftersales.models import Ticket, TicketKind, TicketSource
from xiaoer.aftersales.tickets import Opening, add_line, open_ticket
from xiaoer.buyers.models import Customer
from xiaoer.buyers.privacy import mask_phone
from xiaoer.core.audit import record_audit
from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.events import record_event
from xiaoer.core.texts import say
from xiaoer.customers.filters import RuleError, matching_ids, parse_rule, rule_data
from xiaoer.customers.models import (
    Campaign,
    CampaignCall,
    CampaignSplit,
    CustomerGroup,
    CustomerGroupMember,
    GroupKind,
    OnlineProfile,
)
from xiaoer.customers.people import (
    MANAGERS,
    check_manager,
    check_reader,
    person_id,
    sees_personal,
)
from xiaoer.orders.models import CreditRole, Order, SalesCredit
from xiaoer.staff.models import Role, StaffAccount

MAX_NAME = 64
MAX_SCRIPT = 5000
MAX_TEXT = 2000
MAX_NEXT_STEP = 500
MAX_CALLS = 20_000  # a campaign larger than this is not worked by hand: narrow the pick
CHUNK = 2_000  # ids per IN list, within every database's limit of parameters

# What a buyer's problem is about; the page offers them, the record checks them.
PROBLEM_KINDS = ("quality", "size", "delivery", "service", "price", "other")
SATISFACTION = (1, 2, 3, 4, 5)
OPEN, CLOSED = "open", "closed"


class CampaignError(ValueError):
    """A campaign or a result that cannot be taken as given; the message says why."""


def is_campaign_leader(staff: StaffAccount) -> bool:
    """Leaders and the administrator see every campaign and every call of their shop."""
    return staff.has_role(*MANAGERS)


# --- starting -------------------------------------------------------------------------------


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


async def _group_ids(
    session: AsyncSession, staff: StaffAccount, group_id: Any, now: datetime
) -> tuple[list[int], dict[str, Any]]:
    if isinstance(group_id, bool) or not isinstance(group_id, int):
        raise CampaignError(say("choose a group"))
    group = await session.get(CustomerGroup, group_id)
    if group is None or group.shop_id != staff.shop_id:
        raise NotFound(say("the group chosen is not one of this shop's"))
    source: dict[str, Any] = {"group_id": group.id, "group": group.name, "kind": group.kind}
    if group.kind == GroupKind.hand.value:
        # Members as picked, each standing for the person it was merged into since.
        owner = Customer.__table__.alias("member")
        rows = await session.scalars(
            select(person_id())
            .select_from(CustomerGroupMember)
            .join(owner, owner.c.id == CustomerGroupMember.customer_id)
            .join(Customer, Customer.id == func.coalesce(owner.c.merged_into_id, owner.c.id))
            .where(
                CustomerGroupMember.group_id == group.id,
                Customer.shop_id == staff.shop_id,
                Customer.erased_at.is_(None),
            )
            .distinct()
        )
        return sorted(set(rows)), source
    try:
        conditions = parse_rule(group.rule)
    except RuleError as exc:
        raise CampaignError(
            say("the group's rule cannot be read: {reason}", reason=exc.args[0])
        ) from exc
    source["filter"] = rule_data(conditions)
    return await matching_ids(session, staff.shop_id, conditions, now), source


async def picked(
    session: AsyncSession, staff: StaffAccount, source: dict[str, Any], now: datetime
) -> tuple[list[int], dict[str, Any]]:
    """The persons a source picks, lowest id first, and the source as the campaign keeps
    it: ``{"group_id": n}`` (a group of the shop) or ``{"filter": [conditions]}``."""
    if not isinstance(source, dict):
        raise CampaignError(say("pick the customers: a group or a filter"))
    if "group_id" in source:
        return await _group_ids(session, staff, source["group_id"], now)
    if "filter" in source:
        conditions = parse_rule(source["filter"])  # a RuleError says which condition
        ids = await matching_ids(session, staff.shop_id, conditions, now)
        return ids, {"filter": rule_data(conditions)}
    raise CampaignError(say("pick the customers: a group or a filter"))


async def _agents(
    session: AsyncSession, staff: StaffAccount, agent_ids: Sequence[int]
) -> list[StaffAccount]:
    wanted = sorted(set(agent_ids))
    if not wanted:
        raise CampaignError(say("choose at least one agent"))
    rows = await session.scalars(select(StaffAccount).where(StaffAccount.id.in_(wanted)))
    found = {account.id: account for account in rows}
    agents = []
    for ident in wanted:
        account = found.get(ident)
        if account is None or account.shop_id != staff.shop_id:
            raise CampaignError(say("no agent {agent_id} in this shop", agent_id=ident))
        if not account.active:
            raise CampaignError(say("{name} is disabled", name=account.name))
        if not account.has_role(Role.agent.value):
            raise CampaignError(say("{name} is not an agent", name=account.name))
        agents.append(account)
    return agents


async def last_sellers(
    session: AsyncSession, shop_id: int, persons: Sequence[int]
) -> dict[int, int]:
    """Each person's seller: the agent credited with the sale of their last paid order in
    the sales ledger (O5), else the order's owner; persons with none are left out."""
    seller = func.coalesce(SalesCredit.agent_id, Order.owner_id)
    sellers: dict[int, int] = {}
    for chunk in _chunks(persons):
        rows = await session.execute(
            select(person_id().label("person"), seller.label("seller"))
            .select_from(Order)
            .join(Customer, Customer.id == Order.customer_id)
            .outerjoin(
                SalesCredit,
                and_(SalesCredit.order_id == Order.id, SalesCredit.role == CreditRole.owner.value),
            )
            .where(
                Order.shop_id == shop_id,
                Order.paid_at.is_not(None),
                seller.is_not(None),
                or_(Customer.id.in_(chunk), Customer.merged_into_id.in_(chunk)),
            )
            .order_by(Order.paid_at, Order.id)
        )
        for person, agent in rows:
            sellers[person] = agent  # the latest paid order comes last and stays
    return sellers


def split_calls(
    persons: Sequence[int], agents: Sequence[int], sellers: dict[int, int] | None = None
) -> dict[int, int]:
    """Person → agent. With ``sellers`` a person whose seller is among ``agents`` goes to
    them; everyone else, lowest id first, to the agent with the fewest so far (ties to
    the one listed first), so the lists are as even as the sellers allow."""
    load = dict.fromkeys(agents, 0)
    chosen: dict[int, int] = {}
    rest = []
    for person in sorted(persons):
        seller = (sellers or {}).get(person)
        if seller is not None and seller in load:
            chosen[person] = seller
            load[seller] += 1
        else:
            rest.append(person)
    for person in rest:
        agent = min(agents, key=lambda a: load[a])
        chosen[person] = agent
        load[agent] += 1
    return chosen


async def do_start_campaign(
    session: AsyncSession,
    staff: StaffAccount,
    name: str,
    script: str,
    source: dict[str, Any],
    split: str,
    agent_ids: Sequence[int],
    now: datetime | None = None,
) -> Campaign:
    """A new campaign with one call per picked customer on the chosen agents' lists;
    each agent is told of their new list."""
    check_manager(staff)
    moment = now or utcnow()
    name = name.strip()
    if not name:
        raise CampaignError(say("give the campaign a name"))
    if len(name) > MAX_NAME:
        raise CampaignError(say("a campaign's name has at most {n} characters", n=MAX_NAME))
    if len(script) > MAX_SCRIPT:
        raise CampaignError(say("a script has at most {n} characters", n=MAX_SCRIPT))
    if split not in CampaignSplit.__members__:
        raise CampaignError(say("split the calls evenly or by who sold"))
    agents = await _agents(session, staff, agent_ids)
    persons, kept = await picked(session, staff, source, moment)
    if not persons:
        raise CampaignError(say("the pick holds no customer"))
    if len(persons) > MAX_CALLS:
        raise CampaignError(
            say("{count} customers are picked; a campaign takes at most {n}",
                count=len(persons), n=MAX_CALLS)
        )  # fmt: skip
    order = [agent.id for agent in agents]
    sellers = await last_sellers(session, staff.shop_id, persons) if split == "seller" else None
    chosen = split_calls(persons, order, sellers)
    campaign = Campaign(
        shop_id=staff.shop_id, name=name, script=script.strip(), source=kept, split=split,
        status=OPEN, created_by_id=staff.id, created_at=moment,
    )  # fmt: skip
    session.add(campaign)
    await session.flush()
    rows = [
        {"campaign_id": campaign.id, "shop_id": staff.shop_id, "customer_id": person,
         "agent_id": agent}
        for person, agent in sorted(chosen.items())
    ]  # fmt: skip
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(CampaignCall), rows[start : start + CHUNK])
    counts = {agent: 0 for agent in order}
    for agent in chosen.values():
        counts[agent] += 1
    for agent, calls in counts.items():
        await record_event(
            session, staff.shop_id, "campaign.assigned",
            {"campaign_id": campaign.id, "name": name, "agent_id": agent, "calls": calls},
            at=moment,
        )  # fmt: skip
    await record_audit(
        session, shop_id=staff.shop_id, actor=staff.number, entity="campaign",
        entity_id=str(campaign.id), action="started",
        after={"name": name, "source": kept, "split": split, "calls": len(rows),
               "agents": {str(a): n for a, n in counts.items()}},
        at=moment,
    )  # fmt: skip
    return campaign


# --- reading --------------------------------------------------------------------------------


async def campaign_for(session: AsyncSession, staff: StaffAccount, campaign_id: int) -> Campaign:
    """A campaign of the reader's shop: any for a leader, one with a call on their own
    list for an agent."""
    check_reader(staff)
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or campaign.shop_id != staff.shop_id:
        raise NotFound(say("no such campaign"))
    if not is_campaign_leader(staff):
        mine = await session.scalar(
            select(CampaignCall.id)
            .where(CampaignCall.campaign_id == campaign.id, CampaignCall.agent_id == staff.id)
            .limit(1)
        )
        if mine is None:
            raise NotFound(say("no such campaign"))
    return campaign


@dataclass(frozen=True)
class Progress:
    campaign: Campaign
    calls: int
    done: int
    reached: int

    @property
    def share(self) -> float:
        return self.done / self.calls if self.calls else 0.0


async def campaigns_of(
    session: AsyncSession, staff: StaffAccount, *, open_only: bool = False
) -> list[Progress]:
    """Campaigns newest first with their progress: every one of the shop for a leader;
    for an agent the ones with calls on their list, counting only those."""
    check_reader(staff)
    done = func.sum(case((CampaignCall.done_at.is_not(None), 1), else_=0))
    reached = func.sum(case((CampaignCall.reached.is_(True), 1), else_=0))
    query = (
        select(Campaign, func.count(CampaignCall.id), done, reached)
        .join(CampaignCall, CampaignCall.campaign_id == Campaign.id)
        .where(Campaign.shop_id == staff.shop_id)
        .group_by(Campaign.id)
        .order_by(Campaign.id.desc())
    )
    if not is_campaign_leader(staff):
        query = query.where(CampaignCall.agent_id == staff.id)
    if open_only:
        query = query.where(Campaign.status == OPEN)
    rows = await session.execute(query)
    return [Progress(c, int(n), int(d or 0), int(r or 0)) for c, n, d, r in rows]


@dataclass
class CallView:
    """One line of an agent's list: the call, who to call and what is known of them."""

    call: CampaignCall
    agent: str
    nick: str
    name: str
    phone: str
    best_hours: str
    last_purchase: datetime | None
    ticket_id: int | None = None
    form: dict[str, str] = field(default_factory=dict)


def best_hours(hours: Sequence[float], top: int = 3) -> str:
    """The hours of the day a customer is most often online, as ``20:00–22:00、12:00–13:00``:
    the 168 shares of the week summed by hour, the best ``top`` hours, neighbours joined."""
    if len(hours) != 168 or not any(hours):
        return ""
    by_hour = [sum(hours[day * 24 + hour] for day in range(7)) for hour in range(24)]
    best = sorted(sorted(range(24), key=lambda h: (-by_hour[h], h))[:top])
    spans: list[list[int]] = []
    for hour in best:
        if spans and spans[-1][1] == hour:
            spans[-1][1] = hour + 1
        else:
            spans.append([hour, hour + 1])
    return "、".join(f"{start:02d}:00–{end:02d}:00" for start, end in spans)


async def my_calls(
    session: AsyncSession,
    staff: StaffAccount,
    campaign_id: int,
    *,
    agent_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[Campaign, list[CallView]]:
    """A campaign's list as the reader works it: an agent's own calls only; a leader's
    every call, or one agent's with ``agent_id``; a page of it with ``limit`` and
    ``offset``. Calls still to make come first. The
    phone is in full while the campaign is open: its agent must call the number; once
    closed an agent reads it masked, as elsewhere."""
    campaign = await campaign_for(session, staff, campaign_id)
    query = (
        select(CampaignCall, Customer, StaffAccount.name, OnlineProfile.hours)
        .join(Customer, Customer.id == CampaignCall.customer_id)
        .outerjoin(StaffAccount, StaffAccount.id == CampaignCall.agent_id)
        .outerjoin(OnlineProfile, OnlineProfile.customer_id == CampaignCall.customer_id)
        .where(CampaignCall.campaign_id == campaign.id)
        .order_by(CampaignCall.done_at.is_not(None), CampaignCall.id)
    )
    if not is_campaign_leader(staff):
        query = query.where(CampaignCall.agent_id == staff.id)
    elif agent_id is not None:
        query = query.where(CampaignCall.agent_id == agent_id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    rows = list(await session.execute(query))
    # The agent needs the number while the list is worked; once closed it is read only.
    full = sees_personal(staff) or campaign.status == OPEN
    persons = [customer.id for _, customer, _, _ in rows]
    last = await _last_purchases(session, campaign.shop_id, persons)
    phones = await _phones(session, campaign.shop_id, [c.id for _, c, _, _ in rows if not c.phone])
    views = []
    for call, customer, agent, hours in rows:
        views.append(
            CallView(
                call=call, agent=agent or "", nick=customer.nick, name=customer.name,
                phone=_shown(customer.phone or phones.get(customer.id, ""), full),
                best_hours=best_hours(hours or []), last_purchase=last.get(customer.id),
                ticket_id=call.ticket_id,
            )
        )  # fmt: skip
    return campaign, views


def _shown(phone: str, full: bool) -> str:
    return phone if full or not phone else mask_phone(phone)


async def _last_purchases(
    session: AsyncSession, shop_id: int, persons: Sequence[int]
) -> dict[int, datetime]:
    found: dict[int, datetime] = {}
    for chunk in _chunks(persons):
        rows = await session.execute(
            select(person_id(), func.max(Order.paid_at))
            .select_from(Order)
            .join(Customer, Customer.id == Order.customer_id)
            .where(
                Order.shop_id == shop_id,
                Order.paid_at.is_not(None),
                or_(Customer.id.in_(chunk), Customer.merged_into_id.in_(chunk)),
            )
            .group_by(person_id())
        )
        found.update({person: at for person, at in rows if at is not None})
    return found


async def _phones(session: AsyncSession, shop_id: int, persons: Sequence[int]) -> dict[int, str]:
    """A phone of a buyer merged into each person, for persons without their own."""
    found: dict[int, str] = {}
    for chunk in _chunks(persons):
        rows = await session.execute(
            select(Customer.merged_into_id, Customer.phone)
            .where(
                Customer.shop_id == shop_id,
                Customer.merged_into_id.in_(chunk),
                Customer.phone != "",
            )
            .order_by(Customer.id)
        )
        for person, phone in rows:
            if person is not None:
                found.setdefault(person, phone)
    return found


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """What the agent recorded of one call."""

    reached: bool
    satisfaction: int | None = None
    feedback: str = ""
    problem_kind: str = ""
    problem: str = ""
    next_step: str = ""


def check_result(result: Result) -> Result:
    """The result as it may be kept, or the reason it may not."""
    feedback, problem, next_step = (
        result.feedback.strip(), result.problem.strip(), result.next_step.strip()
    )  # fmt: skip
    if result.satisfaction is not None:
        if not result.reached:
            raise CampaignError(say("satisfaction is asked only of a customer reached"))
        if result.satisfaction not in SATISFACTION:
            raise CampaignError(say("satisfaction is from 1 to 5"))
    if result.problem_kind and result.problem_kind not in PROBLEM_KINDS:
        raise CampaignError(say("no kind of problem {kind!r}", kind=result.problem_kind))
    if (result.problem_kind or problem) and not result.reached:
        raise CampaignError(say("a problem is raised only by a customer reached"))
    if problem and not result.problem_kind:
        raise CampaignError(say("choose what the problem is about"))
    if result.problem_kind and not problem:
        raise CampaignError(say("say what the problem is"))
    for text, most in ((feedback, MAX_TEXT), (problem, MAX_TEXT), (next_step, MAX_NEXT_STEP)):
        if len(text) > most:
            raise CampaignError(say("a text of the result has at most {n} characters", n=most))
    return Result(result.reached, result.satisfaction, feedback, result.problem_kind, problem,
                  next_step)  # fmt: skip


async def call_for(session: AsyncSession, staff: StaffAccount, call_id: int) -> CampaignCall:
    """A call of the reader's shop that the reader may act on: their own, or any for a
    leader."""
    check_reader(staff)
    call = await session.get(CampaignCall, call_id)
    if call is None or call.shop_id != staff.shop_id:
        raise NotFound(say("no such call"))
    if call.agent_id != staff.id and not is_campaign_leader(staff):
        raise NotPermitted(say("only the agent whose list holds this call, or a leader, "
                               "records its result"))  # fmt: skip
    return call


def _said(call: CampaignCall) -> dict[str, Any]:
    return {"reached": call.reached, "satisfaction": call.satisfaction,
            "feedback": call.feedback, "problem_kind": call.problem_kind,
            "problem": call.problem, "next_step": call.next_step,
            "ticket_id": call.ticket_id}  # fmt: skip


async def _last_order(session: AsyncSession, shop_id: int, person: int) -> int | None:
    return await session.scalar(
        select(Order.id)
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Order.shop_id == shop_id,
            Order.paid_at.is_not(None),
            or_(Customer.id == person, Customer.merged_into_id == person),
        )
        .order_by(Order.paid_at.desc(), Order.id.desc())
        .limit(1)
    )


async def _open_case(
    session: AsyncSession, staff: StaffAccount, campaign: Campaign, call: CampaignCall,
    result: Result, moment: datetime,
) -> Ticket:  # fmt: skip
    """The after-sales case of a problem raised: a complaint (S3: the buyer's words kept
    as said, a next reply promised, a major one reported), from a phone call, about the
    customer and their last order, naming the campaign."""
    subject = f"回访「{campaign.name}」：{PROBLEM_SAID[result.problem_kind]}"
    opening = Opening(
        TicketKind.complaint, TicketSource.phone, subject,
        order_id=await _last_order(session, campaign.shop_id, call.customer_id),
        customer_id=call.customer_id, words=result.problem,
    )  # fmt: skip
    ticket = await open_ticket(session, campaign.shop_id, opening, by=staff, now=moment)
    await add_line(
        session, ticket, staff, "note",
        say("raised on follow-up {campaign}: {problem}", campaign=campaign.name,
            problem=result.problem),
        why="；".join(text for text in (result.feedback, result.next_step) if text),
        internal=True, at=moment,
    )  # fmt: skip
    return ticket


# The case's subject names the problem in the shop's words (Chinese, as its cases are).
PROBLEM_SAID = {
    "quality": "质量问题",
    "size": "尺码问题",
    "delivery": "物流配送问题",
    "service": "服务问题",
    "price": "价格问题",
    "other": "其他问题",
}


async def do_record_result(
    session: AsyncSession,
    staff: StaffAccount,
    call_id: int,
    reached: bool,
    satisfaction: int | None = None,
    feedback: str = "",
    problem_kind: str = "",
    problem: str = "",
    next_step: str = "",
    now: datetime | None = None,
) -> CampaignCall:
    """The result of a call, by its agent or a leader; recorded again it is corrected.
    A problem raised opens one after-sales case for the call, the first time only."""
    moment = now or utcnow()
    call = await call_for(session, staff, call_id)
    campaign = await session.get(Campaign, call.campaign_id)
    assert campaign is not None
    if campaign.status != OPEN:
        raise CampaignError(say("the campaign is closed"))
    result = check_result(Result(reached, satisfaction, feedback, problem_kind, problem, next_step))
    before = _said(call) if call.done_at is not None else None
    call.reached = result.reached
    call.satisfaction = result.satisfaction
    call.feedback = result.feedback
    call.next_step = result.next_step
    problem_changed = (result.problem_kind, result.problem) != (call.problem_kind, call.problem)
    call.problem_kind = result.problem_kind
    call.problem = result.problem
    if call.done_at is None:
        call.done_at = moment
    if result.problem_kind:
        if call.ticket_id is None:
            call.ticket_id = (await _open_case(session, staff, campaign, call, result, moment)).id
        elif problem_changed:
            ticket = await session.get(Ticket, call.ticket_id)
            if ticket is not None:
                await add_line(
                    session, ticket, staff, "note",
                    say("corrected on follow-up {campaign}: {problem}", campaign=campaign.name,
                        problem=result.problem),
                    internal=True, at=moment,
                )  # fmt: skip
    await session.flush()
    await record_audit(
        session, shop_id=campaign.shop_id, actor=staff.number, entity="campaign_call",
        entity_id=str(call.id), action="corrected" if before else "recorded", before=before,
        after=_said(call), at=moment,
    )  # fmt: skip
    return call


async def do_close_campaign(
    session: AsyncSession, staff: StaffAccount, campaign_id: int, now: datetime | None = None
) -> Campaign:
    """A campaign closed: its lists are read, no longer worked."""
    check_manager(staff)
    moment = now or utcnow()
    campaign = await campaign_for(session, staff, campaign_id)
    if campaign.status != OPEN:
        raise CampaignError(say("the campaign is closed"))
    campaign.status = CLOSED
    campaign.closed_at = moment
    await record_event(
        session, campaign.shop_id, "campaign.closed",
        {"campaign_id": campaign.id, "name": campaign.name, "by": staff.id}, at=moment,
    )  # fmt: skip
    await record_audit(
        session, shop_id=campaign.shop_id, actor=staff.number, entity="campaign",
        entity_id=str(campaign.id), action="closed", at=moment,
    )  # fmt: skip
    return campaign


# --- analysis -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentProgress:
    agent_id: int | None
    name: str
    calls: int
    done: int
    reached: int
    satisfaction: float | None


@dataclass(frozen=True)
class Analysis:
    campaign: Campaign
    calls: int
    done: int
    reached: int
    satisfaction: float | None  # the average of the answers given
    distribution: dict[int, int]  # 1..5 → how many answered so
    problems: dict[str, int]  # kind → how many, every kind listed
    agents: list[AgentProgress]
    tickets: int

    @property
    def reach_rate(self) -> float | None:
        """Reached of the calls made (a call not yet made counts for neither)."""
        return self.reached / self.done if self.done else None


async def analysis(session: AsyncSession, staff: StaffAccount, campaign_id: int) -> Analysis:
    """A campaign's figures, for its leaders: reach, satisfaction, problems, each agent."""
    check_manager(staff)
    campaign = await campaign_for(session, staff, campaign_id)
    mine = CampaignCall.campaign_id == campaign.id
    done = func.sum(case((CampaignCall.done_at.is_not(None), 1), else_=0))
    reached = func.sum(case((CampaignCall.reached.is_(True), 1), else_=0))
    rows = await session.execute(
        select(CampaignCall.agent_id, StaffAccount.name, func.count(CampaignCall.id), done,
               reached, func.avg(CampaignCall.satisfaction))
        .outerjoin(StaffAccount, StaffAccount.id == CampaignCall.agent_id)
        .where(mine)
        .group_by(CampaignCall.agent_id, StaffAccount.name)
        .order_by(StaffAccount.name, CampaignCall.agent_id)
    )  # fmt: skip
    agents = [
        AgentProgress(agent, name or "", int(n), int(d or 0), int(r or 0),
                      float(avg) if avg is not None else None)
        for agent, name, n, d, r, avg in rows
    ]  # fmt: skip
    distribution = dict.fromkeys(SATISFACTION, 0)
    for score, count in await session.execute(
        select(CampaignCall.satisfaction, func.count())
        .where(mine, CampaignCall.satisfaction.is_not(None))
        .group_by(CampaignCall.satisfaction)
    ):
        distribution[int(score or 0)] = int(count)
    problems = dict.fromkeys(PROBLEM_KINDS, 0)
    for kind, count in await session.execute(
        select(CampaignCall.problem_kind, func.count())
        .where(mine, CampaignCall.problem_kind != "")
        .group_by(CampaignCall.problem_kind)
    ):
        problems[kind] = int(count)
    tickets = await session.scalar(
        select(func.count())
        .select_from(CampaignCall)
        .where(mine, CampaignCall.ticket_id.is_not(None))
    )
    answered = sum(distribution.values())
    average = (
        sum(score * count for score, count in distribution.items()) / answered if answered else None
    )
    return Analysis(
        campaign=campaign, calls=sum(a.calls for a in agents), done=sum(a.done for a in agents),
        reached=sum(a.reached for a in agents), satisfaction=average, distribution=distribution,
        problems=problems, agents=agents, tickets=int(tickets or 0),
    )  # fmt: skip


__all__ = [
    "PROBLEM_KINDS",
    "Analysis",
    "CallView",
    "CampaignError",
    "Result",
    "analysis",
    "best_hours",
    "call_for",
    "campaign_for",
    "campaigns_of",
    "do_close_campaign",
    "do_record_result",
    "do_start_campaign",
    "my_calls",
    "picked",
    "split_calls",
]


# --- what a leader picks from -----------------------------------------------------------------


async def agents_to_choose(session: AsyncSession, staff: StaffAccount) -> list[StaffAccount]:
    """The shop's active agents, by number, for a new campaign's lists."""
    check_manager(staff)
    rows = await session.scalars(
        select(StaffAccount)
        .where(StaffAccount.shop_id == staff.shop_id, StaffAccount.active.is_(True))
        .order_by(StaffAccount.number, StaffAccount.id)
    )
    return [account for account in rows if account.has_role(Role.agent.value)]


async def groups_to_choose(session: AsyncSession, staff: StaffAccount) -> list[CustomerGroup]:
    """The shop's groups, by name, for a new campaign's pick."""
    check_manager(staff)
    rows = await session.scalars(
        select(CustomerGroup)
        .where(CustomerGroup.shop_id == staff.shop_id)
        .order_by(CustomerGroup.name, CustomerGroup.id)
    )
    return list(rows)


async def results_of(
    session: AsyncSession, staff: StaffAccount, campaign_id: int
) -> tuple[Campaign, list[CallView]]:
    """Every call of a campaign with its result, for its leaders' workbook."""
    check_manager(staff)
    return await my_calls(session, staff, campaign_id)
