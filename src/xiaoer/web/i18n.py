"""Message catalogues: Simplified Chinese by default, English on request."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from xiaoer.core.texts import Text, message_of

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
    """Every message of a language: one TOML file per capability in ``i18n/<language>/``."""
    folder = resources.files("xiaoer.web").joinpath("i18n", language)
    out: dict[str, str] = {}
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".toml"):
            before = len(out)
            data = tomllib.loads(item.read_text("utf-8"))
            _flatten("", data, out)
            if len(out) - before != _count(data):
                raise ValueError(f"{language}/{item.name} repeats a message key of another file")
    return out


@cache
def error_catalogue(language: str) -> dict[str, str]:
    """Translations of the services' English messages, keyed by their templates.

    One TOML file per capability in ``i18n/errors/<language>/``; English needs none.
    """
    folder = resources.files("xiaoer.web").joinpath("i18n", "errors", language)
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".toml"):
            data = tomllib.loads(item.read_text("utf-8"))
            for template, translation in data.items():
                if template in out:
                    raise ValueError(f"errors/{language}/{item.name} repeats {template!r}")
                out[template] = str(translation)
    return out


def _count(data: dict[str, Any]) -> int:
    return sum(_count(v) if isinstance(v, dict) else 1 for v in data.values())


class Translator:
    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self.messages = catalogue(self.language)

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.language]

    def error(self, error: BaseException | str) -> str:
        """An error's message in this language; English when it has no translation."""
        return self.text(message_of(error))

    def text(self, message: str) -> str:
        """A :func:`~xiaoer.core.texts.say` message in this language (a plain string as is)."""
        if not isinstance(message, Text):
            return str(message)
        translation = error_catalogue(self.language).get(message.template)
        values = {
            name: self.text(value) if isinstance(value, Text) else value
            for name, value in message.values.items()
        }
        if translation is None:
            return message.template.format(**values) if values else message.template
        return translation.format(**values) if values else translation

    def __call__(self, key: str, **values: Any) -> str:
        template = self.messages.get(key)
        if template is None:
            raise KeyError(f"no message {key!r} in the {self.language} catalogue")
        return template.format(**values) if values else template
