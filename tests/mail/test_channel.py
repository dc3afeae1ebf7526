"""The e-mail channel end to end: real SMTP on 127.0.0.1 both ways (C1)."""

from __future__ import annotations

import smtplib
import stat
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.mail.conftest import BUYER, SHOP_ADDRESS, SIGNATURE, Relay, Send, mail
from xiaoer.buyers.models import Customer
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.hooks import MailThread, _mail_threads, on_mail_thread
from xiaoer.core.models import Event
from xiaoer.core.settings import Settings
from xiaoer.core.timers import fire_all_due
from xiaoer.mail.models import Direction, Mailbox, MailRecord
from xiaoer.mail.outbound import MAX_TRIES
from xiaoer.mail.service import do_receive_mail
from xiaoer.reception.models import Conversation, Message
from xiaoer.reception.service import do_close, do_send_agent_message
from xiaoer.staff.models import StaffAccount


async def _buyer_messages(db: Database) -> list[Message]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Message).where(Message.sender == "buyer").order_by(Message.id)
        )
        return list(rows)


async def _records(db: Database) -> list[MailRecord]:
    async with db.session() as session:
        return list(await session.scalars(select(MailRecord).order_by(MailRecord.id)))


async def test_a_mail_opens_a_conversation_with_the_buyer_known_by_address(
    db: Database, send: Send, data_dir: Path
) -> None:
    refused = await send(mail())
    assert refused == {}
    [message] = await _buyer_messages(db)
    assert message.text == "【龙井的库存】\n你好，请问这款龙井还有货吗？"
    assert message.meta["mail"]["from"] == BUYER
    async with db.session() as session:
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None
        customer = await session.get(Customer, conversation.customer_id)
    assert customer is not None
    assert (customer.channel, customer.buyer_id, customer.nick) == ("email", BUYER, "王芳")
    [record] = await _records(db)
    assert (record.direction, record.mail_id, record.peer) == ("in", "m1@buyer.test", BUYER)
    raw = data_dir / record.raw_path
    assert b"Message-ID: <m1@buyer.test>" in raw.read_bytes()
    assert stat.S_IMODE(raw.stat().st_mode) == 0o600
    assert stat.S_IMODE(raw.parent.stat().st_mode) == 0o700


async def test_a_reply_by_its_headers_joins_the_conversation_and_a_new_subject_does_not(
    db: Database, send: Send
) -> None:
    await send(mail())
    await send(
        mail(
            "还有，能寄到新疆吗？\n\n> 你好，请问这款龙井还有货吗？",
            subject="另一件事",  # the headers decide, not the subject
            message_id="<m2@buyer.test>",
            headers={"In-Reply-To": "<m1@buyer.test>", "References": "<m1@buyer.test>"},
        )
    )
    await send(mail("想问问发票怎么开", subject="发票", message_id="<m3@buyer.test>"))
    first, second, third = await _buyer_messages(db)
    assert second.conversation_id == first.conversation_id
    assert second.text == "还有，能寄到新疆吗？"  # the quote is left out
    assert third.conversation_id != first.conversation_id


async def test_without_headers_the_same_sender_and_subject_join_within_the_window(
    db: Database, send: Send
) -> None:
    await send(mail())
    await send(mail("补充一下：要 250 克的", subject="回复：Re: 龙井的库存", message_id="<m2@b>"))
    await send(mail("我也想问", subject="Re: 龙井的库存", message_id="<m3@b>",
                    sender="other@buyer.test"))  # fmt: skip
    first, second, third = await _buyer_messages(db)
    assert second.conversation_id == first.conversation_id
    assert second.text == "补充一下：要 250 克的"
    assert third.conversation_id != first.conversation_id


def _headed(subject: str, message_id: str) -> EmailMessage:
    built = EmailMessage()
    built["From"] = BUYER
    built["To"] = SHOP_ADDRESS
    built["Subject"] = subject
    built["Message-ID"] = message_id
    return built


