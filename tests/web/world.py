"""Two shops with everything in them, owned by different people: the role walk's world.

In the shop under test (``tea``) work ``mei`` and ``bo`` (pre-sales agents, one team),
``cai`` (an after-sales agent), a supervisor, a manager, an auditor, the warehouse and
an admin. Each object kind exists three times for ``mei`` to be kept from: ``bo``'s
(another agent of her team), the after-sales team's (another team) and the shop
``far``'s (another shop). Each private object carries a marker text, so a walk can
assert that a response never shows what its reader may not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import PASSWORD
from xiaoer.aftersales.cases import do_open_case_refund
from xiaoer.aftersales.models import Refund, TicketKind, TicketSource
from xiaoer.aftersales.refund_states import GoodsStatus, RefundKind, RefundStatus
from xiaoer.aftersales.tickets import (
    Opening,
    causes_of,
    do_open_from_conversation,
    do_take,
    open_ticket,
)
from xiaoer.assistant import kb
from xiaoer.assistant.approvals import do_request_approval
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.orders.changes import ChangeRequest, do_change_order
from xiaoer.orders.marks import do_flag
from xiaoer.orders.models import OrderTask
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.performance.attendance import do_request_leave, do_set_roster
from xiaoer.performance.violations import do_add_violation
from xiaoer.performance.worklog import do_write_log
from xiaoer.reception import phrases
from xiaoer.reception.autoreply import do_save_auto_reply
from xiaoer.reception.bridge import do_add_bridge_channel
from xiaoer.reception.calls import do_log_call
from xiaoer.reception.service import do_receive_buyer_message, do_set_presence
from xiaoer.sellercentre.models import ImportJob
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop, shop_today
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_add_staff

COLLEAGUE, OTHER_TEAM, OTHER_SHOP = "colleague", "other_team", "other_shop"
OWNERS = (COLLEAGUE, OTHER_TEAM, OTHER_SHOP)
# Who reads as whom in the walk: the role, and the account signing in.
ROLES = {
    "agent": "mei",
    "supervisor": "sup",
    "manager": "man",
    "auditor": "aud",
    "warehouse": "war",
    "admin": "adm",
}
DISCOUNT = "亲，给您便宜20块吧"  # beyond a junior's authority: it waits for approval


@dataclass
class World:
    shop: Shop
    far: Shop
    staff: dict[str, StaffAccount]
    # objects[owner][kind] = id (or a name, for what is addressed by name)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    # marker texts by what they are: a response a reader may not see must not hold them
    markers: dict[str, str] = field(default_factory=dict)
    channel: tuple[int, str] = (0, "")  # tea's bridge channel and its secret
    far_channel: tuple[int, str] = (0, "")


async def _staff(
    session: AsyncSession, shop: Shop, username: str, number: str, *roles: str,
    team: str = "presale",
) -> StaffAccount:  # fmt: skip
    return await do_add_staff(
        session, shop_id=shop.id, username=username, number=number, name=username.title(),
        password=PASSWORD, roles=roles, team=team,
    )  # fmt: skip


async def _chat(
    session: AsyncSession, shop: Shop, buyer: str, text: str, agent: StaffAccount | None,
    team: str = "presale",
) -> int:  # fmt: skip
    """A conversation of ``buyer``: routed to ``agent`` (online just then), or queued."""
    if agent is not None:
        await do_set_presence(session, agent=agent, status="online")
    customer = await do_get_or_create_customer(
        session, shop_id=shop.id, channel="widget", buyer_id=buyer, nick=buyer,
        phone="13912345678",
    )  # fmt: skip
    posted = await do_receive_buyer_message(
        session, shop=shop, customer=customer, text=text, team=team
    )
    if agent is not None:
        assert posted.conversation.agent_id == agent.id
        await do_set_presence(session, agent=agent, status="offline")
    else:
        assert posted.conversation.agent_id is None
    return posted.conversation.id


async def _order(
    session: AsyncSession, shop: Shop, number: str, owner: StaffAccount, phone: str
) -> tuple[int, int, int, int]:
    """An order the agent owns: a change of price waiting for the supervisor, then paid,
    with the confirmation task it gives the owner. (order, task, change, customer)."""
    new = NewOrder(
        number=number, buyer_id=f"buyer-{number}", items=(NewItem("定制窗帘", 50000),),
        buyer_nick=f"nick-{number}", receiver_name="收货人", receiver_phone=phone,
        receiver_address="浙江省杭州市西湖区文三路100号" + number,
    )  # fmt: skip
    order = await do_create_order(session, shop_id=shop.id, new=new)
    await do_flag(session, order=order, agent=owner, flag=1)
    change = await do_change_order(
        session, order=order, agent=owner, request=ChangeRequest(goods_fen=45000, reason="议价")
    )
    await do_pay_order(session, order=order)
    await session.flush()
    task = await session.scalar(select(OrderTask.id).where(OrderTask.order_id == order.id))
    assert task is not None and order.customer_id is not None
    return order.id, task, change.id, order.customer_id


async def _private(
    session: AsyncSession,
    shop: Shop,
    owner: StaffAccount,
    supervisor: StaffAccount,
    conversation: int,
    tag: str,
) -> dict[str, Any]:
    """An agent's own records: a draft waiting for approval, a fine, a shift, a leave, a
    work log, a quick phrase, a call. Each text carries ``tag``."""
    approval = await do_request_approval(
        session, agent=owner, conversation_id=conversation, text=f"{DISCOUNT}{tag}-DRAFT"
    )
    violation = await do_add_violation(
        session, supervisor=supervisor, agent_id=owner.id, rule="tracking_neglect",
        note=f"{tag}-FINE",
    )  # fmt: skip
    today = await shop_today(session, shop.id)
    roster = await do_set_roster(session, shop.id, owner.id, today + timedelta(days=2),
                                 "early", supervisor)  # fmt: skip
    start = utcnow() + timedelta(days=3)
    leave = await do_request_leave(session, owner, start, start + timedelta(hours=8),
                                   f"{tag}-LEAVE")  # fmt: skip
    await do_write_log(session, owner, today, f"{tag}-LOG problems", "solutions")
    phrase = await phrases.do_save_phrase(
        session, shop_id=shop.id, owner_id=owner.id,
        item=phrases.PhraseInput(shortcut=f"p{owner.id}", text=f"{tag}-PHRASE"),
    )  # fmt: skip
    await session.flush()
    return {
        "approval": approval.id,
        "violation": violation.id,
        "roster": roster.id,
        "leave": leave.id,
        "phrase": phrase.id,
        "staff": owner.id,
    }


async def build_world(db: Database, shop: Shop) -> World:
    async with db.session() as session:
        shop = await session.get(Shop, shop.id) or shop
        far = await do_create_shop(session, code="far", name="远方小店", default_courier="圆通")
        staff = {
            "mei": await _staff(session, shop, "mei", "1001", "agent"),
            "bo": await _staff(session, shop, "bo", "1002", "agent"),
            "cai": await _staff(session, shop, "cai", "1003", "agent", team="aftersale"),
            "sup": await _staff(session, shop, "sup", "1100", "supervisor"),
            "man": await _staff(session, shop, "man", "1101", "manager"),
            "aud": await _staff(session, shop, "aud", "1200", "auditor"),
            "war": await _staff(session, shop, "war", "1201", "warehouse"),
            "adm": await _staff(session, shop, "adm", "1300", "admin"),
            "far_agent": await _staff(session, far, "faragent", "2001", "agent"),
            "far_sup": await _staff(session, far, "farsup", "2100", "supervisor"),
        }
        world = World(shop, far, staff)
        world.markers = {
            "bo_chat": "BOCHAT-悄悄话",
            "after_queue": "AFTERQ-售后排队",
            "cai_chat": "CAICHAT-售后会话",
            "far_chat": "FARCHAT-远方",
            "bo_phone": "13912340002",
            "cai_phone": "13912340003",
        }
        bo_chat = await _chat(session, shop, "buyer-bo", world.markers["bo_chat"], staff["bo"])
        cai_chat = await _chat(session, shop, "buyer-cai", world.markers["cai_chat"],
                               staff["cai"], team="aftersale")  # fmt: skip
        queued = await _chat(session, shop, "buyer-q", world.markers["after_queue"], None,
                             team="aftersale")  # fmt: skip
        far_chat = await _chat(session, far, "buyer-far", world.markers["far_chat"],
                               staff["far_agent"])  # fmt: skip
        bo_order = await _order(session, shop, "T-BO-1", staff["bo"], world.markers["bo_phone"])
        cai_order = await _order(session, shop, "T-CAI-1", staff["cai"], world.markers["cai_phone"])
        far_order = await _order(session, far, "F-FAR-1", staff["far_agent"], "13912340009")
        world.objects = {
            COLLEAGUE: {
                **await _private(session, shop, staff["bo"], staff["sup"], bo_chat, "BO"),
                "conversation": bo_chat,
            },
            OTHER_TEAM: {
                **await _private(session, shop, staff["cai"], staff["sup"], cai_chat, "CAI"),
                "conversation": queued,  # waiting unassigned in the after-sales queue
            },
            OTHER_SHOP: {
                **await _private(
                    session, far, staff["far_agent"], staff["far_sup"], far_chat, "FAR"
                ),
                "conversation": far_chat,
            },
        }
        for owner, (order, task, change, customer) in (
            (COLLEAGUE, bo_order), (OTHER_TEAM, cai_order), (OTHER_SHOP, far_order),
        ):  # fmt: skip
            world.objects[owner].update(order=order, task=task, change=change, customer=customer)
        # after-sales: bo opened a case from his chat (queued), cai holds one with a refund,
        # the other shop has its own; and each shop's list of causes
        bo_ticket = await do_open_from_conversation(
            session, staff["bo"], bo_chat, kind=TicketKind.refund, subject="BO-TICKET",
            order_id=bo_order[0],
        )  # fmt: skip
        cai_ticket = await open_ticket(
            session, shop.id,
            Opening(TicketKind.refund, TicketSource.chat, "CAI-TICKET", order_id=cai_order[0],
                    conversation_id=cai_chat),
            by=staff["cai"],
        )  # fmt: skip
        await do_take(session, staff["cai"], cai_ticket.id)
        await do_open_case_refund(
            session, staff["cai"], cai_ticket.id, kind=RefundKind.refund_only, amount_fen=1000,
            reason="少件",
        )  # fmt: skip
        far_ticket = await open_ticket(
            session, far.id, Opening(TicketKind.refund, TicketSource.hand, "FAR-TICKET",
                                     order_id=far_order[0]), by=None,
        )  # fmt: skip
        world.objects[COLLEAGUE]["ticket"] = bo_ticket.id
        world.objects[OTHER_TEAM]["ticket"] = cai_ticket.id
        world.objects[OTHER_SHOP]["ticket"] = far_ticket.id
        await causes_of(session, shop.id)
        world.objects[OTHER_SHOP]["cause"] = (await causes_of(session, far.id))[0].id
        for tag in ("BO", "CAI", "FAR"):
            for what in ("DRAFT", "FINE", "LEAVE", "LOG", "PHRASE", "TICKET"):
                world.markers[f"{tag}-{what}"] = f"{tag}-{what}"
        # Shop-wide objects, and the other shop's: a knowledge entry, an automatic reply,
        # an import job, a call.
        for target, owner in ((shop, COLLEAGUE), (far, OTHER_SHOP)):
            entry = await kb.do_save_entry(
                session, shop_id=target.id,
                item=kb.EntryInput("stock", f"{target.code.upper()}-KB", "有货的亲"),
            )  # fmt: skip
            reply = await do_save_auto_reply(
                session, shop_id=target.id, reply_id=None, kind="keyword",
                keywords=[f"{target.code}词"], text=f"{target.code.upper()}-AUTO", active=True,
            )  # fmt: skip
            job = ImportJob(shop_id=target.id, files={}, summary={}, status="done")
            session.add(job)
            await session.flush()
            world.objects[owner].update(kb=entry.title, auto_reply=reply.id, job=job.id)
        world.markers.update({"FAR-KB": "FAR-KB", "FAR-AUTO": "FAR-AUTO"})
        await do_log_call(
            session, agent=staff["far_agent"], customer_id=world.objects[OTHER_SHOP]["customer"],
            summary="FAR-CALL", outcome="resolved",
        )  # fmt: skip
        world.markers["FAR-CALL"] = "FAR-CALL"
        channel, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="桥")
        far_channel, far_secret = await do_add_bridge_channel(
            session, shop_id=far.id, name="FAR-CHANNEL"
        )
        world.channel, world.far_channel = (channel.id, secret), (far_channel.id, far_secret)
        world.objects[OTHER_SHOP]["channel"] = far_channel.id
        world.markers["FAR-CHANNEL"] = "FAR-CHANNEL"
        await _fulfilment_track(session, shop, far, staff, world)
        await _fulfilment_audit(session, shop, far, staff, world)
        await _fulfilment_promise(session, shop, far, staff, world)
        await _fulfilment_ship(session, shop, far, world)
        await _fulfilment_stock(session, shop, far, world)
        await _customers_campaigns(session, shop, far, staff, world)
        await _customer_groups(session, shop, far, world)
        await _customer_merges(session, shop, far, staff, world)
        await _greetings(session, shop, far, world)
        await _members(session, shop, far, staff, world)
        await _peak_forecasts(session, shop, far, world)
        await _peak_modes(session, shop, far, world)
        await _activities(session, shop, far, staff, world)
        await _targets(session, shop, far, staff, world)
        await session.commit()
    return world


async def _fulfilment_track(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """A parcel of each owner's order, shipped and late to arrive (so it may be chased)."""
    from xiaoer.fulfilment.models import Shipment, StockLocation

    now = utcnow()
    places = {}
    for target in (shop, far):
        place = StockLocation(shop_id=target.id, code="TRACK", name="发货区")
        session.add(place)
        await session.flush()
        places[target.id] = place.id
    for owner, target, waybill in (
        (COLLEAGUE, shop, "SF7000000001"), (OTHER_TEAM, shop, "SF7000000002"),
        (OTHER_SHOP, far, "SF7000000003"),
    ):  # fmt: skip
        parcel = Shipment(
            shop_id=target.id, order_id=world.objects[owner]["order"],
            location_id=places[target.id], status="shipped", carrier="SF", waybill=waybill,
            ship_by=now - timedelta(days=2), shipped_at=now - timedelta(days=3),
            deliver_by=now - timedelta(hours=1),
        )  # fmt: skip
        session.add(parcel)
        await session.flush()
        world.objects[owner]["shipment"] = parcel.id


