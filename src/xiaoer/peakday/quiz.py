"""The quiz on the shop's activities (D2): generated from their rules, taken by each agent
before the day, scored and kept; the supervisor reads who passed and what they missed.

A quiz is a function of the agent, the activity set (each activity at its version) and
how many quizzes the agent took before, so the page that shows it writes nothing and
the answer regenerates the very same questions to score them. A changed activity makes
a new set: a quiz taken before no longer covers it.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.core.clock import utcnow
from xiaoer.core.errors import NotPermitted
from xiaoer.core.policy_store import policy_on, shop_day
from xiaoer.core.texts import say
from xiaoer.peakday.activities import (
    Activity,
    ActivityError,
    day_text,
    quiz_activities,
    tier_text,
    yuan,
    zhe,
)
from xiaoer.peakday.activity_models import QuizAttempt
from xiaoer.shops.service import shop_zone
from xiaoer.staff.models import LEADERS, WORKBENCH_ROLES, Role, StaffAccount

OPTIONS = 4


@dataclass(frozen=True)
class Question:
    promotion_id: int
    activity: str
    text: str
    options: tuple[str, ...]
    correct: int


@dataclass(frozen=True)
class Quiz:
    fingerprint: str
    covers: tuple[str, ...]
    questions: tuple[Question, ...]
    pass_mark: int


class QuizError(ActivityError):
    pass


class QuizForbidden(QuizError, NotPermitted):
    pass


def check_may_take(staff: StaffAccount) -> None:
    if not staff.has_role(*WORKBENCH_ROLES):
        raise QuizForbidden(say("only agents and their leaders take the activities quiz"))


def check_may_read_results(staff: StaffAccount) -> None:
    if not staff.has_role(*WORKBENCH_ROLES):
        raise QuizForbidden(say("only agents and their leaders read the quiz results"))


def fingerprint_of(covers: tuple[str, ...]) -> str:
    return hashlib.sha256("|".join(sorted(covers)).encode()).hexdigest()


# --- the questions ----------------------------------------------------------------------

Maker = Callable[[random.Random], tuple[str, str, list[str]]]


def _others(correct: str, candidates: list[str], rng: random.Random) -> list[str]:
    """Up to three wrong answers, different from the right one and from each other."""
    seen = {correct}
    found = []
    for candidate in candidates:
        if candidate not in seen:
            seen.add(candidate)
            found.append(candidate)
    rng.shuffle(found)
    return found[: OPTIONS - 1]


def _near_fen(fen: int, rng: random.Random) -> list[int]:
    """Plausible wrong amounts near ``fen``: round steps up and down, as a shop would
    set them (29900 → 24900, 34900, 39900, 19900)."""
    step = 10000 if fen >= 50000 else 5000 if fen >= 10000 else 1000 if fen >= 2000 else 500
    near = [fen - step, fen + step, fen + 2 * step, fen - 2 * step, fen + 3 * step]
    return [n for n in near if n > 0 and n != fen]


def _shifted(moment: datetime, zone: ZoneInfo) -> list[str]:
    return [day_text(moment + timedelta(days=d), zone) for d in (-2, -1, 1, 2, 3)]


def _makers(activity: Activity, zone: ZoneInfo) -> list[Maker]:
    """The questions an activity gives, each made with the quiz's own random numbers."""
    r, name = activity.rules, activity.name
    makers: list[Maker] = []
    kind = activity.kind
    if kind == "full_reduction":
        tiers = r["tiers"]

        def reduction(rng: random.Random) -> tuple[str, str, list[str]]:
            right = "、".join(tier_text(t) for t in tiers)
            wrong = []
            for _ in range(6):
                changed = [
                    {"threshold_fen": rng.choice(_near_fen(t["threshold_fen"], rng)),
                     "off_fen": t["off_fen"]} if rng.random() < 0.5 else
                    {"threshold_fen": t["threshold_fen"],
                     "off_fen": rng.choice([o for o in _near_fen(t["off_fen"], rng)
                                            if o < t["threshold_fen"]] or [t["off_fen"]])}
                    for t in tiers
                ]  # fmt: skip
                wrong.append("、".join(tier_text(t) for t in changed))
            return f"「{name}」满多少减多少？", right, wrong

        def stacking(_rng: random.Random) -> tuple[str, str, list[str]]:
            yes, no = "可以与店铺券叠加", "不能与店铺券叠加"
            right = yes if r.get("stacks_with_coupon") else no
            return f"「{name}」能否与店铺券叠加使用？", right, [no if right == yes else yes]

        makers += [reduction, stacking]
    elif kind == "time_discount":

        def discount(rng: random.Random) -> tuple[str, str, list[str]]:
            off = r["percent_off"]
            near = [o for o in (off - 10, off - 5, off + 5, off + 10, off + 15) if 0 < o < 100]
            return f"「{name}」打几折？", zhe(off), [zhe(o) for o in near]

        makers.append(discount)
    elif kind == "presale":
        start = datetime.fromisoformat(r["balance_from"])
        end = datetime.fromisoformat(r["balance_until"])
        ship = date.fromisoformat(r["ships_on"])

        def balance(rng: random.Random) -> tuple[str, str, list[str]]:
            right = f"{day_text(start, zone)}至{day_text(end, zone)}"
            wrong = [
                f"{day_text(start + timedelta(days=d), zone)}至"
                f"{day_text(end + timedelta(days=d + e), zone)}"
                for d, e in ((-1, 0), (1, 0), (0, 1), (-2, 1), (2, -1), (0, 2))
            ]
            return f"「{name}」的尾款什么时候付？", right, wrong

        def deposit(rng: random.Random) -> tuple[str, str, list[str]]:
            paid, worth = r["deposit_fen"], r["deposit_worth_fen"]

            def said(p: int, w: int) -> str:
                return f"定金{yuan(p)}元抵{yuan(w)}元" if w > p else f"定金{yuan(p)}元"

            wrong = [said(p, worth) for p in _near_fen(paid, rng) if p <= worth]
            wrong += [said(paid, w) for w in _near_fen(worth, rng) if w >= paid]
            return f"「{name}」定金多少、抵多少？", said(paid, worth), wrong

        def shipping(rng: random.Random) -> tuple[str, str, list[str]]:
            right = f"{day_text(ship, zone)}起发货"
            wrong = [f"{day_text(ship + timedelta(days=d), zone)}起发货" for d in (-3, -1, 1, 2, 5)]
            return f"「{name}」什么时候发货？", right, wrong

        makers += [balance, deposit, shipping]
    elif kind == "flash_sale":

        def flash(rng: random.Random) -> tuple[str, str, list[str]]:
            price, limit = r["price_fen"], r["limit_per_buyer"]

            def said(p: int, n: int) -> str:
                return f"{yuan(p)}元，每人限购{n}件"

            wrong = [said(p, limit) for p in _near_fen(price, rng)]
            wrong += [said(price, n) for n in (limit + 1, limit + 2, limit - 1) if n > 0]
            return f"「{name}」的抢购价和限购是？", said(price, limit), wrong

        def opening(rng: random.Random) -> tuple[str, str, list[str]]:
            at = activity.promotion.starts_at
            right = day_text(at, zone)
            wrong = [day_text(at + timedelta(hours=h), zone) for h in (-24, -2, -1, 1, 2, 12)]
            return f"「{name}」什么时候开抢？", right, wrong

        makers += [flash, opening]
    elif kind == "gift_with_purchase":

        def gift(rng: random.Random) -> tuple[str, str, list[str]]:
            threshold = r["threshold_fen"]
            right = f"满{yuan(threshold)}元送{r['gift']}"
            wrong = [f"满{yuan(t)}元送{r['gift']}" for t in _near_fen(threshold, rng)]
            return f"「{name}」满多少送赠品？", right, wrong

        makers.append(gift)
    elif kind == "bundle":

        def bundle(rng: random.Random) -> tuple[str, str, list[str]]:
            price = r["bundle_price_fen"]
            return (f"「{name}」（{'+'.join(r['items'])}）套餐价多少？", f"{yuan(price)}元",
                    [f"{yuan(p)}元" for p in _near_fen(price, rng)])  # fmt: skip

        makers.append(bundle)
    elif kind == "coupon":

        def coupon(rng: random.Random) -> tuple[str, str, list[str]]:
            face, threshold = r["face_value_fen"], r.get("threshold_fen", 0)

            def said(t: int, f: int) -> str:
                return f"满{yuan(t)}减{yuan(f)}" if t else f"{yuan(f)}元无门槛"

            wrong = [said(t, face) for t in _near_fen(threshold or face * 5, rng) if t > face]
            wrong += [said(threshold, f) for f in _near_fen(face, rng)
                      if not threshold or f < threshold]  # fmt: skip
            return f"「{name}」这张券怎么用？", said(threshold, face), wrong

        makers.append(coupon)

    def ending(rng: random.Random) -> tuple[str, str, list[str]]:
        at = activity.promotion.ends_at
        return f"「{name}」什么时候结束？", day_text(at, zone), _shifted(at, zone)

    makers.append(ending)
    return makers


