"""Seller notes (卖家备注, REQUIREMENTS O3): read, check and write the handbook's line.

After payment the agent writes a one-line note on the order in the handbook's format::

    姓名,尺寸(宽*高,米),图案,发货时间,配送,特殊备注
    刘贺,3米*2.4米,图案正常,12月19发货,自提。送胶。

:func:`parse_note` reads the everyday variants agents type and returns a
:class:`SellerNote`, or an error for every field that is wrong or missing.
:func:`format_note` writes a note back in the canonical form above, which
:func:`parse_note` reads back to the same note.

The rules, for a reader who needs to know exactly what is accepted:

* Everything but the name is normalised with Unicode NFKC first, so full-width
  digits, letters and punctuation (``３米``, ``ｃｍ``, ``１２．１９``, ``，``) read as
  their ASCII forms. The name is kept as typed, only trimmed.
* The first five fields are separated by ``,`` ``，`` ``、`` ``;`` or ``；``, with
  any spaces around them. Repeated separators count as one, so an empty field
  between two separators is treated as not written.
* The delivery field may be followed by ``。`` and then the extras (特殊备注). The
  extras are everything after the five fields, split on ``。`` ``；`` ``;`` ``，``
  ``,`` (and on line breaks and control characters), empty pieces dropped.
* The size is width*height. The separator is ``*`` ``＊`` ``×`` ``x`` or ``X``; the
  units are 米/m/M (metres) and 厘米/cm/CM (centimetres, converted exactly). A
  unit written on one number only applies to both (``300*240cm``). A pair with
  no unit at all is read number by number: **a value of 10 or more is
  centimetres, a value below 10 is metres** (``300*240`` and ``3*2.4`` are both
  3 m by 2.4 m). Each side must be more than 0 and at most 50 m, and a whole
  number of millimetres (at most 3 decimals in metres).
* The ship date is ``12月19``, ``12月19日`` (or ``号``), ``12.19``, ``12-19`` or
  ``12/19``, optionally followed by ``发货`` or ``发``. The month is 1 to 12 and
  the day must exist in that month; 2月29 is accepted, as the year is not written.
* When fewer than five fields are given, the fields given are matched to the
  slots they fit best (in order), so ``刘贺,3米*2.4米,12月19发货,自提`` reports
  just the missing design instead of three fields in the wrong place. A note is
  only ever accepted with all five fields in their places.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import combinations
from typing import Any, Literal, TypeVar

from xiaoer.core.sheets import safe_cell
from xiaoer.core.texts import Text, from_data, say, to_data

T = TypeVar("T")


class Design(StrEnum):
    """The printed design: the shop's own picture, a changed one, or a custom one."""

    NORMAL = "normal"
    MODIFIED = "modified"
    CUSTOM = "custom"


class Delivery(StrEnum):
    """How the goods reach the buyer (REQUIREMENTS O2)."""

    PICKUP = "pickup"
    DOWNSTAIRS = "downstairs"
    INSTALL = "install"


NoteField = Literal["name", "size", "design", "ship_date", "delivery"]
"""The fields a :class:`NoteError` can be about, in the order they are written."""

FIELDS: tuple[NoteField, ...] = ("name", "size", "design", "ship_date", "delivery")

DESIGN_WORDS: dict[str, Design] = {
    "图案正常": Design.NORMAL,
    "正常": Design.NORMAL,
    "原图": Design.NORMAL,
    "图案修改": Design.MODIFIED,
    "改图": Design.MODIFIED,
    "修改图案": Design.MODIFIED,
    "图案改": Design.MODIFIED,
    "定制": Design.CUSTOM,
    "定制图案": Design.CUSTOM,
    "来图定制": Design.CUSTOM,
    "图案定制": Design.CUSTOM,
}
"""Every word accepted in the design field, and what it means."""

DELIVERY_WORDS: dict[str, Delivery] = {
    "自提": Delivery.PICKUP,
    "自取": Delivery.PICKUP,
    "送货到楼下": Delivery.DOWNSTAIRS,
    "送到楼下": Delivery.DOWNSTAIRS,
    "楼下": Delivery.DOWNSTAIRS,
    "包送货安装": Delivery.INSTALL,
    "送货安装": Delivery.INSTALL,
    "上门安装": Delivery.INSTALL,
    "送装": Delivery.INSTALL,
}
"""Every word accepted in the delivery field, and what it means."""

