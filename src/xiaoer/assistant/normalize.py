"""One spelling for the many ways buyers type the same question (A1).

Buyers write Traditional or Simplified, full-width or half-width, with emoji,
filler particles (亲, 呀, 哈 …) and pinyin shorthand (kd, tk, dd …). The
recogniser downstream should see one form, so :func:`normalize` maps all of
them to Simplified, half-width, lower-case text with ASCII punctuation, and
:func:`analyse` cuts that text into words with a per-shop jieba dictionary.

Nothing here downloads anything: OpenCC ships its dictionaries in the wheel and
jieba ships ``dict.txt`` in its package. jieba's prefix-dictionary cache goes to
a folder under the system temp dir, never into site-packages. Both libraries are
loaded lazily, once, behind a lock.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
import threading
import unicodedata
from collections import ChainMap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Pinyin initials buyers type for whole words. Only those seen in the shop's
# conversations: guessing more would turn real Latin words into Chinese.
PINYIN_ABBREVIATIONS: dict[str, str] = {
    "kd": "快递",
    "tk": "退款",
    "dd": "订单",
    "zm": "怎么",
    "wl": "物流",
    "fh": "发货",
    "sf": "顺丰",
    "xx": "谢谢",
    "hh": "哈哈",
    "xs": "笑死",
    "dbq": "对不起",
    "yyds": "永远的神",
}

# Words of the trade that jieba's general dictionary would cut in two.
ECOMMERCE_TERMS: tuple[str, ...] = (
    # couriers
    "顺丰", "圆通", "中通", "韵达", "申通", "京东", "邮政", "极兔", "德邦", "百世",
    # shipping and after-sales
    "包邮", "运费", "运费险", "七天无理由", "7天无理由", "退货退款", "仅退款", "退换货",
    "换货", "补发", "发货", "催发货", "物流", "快递", "单号", "运单号", "揽收", "签收",
    "拒收", "驿站", "到货", "补差价",
    # activities and payment
    "满减", "优惠券", "店铺券", "预售", "定金", "尾款", "定金膨胀", "限时折扣", "第二件半价",
    "聚划算", "双十一", "双11", "花呗", "支付宝", "信用卡", "分期", "代付", "货到付款", "改价",
    "拍下", "下单", "付款", "备注",
    # reviews and invoices
    "好评", "中评", "差评", "追评", "晒图", "好评返现", "返现", "买家秀", "发票", "专票",
    "普票", "电子发票", "抬头", "税号",
    # the goods (home decor)
    "遮光率", "遮光布", "全遮光", "半遮光", "罗马杆", "百叶帘", "卷帘", "纱帘", "窗纱",
    "布纱一体", "韩式褶", "挂钩", "四爪钩", "打孔", "免打孔", "轨道", "抱枕", "抱枕套",
    "抱枕芯", "桌布", "桌旗", "地毯", "飘窗", "落地窗", "定做", "定制", "现货", "补货",
    "正品", "有货", "没货", "缺货", "断货", "到账", "色差", "起球", "掉色", "缩水",
    "人工客服", "转人工",
)  # fmt: skip

# Heads of product names: "modifier + head" pairs in titles become one word.
PRODUCT_HEADS: frozenset[str] = frozenset(
    {"窗帘", "纱帘", "百叶帘", "卷帘", "罗马杆", "轨道", "抱枕", "靠垫", "桌布", "桌旗",
     "地毯", "地垫", "挂钩", "窗纱"}
)  # fmt: skip

_PUNCTUATION = str.maketrans(
    {
        "。": ".", "、": ",", "，": ",", "？": "?", "！": "!", "：": ":", "；": ";",
        "（": "(", "）": ")", "【": "[", "】": "]", "〜": "~", "～": "~", "×": "*",
        "“": None, "”": None, "‘": None, "’": None, '"': None, "'": None,
        "「": None, "」": None, "『": None, "』": None,
    }
)  # fmt: skip

# Math signs that carry meaning in an order ("米白+白纱", "2*2.7", "3~5天").
_KEPT_MATH = frozenset("+=<>~")
_DROPPED_CATEGORIES = frozenset({"So", "Sk", "Sm", "Cf", "Co", "Cs", "Me"})
_EMOJI_MARKS = frozenset({"\ufe0f", "\u200d", "\u20e3"})

_SEPARATOR = re.compile(r"([,.?!:;\s]+)")
_SEPARATOR_STRENGTH = "?!.;:,"
_KEPT_AT_END = frozenset("?!")
_ABBREVIATION = re.compile(
    r"(?<![a-z0-9])("
    + "|".join(sorted(PINYIN_ABBREVIATIONS, key=len, reverse=True))
    + r")(?![a-z])"
)
_TILDE_RUN = re.compile(r"~+")
_LONE_TILDE = re.compile(r"(?<!\d)~|~(?!\d)")

# Filler particles, and the neighbours that make them part of a real word:
# 亲子 and 哈密瓜 keep their first character, 母亲 and 毛呢 their last.
_LEADING_FILLERS = frozenset("亲哈啊呀哦噢喔嗯诶欸")
_TRAILING_FILLERS = frozenset("亲哈啊呀呢哦噢喔嘛啦")
_WORD_AFTER: dict[str, frozenset[str]] = {
    "亲": frozenset("子肤戚自手测友人身眼爱切和民近密属情生口吻朋家水"),
    "哈": frozenset("密尔喽啰士佛欠"),
}
_WORD_BEFORE: dict[str, frozenset[str]] = {
    "亲": frozenset("父母双相探乡省娘至近血"),
    "呢": frozenset("毛花粗"),
    "嘛": frozenset("干喇"),
    "哈": frozenset("嘻"),
}
# 什么, 怎么, 这么 … keep their 么; elsewhere a final 么 is the question 吗.
_ME_WORDS = frozenset("什怎这那多要干为凭")

_JIEBA_CHAR = r"[\u4e00-\u9fd5a-z0-9+#&._%-]"
_JIEBA_WORD = re.compile(rf"{_JIEBA_CHAR}+")
_HAN = re.compile(r"[\u4e00-\u9fd5]")
_LONGEST_TITLE_WORD = 5
_LONGEST_ATTRIBUTE_WORD = 10


@dataclass(frozen=True)
class Normalized:
    """A buyer's message made comparable, and what normalising took away."""

    text: str
    tokens: tuple[str, ...]
    had_emoji: bool
    traditional: bool


