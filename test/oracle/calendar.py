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
covers years 1..9999 only, so source timestamps are also handled as integer
microseconds since 1970-01-01 (``usecs``), which covers PostgreSQL's whole
range (4713 BC .. 294276 AD), and +/-infinity as float('inf') / float('-inf').
"""

from __future__ import annotations

import math
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


def whole_days(later, earlier) -> int:
    """The days field of the interval (later - earlier), as PostgreSQL computes it:
    the total difference truncated toward zero to whole days. Either side is a
    naive datetime or finite microseconds (``usecs``); no range limit."""
    diff = usecs(later) - usecs(earlier)
    days = abs(diff) // USECS_PER_DAY
    return days if diff >= 0 else -days


def to_utc_naive(now: datetime) -> datetime:
    """now AT TIME ZONE 'UTC' for a timestamptz (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (a timestamptz)")
    return now.astimezone(timezone.utc).replace(tzinfo=None)


# ---------------------------------------------------------------------------
# Timestamps beyond datetime: integer microseconds since 1970-01-01 (UTC)
# ---------------------------------------------------------------------------
def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to (year, month, day) in the proleptic Gregorian
    calendar, for any astronomical year (1 BC is year 0, 4713 BC is -4712)."""
    days = 0
    # whole 400-year cycles (146097 days each) bring the year into [0, 400)
    cycles, year_in = divmod(year, 400)
    days += cycles * 146097
    for y in range(0, year_in):
        days += 366 if is_leap(y) else 365
    for m in range(1, month):
        days += days_in_month(year_in, m)
    days += day - 1
    return days - 719528          # days from 0000-01-01 to 1970-01-01


_PG_TIMESTAMP = re.compile(r"(\d+)-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?( BC)?")


def parse_pg_timestamp(text: str):
    """A `timestamp` in PostgreSQL's ISO output ('2024-03-31 12:00:00.5',
    '4714-11-24 00:00:00 BC', 'infinity') as integer microseconds since
    1970-01-01, or float('inf') / float('-inf')."""
    if text == "infinity":
        return math.inf
    if text == "-infinity":
        return -math.inf
    match = _PG_TIMESTAMP.fullmatch(text)
    if not match:
        raise ValueError(f"not an ISO timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if match.group(8):
        year = 1 - year               # n BC is astronomical year 1 - n
    fraction = int((match.group(7) or "0").ljust(6, "0"))
    seconds = ((days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second
    return seconds * 1_000_000 + fraction


_EPOCH = datetime(1970, 1, 1)


def usecs(value):
    """A naive UTC datetime, or an already converted value (int microseconds
    or +/-inf), as microseconds since 1970-01-01."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("source timestamps are naive (UTC)")
        return total_microseconds(value - _EPOCH)
    if isinstance(value, (int, float)):
        return value
    raise TypeError(f"not a timestamp: {value!r}")


def is_finite(value) -> bool:
    return not (isinstance(value, float) and math.isinf(value))
