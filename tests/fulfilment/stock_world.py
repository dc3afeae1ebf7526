"""A small stocked shop for the stock tests: SKUs, two sellable places and a damaged one."""

from __future__ import annotations

from dataclasses import dataclass

from xiaoer.catalog.models import Product, Sku
from xiaoer.core.db import Database
from xiaoer.fulfilment.ledger import Document, Line, post
from xiaoer.fulfilment.models import LocationKind, MoveKind, StockLocation


@dataclass(frozen=True)
class Stocked:
    skus: dict[str, int]  # code → id
    main: int  # 一号仓 (sellable)
    annex: int  # 二号仓 (sellable)
    broken: int  # 残次区 (damaged)


async def stocked(db: Database, shop_id: int, units: dict[str, int] | None = None) -> Stocked:
    """SKUs ``CL-W`` (white), ``CL-G`` (grey) and ``RUG-1``; ``units`` received at 一号仓."""
    units = units if units is not None else {"CL-W": 10, "CL-G": 4, "RUG-1": 0}
    async with db.session() as session:
        curtain = Product(shop_id=shop_id, code="CL", title="棉麻窗帘", price_fen=9900)
        rug = Product(shop_id=shop_id, code="RUG", title="羊毛地毯", price_fen=29900)
        session.add_all([curtain, rug])
        await session.flush()
        skus = {
            "CL-W": Sku(shop_id=shop_id, product_id=curtain.id, code="CL-W",
                        attributes={"颜色": "米白"}, price_fen=9900),
            "CL-G": Sku(shop_id=shop_id, product_id=curtain.id, code="CL-G",
                        attributes={"颜色": "浅灰"}, price_fen=9900),
            "RUG-1": Sku(shop_id=shop_id, product_id=rug.id, code="RUG-1", price_fen=29900),
        }  # fmt: skip
        main = StockLocation(shop_id=shop_id, code="A", name="一号仓", position=1)
        annex = StockLocation(shop_id=shop_id, code="B", name="二号仓", position=2)
        broken = StockLocation(shop_id=shop_id, code="X", name="残次区", kind=LocationKind.damaged,
                               position=9)  # fmt: skip
        session.add_all([*skus.values(), main, annex, broken])
        await session.flush()
        lines = [Line(skus[code].id, main.id, n) for code, n in units.items() if n]
        if lines:
            await post(session, shop_id, MoveKind.receive, lines, document=Document("receipt"))
        await session.commit()
        return Stocked({c: s.id for c, s in skus.items()}, main.id, annex.id, broken.id)