DESIGN_CANONICAL: dict[Design, str] = {
    Design.NORMAL: "图案正常",
    Design.MODIFIED: "图案修改",
    Design.CUSTOM: "图案定制",
}
"""The word :func:`format_note` writes for each design."""

DELIVERY_CANONICAL: dict[Delivery, str] = {
    Delivery.PICKUP: "自提",
    Delivery.DOWNSTAIRS: "送货到楼下",
    Delivery.INSTALL: "包送货安装",
}
"""The word :func:`format_note` writes for each delivery method (the handbook's words)."""

NAME_MAX_CHARS = 20
MAX_SIDE_M = Decimal(50)
MEMO_LIMIT_BYTES = 1000
"""The platform's limit on a seller memo, in UTF-8 bytes."""

FLAG_COLOURS = ("none", "red", "yellow", "green", "blue", "purple")
"""The platform's order flags (插旗), by number."""

# Characters are compared by their NFKC form, so full-width and small forms count too.
_FIELD_SEPARATORS = frozenset(",、;")
_STOP = "。"
_EXTRA_SPLIT = re.compile(r"[。;,\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TRIM = re.compile(r"^[\s\ufeff\u200b]+|[\s\ufeff\u200b]+\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")

_NUMBER = r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_UNIT = r"(厘米|米|cm|m)?"
_SIZE = re.compile(rf"{_NUMBER}\s*{_UNIT}\s*[*×x]\s*{_NUMBER}\s*{_UNIT}", re.IGNORECASE)
_DATE = re.compile(
    r"([0-9]{1,2})\s*(?:月\s*([0-9]{1,2})\s*[日号]?|[./-]\s*([0-9]{1,2}))\s*(?:发货|发)?"
)
_MILLIMETRE = Decimal("0.001")
_CENTIMETRE_UNITS = ("厘米", "cm")
_BARE_CM_FROM = Decimal(10)
_LEAP_YEAR = 2024  # any leap year: the note has no year, so 2月29 must pass
_SHOWN_MAX_CHARS = 40


# What each design and delivery means, named in the messages in the reader's words.
MEANING_SAID: dict[str, Text] = {
    Design.NORMAL: say("normal"),
    Design.MODIFIED: say("modified"),
    Design.CUSTOM: say("custom"),
    Delivery.PICKUP: say("pickup"),
    Delivery.DOWNSTAIRS: say("downstairs"),
    Delivery.INSTALL: say("install"),
}
SIDE_SAID: dict[str, Text] = {"width": say("width"), "height": say("height")}


def _both(first: str, second: str) -> Text:
    """``first; second``, each part staying translatable."""
    return say("{first}; {second}", first=first, second=second)


def _words_by_meaning(words: dict[str, T]) -> str:
    """``a, b (x); c (y)``: the accepted words grouped by what they mean, for messages."""
    groups: dict[T, list[str]] = {}
    for word, meaning in words.items():
        groups.setdefault(meaning, []).append(word)
    parts: list[str] = [
        say(
            "{words} ({meaning})",
            words=", ".join(group),
            meaning=MEANING_SAID.get(str(meaning), str(meaning)),
        )
        for meaning, group in groups.items()
    ]
    listed = parts[-1]
    for part in reversed(parts[:-1]):  # "a; b; c" as a; (b; c): each part stays translatable
        listed = _both(part, listed)
    return listed


_DESIGN_LIST = _words_by_meaning(DESIGN_WORDS)
_DELIVERY_LIST = _words_by_meaning(DELIVERY_WORDS)

_MISSING: dict[NoteField, str] = {
    "name": say("name is missing: expected the buyer's name first, e.g. 刘贺"),
    "size": say("size is missing: expected width*height, e.g. 3米*2.4米 or 300cm×240cm"),
    "design": say("design is missing: expected one of {words}", words=_DESIGN_LIST),
    "ship_date": say("ship_date is missing: expected e.g. 12月19发货, 12.19, 12-19 or 12/19"),
    "delivery": say("delivery is missing: expected one of {words}", words=_DELIVERY_LIST),
}


@dataclass(frozen=True)
class NoteError:
    """What is wrong with one field of a note, for the agent who wrote it: English
    text made by :func:`~xiaoer.core.texts.say`, so pages show it in the reader's words."""

    field: NoteField
    message: str

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, str]:
        """``{"field": ..., "message": ...}``, the message in English."""
        return {"field": self.field, "message": str(self.message)}

    def to_stored(self) -> dict[str, Any]:
        """What a :class:`~xiaoer.orders.models.SellerNote` keeps: the field, the message in
        English, and the message as data to show in the reader's language (``data``)."""
        return {**self.to_json(), "data": to_data(self.message)}


