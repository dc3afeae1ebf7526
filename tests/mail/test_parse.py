"""Reading mail: pure functions, no database."""

from __future__ import annotations

import pytest

from xiaoer.mail.parse import Limits, html_to_text, parse_mail, strip_quotes, strip_subject

pytestmark = pytest.mark.database_free

LIMITS = Limits(attachment_bytes=1000, total_bytes=1500)


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("谢谢\n\nOn Mon, 23 Nov 2026 at 14:00, 茶香小铺 <s@tea.test> wrote:\n> 有货", "谢谢"),
        ("谢谢\n\nOn Mon, 23 Nov 2026 at 14:00, 茶香小铺\n<s@tea.test> wrote:\n> 有货", "谢谢"),
        ("好的\n\n在 2026年11月23日 14:00，茶香小铺 <s@tea.test> 写道：\n> 有货", "好的"),
        ("收到\n\n-----原始邮件-----\n发件人: s@tea.test\n有货", "收到"),
        ("OK\n\nFrom: s@tea.test\nSent: Monday\nSubject: x", "OK"),
        ("先这样\n-- \n王芳\n138", "先这样"),
        ("> 全是引用\n> 没有新话", "> 全是引用\n> 没有新话"),
        ("第一行\n> 引用\n第二行", "第一行\n第二行"),
    ],
)
def test_the_new_words_of_a_reply_are_kept(text: str, reply: str) -> None:
    assert strip_quotes(text) == reply


def test_subject_prefixes_go_in_any_language_and_number() -> None:
    assert strip_subject("Re: 回复：Fwd: RE[2]: 转发: 龙井  的库存") == "龙井 的库存"
    assert strip_subject("Reply needed") == "Reply needed"


def test_html_keeps_lines_and_drops_what_runs() -> None:
    html = (
        "<style>x{}</style><p>一<br/>二</p><ul><li>三</li><li>四 &lt;五&gt;</li></ul>"
        "<script>document.cookie</script><blockquote><p>旧的</p></blockquote><p>完"
    )
    assert html_to_text(html) == "一\n二\n\n三\n四 <五>\n\n> 旧的\n\n完"


def test_gb2312_labelled_mail_is_read_as_gb18030() -> None:
    raw = (
        b"From: a@b.test\r\nSubject: =?gb2312?b?tqm1pQ==?=\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + "镕基的订单".encode("gb18030")
    )
    parsed = parse_mail(raw, LIMITS)
    assert (parsed.subject, parsed.text) == ("订单", "镕基的订单")


def test_a_mail_without_a_message_id_gets_one_from_its_bytes() -> None:
    one = parse_mail(b"From: a@b.test\r\n\r\nhi", LIMITS)
    assert one.message_id == parse_mail(b"From: a@b.test\r\n\r\nhi", LIMITS).message_id
    assert one.message_id != parse_mail(b"From: a@b.test\r\n\r\nho", LIMITS).message_id


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff" * 100,
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822"
        b"\r\n\r\n\x00\x01--b--",
        b"From: =?x-unknown?q?=ff?= <@>\r\nSubject: =?utf-8?b?!!!?=\r\n\r\n",
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<script>" + b"<" * 5000,
        b"Content-Disposition: attachment; filename*=utf-8''%ff%fe\r\n\r\nx",
    ],
)
def test_malformed_mail_gives_fields_not_errors(raw: bytes) -> None:
    parsed = parse_mail(raw, LIMITS)
    assert parsed.message_id
    assert "<script>" not in parsed.text
