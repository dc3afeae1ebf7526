"""The shop policy as a person reads and types it: one form field per setting.

Each setting's label and help come from its own field in :mod:`xiaoer.core.policy`
(``json_schema_extra["zh"]`` beside the English description), its unit from its
name and meaning: money is typed in yuan and kept in fen, shares are typed as
percentages, lists one item a line. Values are shown as people write them, never
as Python would print them (``是``, not ``True``; ``14:00-17:00、19:00-22:00``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from xiaoer.core.money import MoneyError, typed_yuan
from xiaoer.core.policy import LEVELS, Authority, Pay, Policy, _check_hhmm, _check_span
from xiaoer.core.texts import Text, message_of, say

# Units by the end of a setting's name; money and shares go by their kind.
_UNITS = (
    ("_seconds", "seconds"),
    ("_minutes", "minutes"),
    ("_hours", "hours"),
    ("_days", "days"),
    ("_months", "months"),
    ("_chars", "chars"),
    ("_cpm", "cpm"),
)
_SEPARATORS = re.compile(r"[\s,，、;；]+")
_SHIFT = re.compile(r"^\s*(\S+?)\s*[:：=\s]\s*(\S+)\s*$")


class PolicyFieldError(ValueError):
    """A typed value that is no value of its setting."""


@dataclass(frozen=True)
class PolicyField:
    """One setting as the policy page shows it; ``level`` for the per-level ones."""

    key: str  # dotted, as in the TOML file: "orders.seller_note_minutes"
    section: str
    kind: str  # int, fen, share, decimal, bool, span, clock, spans, texts, ints, shifts
    label: str  # Chinese
    help: str  # Chinese
    description: str  # English
    unit: str  # a key of the page's words, or ""
    ge: float | None = None
    le: float | None = None
    level: str = ""
    as_float: bool = False


def _zh(field: FieldInfo) -> tuple[str, str]:
    extra = field.json_schema_extra
    texts = extra.get("zh") if isinstance(extra, dict) else None
    if not isinstance(texts, list) or len(texts) != 2:
        raise ValueError(f"policy field {field.description!r} has no Chinese label and help")
    return str(texts[0]), str(texts[1])


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    ge = le = None
    for item in field.metadata:
        ge = float(item.ge) if getattr(item, "ge", None) is not None else ge
        le = float(item.le) if getattr(item, "le", None) is not None else le
    return ge, le


def _validators(annotation: Any) -> set[Any]:
    return {getattr(m, "func", None) for m in getattr(annotation, "__metadata__", ())}


def _kind(name: str, field: FieldInfo) -> str:
    annotation = field.annotation
    description = field.description or ""
    checks = {getattr(m, "func", None) for m in field.metadata}
    if annotation is bool:
        return "bool"
    if annotation in (Decimal, float):
        return "share"
    if annotation is int:
        return "fen" if "(fen)" in description else "int"
    if annotation is str:
        if _check_span in checks:
            return "span"
        if _check_hhmm in checks:
            return "clock"
        return "text"
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list:
        if args and _check_span in _validators(args[0]):
            return "spans"
        return "ints" if args and args[0] is int else "texts"
    if origin is dict:
        return "shifts"
    raise ValueError(f"policy field {name!r}: no form for {annotation!r}")


def _unit(name: str, kind: str) -> str:
    if kind == "fen":
        return "yuan"
    if kind == "share":
        return "percent"
    if kind != "int":
        return ""
    return next((unit for end, unit in _UNITS if name.endswith(end)), "")


def _field(
    section: str, name: str, field: FieldInfo, *, key: str = "", level: str = ""
) -> PolicyField:
    kind = _kind(name, field)
    label, help_text = _zh(field)
    ge, le = _bounds(field)
    if kind == "fen" and ge is None:
        ge = 0
    return PolicyField(
        key=key or f"{section}.{name}",
        section=section,
        kind=kind,
        label=label,
        help=help_text,
        description=field.description or "",
        unit=_unit(name, kind),
        ge=ge,
        le=le,
        level=level,
        as_float=field.annotation is float,
    )


SECTIONS: tuple[str, ...] = tuple(Policy.model_fields)


@cache
def section_fields(section: str) -> tuple[PolicyField, ...]:
    """The settings of one section of the policy, in the file's order."""
    if section == "authority":
        return tuple(
            _field(section, name, field, key=f"authority.{level}.{name}", level=level)
            for level in LEVELS
            for name, field in Authority.model_fields.items()
        )
    model = Policy.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    fields: list[PolicyField] = []
    for name, field in model.model_fields.items():
        if model is Pay and name == "base_by_level":
            label, help_text = _zh(field)
            fields += [
                PolicyField(
                    key=f"pay.base_by_level.{level}",
                    section=section,
                    kind="fen",
                    label=label,
                    help=help_text,
                    description=field.description or "",
                    unit="yuan",
                    ge=0,
                    level=level,
                )
                for level in LEVELS
            ]
        else:
            fields.append(_field(section, name, field))
    return tuple(fields)


def all_fields() -> tuple[PolicyField, ...]:
    return tuple(f for section in SECTIONS for f in section_fields(section))


def value_at(plain: dict[str, Any], key: str) -> Any:
    value: Any = plain
    for part in key.split("."):
        value = value[part]
    return value


def _put(plain: dict[str, Any], key: str, value: Any) -> None:
    *path, last = key.split(".")
    target = plain
    for part in path:
        target = target[part]
    target[last] = value


# --- shown as people write them ----------------------------------------------------------


def _yuan(fen: int) -> str:
    whole, cents = divmod(abs(fen), 100)
    sign = "-" if fen < 0 else ""
    return f"{sign}{whole:,}" if cents == 0 else f"{sign}{whole:,}.{cents:02d}"