def normalize(text: str) -> str:
    """Simplified, half-width, lower-case, no emoji, no filler particles."""
    return _normalise(text)[0]


def analyse(text: str, dictionary: ShopDictionary | None = None) -> Normalized:
    """Normalise ``text`` and cut it into words with the shop's dictionary."""
    normalized, had_emoji, traditional = _normalise(text)
    words = (dictionary or default_dictionary()).tokenize(normalized)
    return Normalized(normalized, words, had_emoji, traditional)


def _normalise(text: str) -> tuple[str, bool, bool]:
    text = unicodedata.normalize("NFKC", text).translate(_PUNCTUATION)
    text, had_emoji = _strip_symbols(text)
    text = _LONE_TILDE.sub("", _TILDE_RUN.sub("~", text))
    simplified = _to_simplified(text)
    traditional = simplified != text
    text = simplified.lower()
    text = _ABBREVIATION.sub(lambda m: PINYIN_ABBREVIATIONS[m.group(1)], text)
    return _tidy(text), had_emoji, traditional


def _strip_symbols(text: str) -> tuple[str, bool]:
    kept: list[str] = []
    had_emoji = False
    for ch in text:
        category = unicodedata.category(ch)
        if ch in _KEPT_MATH:
            kept.append(ch)
        elif (
            category in _DROPPED_CATEGORIES
            or (category == "Cc" and not ch.isspace())
            or "\ufe00" <= ch <= "\ufe0f"
            or "\U000e0100" <= ch <= "\U000e01ef"
        ):
            if category == "So" or ch in _EMOJI_MARKS or "\U0001f3fb" <= ch <= "\U0001f3ff":
                had_emoji = True
        else:
            kept.append(ch)
    return "".join(kept), had_emoji


def _tidy(text: str) -> str:
    """Drop fillers clause by clause; one mark between clauses, none in front."""
    parts = _SEPARATOR.split(text)
    pieces, separators = parts[0::2], parts[1::2]
    out: list[str] = []
    pending = ""
    for i, piece in enumerate(pieces):
        piece = _strip_fillers(piece)
        if piece:
            if out:
                out.append(_one_separator(pending))
            out.append(piece)
            pending = ""
        if i < len(separators):
            pending += separators[i]
    last = _one_separator(pending)
    if out and last in _KEPT_AT_END:
        out.append(last)
    return "".join(out)


def _one_separator(run: str) -> str:
    for mark in _SEPARATOR_STRENGTH:
        if mark in run:
            return mark
    return " "


