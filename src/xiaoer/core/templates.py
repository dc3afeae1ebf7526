"""Text templates with ``{variables}``: what a shop may write in its prepared texts."""

from __future__ import annotations

import string
from collections.abc import Sequence


def template_problem(text: str, allowed: Sequence[str]) -> str | None:
    """Why ``text`` is not a usable template (braces that do not pair, a variable not in
    ``allowed``), or ``None`` when it is."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError:
        return f"unpaired brace in {text!r}: write {{{{ or }}}} for a literal one"
    unknown = sorted({n for n in names if n not in allowed})
    if unknown:
        return f"unknown variable {{{unknown[0]}}}: use {', '.join('{' + v + '}' for v in allowed)}"
    return None
