"""docs/reference-absurd-rows.md's "Absurd rows" (issue 8, items 4, 7 and 8): rows a real indexer may
still write never stop a cycle; each is handled as docs/reference.md says, counted in the
summary's bad_rows (docs/reference-absurd-rows.md), and every score still
equals the independent oracle's. Each case runs through both entry points:
SELECT trending.recompute() and CALL trending.scheduled_recompute().
"""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from support.random_datasets import ENTRY_POINTS, Dataset, run_cycle

NOW = datetime(2024, 3, 31, 12, 0, tzinfo=timezone.utc)
T0 = NOW.replace(tzinfo=None)
DAY = timedelta(days=1)

entry_points = pytest.mark.parametrize("entry", ENTRY_POINTS)


def base_dataset() -> Dataset:
    """An owner with 100 followers, a fan with 50 (full profiles), and one
    ordinary eligible track and playlist, so every slice has rows."""
    ds = Dataset(now=NOW)
    ds.user(1, followers=100)
    ds.user(2, followers=50)
    ds.track(10, 1, T0 - 3 * DAY)
    ds.save(2, 10, T0 - DAY)
    ds.play(10, T0 - DAY)
    ds.agg_plays(10, 5)
    ds.agg_track(10, 1, 1)
    ds.playlist(20, 1, T0 - 3 * DAY)
    ds.repost(2, 20, T0 - DAY, type="playlist")
    return ds


def cycle(conn, name: str, ds: Dataset, entry: str):
    result = run_cycle(conn, f"absurd_{name}_{entry}", ds, entry=entry)
    assert result.summary["status"] == "ok", result.summary
    return result


def ids(rows: dict) -> set[int]:
    return {key[0] for key in rows}


# -- item 4: a genre longer than 1,000 bytes ----------------------------------
@entry_points
def test_a_genre_over_1000_bytes_is_stored_as_null_and_counted(conn, entry):
    ds = base_dataset()
    incompressible = "".join(random.Random(4).choices(string.ascii_letters + string.digits, k=3200))
    ds.track(11, 1, T0 - 2 * DAY, genre=incompressible)     # the track: 3,200 random characters
    ds.track(12, 1, T0 - 2 * DAY, genre="é" * 500)           # exactly 1,000 bytes: kept
    ds.track(13, 1, T0 - 2 * DAY, genre="é" * 501)           # 501 characters but 1,002 bytes: NULL
    for tid in (11, 12, 13):
        ds.save(2, tid, T0 - DAY)
        ds.agg_plays(tid, 3)
    result = cycle(conn, "genre", ds, entry)

    assert result.summary["bad_rows"]["track_genres_over_1000_bytes"] == 2
    genres = {key[0]: genre for key, (_score, genre) in result.got_tracks.items()}
    assert genres[11] is None and genres[13] is None and genres[12] == "é" * 500
    per_track = sum(1 for key in result.got_tracks if key[0] == 11)
    assert per_track == 9, "the track is scored in every track slice (3 strategies x 3 ranges)"
    result.assert_matches_oracle()


