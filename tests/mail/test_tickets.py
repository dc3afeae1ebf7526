"""Mail to the after-sales mailbox opens a ticket; a later mail in its thread is a line
on that ticket; mail to a presale mailbox opens none."""

from __future__ import annotations

from sqlalchemy import select

from tests.mail.conftest import Send, mail
from xiaoer.aftersales.models import Ticket, TicketLine
from xiaoer.core.db import Database
from xiaoer.mail.models import Mailbox


async def _aftersales(db: Database, mailbox: Mailbox) -> None:
    async with db.session() as session:
        box = await session.get(Mailbox, mailbox.id)
        assert box is not None
        box.team = "aftersale"
        await session.commit()


async def test_a_new_thread_at_the_aftersales_mailbox_opens_a_ticket_and_its_reply_a_line(
    db: Database, mailbox: Mailbox, send: Send
) -> None:
    await _aftersales(db, mailbox)
    await send(mail("窗帘钩少了两个", subject="配件少了", message_id="<t1@buyer.test>"))
    await send(mail("补发了吗？", subject="Re: 配件少了", message_id="<t2@buyer.test>",
                    headers={"In-Reply-To": "<t1@buyer.test>"}))  # fmt: skip
    async with db.session() as session:
        tickets = list(await session.scalars(select(Ticket)))
        assert [(t.source, t.kind, t.subject, t.status) for t in tickets] == [
            ("email", "inquiry", "配件少了", "queued")
        ]
        lines = list(await session.scalars(
            select(TicketLine.action).where(TicketLine.ticket_id == tickets[0].id)
            .order_by(TicketLine.id)
        ))  # fmt: skip
        assert lines == ["opened", "mail"]


async def test_mail_to_a_presale_mailbox_opens_no_ticket(
    db: Database, mailbox: Mailbox, send: Send
) -> None:
    await send(mail())
    async with db.session() as session:
        assert list(await session.scalars(select(Ticket))) == []
