"""Services' messages reach the pages in the reader's language (DESIGN: Language)."""

from __future__ import annotations

import ast
import json
import pickle
import string
from datetime import date
from pathlib import Path

import pytest
from starlette.requests import Request

from xiaoer.core.texts import Text, from_data, message_of, say, to_data
from xiaoer.http.i18n import Translator, error_catalogue
from xiaoer.http.render import error_text
from xiaoer.performance.worklog import MAX_TEXT, WorkLogError, check_log

pytestmark = pytest.mark.database_free

SRC = Path(__file__).resolve().parents[2] / "src" / "xiaoer"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _templates_in_code() -> dict[str, str]:
    """Every template given to :func:`xiaoer.core.texts.say` in the source, with where it is."""
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        imports_say = any(
            isinstance(node, ast.ImportFrom)
            and node.module == "xiaoer.core.texts"
            and any(alias.name == "say" for alias in node.names)
            for node in ast.walk(tree)
        )
        if not imports_say:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "say"
            ):
                first = node.args[0] if node.args else None
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                    f"{path}:{node.lineno}: say() needs its template as a literal string"
                )
                found.setdefault(first.value, f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_a_message_is_english_where_a_string_is_wanted() -> None:
    error = WorkLogError(say("a work log may be written for today or the last {days} days", days=7))
    assert str(error) == "a work log may be written for today or the last 7 days"
    assert isinstance(message_of(error), Text)
    with pytest.raises(WorkLogError, match="the last 7 days"):
        raise error


def test_pages_show_it_in_the_readers_language() -> None:
    with pytest.raises(WorkLogError) as caught:
        check_log(date(2026, 11, 1), date(2026, 11, 24), "没有问题", "无")
    assert Translator("zh").error(caught.value) == "工作日志只能写今天或过去 7 天内的"
    assert Translator("en").error(caught.value) == str(caught.value)


def test_a_value_made_by_say_is_translated_inside_the_message() -> None:
    with pytest.raises(WorkLogError) as caught:
        check_log(date(2026, 11, 24), date(2026, 11, 24), "问" * (MAX_TEXT + 1), "无")
    assert Translator("zh").error(caught.value).startswith("遇到的问题：最多")
    assert str(caught.value).startswith("problems: at most")


def test_plain_messages_and_unknown_templates_pass_through() -> None:
    zh = Translator("zh")
    assert zh.error(ValueError("no such thing")) == "no such thing"
    assert zh.error(KeyError("k", "v")) == str(KeyError("k", "v"))
    assert zh.text(say("nobody translated {what}", what="this")) == "nobody translated this"


def test_every_message_in_the_code_has_a_chinese_translation_with_the_same_fields() -> None:
    templates = _templates_in_code()
    assert len(templates) >= 10
    zh = error_catalogue("zh")
    missing = {t: where for t, where in templates.items() if t not in zh}
    assert not missing, missing
    differing = {t: zh[t] for t in templates if _fields(t) != _fields(zh[t])}
    assert not differing, differing


def test_every_translation_belongs_to_a_message_in_the_code() -> None:
    unused = set(error_catalogue("zh")) - set(_templates_in_code())
    assert not unused, unused


def _sessionless(accept_language: str) -> Request:
    headers = [(b"accept-language", accept_language.encode())] if accept_language else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers})


def test_callers_without_a_session_read_chinese_unless_they_ask_for_english() -> None:
    error = WorkLogError(say("the date range ends before it starts"))
    assert error_text(_sessionless(""), error) == "结束日期早于开始日期"
    assert error_text(_sessionless("zh-CN,zh;q=0.9,en;q=0.5"), error) == "结束日期早于开始日期"
    assert error_text(_sessionless("en-US,en;q=0.9"), error) == str(error)


def test_a_stored_message_comes_back_translatable() -> None:
    with pytest.raises(WorkLogError) as caught:
        check_log(date(2026, 11, 24), date(2026, 11, 24), "问" * (MAX_TEXT + 1), "无")
    message = message_of(caught.value)
    stored = json.loads(json.dumps(to_data(message)))
    back = from_data(stored)
    assert back == message and isinstance(back, Text)
    assert Translator("zh").text(back) == Translator("zh").error(caught.value)
    assert (to_data("plain words"), from_data("plain words")) == ("plain words", "plain words")


def test_a_message_sent_to_another_process_comes_back_translatable() -> None:
    # A row rejected in the process that parses an export is pickled to the import.
    with pytest.raises(WorkLogError) as caught:
        check_log(date(2026, 11, 24), date(2026, 11, 24), "问" * (MAX_TEXT + 1), "无")
    message = message_of(caught.value)
    back = pickle.loads(pickle.dumps(message))
    assert back == message and isinstance(back, Text)
    assert back.template == message.template and isinstance(back.values["field"], Text)
    assert Translator("zh").text(back) == Translator("zh").error(caught.value)