# -- item 7: a negative follower_count ------------------------------------------
@entry_points
def test_a_negative_follower_count_adds_nothing_and_scores_its_owner_0(conn, entry):
    ds = base_dataset()
    ds.user(3, followers=-5)               # an owner with a negative count
    ds.user(4, followers=-1000)            # a contributor with a negative count
    ds.user(5, followers=-7)               # negative, but never met: owns nothing eligible, no actions
    ds.track(30, 3, T0 - 2 * DAY)          # owned by 3: scores 0 everywhere
    ds.save(2, 30, T0 - DAY)
    ds.agg_plays(30, 10)
    ds.track(31, 1, T0 - 2 * DAY)          # karma only from 4: 0 (AnlGe: K = 1 + log10(1) = 1)
    ds.save(4, 31, T0 - DAY)
    ds.repost(4, 31, T0 - DAY)
    ds.agg_plays(31, 7)
    ds.track(32, 1, T0 - 2 * DAY)          # karma from 4 and 2: 50
    ds.save(4, 32, T0 - DAY)
    ds.save(2, 32, T0 - DAY)
    ds.playlist(40, 3, T0 - 2 * DAY)       # owned by 3: scores 0
    ds.playlist(41, 1, T0 - 2 * DAY)       # karma only from 4: NULL, factor 1
    ds.repost(4, 41, T0 - DAY, type="playlist")
    ds.playlist(42, 1, T0 - 2 * DAY)       # karma from 4 and 2: 50
    ds.save(4, 42, T0 - DAY, type="playlist")
    ds.save(2, 42, T0 - DAY, type="playlist")
    ds.playlist(43, 5, T0 - 2 * DAY, is_private=True)   # 5 is never met: not eligible
    result = cycle(conn, "negative", ds, entry)

    bad = result.summary["bad_rows"]
    assert bad["track_users_negative_followers"] == 2          # 3 as owner, 4 as contributor
    assert bad["playlist_users_negative_followers"] == 2
    assert 30 not in ids(result.got_tracks) and 40 not in ids(result.got_playlists)
    assert all(score > 0 for score, _genre in result.got_tracks.values()), "no negative score is stored"
    assert all(score > 0 for score in result.got_playlists.values())
    assert (31, "TRACKS", "AnlGe", "week") in result.got_tracks
    assert (31, "TRACKS", "pnagD", "week") not in result.got_tracks, "karma 0: pnagD scores 0"
    assert result.got_tracks[(32, "TRACKS", "pnagD", "week")][0] == pytest.approx(2 * 50, rel=1e-12), \
        "two saves (S = 2), karma 50: the negative contributor adds nothing"
    result.assert_matches_oracle()


# -- item 8: infinite dates ------------------------------------------------------
@entry_points
def test_an_infinite_created_at_makes_the_item_not_eligible(conn, entry):
    ds = base_dataset()
    ds.track(50, 1, "-infinity")
    ds.track(51, 1, "infinity")
    ds.track(52, 1, "-infinity", is_delete=True)            # not eligible anyway: not counted
    ds.playlist(60, 1, "-infinity")                         # the playlist
    for tid in (50, 51):
        ds.save(2, tid, T0 - DAY)
        ds.agg_plays(tid, 4)
    ds.repost(2, 60, T0 - DAY, type="playlist")
    result = cycle(conn, "created_inf", ds, entry)

    bad = result.summary["bad_rows"]
    assert bad["tracks_created_at_infinite"] == 2
    assert bad["playlists_created_at_infinite"] == 1
    assert not ids(result.got_tracks) & {50, 51, 52} and 60 not in ids(result.got_playlists)
    assert 10 in ids(result.got_tracks) and 20 in ids(result.got_playlists)
    result.assert_matches_oracle()


@entry_points
def test_an_infinite_release_date_follows_the_base_rule(conn, entry):
    ds = base_dataset()
    old = T0 - 40 * DAY
    ds.track(53, 1, old, release_date="infinity")           # after now: base = created_at (decayed)
    ds.track(54, 1, old, release_date="-infinity")          # loses to created_at in greatest()
    ds.playlist(61, 1, old, release_date="infinity")
    for tid in (53, 54):
        ds.save(2, tid, T0 - DAY)
    ds.repost(2, 61, T0 - DAY, type="playlist")
    result = cycle(conn, "release_inf", ds, entry)

    assert result.summary["bad_rows"]["tracks_release_date_infinite"] == 2
    assert result.summary["bad_rows"]["playlists_release_date_infinite"] == 1
    # base = created_at, 40 days old: the month's decay is 1e5^(1 - 40/30)
    month = result.got_tracks[(53, "TRACKS", "pnagD", "month")][0]
    assert month == pytest.approx(10 ** (5 * (1 - 40 / 30)) * 1 * 50, rel=1e-9)      # S = 1 save
    result.assert_matches_oracle()


@entry_points
def test_infinite_event_dates_follow_the_window_rule(conn, entry):
    ds = base_dataset()
    ds.track(55, 1, T0 - 2 * DAY)
    ds.play(55, "infinity")                                 # inside every window
    ds.play(55, "-infinity")                                # inside none
    ds.save(2, 55, "infinity")
    ds.repost(2, 55, "-infinity")                           # in no window, but karma has none
    ds.play(999, "infinity")                                # not an eligible track: not counted
    ds.playlist(62, 1, T0 - 2 * DAY)
    ds.repost(2, 62, "infinity", type="playlist")
    ds.save(2, 62, "-infinity", type="playlist")
    result = cycle(conn, "events_inf", ds, entry)

    assert result.summary["bad_rows"]["track_events_created_at_infinite"] == 4
    assert result.summary["bad_rows"]["playlist_events_created_at_infinite"] == 2
    # week: 1 listen + 1 save; karma: the save and the repost, 2 x 50
    assert result.got_tracks[(55, "TRACKS", "pnagD", "week")][0] == pytest.approx((1 + 1) * 100, rel=1e-12)
    result.assert_matches_oracle()


