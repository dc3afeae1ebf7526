"""The message check of D2: drafts quoting the activities rightly pass, wrongly are stopped
with the real rule; the check is registered, so a reply through reception is refused."""

from __future__ import annotations

import pytest

from tests.peakday.activity_world import NOW, ZONE, double_eleven
from xiaoer.peakday.activity_check import quote_problems, quotes_in

RIGHT = [
    "亲，双十一满减是满299减30、满599减70，可以和店铺券一起用哦",
    "亲，现在下单满299元减30元，很划算的",
    "店铺券满199减20，领取后7天内有效",
    "亲，现在满199减20的券可以领",
    "亲，预售定金50元抵100元，尾款11月11日付，11月15日发货",
    "定金付50就可以了，可抵100",
    "尾款在11.11当天支付哦",
    "亲，满299减30和店铺券可以叠加使用",
    "双十一当天零点开抢，抢购价99元",
    "亲，八五折是会员价哦",
    "尾款付清后48小时内发货",
    "原价199，现在169元，已经是最低了",
    "预售的尾款11月11日付完，11月15日发货",
    "预售尾款11月11日付清后11月15日发货",
    "亲，满199送罗马杆挂钩一套",
    "卧室搭配套餐价399元，包含遮光帘、纱帘和罗马杆",
    "亲，您好，这款窗帘是现货，今天就能发",
    "好的亲，已经给您备注了，谢谢支持",
    "这款是加厚款，遮光率在95%左右",
    "亲，狂欢限时折扣11月11日零点开始，全场8折，到时候记得来",
    "零点抢购遮光帘11月11日开抢，抢购价99元，每人限购2件",
    "国庆满减已经结束了，现在有双十一满减满299减30",
    "没有折扣的亲，价格已经很实在了",
]

WRONG = [
    ("亲，现在满199减25哦", "activity_wrong", "满299减30"),
    ("双十一满减是满299减50", "activity_wrong", "满299减30"),
    ("满600减70", "activity_wrong", "满599减70"),
    ("亲，预售定金50抵150", "activity_wrong", "定金50元抵100元"),
    ("定金是30元哦", "activity_wrong", "定金50元抵100元"),
    ("预售的尾款11月12日付就可以", "activity_wrong", "尾款11月11日 00:00至11月11日 23:59支付"),
    ("预售款11月13日发货", "activity_wrong", "11月15日起发货"),
    ("预售尾款11月11日付清后11月13日发货", "activity_wrong", "11月15日起发货"),
    ("预售尾款11月12日付清后11月15日发货", "activity_wrong", "尾款11月11日"),
    ("满99送罗马杆挂钩一套", "activity_wrong", "满199元送罗马杆挂钩一套"),
    ("卧室搭配套餐价349元", "activity_wrong", "套餐价399元"),
    ("抢购价89元，先到先得", "activity_wrong", "抢购价99元"),
    ("每人限购5件哦", "activity_wrong", "每人限购2件"),
    ("现在全场8折", "activity_not_started", "狂欢限时折扣"),
    ("现在全场7折", "activity_wrong", "全场8折"),
    ("今天下单打9折", "activity_wrong", "全场8折"),
    ("亲，我们家满300减30哦", "activity_wrong", "满299减30"),
    ("店铺券满199减30", "activity_wrong", "「店铺券」满199减20"),
    ("亲，这款抢购价99元", "activity_not_started", "11月11日 00:00"),
    ("现在下单优惠30%", "activity_wrong", "全场8折"),
    ("亲，国庆满减还可以用的", "activity_ended", "国庆满减"),
    ("满199减15，国庆满减的价格", "activity_ended", "国庆满减"),
    ("亲，零点抢购遮光帘现在就能下单", "activity_not_started", "零点抢购遮光帘"),
]


@pytest.mark.database_free
@pytest.mark.parametrize("draft", RIGHT)
def test_a_draft_quoting_rightly_or_quoting_nothing_passes(draft: str) -> None:
    assert quote_problems(double_eleven(), draft, NOW, ZONE) == []


@pytest.mark.database_free
@pytest.mark.parametrize(("draft", "code", "rule"), WRONG)
def test_a_draft_quoting_wrongly_is_stopped_with_the_real_rule(
    draft: str, code: str, rule: str
) -> None:
    blocks = quote_problems(double_eleven(), draft, NOW, ZONE)
    assert [b.code for b in blocks] == [code], blocks
    assert rule in blocks[0].message


@pytest.mark.database_free
def test_the_message_says_what_the_draft_said_and_the_rule() -> None:
    [block] = quote_problems(double_eleven(), "亲，现在满199减25哦", NOW, ZONE)
    assert block.message == (
        "the draft says 满199减25, but the rule is: 「双十一满减」满299减30、满599减70"
        "（可与店铺券叠加）；「店铺券」满199减20，领取后7天内有效"
    )
    assert block.message.template == "the draft says {quoted}, but the rule is: {rules}"  # type: ignore[attr-defined]


@pytest.mark.database_free
def test_a_shop_without_such_an_activity_lets_any_figure_pass() -> None:
    only_presale = [a for a in double_eleven() if a.kind == "presale"]
    assert quote_problems(only_presale, "满199减20，全场8折", NOW, ZONE) == []


@pytest.mark.database_free
def test_quotes_are_read_in_their_many_spellings() -> None:
    said = {q.said for q in quotes_in("满299-30；满 599 元立减 70 元；八五折；定金50元可抵100")}
    assert {"满299-30", "满 599 元立减 70", "八五折"} <= said
    deposits = [q for q in quotes_in("定金50元可抵100") if q.match == "deposit"]
    assert [q.values for q in deposits] == [(5000, 10000)]
