"""Given a few customers, when a day's greetings are planned and sent, then each
accepting person gets their occasions at their hour, through their channel, within the
month's cap, and every sending is logged."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select, update

from xiaoer.buyers.models import Customer
from xiaoer.core.clock import as_utc
from xiaoer.core.db import Database
from xiaoer.core.errors import NotPermitted
from xiaoer.core.models import Timer
from xiaoer.core.policy import Customers, Policy
from xiaoer.core.policy_store import do_apply_policy
from xiaoer.core.timers import fire_all_due
from xiaoer.customers.edits import do_greetings_off, do_greetings_on
from xiaoer.customers.file import customer_file
from xiaoer.customers.greetings import (
    DEFAULT_TEXTS,
    GreetingError,
    check_template,
    do_plan_day,
    do_save_template,
    do_schedule_daily,
    plan_day,
    words_for,
)
from xiaoer.customers.greetings_send import send_due
from xiaoer.customers.models import Greeting, GreetingTemplate, OnlineProfile
from xiaoer.customers.online import refresh_profiles
from xiaoer.mail.models import Mailbox, MailRecord
from xiaoer.reception.models import Channel, Conversation, Message
from xiaoer.shops.models import Shop

from ..aftersales.commands import xiaoer
from ..conftest import MakeStaff

FESTIVAL = date(2026, 2, 17)  # 春节, a Tuesday


@dataclass
class Base:
    ids: dict[str, int]
    conversations: dict[str, int]


async def _base(db: Database, shop: Shop) -> Base:
    """王芳 chats late at night; 李雷 gave only an e-mail; 赵敏 only a phone; 钱多 opted
    out; 孙俪's JD account was merged into her; 周杰 has a lunar birthday on 正月初一."""
    async with db.session() as session:
        rows = {
            "wang": Customer(shop_id=shop.id, channel="taobao", buyer_id="wang", nick="wang",
                             name="王芳"),
            "li": Customer(shop_id=shop.id, channel="own_site", buyer_id="li", nick="li",
                           name="李雷", email="li@example.com"),
            "zhao": Customer(shop_id=shop.id, channel="taobao", buyer_id="zhao", nick="zhao",
                             name="赵敏", phone="13800000003"),
            "qian": Customer(shop_id=shop.id, channel="taobao", buyer_id="qian", nick="qian",
                             greetings_off_at=datetime(2026, 1, 1, tzinfo=UTC)),
            "sun": Customer(shop_id=shop.id, channel="taobao", buyer_id="sun", nick="sun",
                            name="孙俪"),
            "zhou": Customer(shop_id=shop.id, channel="taobao", buyer_id="zhou", nick="zhou",
                             name="周杰", birth_month=1, birth_day=1, birth_lunar=True),
        }  # fmt: skip
        session.add_all(rows.values())
        await session.flush()
        jd = Customer(shop_id=shop.id, channel="jd", buyer_id="sun-jd", nick="sun-jd",
                      merged_into_id=rows["sun"].id)  # fmt: skip
        session.add(jd)
        await session.flush()
        conversations = {}
        for key, buyer in (("wang", rows["wang"]), ("sun", jd)):
            opened = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, a Monday
            conversation = Conversation(shop_id=shop.id, customer_id=buyer.id, team="presale",
                                        status="closed", opened_at=opened)  # fmt: skip
            session.add(conversation)
            await session.flush()
            conversations[key] = conversation.id
        # 王芳 wrote eight times at 23:xx Shanghai time, on Tuesdays.
        for week in range(8):
            at = datetime(2026, 1, 6, 15, 10, tzinfo=UTC) + timedelta(weeks=week)
            session.add(Message(shop_id=shop.id, conversation_id=conversations["wang"],
                                sender="buyer", text="在吗", created_at=at))  # fmt: skip
        await session.commit()
        return Base({k: c.id for k, c in rows.items()} | {"sun-jd": jd.id}, conversations)


