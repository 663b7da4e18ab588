"""The score formulas of docs/reference.md, as SQL expressions over the staged inputs.

The constants live here and only here. Each builder returns SQL text that the
slice step evaluates for every input row in one INSERT ... SELECT; Python never
touches a row. Arithmetic is double precision throughout, in the reference's order
(decay * S * K).
"""

from __future__ import annotations

N = 1        # weight of a listen
F = 50       # weight of a windowed repost
O = 1        # weight of a windowed save
R = 0.25     # weight of a total repost
I = 0.01     # weight of a total save
Q = 100000   # decay base
Y = 3        # minimum owner followers

# Window lengths in days, for the decay (and for the playlist windows).
WINDOW_DAYS = {"week": 7, "month": 30, "year": 365}

# Track windows for counting listens, reposts and saves are calendar based
# ('1 mon' is a calendar month: Mar 31 - 1 mon = Feb 28).
TRACK_COUNT_WINDOWS = {"week": "7 days", "month": "1 mon"}
# Playlist windows count days, year included.
PLAYLIST_WINDOWS = {"week": "7 days", "month": "30 days", "year": "365 days"}

TRACK_VERSIONS = ("pnagD", "AnlGe")

# docs/reference.md, "Absurd rows": a genre longer than this many bytes (octet_length) is
# stored as NULL; the score tables' genre index could not hold it.
GENRE_MAX_BYTES = 1000

# The base date is clamped into [now - AGE_CLAMP_DAYS, now] before `now - base`,
# so that no finite date (4713 BC .. 294276 AD) can overflow the interval. The
# decay is unchanged: an age <= 0 gives 1 as any age <= w does, and at
# AGE_CLAMP_DAYS = 11 * the widest window every window's exponent is already
# at its floor -10 (1 - 11*365/w <= -10), as it is for any older base.
AGE_CLAMP_DAYS = 11 * max(WINDOW_DAYS.values())


def _num(value) -> str:
    """A double precision SQL literal that parses back to exactly `value`."""
    return f"{float(value)!r}::float8"


def decay(age_days: str, window_days: int) -> str:
    """1 within the window, then Q^(1 - age/w) floored at 1/Q (exponent floored at -10)."""
    return (f"CASE WHEN {age_days} <= {window_days} THEN {_num(1)} "
            f"ELSE greatest({_num(1)} / {_num(Q)}, "
            f"power({_num(Q)}, greatest({_num(-10)}, {_num(1)} - {age_days}::float8 / {_num(window_days)}))) END")


def karma_factor(version: str, karma: str) -> str:
    """K: the karma itself (pnagD) or 1 + log10(1 + karma) (AnlGe)."""
    if version == "pnagD":
        return f"{karma}::float8"
    if version == "AnlGe":
        return f"({_num(1)} + log({_num(1)} + {karma}::float8))"
    raise ValueError(f"unknown track strategy version {version!r}")


def _gate(owner_followers: str, score: str) -> str:
    """Owners with fewer than Y followers score 0 (a NULL count is not < Y)."""
    return f"CASE WHEN {owner_followers} < {Y} THEN {_num(0)} ELSE {score} END"


def track_score(version: str, time_range: str, row: str = "i") -> tuple[str, str]:
    """(score expression, row filter) for one track slice over trending_track_inputs."""
    k = karma_factor(version, f"{row}.karma")
    totals = f"{_num(R)} * {row}.repost_total + {_num(I)} * {row}.save_total"
    if time_range == "allTime":
        s = f"({_num(N)} * {row}.play_total + {totals})"
        return _gate(f"{row}.owner_followers", f"{s} * {k}"), f"{row}.play_total IS NOT NULL"
    if time_range not in TRACK_COUNT_WINDOWS:
        raise ValueError(f"unknown track time range {time_range!r}")
    s = (f"({_num(N)} * {row}.listens_{time_range} + {_num(F)} * {row}.reposts_{time_range}"
         f" + {_num(O)} * {row}.saves_{time_range} + {totals})")
    d = decay(f"{row}.age_days", WINDOW_DAYS[time_range])
    return _gate(f"{row}.owner_followers", f"({d}) * {s} * {k}"), "true"


def playlist_score(time_range: str, row: str = "i") -> tuple[str, str]:
    """(score expression, row filter) for one playlist slice over trending_playlist_inputs."""
    if time_range not in PLAYLIST_WINDOWS:
        raise ValueError(f"unknown playlist time range {time_range!r}")
    s = (f"({_num(N)} * 1 + {_num(F)} * {row}.reposts_{time_range}"
         f" + {_num(O)} * {row}.saves_{time_range}"
         f" + {_num(R)} * {row}.repost_total + {_num(I)} * {row}.save_total)")
    d = decay(f"{row}.age_days", WINDOW_DAYS[time_range])
    k = f"COALESCE({row}.karma_{time_range}::float8, {_num(1)})"
    return _gate(f"{row}.owner_followers", f"({d}) * {s} * {k}"), "true"
