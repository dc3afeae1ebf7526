"""Size advice from the buyer's height and weight and the product's size chart (A1)."""

import pytest

from xiaoer.assistant.knowledge import suggest
from xiaoer.assistant.sizes import Body, advise, parse_body
from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.shops.models import Shop

CHART = [
    {"size": "S", "height": [150, 160], "weight": [40, 50]},
    {"size": "M", "height": [160, 170], "weight": [50, 60]},
    {"size": "L", "height": [170, 180], "weight": [60, 72]},
    {"size": "XL", "height": [178, 188], "weight": [72, 85]},
]


@pytest.mark.parametrize(
    ("text", "height", "weight"),
    [
        ("身高170体重120斤穿什么码", 170, 60.0),
        ("1米7，60kg", 170, 60.0),
        ("一米七二 130斤", 172, 65.0),
        ("1.68m 55公斤", 168, 55.0),
        ("身高165 体重110", 165, 55.0),
        ("身高165 体重55", 165, 55.0),
        ("有没有大一点的", None, None),
    ],
)
def test_measurements_are_read_as_buyers_write_them(
    text: str, height: int | None, weight: float | None
) -> None:
    assert parse_body(text) == Body(height, weight)


def test_the_row_both_figures_fit_else_the_nearest() -> None:
    assert advise(CHART, Body(165, 55)) == "M"
    assert advise(CHART, Body(175, 66)) == "L"
    assert advise(CHART, Body(200, 100)) == "XL"  # beyond the chart: the nearest row
    assert advise(CHART, Body(None, 45)) == "S"
    assert advise(CHART, Body(None, None)) is None
    assert advise([], Body(170, 60)) is None


async def test_a_buyer_giving_height_and_weight_gets_the_size_to_buy(
    db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        robe = Product(
            shop_id=shop.id,
            code="R1",
            title="珊瑚绒家居睡袍",
            category="家居服",
            price_fen=12900,
            size_chart=CHART,
        )
        robe.skus = [Sku(shop_id=shop.id, code="R1-M", price_fen=12900, stock=20, attributes={})]
        session.add(robe)
        await session.commit()
        found = await suggest(
            session, shop=shop, policy=default_policy(), text="睡袍 身高170体重120斤穿什么码"
        )
    assert found.classification.intent == "size_advice"
    assert found.suggestions[0].text.startswith(
        "亲，按您身高170厘米、体重60公斤，珊瑚绒家居睡袍建议选M码"
    )
