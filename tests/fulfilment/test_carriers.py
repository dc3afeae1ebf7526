"""The carriers' table: every name a seller writes, every waybill shape, good and bad."""

from __future__ import annotations

import pytest

from xiaoer.fulfilment.carriers import (
    CARRIERS,
    WaybillError,
    carrier_named,
    check_waybill,
    find_carrier,
)

pytestmark = pytest.mark.database_free

NAMES = {
    "SF": ("顺丰速运", "顺丰", "顺丰快递"),
    "YTO": ("圆通速递", "圆通", "圆通快递"),
    "ZTO": ("中通快递", "中通"),
    "STO": ("申通快递", "申通"),
    "YUNDA": ("韵达快递", "韵达", "韵达速递"),
    "EMS": ("EMS", "中国邮政EMS", "邮政EMS"),
    "POSTB": ("邮政快递包裹", "邮政", "中国邮政", "邮政包裹"),
    "JD": ("京东物流", "京东", "京东快递"),
    "JTSD": ("极兔速递", "极兔", "极兔快递", "J&T"),
    "DBL": ("德邦快递", "德邦", "德邦物流"),
}

GOOD = {
    "SF": ("SF123456789012", "SF1234567890123", "123456789012", "sf123456789012"),
    "YTO": ("YT1234567890123", "YT1234567890123456", "1234567890", "123456789012"),
    "ZTO": ("123456789012", "123456789012345"),
    "STO": ("123456789012", "773123456789012"),
    "YUNDA": ("1234567890123", "123456789012345"),
    "EMS": ("1123456789012", "EA123456789CN", "ea123456789cn"),
    "POSTB": ("9876543210123",),
    "JD": ("JD0123456789012", "JDVA01234567890", "JD012345678901234"),
    "JTSD": ("JT1234567890123",),
    "DBL": ("12345678", "123456789012", "DPK123456789012"),
}

BAD = {
    "SF": ("SF12345678901", "SF12345678901234", "12345678901", "1234567890123", "YT123456789012"),
    "YTO": ("YT123456789012", "YT12345678901234567", "123456789", "1234567890123", "JT1234567890"),
    "ZTO": ("12345678901", "1234567890123456", "ZT123456789012"),
    "STO": ("12345678901", "1234567890123456", "12345678901a"),
    "YUNDA": ("123456789012", "1234567890123456"),
    "EMS": ("2123456789012", "112345678901", "E123456789CN", "EA12345678CN", "EA123456789C"),
    "POSTB": ("1876543210123", "987654321012", "98765432101234"),
    "JD": ("JD012345678901", "JD0123456789012345", "JX0123456789012", "0123456789012345"),
    "JTSD": ("JT123456789012", "JT12345678901234", "1234567890123", "JTA123456789012"),
    "DBL": ("1234567", "1234567890123", "DPK12345678901", "DP123456789012"),
}


def test_the_table_has_the_ten_common_carriers() -> None:
    assert [c.code for c in CARRIERS] == list(NAMES)


@pytest.mark.parametrize("code", NAMES)
def test_each_carrier_is_found_by_its_code_and_every_name_sellers_write(code: str) -> None:
    for written in (code, code.lower(), f"  {code.title()} ", *NAMES[code]):
        found = find_carrier(written)
        assert found is not None and found.code == code, written
        assert carrier_named(f" {written} ").code == code


@pytest.mark.parametrize("code", NAMES)
def test_each_carrier_takes_its_good_numbers(code: str) -> None:
    carrier = carrier_named(code)
    for number in GOOD[code]:
        assert check_waybill(carrier, f" {number} ") == number.upper()


@pytest.mark.parametrize("code", NAMES)
def test_each_carrier_refuses_numbers_of_another_shape_and_names_the_shape(code: str) -> None:
    carrier = carrier_named(code)
    for number in BAD[code]:
        with pytest.raises(WaybillError) as refused:
            check_waybill(carrier, number)
        message = str(refused.value)
        assert number.upper() in message and carrier.name in message
        assert str(carrier.shape) in message


def test_unknown_and_missing_carriers_and_numbers_are_refused_clearly() -> None:
    assert find_carrier("菜鸟速递") is None
    assert find_carrier("") is None
    with pytest.raises(WaybillError, match=r"菜鸟速递.*not a carrier"):
        carrier_named(" 菜鸟速递 ")
    with pytest.raises(WaybillError, match="carrier is missing"):
        carrier_named("  ")
    with pytest.raises(WaybillError, match="waybill number is missing"):
        check_waybill(carrier_named("SF"), "   ")


def test_no_name_points_at_two_carriers() -> None:
    written = [w for c in CARRIERS for w in {x.casefold() for x in (c.code, c.name, *c.aliases)}]
    assert len(written) == len(set(written))
