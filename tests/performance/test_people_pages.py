"""The work log and promotion pages through the real app."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry
from xiaoer.performance.models import ExamResult, WorkLog
from xiaoer.performance.promotion import LEVEL_ACTION
from xiaoer.shops.models import Shop
from xiaoer.shops.service import shop_today
from xiaoer.staff.models import StaffAccount


async def _sign_out(client: httpx.AsyncClient) -> None:
    token = csrf_from((await client.get("/")).text)
    await client.post("/logout", data={"csrf_token": token})


async def test_an_agent_writes_and_the_supervisor_searches(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("mei", name="小美")
    lan = await make_staff("lan", name="小兰")
    await make_staff("boss", "supervisor")
    async with db.session() as session:
        today = await shop_today(session, shop.id)
        session.add(
            WorkLog(
                shop_id=shop.id,
                staff_id=lan.id,
                day=today,
                problems="兰的秘密问题",
                solutions="兰的办法",
            )
        )
        await session.commit()

    await sign_in(client, "mei")
    page = await client.get("/performance/worklog")
    assert page.status_code == 200
    assert 'href="/performance/worklog"' in page.text and 'id="write-log"' in page.text
    assert "兰的秘密问题" not in page.text
    token = csrf_from(page.text)

    # Errors keep what was typed.
    missing = await client.post(
        "/performance/worklog",
        data={
            "day": today.isoformat(),
            "problems": "买家要<退款>",
            "solutions": "",
            "csrf_token": token,
        },
    )
    assert missing.status_code == 400
    assert "请写下问题是怎么解决的" in missing.text and "买家要&lt;退款&gt;" in missing.text
    ahead = await client.post(
        "/performance/worklog",
        data={
            "day": (today + timedelta(days=1)).isoformat(),
            "problems": "a",
            "solutions": "b",
            "csrf_token": token,
        },
    )
    assert ahead.status_code == 400 and "只能为已经到来的日子写工作日志" in ahead.text
    bad_day = await client.post(
        "/performance/worklog",
        data={"day": "tomorrow", "problems": "a", "solutions": "b", "csrf_token": token},
    )
    assert bad_day.status_code == 400 and "日期：&#39;tomorrow&#39; 不是日期" in bad_day.text

    written = await client.post(
        "/performance/worklog",
        data={
            "day": today.isoformat(),
            "problems": "买家要退款但已发货",
            "solutions": "拦截快递后办理退款",
            "csrf_token": token,
        },
    )
    assert written.status_code == 303
    mine = await client.get("/performance/worklog")
    assert "拦截快递后办理退款" in mine.text and "兰的秘密问题" not in mine.text
    # The form shows today's entry to edit.
    assert ">买家要退款但已发货</textarea>" in mine.text
    # Another agent's entries stay closed.
    others = await client.get(f"/performance/worklog?staff_id={lan.id}")
    assert others.status_code == 403 and "兰的秘密问题" not in others.text
    await _sign_out(client)

    await sign_in(client, "boss")
    everyone = await client.get("/performance/worklog")
    assert "拦截快递后办理退款" in everyone.text and "兰的秘密问题" in everyone.text
    assert 'id="write-log"' not in everyone.text  # supervisors keep no log of their own
    found = await client.get("/performance/worklog", params={"q": "退款"})
    assert "拦截快递后办理退款" in found.text and "兰的秘密问题" not in found.text
    by_agent = await client.get("/performance/worklog", params={"staff_id": str(lan.id)})
    assert "兰的秘密问题" in by_agent.text and "拦截快递" not in by_agent.text
    old = (today - timedelta(days=30)).isoformat()
    none = await client.get("/performance/worklog", params={"end": old})
    assert "拦截快递" not in none.text and "没有日志" in none.text
    wrong = await client.get("/performance/worklog", params={"start": "5月1日"})
    assert wrong.status_code == 400 and "开始日期：&#39;5月1日&#39; 不是日期" in wrong.text
    posted = await client.post(
        "/performance/worklog",
        data={
            "day": today.isoformat(),
            "problems": "a",
            "solutions": "b",
            "csrf_token": csrf_from(everyone.text),
        },
    )
    assert posted.status_code == 403


async def test_the_supervisor_records_an_exam_and_promotes(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    mei = await make_staff("mei", name="小美")
    lan = await make_staff("lan", name="小兰")
    boss = await make_staff("boss", "supervisor")
    async with db.session() as session:
        account = await session.get(StaffAccount, mei.id)
        assert account is not None
        account.hired_on = utcnow() - timedelta(days=130)
        await session.commit()
        today = await shop_today(session, shop.id)

    await sign_in(client, "boss")
    page = await client.get("/performance/promotion")
    assert page.status_code == 200
    assert 'href="/performance/promotion"' in page.text
    assert f'id="checklist-{mei.id}"' in page.text and f'id="checklist-{lan.id}"' in page.text
    assert f'id="checklist-{boss.id}"' not in page.text
    token = csrf_from(page.text)

    early = await client.post(
        f"/performance/promotion/{mei.id}/promote", data={"csrf_token": token}
    )
    assert early.status_code == 409 and "还不能升为中级客服：" in early.text
    assert "晋升考试 0/1" in early.text
    missing = await client.post(
        f"/performance/promotion/{99999}/promote", data={"csrf_token": token}
    )
    assert missing.status_code == 404 and "本店没有这名客服" in missing.text

    bad = await client.post(
        "/performance/promotion/exam",
        data={
            "staff_id": str(mei.id),
            "to_level": "intermediate",
            "passed": "yes",
            "score": "120",
            "taken_on": today.isoformat(),
            "note": "补考记录",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 400 and "分数须在 0 到 100 之间" in bad.text
    assert 'value="补考记录"' in bad.text and 'value="120"' in bad.text
    recorded = await client.post(
        "/performance/promotion/exam",
        data={
            "staff_id": str(mei.id),
            "to_level": "intermediate",
            "passed": "yes",
            "score": "88",
            "taken_on": today.isoformat(),
            "note": "",
            "csrf_token": token,
        },
    )
    assert recorded.status_code == 303
    ready = await client.get("/performance/promotion")
    row = ready.text.split(f'id="checklist-{mei.id}"')[1].split("</tr>")[0]
    assert "✗" not in row and "✓" in row and "disabled" not in row

    promoted = await client.post(
        f"/performance/promotion/{mei.id}/promote", data={"csrf_token": token}
    )
    assert promoted.status_code == 303
    async with db.session() as session:
        stored = await session.get(StaffAccount, mei.id)
        assert stored is not None and stored.level == "intermediate"
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == LEVEL_ACTION))
        assert entry is not None and entry.after == {"level": "intermediate"}
        exam = await session.scalar(select(ExamResult))
        assert exam is not None and exam.score == 88 and exam.recorded_by == boss.id
    after = await client.get("/performance/promotion")
    row = after.text.split(f'id="checklist-{mei.id}"')[1].split("</tr>")[0]
    assert "中级客服" in row and "disabled" in row
    again = await client.post(
        f"/performance/promotion/{mei.id}/promote", data={"csrf_token": token}
    )
    assert again.status_code == 409
    await _sign_out(client)

    # An agent sees only their own checklist and may neither record nor promote.
    await sign_in(client, "lan")
    own = await client.get("/performance/promotion")
    assert own.status_code == 200
    assert f'id="checklist-{lan.id}"' in own.text and f'id="checklist-{mei.id}"' not in own.text
    assert 'id="record-exam"' not in own.text
    token = csrf_from(own.text)
    refused = await client.post(
        "/performance/promotion/exam",
        data={
            "staff_id": str(lan.id),
            "to_level": "intermediate",
            "passed": "yes",
            "taken_on": today.isoformat(),
            "csrf_token": token,
        },
    )
    assert refused.status_code == 403
    assert (
        await client.post(f"/performance/promotion/{lan.id}/promote", data={"csrf_token": token})
    ).status_code == 403
    async with db.session() as session:
        assert len(list(await session.scalars(select(ExamResult)))) == 1


async def test_the_pages_speak_english_too(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("amy", "agent", "supervisor", language="en")
    await sign_in(client, "amy")
    log = await client.get("/performance/worklog")
    assert "Work log" in log.text and 'id="write-log"' in log.text and "All agents" in log.text
    promotion = await client.get("/performance/promotion")
    assert "Promotion checklist" in promotion.text and "Record an exam" in promotion.text
