"""Message catalogues: Simplified Chinese by default, English on request.

Each capability package keeps its own words beside its code: ``<package>/i18n/<language>/``
for its pages and ``<package>/i18n/errors/<language>/`` for its services' messages.
They are found as files; nothing here imports the packages.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from importlib.abc import Traversable
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


def catalogue_files(*parts: str) -> Iterator[tuple[str, Traversable]]:
    """("package/file.toml", file) of every package's ``i18n/<parts…>/*.toml``, by name."""
    found = []
    for package in resources.files("xiaoer").iterdir():
        folder = package.joinpath("i18n", *parts)
        if not folder.is_dir():
            continue
        found += [
            (f"{package.name}/{item.name}", item)
            for item in folder.iterdir()
            if item.name.endswith(".toml")
        ]
    yield from sorted(found, key=lambda pair: pair[0])


@cache
def catalogue(language: str) -> dict[str, str]:
    """Every message of a language: the TOML files of every package's ``i18n/<language>/``."""
    out: dict[str, str] = {}
    for name, item in catalogue_files(language):
        before = len(out)
        data = tomllib.loads(item.read_text("utf-8"))
        _flatten("", data, out)
        if len(out) - before != _count(data):
            raise ValueError(f"{language}: {name} repeats a message key of another file")
    return out


@cache
def error_catalogue(language: str) -> dict[str, str]:
    """Translations of the services' English messages, keyed by their templates.

    Each package's ``i18n/errors/<language>/*.toml``; English needs none.
    """
    out: dict[str, str] = {}
    for name, item in catalogue_files("errors", language):
        data = tomllib.loads(item.read_text("utf-8"))
        for template, translation in data.items():
            if template in out:
                raise ValueError(f"errors/{language}: {name} repeats {template!r}")
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