def stored_message(error: Mapping[str, Any]) -> str:
    """A kept error's message, translatable; a note kept before ``data`` gives its English."""
    if "data" in error:
        return from_data(error["data"])
    return str(error.get("message", ""))


@dataclass(frozen=True)
class SellerNote:
    """A seller note, checked: every instance is a note :func:`format_note` can write
    and :func:`parse_note` reads back to an equal note. Sizes are in metres."""

    name: str
    width_m: Decimal
    height_m: Decimal
    design: Design
    ship_month: int
    ship_day: int
    delivery: Delivery
    extras: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = (
            _name_problem(self.name)
            or _side_problem("width", self.width_m)
            or _side_problem("height", self.height_m)
            or _date_problem(self.ship_month, self.ship_day)
            or _extras_problem(self.extras)
        )
        if problem is not None:
            raise ValueError(f"not a valid seller note: {problem}")
        # Store one canonical form, so equal notes print the same (2.40 is kept as 2.4).
        object.__setattr__(self, "width_m", _canonical(self.width_m))
        object.__setattr__(self, "height_m", _canonical(self.height_m))
        object.__setattr__(self, "design", Design(self.design))
        object.__setattr__(self, "delivery", Delivery(self.delivery))
        object.__setattr__(self, "extras", tuple(self.extras))

    @property
    def ship_date(self) -> str:
        """The ship date as ``MM-DD``, e.g. ``12-19``."""
        return f"{self.ship_month:02d}-{self.ship_day:02d}"

    def to_json(self) -> dict[str, object]:
        """The note as a JSON object; sizes are numbers of metres (``3``, ``2.4``)."""
        return {
            "name": self.name,
            "width_m": _json_number(self.width_m),
            "height_m": _json_number(self.height_m),
            "design": self.design.value,
            "ship_date": self.ship_date,
            "delivery": self.delivery.value,
            "extras": list(self.extras),
        }


# --- small helpers ---------------------------------------------------------------


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _trim(text: str) -> str:
    """The text without surrounding whitespace, byte-order marks or zero-width spaces."""
    return _TRIM.sub("", text)


def _shown(text: str) -> str:
    """Text as quoted in a message, clipped so junk cannot make a message huge."""
    if len(text) > _SHOWN_MAX_CHARS:
        text = text[:_SHOWN_MAX_CHARS] + "…"
    return f'"{text}"'


def _plain(value: Decimal) -> str:
    """A decimal written without exponent or trailing zeros: 2.40 -> ``2.4``, 1E+1 -> ``10``."""
    text = format(value.normalize(), "f") if value.is_finite() else str(value)
    return text if len(text) <= _SHOWN_MAX_CHARS else text[:_SHOWN_MAX_CHARS] + "…"


def _canonical(value: Decimal) -> Decimal:
    """The same number with no trailing zeros and no exponent (2.40 -> 2.4, 10.0 -> 10)."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def _json_number(value: Decimal) -> int | float:
    """A whole number of metres as an int, else a float (at most 3 decimals, so exact enough)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _is_separator(char: str) -> bool:
    return _nfkc(char) in _FIELD_SEPARATORS


def _is_stop(char: str) -> bool:
    return _nfkc(char) == _STOP


# --- field checks, shared by the parser and SellerNote ---------------------------


def _name_problem(name: str) -> str | None:
    """What is wrong with a buyer's name as typed, or None when it is a fine name."""
    shown = _shown(name)
    if not name:
        return _MISSING["name"]
    if any(char.isdigit() for char in name + _nfkc(name)):
        return say("name {name} contains digits: expected the buyer's name, e.g. 刘贺", name=shown)
    if len(name) > NAME_MAX_CHARS:
        return say(
            "name {name} is {length} characters long: expected at most {limit}",
            name=shown,
            length=len(name),
            limit=NAME_MAX_CHARS,
        )
    if any(_is_separator(char) or _is_stop(char) for char in name):
        return say(
            "name {name} contains punctuation that separates fields: "
            "expected the buyer's name, e.g. 刘贺",
            name=shown,
        )
    invisible = any(unicodedata.category(char)[0] == "C" for char in name)
    if invisible or any(unicodedata.category(char) in ("Zl", "Zp") for char in name):
        return say(
            "name {name} contains control or invisible characters: "
            "expected the buyer's name, e.g. 刘贺",
            name=shown,
        )
    if name != _trim(name):
        return say(
            "name {name} has spaces around it: expected the buyer's name, e.g. 刘贺", name=shown
        )
    return None


