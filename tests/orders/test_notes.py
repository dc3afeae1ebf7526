"""Seller notes (O3): the handbook's one-line note read in the variants agents type,
checked field by field, written back in canonical form, and cut to the platform memo."""

import calendar
import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xiaoer.http.i18n import Translator
from xiaoer.orders.notes import (
    FIELDS,
    FLAG_COLOURS,
    MEMO_LIMIT_BYTES,
    Delivery,
    Design,
    NoteError,
    SellerNote,
    check_flag,
    format_note,
    memo_text,
    parse_note,
)

pytestmark = pytest.mark.database_free

HANDBOOK = "刘贺,3米*2.4米,图案正常,12月19发货,自提。送胶。"
LIU_HE = SellerNote(
    name="刘贺",
    width_m=Decimal("3"),
    height_m=Decimal("2.4"),
    design=Design.NORMAL,
    ship_month=12,
    ship_day=19,
    delivery=Delivery.PICKUP,
    extras=("送胶",),
)

# Written out here rather than imported, so the tests pin the accepted vocabulary.
DESIGN_SYNONYMS = {
    Design.NORMAL: ["图案正常", "正常", "原图"],
    Design.MODIFIED: ["图案修改", "改图", "修改图案", "图案改"],
    Design.CUSTOM: ["定制", "定制图案", "来图定制", "图案定制"],
}
DELIVERY_SYNONYMS = {
    Delivery.PICKUP: ["自提", "自取"],
    Delivery.DOWNSTAIRS: ["送货到楼下", "送到楼下", "楼下"],
    Delivery.INSTALL: ["包送货安装", "送货安装", "上门安装", "送装"],
}


def note_of(text: str) -> SellerNote:
    parsed = parse_note(text)
    assert isinstance(parsed, SellerNote), parsed
    return parsed


def errors_of(text: str) -> dict[str, str]:
    """The errors of a bad note by field, checking they come one per field, in field order."""
    parsed = parse_note(text)
    assert isinstance(parsed, list), parsed
    fields = [error.field for error in parsed]
    assert fields == sorted(fields, key=FIELDS.index)
    assert len(set(fields)) == len(fields)
    return {error.field: error.message for error in parsed}


def line_with(
    name: str = "刘贺",
    size: str = "3米*2.4米",
    design: str = "图案正常",
    date: str = "12月19发货",
    delivery: str = "自提",
) -> str:
    return ",".join((name, size, design, date, delivery))


# --- the handbook example ---------------------------------------------------------


def test_the_handbook_example_reads_and_writes_back_unchanged() -> None:
    assert note_of(HANDBOOK) == LIU_HE
    assert format_note(LIU_HE) == HANDBOOK
    assert LIU_HE.ship_date == "12-19"


def test_the_json_form_has_sizes_as_numbers() -> None:
    as_json = LIU_HE.to_json()
    assert as_json == {
        "name": "刘贺",
        "width_m": 3,
        "height_m": 2.4,
        "design": "normal",
        "ship_date": "12-19",
        "delivery": "pickup",
        "extras": ["送胶"],
    }
    assert isinstance(as_json["width_m"], int)
    assert json.dumps(note_of(line_with(size="240.5cm*0.5cm")).to_json()["width_m"]) == "2.405"
    assert note_of(line_with(size="240.5cm*0.5cm")).to_json()["height_m"] == 0.005


# --- separators --------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "刘贺，3米*2.4米，图案正常，12月19发货，自提。送胶。",
        "刘贺、3米*2.4米、图案正常、12月19发货、自提。送胶。",
        "刘贺;3米*2.4米;图案正常;12月19发货;自提。送胶。",
        "刘贺；3米*2.4米；图案正常；12月19发货；自提。送胶。",
        "刘贺，3米*2.4米、图案正常;12月19发货；自提。送胶。",
        "  刘贺 ,  3米*2.4米 ， 图案正常 、12月19发货 ;自提 。 送胶 。 ",
        "\u3000刘贺\u3000，3米*2.4米，图案正常，12月19发货，自提。送胶。\u3000",
        "刘贺,3米*2.4米,图案正常,12月19发货,自提,送胶",
        "刘贺,3米*2.4米,图案正常,12月19发货,自提；送胶；",
        "刘贺,,3米*2.4米,图案正常,12月19发货,自提。送胶。",  # a doubled separator counts once
        "刘贺﹐3米*2.4米､图案正常﹔12月19发货,自提｡送胶｡",  # small and half-width forms
    ],
)
def test_fields_are_separated_by_any_comma_or_semicolon_with_spaces_around(line: str) -> None:
    assert note_of(line) == LIU_HE


