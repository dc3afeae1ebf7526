"""Quick phrases with variables (C5) and phone calls in the buyer's history (C1, C10)."""

import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff
from tests.reception.conftest import MakeBuyer
from xiaoer.core.db import Database
from xiaoer.reception.models import CallLog
from xiaoer.reception.phrases import (
    PhraseError,
    PhraseInput,
    check_template,
    do_save_phrase,
    fill,
    phrases_for,
)
from xiaoer.reception.service import ReceptionError, do_log_call
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