def make_quiz(
    activities: list[Activity], seed: str, count: int, zone: ZoneInfo, pass_share: float
) -> Quiz:
    """``count`` questions (at least one per activity) over the activities, in turns."""
    covers = tuple(a.cover for a in activities)
    fingerprint = fingerprint_of(covers)
    rng = random.Random(f"{seed}|{fingerprint}")  # noqa: S311 (a quiz, not a secret)
    pools: list[tuple[Activity, list[Maker]]] = []
    for activity in activities:
        *rules, ending = _makers(activity, zone)
        rng.shuffle(rules)
        pools.append((activity, [ending, *rules]))  # the rules first, the end date last
    questions: list[Question] = []
    turn = 0
    wanted = max(count, len(pools))
    while len(questions) < wanted and any(m for _a, m in pools):
        activity, makers = pools[turn % len(pools)]
        turn += 1
        if not makers:
            continue
        text, right, candidates = makers.pop()(rng)
        options = [right, *_others(right, candidates, rng)]
        rng.shuffle(options)
        questions.append(
            Question(activity.id, activity.name, text, tuple(options), options.index(right))
        )
    pass_mark = math.ceil(len(questions) * pass_share - 1e-9)
    return Quiz(fingerprint, covers, tuple(questions), pass_mark)


# --- taking it ------------------------------------------------------------------------------


