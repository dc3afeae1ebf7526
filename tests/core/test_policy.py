"""The shop policy: defaults from the handbook, clear errors, versions by date."""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from xiaoer.core import policy_store
from xiaoer.core.db import Database
from xiaoer.core.policy import (
    Policy,
    PolicyError,
    default_policy_toml,
    in_span,
    parse_policy,
)
from xiaoer.core.policy_docs import policy_keys, render_default_toml, render_policy_markdown
from xiaoer.core.policy_store import do_apply_policy, policy_on, policy_versions
from xiaoer.shops.models import Shop

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_handbook_numbers() -> None:
    policy = Policy()
    assert policy.reception.first_response_seconds == 30  # C3
    assert policy.reception.reply_seconds == 120  # C3
    assert policy.orders.seller_note_minutes == 20  # O3
    assert policy.orders.payment_reminder_minutes == 10  # O6
    assert policy.orders.chase_after_hours == 24  # O5
    assert policy.fulfilment.safety_stock == 3  # F2
    assert policy.reception.peak_hours == ["14:00-17:00", "19:00-22:00"]  # C11
    assert policy.pay.base_by_level == {
        "junior": 150000,
        "intermediate": 180000,
        "senior": 220000,
        "account_manager": 270000,
    }  # P1
    assert policy.pay.commission_rate == Decimal("0.005")  # P2
    assert policy.pay.full_attendance_bonus == 10000  # P2
    assert policy.pay.living_allowance == 20000  # P2
    assert policy.fines.note_late_or_wrong == 2000  # P4
    assert policy.fines.note_wrong_at_factory == 5000
    assert policy.fines.no_reply_30_minutes == 10000
    assert policy.fines.no_reply_2_hours == 20000
    assert policy.fines.late_free_per_month == 2
    assert policy.fines.late_free_minutes == 10
    assert policy.promotion.junior_clean_months == 2  # P5
    assert policy.authority["junior"].max_discount_fen == 0  # A5
    assert policy.authority["account_manager"].free_shipping is True


def test_a_partial_file_keeps_the_other_defaults() -> None:
    policy = parse_policy("[orders]\nseller_note_minutes = 15\n")
    assert policy.orders.seller_note_minutes == 15
    assert policy.orders.payment_reminder_minutes == 10


def test_shipped_default_file_is_the_model_defaults() -> None:
    assert default_policy_toml() == render_default_toml()
    assert parse_policy(default_policy_toml()) == Policy()


def test_docs_list_every_key() -> None:
    doc = (ROOT / "docs" / "policy.md").read_text("utf-8")
    assert doc == render_policy_markdown(), "run: xiaoer policy docs > docs/policy.md"
    keys = [key for key, *_ in policy_keys()]
    assert len(keys) > 60
    for key, req, meaning, _default in policy_keys():
        assert f"`{key}`" in doc
        assert req and meaning, f"{key} needs a requirement id and a meaning"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[reception]\nfirst_response_seconds = "soon"\n',
            "reception.first_response_seconds = 'soon': Input should be a valid integer",
        ),
        (
            "[reception]\nfirst_response_seconds = 0\n",
            "reception.first_response_seconds = 0: Input should be greater than or equal to 1",
        ),
        (
            '[orders]\nreminder_quiet_hours = "late"\n',
            "orders.reminder_quiet_hours = 'late': expected a time span like '14:00-17:00'",
        ),
        ("[fines]\nlate = -5\n", "fines.late = -5: Input should be greater than or equal to 0"),
        ("[pay]\ncommision_rate = 0.01\n", "pay.commision_rate: unknown key (value 0.01)"),
        (
            "[pay.base_by_level]\njunior = 1\n",
            "pay.base_by_level = {'junior': 1}: expected exactly the levels junior, "
            "intermediate, senior, account_manager",
        ),
        ('[aftersales]\nrefund_blackout_days = ["11/11"]\n', "expected month-day like '11-11'"),
        ("[reception\n", "not valid TOML"),
    ],
)
def test_bad_file_names_key_value_and_expectation(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "shop.toml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("shop.toml: ")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("[reception]\nreply_seconds = 'x'\n[fines]\nlate = -1\n")
    assert len(caught.value.problems) == 2


def test_spans_may_run_past_midnight() -> None:
    assert in_span("22:30-08:30", time(23, 0))
    assert in_span("22:30-08:30", time(3, 0))
    assert not in_span("22:30-08:30", time(12, 0))
    assert in_span("08:00-24:00", time(23, 59))
    assert not in_span("14:00-17:00", time(17, 0))


async def test_versions_take_effect_on_their_date(db: Database, shop: Shop) -> None:
    async with db.session() as session:
        assert await policy_on(session, shop.id, date(2026, 11, 1)) == Policy()
        nov = parse_policy("[orders]\nseller_note_minutes = 25\n")
        dec = parse_policy("[orders]\nseller_note_minutes = 15\n")
        await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=dec,
            source="dec",
            effective_from=date(2026, 12, 1),
            actor="boss",
        )
        await do_apply_policy(
            session,
            shop_id=shop.id,
            policy=nov,
            source="nov",
            effective_from=date(2026, 11, 10),
            actor="boss",
        )
        await session.commit()
    async with db.session() as session:
        minutes = [
            (await policy_on(session, shop.id, day)).orders.seller_note_minutes
            for day in (date(2026, 11, 9), date(2026, 11, 10), date(2026, 11, 30), date(2027, 1, 5))
        ]
        versions = await policy_versions(session, shop.id)
    assert minutes == [20, 25, 25, 15]
    assert [v.source for v in versions] == ["dec", "nov"]


async def test_a_version_takes_effect_at_the_shops_midnight_not_utcs(
    db: Database, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 17:00 UTC on 6 December is already 01:00 on 7 December in Shanghai, the shop's zone.
    instant = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
    monkeypatch.setattr(policy_store, "utcnow", lambda: instant)
    async with db.session() as session:
        seventh = parse_policy("[orders]\nseller_note_minutes = 15\n")
        await do_apply_policy(session, shop_id=shop.id, policy=seventh, source="7th",
                              effective_from=date(2026, 12, 7), actor="boss")  # fmt: skip
        await session.commit()
    async with db.session() as session:
        assert (await policy_on(session, shop.id)).orders.seller_note_minutes == 15
        version = await policy_store.policy_version_on(session, shop.id)
        assert version is not None and version.source == "7th"
