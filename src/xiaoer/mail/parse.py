"""Reading a mail: pure functions over its bytes, with the standard library's parser.

Whatever arrives, nothing here raises: a header the parser cannot read is taken as
raw text, a part it cannot decode is decoded with replacement characters, and a mail
that is not a mail at all gives empty fields. HTML is never rendered: it is turned
into plain text (scripts and styles dropped, block tags kept as line breaks, entities
unescaped), and the text is shown to staff as any other buyer message.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

MAX_ID = 250  # a Message-ID as stored (RFC 5322 allows any length; 998 per line)
MAX_IDS = 20  # the references kept of a thread, newest last
MAX_FILENAME = 100
MAX_PARTS = 200  # parts of one mail looked at; the rest is ignored
MAX_DEPTH = 20  # nesting of multiparts


@dataclass(frozen=True)
class Limits:
    """What is kept of one mail's attachments."""

    attachment_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes = field(default=b"", repr=False)
    dropped: str = ""  # why it was not kept: "too_large" or "over_total"; "" when kept

    @property
    def kept(self) -> bool:
        return not self.dropped


@dataclass(frozen=True)
class ParsedMail:
    address: str  # the sender's address, lower case; "" when there is none
    name: str  # the sender's display name
    reply_to: str  # where replies go: Reply-To, else the sender
    subject: str
    message_id: str  # without angle brackets; made from the bytes when the mail has none
    in_reply_to: list[str]
    references: list[str]
    text: str  # the whole text body
    reply: str  # the text without quoted earlier mails and the sender's signature
    html: bool  # the text was made from HTML
    attachments: list[Attachment]

    @property
    def thread_ids(self) -> list[str]:
        """The Message-IDs this mail answers, the most direct first."""
        seen: list[str] = []
        for mail_id in [*self.in_reply_to, *reversed(self.references)]:
            if mail_id not in seen:
                seen.append(mail_id)
        return seen


# --- headers -------------------------------------------------------------------

_ID = re.compile(r"<([^<>\s]+)>")


def _header(message: Message, name: str) -> str:
    """A header's value as text; a value the parser chokes on is taken raw."""
    try:
        value = message.get(name)
        return "" if value is None else str(value)
    except Exception:  # the parser's own bugs on hostile headers
        for key, raw in message.raw_items():
            if key.lower() == name.lower():
                return str(raw)
        return ""


