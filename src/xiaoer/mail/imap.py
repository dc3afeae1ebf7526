"""``xiaoer mail poll``: read a shop's mailbox over IMAP instead of receiving by SMTP.

Each poll reads the folder's unseen mails (at most ``BATCH``) with the standard
library's ``imaplib`` in a worker thread, stores each through the same service as the
SMTP listener, and marks seen only what is stored (or can never be: a mail without a
sender). Storing is idempotent by Message-ID, so a poll cut short after storing and
before marking stores nothing twice the next time. A mail over the size limit is
left unseen, for a person to read in their mail program, and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from xiaoer.core.db import Database
from xiaoer.core.settings import Settings
from xiaoer.mail.models import Mailbox
from xiaoer.mail.service import MailError, do_receive_mail

log = logging.getLogger(__name__)

BATCH = 50
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


@dataclass(frozen=True)
class ImapAccount:
    """A mailbox's IMAP settings, copied out of the session for the worker thread."""

    host: str
    port: int
    user: str
    password: str
    folder: str
    ssl: bool
    timeout: float

    @classmethod
    def of(cls, box: Mailbox, timeout: float) -> ImapAccount:
        return cls(box.imap_host, box.imap_port, box.imap_user, box.imap_password,
                   box.imap_folder or "INBOX", box.imap_ssl, timeout)  # fmt: skip


@dataclass
class PollReport:
    stored: int = 0
    duplicates: int = 0
    left_unseen: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)


class ImapFailure(Exception):
    """The server answered a command with NO or BAD."""


def _connect(account: ImapAccount) -> imaplib.IMAP4:
    client: imaplib.IMAP4
    if account.ssl:
        context = ssl.create_default_context()
        client = imaplib.IMAP4_SSL(
            account.host, account.port, ssl_context=context, timeout=account.timeout
        )
    else:
        client = imaplib.IMAP4(account.host, account.port, timeout=account.timeout)
    try:
        _ok(client.login(account.user, account.password))
        _ok(client.select(_quoted(account.folder)))
    except BaseException:
        with contextlib.suppress(Exception):
            client.logout()
        raise
    return client


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(answer: tuple[str, Sequence[Any]]) -> list[Any]:
    status, data = answer
    if status != "OK":
        raise ImapFailure(f"{status}: {data!r}"[:300])
    return list(data)


def fetch_unseen(account: ImapAccount, max_bytes: int) -> list[tuple[bytes, bytes | None]]:
    """(uid, the mail's bytes) of the folder's unseen mails; ``None`` for one over
    ``max_bytes``, which is not downloaded. Blocking: run it in a thread."""
    client = _connect(account)
    try:
        data = _ok(client.uid("SEARCH", "UNSEEN"))
        first = data[0] if data and isinstance(data[0], bytes) else b""
        found: list[tuple[bytes, bytes | None]] = []
        for uid in first.split()[:BATCH]:
            sized = _ok(client.uid("FETCH", uid.decode(), "(RFC822.SIZE)"))
            match = _SIZE.search(sized[0] if sized and isinstance(sized[0], bytes) else b"")
            if match is None or int(match.group(1)) > max_bytes:
                found.append((uid, None))
                continue
            fetched = _ok(client.uid("FETCH", uid.decode(), "(BODY.PEEK[])"))
            parts = [item for item in fetched if isinstance(item, tuple)]
            raw = parts[0][1] if parts and isinstance(parts[0][1], bytes) else b""
            found.append((uid, raw))
        return found
    finally:
        with contextlib.suppress(Exception):
            client.logout()


def mark_seen(account: ImapAccount, uids: list[bytes]) -> None:
    """Flag the given mails seen. Blocking: run it in a thread."""
    if not uids:
        return
    client = _connect(account)
    try:
        uid_set = b",".join(uids).decode()
        _ok(client.uid("STORE", uid_set, "+FLAGS", "(\\Seen)"))
    finally:
        with contextlib.suppress(Exception):
            client.logout()


async def poll_mailbox(db: Database, mailbox_id: int, settings: Settings) -> PollReport:
    """One poll of one mailbox: unseen mails stored and marked seen."""
    report = PollReport()
    async with db.session() as session:
        box = await session.get(Mailbox, mailbox_id)
        if box is None or not box.imap_host:
            return report
        account = ImapAccount.of(box, settings.mail_timeout_seconds)
    fetched = await asyncio.to_thread(fetch_unseen, account, settings.mail_max_bytes)
    done: list[bytes] = []
    for uid, raw in fetched:
        if raw is None:
            report.left_unseen += 1
            log.warning("mailbox %s: mail %s is over the size limit; left unseen",
                        mailbox_id, uid.decode())  # fmt: skip
            continue
        try:
            async with db.session() as session:
                box = await session.get(Mailbox, mailbox_id)
                assert box is not None
                stored = await do_receive_mail(session, box, raw, settings)
                await session.commit()
        except MailError as exc:  # it can never be stored: do not read it again and again
            report.refused += 1
            report.errors.append(f"{uid.decode()}: {exc}")
            done.append(uid)
            continue
        except Exception as exc:
            log.exception("mailbox %s: storing mail %s failed", mailbox_id, uid.decode())
            report.errors.append(f"{uid.decode()}: {type(exc).__name__}: {exc}")
            continue
        if stored.duplicate:
            report.duplicates += 1
        else:
            report.stored += 1
        done.append(uid)
    await asyncio.to_thread(mark_seen, account, done)
    return report


async def polled_mailboxes(db: Database, shop_id: int | None = None) -> list[int]:
    async with db.session() as session:
        query = select(Mailbox.id).where(Mailbox.active, Mailbox.imap_host != "")
        if shop_id is not None:
            query = query.where(Mailbox.shop_id == shop_id)
        return list(await session.scalars(query.order_by(Mailbox.id)))


async def poll_all(
    db: Database, settings: Settings, shop_id: int | None = None
) -> dict[int, PollReport]:
    """One poll of every mailbox read over IMAP; a mailbox that fails is reported."""
    reports: dict[int, PollReport] = {}
    for mailbox_id in await polled_mailboxes(db, shop_id):
        try:
            reports[mailbox_id] = await poll_mailbox(db, mailbox_id, settings)
        except (OSError, imaplib.IMAP4.error, ImapFailure) as exc:
            log.warning("mailbox %s: polling failed: %s", mailbox_id, exc)
            reports[mailbox_id] = PollReport(errors=[f"{type(exc).__name__}: {exc}"])
    return reports
