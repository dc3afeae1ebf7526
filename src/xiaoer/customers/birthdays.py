"""Birthdays as buyers give them: on the solar calendar or the lunar one, the year
perhaps unknown. A lunar birthday falls on another solar day each year; here it is
found in a given year, named as people say it ("农历八月十五"), and counted into an age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lunar_python import Lunar, Solar

from xiaoer.buyers.models import Customer
from xiaoer.buyers.privacy import mask_birthday

LUNAR_MONTHS = ("正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊")
_DIGITS = "一二三四五六七八九十"


def lunar_day_name(day: int) -> str:
    """初一 … 初十, 十一 … 十九, 二十, 廿一 … 廿九, 三十."""
    if day <= 10:
        return "初" + _DIGITS[day - 1]
    if day < 20:
        return "十" + _DIGITS[day - 11]
    if day == 20:
        return "二十"
    if day < 30:
        return "廿" + _DIGITS[day - 21]
    return "三十"


@dataclass(frozen=True)
class Birthday:
    """A birthday as known (or as a reader may see it: ``day`` and ``year`` are None
    when masked)."""

    month: int
    day: int | None = None
    year: int | None = None
    lunar: bool = False
    leap: bool = False

    def label(self, language: str = "zh") -> str:
        """``农历八月十五``, ``闰四月初八``, ``1985年3月2日``, ``3月`` (masked)."""
        if self.lunar:
            month = ("闰" if self.leap else "") + LUNAR_MONTHS[self.month - 1] + "月"
            day = lunar_day_name(self.day) if self.day else ""
            year = f"{self.year}年" if self.year else ""
            if language == "en":
                leap = " leap" if self.leap else ""
                shown = f"lunar{leap} month {self.month}" + (
                    f", day {self.day}" if self.day else ""
                )
                return shown + (f", {self.year}" if self.year else "")
            return f"{year}农历{month}{day}"
        if language == "en":
            shown = f"{self.month:02d}-{self.day:02d}" if self.day else f"month {self.month}"
            return f"{self.year}-{shown}" if self.year and self.day else shown
        year = f"{self.year}年" if self.year else ""
        return f"{year}{self.month}月" + (f"{self.day}日" if self.day else "")

    def masked(self) -> Birthday:
        _, month, _ = mask_birthday(self.year, self.month, self.day)
        return Birthday(month or self.month, None, None, self.lunar, self.leap)


def birthday_of(customer: Customer) -> Birthday | None:
    if customer.birth_month is None:
        return None
    return Birthday(
        customer.birth_month,
        customer.birth_day,
        customer.birth_year,
        bool(customer.birth_lunar),
        bool(customer.birth_lunar and customer.birth_leap),
    )


def lunar_to_solar(year: int, month: int, day: int, leap: bool = False) -> date:
    """The solar date of a lunar date; a leap month the year lacks is its plain month,
    a 30th of a 29-day month is its last day."""
    for wanted_month, wanted_day in (
        (-month if leap else month, day),
        (month, day),
        (-month if leap else month, min(day, 29)),
        (month, min(day, 29)),
    ):
        try:
            solar = Lunar.fromYmd(year, wanted_month, wanted_day).getSolar()
        except Exception:  # the library raises plain exceptions for dates it lacks
            solar = None
        if solar is not None:
            return date(solar.getYear(), solar.getMonth(), solar.getDay())
    raise ValueError(f"no lunar {year}-{month}-{day}")


def lunar_date_exists(year: int, month: int, day: int, leap: bool = False) -> bool:
    """Whether the lunar year has that (leap) month and that day in it."""
    try:
        Lunar.fromYmd(year, -month if leap else month, day)
    except Exception:  # the library raises plain exceptions for dates it lacks
        return False
    return True


def lunar_year_of(day: date) -> int:
    return int(Solar.fromYmd(day.year, day.month, day.day).getLunar().getYear())


def age_on(birthday: Birthday, today: date) -> int | None:
    """Whole years on ``today``; None when the year (or the day) is unknown. A lunar
    birthday counts in lunar years: the birthday this lunar year decides."""
    if birthday.year is None or birthday.day is None:
        return None
    if birthday.lunar:
        year = lunar_year_of(today)
        this_year = lunar_to_solar(year, birthday.month, birthday.day, birthday.leap)
        return year - birthday.year - (1 if today < this_year else 0)
    before = (today.month, today.day) < (birthday.month, birthday.day)
    return today.year - birthday.year - (1 if before else 0)