async def _attempts_before(session: AsyncSession, staff: StaffAccount) -> int:
    counted = await session.scalar(
        select(func.count()).select_from(QuizAttempt).where(
            QuizAttempt.shop_id == staff.shop_id, QuizAttempt.staff_id == staff.id
        )
    )  # fmt: skip
    return int(counted or 0)


async def quiz_for(session: AsyncSession, staff: StaffAccount, now: datetime | None = None) -> Quiz:
    """The quiz this agent takes now (reading only)."""
    check_may_take(staff)
    moment = now or utcnow()
    day = await shop_day(session, staff.shop_id, moment)
    policy = (await policy_on(session, staff.shop_id, day)).activities
    activities = await quiz_activities(session, staff.shop_id, moment, policy.quiz_lookahead_days)
    zone = await shop_zone(session, staff.shop_id)
    seed = f"{staff.id}|{await _attempts_before(session, staff)}"
    return make_quiz(activities, seed, policy.quiz_questions, zone, float(policy.quiz_pass_share))


async def do_take_quiz(
    session: AsyncSession,
    staff: StaffAccount,
    fingerprint: str,
    given: dict[int, int],
    now: datetime | None = None,
) -> QuizAttempt:
    """Score the agent's answers (question number → option number) and keep the attempt."""
    moment = now or utcnow()
    quiz = await quiz_for(session, staff, moment)
    if not quiz.questions:
        raise QuizError(say("there are no current or upcoming activities to be quizzed on"))
    if fingerprint != quiz.fingerprint:
        raise QuizError(say("the activities changed while the quiz was open; take the new one"))
    unanswered = [n + 1 for n in range(len(quiz.questions)) if n not in given]
    if unanswered:
        raise QuizError(say("answer every question; still open: {numbers}",
                            numbers=", ".join(map(str, unanswered))))  # fmt: skip
    answers: list[dict[str, Any]] = []
    missed: list[str] = []
    score = 0
    for number, question in enumerate(quiz.questions):
        choice = given[number]
        if not 0 <= choice < len(question.options):
            raise QuizError(say("question {n} has no such answer", n=number + 1))
        right = choice == question.correct
        score += right
        if not right and question.activity not in missed:
            missed.append(question.activity)
        answers.append({
            "promotion_id": question.promotion_id, "activity": question.activity,
            "question": question.text, "options": list(question.options),
            "correct": question.correct, "given": choice,
        })  # fmt: skip
    attempt = QuizAttempt(
        shop_id=staff.shop_id, staff_id=staff.id, taken_at=moment, covers=list(quiz.covers),
        answers=answers, score=score, total=len(quiz.questions),
        passed=score >= quiz.pass_mark, missed=missed, fingerprint=quiz.fingerprint,
    )  # fmt: skip
    session.add(attempt)
    await session.flush()
    return attempt


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentResult:
    staff: StaffAccount
    latest: QuizAttempt | None
    covers_now: bool  # the latest passed attempt covers the current activity set

    @property
    def ready(self) -> bool:
        return self.covers_now


