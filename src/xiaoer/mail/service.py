"""The e-mail channel: a shop's mailboxes, and each inbound mail stored as a buyer
message in the conversation of its thread.

A mail joins the conversation of the mail it answers (In-Reply-To, then References,
matched against every Message-ID stored, ours and the buyer's), else the sender's
conversation with the same subject (Re:/Fwd:/回复:/转发: left out) within the settings'
window, else it opens a new conversation. A conversation closed meanwhile is not
reopened: the mail opens a new one, which its later replies then join. The whole mail
is kept on disk under the data directory, owner-only; its attachments beside it, as
far as the limits allow.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import xiaoer.aftersales.tickets  # noqa: F401  (a new after-sales thread opens a ticket)
from xiaoer.buyers.service import MAX_BUYER_ID, do_get_or_create_customer
from xiaoer.core.clock import utcnow
from xiaoer.core.events import record_event
from xiaoer.core.files import open_private, private_dir
from xiaoer.core.hooks import MailThread, mail_thread
from xiaoer.core.settings import Settings
from xiaoer.core.texts import say
from xiaoer.mail.models import Direction, Mailbox, MailRecord, MailStatus
from xiaoer.mail.parse import Attachment, Limits, ParsedMail, parse_mail, topic_of
from xiaoer.reception.models import Channel, ChannelKind, Conversation, ConversationStatus
from xiaoer.reception.service import MAX_MESSAGE_CHARS, do_receive_buyer_message
from xiaoer.shops.models import Shop
from xiaoer.staff.models import Team

CUSTOMER_CHANNEL = "email"  # ``Customer.channel`` of buyers who write by mail
NO_TEXT = "（邮件无正文）"
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")


class MailError(ValueError):
    pass


class MailTooLarge(MailError):
    pass


# --- mailboxes -------------------------------------------------------------------


def check_address(address: str) -> str:
    """An address as mailboxes are keyed: trimmed, lower case."""
    cleaned = address.strip().lower()
    if len(cleaned) > 254 or not _ADDRESS.match(cleaned):
        raise MailError(say("{address!r} is not a mail address", address=address))
    return cleaned


@dataclass
class MailboxSetup:
    """What ``xiaoer mail box add`` sets; empty passwords keep the stored ones."""

    address: str
    smtp_host: str
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    signature: str = ""
    display_name: str = ""
    team: str = Team.presale.value
    imap_host: str = ""
    imap_port: int = 993
    imap_user: str = ""
    imap_password: str = ""
    imap_folder: str = "INBOX"
    imap_ssl: bool = True


def check_mailbox(setup: MailboxSetup) -> str:
    """The setup's address as keyed; refuses what could not work."""
    address = check_address(setup.address)
    if not setup.smtp_host.strip():
        raise MailError(say("replies need an SMTP relay: give its host"))
    for port in (setup.smtp_port, setup.imap_port):
        if not 0 < port < 65536:
            raise MailError(say("port {port} is not a port number", port=port))
    if setup.team not in {t.value for t in Team}:
        raise MailError(
            say("team {team!r}: expected presale, aftersale or assist", team=setup.team)
        )
    if setup.imap_host.strip() and not setup.imap_user.strip():
        raise MailError(say("polling over IMAP needs the mailbox's user name"))
    if len(setup.signature) > 2000 or len(setup.display_name) > 64:
        raise MailError(say("the signature or the sender's name is too long"))
    return address


async def mailbox_for(session: AsyncSession, address: str) -> Mailbox | None:
    """The active mailbox that receives mail for ``address``."""
    return await session.scalar(
        select(Mailbox).where(Mailbox.address == address.strip().lower(), Mailbox.active)
    )


async def mailboxes(session: AsyncSession, shop_id: int | None = None) -> list[Mailbox]:
    query = select(Mailbox).order_by(Mailbox.id)
    if shop_id is not None:
        query = query.where(Mailbox.shop_id == shop_id)
    return list(await session.scalars(query))


