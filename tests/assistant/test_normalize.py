"""Buyer text normalisation (A1): one spelling for the many ways buyers type.

Speed, for the record rather than as an assertion (measured on the development
machine): the first call loads jieba's general dictionary, about 1 s; a new
ShopDictionary with a few dozen product words adds about 10 ms on its first
use; after that ``analyse`` of a chat-sized message takes about 0.2 ms.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xiaoer.assistant import (
    ECOMMERCE_TERMS,
    PINYIN_ABBREVIATIONS,
    Normalized,
    ShopDictionary,
    analyse,
    normalize,
)
from xiaoer.assistant.normalize import _base_tokenizer

TITLES = (
    "北欧简约全遮光窗帘 成品挂钩款 卧室客厅通用",
    "白纱窗帘 透光不透人 阳台飘窗纱帘",
    "铝合金百叶帘 卫生间厨房办公室 免打孔",
)
ATTRIBUTES = ("米白", "雾蓝", "燕麦色", "宽2米*高2.7米", "每米宽(高2.8米内)")


@pytest.fixture(scope="module")
def shop() -> ShopDictionary:
    return ShopDictionary.from_catalog(TITLES, ATTRIBUTES)


# --- script and width ---------------------------------------------------------


def test_traditional_becomes_simplified() -> None:
    assert normalize("請問這款窗簾有現貨嗎") == "请问这款窗帘有现货吗"


def test_traditional_is_flagged() -> None:
    assert analyse("這款還有貨嗎").traditional
    assert not analyse("这款还有货吗").traditional


def test_full_width_digits_and_letters_become_half_width() -> None:
    assert normalize("１２３") == "123"
    assert normalize("ＸＬ号宽２．７米") == "xl号宽2.7米"


def test_ideographic_space_is_an_ordinary_space() -> None:
    assert normalize("有货吗\u3000在线等") == "有货吗 在线等"


def test_chinese_punctuation_becomes_ascii() -> None:
    assert normalize("好的，那发顺丰。可以吗？") == "好的,那发顺丰.可以吗?"
    assert normalize("（定做）尺寸：宽３米；高２．７米！") == "(定做)尺寸:宽3米;高2.7米!"


def test_runs_of_marks_become_one() -> None:
    assert normalize("还没发货？？？") == "还没发货?"
    assert normalize("在吗。。。有人吗") == "在吗.有人吗"


def test_latin_is_lower_case() -> None:
    assert normalize("PVC的还是铝的") == "pvc的还是铝的"


def test_whitespace_collapses() -> None:
    assert normalize("  宽  3米 \t 高\n2.7米  ") == "宽 3米 高 2.7米"


def test_order_signs_are_kept() -> None:
    assert normalize("米白+白纱 宽2×2.7 3～5天") == "米白+白纱 宽2*2.7 3~5天"


# --- emoji ---------------------------------------------------------------------


def test_emoji_are_removed_and_flagged() -> None:
    result = analyse("还不发货吗😡😡")
    assert result.text == "还不发货吗"
    assert result.had_emoji


def test_emoji_sequences_leave_nothing_behind() -> None:
    # ZWJ family, skin tone, flag and keycap.
    assert normalize("谢谢👨\u200d👩\u200d👧👍🏽🇨🇳") == "谢谢"
    assert analyse("❤️").had_emoji


def test_plain_text_has_no_emoji_flag() -> None:
    assert not analyse("有货吗").had_emoji


def test_decorative_tilde_goes() -> None:
    assert normalize("亲~在吗~~") == "在吗"


# --- filler particles ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("亲，在吗？", "在吗?"),
        ("亲亲在线吗", "在线吗"),
        ("在吗亲", "在吗"),
        ("什么时候发货呀", "什么时候发货"),
        ("好的呢亲", "好的"),
        ("哈哈好的", "好的"),
        ("谢谢哈", "谢谢"),
        ("啊这个有货吗", "这个有货吗"),
        ("嗯嗯好的", "好的"),
        ("便宜点嘛", "便宜点"),
        ("好啦", "好"),
        ("好的哦", "好的"),
        ("太贵了啊!", "太贵了!"),
        ("好的, 哈哈, 我去拍了", "好的,我去拍了"),
    ],
)
def test_filler_particles_are_removed(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "kept",
    [
        "亲子窗帘",
        "亲肤面料",
        "亲测好用",
        "哈密瓜色的抱枕",
        "哈喽",
        "送给母亲",
        "这是毛呢",
        "你要干嘛",
        "这是什么",
        "怎么",
        "为什么",
        "这么",
    ],
)
def test_particles_inside_words_stay(kept: str) -> None:
    assert normalize(kept) == kept


def test_particles_in_the_middle_stay() -> None:
    assert normalize("这个呢子面料啊哈哈还行") == "这个呢子面料啊哈哈还行"


def test_a_final_me_asks_like_ma() -> None:
    # 么 at the end of a question is 吗 typed with another key; 什么 stays.
    assert normalize("这个卷帘有货么") == "这个卷帘有货吗"
    assert normalize("這個捲簾有貨麼") == "这个卷帘有货吗"
    assert normalize("你说什么") == "你说什么"


def test_a_message_of_fillers_only_is_empty() -> None:
    assert normalize("哈哈哈哈") == ""
    assert normalize("亲~") == ""


# --- pinyin shorthand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("kd到哪了", "快递到哪了"),
        ("KD到哪了", "快递到哪了"),
        ("申请了tk怎么还没处理", "申请了退款怎么还没处理"),
        ("dd里规格选错了", "订单里规格选错了"),
        ("dd123456", "订单123456"),
        ("zm还不发货", "怎么还不发货"),
        ("wl信息不更新", "物流信息不更新"),
        ("发sf吗", "发顺丰吗"),
        ("xx", "谢谢"),
        ("dbq 地址写错了", "对不起 地址写错了"),
        ("窗帘yyds", "窗帘永远的神"),
    ],
)
def test_pinyin_abbreviations_expand(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_abbreviations_inside_latin_words_stay() -> None:
    assert normalize("xxl码") == "xxl码"
    assert normalize("add") == "add"
    assert normalize("pdd") == "pdd"


def test_every_abbreviation_is_lower_case_latin() -> None:
    assert all(k.isascii() and k.isalpha() and k.islower() for k in PINYIN_ABBREVIATIONS)


# --- idempotence -------------------------------------------------------------------------

SHOP_CHARACTERS = (
    "亲哈啊呀呢哦嘛啦么吗嗯什怎这子密母毛干喽"
    "請問這款窗簾有現貨麼們說個買賣發價錢還乾著"
    "请问这款窗帘有现货们说个买卖发价钱还干着"
    "，。？！：；（）、～〜×“”　,.?!:;()~*+ \t\n"
    "０１２３ＡＢＣ0123abcKDTKXXkdtkdbqyyds"
    "😊🙏😡👍🏽❤️\u200d\ufe0f\u20e3©°"
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=SHOP_CHARACTERS, max_size=40))
def test_normalising_twice_changes_nothing_on_shop_text(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_normalising_twice_changes_nothing_on_any_text(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


def test_a_phrase_opencc_converts_twice_still_settles() -> None:
    # t2s turns 么麼 into 幺麽 and only a second pass into 幺么.
    assert normalize("么麼") == normalize(normalize("么麼"))


def test_every_data_set_message_normalises_to_a_fixed_point() -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "assistant" / "messages.tsv"
    texts = [line.split("\t")[3] for line in data.read_text(encoding="utf-8").splitlines()[1:]]
    assert [t for t in texts if normalize(normalize(t)) != normalize(t)] == []


# --- words -----------------------------------------------------------------------------------


def test_analyse_returns_text_tokens_and_flags() -> None:
    result = analyse("請問七天無理由退換嗎？😊")
    assert result == Normalized(
        text="请问七天无理由退换吗?",
        tokens=result.tokens,
        had_emoji=True,
        traditional=True,
    )
    assert "七天无理由" in result.tokens
    assert "".join(result.tokens) == result.text


def test_trade_terms_stay_whole() -> None:
    tokens = analyse("能发顺丰吗 有运费险吗 定金和尾款什么时候付 遮光率多少").tokens
    for word in ("顺丰", "运费险", "定金", "尾款", "遮光率"):
        assert word in tokens


def test_every_trade_term_is_one_token() -> None:
    split = [t for t in ECOMMERCE_TERMS if analyse(t).tokens != (normalize(t),)]
    assert split == []


def test_shop_product_words_stay_whole(shop: ShopDictionary) -> None:
    tokens = analyse("遮光窗帘雾蓝的有货吗", shop).tokens
    assert "遮光窗帘" in tokens
    assert "雾蓝" in tokens


def test_catalog_words_come_from_titles_and_attributes(shop: ShopDictionary) -> None:
    assert "遮光窗帘" in shop  # "modifier + head" inside a long title chunk
    assert "白纱窗帘" in shop  # a short title chunk
    assert "燕麦色" in shop  # an attribute value
    assert "七天无理由" in shop  # every shop has the trade terms
    assert "卧室客厅通用" not in shop  # too long to be a word a buyer types


def test_dictionary_words_are_normalised(shop: ShopDictionary) -> None:
    assert "霧藍" in shop
    assert ShopDictionary(["百葉簾遮光款"]).words >= {"百叶帘遮光款"}


def test_one_shops_words_do_not_reach_another_shop(shop: ShopDictionary) -> None:
    other = ShopDictionary(["星空蓝"])
    assert "遮光窗帘" not in analyse("遮光窗帘", other).tokens
    assert "遮光窗帘" not in analyse("遮光窗帘").tokens
    assert "遮光窗帘" in analyse("遮光窗帘", shop).tokens
    assert "星空蓝" in analyse("星空蓝有吗", other).tokens


def test_shop_words_do_not_reach_jiebas_global_dictionary(shop: ShopDictionary) -> None:
    analyse("遮光窗帘", shop)
    assert "遮光窗帘" not in jieba.lcut("遮光窗帘")


def test_tokens_hold_no_whitespace() -> None:
    assert all(t.strip() for t in analyse("宽 3米  高 2.7米").tokens)


def test_empty_text_has_no_tokens() -> None:
    assert analyse("") == Normalized("", (), had_emoji=False, traditional=False)
    assert analyse("😊").tokens == ()


def test_jieba_cache_goes_to_the_temp_dir() -> None:
    tokenizer = _base_tokenizer()
    assert Path(tokenizer.tmp_dir).is_relative_to(tempfile.gettempdir())
    assert not (Path(jieba.__file__).parent / "jieba.cache").exists()


def test_first_use_from_many_threads_builds_one_tokenizer() -> None:
    fresh = ShopDictionary.from_catalog(TITLES, ATTRIBUTES)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: analyse("遮光窗帘还有货吗", fresh), range(32)))
    assert {r.tokens for r in results} == {results[0].tokens}
    assert fresh._jieba() is fresh._jieba()
