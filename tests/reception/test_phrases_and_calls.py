"""Quick phrases with variables (C5) and phone calls in the buyer's history (C1, C10)."""

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.reception.conftest import MakeBuyer
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.reception.calls import do_log_call
from xiaoer.reception.errors import ReceptionError
from xiaoer.reception.models import CallLog
from xiaoer.reception.phrases import (
    PhraseError,
    PhraseInput,
    check_template,
    do_save_phrase,
    fill,
    phrases_for,
)
from xiaoer.shops.models import Shop


def test_variables_are_filled_and_unknown_values_left_empty() -> None:
    text = "{buyer}亲，我是{shop}的{agent}，{product}今天有活动：{activity}"
    filled = fill(text, {"buyer": "小鱼", "shop": "茶香小铺", "agent": "李娜", "activity": "满减"})
    assert filled == "小鱼亲，我是茶香小铺的李娜，今天有活动：满减"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("亲，{price}元", "unknown variable {price}"),
        ("亲，{shop", "unpaired brace"),
        ("   ", "empty"),
    ],
)
def test_bad_templates_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(PhraseError, match=message):
        check_template(text)


async def test_own_phrase_hides_the_shop_phrase_with_its_shortcut(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    lina = await make_staff("lina")
    mei = await make_staff("mei")
    async with db.session() as session:
        await do_save_phrase(
            session,
            shop_id=shop.id,
            owner_id=None,
            item=PhraseInput("hi", "亲，欢迎光临{shop}", "问候"),
        )
        await do_save_phrase(
            session,
            shop_id=shop.id,
            owner_id=None,
            item=PhraseInput("bye", "感谢光临，再见", "结束"),
        )
        await do_save_phrase(
            session,
            shop_id=shop.id,
            owner_id=lina.id,
            item=PhraseInput("hi", "亲，我是{agent}，您好呀", "问候"),
        )
        await session.commit()
        linas = {p.shortcut: p.text for p in await phrases_for(session, shop.id, lina.id)}
        meis = {p.shortcut: p.text for p in await phrases_for(session, shop.id, mei.id)}
    assert linas == {"hi": "亲，我是{agent}，您好呀", "bye": "感谢光临，再见"}
    assert meis == {"hi": "亲，欢迎光临{shop}", "bye": "感谢光临，再见"}


async def test_saving_a_shortcut_again_changes_it(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        first = await do_save_phrase(
            session, shop_id=shop.id, owner_id=None, item=PhraseInput("kd", "默认发顺丰")
        )
        second = await do_save_phrase(
            session,
            shop_id=shop.id,
            owner_id=None,
            item=PhraseInput("kd", "默认发{courier}", "物流"),
        )
        await session.commit()
    assert first.id == second.id and second.text == "默认发{courier}"


async def test_phone_call_is_logged_in_the_buyer_history(
    db: Database, shop: Shop, make_staff: MakeStaff, make_buyer: MakeBuyer
) -> None:
    agent = await make_staff("lina")
    buyer = await make_buyer("b1")
    async with db.session() as session:
        with pytest.raises(ReceptionError, match="outcome 'ok'"):
            await do_log_call(session, agent=agent, customer_id=buyer.id, summary="x", outcome="ok")
        await do_log_call(
            session,
            agent=agent,
            customer_id=buyer.id,
            summary="确认货到付款订单，买家同意",
            outcome="resolved",
        )
        await session.commit()
        calls = list(await session.scalars(select(CallLog)))
    assert [(c.customer_id, c.agent_id, c.outcome) for c in calls] == [
        (buyer.id, agent.id, "resolved")
    ]


async def test_calls_page_logs_a_new_caller_by_phone_and_a_known_buyer_by_nick(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    make_staff: MakeStaff,
    make_buyer: MakeBuyer,
) -> None:
    await make_staff("lina", "agent")
    known = await make_buyer("b1", "小鱼")
    await sign_in(client, "lina")
    token = csrf_from((await client.get("/reception/calls")).text)
    new_caller = await client.post(
        "/reception/calls",
        data={
            "contact": "13912345678",
            "name": "王先生",
            "summary": "问窗帘能否上门安装",
            "outcome": "callback",
            "csrf_token": token,
        },
    )
    assert new_caller.status_code == 303
    known_call = await client.post(
        "/reception/calls",
        data={
            "contact": "小鱼",
            "summary": "确认收货地址",
            "outcome": "resolved",
            "csrf_token": token,
        },
    )
    assert known_call.status_code == 303
    unknown = await client.post(
        "/reception/calls",
        data={"contact": "不存在的人", "summary": "x", "outcome": "resolved", "csrf_token": token},
    )
    assert unknown.status_code == 422
    assert "没有与 &#39;不存在的人&#39; 相符的买家；新来电的买家请用手机号登记" in unknown.text
    async with db.session() as session:
        rows = [
            (c.customer_id, c.outcome)
            for c in await session.scalars(select(CallLog).order_by(CallLog.id))
        ]
        caller = await session.scalar(select(Customer).where(Customer.channel == "phone"))
    assert caller is not None and (caller.phone, caller.name) == ("13912345678", "王先生")
    assert rows == [(caller.id, "callback"), (known.id, "resolved")]
    page = (await client.get("/reception/calls")).text
    assert "问窗帘能否上门安装" in page and "待回电" in page
    assert "13912345678" not in page  # agents see no phone numbers in the list
