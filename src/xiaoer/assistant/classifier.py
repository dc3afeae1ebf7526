"""Which of the 28 intents a buyer's message is, and how a bargainer bargains (A1, A2).

Two classifiers, each a pair of models over the features of
:mod:`xiaoer.assistant.features`: one over the intents, trained on every
example, and one over the seven bargain types, trained on the ``bargain``
examples only. Each pair is a softmax (multinomial logistic) regression and a
multinomial naive Bayes model; a message's label probabilities are the mean of
the two models' (the Bayes scores softened by a temperature first).
Cross-validation on the train split found the pair right more often than
either model alone: the regression weighs features against one another, while
naive Bayes counts every n-gram it saw with a label, which helps when a
message shares many small pieces with the examples but no strong one.

Training the regression is plain stochastic gradient descent in Python; on
the 2,940 shipped examples it takes a few seconds (naive Bayes only counts).
While training, each cue feature is left out of an example 70 % of the time, so
that the character n-grams carry weight of their own for messages that no cue
list foresaw. The weights are plain numbers, so a trained model goes to JSON
with :meth:`Classifier.to_dict` and back with :meth:`Classifier.from_dict`,
e.g. to keep one per shop.

:func:`default_classifier` trains once on the examples shipped in
``xiaoer/assistant/data/examples.tsv`` (the ``train`` split of the labelled
messages; the ``test`` split is never shipped) and keeps the trained model in
the user's cache folder for the next process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import operator
import os
import random
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from xiaoer.assistant.features import CUE_PREFIX, FeatureOptions, extract
from xiaoer.assistant.normalize import ShopDictionary

INTENTS: tuple[str, ...] = (
    "greeting", "stock", "authenticity", "quality", "shelf_life", "origin", "ship_time",
    "courier", "shipping_fee", "arrival_time", "size_advice", "product_spec", "promotion",
    "bargain", "payment", "change_address", "modify_order", "logistics", "not_shipped",
    "return_exchange", "refund", "damaged_wrong", "invoice", "complaint", "human",
    "thanks_bye", "review", "other",
)  # fmt: skip
BARGAIN_TYPES: tuple[str, ...] = (
    "promise", "compare", "assertive", "threat_lure", "petty", "sympathy", "excuse",
)  # fmt: skip
BARGAIN = "bargain"

_HEADER = ["split", "intent", "bargain_type", "text"]
_HEADER_LINE = "\t".join(_HEADER)
log = logging.getLogger(__name__)

_FORMAT = "xiaoer.assistant.classifier/2"
_FORMAT_WITHOUT_BAYES = "xiaoer.assistant.classifier/1"
_DIGITS_KEPT = 4


@dataclass(frozen=True)
class Example:
    """A labelled buyer message; ``bargain_type`` is set exactly when the intent is bargain."""

    text: str
    intent: str
    bargain_type: str | None = None


@dataclass(frozen=True)
class Classification:
    """One intent with its probability, and for bargaining the bargain type with its own."""

    intent: str
    confidence: float
    bargain_type: str | None = None
    bargain_confidence: float | None = None


@dataclass(frozen=True)
class ClassifierOptions:
    """Features and training settings.

    The defaults were chosen by cross-validation on the train split
    (``scripts/assistant_cv.py``). The learning rate of epoch ``e`` is
    ``learning_rate / (1 + rate_decay * e)``; ``cue_dropout`` is the chance that
    a cue is left out of an example in one epoch; ``balanced`` weighs each
    label's examples inversely to their number; ``average`` keeps the mean of
    the weights at the end of each epoch rather than the last ones.
    ``bayes_weight`` is the naive Bayes model's share beside the regression's
    (0 leaves it out), ``bayes_alpha`` its additive smoothing of the feature
    counts, and ``bayes_temperature`` divides its log-likelihoods before the
    softmax, as they are far more confident than they deserve.
    """

    features: FeatureOptions = field(default_factory=FeatureOptions)
    min_count: int = 2
    epochs: int = 15
    learning_rate: float = 2.0
    rate_decay: float = 0.1
    l2: float = 1e-5
    balanced: bool = True
    cue_dropout: float = 0.7
    average: bool = False
    seed: int = 0
    bayes_weight: float = 1.0
    bayes_alpha: float = 0.03
    bayes_temperature: float = 10.0


def load_examples(path: str | Path, split: str | None = None) -> list[Example]:
    """Examples from a ``split, intent, bargain_type, text`` TSV file with a header line.

    With ``split`` given, only that split's rows. A malformed line raises
    :class:`ValueError` naming its line number.
    """
    return _parse(Path(path).read_text(encoding="utf-8"), str(path), split)


def shipped_examples() -> list[Example]:
    """The training examples that come with the package."""
    text = resources.files("xiaoer.assistant").joinpath("data/examples.tsv").read_text("utf-8")
    return _parse(text, "xiaoer/assistant/data/examples.tsv", None)


def _parse(text: str, source: str, split: str | None) -> list[Example]:
    lines = text.splitlines()
    if not lines or lines[0].split("\t") != _HEADER:
        raise ValueError(f"{source}: the first line must be the header {_HEADER_LINE!r}")
    examples: list[Example] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(_HEADER) or not cells[3].strip():
            raise ValueError(f"{source}:{number}: expected 4 tab-separated cells and a text")
        row_split, intent, bargain_type, message = cells
        if intent not in INTENTS:
            raise ValueError(f"{source}:{number}: unknown intent {intent!r}")
        wanted_type = intent == BARGAIN
        if wanted_type != (bargain_type in BARGAIN_TYPES) or (
            not wanted_type and bargain_type != "-"
        ):
            raise ValueError(f"{source}:{number}: bad bargain type {bargain_type!r} for {intent}")
        if split is None or row_split == split:
            examples.append(Example(message, intent, None if bargain_type == "-" else bargain_type))
    return examples


class _SoftmaxModel:
    """A linear model with one weight row per feature and a softmax over its labels."""

    def __init__(
        self, labels: Sequence[str], bias: Sequence[float], weights: Mapping[str, Sequence[float]]
    ) -> None:
        self.labels = tuple(labels)
        self.bias = array("d", bias)
        self.weights = {f: array("d", row) for f, row in weights.items()}

    @classmethod
    def train(
        cls, rows: Sequence[list[str]], targets: Sequence[str], options: ClassifierOptions
    ) -> _SoftmaxModel:
        labels = sorted(set(targets))
        label_index = {label: k for k, label in enumerate(labels)}
        counts = Counter(f for row in rows for f in set(row))
        vocabulary = sorted(f for f, n in counts.items() if n >= options.min_count)
        feature_index = {f: i for i, f in enumerate(vocabulary)}
        data = [
            (*_encode(row, feature_index), label_index[target])
            for row, target in zip(rows, targets, strict=True)
        ]
        n_labels = len(labels)
        weights = [[0.0] * n_labels for _ in vocabulary]
        bias = [0.0] * n_labels
        label_counts = Counter(targets)
        balance = {
            k: len(targets) / (n_labels * label_counts[label]) if options.balanced else 1.0
            for label, k in label_index.items()
        }
        total = [[0.0] * n_labels for _ in vocabulary]
        total_bias = [0.0] * n_labels
        order = list(range(len(data)))
        shuffler = random.Random(options.seed)  # noqa: S311 (reproducible training, not secrets)
        for epoch in range(options.epochs):
            rate = options.learning_rate / (1.0 + options.rate_decay * epoch)
            shuffler.shuffle(order)
            for i in order:
                plain, cue_groups, target = data[i]
                # Dropping cues now and then makes the n-grams and words learn too, for
                # messages phrased in a way that no cue list foresaw.
                kept = plain + [
                    f
                    for group in cue_groups
                    if not options.cue_dropout or shuffler.random() >= options.cue_dropout
                    for f in group
                ]
                value = 1.0 / math.sqrt(len(kept) or 1)
                gradient = _softmax(_scores(bias, [weights[f] for f in kept], value))
                gradient[target] -= 1.0
                scale = rate * balance[target]
                step = [scale * value * g for g in gradient]
                for f in kept:
                    weights[f] = list(map(operator.sub, weights[f], step))
                bias = [b - scale * g for b, g in zip(bias, gradient, strict=True)]
            # The L2 penalty's pull towards zero for the whole epoch, applied at once.
            shrink = (1.0 - rate * options.l2) ** len(data)
            weights = [[w * shrink for w in row] for row in weights]
            if options.average:
                total = [list(map(operator.add, t, w)) for t, w in zip(total, weights, strict=True)]
                total_bias = list(map(operator.add, total_bias, bias))
        if options.average and options.epochs:
            weights = [[w / options.epochs for w in row] for row in total]
            bias = [b / options.epochs for b in total_bias]
        # Rounded here, not in to_dict, so a model and its JSON copy answer alike.
        rounded = {
            f: [round(w, _DIGITS_KEPT) for w in row]
            for f, row in zip(vocabulary, weights, strict=True)
        }
        return cls(labels, [round(b, _DIGITS_KEPT) for b in bias], rounded)

    def probabilities(self, features: Sequence[str]) -> list[float]:
        """Each label's probability, in the order of :attr:`labels`."""
        rows = [self.weights[f] for f in features if f in self.weights]
        return _softmax(_scores(self.bias, rows, 1.0 / math.sqrt(len(rows) or 1)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "bias": list(self.bias),
            "weights": {f: list(row) for f, row in self.weights.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _SoftmaxModel:
        return cls(data["labels"], data["bias"], data["weights"])


class _NaiveBayes:
    """Multinomial naive Bayes with a uniform prior: one row of log-probabilities per feature.

    A feature's row holds ``log((count of f with label + alpha) / (all feature
    counts of label + alpha * vocabulary))`` per label; features never seen in
    training are left out of a message's score. Cues count as often as
    :func:`~xiaoer.assistant.features.extract` repeats them.
    """

    def __init__(self, labels: Sequence[str], weights: Mapping[str, Sequence[float]]) -> None:
        self.labels = tuple(labels)
        self.weights = {f: array("d", row) for f, row in weights.items()}

    @classmethod
    def train(
        cls, rows: Sequence[list[str]], targets: Sequence[str], labels: Sequence[str], alpha: float
    ) -> _NaiveBayes:
        if alpha <= 0:
            raise ValueError("naive Bayes needs a smoothing alpha above 0")
        counts: dict[str, Counter[str]] = {label: Counter() for label in labels}
        for row, target in zip(rows, targets, strict=True):
            counts[target].update(row)
        vocabulary = sorted({f for counter in counts.values() for f in counter})
        denominators = [
            math.log(sum(counts[label].values()) + alpha * len(vocabulary)) for label in labels
        ]
        weights = {
            f: [
                round(math.log(counts[label][f] + alpha) - denominator, _DIGITS_KEPT)
                for label, denominator in zip(labels, denominators, strict=True)
            ]
            for f in vocabulary
        }
        return cls(labels, weights)

    def probabilities(self, features: Sequence[str], temperature: float) -> list[float]:
        """Each label's probability, in the order of :attr:`labels`, softened by ``temperature``."""
        rows = [self.weights[f] for f in features if f in self.weights]
        zero = [0.0] * len(self.labels)
        return _softmax(_scores(zero, rows, 1.0 / temperature))

    def to_dict(self) -> dict[str, Any]:
        weights = {f: list(row) for f, row in self.weights.items()}
        return {"labels": list(self.labels), "weights": weights}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _NaiveBayes:
        return cls(data["labels"], data["weights"])


def _encode(row: Sequence[str], feature_index: dict[str, int]) -> tuple[list[int], list[list[int]]]:
    """The known features' indices: the plain ones, and the cues' grouped by cue."""
    plain: list[int] = []
    cues: dict[str, list[int]] = {}
    for name in row:
        index = feature_index.get(name)
        if index is None:
            continue
        if name.startswith(CUE_PREFIX):
            cues.setdefault(name, []).append(index)
        else:
            plain.append(index)
    return plain, list(cues.values())


def _scores(bias: Sequence[float], rows: Sequence[Sequence[float]], value: float) -> list[float]:
    # Summing columns with zip(*rows) keeps the inner loop in C.
    if not rows:
        return list(bias)
    columns = zip(*rows, strict=True)
    return [b + value * sum(column) for b, column in zip(bias, columns, strict=True)]


def _softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


class _LabelModel:
    """The regression and, unless its share is 0, the naive Bayes model beside it."""

    def __init__(
        self,
        regression: _SoftmaxModel,
        bayes: _NaiveBayes | None,
        options: ClassifierOptions,
    ) -> None:
        if bayes is not None and bayes.labels != regression.labels:
            raise ValueError("the two models of a classifier must have the same labels")
        self.regression = regression
        self.bayes = bayes if options.bayes_weight else None
        self.weight = options.bayes_weight
        self.temperature = options.bayes_temperature

    @classmethod
    def train(
        cls, rows: Sequence[list[str]], targets: Sequence[str], options: ClassifierOptions
    ) -> _LabelModel:
        regression = _SoftmaxModel.train(rows, targets, options)
        bayes = None
        if options.bayes_weight:
            bayes = _NaiveBayes.train(rows, targets, regression.labels, options.bayes_alpha)
        return cls(regression, bayes, options)

    def predict(self, features: Sequence[str]) -> tuple[str, float]:
        """The most probable label and its probability."""
        probabilities = self.regression.probabilities(features)
        if self.bayes is not None:
            share = self.weight
            bayes = self.bayes.probabilities(features, self.temperature)
            probabilities = [
                (p + share * q) / (1.0 + share) for p, q in zip(probabilities, bayes, strict=True)
            ]
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return self.regression.labels[best], probabilities[best]

    def to_dict(self) -> dict[str, Any]:
        return {
            "regression": self.regression.to_dict(),
            "bayes": None if self.bayes is None else self.bayes.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], options: ClassifierOptions) -> _LabelModel:
        bayes = data.get("bayes")
        return cls(
            _SoftmaxModel.from_dict(data["regression"]),
            None if bayes is None else _NaiveBayes.from_dict(bayes),
            options,
        )


class Classifier:
    """Gives a buyer message one intent and, for bargaining, one bargain type."""

    def __init__(
        self, options: ClassifierOptions, intents: _LabelModel, bargain_types: _LabelModel
    ) -> None:
        self.options = options
        self._intents = intents
        self._bargain_types = bargain_types

    @classmethod
    def train(
        cls, examples: Iterable[Example], options: ClassifierOptions | None = None
    ) -> Classifier:
        """A classifier learnt from ``examples``; needs two intents and two bargain types."""
        options = options or ClassifierOptions()
        examples = list(examples)
        kinds = {e.bargain_type for e in examples if e.bargain_type is not None}
        if len({e.intent for e in examples}) < 2 or len(kinds) < 2:
            raise ValueError("training needs at least two intents and two bargain types")
        rows = [extract(e.text, options.features) for e in examples]
        intents = _LabelModel.train(rows, [e.intent for e in examples], options)
        bargains = [(row, e.bargain_type) for row, e in zip(rows, examples, strict=True)]
        bargain_rows = [row for row, kind in bargains if kind is not None]
        bargain_kinds = [kind for _, kind in bargains if kind is not None]
        bargain_types = _LabelModel.train(bargain_rows, bargain_kinds, options)
        return cls(options, intents, bargain_types)

    def classify(self, text: str, dictionary: ShopDictionary | None = None) -> Classification:
        """The message's intent; the bargain type is given only when the intent is bargain.

        ``dictionary`` (the shop's words) matters only to options with jieba words.
        """
        features = extract(text, self.options.features, dictionary)
        intent, confidence = self._intents.predict(features)
        if intent != BARGAIN:
            return Classification(intent, confidence)
        kind, kind_confidence = self._bargain_types.predict(features)
        return Classification(intent, confidence, kind, kind_confidence)

    def bargain_type(
        self, text: str, dictionary: ShopDictionary | None = None
    ) -> tuple[str, float]:
        """The bargain type the message would have if it were bargaining, and its probability."""
        return self._bargain_types.predict(extract(text, self.options.features, dictionary))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON; :meth:`from_dict` gives back a classifier that answers alike."""
        return {
            "format": _FORMAT,
            "options": asdict(self.options),
            "intents": self._intents.to_dict(),
            "bargain_types": self._bargain_types.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Classifier:
        """A classifier from :meth:`to_dict`'s data; one kept before naive Bayes was added
        (format ``/1``) comes back as the regression alone."""
        kind = data.get("format")
        if kind not in (_FORMAT, _FORMAT_WITHOUT_BAYES):
            raise ValueError(f"not a classifier in format {_FORMAT}: {kind!r}")
        raw = dict(data["options"])
        features = FeatureOptions(**raw.pop("features"))
        if kind == _FORMAT_WITHOUT_BAYES:
            raw["bayes_weight"] = 0.0
            intents = {"regression": data["intents"], "bayes": None}
            bargain_types = {"regression": data["bargain_types"], "bayes": None}
        else:
            intents, bargain_types = data["intents"], data["bargain_types"]
        options = ClassifierOptions(features=features, **raw)
        return cls(
            options,
            _LabelModel.from_dict(intents, options),
            _LabelModel.from_dict(bargain_types, options),
        )


_default: Classifier | None = None
_default_lock = threading.Lock()
_CACHED_FROM = ("classifier.py", "features.py", "normalize.py", "data/examples.tsv")


def default_classifier_trained() -> bool:
    """Whether :func:`default_classifier` would answer at once, without training."""
    return _default is not None


def default_classifier() -> Classifier:
    """The classifier trained on the shipped examples, once per process.

    The trained model is kept in the cache folder (:func:`cache_folder`) under a
    name made from everything that decides it: the examples, the options, the
    code that reads and learns, and the OpenCC version. A process that finds it
    there loads it in a fraction of a second instead of training for seconds; a
    file that cannot be read is trained again and written anew.
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = _load_or_train()
    return _default


def cache_folder() -> Path:
    """``$XIAOER_CACHE_DIR``, else ``$XDG_CACHE_HOME/xiaoer``, else ``~/.cache/xiaoer``."""
    chosen = os.environ.get("XIAOER_CACHE_DIR")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xiaoer"


def _cache_key(options: ClassifierOptions) -> str:
    digest = hashlib.sha256()
    package = resources.files("xiaoer.assistant")
    for name in _CACHED_FROM:
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes() + b"\0")
    digest.update(json.dumps(asdict(options), sort_keys=True).encode())
    with contextlib.suppress(metadata.PackageNotFoundError):
        digest.update(metadata.version("opencc").encode())
    return digest.hexdigest()[:32]


def _load_or_train() -> Classifier:
    options = ClassifierOptions()
    key = _cache_key(options)
    path = cache_folder() / f"classifier-{key}.json"
    try:
        data = json.loads(path.read_text("utf-8"))
        if data.get("key") == key:
            return Classifier.from_dict(data["model"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("the cached classifier %s cannot be read; training again", path)
    model = Classifier.train(shipped_examples(), options)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed, so another process never reads half a file.
        partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial.write_text(json.dumps({"key": key, "model": model.to_dict()}), "utf-8")
        os.replace(partial, path)
        _forget_old(path)
    except OSError as exc:
        log.info("the trained classifier is not cached (%s)", exc)
    return model


def _forget_old(kept: Path) -> None:
    """Remove cached classifiers of other code or examples a day after they were last
    written; another version still in use nearby keeps its file meanwhile."""
    day_ago = time.time() - 86_400
    for other in kept.parent.glob("classifier-*.json"):
        with contextlib.suppress(OSError):
            if other != kept and other.stat().st_mtime < day_ago:
                other.unlink()