def _percent(value: Any) -> str:
    shown = (Decimal(str(value)) * 100).normalize()
    return f"{shown:f}"


def shown(field: PolicyField, value: Any, yes: str = "是", no: str = "否") -> str:
    """A value as a person writes it, without its unit (the page adds the unit)."""
    if field.kind == "bool":
        return yes if value else no
    if field.kind == "fen":
        return _yuan(int(value))
    if field.kind == "share":
        return _percent(value)
    if field.kind in ("spans", "texts", "ints"):
        return "、".join(str(item) for item in value)
    if field.kind == "shifts":
        return "、".join(f"{name} {span}" for name, span in value.items())
    return str(value)


def typed(field: PolicyField, value: Any) -> str:
    """A value as the form's field holds it, for a person to change."""
    if field.kind == "bool":
        return "yes" if value else "no"
    if field.kind == "fen":
        return _yuan(int(value)).replace(",", "")
    if field.kind in ("spans", "texts", "ints"):
        return "\n".join(str(item) for item in value)
    if field.kind == "shifts":
        return "\n".join(f"{name} {span}" for name, span in value.items())
    return shown(field, value)


# --- typed back -------------------------------------------------------------------------


def _limits(field: PolicyField, number: Decimal, scale: Decimal = Decimal(1)) -> None:
    low = None if field.ge is None else Decimal(str(field.ge)) * scale
    high = None if field.le is None else Decimal(str(field.le)) * scale
    if low is not None and number < low:
        raise PolicyFieldError(say("at least {low}", low=f"{low.normalize():f}"))
    if high is not None and number > high:
        raise PolicyFieldError(say("at most {high}", high=f"{high.normalize():f}"))


def parse(field: PolicyField, text: str) -> Any:
    """What was typed into a setting's field, as the policy keeps it; raises
    :class:`PolicyFieldError` saying what is wrong (in the units typed)."""
    raw = text.strip()
    if field.kind == "bool":
        if raw not in ("yes", "no"):
            raise PolicyFieldError(say("choose yes or no"))
        return raw == "yes"
    if field.kind == "int":
        if not re.fullmatch(r"-?\d{1,9}", raw):
            raise PolicyFieldError(say("enter a whole number"))
        _limits(field, Decimal(raw))
        return int(raw)
    if field.kind == "fen":
        try:
            yuan = typed_yuan(raw)
        except MoneyError as exc:
            raise PolicyFieldError(message_of(exc)) from exc
        _limits(field, yuan * 100)
        return int(yuan * 100)
    if field.kind == "share":
        try:
            number = Decimal(raw.removesuffix("%").strip())
        except InvalidOperation as exc:
            raise PolicyFieldError(say("enter a percentage like 0.5 or 10")) from exc
        if not number.is_finite():
            raise PolicyFieldError(say("enter a percentage like 0.5 or 10"))
        _limits(field, number, Decimal(100))
        share = number / 100
        return float(share) if field.as_float else f"{share.normalize():f}"
    if field.kind == "spans":
        return [item for item in _SEPARATORS.split(raw) if item]
    if field.kind == "texts":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if field.kind == "ints":
        items = [item for item in _SEPARATORS.split(raw) if item]
        if not all(re.fullmatch(r"\d{1,9}", item) for item in items):
            raise PolicyFieldError(say("enter whole numbers, one a line"))
        return [int(item) for item in items]
    if field.kind == "shifts":
        shifts: dict[str, str] = {}
        for line in raw.splitlines():
            if not line.strip():
                continue
            match = _SHIFT.match(line)
            if match is None:
                raise PolicyFieldError(
                    say("write each shift as its name and hours, like 'early 08:00-16:30'")
                )
            shifts[match.group(1)] = match.group(2)
        return shifts
    return raw


def _owner(fields: tuple[PolicyField, ...], loc: tuple[Any, ...]) -> str:
    """The setting a pydantic error's location falls in."""
    dotted = ".".join(str(part) for part in loc)
    keys = [f.key for f in fields if dotted == f.key or dotted.startswith(f.key + ".")]
    return max(keys, key=len) if keys else ""


def edit_section(
    policy: Policy, section: str, texts: dict[str, str]
) -> tuple[Policy | None, dict[str, str]]:
    """The policy with one section as typed, or the problems by setting (``""``: the form).

    Every field is read, so every problem shows at once beside its field.
    """
    fields = section_fields(section)
    plain = policy.to_plain()
    problems: dict[str, str] = {}
    for field in fields:
        try:
            _put(plain, field.key, parse(field, texts.get(field.key, "")))
        except PolicyFieldError as exc:
            problems[field.key] = message_of(exc)
    if problems:
        return None, problems
    try:
        return Policy.model_validate(plain), {}
    except ValidationError as exc:
        for err in exc.errors():
            cause = err.get("ctx", {}).get("error")
            message: str = (
                message_of(cause)
                if isinstance(cause, ValueError) and isinstance(message_of(cause), Text)
                else say("this value cannot be used")
            )
            problems.setdefault(_owner(fields, err["loc"]), message)
        return None, problems


def changes(
    old: Policy, new: Policy, section: str | None = None
) -> list[tuple[PolicyField, Any, Any]]:
    """Each setting whose value differs: (setting, old value, new value)."""
    before, after = old.to_plain(), new.to_plain()
    fields = section_fields(section) if section else all_fields()
    return [
        (f, value_at(before, f.key), value_at(after, f.key))
        for f in fields
        if not _same(f, value_at(before, f.key), value_at(after, f.key))
    ]


def _same(field: PolicyField, one: Any, other: Any) -> bool:
    """Equal values: shares by their number (``"0.10"`` is ``"0.1"``)."""
    if field.kind == "share":
        return Decimal(str(one)) == Decimal(str(other))
    return bool(one == other)