def _one_line(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


def message_ids(value: str) -> list[str]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References header."""
    found = [m[:MAX_ID] for m in _ID.findall(value)]
    if not found and value.strip() and len(value.split()) == 1:
        found = [value.strip().strip("<>")[:MAX_ID]]
    return [m for m in found if m][-MAX_IDS:]


def _address(message: Message, name: str) -> tuple[str, str]:
    try:
        pairs = getaddresses([_header(message, name)])
    except Exception:
        return "", ""
    for display, address in pairs:
        address = address.strip().lower()
        if "@" in address and len(address) <= 254 and not any(c.isspace() for c in address):
            return _one_line(display, 64), address
    return "", ""


_PREFIX = re.compile(
    r"^\s*(?:re|fw|fwd|aw|sv|回复|回覆|答复|转发|轉寄)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)


def strip_subject(subject: str) -> str:
    """The subject without its Re:/Fwd:/回复:/转发: prefixes."""
    text = _one_line(subject, 998)
    while True:
        shorter = _PREFIX.sub("", text, count=1)
        if shorter == text:
            return text.strip()
        text = shorter


def topic_of(subject: str) -> str:
    """The subject as threads are matched on: no prefixes, folded case and spaces."""
    return strip_subject(subject).casefold()[:200]


# --- bodies --------------------------------------------------------------------

_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
        "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip
_LINES = frozenset({"br", "dd", "dt", "li", "td", "th", "tr", "tbody", "thead"})  # no gap after
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})


class _Text(HTMLParser):
    """HTML to plain text: block tags end lines, quotes become "> " lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line = ""
        self.skip = 0
        self.quote = 0

    def _break(self, gap: bool = False) -> None:
        """End the line being written; ``gap``: and leave a blank line after it."""
        text = " ".join(self.line.split())
        if text:
            self.lines.append(("> " * self.quote) + text)
        if gap and self.lines and self.lines[-1]:
            self.lines.append("")
        self.line = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skip += 1
        elif tag == "br":
            self.handle_startendtag(tag, attrs)
        elif tag in _BLOCK:
            self._break()
            if tag == "blockquote":
                self.quote += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self.line.strip():
            self.lines.append("")  # a line left empty on purpose
        elif tag in _BLOCK:
            self._break(gap=tag == "hr")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self._break(gap=tag not in _LINES)
            if tag == "blockquote":
                self.quote = max(0, self.quote - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.line += data


def html_to_text(html: str) -> str:
    """Plain text of an HTML body: never rendered, only read."""
    parser = _Text()
    # HTMLParser is lenient; this is for what it still cannot take.
    with contextlib.suppress(Exception):
        parser.feed(html)
        parser.close()
    parser._break()
    return "\n".join(parser.lines).strip()


_ATTRIBUTION = re.compile(
    r"^\s*(?:on\s.{0,200}\swrote:|在.{0,200}写道[:：]|.{0,200}\s写道[:：]"
    r"|-{3,}\s*(?:original message|原始邮件|原始郵件)\s*-{3,})\s*$",
    re.IGNORECASE,
)
_HEADER_BLOCK = re.compile(r"^\s*(?:from|发件人|寄件者)\s*[:：]", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*(?:sent|date|to|发送时间|日期|时间|收件人)\s*[:：]", re.IGNORECASE)


def strip_quotes(text: str) -> str:
    """The new words of a reply: the quoted earlier mail ("> " lines, the block after
    "On … wrote:" or "在…写道：", an "Original Message" header) and a signature after
    "-- " left out. Text that is all quote comes back whole."""
    lines = text.splitlines()
    end = len(lines)
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            _ATTRIBUTION.match(line)
            or (line.lstrip().lower().startswith("on ") and following.strip().endswith("wrote:"))
            or (_HEADER_BLOCK.match(line) and _HEADER_NEXT.match(following))
            or line == "-- "
        ):
            end = index
            break
    kept = [line for line in lines[:end] if not line.lstrip().startswith(">")]
    reply = "\n".join(kept).strip()
    reply = re.sub(r"\n{3,}", "\n\n", reply)
    return reply or text.strip()


def _decode(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    data = payload if isinstance(payload, bytes) else b""
    charset = (part.get_content_charset() or "utf-8").lower()
    if charset in ("gb2312", "gbk", "x-gbk", "cp936"):
        charset = "gb18030"  # what mail labelled GB2312 really holds
    try:
        return data.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


def _leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    if depth > MAX_DEPTH:
        return
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                yield from _leaves(sub, depth + 1)
    else:
        yield part


def _filename(part: Message, index: int, content_type: str) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", str(name)).strip().lstrip(".")
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{index}{extension}"
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        extension = extension[:10] if dot else ""
        name = f"{(stem if dot else name)[: MAX_FILENAME - 11]}.{extension}".rstrip(".")
    return name


def _part_bytes(part: Message) -> bytes:
    try:
        if part.get_content_maintype() == "message":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            return inner.as_bytes() if isinstance(inner, Message) else b""
        payload = part.get_payload(decode=True)
    except Exception:
        return b""
    return payload if isinstance(payload, bytes) else b""


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
        named = bool(part.get_filename())
    except Exception:
        return True
    return disposition == "attachment" or named or part.get_content_maintype() != "text"


def parse_mail(raw: bytes, limits: Limits) -> ParsedMail:
    """Everything xiaoer keeps of a mail; never raises on what a sender may send."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # the parser is made not to raise, but hostile input finds ways
        message = EmailMessage()
    name, address = _address(message, "from")
    _, reply_to = _address(message, "reply-to")
    own = message_ids(_header(message, "message-id"))
    message_id = own[0] if own else f"sha256-{hashlib.sha256(raw).hexdigest()[:40]}@xiaoer"
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    kept_bytes = 0
    for index, part in enumerate(_leaves(message), start=1):
        if index > MAX_PARTS:
            break
        content_type = part.get_content_type()
        if not _is_attachment(part):
            if content_type == "text/plain" and plain is None:
                plain = _decode(part)
                continue
            if content_type == "text/html" and html is None:
                html = _decode(part)
                continue
        data = _part_bytes(part)
        filename = _filename(part, len(attachments) + 1, content_type)
        dropped = ""
        if len(data) > limits.attachment_bytes:
            dropped = "too_large"
        elif kept_bytes + len(data) > limits.total_bytes:
            dropped = "over_total"
        else:
            kept_bytes += len(data)
        attachments.append(
            Attachment(filename, content_type, len(data), b"" if dropped else data, dropped)
        )
    from_html = plain is None and html is not None
    text = plain if plain is not None else html_to_text(html or "")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    return ParsedMail(
        address=address,
        name=name,
        reply_to=reply_to or address,
        subject=_one_line(_header(message, "subject"), 255),
        message_id=message_id,
        in_reply_to=message_ids(_header(message, "in-reply-to")),
        references=message_ids(_header(message, "references")),
        text=text,
        reply=strip_quotes(text),
        html=from_html,
        attachments=attachments,
    )