async def _latest_attempts(
    session: AsyncSession, shop_id: int, staff_ids: list[int]
) -> dict[int, list[QuizAttempt]]:
    if not staff_ids:
        return {}
    rows = (
        await session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.shop_id == shop_id, QuizAttempt.staff_id.in_(staff_ids))
            .order_by(QuizAttempt.staff_id, QuizAttempt.taken_at.desc(), QuizAttempt.id.desc())
        )
    ).all()
    found: dict[int, list[QuizAttempt]] = {}
    for row in rows:
        found.setdefault(row.staff_id, []).append(row)
    return found


async def _current_covers(session: AsyncSession, shop_id: int, now: datetime) -> set[str]:
    policy = (await policy_on(session, shop_id, await shop_day(session, shop_id, now))).activities
    activities = await quiz_activities(session, shop_id, now, policy.quiz_lookahead_days)
    return {a.cover for a in activities}


def _covered(attempts: list[QuizAttempt], wanted: set[str]) -> bool:
    if not wanted:
        return True
    return any(a.passed and wanted <= set(a.covers) for a in attempts)


async def _agents(session: AsyncSession, shop_id: int) -> list[StaffAccount]:
    rows = (
        await session.scalars(
            select(StaffAccount)
            .where(StaffAccount.shop_id == shop_id, StaffAccount.active.is_(True))
            .order_by(StaffAccount.number)
        )
    ).all()
    return [s for s in rows if s.has_role(Role.agent.value)]


async def results_for(
    session: AsyncSession, staff: StaffAccount, now: datetime | None = None
) -> list[AgentResult]:
    """Each active agent's latest attempt (an agent: only their own)."""
    check_may_read_results(staff)
    moment = now or utcnow()
    people = await _agents(session, staff.shop_id) if staff.has_role(*LEADERS) else [staff]
    attempts = await _latest_attempts(session, staff.shop_id, [p.id for p in people])
    wanted = await _current_covers(session, staff.shop_id, moment)
    found = []
    for person in people:
        mine = attempts.get(person.id, [])
        found.append(AgentResult(person, mine[0] if mine else None, _covered(mine, wanted)))
    return found


async def quiz_readiness(
    session: AsyncSession, shop_id: int, now: datetime
) -> tuple[int, int, list[str]]:
    """For the readiness checklist: (agents who passed a quiz covering the current
    activity set, active agents, names of those who have not)."""
    people = await _agents(session, shop_id)
    attempts = await _latest_attempts(session, shop_id, [p.id for p in people])
    wanted = await _current_covers(session, shop_id, now)
    missing = [p.name for p in people if not _covered(attempts.get(p.id, []), wanted)]
    return len(people) - len(missing), len(people), missing


def attempt_lines(attempt: QuizAttempt) -> list[dict[str, Any]]:
    """An attempt's questions for its page: each with the given and the right answer."""
    return [
        {**a, "right": a["given"] == a["correct"]} for a in attempt.answers
    ]