# --- sizes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "width", "height"),
    [
        ("3米*2.4米", "3", "2.4"),
        ("3米＊2.4米", "3", "2.4"),
        ("3米×2.4米", "3", "2.4"),
        ("3米x2.4米", "3", "2.4"),
        ("3米X2.4米", "3", "2.4"),
        ("3m*2.4m", "3", "2.4"),
        ("3M*2.4M", "3", "2.4"),
        ("3mx2.4m", "3", "2.4"),
        ("300厘米*240厘米", "3", "2.4"),
        ("300cm*240cm", "3", "2.4"),
        ("300CM×240CM", "3", "2.4"),
        ("3 米 * 2.4 米", "3", "2.4"),
        ("300cm*2.4m", "3", "2.4"),  # each number with its own unit
        ("300*240cm", "3", "2.4"),  # a unit on one number applies to both
        ("300cm*240", "3", "2.4"),
        ("3*2.4米", "3", "2.4"),
        ("3米*2.4", "3", "2.4"),
        ("3*2.4", "3", "2.4"),  # no unit: below 10 is metres
        ("300*240", "3", "2.4"),  # no unit: 10 or more is centimetres
        ("3*240", "3", "2.4"),  # no unit: decided number by number
        ("10*9.99", "0.1", "9.99"),  # the edges of the bare-number rule
        ("３米＊２．４米", "3", "2.4"),  # full-width digits and punctuation
        ("３００ｃｍ×２４０ｃｍ", "3", "2.4"),  # full-width letters
        ("3.000米*2.40米", "3", "2.4"),
        ("240.5cm*0.5cm", "2.405", "0.005"),  # centimetres convert exactly
        ("50米*0.001米", "50", "0.001"),  # the largest and smallest sides
        ("5000cm*.1cm", "50", "0.001"),
    ],
)
def test_sizes_in_every_unit_and_separator(size: str, width: str, height: str) -> None:
    note = note_of(line_with(size=size))
    # Compared digit for digit: the note keeps one canonical Decimal, exact to the millimetre.
    assert (str(note.width_m), str(note.height_m)) == (width, height)


def test_a_size_that_is_not_a_pair_gives_the_handbook_message() -> None:
    assert errors_of(line_with(size="3米x")) == {
        "size": 'size "3米x" is not width*height: expected e.g. 3米*2.4米 or 300cm×240cm'
    }


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("3mm*2m", "is not width*height"),
        ("三米*两米", "is not width*height"),
        ("3米", "is not width*height"),
        ("3米*2.4米*1米", "is not width*height"),
        ("0*2米", "width 0 m is out of range: expected more than 0 and at most 50 m"),
        ("60米*2米", "width 60 m is out of range"),
        ("5001cm*2m", "width 50.01 m is out of range"),
        ("3米*240", "height 240 m is out of range"),  # 米 applies to 240 as well
        ("2.4567米*2米", "width 2.4567 m is finer than a millimetre"),
        ("3米*240.55cm", "height 2.4055 m is finer than a millimetre"),
    ],
)
def test_sizes_that_cannot_be_right_are_refused(size: str, problem: str) -> None:
    errors = errors_of(line_with(size=size))
    assert list(errors) == ["size"]
    assert errors["size"].startswith(f'size "{size}"')
    assert problem in errors["size"]


def test_both_bad_sides_are_named_in_one_size_error() -> None:
    message = errors_of(line_with(size="0*0"))["size"]
    assert "width 0 m is out of range" in message
    assert "height 0 m is out of range" in message


