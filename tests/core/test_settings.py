import pytest

from xiaoer.core.settings import (
    DEFAULT_SECRET_KEY,
    InsecureSettingsError,
    Settings,
    async_database_url,
)


@pytest.mark.parametrize(
    ("plain", "full"),
    [
        ("sqlite:///shop.sqlite", "sqlite+aiosqlite:///shop.sqlite"),
        (
            "sqlite:////var/lib/xiaoer/shop.sqlite",
            "sqlite+aiosqlite:////var/lib/xiaoer/shop.sqlite",
        ),
        ("postgresql://postgres@127.0.0.1/shop", "postgresql+asyncpg://postgres@127.0.0.1/shop"),
        ("postgres://u:p@db:5433/shop", "postgresql+asyncpg://u:p@db:5433/shop"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite+aiosqlite:///x.sqlite", "sqlite+aiosqlite:///x.sqlite"),
    ],
)
def test_plain_urls_get_the_async_driver(plain: str, full: str) -> None:
    assert async_database_url(plain) == full


@pytest.mark.parametrize("bad", ["mysql://root@localhost/shop", "shop.sqlite", ""])
def test_unsupported_url_is_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///"):
        async_database_url(bad)


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XIAOER_DATABASE_URL", "postgresql://postgres@127.0.0.1/prod")
    monkeypatch.setenv("XIAOER_REDIS_URL", "redis://127.0.0.1:6379/2")
    monkeypatch.setenv("XIAOER_SECRET_KEY", "a-long-secret-for-production-use")
    settings = Settings()
    assert settings.async_database_url == "postgresql+asyncpg://postgres@127.0.0.1/prod"
    assert settings.redis_url == "redis://127.0.0.1:6379/2"
    settings.check_secure()  # does not raise


def test_default_secret_is_refused_outside_the_demo() -> None:
    settings = Settings(secret_key=DEFAULT_SECRET_KEY, demo=False)
    with pytest.raises(InsecureSettingsError, match="XIAOER_SECRET_KEY"):
        settings.check_secure()
    Settings(secret_key=DEFAULT_SECRET_KEY, demo=True).check_secure()


def test_bad_database_url_in_environment_names_the_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XIAOER_DATABASE_URL", "oracle://scott@db/x")
    with pytest.raises(ValueError, match="unsupported database 'oracle'"):
        Settings()
