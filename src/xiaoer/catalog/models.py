"""Products, their SKUs, and the shop's activities."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xiaoer.core.clock import utcnow
from xiaoer.core.db import Base, UTCDateTime


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))  # 商家编码 of the product
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), default="")
    price_fen: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    custom_made: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 尺码表: [{"size": "M", "height": [160, 170], "weight": [50, 60]}, …] (cm, kg)
    size_chart: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, server_default="[]"
    )

    skus: Mapped[list[Sku]] = relationship(back_populates="product", order_by="Sku.id")


class Sku(Base):
    __tablename__ = "sku"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"颜色": "米白"}
    price_fen: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="skus")

    @property
    def attribute_text(self) -> str:
        """As the platform writes it: ``颜色分类：米白;尺寸：1.5米``."""
        return ";".join(f"{k}：{v}" for k, v in self.attributes.items())


class PromotionKind(enum.StrEnum):
    full_reduction = "full_reduction"  # 满减
    coupon = "coupon"  # 优惠券
    presale = "presale"  # 预售
    flash_sale = "flash_sale"  # 抢购
    time_discount = "time_discount"  # 限时折扣
    gift_with_purchase = "gift_with_purchase"  # 满就送
    bundle = "bundle"  # 搭配套餐


class Promotion(Base):
    """An activity every agent must know and quote correctly (D2)."""

    __tablename__ = "promotion"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    threshold_fen: Mapped[int] = mapped_column(Integer, default=0)
    discount_fen: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