# --- ship dates --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date", "ship_date"),
    [
        ("12月19", "12-19"),
        ("12月19日", "12-19"),
        ("12月19号", "12-19"),
        ("12.19", "12-19"),
        ("12-19", "12-19"),
        ("12/19", "12-19"),
        ("12月19发货", "12-19"),
        ("12月19日发货", "12-19"),
        ("12.19发", "12-19"),
        ("12-19发货", "12-19"),
        ("12 / 19 发货", "12-19"),
        ("１２月１９日发货", "12-19"),
        ("１２．１９", "12-19"),
        ("1月5", "01-05"),
        ("01-05", "01-05"),
        ("2月29", "02-29"),  # no year is written, so a leap day is allowed
        ("12月31日", "12-31"),
    ],
)
def test_dates_in_every_form(date: str, ship_date: str) -> None:
    assert note_of(line_with(date=date)).ship_date == ship_date


@pytest.mark.parametrize(
    ("date", "message"),
    [
        ("13月1", 'ship_date "13月1": month 13 does not exist: expected 1 to 12'),
        ("0月5", 'ship_date "0月5": month 0 does not exist: expected 1 to 12'),
        ("2月30", 'ship_date "2月30": month 2 has no day 30: expected 1 to 29'),
        ("4月31发货", 'ship_date "4月31发货": month 4 has no day 31: expected 1 to 30'),
        ("12月0", 'ship_date "12月0": month 12 has no day 0: expected 1 to 31'),
        ("明天", 'ship_date "明天" is not a date: expected e.g. 12月19发货, 12.19, 12-19 or 12/19'),
        ("2025-12-19", 'ship_date "2025-12-19" is not a date'),
        ("12月19日前", 'ship_date "12月19日前" is not a date'),
    ],
)
def test_dates_that_do_not_exist_are_refused(date: str, message: str) -> None:
    errors = errors_of(line_with(date=date))
    assert list(errors) == ["ship_date"]
    assert errors["ship_date"].startswith(message)


# --- design and delivery words -----------------------------------------------------


@pytest.mark.parametrize(
    ("word", "design"),
    [(word, design) for design, words in DESIGN_SYNONYMS.items() for word in words],
)
def test_every_design_word(word: str, design: Design) -> None:
    assert note_of(line_with(design=word)).design is design


@pytest.mark.parametrize(
    ("word", "delivery"),
    [(word, delivery) for delivery, words in DELIVERY_SYNONYMS.items() for word in words],
)
def test_every_delivery_word(word: str, delivery: Delivery) -> None:
    assert note_of(line_with(delivery=word)).delivery is delivery


def test_an_unknown_design_word_lists_the_accepted_ones() -> None:
    message = errors_of(line_with(design="图案好看"))["design"]
    assert message.startswith('design "图案好看" is not a known design word: expected one of ')
    for words in DESIGN_SYNONYMS.values():
        for word in words:
            assert word in message


def test_an_unknown_delivery_word_lists_the_accepted_ones() -> None:
    message = errors_of(line_with(delivery="快递"))["delivery"]
    assert message.startswith('delivery "快递" is not a known delivery word: expected one of ')
    for words in DELIVERY_SYNONYMS.values():
        for word in words:
            assert word in message


def test_spaces_inside_a_word_do_not_matter() -> None:
    note = note_of(line_with(design="图案 正常", delivery="送货 安装"))
    assert (note.design, note.delivery) == (Design.NORMAL, Delivery.INSTALL)


# --- extras ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivery", "extras"),
    [
        ("自提", ()),
        ("自提。", ()),
        ("自提。送胶。", ("送胶",)),
        ("自提。送胶", ("送胶",)),
        ("自提。送胶。送挂钩。", ("送胶", "送挂钩")),
        ("自提,送胶;送挂钩；多给两个钉，加急", ("送胶", "送挂钩", "多给两个钉", "加急")),
        ("自提。 送胶 。。 ；", ("送胶",)),
        ("自提。送胶、送挂钩。", ("送胶、送挂钩",)),  # 、 separates fields, not extras
        ("自提、送胶", ("送胶",)),
        ("自提。ＶＩＰ客户。", ("VIP客户",)),  # extras are NFKC-normalised too
    ],
)
def test_extras_follow_the_delivery(delivery: str, extras: tuple[str, ...]) -> None:
    note = note_of(line_with(delivery=delivery))
    assert (note.delivery, note.extras) == (Delivery.PICKUP, extras)


