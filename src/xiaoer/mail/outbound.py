"""Agents' replies to buyers who wrote by mail, sent through the shop's SMTP relay.

Reception tells of every stored agent reply (``core.hooks.on_agent_replied``); when the
conversation came by mail, the reply is queued here as a ``mail_message`` row with a
Message-ID of ours (so the buyer's answer to it finds the conversation), and a
``mail.send`` timer sends it. A failed try is written on the row (attempts, last
error) and tried again later; after the last try the row is marked failed and a
``mail.failed`` event tells the agent and the leaders. Nothing is dropped silently:
``xiaoer mail outbox`` lists what waits and what failed.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.events import record_event
from xiaoer.core.hooks import on_agent_replied
from xiaoer.core.models import Timer
from xiaoer.core.settings import get_settings
from xiaoer.core.texts import say
from xiaoer.core.timers import schedule_timer, timer_handler
from xiaoer.mail.models import Direction, Mailbox, MailRecord, MailStatus
from xiaoer.mail.parse import MAX_IDS, strip_subject
from xiaoer.mail.service import MailError
from xiaoer.reception.models import Message
from xiaoer.shops.models import Shop

log = logging.getLogger(__name__)

SEND = "mail.send"
MAX_TRIES = 6  # then the reply is marked failed: about an hour and a half of trying
NO_SUBJECT = "您的来信"


def retry_delay(attempts: int) -> timedelta:
    """How long after the ``attempts``-th failed try the next one comes."""
    return timedelta(seconds=min(60 * 2 ** (attempts - 1), 3600))


@on_agent_replied
async def queue_reply(
    session: AsyncSession,
    shop_id: int,
    conversation_id: int,
    message_ids: list[int],
    text: str,
    at: datetime,
) -> None:
    """Queue an agent's reply as a mail when the conversation came by mail."""
    last = await session.scalar(
        select(MailRecord)
        .where(
            MailRecord.conversation_id == conversation_id,
            MailRecord.direction == Direction.inbound.value,
        )
        .order_by(MailRecord.id.desc())
        .limit(1)
    )
    if last is None:
        return
    mailbox = await session.get(Mailbox, last.mailbox_id)
    assert mailbox is not None
    first = await session.get(Message, message_ids[0]) if message_ids else None
    domain = mailbox.address.rpartition("@")[2]
    record = MailRecord(
        shop_id=shop_id,
        mailbox_id=mailbox.id,
        conversation_id=conversation_id,
        message_id=first.id if first else None,
        agent_id=first.agent_id if first else None,
        direction=Direction.outbound.value,
        status=MailStatus.queued.value,
        mail_id=make_msgid(domain=domain).strip("<>"),
        peer=last.reply_to or last.peer,
        subject=f"Re: {strip_subject(last.subject) or NO_SUBJECT}"[:255],
        topic=last.topic,
        in_reply_to=last.mail_id,
        references=[*last.references, last.mail_id][-MAX_IDS:],
        body=text,
        created_at=at,
    )
    session.add(record)
    await session.flush()
    await _schedule(session, record, at)


async def _schedule(session: AsyncSession, record: MailRecord, due_at: datetime) -> None:
    """The ``mail.send`` timer of a queued reply, due at ``due_at``."""
    await schedule_timer(
        session,
        shop_id=record.shop_id,
        kind=SEND,
        subject=f"mail:{record.id}",
        due_at=due_at,
        payload={"mail": record.id},
    )


def compose(record: MailRecord, mailbox: Mailbox, shop: Shop) -> EmailMessage:
    """The mail of a queued reply: threaded under the buyer's, signed by the shop."""
    mail = EmailMessage()
    mail["From"] = formataddr((mailbox.display_name or shop.name, mailbox.address))
    mail["To"] = record.peer
    mail["Subject"] = record.subject
    mail["Date"] = format_datetime(record.created_at)
    mail["Message-ID"] = f"<{record.mail_id}>"
    if record.in_reply_to:
        mail["In-Reply-To"] = f"<{record.in_reply_to}>"
    if record.references:
        mail["References"] = " ".join(f"<{mail_id}>" for mail_id in record.references)
    signature = mailbox.signature.strip()
    body = record.body + (f"\n\n-- \n{signature}" if signature else "")
    mail.set_content(body + "\n")
    return mail


def deliver(mailbox: Mailbox, mail: EmailMessage, recipient: str, timeout: float) -> None:
    """Hand ``mail`` to the mailbox's relay (blocking: run it in a thread)."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if mailbox.smtp_port == 465:
        client = smtplib.SMTP_SSL(
            mailbox.smtp_host, mailbox.smtp_port, timeout=timeout, context=context
        )
    else:
        client = smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=timeout)
    with client:
        client.ehlo()
        if mailbox.smtp_starttls and mailbox.smtp_port != 465:
            client.starttls(context=context)
            client.ehlo()
        if mailbox.smtp_user:
            client.login(mailbox.smtp_user, mailbox.smtp_password)
        client.send_message(mail, from_addr=mailbox.address, to_addrs=[recipient])


@timer_handler(SEND)
async def send_queued(session: AsyncSession, timer: Timer, now: datetime) -> None:
    record = await session.get(MailRecord, int(timer.payload["mail"]))
    if record is None or record.status != MailStatus.queued.value:
        return
    mailbox = await session.get(Mailbox, record.mailbox_id)
    shop = await session.get(Shop, record.shop_id)
    assert mailbox is not None and shop is not None
    mail = compose(record, mailbox, shop)
    timeout = get_settings().mail_timeout_seconds
    record.attempts += 1
    try:
        await asyncio.to_thread(deliver, mailbox, mail, record.peer, timeout)
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        record.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        log.warning("mail %s to %s failed (try %s): %s", record.id, record.peer,
                    record.attempts, record.last_error)  # fmt: skip
        if record.attempts < MAX_TRIES:
            await _schedule(session, record, now + retry_delay(record.attempts))
            return
        record.status = MailStatus.failed.value
        await record_event(
            session,
            record.shop_id,
            "mail.failed",
            {
                "mail_id": record.id,
                "conversation_id": record.conversation_id,
                "agent_id": record.agent_id,
                "to": record.peer,
                "error": record.last_error,
            },
            at=now,
        )
        return
    record.status = MailStatus.sent.value
    record.sent_at = now
    record.last_error = ""


async def do_retry(session: AsyncSession, record: MailRecord, now: datetime) -> None:
    """Send a failed reply again, with a fresh count of tries."""
    if record.direction != Direction.outbound.value or record.status != MailStatus.failed.value:
        raise MailError(say("reply {mail} has not failed", mail=record.id))
    record.status = MailStatus.queued.value
    record.attempts = 0
    await _schedule(session, record, now)


async def outbox(session: AsyncSession, shop_id: int | None = None) -> list[MailRecord]:
    """Replies not sent yet, and those given up on, oldest first."""
    query = (
        select(MailRecord)
        .where(
            MailRecord.direction == Direction.outbound.value,
            MailRecord.status.in_([MailStatus.queued.value, MailStatus.failed.value]),
        )
        .order_by(MailRecord.id)
    )
    if shop_id is not None:
        query = query.where(MailRecord.shop_id == shop_id)
    return list(await session.scalars(query))
