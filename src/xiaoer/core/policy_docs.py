"""``docs/policy.md`` and the shipped ``default-policy.toml``, generated from the model."""

from __future__ import annotations

from typing import Any

import tomli_w
from pydantic import BaseModel

from xiaoer.core.policy import LEVELS, Authority, Policy


def _req_of(field: Any) -> str:
    extra = field.json_schema_extra
    return str(extra.get("req", "")) if isinstance(extra, dict) else ""


def _toml_value(value: Any) -> str:
    """One value on one line: arrays and inline tables included."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def policy_keys() -> list[tuple[str, str, str, Any]]:
    """Every key as (dotted key, requirement ids, meaning, default)."""
    plain = Policy().to_plain()
    rows: list[tuple[str, str, str, Any]] = []
    for section_name, section_field in Policy.model_fields.items():
        annotation = section_field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, field in annotation.model_fields.items():
                rows.append(
                    (
                        f"{section_name}.{name}",
                        _req_of(field),
                        field.description or "",
                        plain[section_name][name],
                    )
                )
        else:  # authority: one table per level
            req = _req_of(section_field)
            for level in LEVELS:
                for name, field in Authority.model_fields.items():
                    rows.append(
                        (
                            f"{section_name}.{level}.{name}",
                            req,
                            f"{field.description} ({level})",
                            plain[section_name][level][name],
                        )
                    )
    return rows


def render_policy_markdown() -> str:
    lines = [
        "# Shop policy",
        "",
        "Every number of the handbook is a key of the shop policy. A policy is one TOML",
        "file; keys left out keep their defaults. Check a file with",
        "`xiaoer policy check FILE`, put it in force with",
        "`xiaoer policy apply FILE [--from YYYY-MM-DD]`, and see what is in force with",
        "`xiaoer policy show`. Money is in fen (1 yuan = 100 fen), times of day are in",
        "the shop's time zone, and spans such as `22:30-08:30` may run past midnight.",
        "Applied policies are kept as versions; payroll uses the version in force for its month.",
        "",
        "This page is generated from `src/xiaoer/core/policy.py` by",
        "`xiaoer policy docs > docs/policy.md`; a test keeps the two in step.",
        "",
        "| key | default | meaning | requirement |",
        "|---|---|---|---|",
    ]
    for key, req, meaning, default in policy_keys():
        lines.append(f"| `{key}` | `{_toml_value(default)}` | {meaning} | {req} |")
    return "\n".join(lines) + "\n"


def render_default_toml() -> str:
    """The defaults as a commented TOML file, a starting point for a shop's own."""
    out = [
        "# xiaoer shop policy: the handbook's numbers. Keys left out keep these defaults.",
        "# Money in fen (1 yuan = 100 fen); times of day in the shop's time zone.",
        "",
    ]
    rows = policy_keys()
    current: str | None = None
    for key, req, meaning, default in rows:
        table, name = key.rsplit(".", 1)
        if table != current:
            if current is not None:
                out.append("")
            out.append(f"[{table}]")
            current = table
        out.append(f"# {meaning} [{req}]")
        out.append(f"{name} = {_toml_value(default)}")
    return "\n".join(out) + "\n"