def _side_problem(side: str, value: Decimal) -> str | None:
    """What is wrong with a width or height in metres, or None."""
    if not isinstance(value, Decimal) or not value.is_finite():
        return f"{side} {value!r} is not a number of metres: expected a Decimal"
    if not 0 < value <= MAX_SIDE_M:
        return say(
            "{side} {value} m is out of range: expected more than 0 and at most {limit} m",
            side=SIDE_SAID.get(side, side),
            value=_plain(value),
            limit=_plain(MAX_SIDE_M),
        )
    if value.quantize(_MILLIMETRE) != value:
        return say(
            "{side} {value} m is finer than a millimetre: "
            "expected at most 3 decimals in metres (1 in centimetres)",
            side=SIDE_SAID.get(side, side),
            value=_plain(value),
        )
    return None


def _date_problem(month: int, day: int) -> str | None:
    """What is wrong with a ship month and day, or None; 2月29 is fine."""
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        return say("month {month!r} does not exist: expected 1 to 12", month=month)
    last = calendar.monthrange(_LEAP_YEAR, month)[1]
    if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= last:
        return say(
            "month {month} has no day {day!r}: expected 1 to {last}",
            month=month,
            day=day,
            last=last,
        )
    return None


def _split_extras(text: str) -> tuple[str, ...]:
    """The extras (特殊备注) written in ``text``: NFKC-normalised, split, trimmed, no empties."""
    pieces = (_trim(piece) for piece in _EXTRA_SPLIT.split(_nfkc(text)))
    return tuple(piece for piece in pieces if piece)


def _extras_problem(extras: Sequence[str]) -> str | None:
    """Extras must be what :func:`_split_extras` gives, so that they survive a round trip."""
    for extra in extras:
        if not isinstance(extra, str) or _split_extras(extra) != (extra,):
            return f"extra {extra!r} is empty, untrimmed, not NFKC or contains a separator"
    return None


# --- field parsers: the text of one field as typed (trimmed) -> value or error -----


def _parse_name(text: str) -> str | NoteError:
    problem = _name_problem(text)
    return NoteError("name", problem) if problem else text


def _metres(number: str, unit: str | None) -> Decimal:
    """A side in metres, exactly; ``unit`` None is the bare-number rule (>= 10 is cm)."""
    value = Decimal(number)
    if unit is None:
        return value.scaleb(-2) if value >= _BARE_CM_FROM else value
    return value.scaleb(-2) if unit.lower() in _CENTIMETRE_UNITS else value


def _parse_size(text: str) -> tuple[Decimal, Decimal] | NoteError:
    match = _SIZE.fullmatch(_trim(_nfkc(text)))
    if match is None:
        return NoteError(
            "size",
            say(
                "size {text} is not width*height: expected e.g. 3米*2.4米 or 300cm×240cm",
                text=_shown(text),
            ),
        )
    width_number, width_unit, height_number, height_unit = match.groups()
    # A unit written once applies to both numbers: 300*240cm, 3米*2.4.
    width_unit = width_unit or height_unit
    height_unit = height_unit or width_unit
    width = _metres(width_number, width_unit)
    height = _metres(height_number, height_unit)
    problems = [
        problem
        for problem in (_side_problem("width", width), _side_problem("height", height))
        if problem is not None
    ]
    if problems:
        listed = problems[0] if len(problems) == 1 else _both(problems[0], problems[1])
        return NoteError("size", say("size {text}: {problems}", text=_shown(text), problems=listed))
    return _canonical(width), _canonical(height)


def _parse_design(text: str) -> Design | NoteError:
    design = DESIGN_WORDS.get(_WHITESPACE.sub("", _nfkc(text)))
    if design is None:
        return NoteError(
            "design",
            say(
                "design {text} is not a known design word: expected one of {words}",
                text=_shown(text),
                words=_DESIGN_LIST,
            ),
        )
    return design


