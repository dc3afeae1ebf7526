"""The classifier as an operator and the workbench reach it: the CLI and the HTTP API."""

from pathlib import Path

import httpx

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.test_cli import xiaoer

DATA = Path(__file__).resolve().parents[1] / "data" / "assistant" / "messages.tsv"


def test_classify_prints_one_line_per_message_in_order() -> None:
    run = xiaoer(
        "sqlite://", "assistant", "classify", stdin="能便宜点吗？别家才卖八十\n幾天能到貨\n\n"
    )
    assert run.returncode == 0, run.stderr
    lines = [line.split("\t") for line in run.stdout.splitlines()]
    assert [(i, b) for i, b, _ in lines] == [
        ("bargain", "compare"),
        ("arrival_time", "-"),
        ("other", "-"),
    ]
    assert all(0.0 <= float(c) <= 1.0 for _, _, c in lines)
    assert "line 3: an empty message has no intent" in run.stderr


def test_eval_prints_the_figures_the_table_and_the_baseline() -> None:
    run = xiaoer("sqlite://", "assistant", "eval", str(DATA), "--split", "test")
    assert run.returncode == 0, run.stderr
    model, baseline = run.stdout.splitlines()[:2]
    held_out = sum(line.startswith("test\t") for line in DATA.read_text("utf-8").splitlines())
    assert held_out > 800
    assert model.startswith(f"model: n={held_out} accuracy=")
    assert baseline.startswith(f"keyword baseline: n={held_out} accuracy=")
    assert "confusion (rows: labelled, columns: predicted)" in run.stdout


def test_eval_explains_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("split\tintent\tbargain_type\ttext\ntest\tweather\t-\t下雨吗\n", "utf-8")
    run = xiaoer("sqlite://", "assistant", "eval", str(bad))
    assert run.returncode == 2
    assert "bad.tsv:2: unknown intent 'weather'" in run.stderr


async def test_staff_classify_over_http(client: httpx.AsyncClient, make_staff: MakeStaff) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    csrf = {"X-CSRF-Token": csrf_from((await client.get("/")).text)}
    one = await client.post("/api/assistant/classify", json={"text": "能便宜点吗？"}, headers=csrf)
    assert one.status_code == 200, one.text
    assert one.json()["intent"] == "bargain" and one.json()["bargain_type"] is not None
    many = await client.post(
        "/api/assistant/classify", json={"texts": ["在吗", "发什么快递"]}, headers=csrf
    )
    assert [r["intent"] for r in many.json()["results"]] == ["greeting", "courier"]
    neither = await client.post("/api/assistant/classify", json={}, headers=csrf)
    assert neither.status_code == 422
    # the validator's own sentence, in the agent's language, not a generic "not valid"
    said = "请只发 text（一条消息）或 texts（多条消息的列表）其中之一"
    assert neither.json()["fields"][0]["detail"] == said
    assert neither.json()["code"] == "invalid"


async def test_classify_needs_a_signed_in_agent(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/assistant/classify", json={"text": "在吗"})
    assert response.status_code in (401, 403)
