"""Each setting of the policy as a form field: typed back as it was shown, and a bad
value refused with a reason in the units typed (xiaoer.core.policy_form)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from xiaoer.core.policy import Policy
from xiaoer.core.policy_form import (
    SECTIONS,
    PolicyField,
    all_fields,
    changes,
    edit_section,
    parse,
    section_fields,
    shown,
    typed,
    value_at,
)
from xiaoer.http.i18n import Translator

pytestmark = pytest.mark.database_free

zh = Translator("zh")


def _field(key: str) -> PolicyField:
    return next(f for f in all_fields() if f.key == key)


def test_every_setting_has_a_chinese_label_and_help() -> None:
    for field in all_fields():
        assert field.label and field.help, field.key
        assert any("\u4e00" <= ch <= "\u9fff" for ch in field.label + field.help), field.key


def test_every_default_typed_back_unchanged_is_no_change() -> None:
    policy = Policy()
    plain = policy.to_plain()
    for section in SECTIONS:
        texts = {f.key: typed(f, value_at(plain, f.key)) for f in section_fields(section)}
        new, problems = edit_section(policy, section, texts)
        assert problems == {} and new is not None, section
        assert changes(policy, new, section) == [], section


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("assistant.auto_answer", True, "是"),
        ("reception.peak_hours", ["14:00-17:00", "19:00-22:00"], "14:00-17:00、19:00-22:00"),
        ("pay.commission_rate", "0.005", "0.5"),
        ("pay.base_by_level.account_manager", 270000, "2,700"),
        ("aftersales.major_complaint_fen", 100050, "1,000.50"),
        ("attendance.shifts", {"early": "08:00-16:30"}, "early 08:00-16:30"),
    ],
)
def test_values_are_shown_as_people_write_them(key: str, value: object, expected: str) -> None:
    assert shown(_field(key), value) == expected


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("fines.late", "¥35.5", 3550),
        ("pay.team_bonus_share_of_base", "12.5%", "0.125"),
        ("assistant.auto_answer_confidence", "85", 0.85),
        ("reception.peak_hours", "14:00-17:00、19:00-22:00", ["14:00-17:00", "19:00-22:00"]),
        ("targets.monthly_trades", "50, 400\n600", [50, 400, 600]),
        ("attendance.shifts", "early 08:00-16:30\nlate：15:30-24:00",
         {"early": "08:00-16:30", "late": "15:30-24:00"}),
        ("orders.cod_phone_confirmation", "no", False),
    ],
)  # fmt: skip
def test_typed_values_are_read_in_their_units(key: str, text: str, value: object) -> None:
    assert parse(_field(key), text) == value


def test_every_bad_value_of_a_section_is_named_beside_its_field() -> None:
    policy = Policy()
    plain = policy.to_plain()
    texts = {f.key: typed(f, value_at(plain, f.key)) for f in section_fields("reception")}
    texts.update({"reception.welcome_seconds": "0", "reception.reply_seconds": "两分钟",
                  "reception.service_hours": "8点到24点"})  # fmt: skip
    new, problems = edit_section(policy, "reception", texts)
    assert new is None
    assert {key: zh.text(message) for key, message in problems.items()} == {
        "reception.welcome_seconds": "不能小于 1",
        "reception.reply_seconds": "请填写整数",
    }
    # once those are right, the span is checked by the policy itself
    texts.update({"reception.welcome_seconds": "5", "reception.reply_seconds": "90"})
    new, problems = edit_section(policy, "reception", texts)
    assert {key: zh.text(message) for key, message in problems.items()} == {
        "reception.service_hours": "应为时间段，例如 '14:00-17:00'"
    }


def test_a_share_over_a_hundred_percent_is_refused_in_percent() -> None:
    policy = Policy()
    plain = policy.to_plain()
    texts = {f.key: typed(f, value_at(plain, f.key)) for f in section_fields("authority")}
    texts["authority.senior.max_discount_percent"] = "120"
    _new, problems = edit_section(policy, "authority", texts)
    assert {k: zh.text(m) for k, m in problems.items()} == {
        "authority.senior.max_discount_percent": "不能大于 100"
    }
    texts["authority.senior.max_discount_percent"] = "8"
    new, problems = edit_section(policy, "authority", texts)
    assert new is not None and new.authority["senior"].max_discount_percent == Decimal("0.08")