async def test_an_html_only_mail_is_shown_as_text_without_tags_or_scripts(
    db: Database, send: Send
) -> None:
    html = _headed("图片里的颜色", "<h1@buyer.test>")
    html.set_content(
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
        "<body><p>颜色&amp;尺码<b>不对</b></p><div>请&lt;尽快&gt;处理<br>谢谢</div>"
        "<img src=x onerror=alert(1)></body></html>",
        subtype="html",
    )
    await send(html.as_bytes())
    [message] = await _buyer_messages(db)
    assert message.text == "【图片里的颜色】\n颜色&尺码不对\n\n请<尽快>处理\n谢谢"
    assert "alert" not in message.text and "color:red" not in message.text
    assert message.meta["mail"]["html"] is True


async def test_an_attachment_over_the_limit_is_dropped_and_listed(
    db: Database, send: Send, data_dir: Path
) -> None:
    built = _headed("破损照片", "<a1@buyer.test>")
    built.set_content("收到的盒子压坏了，照片见附件")
    built.add_attachment(b"\x89PNG" + b"s" * 2000, maintype="image", subtype="png",
                         filename="small.png")  # fmt: skip
    built.add_attachment(b"\x89PNG" + b"L" * 5000, maintype="image", subtype="png",
                         filename="large.png")  # fmt: skip
    built.add_attachment(b"%PDF" + b"m" * 3000, maintype="application", subtype="pdf",
                         filename="../../发票.pdf")  # fmt: skip
    await send(built.as_bytes())
    [message] = await _buyer_messages(db)
    assert "[附件] small.png (2 KB)" in message.text
    assert "[附件未保留（超过大小限制）] large.png (5 KB)" in message.text
    assert "[附件未保留（超过大小限制）] .._.._发票.pdf" not in message.text
    [record] = await _records(db)
    small, large, pdf = record.attachments
    assert (small["filename"], small["size"], "dropped" in small) == ("small.png", 2004, False)
    assert (data_dir / small["path"]).read_bytes().startswith(b"\x89PNG")
    assert stat.S_IMODE((data_dir / small["path"]).stat().st_mode) == 0o600
    assert (large["dropped"], "path" in large) == ("too_large", False)
    # 2004 + 3004 bytes pass the mail's total of 6000; a name never leaves its folder.
    assert pdf["filename"] == "_.._发票.pdf" and pdf.get("dropped") is None
    assert Path(pdf["path"]).parent == Path(small["path"]).parent


async def test_an_oversize_mail_is_refused_with_552(db: Database, send: Send) -> None:
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as refused:
        await send(mail("太长" * 40_000))
    assert refused.value.smtp_code == 552
    assert await _buyer_messages(db) == []


async def test_mail_for_an_unknown_address_is_refused_with_550(db: Database, send: Send) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send(mail(), to=["nobody@tea.test"])
    [(code, _)] = refused.value.recipients.values()
    assert code == 550
    assert await _buyer_messages(db) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\xfe not a mail at all \x80\x81",
        b"From: \r\nSubject: =?utf-8?q?=E4=BD?=\r\n"
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"From: <>\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Type: text/plain; charset=nope\r\n\r\n!!!",
        b"Message-ID: <<<>>>\r\nReferences: " + b"<x@y>\r\n " * 500 + b"\r\n\r\n" + b"\xe4" * 50,
    ],
)
async def test_malformed_bytes_are_stored_as_well_as_they_read_and_crash_nothing(
    db: Database, send: Send, raw: bytes
) -> None:
    """Without a sender in the mail the envelope's is taken; the listener stays up."""
    assert await send(raw) == {}
    assert await send(mail()) == {}
    messages = await _buyer_messages(db)
    assert len(messages) == 2
    assert messages[0].text  # something to read, whatever arrived


