"""Staff, shop and policy messages: English as before, Chinese on a Chinese reader's page."""

from __future__ import annotations

import pytest

from xiaoer.core.policy import PolicyError, parse_policy
from xiaoer.http.i18n import Translator
from xiaoer.shops.service import ShopError, check_new_shop
from xiaoer.staff.service import StaffError, check_new_staff

pytestmark = pytest.mark.database_free

zh, en = Translator("zh"), Translator("en")


def test_a_staff_error_reads_in_either_language() -> None:
    with pytest.raises(StaffError) as caught:
        check_new_staff("mei", "A01", "小梅", "expert", "presale", ["agent"])
    assert str(caught.value) == (
        "level 'expert': expected one of junior, intermediate, senior, account_manager"
    )
    assert en.error(caught.value) == str(caught.value)
    assert zh.error(caught.value) == (
        "级别 'expert' 无效，可选：junior, intermediate, senior, account_manager"
    )
    with pytest.raises(StaffError) as caught:
        check_new_staff("mei", " ", "小梅", "junior", "presale", ["agent"])
    assert zh.error(caught.value) == "工号不能为空"


def test_a_shop_error_reads_in_either_language() -> None:
    with pytest.raises(ShopError) as caught:
        check_new_shop("demo", "演示店", "taobao", "Mars/Olympus")
    assert str(caught.value) == "time zone 'Mars/Olympus' is unknown (e.g. Asia/Shanghai)"
    assert zh.error(caught.value) == "未知的时区 'Mars/Olympus'（例如 Asia/Shanghai）"


def test_each_policy_problem_reads_in_either_language() -> None:
    text = '[attendance]\nshifts = { early = "8-9" }\n\n[reception]\nbogus = 1\n'
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "shop.toml")
    unknown, span = caught.value.problems
    assert str(caught.value) == (
        "shop.toml: reception.bogus: unknown key (value 1); "
        "attendance.shifts.early = '8-9': expected a time span like '14:00-17:00'"
    )
    assert zh.error(unknown) == "reception.bogus：没有这个设置项（值为 1）"
    # The validator's own message survives pydantic and is translated inside the line.
    assert zh.error(span) == "attendance.shifts.early = '8-9'：应为时间段，例如 '14:00-17:00'"
    assert en.error(span) == str(span)
