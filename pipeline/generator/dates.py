"""Dates as int day numbers (days since 1970-01-01), vectorised.

The generator keeps every date as an int32 day number so millions of events stay numpy
arrays; strings are made once per distinct date when a file is written.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np

__all__ = [
    "MISSING",
    "MONTHS",
    "add_months",
    "age_at",
    "day",
    "format_days",
    "from_day",
    "term_bounds",
    "ymd",
]

EPOCH = date(1970, 1, 1)
MISSING = -(2**30)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(d: date) -> int:
    """Day number of a date."""
    return (d - EPOCH).days


def from_day(n: int) -> date:
    """Date of a day number."""
    return EPOCH + timedelta(days=int(n))


def add_months(d: date, months: int) -> date:
    """Same day of month ``months`` later (clamped to the month's last day)."""
    year, month0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(year, month0 + 1, min(d.day, calendar.monthrange(year, month0 + 1)[1]))


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day arrays of day numbers."""
    dt = np.asarray(days, dtype="int64").astype("datetime64[D]")
    months = dt.astype("datetime64[M]")
    year = months.astype("int64") // 12 + 1970
    month = months.astype("int64") % 12 + 1
    dom = (dt - months.astype("datetime64[D]")).astype("int64") + 1
    return year, month, dom


def age_at(dob: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Completed years of age on ``when`` (both day numbers)."""
    by, bm, bd = ymd(dob)
    wy, wm, wd = ymd(when)
    return wy - by - ((wm * 100 + wd) < (bm * 100 + bd))


def format_days(days: np.ndarray, fmt: Callable[[date], str]) -> np.ndarray:
    """Format day numbers with ``fmt``, calling it once per distinct date; MISSING gives ''."""
    days = np.asarray(days, dtype="int64")
    uniq, inverse = np.unique(days, return_inverse=True)
    text = np.array([("" if d == MISSING else fmt(from_day(d))) for d in uniq], dtype=object)
    return text[inverse]


def term_bounds(year: np.ndarray, term: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last day of school terms (programme.md): term 0 AUT, 1 SPR, 2 SUM."""
    start_month = np.array([9, 1, 5])[term]
    start_year = year + (term > 0)
    start = (
        (start_year - 1970) * 12 + start_month - 1
    ).astype("datetime64[M]").astype("datetime64[D]").astype("int64")
    end_month = np.array([13, 5, 9])[term]  # first month after the term
    end = (
        (start_year - 1970) * 12 + end_month - 1
    ).astype("datetime64[M]").astype("datetime64[D]").astype("int64") - 1
    return start, end
