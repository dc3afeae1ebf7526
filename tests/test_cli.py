"""The ``xiaoer`` command as an operator uses it, against a real database file or server."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.conftest import create_scratch_database, drop_scratch_database
from xiaoer.cli import app
from xiaoer.core.migrate import upgrade


@pytest.fixture
def cli_db(tmp_path: Path) -> Iterator[str]:
    url = create_scratch_database(tmp_path, "cli")
    upgrade(url)
    yield url
    drop_scratch_database(url)


def xiaoer(
    url: str, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``xiaoer ARGS`` against the database at ``url`` and return what it printed.

    In this process, through Typer's runner: the command's own code, arguments, exit
    code and output, without a new interpreter importing the app each time (the
    ``python -m xiaoer`` entry itself is run by ``tests/test_demo_command.py``). A
    caller inside an event loop gets a thread of its own, as the commands run theirs.
    """
    runner = CliRunner()
    environment = {"XIAOER_DATABASE_URL": url, "COLUMNS": "200", **env}

    def invoke() -> Result:
        return runner.invoke(app, list(args), input=stdin, env=environment)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        done = invoke()
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            done = pool.submit(invoke).result()
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return subprocess.CompletedProcess(
        ["xiaoer", *args], done.exit_code, done.stdout, done.stderr
    )


def test_shop_add_and_list_as_json(cli_db: str) -> None:
    assert xiaoer(cli_db, "shop", "add", "linen", "棉麻小屋").returncode == 0
    assert xiaoer(cli_db, "shop", "add", "rugs", "地毯铺", "--platform", "tmall").returncode == 0
    listed = xiaoer(cli_db, "shop", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"code": "linen", "name": "棉麻小屋"},
        {"code": "rugs", "name": "地毯铺"},
    ]


def test_shop_add_refuses_a_bad_code(cli_db: str) -> None:
    done = xiaoer(cli_db, "shop", "add", "Bad Code!", "x")
    assert done.returncode == 1
    assert "shop code 'Bad Code!'" in done.stderr


def test_user_add_creates_an_account_that_can_be_listed(cli_db: str) -> None:
    xiaoer(cli_db, "shop", "add", "linen", "棉麻小屋")
    done = xiaoer(
        cli_db,
        "user",
        "add",
        "--username",
        "mei",
        "--number",
        "2001",
        "--name",
        "林美",
        "--role",
        "agent",
        "--role",
        "supervisor",
        "--level",
        "senior",
        "--team",
        "aftersale",
        XIAOER_PASSWORD="a-good-password",
    )
    assert done.returncode == 0, done.stderr
    assert "added mei (2001) to shop linen" in done.stdout
    again = xiaoer(
        cli_db,
        "user",
        "add",
        "--username",
        "mei",
        "--number",
        "2002",
        "--name",
        "x",
        "--role",
        "agent",
        XIAOER_PASSWORD="a-good-password",
    )
    assert again.returncode == 1 and "username 'mei' is taken" in again.stderr


def test_user_add_explains_a_bad_level(cli_db: str) -> None:
    xiaoer(cli_db, "shop", "add", "linen", "棉麻小屋")
    done = xiaoer(
        cli_db,
        "user",
        "add",
        "--username",
        "mei",
        "--number",
        "1",
        "--name",
        "林美",
        "--role",
        "agent",
        "--level",
        "boss",
        XIAOER_PASSWORD="a-good-password",
    )
    assert done.returncode == 1
    assert (
        "level 'boss': expected one of junior, intermediate, senior, account_manager" in done.stderr
    )


async def _sessions(url: str, username: str, start: int = 0) -> list[bool]:
    """Start ``start`` sessions of the account, then tell which of its sessions are ended."""
    from sqlalchemy import select

    from xiaoer.core.db import Database
    from xiaoer.staff.models import StaffSession
    from xiaoer.staff.service import staff_by_username
    from xiaoer.staff.sessions import do_start_session

    db = Database(url)
    try:
        async with db.session() as session:
            account = await staff_by_username(session, username)
            assert account is not None
            for _ in range(start):
                await do_start_session(session, account, address="127.0.0.1", user_agent="")
            await session.commit()
            rows = await session.scalars(
                select(StaffSession.revoked_at).where(StaffSession.staff_id == account.id)
            )
            return [revoked is not None for revoked in rows]
    finally:
        await db.dispose()


