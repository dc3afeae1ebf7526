"""Message catalogues: Simplified Chinese by default, English on request."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}


def _flatten(prefix: str, data: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        else:
            out[name] = str(value)


@cache
def catalogue(language: str) -> dict[str, str]:
    text = resources.files("xiaoer.web").joinpath("i18n", f"{language}.toml").read_text("utf-8")
    out: dict[str, str] = {}
    _flatten("", tomllib.loads(text), out)
    return out


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.messages = catalogue(self.language)

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.language]

    def __call__(self, key: str, **values: Any) -> str:
        template = self.messages.get(key)
        if template is None:
            raise KeyError(f"no message {key!r} in the {self.language} catalogue")
        return template.format(**values) if values else template
