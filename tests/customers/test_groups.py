"""Given the small customer base of 2026-06-15, when a supervisor keeps groups, then a
rule group holds whoever its rule picks, a hand group whoever was put in, every change
is audited, and what cannot be done is refused with its reason and changes nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, MakeStaff, csrf_from, sign_in
from xiaoer.core.db import Database
from xiaoer.core.models import AuditEntry
from xiaoer.core.policy import Policy
from xiaoer.customers.filters import matching_ids
from xiaoer.customers.groups import (
    SUGGESTIONS,
    conditions_of,
    do_create_group,
    rule_from_rows,
    rule_rows,
)
from xiaoer.customers.models import CustomerGroup, CustomerGroupMember
from xiaoer.customers.stats import refresh
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop
from xiaoer.staff.models import StaffAccount
from xiaoer.staff.service import do_add_staff

from .world import NOW
from .world import people as world_people


async def _post(client: httpx.AsyncClient, path: str, data: dict[str, object]) -> httpx.Response:
    token = csrf_from((await client.get("/customers/groups")).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def _audits(db: Database) -> list[str]:
    async with db.session() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "customer_group")
            .order_by(AuditEntry.id)
        )
        return list(rows)


def _shown(html: str, ids: dict[str, int]) -> set[str]:
    rows = html.split('id="customers"')[1] if 'id="customers"' in html else ""
    return {key for key, i in ids.items() if f'data-customer="{i}"' in rows}


async def test_the_suggested_rules_pick_what_they_say_on_2026_06_15(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given the base, the JD account not merged, and a supervisor
    async with db.session() as session:
        world = await world_people(session, shop)
        await refresh(session, shop.id, Policy(), now=NOW)
        await session.commit()
    sup = await make_staff("sup", "supervisor")
    names = {v: k for k, v in world.ids.items()}
    async with db.session() as session:
        staff = await session.get(StaffAccount, sup.id)
        assert staff is not None
        picked = {}
        for key, rule in SUGGESTIONS.items():
            # when a group is made from each suggestion
            group = await do_create_group(session, staff, name=key, kind="rule", rule=rule)
            ids = await matching_ids(session, shop.id, conditions_of(group), NOW)
            picked[key] = {names[i] for i in ids}
        await session.commit()
    # then: nobody bought twice in 90 days on one account; 李雷 spent 400 (not over
    # 500); 李雷 (200 days) and 赵敏 (never) have lapsed
    assert picked == {
        "twice_in_90_days": set(),
        "spent_over_500": set(),
        "lapsed_180_days": {"li", "zhao"},
    }


@pytest.mark.database_free
def test_a_rule_reads_from_the_forms_rows_and_back() -> None:
    rule = rule_from_rows(
        ["recent_orders", "", "city", "greetings", "spent"],
        [">=", "", "in", "=", ">="],
        ["2", "", "杭州，上海", "yes", "五百"],
        ["90", "", "", "", ""],
    )
    assert rule == [
        {"field": "recent_orders", "op": ">=", "value": 2, "days": 90},
        {"field": "city", "op": "in", "value": ["杭州", "上海"]},
        {"field": "greetings", "op": "=", "value": True},
        {"field": "spent", "op": ">=", "value": "五百"},  # parse_rule will name it
    ]
    assert rule_rows(rule[:3]) == [
        {"field": "recent_orders", "op": ">=", "value": "2", "days": "90"},
        {"field": "city", "op": "in", "value": "杭州 上海", "days": ""},
        {"field": "greetings", "op": "=", "value": "yes", "days": ""},
    ]


async def test_a_supervisor_keeps_rule_and_hand_groups_from_the_pages(
    db: Database, shop: Shop, client: httpx.AsyncClient, make_staff: MakeStaff
) -> None:
    async with db.session() as session:
        world = await world_people(session, shop)
        await refresh(session, shop.id, Policy(), now=NOW)
        far = await do_create_shop(session, code="far", name="远方")
        far_sup = await do_add_staff(session, shop_id=far.id, username="farsup", number="9",
                                     name="Far", password=PASSWORD,
                                     roles=("supervisor",))  # fmt: skip
        far_group = await do_create_group(session, far_sup, name="远方组", kind="hand")
        await session.commit()
    await make_staff("sup", "supervisor")
    await make_staff("mei", "agent")
    assert (await sign_in(client, "sup")).status_code == 303

    # the suggestion fills the new group's form
    page = await client.get("/customers/groups?suggest=spent_over_500")
    assert page.status_code == 200 and 'value="消费满 500 元"' in page.text
    assert 'value="500"' in page.text

    # a rule group: big spenders over 150 yuan
    made = await _post(client, "/customers/groups", {
        "name": "大客户", "kind": "rule", "note": "",
        "field": ["spent", ""], "op": [">=", ">="], "value": ["150", ""], "days": ["", ""],
    })  # fmt: skip
    assert made.status_code == 303
    rule_group = int(made.headers["location"].rsplit("/", 1)[1])
    members = await client.get(f"/customers/groups/{rule_group}")
    assert _shown(members.text, world.ids) == {"wang", "wang-jd", "li"}
    assert _shown((await client.get(f"/customers/groups/{rule_group}?q=li")).text,
                  world.ids) == {"li"}  # fmt: skip
    listed = await client.get("/customers/groups")
    assert f'href="/customers/groups/{rule_group}"' in listed.text

    # its rule edited: over 300
    edited = await _post(client, f"/customers/groups/{rule_group}", {
        "name": "大客户", "note": "三百以上",
        "field": ["spent"], "op": [">="], "value": ["300"], "days": [""],
    })  # fmt: skip
    assert edited.status_code == 303
    assert _shown((await client.get(f"/customers/groups/{rule_group}")).text,
                  world.ids) == {"li"}  # fmt: skip

    # a rule that cannot be read is refused with its reason, the form kept, nothing changed
    bad = await _post(client, f"/customers/groups/{rule_group}", {
        "name": "大客户", "field": ["spent"], "op": ["has"], "value": ["300"], "days": [""],
    })  # fmt: skip
    assert bad.status_code == 422 and "第 1 个条件" in bad.text
    twice = await _post(client, "/customers/groups", {"name": "大客户", "kind": "hand"})
    assert twice.status_code == 422 and "已经有名为 大客户 的分组" in twice.text
    async with db.session() as session:
        kept = await session.get(CustomerGroup, rule_group)
        assert kept is not None and kept.rule == [{"field": "spent", "op": ">=", "value": 300}]

    # a hand group: one added by phone, two ticked on the list, one removed
    hand = await _post(client, "/customers/groups", {"name": "回访名单", "kind": "hand"})
    hand_group = int(hand.headers["location"].rsplit("/", 1)[1])
    by_phone = await _post(client, f"/customers/groups/{hand_group}/add", {"who": "13800000002"})
    assert by_phone.status_code == 303
    shared = await _post(client, f"/customers/groups/{hand_group}/add", {"who": "13800000001"})
    assert shared.status_code == 422 and "有 2 位客户" in shared.text  # 王芳's two accounts
    listed = await client.get("/customers")
    assert 'id="add-to-group"' in listed.text
    ticked = await _post(client, "/customers/groups/add", {
        "group": str(hand_group), "customer": [str(world.ids["zhao"]), str(world.ids["li"])],
    })  # fmt: skip
    assert ticked.status_code == 303
    group_page = await client.get(f"/customers/groups/{hand_group}")
    assert _shown(group_page.text, world.ids) == {"li", "zhao"}
    removed = await _post(client, f"/customers/groups/{hand_group}/remove",
                          {"customer": str(world.ids["li"])})  # fmt: skip
    assert removed.status_code == 303
    assert _shown((await client.get(f"/customers/groups/{hand_group}")).text,
                  world.ids) == {"zhao"}  # fmt: skip
    into_rule = await _post(client, f"/customers/groups/{rule_group}/add", {"who": "li"})
    assert into_rule.status_code == 422 and "请修改规则" in into_rule.text

    # another shop's group is not found; its customers cannot be added
    assert (await client.get(f"/customers/groups/{far_group.id}")).status_code == 404
    ticks = {"group": str(far_group.id), "customer": str(world.ids["li"])}
    foreign = await _post(client, "/customers/groups/add", ticks)
    assert foreign.status_code == 404

    # deleted, with its members; every change audited
    gone = await _post(client, f"/customers/groups/{hand_group}/delete", {})
    assert gone.status_code == 303
    async with db.session() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(CustomerGroupMember)
            .where(CustomerGroupMember.group_id == hand_group)
        )
        assert left == 0 and await session.get(CustomerGroup, hand_group) is None
    assert await _audits(db) == [
        "created", "created", "changed", "created", "added", "added", "removed", "deleted",
    ]  # fmt: skip

    # an agent may not keep groups
    client.cookies.clear()
    assert (await sign_in(client, "mei")).status_code == 303
    assert (await client.get("/customers/groups")).status_code == 403
    assert 'id="add-to-group"' not in (await client.get("/customers")).text