async def _fulfilment_audit(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """A custom curtain passed in each shop, so each has a production slip; bo's order
    in tea (the colleague's), the other shop's passed by its supervisor."""
    from xiaoer.catalog.models import Product, Sku
    from xiaoer.fulfilment.audit_actions import do_pass
    from xiaoer.fulfilment.ledger import Document, Line, post
    from xiaoer.fulfilment.models import MoveKind, ProductionSlip, StockLocation
    from xiaoer.orders.marks import do_write_note

    for target, owner, writer, auditor in (
        (shop, COLLEAGUE, staff["bo"], staff["aud"]),
        (far, OTHER_SHOP, staff["far_agent"], staff["far_sup"]),
    ):
        product = Product(shop_id=target.id, code="CUR", title="定制窗帘", price_fen=50000,
                          custom_made=True)  # fmt: skip
        session.add(product)
        await session.flush()
        sku = Sku(shop_id=target.id, product_id=product.id, code="CUR-300", price_fen=50000)
        place = StockLocation(shop_id=target.id, code="A", name="一号仓", position=1)
        session.add_all([sku, place])
        await session.flush()
        await post(session, target.id, MoveKind.receive, [Line(sku.id, place.id, 5)],
                   document=Document("receipt", ref="R-1"))  # fmt: skip
        number = f"{target.code.upper()}-CUR-1"
        order = await do_create_order(session, shop_id=target.id, new=NewOrder(
            number=number, buyer_id=f"buyer-{number}", buyer_nick=f"nick-{number}",
            items=(NewItem("定制窗帘", 50000, 1, "CUR-300", "尺寸：3米*2.4米"),),
            receiver_name="收货人", receiver_phone="13912340101",
            receiver_address="浙江省杭州市西湖区文三路1号",
        ))  # fmt: skip
        await do_write_note(session, order=order, author=writer,
                            text="刘贺,3米*2.4米,图案正常,12月19发货,自提")  # fmt: skip
        await do_pay_order(session, order=order)
        await do_pass(session, auditor, order.id)
        slip = await session.scalar(
            select(ProductionSlip.id).where(ProductionSlip.order_id == order.id)
        )
        world.objects[owner]["slip"] = slip


async def _fulfilment_promise(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """Returns coming back to the warehouse: one of the shop's (on bo's order), one of
    the other shop's, each a return-and-refund whose goods are on their way."""
    for target, owner, waybill in ((shop, COLLEAGUE, "YT0000000001"), (far, OTHER_SHOP,
                                                                       "FAR-RETURN")):  # fmt: skip
        refund = Refund(
            shop_id=target.id, order_id=world.objects[owner]["order"],
            kind=RefundKind.return_refund.value,
            status=RefundStatus.WAIT_SELLER_CONFIRM_GOODS.value,
            goods=GoodsStatus.BUYER_RETURNED_GOODS.value, amount_fen=1000, reason="不合适",
            return_carrier="圆通", return_waybill=waybill,
        )  # fmt: skip
        session.add(refund)
        await session.flush()
        world.objects[owner]["refund"] = refund.id
    world.markers["FAR-RETURN"] = "FAR-RETURN"


async def _fulfilment_ship(session: AsyncSession, shop: Shop, far: Shop, world: World) -> None:
    """A parcel waiting to be picked for each owner's order, at its shop's shelf."""
    from xiaoer.fulfilment.models import Shipment, ShipmentLine, StockLocation

    shelves = {}
    for target, code in ((shop, "TEA-SHELF"), (far, "FAR-SHELF")):
        shelves[target.id] = StockLocation(shop_id=target.id, code=code, name=f"{code}货架")
        session.add(shelves[target.id])
    await session.flush()
    for owner in OWNERS:
        order_id = world.objects[owner]["order"]
        target = far if owner == OTHER_SHOP else shop
        parcel = Shipment(shop_id=target.id, order_id=order_id, location_id=shelves[target.id].id)
        session.add(parcel)
        await session.flush()
        session.add(ShipmentLine(shipment_id=parcel.id, order_id=order_id, sku_code="WALK-1",
                                 quantity=1))  # fmt: skip
        world.objects[owner].update(parcel=parcel.id, pick_location=shelves[target.id].id)


async def _fulfilment_stock(session: AsyncSession, shop: Shop, far: Shop, world: World) -> None:
    """Each shop's SKU in stock at a location, and a stock-take of it being counted; the
    other shop's carry the marker ``FAR-STOCK``."""
    from xiaoer.catalog.models import Product, Sku
    from xiaoer.fulfilment.ledger import Document, Line, post
    from xiaoer.fulfilment.models import MoveKind, StockLocation, StockTake

    for target, owner, tag in ((shop, COLLEAGUE, "TEA"), (far, OTHER_SHOP, "FAR")):
        product = Product(shop_id=target.id, code=f"{tag}-P", title=f"{tag}-STOCK 窗帘",
                          price_fen=9900)  # fmt: skip
        session.add(product)
        await session.flush()
        sku = Sku(shop_id=target.id, product_id=product.id, code=f"{tag}-STOCK-1",
                  price_fen=9900)  # fmt: skip
        place = StockLocation(shop_id=target.id, code=f"{tag}-A", name=f"{tag}-STOCK 仓")
        session.add_all([sku, place])
        await session.flush()
        await post(session, target.id, MoveKind.receive, [Line(sku.id, place.id, 5)],
                   document=Document("receipt", ref=f"{tag}-STOCK-R"))  # fmt: skip
        take = StockTake(shop_id=target.id, location_id=place.id)
        session.add(take)
        await session.flush()
        world.objects[owner].update(sku=sku.id, location=place.id, take=take.id)
    world.markers["FAR-STOCK"] = "FAR-STOCK"


async def _customers_campaigns(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """A follow-up campaign of each owner: the supervisor's of bo's buyer on bo's list, of
    cai's buyer on cai's, the other shop's on its agent's; each from a hand group."""
    from xiaoer.customers.campaigns import do_start_campaign
    from xiaoer.customers.models import CampaignCall, CustomerGroup, CustomerGroupMember

    for owner, target, leader, agent, name in (
        (COLLEAGUE, shop, staff["sup"], staff["bo"], "回访一"),
        (OTHER_TEAM, shop, staff["sup"], staff["cai"], "回访二"),
        (OTHER_SHOP, far, staff["far_sup"], staff["far_agent"], "FAR-CAMPAIGN"),
    ):
        group = CustomerGroup(shop_id=target.id, name=f"{name}组", kind="hand")
        session.add(group)
        await session.flush()
        session.add(
            CustomerGroupMember(group_id=group.id, customer_id=world.objects[owner]["customer"])
        )
        await session.flush()
        campaign = await do_start_campaign(
            session, leader, name, f"{name}的话术", {"group_id": group.id}, "balanced", [agent.id]
        )
        call = await session.scalar(
            select(CampaignCall.id).where(CampaignCall.campaign_id == campaign.id)
        )
        world.objects[owner].update(campaign=campaign.id, campaign_call=call,
                                    campaign_group=group.id)  # fmt: skip
    world.markers["FAR-CAMPAIGN"] = "FAR-CAMPAIGN"


async def _customer_groups(session: AsyncSession, shop: Shop, far: Shop, world: World) -> None:
    """A hand group of each shop holding that shop's colleague's (or far's) customer."""
    from xiaoer.customers.models import CustomerGroup, CustomerGroupMember

    for target, owner in ((shop, COLLEAGUE), (far, OTHER_SHOP)):
        group = CustomerGroup(shop_id=target.id, name=f"{target.code.upper()}-GROUP", kind="hand")
        session.add(group)
        await session.flush()
        member = world.objects[owner]["customer"]
        session.add(CustomerGroupMember(group_id=group.id, customer_id=member))
        world.objects[owner]["customer_group"] = group.id
    world.markers["FAR-GROUP"] = "FAR-GROUP"


async def _customer_merges(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """Two buyers of one person merged by hand in each shop, by its supervisor."""
    from xiaoer.customers.merges import do_merge

    for target, owner, leader in ((shop, COLLEAGUE, staff["sup"]),
                                  (far, OTHER_SHOP, staff["far_sup"])):  # fmt: skip
        kept, other = [
            await do_get_or_create_customer(session, shop_id=target.id, channel=channel,
                                            buyer_id=f"merge-{target.code}-{channel}")
            for channel in ("taobao", "jd")
        ]  # fmt: skip
        merge = await do_merge(session, leader, kept.id, [other.id], "hand")
        world.objects[owner]["merge"] = merge.id


async def _greetings(session: AsyncSession, shop: Shop, far: Shop, world: World) -> None:
    """Each shop's own words for a holiday; the other shop's carry ``FAR-GREETING``."""
    from xiaoer.customers.models import GreetingTemplate

    for target, owner, tag in ((shop, COLLEAGUE, "TEA"), (far, OTHER_SHOP, "FAR")):
        template = GreetingTemplate(shop_id=target.id, kind="holiday", name="default",
                                    body=f"{{name}}，{tag}-GREETING 节日快乐")  # fmt: skip
        session.add(template)
        await session.flush()
        world.objects[owner]["greeting_template"] = template.id
    world.markers["FAR-GREETING"] = "FAR-GREETING"


async def _members(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """A member price of each shop's stock SKU, and points given to the other shop's
    customer with the reason ``FAR-POINTS``."""
    from xiaoer.customers.membership import do_set_member_price
    from xiaoer.customers.points import do_adjust_points

    for owner, leader in ((COLLEAGUE, staff["sup"]), (OTHER_SHOP, staff["far_sup"])):
        await do_set_member_price(session, leader, world.objects[owner]["sku"], "member", 8800)
    await do_adjust_points(
        session, staff["far_sup"], world.objects[OTHER_SHOP]["customer"], 5, "FAR-POINTS"
    )
    world.markers["FAR-POINTS"] = "FAR-POINTS"


async def _activities(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """A running 满减 of each shop, kept by its supervisor (the other shop's named
    ``FAR-ACTIVITY``), and a quiz each of bo, cai and the other shop's agent took."""
    from xiaoer.peakday.activities import ActivityInput, do_create_activity
    from xiaoer.peakday.activity_models import QuizAttempt

    now = utcnow()
    for owner, leader, name in ((COLLEAGUE, staff["sup"], "TEA-ACTIVITY"),
                                (OTHER_SHOP, staff["far_sup"], "FAR-ACTIVITY")):  # fmt: skip
        made = await do_create_activity(session, leader, ActivityInput(
            "full_reduction", name, "", now - timedelta(days=1), now + timedelta(days=9),
            {"tiers": "满299减30"}))  # fmt: skip
        world.objects[owner]["activity"] = made.id
    for owner, agent in ((COLLEAGUE, staff["bo"]), (OTHER_TEAM, staff["cai"]),
                         (OTHER_SHOP, staff["far_agent"])):  # fmt: skip
        attempt = QuizAttempt(shop_id=agent.shop_id, staff_id=agent.id, covers=[], answers=[],
                              score=1, total=1, passed=True, missed=[], fingerprint="")  # fmt: skip
        session.add(attempt)
        await session.flush()
        world.objects[owner]["quiz_attempt"] = attempt.id
    world.markers["FAR-ACTIVITY"] = "FAR-ACTIVITY"
async def _targets(
    session: AsyncSession, shop: Shop, far: Shop, staff: dict[str, StaffAccount], world: World
) -> None:
    """Shop targets (D3) running today: the whole shop's and the after-sales team's in
    ``tea`` (the team's, ``CAI-TARGET``, an agent of another team does not read), and the
    other shop's ``FAR-TARGET``."""
    from xiaoer.peakday.target_models import ShopTarget, TargetGoal
    from xiaoer.peakday.targets import TargetForm, do_add_target

    today = (await shop_today(session, shop.id)).isoformat()
    for owner, name, team in ((COLLEAGUE, "TEA-TARGET", ""),
                              (OTHER_TEAM, "CAI-TARGET", "aftersale")):  # fmt: skip
        form = TargetForm(period="event", name=name, starts=f"{today}T00:00",
                          ends=f"{today}T23:59", team=team, trades="5/10", sales="800")  # fmt: skip
        target = await do_add_target(session, staff["man"], form)
        world.objects[owner]["target"] = target.id
    now, hour = utcnow(), timedelta(hours=1)
    far_target = ShopTarget(shop_id=far.id, period="event", name="FAR-TARGET",
                            starts_at=now - hour, ends_at=now + hour)  # fmt: skip
    session.add(far_target)
    await session.flush()
    session.add(TargetGoal(target_id=far_target.id, measure="trades", goal=9, milestones=[9]))
    world.objects[OTHER_SHOP]["target"] = far_target.id
    world.markers.update({"FAR-TARGET": "FAR-TARGET", "CAI-TARGET": "CAI-TARGET"})


def forbidden_markers(world: World, role: str) -> dict[str, str]:
    """The markers a reader in ``role`` must never be shown."""
    far = {k: v for k, v in world.markers.items() if k.startswith("FAR") or k == "far_chat"}
    private = {
        k: v
        for k, v in world.markers.items()
        if k.startswith(("BO-", "CAI-")) or k in ("bo_chat", "cai_chat", "after_queue")
    }
    phones = {k: v for k, v in world.markers.items() if k.endswith("_phone")}
    if role in ("supervisor", "manager"):
        return far
    if role in ("auditor", "warehouse", "admin"):
        return {**far, **private}  # the back office sees phones, not conversations or people
    return {**far, **private, **phones}


async def _peak_forecasts(session: AsyncSession, shop: Shop, far: Shop, world: World) -> None:
    """A peak-day forecast of each shop, with one quarter-hour of sessions."""
    from datetime import UTC, date, datetime

    from xiaoer.peakday.models import Forecast, ForecastInterval

    for target, owner in ((shop, COLLEAGUE), (far, OTHER_SHOP)):
        forecast = Forecast(shop_id=target.id, name=f"{target.code.upper()}-FORECAST",
                            day=date(2026, 11, 11), measured={}, note="")  # fmt: skip
        session.add(forecast)
        await session.flush()
        session.add(ForecastInterval(forecast_id=forecast.id, team="presale", slot=40,
                                     starts_at=datetime(2026, 11, 11, 2, tzinfo=UTC),
                                     sessions=12.0, low=8.0, high=16.0))  # fmt: skip
        world.objects[owner]["peak_forecast"] = forecast.id
    world.markers["FAR-FORECAST"] = "FAR-FORECAST"


async def _peak_modes(session: AsyncSession, shop: Shop, far: Shop, world: World) -> None:
    """A peak mode of each shop, prepared for a day to come."""
    from datetime import UTC, datetime

    from xiaoer.peakday.models import PeakMode

    for target, owner in ((shop, COLLEAGUE), (far, OTHER_SHOP)):
        mode = PeakMode(shop_id=target.id, name=f"{target.code.upper()}-PEAK",
                        starts_at=datetime(2099, 11, 10, 16, tzinfo=UTC),
                        ends_at=datetime(2099, 11, 11, 16, tzinfo=UTC), status="scheduled",
                        refund_blackout=False, teams={}, saved_teams={}, note="")  # fmt: skip
        session.add(mode)
        await session.flush()
        world.objects[owner]["peak_mode"] = mode.id
    world.markers["FAR-PEAK"] = "FAR-PEAK"