async def test_spring_festival_greets_every_accepting_person_at_their_hour(
    db: Database, shop: Shop
) -> None:
    # Given the customers, their online hours worked out, and an SMS gateway
    world = await _base(db, shop)
    policy = Policy(customers=Customers(sms_gateway="http://127.0.0.1:9/sms"))
    async with db.session() as session:
        assert await refresh_profiles(session, shop.id, policy) == 1
        await session.commit()
        profile = await session.get(OnlineProfile, world.ids["wang"])
        assert profile is not None and profile.samples == 8 and profile.confidence == 0.5714
        # When 2026-02-17 (春节) is planned
        plan = await plan_day(session, shop, policy, FESTIVAL)
    # Then every accepting person gets the holiday, in shop time with its offset
    assert plan.holiday == "春节" and plan.calendar_known
    items = {(i.customer, i.kind): i for i in plan.items}
    ids = world.ids
    holiday = {who for who, kind in items if kind == "holiday"}
    assert holiday == {ids["wang"], ids["li"], ids["zhao"], ids["sun"], ids["zhou"]}
    wang = items[(ids["wang"], "holiday")]
    assert wang.send_at.isoformat() == "2026-02-17T21:00:00+08:00"  # before quiet hours
    assert wang.channel == "chat" and wang.title == "春节" and "王芳" in wang.text
    assert items[(ids["li"], "holiday")].channel == "email"
    assert items[(ids["zhao"], "holiday")].channel == "sms"
    assert items[(ids["sun"], "holiday")].channel == "chat"  # through the merged JD account
    assert items[(ids["zhou"], "holiday")].send_at.isoformat() == "2026-02-17T10:00:00+08:00"
    # 周杰's lunar birthday is 正月初一 too: a second greeting, the cap (2) allows it.
    assert items[(ids["zhou"], "birthday")].kind == "birthday"
    assert len(plan.items) == 6

    # Given a cap of one a month: the birthday is left out, the holiday kept.
    async with db.session() as session:
        one = Policy(customers=Customers(greetings_per_month=1))
        capped = await plan_day(session, shop, one, FESTIVAL)
    assert (len(capped.items), capped.capped) == (5, 1)
    assert {i.kind for i in capped.items} == {"holiday"}

    # The worked day before the holiday and its second day greet nobody for it.
    async with db.session() as session:
        assert (await plan_day(session, shop, policy, date(2026, 2, 14))).items == []
        assert (await plan_day(session, shop, policy, date(2026, 2, 18))).items == []


