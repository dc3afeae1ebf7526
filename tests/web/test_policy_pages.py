"""The shop policy page: who reads it, who changes it, and a change as a new version.

Routes of the policy name no object (the shop is the signed-in account's), so the
role walk lists them as such; this file walks each role through them instead, and a
manager of another shop whose change stays in that shop.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry, PolicyVersion
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop, shop_today
from xiaoer.staff.service import do_add_staff

FIELD = re.compile(r'name="(fines\.[a-z_0-9]+)" value="([^"]*)"')
ERROR = re.compile(r'id="error-([a-z_.0-9-]*)"[^>]*>([^<]*)<')


async def _versions(db: Database, shop_id: int) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(PolicyVersion).where(PolicyVersion.shop_id == shop_id)
        )
        return int(count or 0)


async def _fines_form(client: httpx.AsyncClient) -> dict[str, str]:
    page = await client.get("/policy/fines")
    assert page.status_code == 200
    data = dict(FIELD.findall(page.text))
    data["csrf_token"] = csrf_from(page.text)
    return data


@pytest.mark.parametrize(
    ("role", "reads", "changes"),
    [
        ("agent", 403, 403),
        ("supervisor", 200, 403),
        ("manager", 200, 200),
        ("admin", 200, 200),
        ("auditor", 403, 403),
        ("warehouse", 403, 403),
    ],
)
async def test_each_role_reads_or_changes_the_policy_as_allowed(
    role: str,
    reads: int,
    changes: int,
    client: httpx.AsyncClient,
    db: Database,
    shop: Shop,
    make_staff: MakeStaff,
) -> None:
    await make_staff("who", role)
    assert (await sign_in(client, "who")).status_code == 303
    page = await client.get("/policy")
    assert page.status_code == reads
    if reads == 200:
        assert ('href="/policy/fines"' in page.text) == (changes == 200)
    form = await client.get("/policy/fines")
    assert form.status_code == changes
    token = csrf_from((await client.get("/")).text)
    posted = await client.post(
        "/policy/fines",
        data={"csrf_token": token, "step": "save", "fines.late": "30",
              "effective_from": (await _today(db, shop)).isoformat()},
    )  # fmt: skip
    assert posted.status_code == (422 if changes == 200 else 403)
    assert await _versions(db, shop.id) == 0


async def _today(db: Database, shop: Shop) -> object:
    async with db.session() as session:
        return await shop_today(session, shop.id)


async def test_a_bad_value_is_shown_beside_its_field_and_nothing_typed_is_lost(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager")
    await sign_in(client, "man")
    data = await _fines_form(client)
    data.update({"fines.late": "35.5", "fines.slow_reply": "五十",
                 "fines.late_free_per_month": "-1", "effective_from": "2099-01-01",
                 "step": "preview"})  # fmt: skip
    answer = await client.post("/policy/fines", data=data)
    assert answer.status_code == 422
    assert dict(ERROR.findall(answer.text)) == {
        "fines-slow_reply": "&#39;五十&#39; 不是以元为单位的金额",
        "fines-late_free_per_month": "不能小于 0",
    }
    kept = dict(FIELD.findall(answer.text))
    assert (kept["fines.late"], kept["fines.slow_reply"]) == ("35.5", "五十")
    assert 'value="2099-01-01"' in answer.text
    assert await _versions(db, shop.id) == 0


async def test_a_change_is_previewed_then_saved_as_a_version_with_its_author(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager")
    await sign_in(client, "man")
    data = await _fines_form(client)
    data.update({"fines.late": "30", "effective_from": "2099-01-01", "step": "preview"})
    preview = await client.post("/policy/fines", data=data)
    assert preview.status_code == 200
    assert "<td>迟到</td><td>20 元</td><td>→</td><td><b>30 元</b></td>" in preview.text
    assert await _versions(db, shop.id) == 0
    digest = re.search(r'name="previewed" value="([^"]+)"', preview.text)
    assert digest is not None
    # a save of other values than those previewed shows the preview again
    changed = {**data, "fines.late": "40", "step": "save", "previewed": digest.group(1)}
    again = await client.post("/policy/fines", data=changed)
    assert again.status_code == 200 and "预览之后内容又有改动" in again.text
    assert await _versions(db, shop.id) == 0
    saved = await client.post(
        "/policy/fines", data={**data, "step": "save", "previewed": digest.group(1)}
    )
    assert saved.status_code == 303
    async with db.session() as session:
        version = await session.scalar(
            select(PolicyVersion).where(PolicyVersion.shop_id == shop.id)
        )
        assert version is not None
        assert (version.created_by, version.effective_from.isoformat()) == ("man", "2099-01-01")
        assert version.data["fines"]["late"] == 3000
        assert version.data["fines"]["slow_reply"] == 5000  # the rest as it was
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "policy"))
        assert audit is not None and audit.actor == "man"
    page = await client.get("/policy")
    assert "罚款 · 迟到：20 元 → <b>30 元</b>" in page.text


async def test_the_policy_page_shows_values_as_people_write_them(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("sup", "supervisor")
    await sign_in(client, "sup")
    page = (await client.get("/policy")).text
    for python in ("True", "False", "['", "{'", "Decimal"):
        assert python not in page, python
    assert "14:00-17:00、19:00-22:00" in page
    assert "0.5%" in page  # the commission rate, 0.005
    assert "2,700 元" in page  # an account manager's base pay, 270000 fen


async def test_a_manager_changes_only_their_own_shops_policy(
    client: httpx.AsyncClient, db: Database, shop: Shop
) -> None:
    async with db.session() as session:
        far = await do_create_shop(session, code="far", name="远方小店")
        await do_add_staff(
            session, shop_id=far.id, username="farman", number="F1", name="远店长",
            password=PASSWORD, roles=["manager"],
        )  # fmt: skip
        await session.commit()
    await sign_in(client, "farman")
    data = await _fines_form(client)
    data.update({"fines.late": "30", "effective_from": "2099-01-01", "step": "preview"})
    preview = await client.post("/policy/fines", data=data)
    digest = re.search(r'name="previewed" value="([^"]+)"', preview.text)
    assert digest is not None
    saved = await client.post(
        "/policy/fines", data={**data, "step": "save", "previewed": digest.group(1)}
    )
    assert saved.status_code == 303
    assert (await _versions(db, far.id), await _versions(db, shop.id)) == (1, 0)


async def test_an_unknown_section_is_not_found(
    client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    await make_staff("man", "manager")
    await sign_in(client, "man")
    assert (await client.get("/policy/bogus")).status_code == 404