async def do_set_mailbox(session: AsyncSession, *, shop_id: int, setup: MailboxSetup) -> Mailbox:
    """Add the shop's mailbox, with an e-mail channel of its own, or change it."""
    address = check_mailbox(setup)
    box = await session.scalar(select(Mailbox).where(Mailbox.address == address))
    if box is not None and box.shop_id != shop_id:
        raise MailError(say("{address} belongs to another shop", address=address))
    if box is None:
        channel = Channel(shop_id=shop_id, kind=ChannelKind.email.value, name=address[:64])
        session.add(channel)
        await session.flush()
        box = Mailbox(shop_id=shop_id, channel_id=channel.id, address=address)
        session.add(box)
        await record_event(
            session, shop_id, "channel.added", {"channel_id": channel.id, "name": channel.name}
        )
    box.active = True
    for name in (
        "smtp_port", "smtp_starttls", "signature", "display_name", "team", "imap_port",
        "imap_ssl",
    ):  # fmt: skip
        setattr(box, name, getattr(setup, name))
    for name in ("smtp_host", "smtp_user", "imap_host", "imap_user", "imap_folder"):
        setattr(box, name, getattr(setup, name).strip())
    if setup.smtp_password:
        box.smtp_password = setup.smtp_password
    if setup.imap_password:
        box.imap_password = setup.imap_password
    await session.flush()
    return box


# --- inbound ---------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """What became of a mail: ``duplicate`` when its Message-ID was stored before."""

    record: MailRecord
    duplicate: bool
    thread: MailThread | None = None


def limits_of(settings: Settings) -> Limits:
    return Limits(settings.mail_attachment_max_bytes, settings.mail_attachments_max_bytes)


def _buyer_id(address: str) -> str:
    if len(address) <= MAX_BUYER_ID:
        return address
    return "mail-" + hashlib.sha256(address.encode()).hexdigest()[:40]


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def message_text(parsed: ParsedMail, new: bool) -> str:
    """What the agent reads: the new words of the mail (the subject first when it opens
    a conversation), cut to a message's length, and a line per attachment."""
    lines = []
    for item in parsed.attachments:
        mark = "附件" if item.kept else "附件未保留（超过大小限制）"
        lines.append(f"[{mark}] {item.filename} ({_size(item.size)})")
    tail = ("\n\n" + "\n".join(lines)) if lines else ""
    head = f"【{parsed.subject}】\n" if new and parsed.subject else ""
    body = parsed.reply or ("" if head else parsed.subject) or NO_TEXT
    room = MAX_MESSAGE_CHARS - len(head) - len(tail)
    if len(body) > room:
        body = body[: max(0, room - 1)] + "…"
    return (head + body + tail)[:MAX_MESSAGE_CHARS]


def _write(folder: Path, name: str, data: bytes) -> None:
    private_dir(folder)
    with open_private(folder / name) as handle:
        handle.write(data)


async def _keep_files(
    data_dir: Path, shop_id: int, raw: bytes, attachments: list[Attachment], now: datetime
) -> tuple[str, list[dict[str, Any]]]:
    """The raw mail and its kept attachments on disk; their paths under ``data_dir``."""
    token = f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(6)}"
    relative = Path("mail") / str(shop_id) / f"{now:%Y-%m}"
    await asyncio.to_thread(_write, data_dir / relative, f"{token}.eml", raw)
    listed: list[dict[str, Any]] = []
    for index, item in enumerate(attachments, start=1):
        entry: dict[str, Any] = {
            "filename": item.filename,
            "content_type": item.content_type,
            "size": item.size,
        }
        if item.kept:
            name = f"{index:02d}-{item.filename}"
            await asyncio.to_thread(_write, data_dir / relative / token, name, item.data)
            entry["path"] = str(relative / token / name)
        else:
            entry["dropped"] = item.dropped
        listed.append(entry)
    return str(relative / f"{token}.eml"), listed


