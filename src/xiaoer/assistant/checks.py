"""Checks on an agent's message before it goes to the buyer (C9, A2, A5, A6).

:func:`find_concessions` reads what a message gives away (a price cut, a rate off,
free shipping, a gift, a cheaper shipping fee, a new price). :func:`check_message`
compares that with the agent's :class:`~xiaoer.core.policy.Authority` and adds the
wording checks of the handbook: no promised arrival dates, no bare refusals, no
one-word answers, the buyer (您) before the agent (我), and the length after which
a reply is split.

The rules are hand-written patterns, not a model: they must be predictable, and an
agent must be able to see why a message was stopped. They read a copy of the text
in Simplified, half-width form that keeps every character at its place, so a
finding's span points into the text the agent typed.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from xiaoer.assistant.normalize import _to_simplified
from xiaoer.core.money import fen_to_yuan, percent_of
from xiaoer.core.policy import Authority

ConcessionKind = Literal[
    "discount", "discount_percent", "free_shipping", "gift", "shipping_fee_change", "price_change"
]
Severity = Literal["block", "warn"]
Span = tuple[int, int]

__all__ = ["Concession", "ConcessionKind", "Finding", "check_message", "find_concessions"]


@dataclass(frozen=True)
class Concession:
    """Something the message offers the buyer.

    ``fen`` is the amount where the words name one: the cut for ``discount`` and
    ``shipping_fee_change``, the value for ``gift``, the new price for
    ``price_change``. ``percent`` (``discount_percent`` only) is the share taken
    off, in the unit of :attr:`Authority.max_discount_percent`: 九五折 is 0.05.
    """

    kind: ConcessionKind
    fen: int | None
    percent: Decimal | None
    text: str


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    span: Span | None
    concession: Concession | None = None


# --- a comparable copy of the text ------------------------------------------


def _comparable(text: str) -> str:
    """Simplified, half-width, lower-case, and exactly as long as ``text``."""
    chars = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch).lower()
        chars.append(folded if len(folded) == 1 else ch)
    half = "".join(chars)
    simplified = _to_simplified(half)
    if len(simplified) == len(half):
        return simplified
    return "".join(s if len(s := _to_simplified(ch)) == 1 else ch for ch in half)


_CLAUSE_END = re.compile(r"[,;!?。，；！？\n\r\t ~…]|(?<!\d)\.|\.(?!\d)")
_SENTENCE_END = re.compile(r"[;!?。；！？\n\r]|(?<!\d)\.|\.(?!\d)")
_QUOTES = re.compile(r"「[^」]*」|『[^』]*』|“[^”]*”|\"[^\"]*\"|‘[^’]*’")


@dataclass(frozen=True)
class _Text:
    original: str
    t: str  # the comparable copy
    clause_ends: tuple[int, ...]
    sentence_ends: tuple[int, ...]
    quoted: tuple[Span, ...]

    @classmethod
    def of(cls, text: str) -> _Text:
        t = _comparable(text)
        return cls(
            text,
            t,
            tuple(m.start() for m in _CLAUSE_END.finditer(t)),
            tuple(m.start() for m in _SENTENCE_END.finditer(t)),
            tuple(m.span() for m in _QUOTES.finditer(text)),
        )

    def _around(self, ends: tuple[int, ...], pos: int) -> Span:
        start, end = 0, len(self.t)
        for e in ends:
            if e < pos:
                start = e + 1
            else:
                end = e
                break
        return start, end

    def clause(self, pos: int) -> Span:
        return self._around(self.clause_ends, pos)

    def sentence(self, pos: int) -> Span:
        return self._around(self.sentence_ends, pos)

    def is_quoted(self, pos: int) -> bool:
        return any(start < pos < end for start, end in self.quoted)

    def is_question(self, pos: int) -> bool:
        start, end = self.clause(pos)
        words = self.t[start:end].strip()
        after = self.t[end : end + 1]
        return after == "?" or words.endswith(("吗", "么")) or bool(_ASKING.search(words))


_ASKING = re.compile(r"是否|能不能|可不可以|能否|有没有|是不是|要不要|行不行|包不包|好不好")


# --- numbers and amounts ----------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4}
_CN_DIGITS |= {"五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}

_AR = r"[0-9]+(?:\.[0-9]+)?"
_CN = r"[零〇一二两三四五六七八九十百千万]+"
_NUM = rf"(?:{_AR}|{_CN})"
_NOT_MONEY = (
    r"折|%|件|个|天|号|日|米|厘|cm|点|倍|次|分|小时|斤|克"
    r"|套|张|只|条|份|单|款|色|年|月|周|岁|码|毛|寸|楼|层|栋"
)
_NUM_GOES_ON = r"[\d.零〇一二两三四五六七八九十百千万]"
_MONEY_UNIT = r"(?:块钱|块|元钱|元|rmb)"
_JIAO = rf"(?:[1-9一二三四五六七八九](?!{_NUM_GOES_ON}|{_NOT_MONEY}|{_MONEY_UNIT}))"
_AMOUNT_UNIT = rf"(?:¥\s*{_NUM}(?:\s*{_MONEY_UNIT})?|{_NUM}\s*{_MONEY_UNIT}{_JIAO}?)"
_AMOUNT_BARE = rf"(?:{_NUM}(?!{_NUM_GOES_ON}|\s*(?:{_NOT_MONEY})))"
_AMOUNT = rf"(?:{_AMOUNT_UNIT}|{_AMOUNT_BARE})"
_AMOUNT_PARTS = re.compile(
    rf"¥?\s*(?P<num>{_AR}|{_CN})\s*(?P<unit>{_MONEY_UNIT})?(?P<jiao>[1-9一二三四五六七八九])?"
)


def _chinese_int(text: str) -> int | None:
    """二十 → 20, 一百五 → 150 (the spoken form), 一百零五 → 105, 两万三千 → 23000."""
    total = section = 0
    digit: int | None = None
    unit = 0
    zero = False
    for ch in text:
        if ch in _CN_DIGITS:
            value = _CN_DIGITS[ch]
            if value == 0:
                zero = True
            elif digit is not None:
                return None  # 二五: two digits in a row is not an amount
            else:
                digit = value
        elif ch == "万":
            total += (section + (digit or 0)) * 10000 or 10000
            section, digit, unit, zero = 0, None, 10000, False
        else:
            size = _CN_UNITS[ch]
            if unit and size >= unit and unit != 10000:
                return None
            section += (1 if digit is None else digit) * size
            digit, unit, zero = None, size, False
    if digit is not None:
        section += digit * (unit // 10) if unit >= 100 and not zero else digit
    return total + section


def _number(text: str) -> Decimal | None:
    if text[0].isdigit():
        return Decimal(text)
    value = _chinese_int(text)
    return None if value is None else Decimal(value)


def _amount_fen(text: str) -> int | None:
    """``"20块"``, ``"二十元"``, ``"¥15"``, ``"三块五"`` → fen; None when unreadable."""
    m = _AMOUNT_PARTS.match(text.strip())
    if not m:
        return None
    yuan = _number(m["num"])
    if yuan is None or yuan <= 0:
        return None
    fen = int(yuan * 100)
    if m["unit"] and m["jiao"]:
        fen += int(_number(m["jiao"]) or 0) * 10
    return fen


# --- what a message offers ---------------------------------------------------

_TO_BUYER = r"(?:给|为|帮)?(?:您|你|亲)?"
_SHIPPING = r"(?:运费|邮费)"
_CUT_VERB = r"(?:少收|少算|便宜|优惠|减免|减掉|减|少|降|退)"

_SHIPPING_CHANGE = re.compile(
    rf"{_SHIPPING}{_TO_BUYER}(?:再)?{_CUT_VERB}(?:了|您|你)*(?P<amt>{_AMOUNT})"
    rf"|(?:少收|少算|减掉|减|便宜|退)(?:您|你)?(?P<amt2>{_AMOUNT_UNIT})(?:的)?{_SHIPPING}"
)
_COUPON = re.compile(
    rf"(?:给|送|发|赠)(?:您|你|亲)?(?:一张|一个|张|个)?(?P<amt>{_AMOUNT_UNIT})(?:的)?(?:无门槛)?"
    r"(?:优惠券|店铺券|券|红包|优惠|减免)"
)
_PRICE_CHANGE = re.compile(
    r"改(?:个|一下|下)?价(?:格)?(?:改|调)?(?:成|为|到)?(?P<amt>" + _AMOUNT + ")?"
    rf"|(?:修改|调整)(?:一下|下)?价格|(?:价格|价钱)(?:改|调)(?:成|为|到)(?P<amt2>{_AMOUNT})"
    rf"|(?:改|调)(?:成|为|到)(?P<amt3>{_AMOUNT_UNIT}|{_AMOUNT_BARE})"
    rf"|(?:降|便宜)(?:到|至)(?P<amt4>{_AMOUNT})|(?<![少多])算(?:您|你)(?:个)?(?P<amt5>{_AMOUNT})"
)
_RATE = r"(?:[一二两三四五六七八九](?:点?[一二三四五六七八九])?|(?<![\d.])[0-9]+(?:\.[0-9]+)?)"
_PERCENT = re.compile(
    rf"(?P<rate>{_RATE})\s*折(?!叠|算|旧|现|合)|(?P<half>对折)"
    r"|(?:便宜|优惠|减|少|让利)(?:了|给|您|你)*"
    rf"(?:(?P<pct>{_AR})\s*%|百分之(?P<cnpct>[零一二两三四五六七八九十]+|{_AR}))"
)
_FREE_SHIPPING = re.compile(
    r"包邮(?!区|地区|范围|城市|省份|政策|条件)|免(?:运费|邮费|邮)"
    rf"|{_SHIPPING}(?:由|就)?(?:我们|我|咱们|店铺|小店|我方|商家|本店)(?:来)?(?:出|承担|付|包)"
    rf"|{_SHIPPING}(?:全免|免了|给您免了|不用您出|不用出|不收了|就不收了)"
    rf"|(?:不收|免收|免去|免掉)(?:您)?(?:的)?{_SHIPPING}"
)
_DISCOUNT = re.compile(
    r"(?:便宜|优惠|让利|减免|减掉|减去|少算|少收|少要|少拿|降价|抹掉|抹去|减|(?<![至多减缺很太])少|降)"
    r"(?:了|给|您|你|亲|咱们|咱|一下|下|掉|去|个|再|就|直接)*"
    rf"(?P<amt>{_AMOUNT})"
    rf"|给(?:您|你)(?P<amt2>{_AMOUNT_UNIT})(?:的)?(?:优惠|折扣|减免)"
    r"|(?:给|帮)(?:您|你)(?:再)?(?:便宜|优惠|少算|减)(?:一)?(?:点|些|一下)"
)
_GIFT = re.compile(
    r"(?:(?:赠送|附送|加送|额外送|多送)(?:给)?(?:您|你|亲)?"
    r"|(?<![配发运递传护接寄])(?:再送|送给|送|赠)(?:您|你|亲)"
    r"|(?<![配发运递传护接寄])(?:再送|送|赠)(?=[一两二三1-3]?(?:个|份|对|只|条|张|套|包|盒|件|副|瓶)))"
    r"(?!到|达|货|过|去|回|出|错|修|检|上门)"
    r"|(?:给|帮)(?:您|你)(?:加|带|放|配|备注)(?:一个|一份|个|份|送)?(?:小)?(?:礼品|礼物|赠品)"
)
_GIFT_VALUE = re.compile(rf"(?:价值|值|原价)\s*(?P<amt>{_AMOUNT})|(?P<amt2>{_AMOUNT_UNIT})的")

# Priority decides between overlapping readings: "运费少收5元" is a shipping-fee
# change, not a price cut, and "送您10元优惠券" is a cut, not a gift.
_PATTERNS: tuple[tuple[ConcessionKind, re.Pattern[str]], ...] = (
    ("shipping_fee_change", _SHIPPING_CHANGE),
    ("discount", _COUPON),
    ("price_change", _PRICE_CHANGE),
    ("discount_percent", _PERCENT),
    ("free_shipping", _FREE_SHIPPING),
    ("discount", _DISCOUNT),
    ("gift", _GIFT),
)

_NEGATION = re.compile(
    r"不(?!好意思|客气|用担心|用着急|要担心|要着急|然|过|管|少|错)|没(?!问题|关系)|无法|难以|(?<!特)别(?!的|人|家|款)"
)
_NEGATED_AFTER = re.compile(
    r"(?:就|是|也)?(?:不了|不行|不可以|不能|不可能|做不到|办不到|没办法|没法)"
)
# A shop-wide rule being explained, or a fact about the goods, rather than
# something this agent grants this buyer.
_ACTIVITY = re.compile(
    r"满减|满\s*(?:\d|[一二两三四五六七八九十百千])|活动|全场|全店|店铺|本店|官方|平台|大促|聚划算|双十一|双11"
    r"|凑|达到|以上|买.{0,3}送|拍.{0,3}送|下单(?:就)?送|第二件|会员|新人|新客|粉丝"
    r"|本身|本来|默认|原本|已经是|都是|是(?!给|帮|为).{0,4}包邮|比|相比|差价"
)
_REPORTED = re.compile(r"您(?:说|问|提到)|买家(?:说|问)")
_OFFERING = re.compile(r"给您|帮您|为您|给你|帮你")


def find_concessions(text: str) -> list[Concession]:
    """What ``text`` offers the buyer, in the order it is offered."""
    return [c for c, _ in _offers(_Text.of(text))]


def _offers(doc: _Text) -> list[tuple[Concession, Span]]:
    taken: list[Span] = []
    found: list[tuple[Concession, Span]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(doc.t):
            span = _gift_span(doc, m) if kind == "gift" else m.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            if not _is_offered(doc, span):
                continue
            concession = _concession(kind, m, doc, span)
            if concession is None:
                continue
            taken.append(span)
            found.append((concession, span))
    return sorted(found, key=lambda pair: pair[1])


def _is_offered(doc: _Text, span: Span) -> bool:
    start, end = doc.clause(span[0])
    before, after = doc.t[start : span[0]], doc.t[span[1] : end]
    clause = doc.t[start:end]
    if doc.is_quoted(span[0]) or _REPORTED.search(before):
        return False
    if _NEGATION.search(before) or _NEGATED_AFTER.match(after) or _ACTIVITY.search(clause):
        return False
    return not doc.is_question(span[0]) or bool(_OFFERING.search(clause))


def _gift_span(doc: _Text, m: re.Match[str]) -> Span:
    """The gift words: the verb and what follows, to the end of the clause."""
    _, end = doc.clause(m.start())
    return m.start(), min(end, m.start() + 16)


def _concession(
    kind: ConcessionKind, m: re.Match[str], doc: _Text, span: Span
) -> Concession | None:
    words = doc.original[span[0] : span[1]]
    groups = m.groupdict()
    amount = next(
        (groups[g] for g in ("amt", "amt2", "amt3", "amt4", "amt5") if groups.get(g)), None
    )
    fen = _amount_fen(amount) if amount else None
    if kind == "discount_percent":
        share = _share_off(m)
        if share is None:
            return None
        return Concession(kind, None, share, words)
    if kind == "gift":
        start, end = doc.clause(span[0])
        found = _GIFT_VALUE.search(doc.t, span[0], span[1]) or _GIFT_VALUE.search(doc.t, start, end)
        if found:
            fen = _amount_fen(found["amt"] or found["amt2"])
        return Concession(kind, fen, None, words)
    if kind in ("discount", "shipping_fee_change") and amount and fen is None:
        return None
    if kind == "price_change" and groups.get("amt3") and not _names_money(m["amt3"], doc, span):
        return None  # 改成3楼, 改到20: a change of something other than the price
    return Concession(kind, fen, None, words)


def _names_money(amount: str, doc: _Text, span: Span) -> bool:
    if re.search(rf"¥|{_MONEY_UNIT}", amount):
        return True
    start, end = doc.clause(span[0])
    return bool(re.search(r"价|钱|拍|付", doc.t[start:end]))


def _share_off(m: re.Match[str]) -> Decimal | None:
    """九五折 → 0.05, 8.8折 → 0.12, 对折 → 0.5, 百分之五 → 0.05."""
    if m["half"]:
        return Decimal("0.5")
    if m["pct"] or m["cnpct"]:
        value = _number(m["pct"] or m["cnpct"])
        return None if value is None or not 0 < value < 100 else value / 100
    rate = m["rate"]
    if rate[0].isdigit():
        price = Decimal(rate) * 10 if "." in rate or len(rate) == 1 else Decimal(rate)
    else:
        digits = [_CN_DIGITS[ch] for ch in rate if ch != "点"]
        price = Decimal(digits[0] * 10 + (digits[1] if len(digits) > 1 else 0))
    if not 0 < price < 100:
        return None
    return (100 - price) / 100


# --- authority (A5) ------------------------------------------------------------


def _yuan(fen: int) -> str:
    return f"{fen // 100}元" if fen % 100 == 0 else f"{fen_to_yuan(fen)}元"


def _pct(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}%"


def _beyond_authority(
    c: Concession, authority: Authority, order_total_fen: int | None, given: dict[str, int]
) -> str | None:
    """Why ``c`` is more than ``authority`` allows, or None; ``given`` sums the
    amounts already offered earlier in the message, since the caps are per order."""
    a = authority
    if c.kind == "price_change":
        return "改价只能由主管批准，客服不能自己答应买家改价。"
    if c.kind == "free_shipping":
        return None if a.free_shipping else "您目前的级别不能自己给买家包邮。"
    if c.kind == "discount_percent" and c.percent is not None:
        too_much = c.percent > a.max_discount_percent or (
            order_total_fen is not None
            and percent_of(order_total_fen, c.percent) > a.max_discount_fen
        )
        if not too_much:
            return None
        if a.max_discount_fen == 0 or a.max_discount_percent == 0:
            return "您目前的级别不能自己给买家打折。"
        return (
            f"这里打折相当于让利{_pct(c.percent)}，超出了您的权限："
            f"最多让利订单金额的{_pct(a.max_discount_percent)}，每单不超过{_yuan(a.max_discount_fen)}。"
        )
    caps = {
        "discount": (a.max_discount_fen, "优惠", "给买家降价"),
        "gift": (a.max_gift_fen, "赠品价值", "送赠品"),
        "shipping_fee_change": (a.max_shipping_fee_change_fen, "运费让利", "改运费"),
    }
    cap, label, act = caps[c.kind]
    if c.fen is None:
        return f"您目前的级别不能自己{act}。" if cap == 0 else None
    total = given.get(c.kind, 0) + c.fen
    given[c.kind] = total
    limit = f"每单最多{_yuan(cap)}"
    if c.kind == "discount" and order_total_fen is not None:
        share_cap = percent_of(order_total_fen, a.max_discount_percent)
        limit += f"，且不超过订单金额的{_pct(a.max_discount_percent)}（本单为{_yuan(share_cap)}）"
        cap = min(cap, share_cap)
    if total <= cap:
        return None
    if cap == 0 and (c.kind != "discount" or a.max_discount_fen == 0):
        return f"您目前的级别不能自己{act}。"
    amount = _yuan(c.fen) + (f"（这条消息合计{_yuan(total)}）" if total != c.fen else "")
    return f"{label}{amount}超出了您的权限：{limit}。"


def _authority_findings(
    doc: _Text, authority: Authority, order_total_fen: int | None
) -> Iterator[Finding]:
    given: dict[str, int] = {}
    for c, span in _offers(doc):
        reason = _beyond_authority(c, authority, order_total_fen, given)
        if reason is None:
            continue
        if c.kind != "price_change":
            reason += "请改成权限以内的条件，或"
        else:
            reason += "请"
        reason += "先请示主管，得到批准后再答复买家。"
        yield Finding("beyond_authority", "block", reason, span, c)


# --- arrival promises (A6) -------------------------------------------------------

_DAY = r"[一二三四五六日天末]"
_WHEN = re.compile(
    rf"大后天|后天|明天|明早|明晚|今天|今晚|当天|次日|隔天|第二天|第三天|月底|月初|年前|节前|过年前"
    rf"|(?:下|这|本)?(?:周|星期|礼拜){_DAY}|下周|这周|本周"
    rf"|(?:\d+|[一二两三四五六七八九十]+)(?:\s*[-~到至]\s*(?:\d+|[一二两三四五六七八九十]+))?"
    r"\s*(?:个)?(?:工作日|天|日|号|小时)"
)
_ARRIVE = re.compile(
    r"送到|送达|到货|到达|到手|收到|签收|到(?!账|时|付|店|期|位|处|哪|底|点|这|那)"
)
_NOT_ARRIVING = re.compile(r"^.{0,3}?(?:后|之后|以后|了以后|了之后|的话|吗|么|不了)")
_SENDING = re.compile(r"发|寄|出库|揽收|已经|已|不|没")
_CERTAIN = re.compile(
    r"肯定|一定(?!的)|保证|确保|绝对|没问题|百分百|百分之百|100%|必定|必然|准时|包您|打包票|铁定|妥妥"
)
_DOUBTED = re.compile(r"(?:不|不能|无法|没法|不敢|难以|很难)$")
_HEDGE = re.compile(
    r"一般|通常|预计|预估|估计|大概|大约|大致|左右|差不多|应该|可能|也许|或许|快的话|最快|顺利的话"
    r"|正常|不出意外|如果|要是|的话|争取|尽量|参考|为准|有望|基本|不一定|不好说|说不准|不确定"
)


def _promise_findings(doc: _Text) -> Iterator[Finding]:
    seen_end = -1
    for when in _WHEN.finditer(doc.t):
        start, end = doc.clause(when.start())
        arrive = _ARRIVE.search(doc.t, when.end(), min(end, when.end() + 10))
        if arrive is None or arrive.start() < seen_end:
            continue
        between = doc.t[when.end() : arrive.start()]
        if _SENDING.search(between) or _WHEN.search(between):
            continue
        if _NOT_ARRIVING.match(doc.t[arrive.end() : end]) or doc.is_question(when.start()):
            continue
        clause = doc.t[start:end]
        if doc.is_quoted(when.start()) or re.search(
            r"已经|已|不能|没", doc.t[start : when.start()]
        ):
            continue
        certain = [m for m in _CERTAIN.finditer(clause) if not _DOUBTED.search(clause[: m.start()])]
        s_start, s_end = doc.sentence(when.start())
        if not certain and _HEDGE.search(doc.t[s_start:s_end]):
            continue
        first = min([when.start(), *(start + m.start() for m in certain)])
        seen_end = arrive.end()
        yield Finding(
            "promised_date",
            "block",
            "到货时间由快递决定，店铺没法担保，不要向买家打包票。"
            "请改成估计的说法，例如“预计…到”“一般…天左右到”，并请买家以物流信息为准。",
            (first, arrive.end()),
        )


# --- wording (C9, C8) ------------------------------------------------------------

_REFUSAL = re.compile(
    r"(?<!有)没有(?!问题|关系|任何问题|色差|异味|味道|甲醛|影响|区别|差别|之一)|(?<!能)不能|(?<!可)不可以"
    r"|(?<!行)不行(?!的话)|没货|不支持|办不到|做不到|没办法|没法|无法|缺货|断货"
)
_EXPLAINED = re.compile(
    r"因为|由于|所以|原因|不过|但|可以|建议|推荐|换成|换个|换一|替代|代替|类似|相似|同款|其他|其它|别的"
    r"|另外|或者|要不|如果|的话|等|预计|一般|稍后|马上|尽快|补货|联系|以后|下次"
)
_CURT = frozenset(
    {
        "没有",
        "没",
        "不行",
        "不能",
        "不可以",
        "不知道",
        "不清楚",
        "不会",
        "不是",
        "没货",
        "嗯",
        "嗯嗯",
    }
    | {"好", "好的", "哦", "噢", "有", "是", "对", "行", "可以", "ok", "随便"}
)
_PUNCTUATION_RUN = re.compile(r"[\s,.;:!?。，；：！？~…、]+")
_I = re.compile(r"我(?!们)")
_YOU = re.compile(r"您|咱们")


def _wording_findings(doc: _Text) -> Iterator[Finding]:
    refusals = [
        m
        for m in _REFUSAL.finditer(doc.t)
        if not (doc.is_quoted(m.start()) or doc.is_question(m.start()))
    ]
    if refusals and not _EXPLAINED.search(_REFUSAL.sub("#", doc.t)):
        m = refusals[0]
        yield Finding(
            "bare_negative",
            "warn",
            f"只说“{doc.original[m.start() : m.end()]}”会让买家觉得被一口回绝。"
            "请说明原因，或给一个替代办法，例如推荐相近的有货款、告诉买家可以怎么做。",
            m.span(),
        )
    core = _PUNCTUATION_RUN.sub("", doc.t)
    if core in _CURT:
        yield Finding(
            "curt",
            "warn",
            "只回一个词显得冷淡。请用完整的一句话回答，可以用“亲”开头。",
            (0, len(doc.original)),
        )
    mine = list(_I.finditer(doc.t))
    yours = len(_YOU.findall(doc.t))
    if len(mine) >= 3 and len(mine) > yours:
        yield Finding(
            "i_heavy",
            "warn",
            f"这条消息说了{len(mine)}次“我”，“您/咱们”只有{yours}次。"
            "多站在买家一边说，例如把“我给你查”改成“帮您查一下”，把“我们的”说成“咱们的”。",
            mine[0].span(),
        )


def _length_finding(text: str, split_chars: int) -> Finding | None:
    length = len(text.strip())
    if length <= split_chars:
        return None
    parts = math.ceil(length / split_chars)
    return Finding(
        "too_long",
        "warn",
        f"消息共{length}个字，超过单条上限{split_chars}字，发送时会拆成{parts}条。"
        "可以删掉重复的话，或自己分成几条短消息发送。",
        (split_chars, len(text)),
    )


def check_message(
    text: str, authority: Authority, *, split_chars: int, order_total_fen: int | None = None
) -> list[Finding]:
    """Everything worth telling the agent about ``text`` before it is sent.

    Findings come in the order of their place in the text; any ``block`` finding
    means the message must not go out as it is.
    """
    doc = _Text.of(text)
    findings = [
        *_authority_findings(doc, authority, order_total_fen),
        *_promise_findings(doc),
        *_wording_findings(doc),
    ]
    too_long = _length_finding(text, split_chars)
    if too_long is not None:
        findings.append(too_long)
    return sorted(findings, key=_finding_order)


def _finding_order(f: Finding) -> tuple[int, int, str]:
    start = f.span[0] if f.span is not None else 1 << 30
    return start, 0 if f.severity == "block" else 1, f.code
