"""Models and migrations agree, and ``upgrade head`` builds the schema from nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, inspect

import xiaoer.all_models  # noqa: F401
from tests.conftest import create_scratch_database, drop_scratch_database
from xiaoer.core.db import Base, Database
from xiaoer.core.migrate import current_revision, head_revision, schema_diff, upgrade_async


async def test_models_and_migrations_agree(database_url: str) -> None:
    assert await schema_diff(database_url) == []


async def test_the_check_fails_when_a_model_changes_without_a_migration(
    database_url: str,
) -> None:
    changed = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["shop"].append_column(Column("loyalty_points", Integer))
    diff = await schema_diff(database_url, changed)
    assert [d[0] for d in diff] == ["add_column"]
    assert diff[0][3].name == "loyalty_points"


async def test_upgrade_head_on_an_empty_database(tmp_path: Path) -> None:
    url = create_scratch_database(tmp_path, "empty")
    try:
        await upgrade_async(url)
        assert await current_revision(url) == head_revision()
        db = Database(url)
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await db.dispose()
        assert set(Base.metadata.tables) <= names
        await upgrade_async(url)  # a second run is a no-op
        assert await current_revision(url) == head_revision()
    finally:
        drop_scratch_database(url)


def test_xiaoer_migrate_creates_the_schema_of_a_new_database(tmp_path: Path) -> None:
    url = create_scratch_database(tmp_path, "cli")
    try:
        env = {**os.environ, "XIAOER_DATABASE_URL": url}
        done = subprocess.run(
            [sys.executable, "-m", "xiaoer", "migrate"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert f"revision {head_revision()}" in done.stdout
    finally:
        drop_scratch_database(url)


@pytest.mark.parametrize("url", ["sqlite:////nonexistent-dir/x/y.sqlite"])
def test_migrate_on_an_unreachable_database_fails_clearly(url: str) -> None:
    env = {**os.environ, "XIAOER_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "xiaoer", "migrate"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "could not migrate" in done.stderr
