"""Sending the planned greetings when they are due, and the log of every sending.

The shop's ``greetings.send`` timer wakes at the first planned greeting; it sends what
is due and sets itself for the next. Each greeting is checked again as it goes out: a
buyer who opted out after the plan, or was erased, or reached the month's cap in the
meantime, is skipped with the reason, at once. Then it goes through its channel:

- ``chat``: an automatic message in the person's latest conversation (any of their
  buyers), as fulfilment's notices are posted; a person who never chatted is skipped.
  When that conversation came by mail (an after-sales case written in by e-mail), the
  greeting also goes as a mail in its thread, through the mail package's outbox, and
  the log says ``email``.
- ``email``: a mail from the shop's first active mailbox through its SMTP relay
  (``mail.outbound.deliver``); a failure is logged with the relay's answer.
- ``sms``: a POST of JSON to the policy's ``sms_gateway`` (the hook is described in
  ``docs/api.md``); any answer but 2xx is a failure.

Every greeting ends ``sent``, ``skipped`` or ``failed`` with ``sent_at`` and the reason:
that is the log the greetings page shows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import smtplib
import urllib.error
import urllib.request
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import as_utc, utcnow
from xiaoer.core.models import Timer
from xiaoer.core.policy import Policy
from xiaoer.core.policy_store import policy_on
from xiaoer.core.settings import get_settings
from xiaoer.core.timers import timer_handler
from xiaoer.customers.greetings import (
    DAILY,
    SEND,
    do_plan_day,
    do_schedule_daily,
    month_bounds,
    wake_sender,
)
from xiaoer.customers.models import Greeting, GreetingStatus
from xiaoer.customers.online import refresh_profiles
from xiaoer.mail.models import Direction, Mailbox, MailRecord
from xiaoer.mail.outbound import deliver, queue_reply
from xiaoer.reception.models import Conversation
from xiaoer.reception.service import do_add_automatic_reply
from xiaoer.shops.models import Shop

log = logging.getLogger(__name__)

SOURCE = "greetings"
BATCH = 200
RUN_BATCHES = 25  # a run sends at most this many batches, so one transaction stays short
SMS_TIMEOUT = 10.0


async def _skip_reason(
    session: AsyncSession,
    greeting: Greeting,
    person: Customer | None,
    policy: Policy,
    zone: ZoneInfo,
) -> str:
    if person is None or person.erased_at is not None:
        return "erased"
    if person.greetings_off_at is not None:
        return "opted_out"
    if person.merged_into_id is not None:
        return "merged"
    start, end = month_bounds(as_utc(greeting.send_at).astimezone(zone).date(), zone)
    sent = await session.scalar(
        select(func.count()).where(
            Greeting.customer_id == greeting.customer_id,
            Greeting.status == GreetingStatus.sent.value,
            Greeting.sent_at >= start,
            Greeting.sent_at < end,
        )
    )
    if int(sent or 0) >= policy.customers.greetings_per_month:
        return "cap"
    return ""


async def _chat(session: AsyncSession, greeting: Greeting, person: Customer, now: datetime) -> str:
    conversation = await session.scalar(
        select(Conversation)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(
            Customer.shop_id == person.shop_id,
            or_(Customer.id == person.id, Customer.merged_into_id == person.id),
        )
        .order_by(Conversation.opened_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        return "skipped:no_conversation"
    message = await do_add_automatic_reply(
        session, conversation, greeting.text, source=SOURCE,
        meta={"greeting": greeting.id, "kind": greeting.kind}, now=now,
    )  # fmt: skip
    # A conversation that came by mail (an after-sales case written in by e-mail) is
    # answered by mail in its thread, as an agent's reply there would be.
    await queue_reply(session, person.shop_id, conversation.id, [message.id], greeting.text, now)
    mailed = await session.scalar(
        select(MailRecord.id).where(
            MailRecord.message_id == message.id, MailRecord.direction == Direction.outbound.value
        )
    )
    if mailed is not None:
        greeting.channel = "email"
    return ""


async def _email(session: AsyncSession, greeting: Greeting, person: Customer, shop: Shop) -> str:
    if not person.email:
        return "skipped:no_email"
    mailbox = await session.scalar(
        select(Mailbox)
        .where(Mailbox.shop_id == shop.id, Mailbox.active.is_(True))
        .order_by(Mailbox.id)
        .limit(1)
    )
    if mailbox is None:
        return "failed:no_mailbox"
    mail = EmailMessage()
    mail["From"] = formataddr((mailbox.display_name or shop.name, mailbox.address))
    mail["To"] = person.email
    mail["Subject"] = greeting.title or shop.name
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = make_msgid(domain=mailbox.address.rpartition("@")[2])
    mail.set_content(greeting.text + "\n")
    timeout = get_settings().mail_timeout_seconds
    try:
        await asyncio.to_thread(deliver, mailbox, mail, person.email, timeout)
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        return f"failed:{type(exc).__name__}: {exc}"
    return ""


def post_sms(url: str, body: dict[str, Any], timeout: float = SMS_TIMEOUT) -> int:
    """POST the greeting to the gateway; its HTTP status (blocking: run it in a thread)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) address: {url}")
    request = urllib.request.Request(  # noqa: S310  (checked above)
        url,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def _sms(greeting: Greeting, person: Customer, shop: Shop, policy: Policy) -> str:
    url = policy.customers.sms_gateway
    if not url:
        return "failed:no_gateway"
    if not person.phone:
        return "skipped:no_phone"
    body = {
        "shop": shop.code,
        "greeting": greeting.id,
        "kind": greeting.kind,
        "to": person.phone,
        "text": greeting.text,
    }
    try:
        status = await asyncio.to_thread(post_sms, url, body)
    except (OSError, ValueError) as exc:
        return f"failed:{type(exc).__name__}: {exc}"
    return "" if 200 <= status < 300 else f"failed:gateway answered {status}"


async def send_due(session: AsyncSession, shop_id: int, now: datetime) -> dict[str, int]:
    """Send the shop's greetings due by ``now``; returns how many ended each way."""
    shop = await session.get(Shop, shop_id)
    assert shop is not None
    zone = ZoneInfo(shop.timezone)
    policy = await policy_on(session, shop_id, as_utc(now).astimezone(zone).date())
    done = {"sent": 0, "skipped": 0, "failed": 0}
    for _ in range(RUN_BATCHES):  # the rest in the next run, due at once
        due = list(
            await session.scalars(
                select(Greeting)
                .where(
                    Greeting.shop_id == shop_id,
                    Greeting.status == GreetingStatus.planned.value,
                    Greeting.send_at <= now,
                )
                .order_by(Greeting.send_at, Greeting.id)
                .limit(BATCH)
            )
        )
        if not due:
            break
        for greeting in due:
            outcome = await _send_one(session, greeting, shop, policy, zone, now)
            done[outcome] += 1
        await session.flush()
    following = await session.scalar(
        select(func.min(Greeting.send_at)).where(
            Greeting.shop_id == shop_id, Greeting.status == GreetingStatus.planned.value
        )
    )
    if following is not None:
        await wake_sender(session, shop_id, as_utc(following))
    return done


async def _send_one(
    session: AsyncSession,
    greeting: Greeting,
    shop: Shop,
    policy: Policy,
    zone: ZoneInfo,
    now: datetime,
) -> str:
    person = await session.get(Customer, greeting.customer_id)
    reason = await _skip_reason(session, greeting, person, policy, zone)
    if not reason and person is not None:
        try:
            async with session.begin_nested():
                if greeting.channel == "chat":
                    reason = await _chat(session, greeting, person, now)
                elif greeting.channel == "email":
                    reason = await _email(session, greeting, person, shop)
                else:
                    reason = await _sms(greeting, person, shop, policy)
        except ValueError as exc:
            reason = f"failed:{exc}"
    else:
        reason = f"skipped:{reason}"
    greeting.sent_at = now
    if not reason:
        greeting.status = GreetingStatus.sent.value
        greeting.reason = ""
        return "sent"
    status, _, why = reason.partition(":")
    greeting.status = status
    greeting.reason = why[:64]
    if status == "failed":
        log.warning("greeting %s (%s) failed: %s", greeting.id, greeting.channel, why)
    return status


@timer_handler(SEND)
async def send_greetings(session: AsyncSession, timer: Timer, now: datetime) -> None:
    await send_due(session, timer.shop_id, now)


@timer_handler(DAILY)
async def plan_today(session: AsyncSession, timer: Timer, now: datetime) -> None:
    """Each night: the online hours worked out again, the new day's greetings planned."""
    shop = await session.get(Shop, timer.shop_id)
    if shop is None:
        return
    zone = ZoneInfo(shop.timezone)
    today = as_utc(now).astimezone(zone).date()
    policy = await policy_on(session, shop.id, today)
    await refresh_profiles(session, shop.id, policy, now=now)
    await do_plan_day(session, shop, policy, today)
    await do_schedule_daily(session, shop.id, now=now)
