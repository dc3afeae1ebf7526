"""Process settings, read from ``XIAOER_*`` environment variables."""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_SECRET_KEY = "xiaoer-demo-secret-key-change-me"  # noqa: S105 (refused outside the demo)


class InsecureSettingsError(RuntimeError):
    """Raised when a setting is only acceptable for the demo shop."""


def async_database_url(url: str) -> str:
    """Turn a plain database URL into one naming the async driver.

    Users write ``sqlite:///shop.sqlite`` or ``postgresql://user@host/db``;
    an explicit driver (``postgresql+asyncpg://``) is kept as written.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r} (expected e.g. sqlite:///xiaoer.sqlite)")
    if "+" in scheme:
        return url
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(
        f"unsupported database {scheme!r} in {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def default_data_dir(database_url: str) -> Path:
    """Where the server keeps its files when ``XIAOER_DATA_DIR`` is not set.

    Beside a SQLite database file, a ``xiaoer-data`` folder: the shop's data stays
    together, and a second shop on the same machine has its own. For PostgreSQL,
    ``$XDG_DATA_HOME/xiaoer/<database>`` (else ``~/.local/share/xiaoer/<database>``),
    one folder per database for the same reason.
    """
    url = make_url(async_database_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).expanduser().resolve().parent / "xiaoer-data"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", url.database or "").lstrip(".")
    return Path(base) / "xiaoer" / (name or "default")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XIAOER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///xiaoer.sqlite",
        description="sqlite:///PATH or postgresql://USER@HOST/DB; the async driver is picked",
    )
    redis_url: str | None = Field(
        default=None, description="redis://HOST:PORT/DB; shares events between processes"
    )
    secret_key: str = Field(default=DEFAULT_SECRET_KEY, min_length=16)
    demo: bool = Field(default=False, description="running the demo shop; allows the default key")
    run_timers: bool = Field(
        default=True, description="fire due timers inside `xiaoer serve` (off when workers do it)"
    )
    timer_interval_seconds: float = Field(default=1.0, gt=0)
    session_max_age_seconds: int = Field(default=12 * 3600, gt=0)
    session_check_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often an open workbench socket checks that its session still stands",
    )
    login_max_failures: int = Field(
        default=5, gt=0, description="failed sign-ins of one account from one address"
    )
    login_account_max_failures: int = Field(
        default=50,
        gt=0,
        description="failed sign-ins of one account from all addresses, after which only "
        "addresses it has signed in from may try",
    )
    login_lockout_minutes: int = Field(default=15, gt=0)
    cookie_secure: bool = Field(
        default=False, description="always mark the session cookie Secure (served over HTTPS)"
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses of reverse proxies whose X-Forwarded-Proto "
        "and X-Forwarded-For are believed (default: none)",
    )
    buyer_token_days: int = Field(
        default=30, gt=0, description="a buyer's token expires after this many days unused"
    )
    default_language: str = "zh"
    data_dir: Path | None = Field(
        default=None,
        description="where the server keeps files: uploaded imports and their rejects "
        "files, readable by the server's user only (default: xiaoer-data beside a SQLite "
        "database, else $XDG_DATA_HOME/xiaoer or ~/.local/share/xiaoer)",
    )
    import_stale_seconds: float = Field(
        default=60,
        gt=0,
        description="an import whose process has not written its heartbeat for this long "
        "died with it, and is shown as interrupted",
    )
    mail_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        description="a mail larger than this is refused (SMTP 552) or, polled, left unread",
    )
    mail_attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, description="an attachment larger than this is dropped"
    )
    mail_attachments_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        gt=0,
        description="the attachments kept of one mail, together; those past it are dropped",
    )
    mail_thread_days: int = Field(
        default=14,
        gt=0,
        description="a mail without threading headers joins the sender's conversation of "
        "the same subject within this many days",
    )
    mail_timeout_seconds: float = Field(
        default=20.0, gt=0, description="how long a mail server may take to answer"
    )
    mail_poll_seconds: float = Field(
        default=60.0, gt=0, description="how often `xiaoer mail poll` reads the mailboxes"
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        async_database_url(value)
        return value

    @property
    def async_database_url(self) -> str:
        return async_database_url(self.database_url)

    @property
    def data_path(self) -> Path:
        """The data directory, as set or by default (not created here)."""
        return self.data_dir or default_data_dir(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [item.strip() for item in self.trusted_proxies.split(",") if item.strip()]

    def check_secure(self, host: str | None = None) -> None:
        """Refuse the shipped secret key anywhere but the demo shop on this machine.

        Everyone can read the shipped key, and with it sign a session cookie for any
        account: the demo keeps it only while it listens on a loopback address.
        """
        if self.secret_key != DEFAULT_SECRET_KEY:
            return
        if not self.demo:
            raise InsecureSettingsError(f"XIAOER_SECRET_KEY is the shipped default; {_SET_KEY}")
        if host is not None and not is_loopback(host):
            raise InsecureSettingsError(
                f"the demo listens on {host}, beyond this machine, but XIAOER_SECRET_KEY "
                f"is the shipped default, with which anyone can forge a session; {_SET_KEY}, "
                "or listen on 127.0.0.1"
            )


_SET_KEY = (
    "set a long random value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
)


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
