"""The manager keeps the knowledge base in the page and as Excel; agents read it (A1)."""

import io

import httpx
from openpyxl import load_workbook
from sqlalchemy import func, select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.reception.test_manage import _xlsx
from xiaoer.assistant.knowledge import default_entries, suggest
from xiaoer.assistant.models import KnowledgeEntry
from xiaoer.core.db import Database
from xiaoer.core.policy import default_policy
from xiaoer.shops.models import Shop


async def _token(client: httpx.AsyncClient) -> str:
    return csrf_from((await client.get("/assistant/knowledge")).text)


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(KnowledgeEntry)) or 0)


async def test_the_manager_changes_an_answer_and_the_assistant_uses_it(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("zhao", "manager")
    await sign_in(client, "zhao")
    page = await client.get("/assistant/knowledge")
    assert page.status_code == 200 and "议价·对比型" in page.text
    assert await _count(db) == 0  # reading stores nothing
    saved = await client.post(
        "/assistant/knowledge",
        data={
            "csrf_token": await _token(client),
            "intent": "courier",
            "title": "快递公司",
            "questions": "发什么快递\n能发顺丰吗",
            "answer": "亲，{shop}全部发{courier}，下午四点前付款当天走。",
        },
    )
    assert saved.status_code == 303
    assert await _count(db) == len(default_entries())  # the defaults adopted, one changed
    async with db.session() as session:
        found = await suggest(session, shop=shop, policy=default_policy(), text="发什么快递")
    assert found.suggestions[0].text == "亲，茶香小铺全部发顺丰，下午四点前付款当天走。"


async def test_a_bad_answer_is_refused_with_its_reason(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("zhao", "manager")
    await sign_in(client, "zhao")
    refused = await client.post(
        "/assistant/knowledge",
        data={
            "csrf_token": await _token(client),
            "intent": "bargain",
            "title": "砍价",
            "answer": "亲",
        },
    )
    assert refused.status_code == 422 and "议价回答要注明议价类型，可选：" in refused.text
    assert await _count(db) == 0


async def test_agents_read_but_do_not_change_the_knowledge_base(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    page = await client.get("/assistant/knowledge")
    assert page.status_code == 200 and 'action="/assistant/knowledge"' not in page.text
    refused = await client.post(
        "/assistant/knowledge",
        data={"csrf_token": await _token(client), "intent": "courier", "title": "x", "answer": "y"},
    )
    assert refused.status_code == 403


async def test_excel_import_reports_bad_rows_keeps_good_ones_and_is_idempotent(
    client: httpx.AsyncClient, db: Database, make_staff: MakeStaff
) -> None:
    await make_staff("zhao", "manager")
    await sign_in(client, "zhao")
    data = _xlsx(
        [
            ("意图", "议价类型", "标题", "示例问题", "回答"),
            ("courier", "", "快递公司", "发什么快递", "亲，只发{courier}"),
            ("bargain", "compare", "比价", "别家便宜", "亲，我们保证正品，{activity}"),
            ("weather", "", "天气", "", "晴"),
            ("stock", "", "库存", "", "还剩{count}件"),
            ("courier", "", "快递公司", "", "重复的"),
        ]
    )
    files = {"file": ("kb.xlsx", data, "application/octet-stream")}
    first = await client.post(
        "/assistant/knowledge/import", files=files, data={"csrf_token": await _token(client)}
    )
    assert first.status_code == 200
    assert "读取 5 行：新增 1，更新 1，未变 0，拒绝 3。" in first.text
    assert "第 4 行: 意图 &#39;weather&#39; 无效" in first.text
    assert "第 5 行: unknown variable {count}" in first.text
    assert "第 6 行: courier / 快递公司 与前面的行重复" in first.text
    second = await client.post(
        "/assistant/knowledge/import", files=files, data={"csrf_token": await _token(client)}
    )
    assert "读取 5 行：新增 0，更新 0，未变 2，拒绝 3。" in second.text
    exported = await client.get("/assistant/knowledge.xlsx")
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    rows = [tuple(c.value for c in r) for r in sheet.iter_rows()]
    assert rows[0] == ("意图", "议价类型", "标题", "示例问题", "回答")
    assert ("courier", None, "快递公司", "发什么快递", "亲，只发{courier}") in rows
    assert len(rows) - 1 == await _count(db)
