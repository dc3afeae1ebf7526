"""Given a day, when its occasions are worked out, then lunar and solar birthdays, the
holidays' own days and the 调休 working days come out as the calendars say."""

from __future__ import annotations

import json
from datetime import date, time

import pytest

from xiaoer.core.policy import Customers, Policy
from xiaoer.customers.birthdays import lunar_to_solar
from xiaoer.customers.models import OnlineProfile
from xiaoer.customers.occasions import (
    calendar_knows,
    holiday_of,
    lunar_birthdays_on,
    solar_birthdays_on,
)
from xiaoer.customers.online import SLOTS, DayHours, best_hour, smooth

pytestmark = pytest.mark.database_free


def test_a_mid_autumn_lunar_birthday_moves_with_the_lunar_year() -> None:
    # Given a birthday on the 15th of the eighth lunar month (八月十五)
    # Then it is greeted on 2026-09-25 and on 2027-09-15
    assert lunar_to_solar(2026, 8, 15) == date(2026, 9, 25)
    assert lunar_to_solar(2027, 8, 15) == date(2027, 9, 15)
    assert (8, 15) in lunar_birthdays_on(date(2026, 9, 25))
    assert (8, 15) in lunar_birthdays_on(date(2027, 9, 15))
    assert (8, 15) not in lunar_birthdays_on(date(2026, 9, 15))


def test_a_leap_month_birthday_is_greeted_in_the_ordinary_month() -> None:
    # 2025 has a leap sixth month: 闰六月初十 is 2025-08-03, 六月初十 2025-07-04.
    assert lunar_birthdays_on(date(2025, 8, 3)) == []  # a leap month's day greets nobody
    assert (6, 10) in lunar_birthdays_on(date(2025, 7, 4))
    # 2026 has no leap sixth month: the birthday falls on 六月初十, 2026-07-23.
    assert lunar_to_solar(2026, 6, 10) == date(2026, 7, 23)
    assert (6, 10) in lunar_birthdays_on(date(2026, 7, 23))


def test_a_lunar_30th_in_a_29_day_month_falls_on_the_29th() -> None:
    # The second lunar month of 2026 has 29 days: 二月廿九 is 2026-04-16.
    assert lunar_to_solar(2026, 2, 30) == date(2026, 4, 16)
    assert lunar_birthdays_on(date(2026, 4, 16)) == [(2, 29), (2, 30)]
    # The first month has 30 days: its 29th greets only the 29th.
    assert lunar_birthdays_on(lunar_to_solar(2026, 1, 29)) == [(1, 29)]


