"""Keep secrets out of the server's logs.

Uvicorn writes every request's address, query string included, into its access log
(``uvicorn.access``) and every socket's into ``uvicorn.error``. Buyer tokens no
longer travel in addresses, but widgets loaded before still send ``?token=``; their
lines are written with the value replaced. Filters sit on the loggers themselves,
so they hold whatever handlers the logging configuration gives them.
"""

from __future__ import annotations

import logging
import re

LOGGERS = ("uvicorn.access", "uvicorn.error")
REDACTED = "[redacted]"
_SECRET_IN_QUERY = re.compile(r"([?&](?:token|secret)=)[^&\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    return _SECRET_IN_QUERY.sub(rf"\g<1>{REDACTED}", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    """Add the filter to Uvicorn's loggers (once, however many apps are made)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
