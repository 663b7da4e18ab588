"""formulas: SQL expression builders carrying the reference's constants."""

from __future__ import annotations

import pytest

from trending_pl import formulas


def test_constants_are_specs():
    assert (formulas.N, formulas.F, formulas.O, formulas.R, formulas.I, formulas.Q, formulas.Y) == \
        (1, 50, 1, 0.25, 0.01, 100000, 3)
    assert formulas.WINDOW_DAYS == {"week": 7, "month": 30, "year": 365}
    assert formulas.TRACK_COUNT_WINDOWS == {"week": "7 days", "month": "1 mon"}
    assert formulas.PLAYLIST_WINDOWS == {"week": "7 days", "month": "30 days", "year": "365 days"}


def test_literals_round_trip_exactly():
    for value in (0.01, 0.25, 1, 50, 100000):
        literal = formulas._num(value)
        assert literal.endswith("::float8")
        assert float(literal.split("::")[0]) == float(value)


def test_all_time_rows_need_a_play_total():
    expression, row_filter = formulas.track_score("pnagD", "allTime")
    assert row_filter == "i.play_total IS NOT NULL"
    assert "decay" not in expression and "power(" not in expression, "allTime has no decay"


def test_windowed_track_scores_read_their_own_window():
    week, _ = formulas.track_score("pnagD", "week")
    month, _ = formulas.track_score("pnagD", "month")
    assert "i.listens_week" in week and "i.listens_month" not in week
    assert "i.reposts_month" in month and "<= 30 THEN" in month
    assert "<= 7 THEN" in week


def test_versions_differ_only_in_the_karma_factor():
    pnagd, _ = formulas.track_score("pnagD", "week")
    anlge, _ = formulas.track_score("AnlGe", "week")
    assert pnagd.replace("i.karma::float8", "K") == \
        anlge.replace(formulas.karma_factor("AnlGe", "i.karma"), "K")
    assert "log(" in anlge


def test_playlist_karma_defaults_to_one():
    expression, _ = formulas.playlist_score("year")
    assert "COALESCE(i.karma_year::float8, 1.0::float8)" in expression
    assert "<= 365 THEN" in expression


@pytest.mark.parametrize("call", [lambda: formulas.track_score("nope", "week"),
                                  lambda: formulas.track_score("pnagD", "year"),
                                  lambda: formulas.playlist_score("allTime")])
def test_unknown_versions_and_ranges_are_refused(call):
    with pytest.raises(ValueError):
        call()


def test_the_age_clamp_leaves_every_decay_unchanged():
    # Bases older than AGE_CLAMP_DAYS are clamped to it: every window's exponent
    # 1 - age/w must already be at its floor -10 there (so the decay is 1/Q,
    # as for any older base); bases after now are clamped to age 0 (decay 1,
    # as for any age <= w).
    for w in formulas.WINDOW_DAYS.values():
        assert 1 - formulas.AGE_CLAMP_DAYS / w <= -10
    assert formulas.GENRE_MAX_BYTES == 1000


def test_age_days_clamps_the_base_before_subtracting():
    from trending_pl import inputs
    c = inputs.Cycle(source='"s"', now_text="2026-03-31 12:00:00", now_utc="'2026-03-31 12:00:00'::timestamp",
                     track_week_start="", track_month_start="", playlist_starts={})
    expression = inputs._age_days(c, "e")
    assert expression.startswith("EXTRACT(day FROM '2026-03-31 12:00:00'::timestamp - greatest(least(")
    assert f"interval '{formulas.AGE_CLAMP_DAYS} days'" in expression