async def _thread_of(
    session: AsyncSession, shop_id: int, parsed: ParsedMail, window: timedelta, now: datetime
) -> Conversation | None:
    """The conversation a mail continues, by its threading headers, else its subject."""
    wanted = parsed.thread_ids
    if wanted:
        rows = await session.execute(
            select(MailRecord.mail_id, MailRecord.conversation_id).where(
                MailRecord.shop_id == shop_id, MailRecord.mail_id.in_(wanted)
            )
        )
        found = {mail_id: conversation_id for mail_id, conversation_id in rows}
        for mail_id in wanted:
            if mail_id in found:
                return await session.get(Conversation, found[mail_id])
    topic = topic_of(parsed.subject)
    if not topic:
        return None
    conversation_id = await session.scalar(
        select(MailRecord.conversation_id)
        .where(
            MailRecord.shop_id == shop_id,
            MailRecord.peer == parsed.address,
            MailRecord.topic == topic,
            MailRecord.created_at >= now - window,
        )
        .order_by(MailRecord.id.desc())
        .limit(1)
    )
    return None if conversation_id is None else await session.get(Conversation, conversation_id)


async def do_receive_mail(
    session: AsyncSession,
    mailbox: Mailbox,
    raw: bytes,
    settings: Settings,
    *,
    envelope_from: str = "",
    now: datetime | None = None,
) -> Stored:
    """Store one inbound mail as a buyer message; a Message-ID seen before stores nothing."""
    moment = now or utcnow()
    if len(raw) > settings.mail_max_bytes:
        raise MailTooLarge(
            say(
                "the mail has {size} bytes; at most {limit} are accepted",
                size=len(raw),
                limit=settings.mail_max_bytes,
            )
        )
    parsed = parse_mail(raw, limits_of(settings))
    if not parsed.address and envelope_from:
        try:
            address = check_address(envelope_from)
        except MailError:
            address = ""
        parsed = ParsedMail(**{**parsed.__dict__, "address": address, "reply_to": address})
    if not parsed.address:
        raise MailError(say("the mail names no sender address"))
    earlier = await session.scalar(
        select(MailRecord).where(
            MailRecord.shop_id == mailbox.shop_id, MailRecord.mail_id == parsed.message_id
        )
    )
    if earlier is not None:
        return Stored(earlier, duplicate=True)
    shop = await session.get(Shop, mailbox.shop_id)
    channel = await session.get(Channel, mailbox.channel_id)
    assert shop is not None and channel is not None
    window = timedelta(days=settings.mail_thread_days)
    thread = await _thread_of(session, shop.id, parsed, window, moment)
    customer = await do_get_or_create_customer(
        session,
        shop_id=shop.id,
        channel=CUSTOMER_CHANNEL,
        buyer_id=_buyer_id(parsed.address),
        nick=parsed.name,
        default_nick=parsed.address.split("@")[0],
    )
    raw_path, attachments = await _keep_files(
        settings.data_path, shop.id, raw, parsed.attachments, moment
    )
    continues = (
        thread is not None
        and thread.customer_id == customer.id
        and thread.status != ConversationStatus.closed.value
    )
    posted = await do_receive_buyer_message(
        session,
        shop=shop,
        customer=customer,
        text=message_text(parsed, new=not continues),
        client_id="m" + hashlib.sha256(parsed.message_id.encode()).hexdigest()[:40],
        channel=channel,
        team=mailbox.team,
        thread=thread,
        new_thread=thread is None,
        meta={"mail": {"subject": parsed.subject, "from": parsed.address, "html": parsed.html}},
        now=moment,
    )
    record = MailRecord(
        shop_id=shop.id,
        mailbox_id=mailbox.id,
        conversation_id=posted.conversation.id,
        message_id=posted.messages[0].id,
        direction=Direction.inbound.value,
        status=MailStatus.received.value,
        mail_id=parsed.message_id,
        peer=parsed.address,
        reply_to=parsed.reply_to,
        subject=parsed.subject,
        topic=topic_of(parsed.subject),
        in_reply_to=(parsed.in_reply_to or [""])[0],
        references=parsed.references,
        raw_path=raw_path,
        attachments=attachments,
        created_at=moment,
    )
    session.add(record)
    await session.flush()
    told = MailThread(
        shop_id=shop.id,
        mailbox_id=mailbox.id,
        conversation_id=posted.conversation.id,
        message_id=posted.messages[0].id,
        customer_id=customer.id,
        address=parsed.address,
        subject=parsed.subject,
        new=not continues,
    )
    await mail_thread(session, told)
    return Stored(record, duplicate=False, thread=told)
