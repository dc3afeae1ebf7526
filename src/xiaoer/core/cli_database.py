"""Which database a ``xiaoer`` command works on, and whether it is ready for it.

``XIAOER_DATABASE_URL`` names it. Left unset, a command run in the folder where
``xiaoer demo`` made its shop (``xiaoer-demo.sqlite``, and no ``xiaoer.sqlite``)
works on the demo's database, as the docs' examples expect. A command never makes
a database by looking for one: a missing file, an empty or older schema and a
server that does not answer end the command with one sentence saying what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from xiaoer.core.settings import Settings, async_database_url

DEMO_DATABASE = "xiaoer-demo.sqlite"
PLAIN_DATABASE = "xiaoer.sqlite"


class DatabaseNotReady(RuntimeError):
    """The command's database is missing, not migrated, or does not answer."""


def demo_folder() -> bool:
    """Whether a command here works on the demo's database: none is named, and the
    folder holds the demo's file and no ``xiaoer.sqlite``."""
    return (
        not os.environ.get("XIAOER_DATABASE_URL")
        and not Path(PLAIN_DATABASE).exists()
        and Path(DEMO_DATABASE).is_file()
    )


def command_settings(**overrides: Any) -> Settings:
    """The settings of a command, the demo's database in its folder when none is named.

    Raises ``ValueError`` for settings that cannot be used (a bad URL, say)."""
    if "database_url" not in overrides and demo_folder():
        overrides["database_url"] = f"sqlite:///{Path(DEMO_DATABASE).resolve()}"
    return Settings(**overrides)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; ``None`` for another database or one in memory."""
    parsed = make_url(async_database_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database)).expanduser()


def check_file(url: str) -> None:
    """Refuse a SQLite file that is not there, before anything could create it."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise DatabaseNotReady(
            f"no database at {path}: start the demo with `xiaoer demo` and run this in its "
            "folder, or set XIAOER_DATABASE_URL to the shop's database "
            "(create one with `xiaoer migrate`)"
        )


def _revision_and_tables(connection: Connection) -> tuple[str | None, bool]:
    from alembic.migration import MigrationContext

    revision = MigrationContext.configure(connection).get_current_revision()
    return revision, inspect(connection).has_table("shop")


async def check_ready(url: str) -> None:
    """Refuse a database without the newest schema, or one that does not answer."""
    from xiaoer.core.db import make_engine
    from xiaoer.core.migrate import head_revision

    check_file(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            revision, has_tables = await connection.run_sync(_revision_and_tables)
    except (OSError, DBAPIError, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseNotReady(f"cannot reach the database {_shown(url)}: {reason}") from exc
    finally:
        await engine.dispose()
    if revision is None or not has_tables:
        raise DatabaseNotReady(
            f"the database {_shown(url)} has no xiaoer tables yet: run `xiaoer migrate` first"
        )
    if revision != head_revision():
        raise DatabaseNotReady(
            f"the database {_shown(url)} has an older schema ({revision}): "
            "run `xiaoer migrate` first"
        )


def _shown(url: str) -> str:
    """The URL without its password."""
    return make_url(url).render_as_string(hide_password=True)
