"""The knowledge base and its suggestions, filled from live shop data (A1–A4)."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import PASSWORD, MakeStaff, csrf_from, sign_in
from xiaoer.assistant.classifier import BARGAIN_TYPES, INTENTS
from xiaoer.assistant.knowledge import default_entries, suggest
from xiaoer.assistant.models import KnowledgeEntry, SuggestionFeedback
from xiaoer.buyers.service import do_get_or_create_customer
from xiaoer.catalog.models import Product, Promotion, Sku
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.reception.service import do_receive_buyer_message
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.service import do_add_staff

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


async def _catalog(db: Database, shop: Shop, *, curtain_stock: int) -> None:
    async with db.session() as session:

        def product(code: str, title: str, category: str, price: int, stock: int) -> Product:
            item = Product(
                shop_id=shop.id, code=code, title=title, category=category, price_fen=price
            )
            item.skus = [
                Sku(shop_id=shop.id, code=f"{code}-1", price_fen=price, stock=stock, attributes={})
            ]
            return item

        session.add_all(
            [
                product("C1", "北欧简约全遮光窗帘", "窗帘", 15900, curtain_stock),
                product("C2", "棉麻纯色半遮光窗帘", "窗帘", 12900, 20),
                product("C3", "法式复古提花窗帘", "窗帘", 29900, 0),
                product("R1", "静音窗帘滑轨", "轨道", 4900, 50),
                product("P1", "ins风几何抱枕", "抱枕", 3900, 30),
            ]
        )
        session.add(
            Promotion(
                shop_id=shop.id,
                kind="full_reduction",
                name="满300减30",
                starts_at=NOW - timedelta(days=1),
                ends_at=NOW + timedelta(days=1),
            )
        )
        await session.commit()


def test_the_default_knowledge_answers_every_intent_and_bargain_type() -> None:
    entries = default_entries()
    assert {e.intent for e in entries} == set(INTENTS)
    assert {e.bargain_type for e in entries if e.intent == "bargain"} == set(BARGAIN_TYPES)


async def test_a_comparing_bargainer_gets_the_compare_answer_with_the_activity(
    db: Database, shop: Shop
) -> None:
    await _catalog(db, shop, curtain_stock=10)
    async with db.session() as session:
        found = await suggest(
            session,
            shop=shop,
            policy=default_policy(),
            text="能便宜点吗？别家才卖八十",
            agent_name="李娜",
            now=NOW,
        )
    assert (found.classification.intent, found.classification.bargain_type) == (
        "bargain",
        "compare",
    )
    top = found.suggestions[0]
    assert top.bargain_type == "compare" and "满300减30" in top.text
    assert "{" not in top.text


async def test_stock_in_hand_is_told_less_the_safety_stock(db: Database, shop: Shop) -> None:
    await _catalog(db, shop, curtain_stock=10)
    async with db.session() as session:
        found = await suggest(
            session, shop=shop, policy=default_policy(), text="北欧全遮光窗帘还有货吗", now=NOW
        )
    assert found.classification.intent == "stock"
    assert found.product is not None and found.product.title == "北欧简约全遮光窗帘"
    assert found.product.stock == 10 - default_policy().fulfilment.safety_stock
    assert "库存7件" in found.suggestions[0].text


async def test_a_sold_out_item_brings_similar_items_in_stock_and_what_goes_with_it(
    db: Database, shop: Shop
) -> None:
    await _catalog(db, shop, curtain_stock=2)  # 2 units, all held back as safety stock
    async with db.session() as session:
        found = await suggest(
            session, shop=shop, policy=default_policy(), text="北欧全遮光窗帘还有货吗", now=NOW
        )
    assert found.product is not None and found.product.stock == 0
    assert [p.title for p in found.similar] == ["棉麻纯色半遮光窗帘"]  # in stock, same kind
    assert [p.title for p in found.related] == ["静音窗帘滑轨"]
    top = found.suggestions[0].text
    assert "棉麻纯色半遮光窗帘" in top and "没有" not in top


async def test_a_shop_with_entries_of_its_own_uses_only_those(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        session.add(
            KnowledgeEntry(
                shop_id=shop.id,
                intent="courier",
                title="我们的快递",
                questions=["发什么快递"],
                answer="亲，{shop}只发{courier}哦。",
            )
        )
        await session.commit()
        found = await suggest(
            session, shop=shop, policy=default_policy(), text="发什么快递呀", now=NOW
        )
        greeting = await suggest(session, shop=shop, policy=default_policy(), text="在吗", now=NOW)
    assert [s.text for s in found.suggestions] == ["亲，茶香小铺只发顺丰哦。"]
    assert found.suggestions[0].entry_id is not None
    assert greeting.suggestions == []  # no greeting entry of its own


@pytest.fixture
async def conversation(db: Database, shop: Shop) -> int:
    async with db.session() as session:
        buyer = await do_get_or_create_customer(
            session, shop_id=shop.id, channel="widget", buyer_id="w1", nick="小鱼"
        )
        posted = await do_receive_buyer_message(
            session, shop=shop, customer=buyer, text="能便宜点吗？别家才卖八十"
        )
        await session.commit()
        return posted.conversation.id


async def test_the_workbench_asks_for_suggestions_and_records_the_pick(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff, conversation: int
) -> None:
    await make_staff("lina", "agent", name="李娜")
    await sign_in(client, "lina")
    csrf = {"X-CSRF-Token": csrf_from((await client.get("/")).text)}
    response = await client.post(
        "/api/assistant/suggestions", json={"conversation_id": conversation}, headers=csrf
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["text"] == "能便宜点吗？别家才卖八十"
    assert (data["intent"], data["bargain_type"]) == ("bargain", "compare")
    picked = data["suggestions"][0]
    recorded = await client.post(
        "/api/assistant/feedback",
        json={
            "buyer_text": data["text"],
            "intent": data["intent"],
            "action": "picked",
            "entry_id": picked["entry_id"],
            "sent_text": picked["text"],
        },
        headers=csrf,
    )
    assert recorded.status_code == 200, recorded.text
    async with db.session() as session:
        row = await session.get(SuggestionFeedback, recorded.json()["id"])
    assert row is not None and row.action == "picked" and row.intent == "bargain"


async def test_suggestions_stay_within_the_agents_shop(
    client: httpx.AsyncClient, db: Database, conversation: int
) -> None:
    async with db.session() as session:
        other = await do_create_shop(session, code="rugs", name="地毯铺")
        await do_add_staff(
            session,
            shop_id=other.id,
            username="mo",
            number="2001",
            name="Mo",
            password=PASSWORD,
        )
        await session.commit()
    await sign_in(client, "mo")
    csrf = {"X-CSRF-Token": csrf_from((await client.get("/")).text)}
    response = await client.post(
        "/api/assistant/suggestions", json={"conversation_id": conversation}, headers=csrf
    )
    assert response.status_code == 404


def test_the_product_named_is_the_one_sharing_the_longest_run() -> None:
    from xiaoer.assistant.knowledge import ProductFacts, mentioned
    from xiaoer.assistant.normalize import normalize

    def product(k: int, title: str) -> ProductFacts:
        return ProductFacts(id=k, title=title, category="窗帘", price_fen=9900, stock=5)

    products = [
        product(1, "雪尼尔绒遮光窗帘"),
        product(2, "棉麻纱帘 卧室"),
        product(3, "雪尼尔绒配件 99号"),
        product(4, "棉麻纱帘 客厅"),
    ]
    assert mentioned(products, normalize("雪尼尔绒遮光的还有吗")) is products[0]
    assert mentioned(products, normalize("棉麻纱帘多少钱")) is products[1]  # a tie: the earlier
    assert mentioned(products, normalize("别家才卖99")) is None  # one repeated character
    assert mentioned(products, normalize("在吗")) is None
    assert mentioned([], normalize("雪尼尔绒")) is None
