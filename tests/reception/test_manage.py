"""The manager prepares automatic replies; agents and the supervisor keep quick phrases,
also as Excel (C2, C4, C5)."""

import asyncio
import io

import httpx
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.reception.conftest import AFTERNOON, MakeAgent, MakeBuyer
from tests.reception.test_conversations import say
from xiaoer.core.db import Database
from xiaoer.reception.models import AutoReply, QuickPhrase
from xiaoer.shops.models import Shop


async def _token(client: httpx.AsyncClient, path: str) -> str:
    return csrf_from((await client.get(path)).text)


def _xlsx(rows: list[tuple[object, ...]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_manager_adds_a_keyword_reply_that_buyers_then_get(
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    make_staff: MakeStaff,
    make_agent: MakeAgent,
    make_buyer: MakeBuyer,
) -> None:
    await make_staff("boss", "manager")
    await sign_in(client, "boss")
    page = await client.get("/reception/auto-replies")
    assert page.status_code == 200 and "首次接待" in page.text
    saved = await client.post(
        "/reception/auto-replies",
        data={
            "kind": "keyword",
            "keywords": "发票， 开票",
            "text": "亲，{shop}可以开电子发票哦",
            "active": "true",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 303
    await make_agent("lina")
    posted = await say(db, shop, await make_buyer("b1"), "能开发票吗")
    answers = [r.text for r in posted.replies if r.meta["auto"] == "keyword"]
    assert len(answers) == 1 and answers[0].endswith("\n亲，茶香小铺可以开电子发票哦")


async def test_a_bad_template_is_refused_and_nothing_saved(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "manager")
    await sign_in(client, "boss")
    token = await _token(client, "/reception/auto-replies")
    async with db.session() as session:
        before = len(list(await session.scalars(select(AutoReply))))
    refused = await client.post(
        "/reception/auto-replies",
        data={
            "kind": "keyword",
            "keywords": "价格",
            "text": "亲，今天价格是{price}",
            "active": "true",
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    assert "unknown variable {price}" in refused.text
    async with db.session() as session:
        assert len(list(await session.scalars(select(AutoReply)))) == before
    no_words = await client.post(
        "/reception/auto-replies",
        data={"kind": "keyword", "keywords": " ， ", "text": "亲", "csrf_token": token},
    )
    assert "关键词回复至少要填一个关键词" in no_words.text


async def test_agents_may_not_change_automatic_replies(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    assert (await client.get("/reception/auto-replies")).status_code == 403


async def test_agent_keeps_own_phrases_and_cannot_write_the_shops(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    agent = await make_staff("lina", "agent")
    await sign_in(client, "lina")
    token = await _token(client, "/reception/phrases")
    saved = await client.post(
        "/reception/phrases",
        data={"shortcut": "hi", "text": "亲，我是{agent}", "scope": "shop", "csrf_token": token},
    )
    assert saved.status_code == 303
    async with db.session() as session:
        phrase = await session.scalar(select(QuickPhrase))
    assert phrase is not None and phrase.owner_id == agent.id


async def test_excel_import_reports_bad_rows_keeps_good_ones_and_is_idempotent(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("mei", "agent", "supervisor")
    await sign_in(client, "mei")
    data = _xlsx(
        [
            ("分组", "快捷编码", "内容", "备注"),
            ("问候", "hi", "亲，欢迎光临{shop}", "x"),
            ("物流", "kd", "默认发{courier}", ""),
            ("物流", "bad code!", "内容", ""),
            ("价格", "jg", "今天{price}", ""),
            (None, None, None, None),
            ("问候", "hi", "重复的编码", ""),
            ("售后", 123, "退换请联系售后", ""),
        ]
    )
    files = {"file": ("phrases.xlsx", data, "application/octet-stream")}
    token = await _token(client, "/reception/phrases")
    first = await client.post(
        "/reception/phrases/import", files=files, data={"scope": "shop", "csrf_token": token}
    )
    assert first.status_code == 200
    assert "读取 6 行：新增 3，更新 0，未变 0，拒绝 3。" in first.text
    assert "第 4 行: 快捷编码 &#39;bad code!&#39; 不可用" in first.text
    assert "第 5 行: unknown variable {price}" in first.text
    assert "第 7 行: 快捷编码 &#39;hi&#39; 与前面的行重复" in first.text
    second = await client.post(
        "/reception/phrases/import", files=files, data={"scope": "shop", "csrf_token": token}
    )
    assert "读取 6 行：新增 0，更新 0，未变 3，拒绝 3。" in second.text
    async with db.session() as session:
        stored = {(p.shortcut, p.owner_id) for p in await session.scalars(select(QuickPhrase))}
    assert stored == {("hi", None), ("kd", None), ("123", None)}
    exported = await client.get("/reception/phrases.xlsx", params={"scope": "shop"})
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    rows = [tuple(c.value for c in r) for r in sheet.iter_rows()]
    assert rows[0] == ("分组", "快捷编码", "内容")
    assert sorted(rows[1:]) == sorted(
        [
            ("问候", "hi", "亲，欢迎光临{shop}"),
            ("物流", "kd", "默认发{courier}"),
            ("售后", "123", "退换请联系售后"),
        ]
    )


async def test_a_file_that_is_not_excel_is_refused_clearly(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    token = await _token(client, "/reception/phrases")
    response = await client.post(
        "/reception/phrases/import",
        files={"file": ("phrases.csv", b"a,b,c\n", "text/csv")},
        data={"csrf_token": token},
    )
    assert response.status_code == 422
    assert "phrases.csv：" in response.text and "Excel" in response.text
    missing = await client.post(
        "/reception/phrases/import",
        files={"file": ("p.xlsx", _xlsx([("分组", "内容"), ("a", "b")]), "x")},
        data={"csrf_token": token},
    )
    assert "缺少列 &#39;快捷编码&#39;" in missing.text


async def test_welcome_unchanged_until_the_manager_edits(
    db: Database, shop: Shop, make_agent: MakeAgent, make_buyer: MakeBuyer
) -> None:
    await make_agent("lina")
    posted = await say(db, shop, await make_buyer("b1"), "在吗", at=AFTERNOON)
    assert "茶香小铺" in posted.replies[0].text


async def test_two_first_edits_at_once_store_the_shipped_replies_once(
    db: Database, shop: Shop
) -> None:
    from xiaoer.reception.autoreply import do_save_auto_reply
    from xiaoer.reception.defaults import DEFAULT_AUTO_REPLIES

    async def edit(word: str) -> None:
        async with db.session() as session:
            await do_save_auto_reply(
                session,
                shop_id=shop.id,
                reply_id=None,
                kind="keyword",
                keywords=[word],
                text=f"关于{word}，请看详情页",
                active=True,
            )
            await session.commit()

    await asyncio.gather(edit("尺寸"), edit("材质"))
    async with db.session() as session:
        stored = list(await session.scalars(select(AutoReply).where(AutoReply.shop_id == shop.id)))
    assert len(stored) == len(DEFAULT_AUTO_REPLIES) + 2
