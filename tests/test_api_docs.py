"""docs/api.md works as written: every example, in order, against the demo shop.

The examples are read out of the markdown, so the docs and this test cannot drift:
each fenced ``sh`` block runs in bash in the demo's folder (``xiaoer`` on the PATH,
``http://127.0.0.1:8000`` being the demo's address), and the fenced ``text`` block
right after it is what it must print. In a documented output ``…`` stands for what
differs from run to run: a whole value (``"id": …``), the rest of a string
(``"xc_…"``) or the other fields of an object (``, …}``). In a command, ``xc_…``
stands for the secret the last ``xiaoer channel add`` printed, as the docs ask the
reader to paste it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import free_port

pytestmark = pytest.mark.database_free

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api.md"
DOCUMENTED_BASE = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.M | re.S)
ANY = "…"


@dataclass
class Example:
    line: int
    command: str
    output: str | None


def examples(markdown: str) -> list[Example]:
    """The ``sh`` blocks, each with the ``text`` block that follows it, if any."""
    blocks = [
        (markdown[: m.start()].count("\n") + 1, m.group(1), m.group(2), m.start(), m.end())
        for m in FENCE.finditer(markdown)
    ]
    found = []
    for index, (line, language, body, _, end) in enumerate(blocks):
        if language != "sh":
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        output = None
        if following and following[1] == "text" and not markdown[end : following[3]].strip():
            output = following[2]
        found.append(Example(line, body, output))
    return found


def _loads_documented(text: str) -> Any:
    """A documented JSON value, its ``…`` made into markers :func:`matches` knows."""
    text = re.sub(r",\s*…\s*}", ', "…": "…"}', text)
    text = re.sub(r":\s*…", ': "…"', text)
    return json.loads(text)


def matches(documented: Any, actual: Any) -> bool:
    if documented == ANY:
        return True
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return False
        others = documented.get(ANY) == ANY
        keys = set(documented) - {ANY}
        if not others and keys != set(actual):
            return False
        return keys <= set(actual) and all(matches(documented[k], actual[k]) for k in keys)
    if isinstance(documented, list):
        return (
            isinstance(actual, list)
            and len(documented) == len(actual)
            and all(matches(d, a) for d, a in zip(documented, actual, strict=True))
        )
    if isinstance(documented, str) and ANY in documented and isinstance(actual, str):
        head, _, tail = documented.partition(ANY)
        return actual.startswith(head) and actual.endswith(tail)
    return bool(documented == actual)


def check_output(documented: str, printed: str) -> None:
    """Each documented line: ``HTTP <status>`` as is, or a JSON value (over several
    lines when the docs wrap it) matched against the printed one."""
    shown = [line for line in printed.splitlines() if line.strip()]
    wanted: list[str] = []
    for line in documented.splitlines():
        if not line.strip():
            continue
        if wanted and not _complete(wanted[-1]):
            wanted[-1] += "\n" + line
        else:
            wanted.append(line)
    assert len(wanted) == len(shown), f"documented:\n{documented}\nprinted:\n{printed}"
    for want, got in zip(wanted, shown, strict=True):
        if want.startswith("HTTP "):
            assert got == want, f"documented {want!r}, printed {got!r}"
            continue
        assert matches(_loads_documented(want), json.loads(got)), (
            f"documented:\n{want}\nprinted:\n{got}"
        )


def _complete(text: str) -> bool:
    if text.startswith("HTTP "):
        return True
    try:
        _loads_documented(text)
    except json.JSONDecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """``xiaoer demo`` started as the README says, in a folder of its own."""
    folder = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = folder / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "xiaoer", "demo", "--port", str(port)],
        cwd=folder,
        env={**env, "COLUMNS": "200"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield folder, base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_docs_examples_are_read_with_their_outputs() -> None:
    found = examples(DOCS.read_text("utf-8"))
    assert len(found) >= 10
    assert found[0].command.startswith("xiaoer channel add jd-store --shop demo")
    curls = [e for e in found if e.command.lstrip().startswith("curl")]
    assert curls and all(e.output and e.output.splitlines()[-1].startswith("HTTP ") for e in curls)


def test_every_example_of_the_api_docs_gives_its_documented_output(
    demo: tuple[Path, str],
) -> None:
    folder, base = demo
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOER_")}
    env.update(PATH=path, COLUMNS="200")
    secret = ""
    for example in examples(DOCS.read_text("utf-8")):
        command = example.command.replace(DOCUMENTED_BASE, base)
        if "xc_…" in command:
            assert secret, f"docs/api.md:{example.line} uses a secret before one was printed"
            command = command.replace("xc_…", shlex.quote(secret))
        done = subprocess.run(
            ["bash", "-e", "-c", command],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        where = f"docs/api.md:{example.line}: {example.command.strip()}\n{done.stderr}"
        assert done.returncode == 0, where
        assert "Traceback" not in done.stderr, where
        if example.output is not None:
            try:
                check_output(example.output, done.stdout)
            except AssertionError as exc:
                raise AssertionError(f"{where}\n{exc}") from exc
        for line in done.stdout.splitlines():
            if line.startswith("{") and '"secret"' in line:
                secret = json.loads(line)["secret"]


def test_the_widget_tag_of_the_docs_loads_the_widget_from_the_xiaoer_server(
    demo: tuple[Path, str],
) -> None:
    _, base = demo
    markdown = DOCS.read_text("utf-8")
    tags = [m.group(2) for m in FENCE.finditer(markdown) if m.group(1) == "html"]
    assert tags, "docs/api.md shows no widget tag"
    src = re.search(r'src="([^"]+)"', tags[0])
    assert src and src.group(1).startswith(DOCUMENTED_BASE)
    widget = httpx.get(src.group(1).replace(DOCUMENTED_BASE, base))
    assert widget.status_code == 200
    assert "javascript" in widget.headers["content-type"]
    for attribute in ("data-shop", "data-lang", "data-nick"):
        assert attribute in tags[0] and f"`{attribute}`" in markdown