def test_a_29_february_birthday_is_greeted_on_the_28th_in_a_common_year() -> None:
    assert solar_birthdays_on(date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert solar_birthdays_on(date(2028, 2, 28)) == [(2, 28)]
    assert solar_birthdays_on(date(2028, 2, 29)) == [(2, 29)]


def test_spring_festival_is_greeted_on_its_own_day_only() -> None:
    # Given the 2026 Spring Festival holiday (15–23 February; 14 February is worked)
    festival = holiday_of(date(2026, 2, 17))
    assert (festival.known, festival.key, festival.title) == (True, "spring_festival", "春节")
    # The 调休 working day before it, its first day off and its second day greet nobody.
    worked = holiday_of(date(2026, 2, 14))
    assert worked.workday_in_lieu and worked.key == ""
    assert holiday_of(date(2026, 2, 15)).key == ""
    assert holiday_of(date(2026, 2, 18)).key == ""


def test_other_holidays_of_2026() -> None:
    assert holiday_of(date(2026, 1, 1)).key == "new_year"
    assert holiday_of(date(2026, 4, 5)).key == "tomb_sweeping"
    assert holiday_of(date(2026, 5, 1)).key == "labour_day"
    assert holiday_of(date(2026, 6, 19)).key == "dragon_boat"
    assert holiday_of(date(2026, 9, 25)).key == "mid_autumn"
    assert holiday_of(date(2026, 10, 1)).key == "national_day"
    assert holiday_of(date(2026, 10, 2)).key == ""
    assert holiday_of(date(2026, 3, 10)) == holiday_of(date(2026, 3, 11))  # an ordinary day


def test_the_calendar_says_when_it_has_no_holidays_for_a_year() -> None:
    assert calendar_knows(2026)
    assert not calendar_knows(2027)
    assert not holiday_of(date(2027, 2, 6)).known


def _profile(counts: dict[int, int]) -> OnlineProfile:
    return OnlineProfile(hours=smooth(counts), samples=sum(counts.values()), confidence=0.5)


def test_quiet_hours_move_a_night_owl_to_the_last_allowed_hour() -> None:
    # Given a buyer who writes at 23:00 on Tuesdays (slot 24 + 23), eight times
    profile = _profile({24 + 23: 8})
    assert abs(sum(profile.hours) - 1) < 1e-3 and len(profile.hours) == SLOTS
    # When greeted on Tuesday 2026-02-17 with quiet hours 21:30–09:00
    # Then the greeting goes at 21:00, before the quiet hours begin
    assert best_hour(profile, date(2026, 2, 17), Policy()) == time(21, 0)
    # With quiet hours from 22:00 it could go at 21:00 still; from 21:00, at 20:00.
    early = Policy(customers=Customers(greeting_quiet_hours="21:00-09:00"))
    assert best_hour(profile, date(2026, 2, 17), early) == time(20, 0)


def test_an_afternoon_buyer_is_greeted_at_their_hour_and_a_guess_at_the_default() -> None:
    profile = _profile({15: 3, 24 * 3 + 15: 4})  # Mondays and Thursdays at 15:00
    assert best_hour(profile, date(2026, 2, 16), Policy()) == time(15, 0)  # a Monday
    assert best_hour(profile, date(2026, 2, 18), Policy()) == time(15, 0)  # same hour, Wed.
    few = _profile({15: 2})  # below online_min_samples (6): a guess
    assert best_hour(few, date(2026, 2, 16), Policy()) == time(10, 0)
    assert best_hour(None, date(2026, 2, 16), Policy()) == time(10, 0)


def _ranked_hour(shares: list[float], allowed: list[int]) -> int:
    """The rule written out plainly: the likeliest allowed hour, ties to the nearest to
    the day's peak, then the earliest."""
    peak = max(range(24), key=lambda h: shares[h])
    return max(allowed, key=lambda h: (shares[h], -min((h - peak) % 24, (peak - h) % 24)))


def test_the_plan_s_hour_from_a_profile_s_text_is_the_rule_s_hour() -> None:
    # Given profiles with peaks inside and outside the quiet hours, and ties
    day = date(2026, 2, 17)  # a Tuesday: slots 24–47
    chooser = DayHours(day, Policy())
    profiles = [
        smooth({24 + 23: 8}),
        smooth({24 + 3: 5, 24 + 14: 5}),
        smooth({24 + 6: 4, 24 + 12: 4, 15: 9}),
        smooth({(24 + h) % SLOTS: 1 + (h * 7) % 5 for h in range(0, 24, 2)}),
        [1 / SLOTS] * SLOTS,
    ]
    for hours in profiles:
        shares = hours[24:48]
        # When the hour is chosen from the stored JSON text
        found = chooser.hour_of_text(json.dumps(hours))
        # Then it is the rule's hour, and best_hour's
        assert found == _ranked_hour(shares, chooser.allowed)
        profile = OnlineProfile(hours=hours, samples=10, confidence=0.5)
        assert best_hour(profile, day, Policy()) == time(found, 0)
    # A text that is not 168 numbers is no profile: the default hour
    assert chooser.hour_of_text("[1, 2]") is None
    assert chooser.hour_of_text('{"a": 1}') is None
    assert chooser.hour_of_text(None) is None
