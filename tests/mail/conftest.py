"""Mail fixtures: the shop's mailbox, xiaoer's SMTP listener and a relay of our own,
each a real SMTP server on 127.0.0.1 on a free port."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import MakeStaff
from xiaoer.core.db import Database
from xiaoer.core.settings import Settings
from xiaoer.mail.inbound import start_mail_server
from xiaoer.mail.models import Mailbox
from xiaoer.mail.service import MailboxSetup, do_set_mailbox
from xiaoer.reception.service import do_set_presence
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount

SHOP_ADDRESS = "service@tea.test"
BUYER = "wang.fang@buyer.test"
SIGNATURE = "茶香小铺客服部\nhttps://tea.test"


@pytest.fixture
def mail_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        mail_max_bytes=60_000,
        mail_attachment_max_bytes=4_000,
        mail_attachments_max_bytes=6_000,
    )


@dataclass
class Relay:
    """A throwaway SMTP server standing in for the shop's relay: keeps what it gets."""

    port: int
    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    holder = Relay(port=0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(holder, hostname="relay.test"), "127.0.0.1", 0)
    holder.port = server.sockets[0].getsockname()[1]
    try:
        yield holder
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def mailbox(db: Database, shop: Shop, relay: Relay) -> Mailbox:
    async with db.session() as session:
        box = await do_set_mailbox(
            session,
            shop_id=shop.id,
            setup=MailboxSetup(
                address="Service@Tea.test",
                smtp_host="127.0.0.1",
                smtp_port=relay.port,
                smtp_starttls=False,
                signature=SIGNATURE,
            ),
        )
        await session.commit()
        return box


@pytest.fixture
async def listener(db: Database, mail_settings: Settings, mailbox: Mailbox) -> AsyncIterator[int]:
    """xiaoer's own SMTP listener, as `xiaoer mail serve` runs it; yields its port."""
    server = await start_mail_server(db, mail_settings, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


Send = Callable[..., Awaitable[Any]]


def _send(port: int, raw: bytes, sender: str, to: list[str]) -> dict[str, Any]:
    # Lines end in CRLF on the wire; smtplib leaves bytes as they are.
    wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return dict(client.sendmail(sender, to, wire))


@pytest.fixture
def send(listener: int) -> Send:
    """Send raw bytes to xiaoer's listener with smtplib (in a thread: the listener runs
    in this test's event loop)."""

    async def go(raw: bytes, sender: str = BUYER, to: list[str] | None = None) -> Any:
        return await asyncio.to_thread(_send, listener, raw, sender, to or [SHOP_ADDRESS])

    return go


def mail(
    text: str = "你好，请问这款龙井还有货吗？",
    *,
    subject: str = "龙井的库存",
    message_id: str = "<m1@buyer.test>",
    sender: str = f"王芳 <{BUYER}>",
    headers: dict[str, str] | None = None,
) -> bytes:
    built = EmailMessage()
    built["From"] = sender
    built["To"] = SHOP_ADDRESS
    built["Subject"] = subject
    built["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        built[name] = value
    built.set_content(text)
    return built.as_bytes()


@pytest.fixture
async def agent(db: Database, make_staff: MakeStaff) -> StaffAccount:
    account = await make_staff("lina", "agent", name="李娜")
    async with db.session() as session:
        await do_set_presence(session, agent=account, status="online")
        await session.commit()
    return account
