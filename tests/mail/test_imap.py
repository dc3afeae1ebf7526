"""Polling a mailbox over IMAP.

No IMAP server can be installed and started here for the tests (none ships as a
Python package), so the poller talks to a tiny IMAP server written below with
asyncio: a real socket on 127.0.0.1 speaking the few IMAP4rev1 commands the poller
uses (CAPABILITY, LOGIN, SELECT, UID SEARCH, UID FETCH, UID STORE, LOGOUT), with a
folder of mails and their \\Seen flags.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from tests.mail.conftest import mail
from xiaoer.core.db import Database
from xiaoer.core.settings import Settings
from xiaoer.mail.imap import poll_all
from xiaoer.mail.models import Mailbox
from xiaoer.reception.models import Message


@dataclass
class FakeImap:
    """A folder of (uid, bytes) and which uids are seen; what logins were tried."""

    port: int = 0
    mails: dict[int, bytes] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] fake ready\r\n")
        while line := await reader.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "UID":
                command, _, args = args.partition(" ")
                command = "UID " + command.upper()
            out = self.answer(command, args)
            writer.write(b"".join(out) + f"{tag} OK {command} done\r\n".encode())
            await writer.drain()
            if command == "LOGOUT":
                break
        writer.close()

    def answer(self, command: str, args: str) -> list[bytes]:
        if command == "CAPABILITY":
            return [b"* CAPABILITY IMAP4rev1\r\n"]
        if command == "LOGIN":
            user, password = args.split(" ", 1)
            self.logins.append((user.strip('"'), password.strip('"')))
            return []
        if command == "SELECT":
            return [f"* {len(self.mails)} EXISTS\r\n".encode(), b"* FLAGS (\\Seen)\r\n"]
        if command == "UID SEARCH":
            unseen = " ".join(str(uid) for uid in sorted(self.mails) if uid not in self.seen)
            return [f"* SEARCH {unseen}\r\n".encode()]
        if command == "UID FETCH":
            uid_text, _, what = args.partition(" ")
            uid = int(uid_text)
            raw = self.mails[uid]
            if "RFC822.SIZE" in what:
                return [f"* {uid} FETCH (UID {uid} RFC822.SIZE {len(raw)})\r\n".encode()]
            return [f"* {uid} FETCH (UID {uid} BODY[] {{{len(raw)}}}\r\n".encode(), raw, b")\r\n"]
        if command == "UID STORE":
            uids, _, flags = args.partition(" ")
            assert re.fullmatch(r"\+FLAGS \(\\Seen\)", flags)
            self.seen.update(int(uid) for uid in uids.split(","))
            return []
        if command == "LOGOUT":
            return [b"* BYE\r\n"]
        return []


@pytest.fixture
async def imap(db: Database, mailbox: Mailbox) -> AsyncIterator[FakeImap]:
    fake = FakeImap()
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    async with db.session() as session:
        box = await session.get(Mailbox, mailbox.id)
        assert box is not None
        box.imap_host, box.imap_port, box.imap_ssl = "127.0.0.1", fake.port, False
        box.imap_user, box.imap_password = "service@tea.test", "imap-pass-1"
        await session.commit()
    try:
        yield fake
    finally:
        server.close()
        await server.wait_closed()


async def test_polling_stores_unseen_mail_once_and_marks_it_seen(
    db: Database, imap: FakeImap, mail_settings: Settings
) -> None:
    imap.mails = {
        7: mail(),
        8: mail(
            "第二封",
            subject="Re: 龙井的库存",
            message_id="<m2@buyer.test>",
            headers={"In-Reply-To": "<m1@buyer.test>"},
        ),
        9: mail("太大了" * 30_000, message_id="<big@buyer.test>"),
        10: mail("读过了", message_id="<old@buyer.test>"),
    }
    imap.seen = {10}
    [report] = (await poll_all(db, mail_settings)).values()
    assert (report.stored, report.duplicates, report.left_unseen) == (2, 0, 1)
    assert imap.seen == {7, 8, 10}  # the one over the limit stays for a person to read
    assert imap.logins == [("service@tea.test", "imap-pass-1")] * 2
    async with db.session() as session:
        texts = list(await session.scalars(select(Message.text).where(Message.sender == "buyer")))
        conversations = set(
            await session.scalars(select(Message.conversation_id).where(Message.sender == "buyer"))
        )
    assert texts == ["【龙井的库存】\n你好，请问这款龙井还有货吗？", "第二封"]
    assert len(conversations) == 1
    # The server forgot the flags (a poll cut short): the same mails are stored once.
    imap.seen = {10}
    [again] = (await poll_all(db, mail_settings)).values()
    assert (again.stored, again.duplicates) == (0, 2)


async def test_a_mailbox_whose_server_is_away_is_reported_not_raised(
    db: Database, imap: FakeImap, mail_settings: Settings, mailbox: Mailbox
) -> None:
    async with db.session() as session:
        box = await session.get(Mailbox, mailbox.id)
        assert box is not None
        box.imap_port = 1
        await session.commit()
    [report] = (await poll_all(db, mail_settings)).values()
    assert report.stored == 0 and "ConnectionRefusedError" in report.errors[0]
