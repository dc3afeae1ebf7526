"""A keyword list per intent, first match wins: the yardstick for the classifier (A1, A2).

It is deliberately plain, the kind of rule list a shop would write by hand, so
that ``xiaoer assistant eval`` can show how much the learnt classifier adds.
The keywords come from the label rules and the ``train`` split; the lists are
tried in the order written, and a message that matches none is ``other``
(and, for the bargain type, ``assertive``). Confidence is 1 for a keyword
match and 0 for the fallback.
"""

from __future__ import annotations

from xiaoer.assistant.classifier import Classification
from xiaoer.assistant.features import prepare

# More specific lists come first: "退款" before "退", "还没发" before "发货".
INTENT_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("human", ("人工", "真人", "机器人", "主管", "店长", "打电话")),
    ("complaint", ("投诉", "态度", "太差", "12315", "骗人", "不满意", "破店")),
    ("invoice", ("发票", "开票", "专票", "抬头", "税号")),
    ("review", ("好评", "评价", "返现", "晒图", "追评", "红包")),
    ("refund", ("退款", "退钱", "到账", "钱什么时候", "仅退款")),
    ("damaged_wrong", ("破了", "坏", "少发", "瑕疵", "污渍", "发错", "断的", "少了")),
    ("return_exchange", ("退货", "退换", "换货", "能退", "想退", "运费险", "无理由")),
    ("change_address", ("地址", "收货人", "收件人", "电话号码", "门牌")),
    ("modify_order", ("拍错", "改成", "备注", "换成", "合并")),
    ("not_shipped", ("还没发", "还不发", "怎么还", "催一下发货")),
    ("logistics", ("到哪", "物流", "单号", "签收", "包裹")),
    ("payment", ("付款", "支付", "花呗", "分期", "信用卡", "代付")),
    ("promotion", ("活动", "优惠券", "券", "满减", "预售", "定金", "半价", "会员")),
    ("shipping_fee", ("包邮", "运费", "邮费")),
    ("courier", ("快递", "顺丰", "中通", "韵达", "圆通", "申通", "邮政", "德邦", "极兔")),
    ("arrival_time", ("几天到", "几天能到", "多久到", "能到吗", "收到吗", "要几天")),
    ("ship_time", ("什么时候发", "啥时候发", "发货", "能发")),
    ("bargain", ("便宜", "少点", "优惠点", "打折", "贵", "底价", "最低", "抹", "零头", "送")),
    ("authenticity", ("正品", "正版", "授权", "假货", "专柜", "官方")),
    ("shelf_life", ("生产日期", "保质期", "过期", "质保", "保修")),
    ("origin", ("产地", "哪里发", "哪里出", "国产", "进口", "厂家")),
    ("stock", ("有货", "现货", "库存", "补货", "断货", "缺货", "没货")),
    ("quality", ("质量", "品质", "起球", "缩水", "掉色", "甲醛", "效果")),
    ("size_advice", ("窗户", "多大", "多宽", "怎么量", "几片")),
    ("product_spec", ("遮光率", "材质", "挂钩", "直径", "厚度", "安装", "打孔", "机洗")),
    ("thanks_bye", ("谢谢", "感谢", "拜拜", "好的", "知道了", "明白了", "收到")),
    ("greeting", ("在吗", "在不", "有人吗", "在线", "你好", "您好", "哈喽", "hi")),
)

BARGAIN_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("threat_lure", ("差评", "中评", "投诉", "好评", "批发", "采购", "批量")),
    ("compare", ("别家", "隔壁", "人家", "拼多多", "京东", "抖音", "同款")),
    ("sympathy", ("学生", "失业", "毕业", "工资", "没钱", "买不起", "退休")),
    ("excuse", ("老顾客", "老客", "买过", "预算", "昨天", "上次", "答应")),
    ("promise", ("下次", "以后", "回购", "介绍", "宣传", "朋友圈")),
    ("petty", ("送", "赠品", "礼物", "包邮", "包个邮", "抹", "零头")),
)


class KeywordBaseline:
    """Classifies by the first keyword list with a word in the normalised message."""

    def classify(self, text: str) -> Classification:
        prepared = prepare(text)
        intent = _first_match(prepared, INTENT_KEYWORDS)
        if intent is None:
            return Classification("other", 0.0)
        if intent != "bargain":
            return Classification(intent, 1.0)
        kind, confidence = self.bargain_type(text)
        return Classification(intent, 1.0, kind, confidence)

    def bargain_type(self, text: str) -> tuple[str, float]:
        kind = _first_match(prepare(text), BARGAIN_KEYWORDS)
        return (kind, 1.0) if kind is not None else ("assertive", 0.0)


def _first_match(text: str, lists: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    for label, keywords in lists:
        if any(k in text for k in keywords):
            return label
    return None