def _parse_ship_date(text: str) -> tuple[int, int] | NoteError:
    match = _DATE.fullmatch(_trim(_nfkc(text)))
    if match is None:
        return NoteError(
            "ship_date",
            say(
                "ship_date {text} is not a date: expected e.g. 12月19发货, 12.19, 12-19 or 12/19",
                text=_shown(text),
            ),
        )
    month = int(match.group(1))
    day = int(match.group(2) or match.group(3))
    problem = _date_problem(month, day)
    if problem is not None:
        return NoteError(
            "ship_date", say("ship_date {text}: {problem}", text=_shown(text), problem=problem)
        )
    return month, day


def _parse_delivery(text: str) -> Delivery | NoteError:
    delivery = DELIVERY_WORDS.get(_WHITESPACE.sub("", _nfkc(text)))
    if delivery is None:
        return NoteError(
            "delivery",
            say(
                "delivery {text} is not a known delivery word: expected one of {words}",
                text=_shown(text),
                words=_DELIVERY_LIST,
            ),
        )
    return delivery


_PARSERS: dict[NoteField, Callable[[str], object]] = {
    "name": _parse_name,
    "size": _parse_size,
    "design": _parse_design,
    "ship_date": _parse_ship_date,
    "delivery": _parse_delivery,
}


# --- the note --------------------------------------------------------------------


def _field_spans(line: str) -> list[tuple[int, int]]:
    """Start and end of every non-blank piece of ``line`` between field separators."""
    spans: list[tuple[int, int]] = []
    start = 0
    for index, char in enumerate(line):
        if _is_separator(char):
            spans.append((start, index))
            start = index + 1
    spans.append((start, len(line)))
    return [(start, end) for start, end in spans if _trim(line[start:end])]


def _layout(line: str, spans: list[tuple[int, int]]) -> tuple[dict[NoteField, str], str]:
    """Which text fills which field, and the text left over for the extras.

    The first ``used`` pieces fill fields in order; the last of them ends at its first
    ``。`` and everything after that is extras. Every choice of ``used`` (5 down to 1)
    and of which fields those pieces fill is scored by how many pieces parse as
    their field; the best wins, ties going to more pieces used and then to the
    earlier fields. With five well-formed fields that is always the plain reading.
    """
    fits: dict[tuple[NoteField, str], bool] = {}

    def fit(field: NoteField, text: str) -> bool:
        if (field, text) not in fits:
            fits[field, text] = bool(text) and not isinstance(_PARSERS[field](text), NoteError)
        return fits[field, text]

    best: tuple[int, dict[NoteField, str], str] = (-1, {}, "")
    for used in range(min(len(spans), len(FIELDS)), 0, -1):
        texts = [_trim(line[start:end]) for start, end in spans[: used - 1]]
        last_start, last_end = spans[used - 1]
        stop = next((i for i in range(last_start, last_end) if _is_stop(line[i])), None)
        texts.append(_trim(line[last_start : last_end if stop is None else stop]))
        # Skip the separator (or 。) that ends the last field.
        rest = line[(last_end if stop is None else stop) + 1 :]
        for slots in combinations(range(len(FIELDS)), used):
            chosen = {FIELDS[slot]: text for slot, text in zip(slots, texts, strict=True)}
            score = sum(fit(field, text) for field, text in chosen.items())
            if score > best[0]:
                best = (score, chosen, rest)
    return best[1], best[2]


def _take(
    errors: list[NoteError],
    field: NoteField,
    fields: dict[NoteField, str],
    parser: Callable[[str], T | NoteError],
) -> T | None:
    """Parse one field, recording its error (or its absence) in ``errors``."""
    text = fields.get(field, "")
    if not text:
        errors.append(NoteError(field, _MISSING[field]))
        return None
    result = parser(text)
    if isinstance(result, NoteError):
        errors.append(result)
        return None
    return result