async def test_planning_twice_stores_once_and_the_sender_logs_every_greeting(
    db: Database, shop: Shop
) -> None:
    world = await _base(db, shop)
    received: list[dict[str, Any]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"id": "sms-1"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        gateway = f"http://127.0.0.1:{server.server_address[1]}/sms"
        policy = Policy(customers=Customers(sms_gateway=gateway))
        async with db.session() as session:
            await do_apply_policy(session, shop_id=shop.id, policy=policy, source="test",
                                  effective_from=date(2026, 1, 1), actor="test")  # fmt: skip
            # 孙俪's conversation came by mail; the shop's relay does not answer.
            mail = Channel(shop_id=shop.id, kind="email", name="邮箱")
            session.add(mail)
            await session.flush()
            box = Mailbox(shop_id=shop.id, channel_id=mail.id, address="kf@tea.example",
                          smtp_host="127.0.0.1", smtp_port=9, smtp_starttls=False)  # fmt: skip
            session.add(box)
            await session.flush()
            session.add(MailRecord(shop_id=shop.id, mailbox_id=box.id, direction="in",
                                   conversation_id=world.conversations["sun"],
                                   status="received", mail_id="a1@sun.example",
                                   peer="sun@sun.example", subject="退货"))  # fmt: skip
            await refresh_profiles(session, shop.id, policy)
            # When the festival is planned and stored twice
            _, added = await do_plan_day(session, shop, policy, FESTIVAL)
            _, again = await do_plan_day(session, shop, policy, FESTIVAL)
            await session.commit()
        # Then the second time adds nothing
        assert (added, again) == (6, 0)

        # Given 王芳 opts out after the plan was made
        async with db.session() as session:
            await session.execute(
                update(Customer)
                .where(Customer.id == world.ids["wang"])
                .values(greetings_off_at=datetime(2026, 2, 16, tzinfo=UTC))
            )
            await session.commit()
        # When the sender runs at 10:00 and again at 21:00 Shanghai time
        async with db.session() as session:
            morning = await send_due(session, shop.id, datetime(2026, 2, 17, 2, 0, tzinfo=UTC))
            evening = await send_due(session, shop.id, datetime(2026, 2, 17, 13, 0, tzinfo=UTC))
            await session.commit()
        # Then at 10:00: 赵敏's SMS and 孙俪's chat went, 李雷's mail failed (the relay
        # refused it), 周杰's two were skipped (no conversation to post them in)
        assert morning == {"sent": 2, "skipped": 2, "failed": 1}
        # … and at 21:00 王芳's was skipped: she opted out
        assert evening == {"sent": 0, "skipped": 1, "failed": 0}
        async with db.session() as session:
            log = {
                (g.customer_id, g.kind): g
                for g in await session.scalars(select(Greeting).where(Greeting.shop_id == shop.id))
            }
            assert all(g.status != "planned" and g.sent_at is not None for g in log.values())
            ids = world.ids
            wang = log[(ids["wang"], "holiday")]
            assert (wang.status, wang.reason) == ("skipped", "opted_out")
            li = log[(ids["li"], "holiday")]
            assert li.status == "failed" and li.reason.startswith("ConnectionRefusedError")
            assert log[(ids["zhao"], "holiday")].status == "sent"
            zhou = log[(ids["zhou"], "birthday")]
            assert (zhou.status, zhou.reason) == ("skipped", "no_conversation")
            # 孙俪's greeting is a message in her JD account's conversation.
            posted = await session.scalars(
                select(Message).where(Message.conversation_id == world.conversations["sun"])
            )
            texts = [m.text for m in posted]
            assert len(texts) == 1 and "新春快乐" in texts[0] and "孙俪" in texts[0]
            # … and, her case having come by mail, a reply in its thread waits to be sent.
            assert log[(ids["sun"], "holiday")].channel == "email"
            reply = await session.scalar(select(MailRecord).where(MailRecord.direction == "out"))
            assert reply is not None and reply.peer == "sun@sun.example"
            assert reply.in_reply_to == "a1@sun.example" and reply.body == texts[0]
    finally:
        server.shutdown()
        thread.join()
    # The gateway got 赵敏's greeting as JSON.
    assert received == [
        {
            "shop": "tea",
            "greeting": log[(ids["zhao"], "holiday")].id,
            "kind": "holiday",
            "to": "13800000003",
            "text": log[(ids["zhao"], "holiday")].text,
        }
    ]


async def test_templates_refuse_unknown_variables(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    boss = await make_staff("boss", "supervisor")
    agent = await make_staff("amy", "agent")
    with pytest.raises(GreetingError, match="unknown variable"):
        check_template("birthday", "default", "{name}，{age}岁生日快乐")
    with pytest.raises(GreetingError, match="not closed"):
        check_template("birthday", "default", "{name，生日快乐")
    async with db.session() as session:
        with pytest.raises(NotPermitted):
            await do_save_template(session, agent, kind="birthday", name="default", body="生日快乐")
        saved = await do_save_template(
            session, boss, kind="holiday", name="spring_festival", body="{name}，{shop}拜年啦！"
        )
        await session.commit()
        assert saved.id is not None


async def test_the_command_prints_the_plan_as_json_last(
    db: Database, shop: Shop, database_url: str
) -> None:
    await _base(db, shop)
    items, err = await xiaoer(database_url, "greetings", "plan", "--date", "2026-02-17", "--json")
    assert isinstance(items, list) and len(items) == 6
    assert all({"customer", "kind", "send_at", "channel"} <= set(i) for i in items)
    assert {i["kind"] for i in items} == {"holiday", "birthday"}
    assert all(i["send_at"].endswith("+08:00") for i in items)
    _, err = await xiaoer(database_url, "greetings", "plan", "--date", "2027-02-06", "--json")
    assert "no holidays for 2027" in err
    # Stored, then sent by the command (the festival is past): every greeting is logged.
    save = ("greetings", "plan", "--date", "2026-02-17", "--save", "--json")
    _, err = await xiaoer(database_url, *save)
    assert "stored 6 new greetings" in err
    done, _ = await xiaoer(database_url, "greetings", "send")
    assert done == {"sent": 2, "skipped": 3, "failed": 1}


async def test_the_nightly_timer_plans_the_day_and_the_sender_sends_it_when_due(
    db: Database, shop: Shop
) -> None:
    # Given the customers and the nightly timer set on 2026-02-16
    world = await _base(db, shop)
    async with db.session() as session:
        await do_schedule_daily(session, shop.id, now=datetime(2026, 2, 16, 4, 0, tzinfo=UTC))
        await session.commit()
    # When the timers fire at 00:10 on the 17th (Shanghai): the day is planned
    assert await fire_all_due(db, now=datetime(2026, 2, 16, 16, 10, tzinfo=UTC)) == 1
    async with db.session() as session:
        planned = list(await session.scalars(select(Greeting).order_by(Greeting.id)))
        assert len(planned) == 6 and {g.status for g in planned} == {"planned"}
        assert await session.get(OnlineProfile, world.ids["wang"]) is not None
    # … and at 10:00 the sender handles the 10:00 greetings, not 王芳's of 21:00
    assert await fire_all_due(db, now=datetime(2026, 2, 17, 2, 0, tzinfo=UTC)) == 1
    async with db.session() as session:
        left = await session.scalars(select(Greeting).where(Greeting.status == "planned"))
        assert [g.customer_id for g in left] == [world.ids["wang"]]
        due = await session.scalars(
            select(Timer.due_at).where(Timer.kind == "greetings.send", Timer.fired_at.is_(None))
        )
        assert [as_utc(d) for d in due] == [datetime(2026, 2, 17, 13, 0, tzinfo=UTC)]


async def test_the_file_reads_the_online_hours_of_its_own_shops_person(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    world = await _base(db, shop)
    agent = await make_staff("amy", "agent")
    async with db.session() as session:
        await refresh_profiles(session, shop.id, Policy())
        await session.commit()
        wang = await customer_file(session, agent, world.ids["wang"])
        assert wang.heat is not None and wang.heat.samples == 8
        assert (await customer_file(session, agent, world.ids["li"])).heat is None  # never wrote
        # 孙俪's JD account leads to her, who has no sample of her own either
        assert (await customer_file(session, agent, world.ids["sun-jd"])).heat is None


@pytest.mark.database_free
def test_words_switched_off_fall_back_or_stop_the_kind() -> None:
    own = GreetingTemplate(id=7, kind="holiday", name="spring_festival", body="拜年", active=False)
    known: dict[tuple[str, str], Any] = {**DEFAULT_TEXTS, ("holiday", "spring_festival"): own}
    # The festival's own words switched off: the holiday's default words are used.
    assert words_for(known, "holiday", "spring_festival") == (
        DEFAULT_TEXTS[("holiday", "default")],
        None,
    )
    # The birthday's words switched off: no birthday greeting at all.
    off = GreetingTemplate(id=8, kind="birthday", name="default", body="生日", active=False)
    assert words_for({**known, ("birthday", "default"): off}, "birthday") is None
    assert words_for(known, "anniversary") == (DEFAULT_TEXTS[("anniversary", "default")], None)


async def test_an_agent_records_the_opt_out_of_a_buyer_of_their_shop(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    world = await _base(db, shop)
    agent = await make_staff("amy", "agent")
    async with db.session() as session:
        at = datetime(2026, 2, 16, 12, 0, tzinfo=UTC)
        # Said through the JD account, it stops the person's greetings.
        person = await do_greetings_off(session, agent, world.ids["sun-jd"], now=at)
        assert person.id == world.ids["sun"] and person.greetings_off_at == at
        await session.commit()
        plan = await plan_day(session, shop, Policy(), FESTIVAL)
        assert world.ids["sun"] not in {i.customer for i in plan.items}
        await do_greetings_on(session, agent, world.ids["sun"])
        await session.commit()
        plan = await plan_day(session, shop, Policy(), FESTIVAL)
        assert world.ids["sun"] in {i.customer for i in plan.items}
