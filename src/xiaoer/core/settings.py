"""Process settings, read from ``XIAOER_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    login_max_failures: int = Field(default=5, gt=0)
    login_lockout_minutes: int = Field(default=15, gt=0)
    cookie_secure: bool = False
    default_language: str = "zh"
    upload_dir: Path | None = Field(
        default=None,
        description="where uploaded imports and their rejects files are kept "
        "(default: xiaoer-uploads in the system's temporary directory)",
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
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_secure(self) -> None:
        """Refuse the shipped secret key anywhere but the demo shop."""
        if self.secret_key == DEFAULT_SECRET_KEY and not self.demo:
            raise InsecureSettingsError(
                "XIAOER_SECRET_KEY is the shipped default; set a long random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
