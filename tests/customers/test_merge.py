"""Given 王芳's Taobao and JD accounts sharing a phone, when the supervisor merges them,
then her file counts the JD order too; when the merge is undone, each stands alone
again; merges the rules forbid are refused and change nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from xiaoer.buyers.models import Customer
from xiaoer.core.db import Database
from xiaoer.core.errors import NotFound, NotPermitted
from xiaoer.core.models import AuditEntry
from xiaoer.customers.file import customer_file
from xiaoer.customers.merges import MergeError, do_merge, do_undo_merge, merge_candidates
from xiaoer.customers.models import CustomerMerge, CustomerStats
from xiaoer.shops.models import Shop
from xiaoer.shops.service import do_create_shop

from .world import NOW, people


async def _stats(db: Database, customer_id: int) -> tuple[int, int] | None:
    async with db.session() as session:
        row = await session.get(CustomerStats, customer_id)
        return (row.orders, row.spent_fen) if row is not None else None


async def test_merge_by_phone_and_undo(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    supervisor = await make_staff("sup", "supervisor")
    async with db.session() as session:
        world = await people(session, shop)
        await session.commit()
    wang, jd = world.ids["wang"], world.ids["wang-jd"]
    # given the JD account shares 王芳's phone, it is her merge candidate
    async with db.session() as session:
        found = await merge_candidates(session, supervisor, wang)
        assert [c.id for c in found] == [jd]
    # when the supervisor merges it into her by phone
    async with db.session() as session:
        merge = await do_merge(session, supervisor, wang, [jd], "phone", now=NOW)
        await session.commit()
    # then her file and her stats count three orders, and the JD account reads as her
    async with db.session() as session:
        seen = await customer_file(session, supervisor, jd, NOW)
        assert seen.person.id == wang
        assert [b.channel for b in seen.buyers] == ["taobao", "jd"]
        assert (seen.orders, seen.spent_fen, seen.price_level) == (3, 37000, "middle")
        assert [m.id for m in seen.merges] == [merge.id]
    assert await _stats(db, wang) == (3, 37000)
    assert await _stats(db, jd) is None
    # merging again, into herself, or the merged account again is refused
    for into, ids, said in ((wang, [wang], "themselves"), (jd, [wang], "themselves")):
        async with db.session() as session:
            with pytest.raises(MergeError) as caught:
                await do_merge(session, supervisor, into, ids, "hand")
            assert said in str(caught.value)
    # when the merge is undone, each account stands for itself again
    async with db.session() as session:
        await do_undo_merge(session, supervisor, merge.id, now=NOW)
        await session.commit()
    async with db.session() as session:
        row = await session.get(Customer, jd)
        assert row is not None and row.merged_into_id is None
        undone = await session.get(CustomerMerge, merge.id)
        assert undone is not None and undone.undone_at == NOW
        assert undone.undone_by_id == supervisor.id
        actions = list(await session.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "customer").order_by(AuditEntry.id)
        ))  # fmt: skip
        assert actions == ["merge", "merge_undone"]
    assert await _stats(db, wang) == (2, 17000)
    assert await _stats(db, jd) == (1, 20000)
    # and undoing twice is refused
    async with db.session() as session:
        with pytest.raises(MergeError, match="undone already"):
            await do_undo_merge(session, supervisor, merge.id)


async def test_merges_the_rules_refuse(db: Database, shop: Shop, make_staff: MakeStaff) -> None:
    supervisor = await make_staff("sup", "supervisor")
    agent = await make_staff("mei", "agent")
    async with db.session() as session:
        world = await people(session, shop)
        far = await do_create_shop(session, code="far", name="远方")
        stranger = Customer(shop_id=far.id, channel="taobao", buyer_id="s", nick="s",
                            phone="13800000001")  # fmt: skip
        erased = Customer(shop_id=shop.id, channel="jd", buyer_id="gone", nick="gone",
                          erased_at=NOW)  # fmt: skip
        session.add_all([stranger, erased])
        await session.commit()
    wang, li = world.ids["wang"], world.ids["li"]
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await do_merge(session, agent, wang, [li], "hand")
        with pytest.raises(MergeError, match="no customer"):
            await do_merge(session, supervisor, wang, [stranger.id], "hand")
        with pytest.raises(NotFound):
            await do_merge(session, supervisor, stranger.id, [wang], "hand")
        with pytest.raises(MergeError, match="erased"):
            await do_merge(session, supervisor, wang, [erased.id], "hand")
        with pytest.raises(MergeError, match="no phone in common"):
            await do_merge(session, supervisor, wang, [li], "phone")
        with pytest.raises(MergeError, match="by phone or by hand"):
            await do_merge(session, supervisor, wang, [li], "guess")
        with pytest.raises(MergeError, match="pick the customers"):
            await do_merge(session, supervisor, wang, [], "hand")
    async with db.session() as session:
        merged = await session.scalar(
            select(Customer.id).where(Customer.merged_into_id.is_not(None))
        )
        assert merged is None and await session.scalar(select(CustomerMerge.id)) is None


async def test_a_later_merge_is_undone_first(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    supervisor = await make_staff("sup", "supervisor")
    async with db.session() as session:
        world = await people(session, shop)
        await session.commit()
    wang, jd, li = world.ids["wang"], world.ids["wang-jd"], world.ids["li"]
    async with db.session() as session:
        first = await do_merge(session, supervisor, wang, [jd], "phone", now=NOW)
        later = await do_merge(session, supervisor, li, [wang], "hand", now=NOW)
        await session.commit()
    async with db.session() as session:
        with pytest.raises(MergeError, match="undo that one first"):
            await do_undo_merge(session, supervisor, first.id)
    async with db.session() as session:
        await do_undo_merge(session, supervisor, later.id)
        await do_undo_merge(session, supervisor, first.id)
        await session.commit()
    async with db.session() as session:
        rows = await session.scalars(select(Customer).where(Customer.id.in_([wang, jd, li])))
        assert {r.id: r.merged_into_id for r in rows} == {wang: None, jd: None, li: None}


async def test_merge_and_undo_through_the_page(
    db: Database, shop: Shop, make_staff: MakeStaff, client: httpx.AsyncClient
) -> None:
    await make_staff("sup", "supervisor")
    async with db.session() as session:
        world = await people(session, shop)
        await session.commit()
    wang, jd = world.ids["wang"], world.ids["wang-jd"]
    await sign_in(client, "sup")
    page = await client.get(f"/customers/{wang}")
    assert f'name="ids" value="{jd}"' in page.text
    token = csrf_from(page.text)
    typo = await client.post(f"/customers/{wang}/merge",
                             data={"csrf_token": token, "more": "abc", "how": "hand"})  # fmt: skip
    assert typo.status_code == 422 and "abc 不是顾客编号" in typo.text
    picked = {"csrf_token": token, "ids": str(jd), "how": "phone"}
    done = await client.post(f"/customers/{wang}/merge", data=picked)
    assert done.status_code == 303 and done.headers["location"] == f"/customers/{wang}?done=merged"
    async with db.session() as session:
        merge_id = await session.scalar(select(CustomerMerge.id))
    undone = await client.post(f"/customers/merges/{merge_id}/undo", data={"csrf_token": token})
    assert undone.status_code == 303
    again = await client.post(f"/customers/merges/{merge_id}/undo", data={"csrf_token": token})
    assert again.status_code == 422 and "这次合并已经撤销过了" in again.text