# --- the name ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("刘贺", "刘贺"),
        ("  刘贺 ", "刘贺"),
        ("ＬＩＵ Ｈｅ", "ＬＩＵ Ｈｅ"),  # kept as typed, unlike the other fields
        ("阿卜杜拉·买买提", "阿卜杜拉·买买提"),
        ("张三", "张三"),  # Chinese numerals are not digits
        ("欧" * 20, "欧" * 20),
    ],
)
def test_the_name_is_kept_as_typed_apart_from_trimming(typed: str, name: str) -> None:
    assert note_of(line_with(name=typed)).name == name


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("刘贺2", 'name "刘贺2" contains digits'),
        ("刘贺２", 'name "刘贺２" contains digits'),
        ("欧" * 21, 'name "' + "欧" * 21 + '" is 21 characters long: expected at most 20'),
        ("刘\x07贺", "contains control or invisible characters"),
        ("刘。贺", "contains punctuation that separates fields"),
    ],
)
def test_bad_names_are_refused(typed: str, message: str) -> None:
    errors = errors_of(line_with(name=typed))
    assert list(errors) == ["name"]
    assert message in errors["name"]


@pytest.mark.parametrize(
    "line",
    [
        ",3米*2.4米,图案正常,12月19发货,自提。送胶。",
        " ， 3米*2.4米,图案正常,12月19发货,自提。送胶。",
        "3米*2.4米,图案正常,12月19发货,自提。送胶。",
    ],
)
def test_a_missing_name_is_reported_without_blaming_the_other_fields(line: str) -> None:
    assert errors_of(line) == {
        "name": "name is missing: expected the buyer's name first, e.g. 刘贺"
    }


# --- several errors ----------------------------------------------------------------


def test_every_bad_field_is_reported_not_just_the_first() -> None:
    errors = errors_of("刘贺3,3米x,图案好看,13月1,飞过去")
    assert list(errors) == ["name", "size", "design", "ship_date", "delivery"]


@pytest.mark.parametrize(
    ("line", "missing"),
    [
        ("刘贺", ["size", "design", "ship_date", "delivery"]),
        ("刘贺,3米*2.4米", ["design", "ship_date", "delivery"]),
        ("刘贺,3米*2.4米,图案正常,12月19发货", ["delivery"]),
        ("刘贺,3米*2.4米,12月19发货,自提。送胶。", ["design"]),
        ("刘贺,3米*2.4米,图案正常,自提", ["ship_date"]),
        ("刘贺,图案正常,12月19发货,自提,送胶", ["size"]),
        (",,,,", ["name", "size", "design", "ship_date", "delivery"]),
        ("。。。", ["name", "size", "design", "ship_date", "delivery"]),
    ],
)
def test_each_missing_field_is_named(line: str, missing: list[str]) -> None:
    errors = errors_of(line)
    assert list(errors) == missing
    for field in missing:
        assert errors[field].startswith(f"{field} is missing: expected ")


def test_a_wrong_word_in_place_is_reported_as_wrong_not_missing() -> None:
    assert list(errors_of(line_with(delivery="自提送胶"))) == ["delivery"]
    assert "is not a known delivery word" in errors_of(line_with(delivery="自提送胶"))["delivery"]


@pytest.mark.parametrize("text", ["", "   ", "\u3000\t", "\ufeff"])
def test_an_empty_note(text: str) -> None:
    assert parse_note(text) == [NoteError("name", "empty note")]


def test_a_note_error_reads_as_its_message() -> None:
    error = NoteError("size", "size is missing")
    assert str(error) == "size is missing"
    assert error.to_json() == {"field": "size", "message": "size is missing"}


# --- the SellerNote value ----------------------------------------------------------


