from xiaoer.core.db import Database
from xiaoer.shops.models import Shop


async def test_shop_fixture_creates_one_shop(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        assert (await session.get(Shop, shop.id)) is not None