async def test_an_agent_reply_goes_out_threaded_signed_and_its_answer_comes_back(
    db: Database, send: Send, relay: Relay, agent: StaffAccount
) -> None:
    await send(mail(headers={"References": "<m0@buyer.test>"}))
    [first] = await _buyer_messages(db)
    async with db.session() as session:
        await do_send_agent_message(
            session,
            agent=agent,
            conversation_id=first.conversation_id,
            text="有货的亲，今天下单明天发",
        )
        await session.commit()
    assert await fire_all_due(db) >= 1
    [(sender, recipients, sent)] = relay.received
    assert (sender, recipients) == (SHOP_ADDRESS, [BUYER])
    assert sent["From"].addresses[0].addr_spec == SHOP_ADDRESS
    assert sent["From"].addresses[0].display_name == "茶香小铺"
    assert sent["To"] == BUYER
    assert sent["Subject"] == "Re: 龙井的库存"
    assert sent["In-Reply-To"] == "<m1@buyer.test>"
    assert sent["References"] == "<m0@buyer.test> <m1@buyer.test>"
    body = sent.get_body(("plain",))
    assert body is not None
    assert (
        body.get_content().replace("\r\n", "\n")
        == f"有货的亲，今天下单明天发\n\n-- \n{SIGNATURE}\n"
    )
    records = await _records(db)
    ours = records[-1]
    assert (ours.direction, ours.status, ours.attempts) == ("out", "sent", 1)
    assert sent["Message-ID"] == f"<{ours.mail_id}>"
    assert ours.mail_id.endswith("@tea.test")
    # The buyer answers our mail: it joins the conversation by our Message-ID alone.
    await send(
        mail("好的，那我下单了", subject="Re: 龙井的库存 (改)", message_id="<m9@buyer.test>",
             headers={"In-Reply-To": sent["Message-ID"]})
    )  # fmt: skip
    answer = (await _buyer_messages(db))[-1]
    assert answer.conversation_id == first.conversation_id


async def test_an_answer_to_a_closed_conversation_opens_a_new_one(
    db: Database, send: Send, agent: StaffAccount
) -> None:
    await send(mail())
    [first] = await _buyer_messages(db)
    async with db.session() as session:
        await do_close(session, actor=agent, conversation_id=first.conversation_id,
                       outcome="resolved")  # fmt: skip
        await session.commit()
    await send(mail("又来了", message_id="<m2@b>", headers={"In-Reply-To": "<m1@buyer.test>"}))
    second = (await _buyer_messages(db))[-1]
    assert second.conversation_id != first.conversation_id
    assert second.text == "【龙井的库存】\n又来了"


async def test_a_failed_send_is_kept_retried_by_a_timer_and_at_last_marked_failed(
    db: Database, send: Send, relay: Relay, mailbox: Mailbox, agent: StaffAccount
) -> None:
    async with db.session() as session:
        box = await session.get(Mailbox, mailbox.id)
        assert box is not None
        box.smtp_port = 1  # nothing listens there
        await session.commit()
    await send(mail())
    [first] = await _buyer_messages(db)
    async with db.session() as session:
        await do_send_agent_message(session, agent=agent, conversation_id=first.conversation_id,
                                    text="稍等，我查一下")  # fmt: skip
        await session.commit()
    await fire_all_due(db)
    ours = (await _records(db))[-1]
    assert (ours.status, ours.attempts) == ("queued", 1)
    assert "ConnectionRefusedError" in ours.last_error
    later = utcnow()
    for _ in range(MAX_TRIES - 1):
        later += timedelta(hours=2)
        await fire_all_due(db, now=later)
    ours = (await _records(db))[-1]
    assert (ours.status, ours.attempts) == ("failed", MAX_TRIES)
    async with db.session() as session:
        kinds = list(await session.scalars(select(Event.kind).where(Event.kind == "mail.failed")))
    assert kinds == ["mail.failed"]
    assert relay.received == []


async def test_a_mail_seen_twice_is_stored_once_and_the_ticket_hook_hears_it_once(
    db: Database, mailbox: Mailbox, mail_settings: Settings
) -> None:
    heard: list[MailThread] = []

    async def hook(session: object, thread: MailThread) -> None:
        heard.append(thread)

    on_mail_thread(hook)  # type: ignore[arg-type]
    try:
        for _ in range(2):
            async with db.session() as session:
                box = await session.get(Mailbox, mailbox.id)
                assert box is not None
                stored = await do_receive_mail(session, box, mail(), mail_settings)
                await session.commit()
    finally:
        _mail_threads.remove(hook)  # type: ignore[arg-type]
    assert stored.duplicate
    assert len(await _buyer_messages(db)) == 1
    [thread] = heard
    assert (thread.address, thread.subject, thread.new) == (BUYER, "龙井的库存", True)
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(MailRecord)
            .where(MailRecord.direction == Direction.inbound.value)
        )
    assert count == 1
