"""``xiaoer mail serve``: an SMTP listener that the shop's MX or a forward points at.

It accepts mail only for the addresses of known mailboxes (550 for any other, so it
relays nothing) and only up to ``XIAOER_MAIL_MAX_BYTES`` (552, before the data when the
client declares its size, else as soon as the data passes it). Each mail is stored in
a unit of work of its own; a mail that could not be stored for a reason not its own
is answered 451, so the sending server tries again later.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from xiaoer.core.db import Database
from xiaoer.core.settings import Settings
from xiaoer.mail.service import MailError, MailTooLarge, do_receive_mail, mailbox_for

log = logging.getLogger(__name__)

NO_MAILBOX = "550 5.1.1 No such mailbox here"
STORED = "250 2.0.0 Stored"
TOO_LARGE = "552 5.3.4 Message too big for this mailbox"
REFUSED = "550 5.6.0 Mail refused: {reason}"
TRY_LATER = "451 4.3.0 Could not store the mail now; try again later"


class InboundHandler:
    """aiosmtpd's handler: RCPT checks the mailbox, DATA stores the mail."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def handle_RCPT(  # aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        async with self.db.session() as db_session:
            box = await mailbox_for(db_session, address)
        if box is None:
            return NO_MAILBOX
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # aiosmtpd's name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace")
        addresses = list(dict.fromkeys(a.strip().lower() for a in envelope.rcpt_tos))
        for address in addresses:
            try:
                async with self.db.session() as db_session:
                    box = await mailbox_for(db_session, address)
                    if box is None:  # removed since RCPT
                        continue
                    await do_receive_mail(
                        db_session,
                        box,
                        data,
                        self.settings,
                        envelope_from=envelope.mail_from or "",
                    )
                    await db_session.commit()
            except MailTooLarge:
                return TOO_LARGE
            except MailError as exc:
                return REFUSED.format(reason=str(exc)[:200])
            except Exception:
                log.exception("storing a mail for %s failed", address)
                return TRY_LATER
        return STORED


async def start_mail_server(
    db: Database, settings: Settings, host: str = "127.0.0.1", port: int = 2525
) -> asyncio.Server:
    """Listen for SMTP on ``host``:``port`` (0: any free port) in the running loop."""
    handler = InboundHandler(db, settings)
    name = socket.gethostname()  # once: aiosmtpd would look the name up per connection
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=settings.mail_max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=name,
            ident="xiaoer",
            timeout=60,
        ),
        host,
        port,
    )