def parse_note(text: str) -> SellerNote | list[NoteError]:
    """Read a seller note; return the note, or one error for each bad or missing field.

    Never raises on any string: a blank one gives ``[NoteError("name", "empty note")]``.
    The accepted variants are described in this module's docstring.
    """
    line = _trim(_SURROGATE.sub("\ufffd", text))
    if not line:
        return [NoteError("name", say("empty note"))]
    fields, rest = _layout(line, _field_spans(line))
    errors: list[NoteError] = []
    name = _take(errors, "name", fields, _parse_name)
    size = _take(errors, "size", fields, _parse_size)
    design = _take(errors, "design", fields, _parse_design)
    date = _take(errors, "ship_date", fields, _parse_ship_date)
    delivery = _take(errors, "delivery", fields, _parse_delivery)
    # A field is None only when it left an error; the checks are for the type checker.
    if errors or name is None or size is None or design is None or date is None or delivery is None:
        return errors
    return SellerNote(
        name=name,
        width_m=size[0],
        height_m=size[1],
        design=design,
        ship_month=date[0],
        ship_day=date[1],
        delivery=delivery,
        extras=_split_extras(rest),
    )


def format_note(note: SellerNote) -> str:
    """The canonical handbook line, e.g. ``刘贺,3米*2.4米,图案正常,12月19发货,自提。送胶。``.

    Without extras the line ends with the delivery word (``…,自提``).
    """
    line = ",".join(
        (
            note.name,
            f"{_plain(note.width_m)}米*{_plain(note.height_m)}米",
            DESIGN_CANONICAL[note.design],
            f"{note.ship_month}月{note.ship_day}发货",
            DELIVERY_CANONICAL[note.delivery],
        )
    )
    return line + "".join(f"。{extra}" for extra in note.extras) + ("。" if note.extras else "")


# --- the platform memo -------------------------------------------------------------


def _clean(text: str) -> str:
    """Trimmed text that can be encoded: lone surrogates become U+FFFD."""
    return _trim(_SURROGATE.sub("\ufffd", text))


def _joins_previous(text: str, index: int) -> bool:
    """Whether ``text[index]`` belongs to the character before it (a mark, or a ZWJ join),
    so that a cut just before it would split what the reader sees as one character."""
    return unicodedata.category(text[index]).startswith("M") or "\u200d" in (
        text[index],
        text[index - 1],
    )


def memo_text(note_line: str, history: Sequence[str] = ()) -> str:
    """The seller memo to store on the platform: at most 1000 bytes of UTF-8.

    The memo is the current note line, then the earlier versions in ``history``
    (given oldest first, as kept under O3) newest first, one per line; blank
    entries are left out. When that is too long the memo is cut at the end, which
    drops the oldest history first, then newer history, and only then the note line
    itself, and it ends with ``…``. A cut never falls inside a UTF-8 character nor
    between a character and its combining marks.
    """
    entries = [_clean(note_line), *(_clean(entry) for entry in reversed(history))]
    memo = "\n".join(entry for entry in entries if entry)
    if len(memo.encode("utf-8")) <= MEMO_LIMIT_BYTES:
        return memo
    budget = MEMO_LIMIT_BYTES - len("…".encode())
    # Decoding the first `budget` bytes with errors="ignore" drops only a character cut in half.
    kept = len(memo.encode("utf-8")[:budget].decode("utf-8", "ignore"))
    while kept > 0 and _joins_previous(memo, kept):
        kept -= 1
    return memo[:kept].rstrip() + "…"


def memo_cell(memo: str) -> str:
    """The memo as a cell of the memo file for the platform's batch memo import.

    A leader opens that file in a spreadsheet before uploading it, so a memo that
    starts like a formula (``=``, ``+``, ``-``, ``@``) is written with a leading
    ``'`` as every export is (:func:`xiaoer.core.sheets.safe_cell`). The platform's
    importer is no spreadsheet and cannot be counted on to drop that quote: such a
    memo reaches the platform with it, a visible mark on a rare memo (the handbook's
    notes start with the buyer's name) rather than a formula run on the leader's
    computer. The quote still fits the platform's 1000 bytes: the memo is cut again
    when it would not.
    """
    cell = safe_cell(memo)
    return cell if cell == memo else memo_text(cell)


def check_flag(flag: int) -> int:
    """The order flag (插旗) if it is one the platform has (0 none, 1 red, 2 yellow,
    3 green, 4 blue, 5 purple); otherwise ValueError. ``True``/``False`` are refused."""
    if isinstance(flag, bool) or not isinstance(flag, int) or not 0 <= flag <= 5:
        raise ValueError(
            say(
                "flag {flag!r} is not a platform flag: "
                "expected 0 to 5 (0 none, 1 red, 2 yellow, 3 green, 4 blue, 5 purple)",
                flag=flag,
            )
        )
    return flag
