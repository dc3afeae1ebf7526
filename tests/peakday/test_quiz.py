"""The activities quiz (D2): generated from the shop's activities, taken by each agent,
scored and kept; the leaders see every agent's latest, an agent only their own; the
readiness checklist counts who passed a quiz covering the current activity set."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from tests.conftest import MakeStaff, csrf_from, sign_in
from tests.peakday.activity_world import ZONE, double_eleven
from xiaoer.core.clock import utcnow
from xiaoer.core.db import Database
from xiaoer.core.policy import Policy
from xiaoer.core.send_checks import blocks_for
from xiaoer.peakday.activities import ActivityInput, do_create_activity, do_update_activity
from xiaoer.peakday.activity_models import QuizAttempt
from xiaoer.peakday.quiz import make_quiz, quiz_for, quiz_readiness
from xiaoer.shops.models import Shop
from xiaoer.staff.models import StaffAccount


def test_a_quiz_asks_about_every_activity_with_one_right_answer_among_four() -> None:
    activities = [a for a in double_eleven() if a.id != 8]
    quiz = make_quiz(activities, "7|0", 8, ZONE, 0.8)
    assert len(quiz.questions) == 8
    assert {q.promotion_id for q in quiz.questions} == {a.id for a in activities}
    for question in quiz.questions:
        assert len(set(question.options)) == len(question.options) >= 2
    reduction = next(q for q in quiz.questions if q.text == "「双十一满减」满多少减多少？")
    assert reduction.options[reduction.correct] == "满299减30、满599减70"
    assert quiz.pass_mark == 7
    # the same agent, set and attempt number give the same quiz; the next attempt another
    assert make_quiz(activities, "7|0", 8, ZONE, 0.8) == quiz
    assert make_quiz(activities, "7|1", 8, ZONE, 0.8).questions != quiz.questions


async def _activities(db: Database, leader: StaffAccount) -> list[int]:
    now = utcnow()
    async with db.session() as session:
        made = [
            await do_create_activity(session, leader, ActivityInput(
                "full_reduction", "双十一满减", "", now - timedelta(days=1),
                now + timedelta(days=9), {"tiers": "满299减30\n满599减70"})),
            await do_create_activity(session, leader, ActivityInput(
                "time_discount", "限时折扣", "", now + timedelta(days=3),
                now + timedelta(days=4), {"percent_off": "20"})),
        ]  # fmt: skip
        await session.commit()
        return [m.id for m in made]


async def _answer_right(db: Database, agent: StaffAccount) -> dict[str, str]:
    async with db.session() as session:
        quiz = await quiz_for(session, agent)
    return {f"q{n}": str(q.correct) for n, q in enumerate(quiz.questions)} | {
        "fingerprint": quiz.fingerprint
    }


async def test_an_agent_takes_the_quiz_and_the_supervisor_sees_the_score(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    # given two agents and the shop's activities
    sup = await make_staff("sup", "supervisor")
    mei = await make_staff("mei", "agent", name="美美")
    await make_staff("bo", "agent", name="阿博")
    await _activities(db, sup)
    async with db.session() as session:
        assert await quiz_readiness(session, shop.id, utcnow()) == (0, 2, ["美美", "阿博"])
    # when mei answers all but the first question rightly
    await sign_in(client, "mei")
    page = await client.get("/peakday/quiz")
    assert page.status_code == 200
    token = csrf_from(page.text)
    answers = await _answer_right(db, mei)
    half = {k: v for k, v in answers.items() if k != "q1"}
    missing = await client.post("/peakday/quiz", data={**half, "csrf_token": token})
    assert missing.status_code == 422 and "还没答的：第 2 题" in missing.text
    wrong = {**answers, "q0": str((int(answers["q0"]) + 1) % 2)}
    taken = await client.post("/peakday/quiz", data={**wrong, "csrf_token": token})
    assert taken.status_code == 303
    own = await client.get("/peakday/quiz/results")
    assert "美美" in own.text and "阿博" not in own.text
    assert 'data-right="no"' in own.text and "正确答案" in own.text
    # then the attempt is kept, scored, and the missed activity named
    async with db.session() as session:
        attempt = await session.scalar(select(QuizAttempt))
        assert attempt is not None and attempt.staff_id == mei.id
        assert (attempt.score, attempt.total, attempt.passed) == (4, 5, True)
        assert len(attempt.missed) == 1 and len(attempt.covers) == 2
        assert await quiz_readiness(session, shop.id, utcnow()) == (1, 2, ["阿博"])
    await client.post("/logout", data={"csrf_token": token})
    await sign_in(client, "sup")
    board = await client.get("/peakday/quiz/results")
    row = re.search(rf'<tr id="result-{mei.id}" data-ready="yes">.*?</tr>', board.text, re.S)
    assert row is not None and "4/5" in row.group(0) and attempt.missed[0] in row.group(0)
    assert "阿博" in board.text and "未测验" in board.text


async def test_a_changed_activity_needs_a_new_quiz(
    db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    sup = await make_staff("sup", "supervisor")
    mei = await make_staff("mei", "agent", name="美美")
    first, _second = await _activities(db, sup)
    from xiaoer.peakday.quiz import do_take_quiz

    answers = await _answer_right(db, mei)
    async with db.session() as session:
        given = {int(k[1:]): int(v) for k, v in answers.items() if k.startswith("q")}
        await do_take_quiz(session, mei, answers["fingerprint"], given)
        await session.commit()
        assert await quiz_readiness(session, shop.id, utcnow()) == (1, 1, [])
    now = utcnow()
    async with db.session() as session:
        await do_update_activity(session, sup, first, ActivityInput(
            "full_reduction", "双十一满减", "", now - timedelta(days=1), now + timedelta(days=9),
            {"tiers": "满299减40"}))  # fmt: skip
        await session.commit()
        assert await quiz_readiness(session, shop.id, utcnow()) == (0, 1, ["美美"])


async def test_the_registered_check_stops_a_reply_quoting_a_wrong_threshold(
    client: httpx.AsyncClient, db: Database, shop: Shop, make_staff: MakeStaff
) -> None:
    """The app registers the check: every agent message passes it before it is sent."""
    sup = await make_staff("sup", "supervisor")
    mei = await make_staff("mei", "agent")
    await _activities(db, sup)
    async with db.session() as session:
        async def check(text: str) -> list[str]:
            blocks = await blocks_for(
                session, Policy(), shop_id=shop.id, agent_id=mei.id, agent_level="junior",
                conversation_id=1, text=text,
            )  # fmt: skip
            return [b.code for b in blocks]

        assert await check("亲，现在满199减20哦") == ["activity_wrong"]
        assert await check("亲，现在满299减30哦") == []
        assert await check("亲，全场8折") == ["activity_not_started"]
