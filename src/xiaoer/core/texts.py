"""Messages that pages can show in the reader's language.

Services raise errors in English, the language of the code and the logs. A message
made with :func:`say` is still that English text wherever a plain string is wanted
(``str(error)``, the CLI, a log line), but it also keeps its template and values,
so a page looks the template up in the error catalogue of the reader's language
(each package's ``i18n/errors/<language>/``) and fills in the same values::

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

    def __reduce__(self) -> tuple[type[Text], tuple[str, dict[str, Any]]]:
        # Pickled with its template and values (a row rejected in the process that
        # parses an export reaches the pages still translatable).
        return (Text, (self.template, self.values))


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


def to_data(message: str) -> str | dict[str, Any]:
    """A message as JSON data to store: a :class:`Text` as its template and values
    (nested texts likewise), a plain string as it is."""
    if not isinstance(message, Text):
        return str(message)
    values = {
        name: to_data(value) if isinstance(value, str) else value
        for name, value in message.values.items()
    }
    return {"template": message.template, "values": values}


def from_data(data: object) -> str:
    """A stored message back: a :class:`Text` from :func:`to_data`'s dict, else the string."""
    if isinstance(data, dict) and isinstance(data.get("template"), str):
        raw = data.get("values")
        values = {
            str(name): from_data(value) if isinstance(value, dict | str) else value
            for name, value in (raw.items() if isinstance(raw, dict) else ())
        }
        return Text(data["template"], values)
    return str(data)
