from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xiaoer.core.clock import from_local, local
from xiaoer.core.money import MoneyError, fen_to_yuan, percent_of, yuan_to_fen

pytestmark = pytest.mark.database_free


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12.5", 1250), ("12.50元", 1250), ("￥1,200", 120000), (" 0.01 ", 1), ("3", 300)],
)
def test_yuan_text_becomes_fen(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("bad", ["", "元", "abc", "1.2.3"])
def test_bad_amount_is_refused(bad: str) -> None:
    with pytest.raises(MoneyError):
        yuan_to_fen(bad)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_fen_round_trips_through_yuan_text(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


def test_commission_rounds_half_up_to_whole_fen() -> None:
    assert percent_of(10_100, Decimal("0.005")) == 51  # 50.5 fen → 51
    assert percent_of(100_000, Decimal("0.005")) == 500


def test_shop_local_time_round_trip() -> None:
    wall = datetime(2026, 11, 11, 0, 5)
    utc = from_local(wall)
    assert utc == datetime(2026, 11, 10, 16, 5, tzinfo=UTC)
    assert local(utc).replace(tzinfo=None) == wall
