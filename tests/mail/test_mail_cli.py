"""``xiaoer mail box …`` as an operator uses it."""

from __future__ import annotations

import json

from tests.test_cli import cli_db, xiaoer

__all__ = ["cli_db"]


def test_a_mailbox_is_set_from_the_command_line_and_listed_without_passwords(
    cli_db: str,
) -> None:
    assert xiaoer(cli_db, "shop", "add", "tea", "茶香小铺").returncode == 0
    added = xiaoer(
        cli_db, "mail", "box", "add", "--address", "Service@Tea.test", "--smtp-host",
        "smtp.tea.test", "--smtp-user", "service", "--signature", "茶香小铺客服",
        XIAOER_SMTP_PASSWORD="relay-secret-77",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "service@tea.test" in added.stdout
    listed = xiaoer(cli_db, "mail", "box", "list")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["address"], row["smtp"], row["imap"]) == (
        "service@tea.test",
        "smtp.tea.test:587",
        "",
    )
    assert "relay-secret-77" not in listed.stdout + listed.stderr + added.stdout + added.stderr
    wrong = xiaoer(cli_db, "mail", "box", "add", "--address", "nope", "--smtp-host", "x")
    assert wrong.returncode == 1 and "not a mail address" in wrong.stderr
