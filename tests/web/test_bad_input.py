"""Bad input gets a clear 4xx, never a 500, and changes nothing.

Each case here was a 500 (or, for the site API's body, a 50 MB parse) before the
checks in ``xiaoer.http`` (``params``, ``inputs``, ``limits``), ``core.money`` and
``core.sheets``: numbers beyond 64 bits in paths, queries and bodies, a lone
surrogate or ``NaN`` in JSON, ``inf`` typed as an amount, an oversized or hostile
upload. ``test_fuzz.py`` throws random input at every route besides.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from annotated_types import Ge, Le
from fastapi.routing import APIRoute, APIWebSocketRoute
from openpyxl import Workbook
from sqlalchemy import func, select
from starlette.routing import Mount
from websockets.asyncio.client import connect

from tests.conftest import MakeStaff, app_settings, csrf_from, sign_in
from tests.live import serving
from xiaoer.assistant.models import KnowledgeEntry
from xiaoer.core.broker import get_broker
from xiaoer.core.db import Database
from xiaoer.core.models import Event
from xiaoer.orders.models import Order
from xiaoer.performance.models import PayAdjustment, Violation
from xiaoer.reception.bridge import do_add_bridge_channel
from xiaoer.reception.models import Message, QuickPhrase
from xiaoer.sellercentre import jobfiles
from xiaoer.sellercentre.exports import ExportReader
from xiaoer.sellercentre.models import ImportJob
from xiaoer.shops.models import Shop
from xiaoer.web.app import create_app

MAX_ID = 2**63 - 1  # what a BIGINT holds
BIG = str(2**64)  # past 64 bits
ORDER = {
    "number": "S-1", "buyer_id": "b-1", "items": [{"title": "窗帘", "price_fen": 9900}],
    "receiver_name": "周先生", "receiver_phone": "13955556666", "receiver_address": "上海市静安区",
}  # fmt: skip


def every_route(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) for every route and socket of the app, mounted apps included."""
    for route in routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # a router included in another
            yield from every_route(
                route.original_router.routes, prefix + route.include_context.prefix
            )
        elif isinstance(route, Mount) and hasattr(route.app, "routes"):
            yield from every_route(route.app.routes, prefix + route.path)


@pytest.fixture
async def live(db: Database, database_url: str) -> AsyncIterator[str]:
    app = create_app(app_settings(database_url), db=db, broker=get_broker())
    async with serving(app, log_level="warning") as address:
        yield address


async def _channel(db: Database, shop: Shop) -> tuple[int, dict[str, str]]:
    async with db.session() as session:
        channel, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="官网")
        await session.commit()
    return channel.id, {"Authorization": f"Bearer {secret}"}


async def _count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _buyer_texts() -> Any:
    return select(Message.text).where(Message.sender == "buyer").order_by(Message.id)


