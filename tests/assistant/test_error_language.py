"""The assistant's refusals reach staff in their language (DESIGN: Language)."""

import httpx

from tests.assistant.test_approvals import DISCOUNT, _as
from tests.conftest import MakeStaff, csrf_from, sign_in


async def test_a_decided_request_is_refused_in_chinese(
    client: httpx.AsyncClient, chat: int
) -> None:
    agent = await _as(client, "lina")
    asked = await client.post(
        "/api/assistant/approvals", json={"conversation_id": chat, "text": DISCOUNT}, headers=agent
    )
    request_id = asked.json()["id"]
    url = f"/api/assistant/approvals/{request_id}/decision"
    self_approved = await client.post(url, json={"approve": True}, headers=agent)
    assert self_approved.status_code == 403
    assert self_approved.json()["detail"] == "只有主管或经理可以审批请示"

    boss = await _as(client, "boss")
    assert (await client.post(url, json={"approve": False}, headers=boss)).status_code == 200
    again = await client.post(url, json={"approve": True}, headers=boss)
    assert again.status_code == 422
    assert again.json()["detail"] == f"请示 {request_id} 已经处理过了（已驳回）"
    unknown = await client.post(
        "/api/assistant/approvals/9999/decision", json={"approve": True}, headers=boss
    )
    assert unknown.json()["detail"] == "找不到请示 9999"


async def test_the_assistant_api_refuses_in_chinese(client: httpx.AsyncClient, chat: int) -> None:
    agent = await _as(client, "lina")
    missing = await client.post(
        "/api/assistant/suggestions", json={"conversation_id": 4321}, headers=agent
    )
    assert missing.status_code == 404 and missing.json()["detail"] == "找不到会话 4321"
    feedback = await client.post(
        "/api/assistant/feedback",
        json={"buyer_text": "今天天气好", "intent": "weather", "action": "rejected"},
        headers=agent,
    )
    assert feedback.status_code == 422 and feedback.json()["detail"] == "未知的意图 'weather'"


async def test_the_knowledge_page_explains_a_bad_entry_in_chinese(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("zhao", "manager")
    await sign_in(client, "zhao")
    token = csrf_from((await client.get("/assistant/knowledge")).text)
    refused = await client.post(
        "/assistant/knowledge",
        data={"csrf_token": token, "intent": "courier", "title": "快递", "answer": " "},
    )
    assert refused.status_code == 422 and "回答不能为空" in refused.text
    typed = await client.post(
        "/assistant/knowledge",
        data={
            "csrf_token": token,
            "intent": "courier",
            "title": "快递",
            "answer": "亲",
            "bargain_type": "compare",
        },
    )
    assert typed.status_code == 422 and "只有议价回答才填议价类型" in typed.text
    gone = await client.post(
        "/assistant/knowledge/delete",
        data={"csrf_token": token, "intent": "courier", "title": "没有这条"},
    )
    assert gone.status_code == 404 and "找不到知识条目 courier / 没有这条" in gone.text


async def test_a_manager_who_chose_english_reads_english(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("amy", "manager", language="en")
    await sign_in(client, "amy")
    token = csrf_from((await client.get("/assistant/knowledge")).text)
    refused = await client.post(
        "/assistant/knowledge",
        data={"csrf_token": token, "intent": "courier", "title": "快递", "answer": " "},
    )
    assert refused.status_code == 422 and "the answer is empty" in refused.text
