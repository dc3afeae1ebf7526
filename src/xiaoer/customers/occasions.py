"""What a day is an occasion for (R3): whose birthday, which public holiday, whose
purchase anniversary.

Birthdays are kept as the buyer gave them (``customer.birth_month/birth_day``, on the
solar or the lunar calendar). A solar 29 February is greeted on 28 February in a common
year. A lunar birthday is greeted on the solar date its lunar month and day fall on this
year: the day's lunar (month, day) is worked out once and customers are looked up by it,
never each customer converted. A lunar 30th in a month of 29 days is greeted on the 29th;
a birthday in a leap month (闰月) on the ordinary month of that number, so the days of a
leap month greet nobody.

Public holidays and the 调休 working days come from ``chinese_calendar``. A holiday is
greeted once, on the festival's own day (春节 on the first day of the lunar year, 中秋 on
the 15th of the eighth month, 清明 on its solar term, 国庆 on 1 October …) when the
calendar lists that day in the holiday, else on the holiday's first day; never on a
调休 working day. The calendar covers the years its maintainers have published: for a
later year :func:`holiday_of` says so (``known`` false) rather than guess.
"""

from __future__ import annotations

import calendar as solar_calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from lunar_python import Lunar, Solar
from sqlalchemy import ColumnElement, and_, false, or_

from xiaoer.buyers.models import Customer
from xiaoer.core.texts import say
from xiaoer.customers.models import CustomerStats

# chinese_calendar's names → the policy's keys (``customers.greet_holidays``) and titles.
HOLIDAYS: dict[str, tuple[str, str]] = {
    "New Year's Day": ("new_year", "元旦"),
    "Spring Festival": ("spring_festival", "春节"),
    "Tomb-sweeping Day": ("tomb_sweeping", "清明节"),
    "Labour Day": ("labour_day", "劳动节"),
    "Dragon Boat Festival": ("dragon_boat", "端午节"),
    "Mid-autumn Festival": ("mid_autumn", "中秋节"),
    "National Day": ("national_day", "国庆节"),
}
HOLIDAY_KEYS = tuple(key for key, _ in HOLIDAYS.values())
TITLES = dict(HOLIDAYS.values())


@dataclass(frozen=True)
class Holiday:
    """What the calendar says of a day: ``key``/``title`` when it is a holiday's
    greeting day; ``known`` false when the calendar has no data for its year."""

    known: bool
    key: str = ""
    title: str = ""
    workday_in_lieu: bool = False  # 调休: a weekend day worked for a holiday


def festival_day(key: str, year: int) -> date:
    """The festival's own day in ``year``."""
    match key:
        case "new_year":
            return date(year, 1, 1)
        case "labour_day":
            return date(year, 5, 1)
        case "national_day":
            return date(year, 10, 1)
        case "tomb_sweeping":
            solar = Lunar.fromYmd(year, 1, 1).getJieQiTable()["清明"]
            return date(solar.getYear(), solar.getMonth(), solar.getDay())
    month, day = {"spring_festival": (1, 1), "dragon_boat": (5, 5), "mid_autumn": (8, 15)}[key]
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _detail(day: date) -> tuple[bool, str | None]:
    on, name = chinese_calendar.get_holiday_detail(day)
    return bool(on), name


def holiday_of(day: date) -> Holiday:
    """Which public holiday ``day`` is the greeting day of, if any."""
    try:
        on, name = _detail(day)
    except NotImplementedError:
        return Holiday(known=False)
    if name is None or name not in HOLIDAYS:
        return Holiday(known=True)
    if not on:  # named but worked: a 调休 working day
        return Holiday(known=True, workday_in_lieu=True)
    key, title = HOLIDAYS[name]
    own = festival_day(key, day.year)
    try:
        own_listed = _detail(own) == (True, name)
    except NotImplementedError:
        own_listed = False
    if own_listed:
        greeted = own
    else:  # the festival's day is outside the days off: greet on the first of them
        greeted = day
        while True:
            before = greeted - timedelta(days=1)
            try:
                if _detail(before) != (True, name):
                    break
            except NotImplementedError:
                break
            greeted = before
    if greeted != day:
        return Holiday(known=True)
    return Holiday(known=True, key=key, title=title)


def calendar_knows(year: int) -> bool:
    """Whether the holiday calendar has the year's holidays."""
    return holiday_of(date(year, 6, 1)).known


# -- birthdays ---------------------------------------------------------------------------


def solar_birthdays_on(day: date) -> list[tuple[int, int]]:
    """The solar (month, day) birthdays greeted on ``day``."""
    found = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not solar_calendar.isleap(day.year):
        found.append((2, 29))
    return found


def lunar_birthdays_on(day: date) -> list[tuple[int, int]]:
    """The lunar (month, day) birthdays greeted on ``day``: its own lunar date, and the
    30th when its month has only 29 days. None in a leap month."""
    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    month, lunar_day = lunar.getMonth(), lunar.getDay()
    if month < 0:  # a leap month: its birthdays are greeted in the ordinary one
        return []
    found = [(month, lunar_day)]
    if lunar_day == 29:
        following = day + timedelta(days=1)
        if Solar.fromYmd(following.year, following.month, following.day).getLunar().getDay() == 1:
            found.append((month, 30))
    return found


def _pairs(pairs: Sequence[tuple[int, int]], lunar: bool) -> ColumnElement[bool]:
    if not pairs:
        return false()
    return and_(
        Customer.birth_lunar.is_(lunar),
        or_(*(and_(Customer.birth_month == m, Customer.birth_day == d) for m, d in pairs)),
    )


def birthday_condition(day: date) -> ColumnElement[bool]:
    """SQL: the customer's birthday is greeted on ``day``."""
    return or_(
        _pairs(solar_birthdays_on(day), False),
        _pairs(lunar_birthdays_on(day), True),
    )


# -- purchase anniversaries -------------------------------------------------------------


# The days a plan may be asked for: what the lunar calendar and the shop's history cover.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
MAX_YEARS = 50  # anniversaries looked back at, at most


def check_day(day: date) -> date:
    """A day greetings may be planned for; raises ``ValueError`` saying the range."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(say("greetings are planned for days from 2000 to 2099"))
    return day


def anniversary_condition(day: date, zone: ZoneInfo, since: int = 2000) -> ColumnElement[bool]:
    """SQL over ``customer_stats``: the first paid order was on this month and day
    (shop time), at least one year before ``day``; a 29 February first purchase has its
    anniversary on 28 February in a common year."""
    ranges = []
    for year in range(day.year - 1, max(since, day.year - MAX_YEARS) - 1, -1):
        days = []
        if (day.month, day.day) == (2, 29):
            if solar_calendar.isleap(year):
                days.append(date(year, 2, 29))
        else:
            days.append(day.replace(year=year))
        common = not solar_calendar.isleap(day.year)
        if (day.month, day.day) == (2, 28) and common and solar_calendar.isleap(year):
            days.append(date(year, 2, 29))
        for first in days:
            start = datetime.combine(first, time(), zone)
            end = datetime.combine(first + timedelta(days=1), time(), zone)
            ranges.append(
                and_(CustomerStats.first_paid_at >= start, CustomerStats.first_paid_at < end)
            )
    return or_(*ranges) if ranges else false()


def years_since(first: date, day: date) -> int:
    return day.year - first.year
