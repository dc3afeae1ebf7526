"""How well a buyer-message classifier does on labelled examples (A1, A2).

The figures are the usual ones: accuracy, macro-F1, per-intent precision,
recall and F1, a confusion table, and the bargain-type accuracy defined in
:func:`bargain_type_accuracy`. :func:`cross_validate` measures a training
procedure on one split alone (stratified k-fold), which is how the classifier's
features and settings were chosen without looking at the ``test`` split.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from xiaoer.assistant.classifier import Classification, Example


class Model(Protocol):
    """Anything that classifies messages: the classifier or the keyword baseline."""

    def classify(self, text: str) -> Classification: ...

    def bargain_type(self, text: str) -> tuple[str, float]: ...


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one label; ``support`` is its number of gold examples."""

    precision: float
    recall: float
    f1: float
    support: int


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of positions where the prediction equals the gold label (0 for no positions)."""
    _check_lengths(gold, predicted)
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def label_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Scores]:
    """Scores of every label found in ``gold`` or ``predicted``, sorted by label.

    A label never predicted has precision 0; a label never in gold has recall
    0; F1 is 0 when precision and recall are both 0.
    """
    _check_lengths(gold, predicted)
    hits = Counter(g for g, p in zip(gold, predicted, strict=True) if g == p)
    gold_counts = Counter(gold)
    predicted_counts = Counter(predicted)
    scores: dict[str, Scores] = {}
    for label in sorted(gold_counts.keys() | predicted_counts.keys()):
        precision = hits[label] / predicted_counts[label] if predicted_counts[label] else 0.0
        recall = hits[label] / gold_counts[label] if gold_counts[label] else 0.0
        total = precision + recall
        f1 = 2 * precision * recall / total if total else 0.0
        scores[label] = Scores(precision, recall, f1, gold_counts[label])
    return scores


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Unweighted mean F1 over the labels found in ``gold`` or ``predicted``."""
    scores = label_scores(gold, predicted)
    return sum(s.f1 for s in scores.values()) / len(scores) if scores else 0.0


def confusions(gold: Sequence[str], predicted: Sequence[str]) -> list[tuple[str, str, int]]:
    """The mistakes as ``(gold, predicted, count)``, most frequent first."""
    _check_lengths(gold, predicted)
    pairs = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    return [(g, p, n) for (g, p), n in sorted(pairs.items(), key=lambda i: (-i[1], i[0]))]


def confusion_table(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None
) -> str:
    """Gold labels down, predicted labels across, as aligned text.

    Columns are numbered like the rows, to keep 28 labels readable; a zero is
    shown as ``.``. Without ``labels``, the labels found in gold or predicted.
    """
    _check_lengths(gold, predicted)
    names = list(labels) if labels is not None else sorted(set(gold) | set(predicted))
    counts = Counter(zip(gold, predicted, strict=True))
    corner = "gold \\ predicted"
    name_width = max([len(corner)] + [len(n) for n in names])
    number_width = len(str(len(names)))
    cell = max(number_width, len(str(max(counts.values(), default=0)))) + 1
    numbers = "".join(str(j).rjust(cell) for j in range(1, len(names) + 1))
    lines = [" " * (number_width + 1) + corner.ljust(name_width) + numbers]
    for i, row in enumerate(names, start=1):
        cells = "".join(
            (str(counts[row, col]) if counts[row, col] else ".").rjust(cell) for col in names
        )
        lines.append(f"{str(i).rjust(number_width)} {row.ljust(name_width)}{cells}")
    return "\n".join(lines)


def bargain_type_accuracy(examples: Sequence[Example], model: Model) -> float:
    """Share of the gold-``bargain`` examples whose bargain type the model gets right.

    Only examples labelled ``bargain`` count, and for each of them the model's
    bargain type is asked for directly (``model.bargain_type``), whatever intent
    the model would give the message. It therefore measures the bargain-type
    step alone; a bargain message mistaken for another intent is counted by the
    intent figures, not here. 0 when there is no bargain example.
    """
    bargains = [e for e in examples if e.bargain_type is not None]
    predicted = [model.bargain_type(e.text)[0] for e in bargains]
    return accuracy([e.bargain_type or "" for e in bargains], predicted)