def _add_mei(cli_db: str) -> None:
    xiaoer(cli_db, "shop", "add", "linen", "棉麻小屋")
    added = xiaoer(
        cli_db,
        "user",
        "add",
        "--username",
        "mei",
        "--number",
        "1",
        "--name",
        "林美",
        "--role",
        "agent",
        XIAOER_PASSWORD="a-good-password",
    )
    assert added.returncode == 0, added.stderr


def test_user_password_sets_a_new_password_and_ends_the_account_s_sessions(
    cli_db: str,
) -> None:
    import asyncio

    _add_mei(cli_db)
    assert asyncio.run(_sessions(cli_db, "mei", start=2)) == [False, False]
    short = xiaoer(cli_db, "user", "password", "--username", "mei", XIAOER_PASSWORD="short")
    assert short.returncode == 1 and "password too short" in short.stderr
    assert asyncio.run(_sessions(cli_db, "mei")) == [False, False]
    done = xiaoer(
        cli_db, "user", "password", "--username", "mei", XIAOER_PASSWORD="another-good-one"
    )
    assert done.returncode == 0, done.stderr
    assert "new password for mei; sessions ended: 2" in done.stdout
    assert asyncio.run(_sessions(cli_db, "mei")) == [True, True]
    ghost = xiaoer(cli_db, "user", "password", "--username", "ghost", XIAOER_PASSWORD="x" * 12)
    assert ghost.returncode == 1 and "no staff account 'ghost'" in ghost.stderr


def test_user_disable_ends_the_account_s_sessions(cli_db: str) -> None:
    import asyncio

    _add_mei(cli_db)
    asyncio.run(_sessions(cli_db, "mei", start=1))
    done = xiaoer(cli_db, "user", "disable", "--username", "mei")
    assert done.returncode == 0, done.stderr
    assert "disabled mei; sessions ended: 1" in done.stdout
    assert asyncio.run(_sessions(cli_db, "mei")) == [True]
    enabled = xiaoer(cli_db, "user", "enable", "--username", "mei")
    assert enabled.returncode == 0 and "enabled mei" in enabled.stdout
    assert asyncio.run(_sessions(cli_db, "mei")) == [True]


