"""The manager changes a knowledge-base answer in place (not delete and add again)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.assistant.models import KnowledgeEntry
from xiaoer.core.db import Database
from xiaoer.shops.models import Shop


async def test_the_manager_edits_an_answer_in_place_with_errors_beside_the_field(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("boss", "manager")
    await make_staff("mei")
    await sign_in(client, "boss")
    listed = await client.post(
        "/assistant/knowledge",
        data={"intent": "stock", "title": "现货", "answer": "有现货的亲",
              "questions": "有货吗", "csrf_token": csrf_from((await client.get(
                  "/assistant/knowledge")).text)},
    )  # fmt: skip
    assert listed.status_code == 303
    async with db.session() as session:
        before = await session.scalar(select(KnowledgeEntry).where(KnowledgeEntry.title == "现货"))
        assert before is not None
        kept_id, count = before.id, len((await session.scalars(select(KnowledgeEntry))).all())

    page = await client.get("/assistant/knowledge")
    assert "/assistant/knowledge/edit?intent=stock&amp;title=%E7%8E%B0%E8%B4%A7" in page.text
    form = await client.get(
        "/assistant/knowledge/edit", params={"intent": "stock", "title": "现货"}
    )
    assert form.status_code == 200 and "有现货的亲" in form.text
    token = csrf_from(form.text)

    # a bad answer is named beside the answer field, and what was typed stays
    bad = await client.post(
        "/assistant/knowledge/edit",
        data={"intent": "stock", "title": "现货", "new_intent": "stock", "new_title": "现货新",
              "answer": "  ", "questions": "还有吗\n几天发", "csrf_token": token},
    )  # fmt: skip
    assert bad.status_code == 422
    assert 'id="kb-answer-error">回答不能为空<' in bad.text
    assert 'value="现货新"' in bad.text and "还有吗\n几天发" in bad.text

    saved = await client.post(
        "/assistant/knowledge/edit",
        data={"intent": "stock", "title": "现货", "new_intent": "stock", "new_title": "现货新",
              "answer": "有现货，今天下单明天发", "questions": "还有吗\n几天发",
              "csrf_token": token},
    )  # fmt: skip
    assert saved.status_code == 303
    async with db.session() as session:
        entry = await session.get(KnowledgeEntry, kept_id)
        assert entry is not None
        assert (entry.title, entry.answer, entry.questions) == (
            "现货新", "有现货，今天下单明天发", ["还有吗", "几天发"],
        )  # fmt: skip
        assert len((await session.scalars(select(KnowledgeEntry))).all()) == count

    # an agent reads the base but may not edit it
    await client.post("/logout", data={"csrf_token": token})
    await sign_in(client, "mei")
    page = await client.get("/assistant/knowledge")
    assert "/assistant/knowledge/edit" not in page.text
    refused = await client.get(
        "/assistant/knowledge/edit", params={"intent": "stock", "title": "现货新"}
    )
    assert refused.status_code == 403
