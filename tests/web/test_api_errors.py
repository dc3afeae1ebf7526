"""Every JSON error in one shape: a stable ``code`` for programs beside the ``detail``
for people, in the caller's language, domain refusals and wrong fields alike."""

import httpx
import pytest

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.reception.bridge import do_add_bridge_channel
from xiaoer.shops.models import Shop

ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
async def channel(db: Database, shop: Shop) -> tuple[int, dict[str, str]]:
    async with db.session() as session:
        created, secret = await do_add_bridge_channel(session, shop_id=shop.id, name="own-site")
        await session.commit()
    return created.id, {"Authorization": f"Bearer {secret}"}


async def test_a_domain_refusal_and_wrong_fields_come_in_one_shape(
    client: httpx.AsyncClient, channel: tuple[int, dict[str, str]]
) -> None:
    cid, auth = channel
    empty = await client.post(
        f"/b/bridge/{cid}/messages",
        json={"buyer_id": "jd_778", "text": "  ", "client_id": "m-1"},
        headers=auth,
    )
    assert empty.status_code == 422
    assert empty.json() == {"code": "empty_message", "detail": "消息不能为空"}

    missing = await client.post(
        f"/b/bridge/{cid}/messages", json={"buyer_id": "jd_778"}, headers=auth
    )
    assert missing.status_code == 422
    assert missing.json() == {
        "code": "invalid",
        "detail": "缺少 text; 缺少 client_id",
        "fields": [
            {"field": "text", "code": "missing", "detail": "缺少 text"},
            {"field": "client_id", "code": "missing", "detail": "缺少 client_id"},
        ],
    }
    assert "input" not in missing.text  # what was sent is never echoed

    zero = await client.post(
        f"/site/{cid}/orders",
        json={
            "number": "S-1",
            "buyer_id": "b",
            "items": [{"title": "窗帘", "price_fen": 1, "quantity": 0}],
        },
        headers={**auth, **ENGLISH},
    )
    assert zero.status_code == 422
    assert zero.json()["code"] == "invalid"
    assert zero.json()["fields"] == [
        {"field": "items.0.quantity", "code": "greater_than_equal",
         "detail": "items.0.quantity must be at least 1"},
    ]  # fmt: skip
    assert zero.json()["detail"] == "items.0.quantity must be at least 1"

    # a rule over several fields says its own sentence, in the caller's language
    order = {"number": "S-2", "buyer_id": " ", "items": [{"title": "窗帘", "price_fen": 1}]}
    for headers, said in (({}, "buyer_id 不能为空"), (ENGLISH, "buyer_id must not be blank")):
        blank = await client.post(f"/site/{cid}/orders", json=order, headers={**auth, **headers})
        assert blank.status_code == 422
        assert blank.json()["code"] == "invalid"
        assert [f["detail"] for f in blank.json()["fields"]] == [said]


async def test_each_kind_of_refusal_has_its_own_code(
    client: httpx.AsyncClient, channel: tuple[int, dict[str, str]]
) -> None:
    cid, auth = channel
    wrong = await client.get(f"/site/{cid}/orders/S-9", headers={"Authorization": "Bearer xc_no"})
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "unknown_channel", "detail": "渠道不存在或密钥不对"}
    unknown = await client.get(f"/site/{cid}/orders/S-9", headers={**auth, **ENGLISH})
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "no_such_order", "detail": "no order S-9 on this channel"}
    big = await client.post(
        f"/site/{cid}/orders",
        content=b'{"number": "' + b"x" * 20000 + b'"}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.json()["code"] == "too_large"
    nothing = await client.get("/api/nothing-here", headers=ENGLISH)
    assert nothing.status_code == 404 and nothing.json() == {
        "code": "not_found",
        "detail": "Not Found",
    }


async def test_a_signed_out_caller_reads_the_language_it_asks_for(
    client: httpx.AsyncClient,
) -> None:
    chinese = await client.get("/api/reception/conversations/1")
    assert chinese.status_code == 401
    assert chinese.json() == {"code": "sign_in_first", "detail": "请先登录"}
    english = await client.get("/api/reception/conversations/1", headers=ENGLISH)
    assert english.status_code == 401
    assert english.json() == {"code": "sign_in_first", "detail": "sign in first"}


async def test_staff_read_their_own_language_whatever_the_browser_asks(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("lina", "agent")
    await sign_in(client, "lina")
    token = csrf_from((await client.get("/")).text)
    refused = await client.post(
        "/api/reception/presence",
        json={"status": "busy"},
        headers={"X-CSRF-Token": token, **ENGLISH},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid"
    assert refused.json()["detail"].startswith("状态 'busy' 无效")
