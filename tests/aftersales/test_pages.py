"""The after-sales pages through the real app: the desk, a case worked end to end, the
supervisor's view, the list's filters and export, and an after-sales agent against a
teammate's, another team's and another shop's tickets."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.aftersales.cases import do_case_move, do_open_case_refund
from xiaoer.aftersales.models import Refund, SellerReview, Ticket, TicketKind, TicketSource
from xiaoer.aftersales.refund_states import Move, RefundKind
from xiaoer.aftersales.tickets import Opening, causes_of, do_close, do_take, open_ticket
from xiaoer.core.db import Database
from xiaoer.core.policy import parse_policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.orders.models import Order
from xiaoer.orders.site_orders import NewItem, NewOrder, do_create_order, do_pay_order
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop, shop_today


async def _order(db: Database, shop_id: int, number: str, price_fen: int) -> int:
    async with db.session() as session:
        new = NewOrder(number=number, buyer_id=f"b-{number}", items=(NewItem("窗帘", price_fen),))
        order = await do_create_order(session, shop_id=shop_id, new=new)
        await do_pay_order(session, order=order)
        await session.commit()
        return order.id


async def _ticket(db: Database, shop_id: int, subject: str, order_id: int | None = None) -> int:
    async with db.session() as session:
        opening = Opening(TicketKind.refund, TicketSource.hand, subject, order_id=order_id)
        ticket = await open_ticket(session, shop_id, opening, by=None)
        await session.commit()
        return ticket.id


async def _post(client: httpx.AsyncClient, path: str, **form: str) -> httpx.Response:
    token = csrf_from((await client.get("/aftersales")).text)
    return await client.post(path, data={**form, "csrf_token": token})


async def test_an_agent_takes_the_oldest_ticket_and_closes_a_refund_end_to_end(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("ling", team="aftersale", level="intermediate")  # authority ¥100.00
    order_id = await _order(db, shop.id, "P-1", 8800)
    first = await _ticket(db, shop.id, "尺码不合适要退", order_id)
    await _ticket(db, shop.id, "第二单")
    assert (await sign_in(client, "ling")).status_code == 303
    desk = await client.get("/aftersales")
    assert desk.status_code == 200 and "尺码不合适要退" in desk.text
    taken = await _post(client, "/aftersales/take-next")
    assert taken.status_code == 303 and taken.headers["location"] == f"/aftersales/tickets/{first}"
    path = f"/aftersales/tickets/{first}"
    bad = await _post(client, f"{path}/refund", kind="refund_only", amount="88.01", reason="尺码")
    assert bad.status_code == 422 and "最多还能退 8800 分" in bad.text
    ok = await _post(client, f"{path}/refund", kind="refund_only", amount="88.00", reason="尺码")
    assert ok.status_code == 303
    agreed = await _post(client, f"{path}/refund/agree")
    assert agreed.status_code == 303
    unfinished = await _post(client, f"{path}/close", cause="999999", outcome="refunded")
    assert unfinished.status_code == 422 and "请从店铺的原因列表中选择" in unfinished.text
    page = await client.get(path)
    cause = re.search(r'<option value="(\d+)">尺码不合适</option>', page.text)
    assert cause is not None and "退款成功" in page.text
    closed = await _post(client, f"{path}/close", cause=cause.group(1), outcome="refunded")
    assert closed.status_code == 303, re.findall(r'role="alert"[^>]*>([^<]*)', closed.text)
    async with db.session() as session:
        ticket = await session.get(Ticket, first)
        order = await session.get(Order, order_id)
        assert ticket is not None and ticket.status == "closed" and ticket.outcome == "refunded"
        assert order is not None and order.refunded_fen == 8800
    page = await client.get(path)
    assert "结案：尺码不合适，已退款" in page.text


async def test_above_authority_the_supervisor_approves_from_the_supervisor_view(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("ling", team="aftersale")  # junior: ¥30.00
    await make_staff("boss", "supervisor")
    order_id = await _order(db, shop.id, "P-2", 9900)
    ticket_id = await _ticket(db, shop.id, "质量问题", order_id)
    await sign_in(client, "ling")
    path = f"/aftersales/tickets/{ticket_id}"
    await _post(client, f"{path}/take")
    await _post(client, f"{path}/refund", kind="refund_only", amount="50", reason="开线")
    above = await _post(client, f"{path}/refund/agree")
    assert above.status_code == 422 and "超出你的权限 ¥30.00" in above.text
    asked = await _post(client, f"{path}/refund/ask", reason="质量问题")
    assert asked.status_code == 303
    await _post(client, "/logout")
    await sign_in(client, "boss")
    view = await client.get("/aftersales/supervise")
    assert view.status_code == 200 and "¥50.00" in view.text and f"{path}" in view.text
    approved = await _post(client, f"{path}/refund/decide", approve="yes", note="同意")
    assert approved.status_code == 303
    async with db.session() as session:
        refund = await session.scalar(select(Refund).where(Refund.order_id == order_id))
        assert refund is not None and (refund.status, refund.approval) == ("SUCCESS", "approved")


async def test_the_peak_day_holds_agreements_and_lists_them_with_the_platform_deadline(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    async with db.session() as session:
        today = await shop_today(session, shop.id)
        policy = parse_policy(f'[aftersales]\nrefund_blackout_days = ["{today:%m-%d}"]\n')
        await do_apply_policy(session, shop_id=shop.id, policy=policy, source="test",
                              effective_from=today, actor="test")  # fmt: skip
        await session.commit()
    order_id = await _order(db, shop.id, "P-3", 5000)
    ticket_id = await _ticket(db, shop.id, "大促退款", order_id)
    await sign_in(client, "boss")
    path = f"/aftersales/tickets/{ticket_id}"
    await _post(client, f"{path}/refund", kind="refund_only", amount="20", reason="不想要了")
    async with db.session() as session:
        refund = await session.scalar(select(Refund).where(Refund.order_id == order_id))
        assert refund is not None
        refund.deadline_at = datetime(2030, 1, 2, 4, 0, tzinfo=UTC)
        await session.commit()
    held = await _post(client, f"{path}/refund/agree")
    assert held.status_code == 422 and "平台" in held.text
    view = await client.get("/aftersales/supervise")
    section = view.text.split('id="held"')[1].split("</section>")[0]
    assert "¥20.00" in section and "2030-01-02 12:00" in section and "（1）" in section
    sheet = await client.get("/aftersales/held.xlsx")
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert [r[1:3] for r in rows[1:]] == [(20, "2030-01-02 12:00")]


async def test_an_aftersales_agent_reads_the_teams_tickets_and_acts_only_on_their_own(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("ling", team="aftersale")
    mate = await make_staff("fang", team="aftersale")
    await make_staff("xiao", team="presale")
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方", default_courier="圆通")
        await session.commit()
    theirs = await _ticket(db, shop.id, "同事的工单")
    elsewhere = await _ticket(db, far.id, "FAR-远方工单")
    async with db.session() as session:
        ticket = await session.get(Ticket, theirs)
        assert ticket is not None
        ticket.status, ticket.owner_id = "taken", mate.id
        await session.commit()
    await sign_in(client, "ling")
    assert (await client.get(f"/aftersales/tickets/{theirs}")).status_code == 200
    base = f"/aftersales/tickets/{theirs}"
    # a note is for anyone who sees the case; its work is the owner's
    assert (await _post(client, f"{base}/note", text="买家下午在家")).status_code == 303
    assert (await _post(client, f"{base}/escalate", reason="复杂")).status_code == 403
    assert (await _post(client, f"{base}/close", cause="1", outcome="other")).status_code == 403
    assert (await _post(client, f"{base}/take")).status_code == 422  # not in the queue
    assert (await client.get(f"/aftersales/tickets/{elsewhere}")).status_code == 404
    assert (await _post(client, f"/aftersales/tickets/{elsewhere}/take")).status_code == 404
    listed = await client.get("/aftersales/tickets")
    assert "同事的工单" in listed.text and "FAR-远方工单" not in listed.text
    await _post(client, "/logout")
    await sign_in(client, "xiao")
    assert (await client.get("/aftersales")).status_code == 403
    assert (await client.get(f"/aftersales/tickets/{theirs}")).status_code == 404
    home = await client.get("/")
    assert 'href="/aftersales"' not in home.text  # the menu shows the desk to its team only


async def test_the_list_filters_pages_and_exports_what_it_shows(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    for number in range(55):
        await _ticket(db, shop.id, f"工单{number:02d}")
    await sign_in(client, "boss")
    first = await client.get("/aftersales/tickets")
    assert first.status_code == 200 and "工单54" in first.text and "工单04" not in first.text
    nxt = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert nxt is not None
    second = await client.get(nxt.group(1).replace("&amp;", "&"))
    assert "工单04" in second.text and "工单54" not in second.text
    found = await client.get("/aftersales/tickets", params={"q": "工单07"})
    assert "工单07" in found.text and "工单08" not in found.text
    sheet = await client.get("/aftersales/tickets", params={"q": "工单0", "export": "xlsx"})
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "工单号" and sorted(r[3] for r in rows[1:]) == [
        f"工单0{n}" for n in range(10)
    ]
    assert all(isinstance(r[0], int) for r in rows[1:])  # the ticket number is a number


async def test_causes_and_costs_count_each_cut_and_drill_down_to_the_cases(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    ling = await make_staff("ling", team="aftersale", level="senior")
    await make_staff("boss", "supervisor")
    closed_at = datetime(2026, 11, 3, 4, 0, tzinfo=UTC)  # 12:00 on the 3rd in Shanghai
    async with db.session() as session:
        staff = await session.get(type(ling), ling.id)
        assert staff is not None
        causes = {c.name: c.id for c in await causes_of(session, shop.id)}
        await session.commit()
    plan = (("S-1", 9900, "尺码不合适", 9900), ("S-2", 5000, "尺码不合适", 2000),
            ("S-3", 7000, "质量问题", 0))  # fmt: skip
    for number, price, cause, refund in plan:
        order_id = await _order(db, shop.id, number, price)
        ticket_id = await _ticket(db, shop.id, f"案-{number}", order_id)
        async with db.session() as session:
            staff = await session.get(type(ling), ling.id)
            assert staff is not None
            await do_take(session, staff, ticket_id, now=closed_at)
            if refund:
                await do_open_case_refund(
                    session, staff, ticket_id, kind=RefundKind.refund_only, amount_fen=refund,
                    reason="退", now=closed_at,
                )  # fmt: skip
                await do_case_move(session, staff, ticket_id, Move.agree, now=closed_at)
            outcome = "refunded" if refund else "explained"
            await do_close(
                session, staff, ticket_id, cause_id=causes[cause], outcome=outcome, now=closed_at
            )
            await session.commit()
    await sign_in(client, "boss")
    page = await client.get("/aftersales/report", params={"month": "2026-11"})
    assert page.status_code == 200
    assert "本月结案 3 单，退款合计 ¥119.00" in page.text
    by_cause = page.text.split('id="by-cause"')[1].split("</section>")[0]
    rows = re.findall(r"<td>([^<]+)</td><td><a href=\"([^\"]+)\">(\d+)</a></td><td>¥([\d.]+)</td>",
                      by_cause)  # fmt: skip
    assert [(name, int(n), amount) for name, _, n, amount in rows] == [
        ("尺码不合适", 2, "119.00"),
        ("质量问题", 1, "0.00"),
    ]
    listed = await client.get(rows[0][1].replace("&amp;", "&"))
    assert "案-S-1" in listed.text and "案-S-2" in listed.text and "案-S-3" not in listed.text
    assert "<svg" in page.text and "尺码不合适" in page.text.split('id="trend"')[1][:4000]
    token = csrf_from(page.text)
    form = {"month": "2026-11", "text": "尺码表放首图", "csrf_token": token}
    saved = await client.post("/aftersales/report/proposals", data=form)
    assert saved.status_code == 303
    again = await client.get("/aftersales/report", params={"month": "2026-11"})
    assert "尺码表放首图" in again.text
    sheet = await client.get("/aftersales/report", params={"month": "2026-11", "export": "xlsx"})
    rows_out = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert ("按原因", "尺码不合适", 2, 119) in [tuple(r) for r in rows_out]
    assert (await client.get("/aftersales/report", params={"month": "2026-13"})).status_code == 422
    await _post(client, "/logout")
    await sign_in(client, "ling")
    assert (await client.get("/aftersales/report")).status_code == 403


async def test_the_shop_reviews_finished_trades_from_its_template(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("ling", team="aftersale")
    finished = []
    for number in ("F-1", "F-2"):
        order_id = await _order(db, shop.id, number, 5000)
        async with db.session() as session:
            order = await session.get(Order, order_id)
            assert order is not None
            order.status, order.finished_at = "TRADE_FINISHED", order.paid_at
            await session.commit()
        finished.append(order_id)
    open_one = await _order(db, shop.id, "F-3", 5000)  # paid, not finished
    await sign_in(client, "ling")
    page = await client.get("/aftersales/seller-reviews")
    assert "待评价 2 笔" in page.text and "F-3" not in page.text
    assert "感谢亲的信任与支持" in page.text  # the policy's first template, filled in
    token = csrf_from(page.text)
    refused = await client.post(
        "/aftersales/seller-reviews",
        data={"order": [str(finished[0]), str(open_one)], "text": "好", "csrf_token": token},
    )
    assert refused.status_code == 422 and "尚未交易成功" in refused.text
    done = await client.post(
        "/aftersales/seller-reviews",
        data={"order": [str(i) for i in finished], "text": "爽快的买家", "csrf_token": token},
    )
    assert done.status_code == 303
    again = await client.get("/aftersales/seller-reviews")
    assert "待评价 0 笔" in again.text and "所有交易都已评价" in again.text
    async with db.session() as session:
        written = list(await session.scalars(select(SellerReview.order_id)))
    assert sorted(written) == sorted(finished)


async def test_the_supervisor_sees_an_open_major_complaint_at_once(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "supervisor")
    async with db.session() as session:
        opening = Opening(TicketKind.complaint, TicketSource.phone, "扬言找媒体曝光",
                          words="不处理我就找媒体曝光你们")  # fmt: skip
        await open_ticket(session, shop.id, opening, by=None)
        calm = Opening(TicketKind.complaint, TicketSource.phone, "包装旧", words="包装旧了")
        await open_ticket(session, shop.id, calm, by=None)
        await session.commit()
    await sign_in(client, "boss")
    view = await client.get("/aftersales/supervise")
    majors = view.text.split('id="majors"')[1].split("</section>")[0]
    assert "扬言找媒体曝光" in majors and "包装旧" not in majors
