"""Activities of a shop around 双十一, as the check and the quiz tests read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from xiaoer.catalog.models import Promotion
from xiaoer.peakday.activities import Activity

ZONE = ZoneInfo("Asia/Shanghai")
# 2026-11-05 12:00 in Shanghai: the presale runs, the 11.11 sales are still to come.
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=ZONE).astimezone(UTC)


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def activity(
    ident: int, kind: str, name: str, starts: datetime, ends: datetime, rules: dict[str, Any]
) -> Activity:
    promotion = Promotion(
        id=ident, shop_id=1, kind=kind, name=name, description="", threshold_fen=0,
        discount_fen=0, starts_at=starts, ends_at=ends,
    )  # fmt: skip
    return Activity(promotion, rules, 1)


def double_eleven() -> list[Activity]:
    return [
        activity(1, "full_reduction", "双十一满减", at(11, 1), at(11, 12),
                 {"tiers": [{"threshold_fen": 29900, "off_fen": 3000},
                            {"threshold_fen": 59900, "off_fen": 7000}],
                  "repeat": False, "stacks_with_coupon": True}),
        activity(2, "presale", "窗帘预售", at(10, 24, 20), at(11, 11, 23, 59),
                 {"deposit_fen": 5000, "deposit_worth_fen": 10000,
                  "balance_from": at(11, 11).isoformat(), "balance_until": at(11, 11, 23, 59)
                  .isoformat(), "ships_on": "2026-11-15"}),
        activity(3, "time_discount", "狂欢限时折扣", at(11, 11), at(11, 12),
                 {"percent_off": 20}),
        activity(4, "flash_sale", "零点抢购遮光帘", at(11, 11), at(11, 11, 2),
                 {"price_fen": 9900, "limit_per_buyer": 2}),
        activity(5, "gift_with_purchase", "满就送挂钩", at(11, 1), at(11, 12),
                 {"threshold_fen": 19900, "gift": "罗马杆挂钩一套"}),
        activity(6, "bundle", "卧室搭配套餐", at(11, 1), at(11, 12),
                 {"items": ["遮光帘", "纱帘", "罗马杆"], "bundle_price_fen": 39900}),
        activity(7, "coupon", "店铺券", at(11, 1), at(11, 12),
                 {"face_value_fen": 2000, "threshold_fen": 19900, "valid_days": 7}),
        activity(8, "full_reduction", "国庆满减", at(10, 1), at(10, 8),
                 {"tiers": [{"threshold_fen": 19900, "off_fen": 1500}],
                  "repeat": False, "stacks_with_coupon": False}),
    ]  # fmt: skip
