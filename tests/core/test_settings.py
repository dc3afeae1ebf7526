from pathlib import Path

import pytest

from xiaoer.core.settings import (
    DEFAULT_SECRET_KEY,
    InsecureSettingsError,
    Settings,
    async_database_url,
    is_loopback,
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


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("shop.example", False),  # a name may resolve to anything
    ],
)
def test_the_demo_keeps_the_shipped_secret_on_loopback_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    demo = Settings(secret_key=DEFAULT_SECRET_KEY, demo=True)
    if loopback:
        demo.check_secure(host)
    else:
        with pytest.raises(InsecureSettingsError, match=f"the demo listens on {host}"):
            demo.check_secure(host)
    Settings(secret_key="a-key-of-the-shop-0123456789", demo=True).check_secure(host)


def test_trusted_proxies_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().trusted_proxy_list == []
    monkeypatch.setenv("XIAOER_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.0/8 ,")
    assert Settings().trusted_proxy_list == ["10.0.0.1", "10.0.0.0/8"]


def test_bad_database_url_in_environment_names_the_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XIAOER_DATABASE_URL", "oracle://scott@db/x")
    with pytest.raises(ValueError, match="unsupported database 'oracle'"):
        Settings()


def test_the_data_directory_sits_beside_a_sqlite_file_else_in_the_users_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XIAOER_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.chdir(tmp_path)
    assert Settings(database_url="sqlite:////var/lib/xiaoer/shop.sqlite").data_path == Path(
        "/var/lib/xiaoer/xiaoer-data"
    )
    assert Settings(database_url="sqlite:///shop.sqlite").data_path == tmp_path / "xiaoer-data"
    assert Settings(database_url="postgresql://xiaoer@db/shop").data_path == (
        tmp_path / "share" / "xiaoer" / "shop"
    )
    assert Settings(database_url="postgresql://xiaoer@db/a/../b").data_path == (
        tmp_path / "share" / "xiaoer" / "a_.._b"
    )
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Settings(database_url="postgresql://xiaoer@db/shop").data_path == (
        tmp_path / "home" / ".local" / "share" / "xiaoer" / "shop"
    )
    monkeypatch.setenv("XIAOER_DATA_DIR", "/srv/xiaoer")
    assert Settings(database_url="sqlite:///shop.sqlite").data_path == Path("/srv/xiaoer")