@dataclass(frozen=True, repr=False)
class Evaluation:
    """Gold and predicted labels of a set of examples, with the figures drawn from them.

    ``gold_types`` and ``predicted_types`` hold the gold-bargain examples only,
    in order; ``predicted_types`` comes from ``model.bargain_type``. The repr
    shows the figures only, so a failing test never prints held-out texts.
    """

    texts: tuple[str, ...]
    gold: tuple[str, ...]
    predicted: tuple[str, ...]
    gold_types: tuple[str, ...]
    predicted_types: tuple[str, ...]

    @property
    def accuracy(self) -> float:
        return accuracy(self.gold, self.predicted)

    @property
    def macro_f1(self) -> float:
        return macro_f1(self.gold, self.predicted)

    @property
    def bargain_type_accuracy(self) -> float:
        """As defined by :func:`bargain_type_accuracy`."""
        return accuracy(self.gold_types, self.predicted_types)

    def label_scores(self) -> dict[str, Scores]:
        return label_scores(self.gold, self.predicted)

    def confusions(self) -> list[tuple[str, str, int]]:
        return confusions(self.gold, self.predicted)

    def confusion_table(self, labels: Sequence[str] | None = None) -> str:
        return confusion_table(self.gold, self.predicted, labels)

    def __repr__(self) -> str:
        return f"Evaluation({self.summary()})"

    def summary(self) -> str:
        """One line: the number of examples and the three headline figures."""
        return (
            f"n={len(self.gold)} accuracy={self.accuracy:.3f} macro_f1={self.macro_f1:.3f} "
            f"bargain_type_accuracy={self.bargain_type_accuracy:.3f} "
            f"(n={len(self.gold_types)})"
        )


def evaluate(model: Model, examples: Sequence[Example]) -> Evaluation:
    """The model's predictions for ``examples`` next to their labels."""
    bargains = [e for e in examples if e.bargain_type is not None]
    return Evaluation(
        texts=tuple(e.text for e in examples),
        gold=tuple(e.intent for e in examples),
        predicted=tuple(model.classify(e.text).intent for e in examples),
        gold_types=tuple(e.bargain_type or "" for e in bargains),
        predicted_types=tuple(model.bargain_type(e.text)[0] for e in bargains),
    )


def stratified_folds(examples: Sequence[Example], folds: int, seed: int = 0) -> list[list[int]]:
    """Example indices cut into ``folds`` parts, each intent and bargain type spread evenly."""
    if folds < 2:
        raise ValueError("cross-validation needs at least two folds")
    groups: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        groups[e.intent, e.bargain_type].append(i)
    shuffler = random.Random(seed)  # noqa: S311 (reproducible folds, not secrets)
    parts: list[list[int]] = [[] for _ in range(folds)]
    offset = 0
    for key in sorted(groups, key=lambda k: (k[0], k[1] or "")):
        members = groups[key]
        shuffler.shuffle(members)
        for j, index in enumerate(members):
            parts[(offset + j) % folds].append(index)
        offset += len(members)
    return [sorted(p) for p in parts]


def cross_validate(
    train: Callable[[Sequence[Example]], Model],
    examples: Sequence[Example],
    folds: int = 5,
    seed: int = 0,
) -> Evaluation:
    """Train on all folds but one, predict that one, for every fold; pool the predictions.

    The pooled :class:`Evaluation` lists the examples fold by fold.
    """
    pooled: list[Evaluation] = []
    for held_out in stratified_folds(examples, folds, seed):
        held = set(held_out)
        model = train([e for i, e in enumerate(examples) if i not in held])
        pooled.append(evaluate(model, [examples[i] for i in held_out]))
    return Evaluation(
        texts=tuple(t for e in pooled for t in e.texts),
        gold=tuple(g for e in pooled for g in e.gold),
        predicted=tuple(p for e in pooled for p in e.predicted),
        gold_types=tuple(g for e in pooled for g in e.gold_types),
        predicted_types=tuple(p for e in pooled for p in e.predicted_types),
    )


def _check_lengths(gold: Sequence[str], predicted: Sequence[str]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