def test_policy_check_reports_each_bad_key(tmp_path: Path, cli_db: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[orders]\nseller_note_minutes = "twenty"\n[fines]\nlatee = 1\n', "utf-8")
    done = xiaoer(cli_db, "policy", "check", str(bad))
    assert done.returncode == 1
    assert "orders.seller_note_minutes = 'twenty': Input should be a valid integer" in done.stderr
    assert "fines.latee: unknown key (value 1)" in done.stderr
    good = tmp_path / "good.toml"
    good.write_text("[orders]\nseller_note_minutes = 15\n", "utf-8")
    assert xiaoer(cli_db, "policy", "check", str(good)).returncode == 0
    missing = xiaoer(cli_db, "policy", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_policy_apply_then_show_by_date(tmp_path: Path, cli_db: str) -> None:
    xiaoer(cli_db, "shop", "add", "linen", "棉麻小屋")
    file = tmp_path / "linen.toml"
    file.write_text("[orders]\nseller_note_minutes = 15\n", "utf-8")
    applied = xiaoer(cli_db, "policy", "apply", str(file), "--from", "2026-12-01")
    assert applied.returncode == 0, applied.stderr
    assert "in force from 2026-12-01" in applied.stdout
    before = xiaoer(cli_db, "policy", "show", "--on", "2026-11-30")
    after = xiaoer(cli_db, "policy", "show", "--on", "2026-12-01")
    assert "seller_note_minutes = 20" in before.stdout
    assert "seller_note_minutes = 15" in after.stdout
    bad_date = xiaoer(cli_db, "policy", "apply", str(file), "--from", "12/01")
    assert bad_date.returncode == 1 and "expected a date like" in bad_date.stderr


def test_policy_apply_needs_a_shop_when_there_are_several(tmp_path: Path, cli_db: str) -> None:
    xiaoer(cli_db, "shop", "add", "linen", "棉麻小屋")
    xiaoer(cli_db, "shop", "add", "rugs", "地毯铺")
    file = tmp_path / "p.toml"
    file.write_text("", "utf-8")
    done = xiaoer(cli_db, "policy", "apply", str(file))
    assert done.returncode == 1
    assert "several shops (linen, rugs): name one with --shop" in done.stderr
    assert xiaoer(cli_db, "policy", "apply", str(file), "--shop", "rugs").returncode == 0


def test_serve_refuses_the_default_secret(cli_db: str) -> None:
    env_key = {k: v for k, v in os.environ.items() if k != "XIAOER_SECRET_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "xiaoer", "serve", "--port", "8799"],
        env={**env_key, "XIAOER_DATABASE_URL": cli_db},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "XIAOER_SECRET_KEY is the shipped default" in done.stderr


# --- which database a command works on -------------------------------------------------

# Commands that read or write a shop's database, as an operator types them.
DATABASE_COMMANDS = [
    ["channel", "add", "jd-store", "--shop", "demo"],
    ["shop", "list"],
    ["shop", "add", "linen", "棉麻小屋"],
    ["user", "disable", "--username", "mei"],
    ["user", "add", "--username", "mei", "--number", "1001", "--name", "林美", "--role", "agent"],
    ["user", "password", "--username", "mei"],
    ["policy", "show"],
    ["payroll", "--month", "2026-11"],
    ["import", "refunds", "nothing.csv"],
    ["assistant", "retrain"],
    ["mail", "outbox"],
    ["worker", "--once"],
    ["serve", "--port", "1"],
]


def _in_folder(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    plain = {k: v for k, v in os.environ.items() if not k.startswith("XIAOER_")}
    return subprocess.run(
        [sys.executable, "-m", "xiaoer", *args],
        cwd=folder,
        env={**plain, "COLUMNS": "80", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_without_a_database_every_command_says_so_and_makes_none(
    tmp_path: Path, command: list[str]
) -> None:
    said = _one_sentence(_in_folder(tmp_path, *command))
    if command[0] == "import":
        assert said == "error: no such file: nothing.csv"
        return
    assert said.startswith("error: no database at xiaoer.sqlite: start the demo with `xiaoer demo`")
    assert "set XIAOER_DATABASE_URL" in said
    assert list(tmp_path.iterdir()) == []  # no empty xiaoer.sqlite left behind


def test_a_database_without_the_schema_is_named_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "shop.sqlite").write_bytes(b"")
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}"
    said = _one_sentence(_in_folder(tmp_path, "shop", "list", XIAOER_DATABASE_URL=url))
    assert said == (
        f"error: the database {url} has no xiaoer tables yet: run `xiaoer migrate` first"
    )


def test_a_database_server_that_does_not_answer_is_one_sentence(tmp_path: Path) -> None:
    url = "postgresql://xiaoer:secret@127.0.0.1:9/shop"
    said = _one_sentence(_in_folder(tmp_path, "shop", "list", XIAOER_DATABASE_URL=url))
    assert said.startswith(
        "error: cannot reach the database postgresql://xiaoer:***@127.0.0.1:9/shop"
    )


def test_in_the_demo_s_folder_commands_work_on_the_demo_s_database(tmp_path: Path) -> None:
    demo = tmp_path / "xiaoer-demo.sqlite"
    upgrade(f"sqlite:///{demo}")
    assert _in_folder(tmp_path, "shop", "add", "demo", "演示店").returncode == 0
    added = _in_folder(tmp_path, "channel", "add", "jd-store", "--shop", "demo")
    assert added.returncode == 0, added.stderr
    assert "using the demo's database xiaoer-demo.sqlite" in added.stderr
    assert json.loads(added.stdout)["channel_id"] == 1
    assert json.loads(added.stdout)["secret"].startswith("xc_")
    listed = _in_folder(tmp_path, "shop", "list", "--json")
    assert json.loads(listed.stdout) == [{"code": "demo", "name": "演示店"}]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite") == [
        "xiaoer-demo.sqlite"
    ]
    # A database named in the environment is the one used, even in the demo's folder.
    other = tmp_path / "other.sqlite"
    said = _one_sentence(
        _in_folder(tmp_path, "shop", "list", XIAOER_DATABASE_URL=f"sqlite:///{other}")
    )
    assert said.startswith(f"error: no database at {other}")
    assert not other.exists()
