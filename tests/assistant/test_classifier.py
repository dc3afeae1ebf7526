"""The buyer-message classifier (A1, A2), measured on the held-out test split.

The classifier is trained on the ``train`` split only and scored on the
``test`` split, which no feature, cue or setting was written from. The targets
are the project's: intent accuracy ≥ 0.92, macro-F1 ≥ 0.90 and bargain-type
accuracy ≥ 0.85. ``scripts/assistant_cv.py`` gives the cross-validation figures
on the train split that the settings were chosen by.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import xiaoer.assistant.classifier as classifier_module
from xiaoer.assistant.baseline import KeywordBaseline
from xiaoer.assistant.classifier import (
    BARGAIN_TYPES,
    INTENTS,
    Classification,
    Classifier,
    ClassifierOptions,
    Example,
    _NaiveBayes,
    default_classifier,
    load_examples,
    shipped_examples,
)
from xiaoer.assistant.evaluate import (
    Evaluation,
    Scores,
    accuracy,
    bargain_type_accuracy,
    confusion_table,
    confusions,
    cross_validate,
    evaluate,
    label_scores,
    macro_f1,
    stratified_folds,
)
from xiaoer.assistant.features import extract

pytestmark = pytest.mark.database_free

DATA = Path(__file__).resolve().parents[1] / "data" / "assistant" / "messages.tsv"


@pytest.fixture(scope="module")
def train() -> list[Example]:
    return load_examples(DATA, split="train")


@pytest.fixture(scope="module")
def test() -> list[Example]:
    return load_examples(DATA, split="test")


@pytest.fixture(scope="module")
def classifier(train: list[Example]) -> Classifier:
    return Classifier.train(train)


@pytest.fixture(scope="module")
def held_out(classifier: Classifier, test: list[Example]) -> Evaluation:
    return evaluate(classifier, test)


def _explain(result: Evaluation) -> str:
    """The figures and the confusions, without the test texts."""
    mistakes = "\n".join(f"  {g} -> {p}: {n}" for g, p, n in result.confusions())
    return f"{result.summary()}\n{mistakes}"


# --- held-out figures ------------------------------------------------------------

# Targets (issue: intent accuracy >= 0.92, macro-F1 >= 0.90, bargain type >= 0.85). Measured
# on the test split when the classifier was written (seeded, reproducible): accuracy 0.816,
# macro-F1 0.801, bargain-type accuracy 0.857; after the averaged, balanced training and the
# wider cue lists: accuracy 0.816, macro-F1 0.802, bargain-type accuracy 0.929 (28 messages).
# With 1,027 more messages (770 train, 257 added to the test split, written without reading
# the test split): on all 447 test messages accuracy 0.881, macro-F1 0.874, bargain type
# 0.873 (63); on the 190 earlier ones 0.905 / 0.899 / 0.929; on the 257 new ones
# 0.864 / 0.855 / 0.829. With 789 more (591 train, 198 test, a third round written in
# wording the train split lacked) and the settings cross-validation on the train split
# chose (cue dropout 0.7, no weight averaging): on all 645 test messages accuracy 0.915,
# macro-F1 0.907, bargain type 0.934 (91); on the 198 newest 0.884 / 0.867 / 0.929.
# With 813 more (609 train, 204 test, a fourth round with new situations and the hard
# borders): on all 849 test messages accuracy 0.915, macro-F1 0.909, bargain type 0.947
# (133); per round 0.947 / 0.922 / 0.899 and 0.892 on the 204 newest. With naive Bayes
# beside the regression (chosen by cross-validation on the train split: 0.903 -> 0.914
# plain, 0.866 -> 0.886 cue-blind): accuracy 0.932, macro-F1 0.928, bargain type 0.977
# (133); per round 0.953 / 0.934 / 0.909 / 0.931. With a fifth round of 612 (442 train,
# 170 test, written from the label rules and the train split alone): on all 1,019 test
# messages accuracy 0.943, macro-F1 0.941, bargain type 0.976 (168); per round
# 0.953 / 0.930 / 0.924 / 0.956 and 0.959 on the 170 newest.


def test_intent_accuracy_on_the_test_split_is_at_least_0_92(held_out: Evaluation) -> None:
    assert held_out.accuracy >= 0.92, _explain(held_out)


def test_macro_f1_on_the_test_split_is_at_least_0_90(held_out: Evaluation) -> None:
    assert held_out.macro_f1 >= 0.90, _explain(held_out)


def test_bargain_type_accuracy_on_the_test_split_is_at_least_0_85(held_out: Evaluation) -> None:
    figure = held_out.bargain_type_accuracy
    assert figure >= 0.85, _explain(held_out)


def test_the_classifier_beats_the_keyword_baseline(
    held_out: Evaluation, test: list[Example]
) -> None:
    baseline = evaluate(KeywordBaseline(), test)
    assert held_out.accuracy > baseline.accuracy
    assert held_out.macro_f1 > baseline.macro_f1
    assert held_out.bargain_type_accuracy > baseline.bargain_type_accuracy


# --- the shipped examples ------------------------------------------------------------


def test_the_shipped_examples_are_exactly_the_train_split(
    train: list[Example], test: list[Example]
) -> None:
    shipped = shipped_examples()
    assert shipped == train
    assert {e.text for e in shipped} & {e.text for e in test} == set()


@pytest.fixture
def small_default(
    train: list[Example], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """No default classifier yet, a cache folder of the test's own, and few examples
    to train on, so that training is quick."""
    few = [e for e in train if e.intent in ("greeting", "stock", "bargain")][:200]
    monkeypatch.setattr(classifier_module, "_default", None)
    monkeypatch.setattr(classifier_module, "shipped_examples", lambda: few)
    monkeypatch.setenv("XIAOER_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path / "cache"


def test_the_trained_default_is_cached_and_loaded_by_the_next_process(
    small_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = default_classifier()
    (kept,) = small_default.glob("classifier-*.json")
    assert json.loads(kept.read_text("utf-8"))["model"] == first.to_dict()

    def no_training(*args: object, **kwargs: object) -> Classifier:
        raise AssertionError("the cached classifier should have been loaded")

    monkeypatch.setattr(classifier_module, "_default", None)  # a new process
    monkeypatch.setattr(Classifier, "train", no_training)
    again = default_classifier()
    assert again is not first and again.to_dict() == first.to_dict()


def test_writing_a_new_cache_file_removes_those_a_day_old(small_default: Path) -> None:
    small_default.mkdir(parents=True)
    old, recent = small_default / "classifier-old.json", small_default / "classifier-new.json"
    for path in (old, recent):
        path.write_text("{}", "utf-8")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    default_classifier()
    assert not old.exists() and recent.exists()
    assert len(list(small_default.glob("classifier-*.json"))) == 2


def test_a_damaged_cache_file_is_trained_again_and_replaced(
    small_default: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = default_classifier()
    (kept,) = small_default.glob("classifier-*.json")
    kept.write_text('{"key": "', "utf-8")
    monkeypatch.setattr(classifier_module, "_default", None)
    assert default_classifier().to_dict() == first.to_dict()
    assert json.loads(kept.read_text("utf-8"))["model"] == first.to_dict()


def test_a_cache_folder_that_cannot_be_written_only_costs_the_training(
    small_default: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", "utf-8")
    monkeypatch.setenv("XIAOER_CACHE_DIR", str(blocked))
    assert default_classifier().classify("在吗").intent == "greeting"


def test_the_default_classifier_is_trained_once(classifier: Classifier) -> None:
    first = default_classifier()
    assert default_classifier() is first
    assert first.to_dict() == classifier.to_dict()


def test_a_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(
        "split\tintent\tbargain_type\ttext\ntrain\tstock\t-\t有货吗\ntrain\tprice\t-\t多少钱\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad.tsv:3: unknown intent 'price'"):
        load_examples(path)


def test_a_bargain_without_a_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("split\tintent\tbargain_type\ttext\ntrain\tbargain\t-\t便宜点\n", "utf-8")
    with pytest.raises(ValueError, match=r":2: bad bargain type '-' for bargain"):
        load_examples(path)


def test_training_needs_two_intents_and_two_bargain_types() -> None:
    examples = [Example("有货吗", "stock"), Example("便宜点", "bargain", "assertive")]
    with pytest.raises(ValueError, match="two intents and two bargain types"):
        Classifier.train(examples)


# --- one answer, always ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😀😀", "。。。", "hh", "a" * 2000, "在吗" * 300, "\t\n", "0", "？？？"],
)
def test_odd_input_still_gets_one_intent(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.intent in INTENTS
    assert 0.0 <= result.confidence <= 1.0


def test_every_message_gets_exactly_one_intent_and_a_confidence(
    classifier: Classifier, test: list[Example]
) -> None:
    for example in test:
        result = classifier.classify(example.text)
        assert isinstance(result, Classification)
        assert result.intent in INTENTS
        assert 0.0 <= result.confidence <= 1.0
        if result.intent == "bargain":
            assert result.bargain_type in BARGAIN_TYPES
            assert result.bargain_confidence is not None
            assert 0.0 <= result.bargain_confidence <= 1.0
        else:
            assert result.bargain_type is None
            assert result.bargain_confidence is None


def test_the_bargain_type_of_any_message_can_be_asked(classifier: Classifier) -> None:
    kind, confidence = classifier.bargain_type("有货吗")
    assert kind in BARGAIN_TYPES
    assert 0.0 <= confidence <= 1.0


# --- JSON round trip -----------------------------------------------------------------------


def test_a_classifier_survives_a_json_round_trip(
    classifier: Classifier, test: list[Example]
) -> None:
    data = json.loads(json.dumps(classifier.to_dict(), ensure_ascii=False))
    copy = Classifier.from_dict(data)
    assert copy.options == classifier.options
    assert copy.to_dict() == classifier.to_dict()
    for example in test:
        assert copy.classify(example.text) == classifier.classify(example.text)


def test_a_classifier_kept_before_naive_bayes_loads_as_the_regression_alone(
    train: list[Example], test: list[Example]
) -> None:
    alone = Classifier.train(train, ClassifierOptions(bayes_weight=0.0))
    data = alone.to_dict()
    options = {k: v for k, v in data["options"].items() if not k.startswith("bayes_")}
    kept = {
        "format": "xiaoer.assistant.classifier/1",
        "options": options,
        "intents": data["intents"]["regression"],
        "bargain_types": data["bargain_types"]["regression"],
    }
    loaded = Classifier.from_dict(json.loads(json.dumps(kept)))
    assert loaded.options.bayes_weight == 0.0
    for example in test[:200]:
        assert loaded.classify(example.text) == alone.classify(example.text)


def test_the_two_models_share_each_answer(classifier: Classifier, train: list[Example]) -> None:
    """With naive Bayes beside it, a label's probability is the mean of the two models'."""
    alone = Classifier.train(train, ClassifierOptions(bayes_weight=0.0))
    assert alone.to_dict()["intents"]["bayes"] is None
    both = classifier.to_dict()["intents"]
    assert both["bayes"]["labels"] == both["regression"]["labels"]
    assert both["regression"] == alone.to_dict()["intents"]["regression"]
    options = classifier.options
    model = classifier._intents
    assert model.bayes is not None
    for example in train[:100]:
        features = extract(example.text, options.features)
        regression = model.regression.probabilities(features)
        bayes = model.bayes.probabilities(features, options.bayes_temperature)
        mean = [
            (p + options.bayes_weight * q) / (1 + options.bayes_weight)
            for p, q in zip(regression, bayes, strict=True)
        ]
        best = max(range(len(mean)), key=mean.__getitem__)
        result = classifier.classify(example.text)
        assert (result.intent, result.confidence) == (model.regression.labels[best], mean[best])


def test_naive_bayes_by_hand() -> None:
    """Two labels, alpha 1: a saw x twice and y once, b saw y once (vocabulary x, y)."""
    bayes = _NaiveBayes.train([["x", "x", "y"], ["y"]], ["a", "b"], ("a", "b"), alpha=1.0)
    assert bayes.weights["x"][0] == pytest.approx(math.log(3 / 5), abs=1e-4)
    assert bayes.weights["x"][1] == pytest.approx(math.log(1 / 3), abs=1e-4)
    assert bayes.weights["y"][1] == pytest.approx(math.log(2 / 3), abs=1e-4)
    # P(a | x) = (3/5) / (3/5 + 1/3) = 9/14; an unseen feature changes nothing.
    assert bayes.probabilities(["x", "z"], temperature=1.0) == pytest.approx(
        [9 / 14, 5 / 14], abs=1e-4
    )
    # Weights are kept to 4 decimals. A temperature of 2 takes the square roots of the
    # likelihoods before normalising.
    a, b = math.sqrt(3 / 5), math.sqrt(1 / 3)
    assert bayes.probabilities(["x"], temperature=2.0) == pytest.approx(
        [a / (a + b), b / (a + b)], abs=1e-4
    )
    with pytest.raises(ValueError, match="alpha"):
        _NaiveBayes.train([["x"]], ["a"], ("a",), alpha=0.0)


def test_data_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a classifier"):
        Classifier.from_dict({"format": "something/1"})


# --- how buyers type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("這條地毯還有貨嗎", "这条地毯还有货吗"),
        ("退款什麼時候到賬", "退款什么时候到账"),
        ("太貴了，能便宜點嗎", "太贵了,能便宜点吗"),
    ],
)
def test_traditional_script_reads_like_simplified(
    classifier: Classifier, traditional: str, simplified: str
) -> None:
    assert classifier.classify(traditional) == classifier.classify(simplified)


def test_emoji_do_not_change_the_answer(classifier: Classifier) -> None:
    assert classifier.classify("桌布还没发货吗😡😡") == classifier.classify("桌布还没发货吗")


@pytest.mark.parametrize(
    ("shorthand", "words"),
    [
        ("kd到哪了", "快递到哪了"),
        ("zm还不fh", "怎么还不发货"),
        ("tk什么时候到账", "退款什么时候到账"),
    ],
)
def test_pinyin_shorthand_reads_like_the_words(
    classifier: Classifier, shorthand: str, words: str
) -> None:
    assert classifier.classify(shorthand) == classifier.classify(words)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("這條地毯還有貨嗎", "stock"),
        ("kd到哪了呀", "logistics"),
        ("zm还不fh😡", "not_shipped"),
        ("能开发票吗🙏", "invoice"),
        ("轉人工", "human"),
    ],
)
def test_messages_in_the_ways_buyers_type_them(
    classifier: Classifier, text: str, intent: str
) -> None:
    assert classifier.classify(text).intent == intent


def test_a_bargain_comes_with_its_type(classifier: Classifier) -> None:
    result = classifier.classify("我还是学生，没什么钱，便宜一点吧🙏")
    assert (result.intent, result.bargain_type) == ("bargain", "sympathy")


# --- evaluation figures on a case worked by hand ------------------------------------------------

GOLD = ["a", "a", "a", "b", "b", "c", "c"]
PREDICTED = ["a", "a", "b", "b", "c", "c", "d"]


def test_accuracy_counts_exact_agreements() -> None:
    assert accuracy(GOLD, PREDICTED) == pytest.approx(4 / 7)
    assert accuracy([], []) == 0.0


def test_label_scores_by_hand() -> None:
    # a: predicted twice, both right, 3 in gold. b: 2 predicted, 1 right, 2 gold.
    # c: the same as b. d: predicted once, never in gold.
    assert label_scores(GOLD, PREDICTED) == {
        "a": Scores(precision=1.0, recall=pytest.approx(2 / 3), f1=pytest.approx(0.8), support=3),
        "b": Scores(precision=0.5, recall=0.5, f1=0.5, support=2),
        "c": Scores(precision=0.5, recall=0.5, f1=0.5, support=2),
        "d": Scores(precision=0.0, recall=0.0, f1=0.0, support=0),
    }


def test_macro_f1_averages_labels_in_gold_or_predicted() -> None:
    assert macro_f1(GOLD, PREDICTED) == pytest.approx((0.8 + 0.5 + 0.5 + 0.0) / 4)
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0


def test_confusions_list_the_mistakes() -> None:
    assert confusions(GOLD, PREDICTED) == [("a", "b", 1), ("b", "c", 1), ("c", "d", 1)]


def test_confusion_table_puts_gold_down_and_predicted_across() -> None:
    assert confusion_table(GOLD, PREDICTED) == (
        "  gold \\ predicted 1 2 3 4\n"
        "1 a                2 1 . .\n"
        "2 b                . 1 1 .\n"
        "3 c                . . 1 1\n"
        "4 d                . . . ."
    )


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="3 gold labels but 2 predictions"):
        accuracy(["a", "b", "c"], ["a", "b"])


class _FixedModel:
    """Answers "other" to every message and a fixed bargain type per text."""

    def __init__(self, kinds: dict[str, str]) -> None:
        self.kinds = kinds

    def classify(self, text: str) -> Classification:
        return Classification("other", 1.0)

    def bargain_type(self, text: str) -> tuple[str, float]:
        return self.kinds[text], 1.0


def test_bargain_type_accuracy_counts_gold_bargains_whatever_intent_was_predicted() -> None:
    examples = [
        Example("A", "bargain", "petty"),
        Example("B", "bargain", "compare"),
        Example("C", "bargain", "excuse"),
        Example("D", "stock"),
    ]
    model = _FixedModel({"A": "petty", "B": "petty", "C": "excuse", "D": "compare"})
    assert bargain_type_accuracy(examples, model) == pytest.approx(2 / 3)
    result = evaluate(model, examples)
    assert result.bargain_type_accuracy == pytest.approx(2 / 3)
    assert result.accuracy == 0.0


def test_folds_cover_every_example_once_and_spread_each_label() -> None:
    examples = [Example(f"s{i}", "stock") for i in range(10)] + [
        Example(f"b{i}", "bargain", "petty") for i in range(5)
    ]
    folds = stratified_folds(examples, 5)
    assert sorted(i for fold in folds for i in fold) == list(range(15))
    assert [sum(examples[i].intent == "stock" for i in fold) for fold in folds] == [2] * 5
    assert [sum(examples[i].intent == "bargain" for i in fold) for fold in folds] == [1] * 5


def test_cross_validation_predicts_every_example_once() -> None:
    examples = [Example(f"s{i}", "stock") for i in range(6)] + [
        Example(f"b{i}", "bargain", "petty") for i in range(3)
    ]
    model = _FixedModel({e.text: "petty" for e in examples})
    result = cross_validate(lambda part: model, examples, folds=3)
    assert sorted(result.texts) == sorted(e.text for e in examples)
    assert result.bargain_type_accuracy == 1.0


# --- keyword baseline ----------------------------------------------------------------------------


def test_the_baseline_takes_the_first_list_that_matches() -> None:
    baseline = KeywordBaseline()
    # "投诉" (complaint) comes before "退款" (refund) in the lists.
    assert baseline.classify("我要投诉，马上退款") == Classification("complaint", 1.0)
    assert baseline.classify("今天天气好热") == Classification("other", 0.0)
    assert baseline.classify("我是学生，便宜点") == Classification("bargain", 1.0, "sympathy", 1.0)