def _strip_fillers(piece: str) -> str:
    while piece:
        first, last = piece[0], piece[-1]
        rest = piece[1:2]
        if first in _LEADING_FILLERS and rest not in _WORD_AFTER.get(first, ()):
            piece = piece[1:]
            continue
        before = piece[-2:-1]
        if last in _TRAILING_FILLERS and before not in _WORD_BEFORE.get(last, ()):
            piece = piece[:-1]
            continue
        if last == "么" and before not in _ME_WORDS:
            piece = piece[:-1] + "吗" if before else ""
            continue
        break
    return piece


# --- OpenCC ---------------------------------------------------------------

_converter: Any = None
_converter_lock = threading.Lock()


def _to_simplified(text: str) -> str:
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    # A few phrase rules give text that converts again ("么麼" → "幺麽" → "幺么");
    # going on to the fixed point keeps normalize idempotent.
    for _ in range(4):
        converted = str(_converter.convert(text))
        if converted == text:
            break
        text = converted
    return text


# --- jieba ----------------------------------------------------------------

_base: Any = None
_base_lock = threading.Lock()
_default: ShopDictionary | None = None
_default_lock = threading.Lock()


def _cache_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), "xiaoer-jieba")
    os.makedirs(path, exist_ok=True)
    return path


def _base_tokenizer() -> Any:
    """jieba's general dictionary, loaded once; never given a shop's words."""
    global _base
    if _base is None:
        with _base_lock:
            if _base is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.tmp_dir = _cache_dir()
                tokenizer.initialize()
                _base = tokenizer
    return _base


def _shop_tokenizer(words: Iterable[str]) -> Any:
    """A tokenizer of its own that reads the general dictionary through an overlay.

    Copying jieba's 580 000-entry prefix dictionary for every shop would cost
    tens of megabytes each; the shop's words live only in the overlay's front map.
    """
    import jieba

    base = _base_tokenizer()
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = base.tmp_dir
    tokenizer.FREQ = ChainMap({}, base.FREQ)
    tokenizer.total = base.total
    tokenizer.initialized = True
    for word in sorted(words):
        tokenizer.add_word(word)
    return tokenizer


def default_dictionary() -> ShopDictionary:
    """The e-commerce terms alone, for text that belongs to no shop."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = ShopDictionary()
    return _default


class ShopDictionary:
    """A shop's vocabulary: :data:`ECOMMERCE_TERMS` plus its own product words.

    Each dictionary owns its jieba tokenizer, so one shop's words never change
    how another shop's messages are cut.
    """

    def __init__(self, words: Iterable[str] = ()) -> None:
        found = (_dictionary_word(w) for w in (*ECOMMERCE_TERMS, *words))
        self.words: frozenset[str] = frozenset(w for w in found if w)
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_catalog(cls, titles: Iterable[str], attribute_values: Iterable[str]) -> ShopDictionary:
        """Words from product titles (short chunks and "modifier + head" pairs)
        and from SKU attribute values (colours, sizes, styles)."""
        words: set[str] = set()
        for title in titles:
            for chunk in _JIEBA_WORD.findall(normalize(title)):
                if len(chunk) <= _LONGEST_TITLE_WORD:
                    words.add(chunk)
                words.update(_head_compounds(chunk))
        for value in attribute_values:
            for chunk in _JIEBA_WORD.findall(normalize(value)):
                if len(chunk) <= _LONGEST_ATTRIBUTE_WORD:
                    words.add(chunk)
        return cls(words)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and normalize(word) in self.words

    def tokenize(self, normalized_text: str) -> tuple[str, ...]:
        """Words of text already passed through :func:`normalize`."""
        return tuple(str(w) for w in self._jieba().cut(normalized_text) if not w.isspace())

    def _jieba(self) -> Any:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = _shop_tokenizer(self.words)
        return self._tokenizer


def _dictionary_word(word: str) -> str:
    """The word as jieba can hold it, or "" when it cannot be one word.

    Latin-only words are left out: jieba keeps a run of letters whole anyway.
    """
    word = normalize(word)
    if len(word) >= 2 and _JIEBA_WORD.fullmatch(word) and _HAN.search(word):
        return word
    return ""


def _head_compounds(chunk: str) -> set[str]:
    """The word before a product head: "北欧简约全遮光窗帘" gives "遮光窗帘"."""
    cut = [str(w) for w in _base_tokenizer().cut(chunk, HMM=False)]
    found: set[str] = set()
    for before, head in itertools.pairwise(cut):
        compound = before + head
        if head in PRODUCT_HEADS and len(compound) <= _LONGEST_TITLE_WORD:
            found.add(compound)
    return found
