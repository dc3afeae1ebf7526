"""Messages that pages can show in the reader's language.

Services raise errors in English, the language of the code and the logs. A message
made with :func:`say` is still that English text wherever a plain string is wanted
(``str(error)``, the CLI, a log line), but it also keeps its template and values,
so a page looks the template up in the error catalogue of the reader's language
(``xiaoer/web/i18n/errors/<language>/``) and fills in the same values::

    raise OrderError(say("the note is {size} bytes; the platform keeps {limit}",
                         size=size, limit=MEMO_BYTES))

Templates use :meth:`str.format` fields by name; a value that is itself a
:class:`Text` is shown in the reader's language too.
"""

from __future__ import annotations

from typing import Any


class Text(str):
    """English text that remembers the template and values it was made from."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, values: dict[str, Any]) -> Text:
        made = super().__new__(cls, template.format(**values) if values else template)
        made.template = template
        made.values = values
        return made


def say(template: str, /, **values: Any) -> Text:
    """A message for people, in English here and in their language on the pages."""
    return Text(template, values)


def message_of(error: BaseException | str) -> str:
    """The message an error was raised with, as a :class:`Text` when it was made by :func:`say`."""
    if isinstance(error, str):
        return error
    if len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)
