"""The labelled buyer messages (A1, A2) are well formed and fit to measure a recogniser.

The file is read as plain text so that a broken line fails here, not in a model.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from xiaoer.assistant.classifier import BARGAIN_TYPES, INTENTS

pytestmark = pytest.mark.database_free

DATA = Path(__file__).resolve().parents[1] / "data" / "assistant" / "messages.tsv"
HEADER = ["split", "intent", "bargain_type", "text"]

SPLITS = ("train", "test")

# Characters written only in Traditional script; one of them marks a Traditional line.
TRADITIONAL_ONLY = frozenset("這請貨麼嗎們說個買賣發價錢還")
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf]")


def _rows() -> list[list[str]]:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines]


@pytest.fixture(scope="module")
def rows() -> list[list[str]]:
    return _rows()[1:]


def _space(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def test_file_starts_with_the_header() -> None:
    assert _rows()[0] == HEADER


def test_every_line_has_four_columns_and_a_text(rows: list[list[str]]) -> None:
    bad = [r for r in rows if len(r) != 4 or not r[3].strip()]
    assert bad == []


def test_there_are_at_least_640_messages(rows: list[list[str]]) -> None:
    assert len(rows) >= 640


def test_every_label_is_known(rows: list[list[str]]) -> None:
    assert {r[0] for r in rows} <= set(SPLITS)
    assert {r[1] for r in rows} <= set(INTENTS)
    assert {r[2] for r in rows} <= {*BARGAIN_TYPES, "-"}


def test_only_bargaining_has_a_bargain_type(rows: list[list[str]]) -> None:
    for _split, intent, bargain_type, text in rows:
        if intent == "bargain":
            assert bargain_type in BARGAIN_TYPES, text
        else:
            assert bargain_type == "-", text


def test_every_intent_has_at_least_18_messages(rows: list[list[str]]) -> None:
    counts = Counter(r[1] for r in rows)
    assert {i: counts[i] for i in INTENTS if counts[i] < 18} == {}


def test_every_bargain_type_has_at_least_16_messages(rows: list[list[str]]) -> None:
    counts = Counter(r[2] for r in rows if r[1] == "bargain")
    assert {t: counts[t] for t in BARGAIN_TYPES if counts[t] < 16} == {}


def test_every_intent_and_bargain_type_is_in_both_splits(rows: list[list[str]]) -> None:
    seen = {(r[0], r[1]) for r in rows} | {(r[0], f"bargain/{r[2]}") for r in rows}
    labels = [*INTENTS, *(f"bargain/{t}" for t in BARGAIN_TYPES)]
    missing = [(s, label) for label in labels for s in SPLITS if (s, label) not in seen]
    assert missing == []


def test_test_split_is_about_a_quarter(rows: list[list[str]]) -> None:
    share = sum(r[0] == "test" for r in rows) / len(rows)
    assert 0.2 <= share <= 0.3


def test_no_text_appears_twice(rows: list[list[str]]) -> None:
    counts = Counter(r[3] for r in rows)
    assert [t for t, n in counts.items() if n > 1] == []


def test_no_text_is_in_both_splits(rows: list[list[str]]) -> None:
    train = {_space(r[3]) for r in rows if r[0] == "train"}
    test = {_space(r[3]) for r in rows if r[0] == "test"}
    assert train & test == set()


def test_texts_have_no_stray_whitespace(rows: list[list[str]]) -> None:
    assert [r[3] for r in rows if r[3] != r[3].strip()] == []


def test_at_least_50_messages_are_in_traditional_script(rows: list[list[str]]) -> None:
    assert sum(1 for r in rows if TRADITIONAL_ONLY & set(r[3])) >= 50


def test_at_least_20_messages_carry_an_emoji(rows: list[list[str]]) -> None:
    assert sum(1 for r in rows if EMOJI.search(r[3])) >= 20