def note_with(**changes: object) -> SellerNote:
    fields: dict[str, object] = {
        "name": "刘贺",
        "width_m": Decimal("3"),
        "height_m": Decimal("2.4"),
        "design": Design.NORMAL,
        "ship_month": 12,
        "ship_day": 19,
        "delivery": Delivery.PICKUP,
        "extras": (),
    }
    return SellerNote(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "刘贺2"},
        {"name": " 刘贺"},
        {"name": "刘,贺"},
        {"width_m": Decimal(0)},
        {"height_m": Decimal("50.001")},
        {"width_m": Decimal("2.4567")},
        {"width_m": Decimal("NaN")},
        {"width_m": 3.0},
        {"ship_month": 13},
        {"ship_month": 2, "ship_day": 30},
        {"ship_day": True},
        {"extras": ("",)},
        {"extras": (" 送胶",)},
        {"extras": ("送,胶",)},
        {"extras": ("送胶。",)},
        {"extras": ("ＶＩＰ",)},
        {"design": "pretty"},
    ],
)
def test_a_note_that_could_not_be_written_cannot_be_made(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        note_with(**changes)


def test_a_note_keeps_one_canonical_form() -> None:
    note = note_with(width_m=Decimal("3.000"), height_m=Decimal("0.240E+1"), design="custom")
    assert (str(note.width_m), str(note.height_m)) == ("3", "2.4")
    assert note.design is Design.CUSTOM
    assert note == note_with(design=Design.CUSTOM)


def test_the_canonical_line_for_each_word_and_without_extras() -> None:
    note = note_with(design=Design.CUSTOM, delivery=Delivery.INSTALL, ship_month=1, ship_day=5)
    assert format_note(note) == "刘贺,3米*2.4米,图案定制,1月5发货,包送货安装"
    note = note_with(design=Design.MODIFIED, delivery=Delivery.DOWNSTAIRS, extras=("a", "b"))
    assert format_note(note) == "刘贺,3米*2.4米,图案修改,12月19发货,送货到楼下。a。b。"
    assert format_note(note_with(width_m=Decimal("10.5"), height_m=Decimal("0.005"))).startswith(
        "刘贺,10.5米*0.005米,"
    )


# --- the platform memo and flag ----------------------------------------------------


def test_a_memo_that_fits_is_the_line_then_the_history_newest_first() -> None:
    assert memo_text(HANDBOOK) == HANDBOOK
    assert memo_text(HANDBOOK, ["first", "", "second"]) == f"{HANDBOOK}\nsecond\nfirst"


def test_a_long_memo_loses_the_oldest_history_first() -> None:
    oldest, newer = "旧" * 250, "新" * 100  # 750 and 300 bytes, with the line over 1000
    memo = memo_text(HANDBOOK, [oldest, newer])
    assert len(memo.encode()) <= MEMO_LIMIT_BYTES
    assert memo.startswith(f"{HANDBOOK}\n{newer}\n旧")
    assert memo.endswith("旧…")


def test_a_line_too_long_for_the_memo_is_cut_itself() -> None:
    memo = memo_text("刘" * 400, ["history"])  # 1200 bytes on its own
    assert memo == "刘" * 332 + "…"  # 996 bytes and the 3-byte ellipsis
    memo = memo_text("a" + "刘" * 400)
    assert memo == "a" + "刘" * 332 + "…"
    assert len(memo.encode()) == MEMO_LIMIT_BYTES


def test_a_memo_cut_keeps_a_character_with_its_marks() -> None:
    # The cut at byte 997 would fall between "e" and its combining accent.
    memo = memo_text("a" * 996 + "e\u0301" + "x" * 10)
    assert memo == "a" * 996 + "…"


def test_a_memo_replaces_what_utf8_cannot_hold() -> None:
    assert memo_text("a\ud800b") == "a\ufffdb"


@pytest.mark.parametrize("flag", range(6))
def test_platform_flags(flag: int) -> None:
    assert check_flag(flag) == flag


@pytest.mark.parametrize("flag", [-1, 6, 100, True])
def test_other_flags_are_refused(flag: int) -> None:
    with pytest.raises(ValueError, match="expected 0 to 5"):
        check_flag(flag)


def test_a_refused_flag_names_the_colours_in_english_and_chinese() -> None:
    with pytest.raises(ValueError) as caught:
        check_flag(7)
    colours = ", ".join(f"{number} {colour}" for number, colour in enumerate(FLAG_COLOURS))
    assert str(caught.value) == f"flag 7 is not a platform flag: expected 0 to 5 ({colours})"
    assert Translator("zh").error(caught.value) == (
        "7 不是平台的旗帜：只能选 0 到 5（0 灰、1 红、2 黄、3 绿、4 蓝、5 紫）"
    )


# --- properties --------------------------------------------------------------------


def _valid(**changes: object) -> bool:
    try:
        note_with(**changes)
    except ValueError:
        return False
    return True


_NAME_CHARS = st.one_of(
    st.sampled_from("刘贺张伟王芳李娜欧阳·ＬＩＵｈｅAbc ü"),
    st.characters(exclude_categories=("C", "Zl", "Zp", "Nd", "No")),
)
names = (
    st.text(_NAME_CHARS, min_size=1, max_size=20)
    .map(str.strip)
    .filter(lambda name: _valid(name=name))
)
sides = st.one_of(
    st.sampled_from(["3", "2.4", "1.5", "0.8", "12", "50", "0.001", "2.405"]).map(Decimal),
    st.integers(1, 50_000).map(lambda millimetres: Decimal(millimetres).scaleb(-3)),
)
months_and_days = st.integers(1, 12).flatmap(
    lambda month: st.tuples(st.just(month), st.integers(1, calendar.monthrange(2024, month)[1]))
)
_EXTRA_CHARS = st.one_of(
    st.sampled_from("送胶挂钩加急、 vip客户多给两个钉"),
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")),
)
extras = st.lists(
    st.text(_EXTRA_CHARS, min_size=1, max_size=10).filter(lambda x: _valid(extras=(x,))),
    max_size=4,
).map(tuple)


@st.composite
def seller_notes(draw: st.DrawFn) -> SellerNote:
    month, day = draw(months_and_days)
    return SellerNote(
        name=draw(names),
        width_m=draw(sides),
        height_m=draw(sides),
        design=draw(st.sampled_from(Design)),
        ship_month=month,
        ship_day=day,
        delivery=draw(st.sampled_from(Delivery)),
        extras=draw(extras),
    )


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _full_width(text: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (３, ｃ, ＊, ．)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


@st.composite
def variant_lines(draw: st.DrawFn) -> tuple[SellerNote, str]:
    """A note, and a line an agent might type for it with other separators, units,
    date forms and words than the canonical ones."""
    note = draw(seller_notes())

    def one_of(*choices: str) -> str:
        return draw(st.sampled_from(choices))

    def separator() -> str:
        return one_of("", " ") + one_of(",", "，", "、", ";", "；") + one_of("", " ", "\u3000")

    def side(metres: Decimal, kind: str, with_unit: bool) -> str:
        number = _plain(metres if kind == "m" else metres * 100)
        unit = one_of("米", "m", "M") if kind == "m" else one_of("厘米", "cm", "CM")
        return number + (one_of("", " ") + unit if with_unit else "")

    sides = (note.width_m, note.height_m)
    placement = one_of("both", "first", "second", "bare")
    if placement == "both":
        width, height = (side(m, one_of("m", "cm"), True) for m in sides)
    elif placement == "bare":
        # No unit: below 10 reads as metres, 10 or more as centimetres.
        kinds = [
            one_of("m", "cm") if Decimal("0.1") <= m < 10 else ("cm" if m >= 10 else "m")
            for m in sides
        ]
        width, height = (side(m, kind, False) for m, kind in zip(sides, kinds, strict=True))
    else:
        kind = one_of("m", "cm")
        width = side(note.width_m, kind, placement == "first")
        height = side(note.height_m, kind, placement == "second")
    times = one_of("", " ") + one_of("*", "＊", "×", "x", "X") + one_of("", " ")
    size = width + times + height

    padded = draw(st.booleans())  # 01-05 as well as 1-5
    month = f"{note.ship_month:02d}" if padded else str(note.ship_month)
    day = f"{note.ship_day:02d}" if padded else str(note.ship_day)
    date = one_of(
        f"{month}月{day}",
        f"{month}月{day}日",
        f"{month}月{day}号",
        f"{month}.{day}",
        f"{month}-{day}",
        f"{month}/{day}",
    ) + one_of("", "发货", "发")
    if draw(st.booleans()):
        size, date = _full_width(size), _full_width(date)

    line = separator().join(
        (
            one_of("", " ") + note.name + one_of("", " "),
            size,
            one_of(*DESIGN_SYNONYMS[note.design]),
            date,
            one_of(*DELIVERY_SYNONYMS[note.delivery]),
        )
    )
    for extra in note.extras:
        line += one_of("。", "；", ";", "，", ",", " 。 ") + extra
    return note, line + one_of("", "。", "；")


@settings(deadline=None)
@given(seller_notes())
def test_property_a_written_note_reads_back_the_same(note: SellerNote) -> None:
    assert parse_note(format_note(note)) == note


@settings(deadline=None)
@given(variant_lines())
def test_property_every_variant_reads_as_the_same_note(case: tuple[SellerNote, str]) -> None:
    note, line = case
    assert parse_note(line) == note


_NOTE_ALPHABET = st.sampled_from(
    list("刘贺0123456789.*xX×米mcMC厘月日号发货,，、;；。 \u3000自提取楼下送装安定制图案正常改原/-")
)


@settings(deadline=None)
@given(st.one_of(st.text(), st.text(_NOTE_ALPHABET, max_size=60)))
def test_property_any_text_gives_a_note_or_errors(text: str) -> None:
    parsed = parse_note(text)
    if isinstance(parsed, SellerNote):
        # Whatever was accepted is written back to a line that reads the same.
        assert parse_note(format_note(parsed)) == parsed
    else:
        assert parsed
        assert all(isinstance(error, NoteError) and error.field in FIELDS for error in parsed)


_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=400)


@settings(deadline=None)
@given(_ANY_TEXT, st.lists(_ANY_TEXT, max_size=8))
def test_property_a_memo_fits_the_platform(line: str, history: list[str]) -> None:
    memo = memo_text(line, history)
    encoded = memo.encode("utf-8")  # raises if the memo held a lone surrogate
    assert len(encoded) <= MEMO_LIMIT_BYTES
    assert encoded.decode("utf-8") == memo


_CLEAN_TEXT = st.text(st.sampled_from("刘贺ab😀é,。"), min_size=1, max_size=300)


@settings(deadline=None)
@given(_CLEAN_TEXT, st.lists(_CLEAN_TEXT, max_size=6))
def test_property_a_memo_is_cut_only_at_its_end(line: str, history: list[str]) -> None:
    full = "\n".join([line, *reversed(history)])
    memo = memo_text(line, history)
    if len(full.encode()) <= MEMO_LIMIT_BYTES:
        assert memo == full
    else:
        assert memo.endswith("…")
        assert full.startswith(memo[:-1])
        if len(line.encode()) <= MEMO_LIMIT_BYTES - 3:
            assert memo.startswith(line)  # history goes before the note line does


# --- the command -------------------------------------------------------------------


def run_notes(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "xiaoer", "notes", "parse"],
        input=stdin,
        capture_output=True,
        env={**os.environ, "LC_ALL": "C"},  # the output is UTF-8 whatever the locale
        timeout=120,
    )


