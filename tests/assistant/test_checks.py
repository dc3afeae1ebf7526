"""Checks on an agent's message before sending (C9, A2, A5, A6)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xiaoer.assistant.checks import Concession, Finding, check_message, find_concessions
from xiaoer.core.policy import default_policy
from xiaoer.staff.models import Level

pytestmark = pytest.mark.database_free

POLICY = default_policy()
SPLIT = POLICY.reception.split_reply_chars


def check(text: str, level: Level, order_total_fen: int | None = None) -> list[Finding]:
    return check_message(
        text, POLICY.authority[level], split_chars=SPLIT, order_total_fen=order_total_fen
    )


def codes(text: str, level: Level = Level.senior, order_total_fen: int | None = None) -> list[str]:
    return [f.code for f in check(text, level, order_total_fen)]


def blocked(text: str, level: Level, order_total_fen: int | None = None) -> bool:
    return any(f.severity == "block" for f in check(text, level, order_total_fen))


# --- find_concessions ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "fen", "percent"),
    [
        ("给您便宜20块吧", "discount", 2000, None),
        ("少算您二十元", "discount", 2000, None),
        ("直接减15", "discount", 1500, None),
        ("再优惠您10块钱", "discount", 1000, None),
        ("给您抹掉5块零头", "discount", 500, None),
        ("送您一张10元优惠券", "discount", 1000, None),
        ("给您打九五折", "discount_percent", None, Decimal("0.05")),
        ("这边可以给您9折", "discount_percent", None, Decimal("0.1")),
        ("给您打个8.8折", "discount_percent", None, Decimal("0.12")),
        ("给您优惠5%", "discount_percent", None, Decimal("0.05")),
        ("给您优惠百分之三", "discount_percent", None, Decimal("0.03")),
        ("包邮给您", "free_shipping", None, None),
        ("这单给您免运费", "free_shipping", None, None),
        ("运费我们出", "free_shipping", None, None),
        ("送您一个价值15元的挂钩", "gift", 1500, None),
        ("再送您两个挂钩", "gift", None, None),
        ("赠送运费险", "gift", None, None),
        ("拍下先别付款，我给您改价", "price_change", None, None),
        ("帮您改成99元", "price_change", 9900, None),
        ("拍下后价格改到89", "price_change", 8900, None),
        ("运费少收5元", "shipping_fee_change", 500, None),
        ("运费给您便宜10块", "shipping_fee_change", 1000, None),
    ],
)
def test_finds_what_the_message_offers(
    text: str, kind: str, fen: int | None, percent: Decimal | None
) -> None:
    (found,) = find_concessions(text)

    assert (found.kind, found.fen, found.percent) == (kind, fen, percent)
    assert found.text in text


@pytest.mark.parametrize(
    ("words", "fen"),
    [
        ("二十元", 2000),
        ("十五块", 1500),
        ("两百", 20000),
        ("一百五", 15000),
        ("一百零五元", 10500),
        ("三块五", 350),
        ("20块钱", 2000),
        ("¥20", 2000),
        ("￥２０", 2000),
        ("２０元", 2000),
        ("12.5元", 1250),
    ],
)
def test_amounts_in_chinese_numerals_and_digits(words: str, fen: int) -> None:
    assert find_concessions(f"给您便宜{words}") == [
        Concession("discount", fen, None, f"便宜{words}")
    ]


def test_traditional_and_full_width_text_is_read_and_quoted_as_typed() -> None:
    assert find_concessions("給您便宜２０塊吧") == [
        Concession("discount", 2000, None, "便宜２０塊")
    ]
    assert [c.kind for c in find_concessions("包郵給您，再送您一個小禮品")] == [
        "free_shipping",
        "gift",
    ]


def test_several_offers_come_in_the_order_they_are_made() -> None:
    found = find_concessions("给您包邮，再少算您5元，另外送您一个挂钩")

    assert [c.kind for c in found] == ["free_shipping", "discount", "gift"]


@pytest.mark.parametrize(
    "text",
    [
        "不能便宜哦",
        "亲，没法包邮呢",
        "包邮吗？",
        "亲，您是问能不能包邮吗",
        "满99包邮哦",
        "店铺活动满199减20，您可以凑一下",
        "活动期间全场包邮",
        "这款本身就是包邮的",
        "亲，我们这边是顺丰包邮的哦",
        "新疆西藏不在包邮范围",
        "抱歉，改不了价",
        "实在便宜不了了",
        "不能给您改价哦",
        "这款比那款便宜20元",
        "买一送一",
        "明天给您送到",
        "我把链接发送给您",
        "您说的“包邮”是指哪个地区",
        "能便宜20块吗？",
        "地址改成3楼",
        "这款已经是9折了",
        "便宜一点的款式也有",
    ],
)
def test_refusals_questions_and_shop_activities_offer_nothing(text: str) -> None:
    assert find_concessions(text) == []


def test_an_offer_put_as_a_question_is_still_an_offer() -> None:
    assert [c.fen for c in find_concessions("给您便宜20块可以吗？")] == [2000]


# --- beyond_authority (A5) ------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "stopped"),
    [
        (Level.junior, True),
        (Level.intermediate, True),
        (Level.senior, False),
        (Level.account_manager, False),
    ],
)
def test_a_20_yuan_cut_needs_a_senior(level: Level, stopped: bool) -> None:
    assert blocked("给您便宜20块吧", level) is stopped


@pytest.mark.parametrize(
    ("level", "stopped"),
    [
        (Level.junior, True),
        (Level.intermediate, False),
        (Level.senior, False),
        (Level.account_manager, False),
    ],
)
def test_a_5_yuan_cut_is_within_an_intermediate_agents_reach(level: Level, stopped: bool) -> None:
    assert blocked("给您少算五块钱", level) is stopped


@pytest.mark.parametrize(
    ("level", "stopped"),
    [
        (Level.junior, True),
        (Level.intermediate, True),
        (Level.senior, False),
        (Level.account_manager, False),
    ],
)
def test_free_shipping_needs_a_senior(level: Level, stopped: bool) -> None:
    assert blocked("包邮给您", level) is stopped


def test_the_finding_names_the_limit_in_yuan_and_the_supervisor() -> None:
    (finding,) = check("给您便宜20块吧", Level.intermediate)

    assert finding.code == "beyond_authority"
    assert finding.severity == "block"
    assert "5元" in finding.message
    assert "主管" in finding.message
    assert finding.concession == Concession("discount", 2000, None, "便宜20块")
    assert finding.span is not None
    assert "给您便宜20块吧"[slice(*finding.span)] == "便宜20块"


def test_a_junior_may_give_no_cut_at_all() -> None:
    (finding,) = check("给您便宜点", Level.junior)

    assert finding.code == "beyond_authority"
    assert "主管" in finding.message
    assert codes("给您便宜点", Level.intermediate) == []


@pytest.mark.parametrize(
    ("level", "stopped"),
    [
        (Level.junior, True),
        (Level.intermediate, True),
        (Level.senior, False),
        (Level.account_manager, False),
    ],
)
def test_a_95_percent_price_needs_a_senior(level: Level, stopped: bool) -> None:
    assert blocked("给您打九五折", level) is stopped


def test_a_percent_cut_on_a_large_order_can_pass_the_yuan_cap() -> None:
    # 5 % of 1000 yuan is 50 yuan, more than a senior's 20.
    assert blocked("给您打九五折", Level.senior, order_total_fen=100000)
    assert not blocked("给您打九五折", Level.senior, order_total_fen=20000)


def test_a_yuan_cut_on_a_small_order_can_pass_the_percent_cap() -> None:
    # 2 % of a 100-yuan order is 2 yuan: 5 yuan is too much there, fine on 1000 yuan.
    finding = check("给您便宜5块", Level.intermediate, order_total_fen=10000)

    assert [f.code for f in finding] == ["beyond_authority"]
    assert "2%" in finding[0].message
    assert not blocked("给您便宜5块", Level.intermediate, order_total_fen=100000)


def test_cuts_in_one_message_add_up() -> None:
    findings = check("给您便宜3块，再少算3块", Level.intermediate)

    assert [f.code for f in findings] == ["beyond_authority"]
    assert findings[0].concession is not None
    assert findings[0].concession.text == "少算3块"
    assert "6元" in findings[0].message


@pytest.mark.parametrize(
    ("text", "level", "stopped"),
    [
        ("再送您一个小礼品", Level.junior, True),
        ("再送您一个小礼品", Level.intermediate, False),
        ("送您一个价值15元的挂钩", Level.intermediate, True),
        ("送您一个价值15元的挂钩", Level.senior, False),
        ("價值10元的掛鈎送您一個", Level.intermediate, False),
        ("價值10元的掛鈎送您一個", Level.junior, True),
    ],
)
def test_gifts_within_the_gift_value(text: str, level: Level, stopped: bool) -> None:
    assert blocked(text, level) is stopped


@pytest.mark.parametrize(
    ("level", "stopped"),
    [
        (Level.junior, True),
        (Level.intermediate, True),
        (Level.senior, False),
        (Level.account_manager, False),
    ],
)
def test_shipping_fee_changes_within_the_cap(level: Level, stopped: bool) -> None:
    assert blocked("运费少收10元", level) is stopped


@pytest.mark.parametrize("level", list(Level))
def test_a_price_change_always_needs_the_supervisor(level: Level) -> None:
    (finding,) = check("拍下后我给您改价", level)

    assert finding.code == "beyond_authority"
    assert "主管" in finding.message


@pytest.mark.parametrize("level", list(Level))
def test_explaining_a_shop_activity_is_never_stopped(level: Level) -> None:
    assert not blocked("亲，店铺满99包邮，满199减20哦", level)


# --- promised_date (A6) -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "明天肯定到",
        "保证后天送到",
        "3天内一定到",
        "周五前能到",
        "亲，放心，明天到没问题",
        "今天下单明天到",
        "明天肯定會到",
        "最晚后天到",
        "亲，３天内绝对能收到",
    ],
)
def test_a_definite_arrival_date_is_stopped(text: str) -> None:
    findings = [f for f in check(text, Level.account_manager) if f.code == "promised_date"]

    assert len(findings) == 1
    assert findings[0].severity == "block"
    assert "预计" in findings[0].message


@pytest.mark.parametrize(
    "text",
    [
        "一般2-3天到",
        "预计后天到",
        "正常情况下，后天就能到",
        "大概明天到",
        "快的话明天就到",
        "亲，一般3～5天能到，具体以物流为准",
        "我们不能保证明天到，一般2-3天到",
        "不一定明天能到",
        "明天能到吗？",
        "今天16点前付款当天发货",
        "您明天到家后记得查收",
        "7天无理由退换",
    ],
)
def test_an_estimate_is_no_promise(text: str) -> None:
    assert "promised_date" not in codes(text)


# --- bare_negative and curt (C9, A3) ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "亲，这款没有货了",
        "不能便宜哦",
        "亲，不可以的",
        "这个不支持",
        "亲，没法包邮呢",
        "這款沒貨了",
    ],
)
def test_a_refusal_without_a_reason_is_warned(text: str) -> None:
    findings = check(text, Level.senior)

    assert [f.code for f in findings] == ["bare_negative"]
    assert findings[0].severity == "warn"
    assert findings[0].span is not None


@pytest.mark.parametrize(
    "text",
    [
        "亲，这款没有货了，推荐您看看同款的米白色",
        "不能便宜哦，因为已经是最低价了",
        "没法包邮呢，不过可以送您运费险",
        "这个颜色断货了，建议您选雾蓝",
        "亲，有没有收到货呀",
        "没有问题的亲",
        "亲，这款没有色差",
    ],
)
def test_a_refusal_with_a_reason_or_another_way_is_fine(text: str) -> None:
    assert "bare_negative" not in codes(text)


@pytest.mark.parametrize("text", ["没有", "不行", "不能", "嗯", "好", "好。", " 没有！"])
def test_a_one_word_answer_is_curt(text: str) -> None:
    assert "curt" in codes(text)


def test_a_bare_no_is_both_a_bare_negative_and_curt() -> None:
    assert codes("没有") == ["bare_negative", "curt"]


@pytest.mark.parametrize("text", ["好的亲，马上为您处理", "嗯嗯，亲稍等，这边帮您查一下", "亲"])
def test_a_full_sentence_is_not_curt(text: str) -> None:
    assert "curt" not in codes(text)


# --- i_heavy and too_long (C9, C8) -------------------------------------------------


def test_a_message_about_me_rather_than_you_is_warned() -> None:
    text = "我看了一下，我这边查到我已经发了"
    (finding,) = check(text, Level.senior)

    assert finding.code == "i_heavy"
    assert "您" in finding.message
    assert finding.span == (0, 1)


@pytest.mark.parametrize(
    "text",
    [
        "我帮您查一下，您稍等，您的包裹我马上看",
        "我们已经发货了",
        "我看一下",
    ],
)
def test_enough_you_keeps_i_in_balance(text: str) -> None:
    assert "i_heavy" not in codes(text)


def test_a_reply_over_the_split_length_is_warned() -> None:
    text = "亲，" + "这款窗帘遮光效果很好哦" * 12

    (finding,) = check(text, Level.senior)

    assert finding.code == "too_long"
    assert finding.severity == "warn"
    assert finding.span == (SPLIT, len(text))
    assert "2条" in finding.message


def test_a_reply_at_the_split_length_is_fine() -> None:
    assert codes("亲" * SPLIT) == []


# --- the whole check ------------------------------------------------------------


def test_findings_come_in_the_order_of_the_text() -> None:
    text = "不能改价，明天肯定到，给您便宜20块"

    findings = check(text, Level.junior)

    assert [f.code for f in findings] == ["bare_negative", "promised_date", "beyond_authority"]
    starts = [f.span[0] for f in findings if f.span is not None]
    assert starts == sorted(starts)


def test_a_friendly_message_within_authority_passes() -> None:
    text = "亲，这款现在有货哦，一般2-3天到，给您包邮，您放心拍"

    assert check(text, Level.senior) == []


_ALPHABET = "给您我便宜少减包邮送改价运费元块二十五百折明天后到肯定一般不没有能吗,。?！０1２3 "


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=40), st.sampled_from(list(Level)))
def test_any_text_gives_findings_inside_it_in_order(text: str, level: Level) -> None:
    findings = check_message(text, POLICY.authority[level], split_chars=20, order_total_fen=5000)

    for f in findings:
        if f.span is not None:
            assert 0 <= f.span[0] <= f.span[1] <= len(text)
    starts = [f.span[0] for f in findings if f.span is not None]
    assert starts == sorted(starts)