async def _finished(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:  # the page polls the same way
            job = (await client.get(f"/api/orders/imports/{job_id}")).json()
            if job["status"] != "running":
                return dict(job)
            await asyncio.sleep(0.05)


async def _signed_in(client: httpx.AsyncClient, username: str) -> str:
    assert (await sign_in(client, username)).status_code == 303
    return csrf_from((await client.get("/")).text)


# --- numbers beyond 64 bits ------------------------------------------------------


@pytest.mark.database_free
def test_every_number_in_a_path_or_query_is_held_to_64_bits() -> None:
    app = create_app(app_settings("sqlite:///unused.sqlite"))
    unbounded = []
    for path, route in every_route(app.routes):
        params = [*route.dependant.path_params, *route.dependant.query_params]
        for param in params:
            if param.field_info.annotation is not int:
                continue
            metadata = param.field_info.metadata
            upper = [m.le for m in metadata if isinstance(m, Le)]
            lower = [m.ge for m in metadata if isinstance(m, Ge)]
            if not (upper and upper[0] <= MAX_ID and lower and lower[0] >= 0):
                unbounded.append(f"{path} {param.name}")
    assert not unbounded, "declare these with xiaoer.http.params types: " + ", ".join(unbounded)


async def test_numbers_beyond_64_bits_are_refused_in_paths_and_queries(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    channel, auth = await _channel(db, shop)
    # Unauthenticated first: the bridge and the site API read the channel's number.
    anonymous = [
        ("POST", f"/b/bridge/{BIG}/messages", {"buyer_id": "b", "text": "在吗", "client_id": "1"}),
        ("GET", f"/b/bridge/{channel}/replies?after={BIG}", None),
        ("POST", f"/site/{BIG}/orders", ORDER),
        ("GET", f"/site/{BIG}/orders/S-1", None),
        ("POST", f"/site/{BIG}/orders/S-1/pay", {}),
    ]
    for method, url, body in anonymous:
        answer = await client.request(method, url, json=body, headers=auth)
        assert answer.status_code == 422, (url, answer.text)
        refusal = answer.json()
        assert refusal["code"] == "invalid"
        assert refusal["fields"][0]["code"] == "less_than_equal"
        assert refusal["fields"][0]["detail"].endswith("不能大于 9223372036854775807")
    token = await _signed_in(client, "sup")
    staff = [
        ("GET", f"/orders/{BIG}"),
        ("GET", f"/api/reception/conversations/{BIG}"),
        ("POST", f"/api/orders/tasks/{BIG}/finish"),
        ("GET", f"/performance/kpi/rounds?agent={BIG}"),
        ("GET", f"/api/orders/panel?customer_id={BIG}"),
        ("GET", f"/performance/conversations/-{BIG}"),
    ]
    for method, url in staff:
        answer = await client.request(method, url, headers={"X-CSRF-Token": token})
        assert answer.status_code == 422, (url, answer.text)


async def test_numbers_beyond_64_bits_in_a_body_are_refused(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    _, auth = await _channel(db, shop)
    big_price = {**ORDER, "items": [{"title": "窗帘", "price_fen": int(BIG)}]}
    answer = await client.post(f"/site/{_}/orders", json=big_price, headers=auth)
    assert answer.status_code == 422 and "太大" in answer.json()["detail"]
    token = await _signed_in(client, "sup")
    headers = {"X-CSRF-Token": token}
    suggested = await client.post(
        "/api/assistant/suggestions", json={"conversation_id": int(BIG)}, headers=headers
    )
    assert suggested.status_code == 422
    assert suggested.json()["detail"] == f"数字 {BIG} 太大，最大为 {MAX_ID}"
    assert await _count(db, Order) == 0


# --- text and numbers JSON should not carry ---------------------------------------


async def test_a_lone_surrogate_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database, shop: Shop
) -> None:
    channel, auth = await _channel(db, shop)
    url = f"/b/bridge/{channel}/messages"
    fine = await client.post(
        url, json={"buyer_id": "b", "text": "在吗", "client_id": "1"}, headers=auth
    )
    assert fine.status_code == 200
    events = await _count(db, Event)
    raw = '{"buyer_id": "b", "text": "\\ud800 hi", "client_id": "2"}'
    headers = {**auth, "Content-Type": "application/json"}
    refused = await client.post(url, content=raw, headers=headers)
    assert refused.status_code == 422
    assert "单独的代理码位" in refused.json()["detail"]
    # A pair is a character (here 😀), and goes through.
    paired = '{"buyer_id": "b", "text": "\\ud83d\\ude00", "client_id": "3"}'
    assert (await client.post(url, content=paired, headers=headers)).status_code == 200
    async with db.session() as session:
        texts = list(await session.scalars(_buyer_texts()))
    assert texts == ["在吗", "😀"]
    assert await _count(db, Event) == events + 1


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        ("NaN", "NaN 不是数字"),
        ("Infinity", "Infinity 不是数字"),
        ("-Infinity", "-Infinity 不是数字"),
        ("1e999", "数字 1e999 太大"),
    ],
)
async def test_nan_and_infinite_numbers_are_refused(
    client: httpx.AsyncClient, db: Database, shop: Shop, price: str, reason: str
) -> None:
    channel, auth = await _channel(db, shop)
    body = json.dumps(ORDER).replace('"price_fen": 9900', f'"price_fen": {price}')
    answer = await client.post(
        f"/site/{channel}/orders",
        content=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert reason in answer.json()["detail"]
    assert await _count(db, Order) == 0


async def test_a_refused_body_is_explained_in_the_language_asked_for(
    client: httpx.AsyncClient, db: Database, shop: Shop
) -> None:
    channel, auth = await _channel(db, shop)
    body = json.dumps(ORDER).replace('"price_fen": 9900', '"price_fen": NaN')
    headers = {**auth, "Content-Type": "application/json", "Accept-Language": "en-US,en;q=0.8"}
    answer = await client.post(f"/site/{channel}/orders", content=body, headers=headers)
    assert answer.status_code == 422
    assert answer.json() == {
        "code": "invalid",
        "detail": "NaN is not a number: JSON has no NaN or Infinity",
    }
    assert await _count(db, Order) == 0


async def test_json_nested_too_deep_is_refused(
    client: httpx.AsyncClient, db: Database, shop: Shop
) -> None:
    channel, auth = await _channel(db, shop)
    deep = "[" * 5000 + "]" * 5000
    answer = await client.post(
        f"/b/bridge/{channel}/messages",
        content=deep,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and "JSON 嵌套超过 64 层" in answer.json()["detail"]


async def test_a_socket_frame_with_a_lone_surrogate_is_refused_once(
    live: str, db: Database, shop: Shop
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:
        opened = (await http.post("/b/tea/session", json={})).json()
    async with connect(f"ws://{live}/b/tea/ws?after={opened['after']}") as ws:
        await ws.send(json.dumps({"type": "auth", "token": opened["token"]}))
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send('{"type": "send", "client_id": "c1", "text": "\\udc00"}')
        async with asyncio.timeout(5):
            frame = json.loads(await ws.recv())
        # Not "retry": resending the same frame would fail the same way.
        assert frame["type"] == "error" and "retry" not in frame
        assert "单独的代理码位" in frame["message"]
        await ws.send(json.dumps({"type": "send", "client_id": "c2", "text": "好的"}))
        async with asyncio.timeout(5):
            while (frame := json.loads(await ws.recv()))["type"] != "ack":
                pass
        assert frame["client_id"] == "c2"
    async with db.session() as session:
        assert list(await session.scalars(_buyer_texts())) == ["好的"]


# --- amounts typed in forms ---------------------------------------------------------


@pytest.mark.parametrize("typed", ["inf", "-Infinity", "NaN", "sNaN", "1e99"])
async def test_amounts_that_are_no_amounts_are_refused_with_the_reason(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff, typed: str
) -> None:
    mei = await make_staff("mei")
    await make_staff("sup", "supervisor")
    token = await _signed_in(client, "sup")
    fine = await client.post(
        "/performance/violations",
        data={"agent_id": str(mei.id), "rule": "tracking_neglect", "note": "没跟进",
              "amount_yuan": typed, "csrf_token": token},
    )  # fmt: skip
    assert fine.status_code == 422, fine.text[:300]
    assert "不是以元为单位的金额" in fine.text or "金额过大" in fine.text
    bonus = await client.post(
        "/performance/payroll/adjust",
        data={"month": "2026-11", "kind": "bonus", "agent_id": str(mei.id), "amount_yuan": typed,
              "reason": "奖励", "csrf_token": token},
    )  # fmt: skip
    assert bonus.status_code in (409, 422), bonus.text[:300]
    assert "不是以元为单位的金额" in bonus.text or "金额过大" in bonus.text
    assert await _count(db, Violation) == 0
    assert await _count(db, PayAdjustment) == 0


async def test_an_order_change_typed_as_infinity_is_refused(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    channel, auth = await _channel(db, shop)
    assert (await client.post(f"/site/{channel}/orders", json=ORDER, headers=auth)).is_success
    async with db.session() as session:
        order_id = await session.scalar(select(Order.id))
    await make_staff("sup", "supervisor", level="senior")
    token = await _signed_in(client, "sup")
    answer = await client.post(
        f"/orders/{order_id}/change",
        data={"goods": "Infinity", "reason": "议价", "csrf_token": token},
    )
    assert answer.status_code in (409, 422)
    assert "不是以元为单位的金额" in answer.text
    async with db.session() as session:
        assert await session.scalar(select(Order.goods_fen)) == 9900


# --- sizes -------------------------------------------------------------------------


async def _raw_request(address: str, head: bytes, body: bytes = b"") -> tuple[bytes, bool]:
    """Send ``head`` (and ``body``); the answer's status line and whether the server
    answered before the body was sent."""
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    await writer.drain()
    try:
        async with asyncio.timeout(2):
            status = await reader.readline()
        early = True
    except TimeoutError:
        writer.write(body)
        await writer.drain()
        async with asyncio.timeout(5):
            status = await reader.readline()
        early = False
    writer.close()
    return status, early


async def test_the_site_api_refuses_a_large_body_before_reading_it(
    live: str, db: Database, shop: Shop
) -> None:
    channel, auth = await _channel(db, shop)
    fifty_mb = 50 * 1024 * 1024
    head = (
        f"POST /site/{channel}/orders HTTP/1.1\r\nHost: {live}\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {fifty_mb}\r\n\r\n"
    ).encode()
    status, early = await _raw_request(live, head)
    assert status.startswith(b"HTTP/1.1 413"), status
    assert early, "the 50 MB body had to be sent before the answer came"
    # Without a declared length it is refused as soon as 16 KiB have been read.
    async with httpx.AsyncClient(base_url=f"http://{live}") as http:

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"number": "S-1", "buyer_id": "' + b"x" * 40_000
            yield b'"}'

        answer = await http.post(
            f"/site/{channel}/orders",
            content=chunks(),
            headers={**auth, "Content-Type": "application/json"},
        )
    assert answer.status_code == 413
    assert answer.json()["detail"] == "请求内容太大：最多 16384 字节"
    assert await _count(db, Order) == 0


def _xlsx(rows: list[tuple[str, ...]]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _entity_bomb(rows: list[tuple[str, ...]]) -> bytes:
    """A workbook whose sheet declares nested entities ("billion laughs")."""
    source = zipfile.ZipFile(io.BytesIO(_xlsx(rows)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                declaration = (
                    '<!DOCTYPE worksheet [<!ENTITY a "lol">'
                    + "".join(
                        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'
                        for i in range(9)
                    )
                    + "]>"
                )
                start = text.index("?>") + 2 if text.startswith("<?xml") else 0
                text = text[:start] + declaration + text[start:]
                text = text.replace("<v>", "<v>&j;", 1)
                data = text.encode()
            target.writestr(item, data)
    return out.getvalue()


async def test_a_workbook_with_xml_entities_is_refused_with_the_reason(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager")
    token = await _signed_in(client, "man")
    bomb = _entity_bomb([("快捷编码", "内容"), ("hi", "您好")])
    phrases = await client.post(
        "/reception/phrases/import",
        files={"file": ("bomb.xlsx", bomb, "application/octet-stream")},
        data={"csrf_token": token, "scope": "shop"},
    )
    assert phrases.status_code == 422
    assert "该工作簿声明了 XML 实体，不予接受" in phrases.text
    entries = await client.post(
        "/assistant/knowledge/import",
        files={"file": ("bomb.xlsx", _entity_bomb([("意图", "标题", "回答")]), "x")},
        data={"csrf_token": token},
    )
    assert entries.status_code == 422 and "XML 实体" in entries.text
    assert await _count(db, QuickPhrase) == 0


async def test_an_order_import_of_an_entity_bomb_fails_with_the_reason(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    token = await _signed_in(client, "sup")
    bomb = _entity_bomb([("订单编号", "订单状态", "订单创建时间"), ("1", "x", "y")])
    started = await client.post(
        "/orders/import",
        files={"orders": ("ExportOrderList.xlsx", bomb, "application/octet-stream")},
        data={"csrf_token": token},
    )
    assert started.status_code == 303
    job_url = started.headers["location"]
    job_id = job_url.rsplit("/", 1)[1]
    job = await _finished(client, job_id)
    assert job["status"] == "failed"
    assert job["error"] == "ExportOrderList.xlsx 不是能读取的 .xlsx 工作簿"
    assert await _count(db, Order) == 0


async def test_an_import_file_over_the_cap_is_refused_and_nothing_kept(
    client: httpx.AsyncClient,
    db: Database,
    make_staff: MakeStaff,
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
) -> None:
    monkeypatch.setattr(jobfiles, "MAX_UPLOAD_BYTES", 2 * 1024 * 1024)
    await make_staff("sup", "supervisor")
    token = await _signed_in(client, "sup")
    big = b"x" * (2 * 1024 * 1024 + 1)
    answer = await client.post(
        "/orders/import",
        files={"orders": ("ExportOrderList.csv", big, "text/csv")},
        data={"csrf_token": token},
    )
    assert answer.status_code == 422
    assert "ExportOrderList.csv 超过 2 MB" in answer.text
    assert await _count(db, ImportJob) == 0
    assert not any((data_dir / "imports").glob("job-*"))


async def test_a_phrase_sheet_over_the_cap_is_refused(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    token = await _signed_in(client, "sup")
    answer = await client.post(
        "/reception/phrases/import",
        files={"file": ("p.xlsx", b"x" * (2 * 1024 * 1024 + 1), "x")},
        data={"csrf_token": token},
    )
    assert answer.status_code == 422 and "2 MB" in answer.text


# --- spreadsheets are read off the event loop --------------------------------------


async def test_uploaded_sheets_are_read_off_the_event_loop(
    client: httpx.AsyncClient,
    db: Database,
    make_staff: MakeStaff,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loop's thread only waits: a workbook taking seconds to read stalls nobody.
    Phrase and knowledge workbooks, and an order import's chunks, are read in worker
    threads."""
    import xiaoer.core.sheets as sheets

    loop_thread = threading.get_ident()
    readers: list[int] = []
    load = sheets.load_workbook

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        readers.append(threading.get_ident())
        return load(*args, **kwargs)

    monkeypatch.setattr(sheets, "load_workbook", recording_load)
    records = ExportReader.records

    def recording_records(self: ExportReader) -> Iterator[Any]:
        for record in records(self):
            readers.append(threading.get_ident())
            yield record

    monkeypatch.setattr(ExportReader, "records", recording_records)
    await make_staff("man", "manager")
    token = await _signed_in(client, "man")
    phrases = _xlsx([("快捷编码", "内容"), ("hi", "您好")])
    await client.post(
        "/reception/phrases/import",
        files={"file": ("p.xlsx", phrases, "x")},
        data={"csrf_token": token, "scope": "shop"},
    )
    entries = _xlsx([("意图", "标题", "回答"), ("greeting", "问候", "您好，在的")])
    await client.post(
        "/assistant/knowledge/import",
        files={"file": ("k.xlsx", entries, "x")},
        data={"csrf_token": token},
    )
    assert await _count(db, QuickPhrase) == 1
    assert await _count(db, KnowledgeEntry) >= 1
    assert len(readers) == 2
    orders = "订单编号,订单状态,订单创建时间\r\n1,等待买家付款,2024-03-05 12:00:00\r\n"
    started = await client.post(
        "/orders/import",
        files={"orders": ("ExportOrderList.csv", orders.encode("gbk"), "text/csv")},
        data={"csrf_token": token},
    )
    job_id = started.headers["location"].rsplit("/", 1)[1]
    assert (await _finished(client, job_id))["status"] == "done"
    assert len(readers) == 3
    assert loop_thread not in readers


# --- found by the fuzz test ----------------------------------------------------------


async def test_a_list_behind_a_figure_is_at_most_400_days(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    """``end=9999-12-31`` once built a query of three million day windows."""
    await make_staff("sup", "supervisor")
    await _signed_in(client, "sup")
    for page in ("rounds", "orders", "buyers"):
        answer = await client.get(f"/performance/kpi/{page}?start=2026-01-01&end=9999-12-31")
        assert answer.status_code == 400
        assert "一次最多列出 400 天；2026-01-01 至 9999-12-31 超过了" in answer.text


async def test_the_roster_of_the_last_month_a_date_holds_is_no_error(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("mei")
    await make_staff("sup", "supervisor")
    await _signed_in(client, "sup")
    for month in ("9999-12", "0000-01", "2026-13"):
        answer = await client.get(f"/performance/roster?month={month}")
        assert answer.status_code == 200, month  # the month is ignored: this week is shown


async def test_a_phrase_with_a_control_character_still_exports(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    from openpyxl import load_workbook

    await make_staff("sup", "supervisor")
    token = await _signed_in(client, "sup")
    saved = await client.post(
        "/reception/phrases",
        data={"shortcut": "bell", "text": "您好\x07，在的", "scope": "shop", "csrf_token": token},
    )
    assert saved.status_code == 303
    sheet = await client.get("/reception/phrases.xlsx?scope=shop")
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert (None, "bell", "您好，在的") in rows


async def test_a_page_lists_the_first_200_refused_rows_and_counts_the_rest(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    token = await _signed_in(client, "sup")
    rows = [("快捷编码", "内容"), *[("", f"第{i}条") for i in range(250)]]
    answer = await client.post(
        "/reception/phrases/import",
        files={"file": ("p.xlsx", _xlsx(rows), "x")},
        data={"csrf_token": token, "scope": "own"},
    )
    assert answer.status_code == 200
    assert "拒绝 250。" in answer.text
    assert answer.text.count("<li>第 ") == 200 and "第 201 行" in answer.text
    assert "……另有 50 行被拒绝，未在此逐一列出。" in answer.text
