"""PostgreSQL-compatible calendar arithmetic on naive (UTC) datetimes.

Written from PostgreSQL's documented semantics, not from the extension:

* ``timestamp - interval`` applies the interval's fields in order: months
  first (the day of month is clamped to the last day of the resulting month,
  so Mar 31 - 1 mon = Feb 28/29), then days (whole calendar days), then the
  time part. '1 year' is 12 months.
* ``timestamp - timestamp`` yields an interval whose days field is the total
  difference truncated toward zero to whole days of 24 hours (the rest goes
  into the time part with the same sign).

The Gregorian calendar is proleptic, as in PostgreSQL. Python's datetime
covers years 1..9999, which is all the tests use.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

USECS_PER_DAY = 86_400_000_000


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def add_months(ts: datetime, months: int) -> datetime:
    """ts + interval 'months mon': move the month, clamp the day of month."""
    index = ts.year * 12 + (ts.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    day = min(ts.day, days_in_month(year, month))
    return ts.replace(year=year, month=month, day=day)


def minus_interval(ts: datetime, *, months: int = 0, days: int = 0,
                   microseconds: int = 0) -> datetime:
    """ts - interval (months, days, time), in PostgreSQL's order of fields."""
    if months:
        ts = add_months(ts, -months)
    if days:
        ts = ts - timedelta(days=days)
    if microseconds:
        ts = ts - timedelta(microseconds=microseconds)
    return ts


_UNITS = {
    "mon": ("months", 1), "mons": ("months", 1), "month": ("months", 1), "months": ("months", 1),
    "year": ("months", 12), "years": ("months", 12),
    "day": ("days", 1), "days": ("days", 1),
}


def subtract(ts: datetime, interval: str) -> datetime:
    """ts - interval 'N unit' for the units the strategies use: mon, year, day(s)."""
    match = re.fullmatch(r"\s*(-?\d+)\s+([a-z]+)\s*", interval)
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"unsupported interval {interval!r}")
    field, factor = _UNITS[match.group(2)]
    return minus_interval(ts, **{field: int(match.group(1)) * factor})


def total_microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def whole_days(later: datetime, earlier: datetime) -> int:
    """The days field of the interval (later - earlier), as PostgreSQL computes it:
    the total difference truncated toward zero to whole days."""
    usecs = total_microseconds(later - earlier)
    days = abs(usecs) // USECS_PER_DAY
    return days if usecs >= 0 else -days


def to_utc_naive(now: datetime) -> datetime:
    """now AT TIME ZONE 'UTC' for a timestamptz (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (a timestamptz)")
    return now.astimezone(timezone.utc).replace(tzinfo=None)