def test_the_command_prints_one_json_line_per_note() -> None:
    lines = [
        HANDBOOK,
        "",
        "刘贺3,3米x,图案好看,13月1,飞过去",
        "王芳，３００ｃｍ×２４０ｃｍ、原图；1/5发；送装\r",
        "刘贺,3米*2.4米",
    ]
    done = run_notes(("\ufeff" + "\n".join(lines) + "\n").encode())
    assert done.returncode == 0, done.stderr.decode()
    results = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert len(results) == len(lines)
    assert results[0] == {
        "ok": True,
        "note": {
            "name": "刘贺",
            "width_m": 3,
            "height_m": 2.4,
            "design": "normal",
            "ship_date": "12-19",
            "delivery": "pickup",
            "extras": ["送胶"],
        },
    }
    assert results[1] == {"ok": False, "errors": [{"field": "name", "message": "empty note"}]}
    assert results[2]["ok"] is False
    assert [error["field"] for error in results[2]["errors"]] == list(FIELDS)
    assert results[2]["errors"][1]["message"] == (
        'size "3米x" is not width*height: expected e.g. 3米*2.4米 or 300cm×240cm'
    )
    assert results[3]["note"] == {
        "name": "王芳",
        "width_m": 3,
        "height_m": 2.4,
        "design": "normal",
        "ship_date": "01-05",
        "delivery": "install",
        "extras": [],
    }
    assert [error["field"] for error in results[4]["errors"]] == [
        "design",
        "ship_date",
        "delivery",
    ]
    assert "刘贺" in done.stdout.decode("utf-8")  # not escaped as \\u5218


def test_the_command_stops_with_code_2_on_input_that_is_not_utf8() -> None:
    done = run_notes(HANDBOOK.encode() + b"\n\xff\xfe broken\n" + HANDBOOK.encode() + b"\n")
    assert done.returncode == 2
    assert len(done.stdout.decode().splitlines()) == 1  # the notes before it were printed
    assert "line 2" in done.stderr.decode() and "not UTF-8" in done.stderr.decode()