@entry_points
def test_ancient_and_far_future_dates_never_overflow_the_age(conn, entry):
    ds = base_dataset()
    ds.track(56, 1, "4713-01-01 00:00:00 BC")               # decay floor 1/Q in every window
    ds.track(57, 1, "294276-12-31 23:59:59")                # after now: age <= 0, decay 1
    ds.track(58, 1, T0 - 10 * DAY, release_date="4713-01-01 00:00:00 BC")
    ds.playlist(63, 1, "4713-01-01 00:00:00 BC", release_date="294276-12-31 23:59:59")
    ds.playlist(64, 1, "294276-12-31 23:59:59")
    ds.play(56, "4713-01-01 00:00:00 BC")
    ds.play(56, "294276-12-31 23:59:59")
    for tid in (56, 57, 58):
        ds.save(2, tid, T0 - DAY)
    for pid in (63, 64):
        ds.repost(2, pid, T0 - DAY, type="playlist")
    result = cycle(conn, "far_dates", ds, entry)

    assert result.got_tracks[(56, "TRACKS", "pnagD", "week")][0] == pytest.approx(1e-5 * (1 + 1) * 50, rel=1e-12)
    assert result.got_tracks[(57, "TRACKS", "pnagD", "week")][0] == pytest.approx(1 * 50, rel=1e-12)
    result.assert_matches_oracle()


def test_a_now_far_in_the_future_cannot_overflow_the_age(conn):
    """The latest accepted now (9999-12-31, see test_validation.py) against a
    base of 4713 BC: the age is clamped, the score sits at the decay floor."""
    ds = base_dataset()
    ds.track(56, 1, "4713-01-01 00:00:00 BC")
    ds.save(2, 56, T0 - DAY)                                # karma 50, outside every window of that now
    ds.agg_track(56, 4, 0)                                  # S = R * 4 = 1
    from support.harness import enable_strategies, use_source_schema
    from support.random_datasets import drop_schema, load_dataset
    load_dataset(conn, "absurd_far_now", ds)
    try:
        use_source_schema(conn, "absurd_far_now")
        enable_strategies(conn)
        (summary,) = conn.execute("SELECT trending.recompute('9999-12-31 23:59:59+00')").fetchone()
        assert summary["status"] == "ok"
        scores = [r[0] for r in conn.execute(
            "SELECT score FROM trending.track_trending_scores WHERE track_id = 56 AND time_range = 'week' "
            "AND version = 'pnagD'")]
        assert scores == [pytest.approx(1e-5 * 1 * 50, rel=1e-12)] * 2, "both track types at the decay floor"
    finally:
        drop_schema(conn, "absurd_far_now")


def test_the_oracle_reads_every_timestamp_postgresql_can_hold(conn):
    """The oracle's own calendar (integer microseconds, any year) agrees with
    PostgreSQL's epoch for the dates datetime cannot hold."""
    from oracle.calendar import parse_pg_timestamp
    for text in ("4714-11-24 00:00:00 BC", "4713-01-01 00:00:00 BC", "0001-12-31 23:59:59.5 BC",
                 "0001-01-01 00:00:00", "1970-01-01 00:00:00", "2024-02-29 12:34:56.789012",
                 "294276-12-31 23:59:59", "infinity", "-infinity"):  # (PG rounds the epoch of .999999 there)
        (shown, epoch_us) = conn.execute(
            "SELECT t::text, CASE WHEN isfinite(t) THEN (extract(epoch FROM t) * 1000000)::numeric END "
            "FROM (SELECT %s::timestamp AS t) AS x", (text,)).fetchone()
        value = parse_pg_timestamp(shown)
        if epoch_us is None:
            assert value == (float("inf") if text == "infinity" else float("-inf"))
        else:
            assert value == int(epoch_us), text
