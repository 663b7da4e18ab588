"""One named test per edge case of docs/reference.md. Each builds a minimal dataset, runs
one cycle, compares everything with the oracle, and then asserts the specific
behaviour directly (a row's presence/absence, or a value worked out by hand in
a comment), so it fails on a wrong behaviour even where the oracle agreed.

Common cast (see `base`): now = 2024-03-31 12:00 UTC (T below, the naive UTC
instant); T - 7 days = 2024-03-24 12:00; T - 1 mon = 2024-02-29 12:00.
  user 1   owner, 10 followers
  user 10  fan, full profile, 100 followers
  user 11  fan, full profile, 1000 followers
A repost by fan 10 one day ago gives a track S_week = S_month = 50 and karma
100, so a fresh track scores 50 * 100 = 5000 in week and month (pnagD).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from support.harness import ALL_STRATEGIES
from support.random_datasets import JSON_NULL, Dataset, random_dataset, run_cycle

UTC = timezone.utc
NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)
T = datetime(2024, 3, 31, 12, 0)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
SEC = timedelta(seconds=1)
WEEK_DECAY_10_DAYS = 10 ** (5 * (1 - 10 / 7))      # Q^(1 - age/w) for age 10, w 7


def base(now=NOW) -> Dataset:
    ds = Dataset(now=now)
    ds.user(1, followers=10)
    ds.user(10, followers=100)
    ds.user(11, followers=1000)
    return ds


def cycle(conn, ds: Dataset, schema: str, strategies=ALL_STRATEGIES):
    result = run_cycle(conn, schema, ds, strategies)
    result.assert_matches_oracle()
    return result


def track(result, tid, rng, typ="TRACKS", version="pnagD"):
    """The stored score of a track row, or None when there is no row."""
    row = result.got_tracks.get((tid, typ, version, rng))
    return None if row is None else row[0]


def playlist(result, pid, rng):
    return result.got_playlists.get((pid, "PLAYLISTS", "pnagD", rng))


def track_ids_of(result):
    return {k[0] for k in result.got_tracks}


def playlist_ids_of(result):
    return {k[0] for k in result.got_playlists}


# ---------------------------------------------------------------------------
# Release date and age
# ---------------------------------------------------------------------------
def test_null_release_date(conn):
    ds = base()
    ds.track(1, 1, T - 10 * DAY, release_date=None)
    ds.repost(10, 1, T - DAY)
    r = cycle(conn, ds, "edge_null_release")
    # base = created_at, age 10: week decays by 1e5^(1 - 10/7); month (10 <= 30) does not.
    assert track(r, 1, "week") == pytest.approx(5000 * WEEK_DECAY_10_DAYS, rel=1e-9)
    assert track(r, 1, "month") == pytest.approx(5000, rel=1e-9)


def test_release_date_in_future(conn):
    ds = base()
    ds.track(1, 1, T - 10 * DAY, release_date=T + 5 * DAY)
    ds.repost(10, 1, T - DAY)
    r = cycle(conn, ds, "edge_future_release")
    # release_date > now: base = created_at (age 10), not the release date (age -5 would not decay).
    assert track(r, 1, "week") == pytest.approx(5000 * WEEK_DECAY_10_DAYS, rel=1e-9)


def test_release_date_before_created_at(conn):
    ds = base()
    ds.track(1, 1, T - 2 * DAY, release_date=T - 20 * DAY)     # base = later = created_at: age 2
    ds.track(2, 1, T - 20 * DAY, release_date=T - 2 * DAY)     # base = later = release_date: age 2
    ds.track(3, 1, T - 2 * DAY, release_date=T - 10 * DAY - SEC)  # base created_at; release age 10 ignored
    for tid in (1, 2, 3):
        ds.repost(10, tid, T - DAY)
    r = cycle(conn, ds, "edge_release_before")
    for tid in (1, 2, 3):
        assert track(r, tid, "week") == pytest.approx(5000, rel=1e-9), tid    # no decay at age 2


def test_age_exactly_7_days_and_one_day_past(conn):
    ds = base()
    ds.track(1, 1, T - 7 * DAY)               # age 7: no decay in week
    ds.track(2, 1, T - 8 * DAY)               # age 8: decay 1e5^(1 - 8/7) = 10^(-5/7)
    ds.track(3, 1, T - 8 * DAY + US)          # 7 days 23:59:59.999999: age 7
    for tid in (1, 2, 3):
        ds.repost(10, tid, T - DAY)
    r = cycle(conn, ds, "edge_age_7")
    assert track(r, 1, "week") == pytest.approx(5000, rel=1e-9)
    assert track(r, 2, "week") == pytest.approx(5000 * 10 ** (-5 / 7), rel=1e-9)
    assert track(r, 3, "week") == pytest.approx(5000, rel=1e-9)
    assert track(r, 2, "month") == pytest.approx(5000, rel=1e-9)


def test_age_exactly_30_days_and_one_day_past(conn):
    ds = base()
    ds.track(1, 1, T - 30 * DAY)              # age 30: no decay in month
    ds.track(2, 1, T - 31 * DAY)              # age 31: decay 10^(5 * (1 - 31/30)) = 10^(-1/6)
    for tid in (1, 2):
        ds.repost(10, tid, T - DAY)
    ds.playlist(20, 1, T - 30 * DAY)          # playlists: S = 1, karma NULL -> 1 before decay
    ds.playlist(21, 1, T - 31 * DAY)
    ds.playlist(22, 1, T - 365 * DAY)         # year window 365
    ds.playlist(23, 1, T - 366 * DAY)
    r = cycle(conn, ds, "edge_age_30")
    assert track(r, 1, "month") == pytest.approx(5000, rel=1e-9)
    assert track(r, 2, "month") == pytest.approx(5000 * 10 ** (-1 / 6), rel=1e-9)
    assert playlist(r, 20, "month") == 1.0
    assert playlist(r, 21, "month") == pytest.approx(10 ** (-1 / 6), rel=1e-9)
    assert playlist(r, 22, "year") == 1.0
    assert playlist(r, 23, "year") == pytest.approx(10 ** (5 * (1 - 366 / 365)), rel=1e-9)
    # week for the 30-day-old playlist: 1e5^(1 - 30/7) is below 1/Q: clamped at 1e-5.
    assert playlist(r, 20, "week") == pytest.approx(1e-5, rel=1e-9)


# ---------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------
def test_play_exactly_at_week_bound_and_one_second_later(conn):
    ds = base()
    ds.track(1, 1, T - 2 * DAY)
    ds.save(10, 1, T - 20 * DAY)              # karma 100; in the month window only
    ds.play(1, T - 7 * DAY)                   # exactly at the bound: not > bound, out of week
    ds.play(1, T - 7 * DAY + SEC)             # in
    r = cycle(conn, ds, "edge_week_bound")
    # week: 1 listen -> S = 1 -> 100; month: 2 listens + 1 save -> 300
    assert track(r, 1, "week") == pytest.approx(100, rel=1e-9)
    assert track(r, 1, "month") == pytest.approx(300, rel=1e-9)


def test_play_exactly_at_month_bound(conn):
    ds = base()
    ds.track(1, 1, T - 2 * DAY)
    ds.save(10, 1, T - 2 * DAY)                   # karma 100, in both windows
    bound = datetime(2024, 2, 29, 12)             # T - 1 mon (Mar 31 - 1 mon = Feb 29, 2024 is a leap year)
    ds.play(1, bound)                             # exactly at the bound: out
    ds.play(1, bound + US)                        # in
    ds.play(1, T - 30 * DAY)                      # Mar 1 12:00: in (a calendar month, not '30 days')
    r = cycle(conn, ds, "edge_month_bound")
    # month: 2 listens + 1 save = 3 -> 300; week: 1 save -> 100
    assert track(r, 1, "month") == pytest.approx(300, rel=1e-9)
    assert track(r, 1, "week") == pytest.approx(100, rel=1e-9)


def test_playlist_windows_bounds(conn):
    ds = base()
    ds.playlist(20, 1, T - DAY)
    ds.repost(10, 20, T - 7 * DAY, type="playlist")   # count: out of week (not >); karma: in (>=)
    ds.save(11, 20, T - 30 * DAY, type="playlist")    # same at the 30-day bound
    r = cycle(conn, ds, "edge_playlist_bounds")
    # week: S = 1, karma 100 (fan 10 at >= bound) -> 100
    # month: S = 1 + 50 (repost) = 51, karma 100 + 1000 -> 56100
    # year: S = 1 + 50 + 1 = 52, karma 1100 -> 57200
    assert playlist(r, 20, "week") == pytest.approx(100, rel=1e-9)
    assert playlist(r, 20, "month") == pytest.approx(56100, rel=1e-9)
    assert playlist(r, 20, "year") == pytest.approx(57200, rel=1e-9)


# ---------------------------------------------------------------------------
# Owners
# ---------------------------------------------------------------------------
def test_owner_without_aggregate_user_row(conn):
    ds = base()
    ds.user(5)                                   # a users row, no aggregate_user row
    ds.user(6, followers=None)                   # aggregate_user row with NULL follower_count
    ds.track(1, 5, T - DAY)
    ds.track(2, 6, T - DAY)
    for tid in (1, 2):
        ds.repost(10, tid, T - DAY)
    ds.playlist(20, 5, T - DAY)                  # playlists need the owner's aggregate_user row
    ds.playlist(21, 6, T - DAY)                  # NULL follower_count is not < 3
    r = cycle(conn, ds, "edge_owner_no_agg")
    assert track(r, 1, "week") == pytest.approx(5000, rel=1e-9)    # NULL followers are not < 3
    assert track(r, 2, "week") == pytest.approx(5000, rel=1e-9)
    assert playlist_ids_of(r) == {21}
    assert playlist(r, 21, "week") == 1.0


def test_owner_followers_2_vs_3(conn):
    ds = base()
    ds.user(2, followers=2)
    ds.user(3, followers=3)
    ds.track(1, 2, T - DAY)
    ds.track(2, 3, T - DAY)
    for tid in (1, 2):
        ds.repost(10, tid, T - DAY)
        ds.agg_plays(tid, 10)
    ds.playlist(20, 2, T - DAY)
    ds.playlist(21, 3, T - DAY)
    r = cycle(conn, ds, "edge_owner_followers")
    assert track_ids_of(r) == {2}
    assert track(r, 2, "week") == pytest.approx(5000, rel=1e-9)
    assert track(r, 2, "allTime") == pytest.approx(10 * 100, rel=1e-9)   # play_total 10 * karma 100
    assert track(r, 2, "allTime", version="AnlGe") == pytest.approx(10 * (1 + math.log10(101)), rel=1e-9)
    assert track(r, 2, "week", typ="UNDERGROUND_TRACKS") == pytest.approx(5000, rel=1e-9)
    assert playlist_ids_of(r) == {21}


# ---------------------------------------------------------------------------
# History rows and duplicates
# ---------------------------------------------------------------------------
def test_history_rows_in_tracks(conn):
    ds = base()
    ds.track(1, 1, T - 300 * DAY, genre="Old", is_current=False, is_delete=True)
    ds.track(1, 1, T - DAY, genre="Rock")                       # the current row
    ds.track(2, 1, T - DAY, is_current=False)                   # only history rows
    ds.track(2, 1, T - DAY, is_current=None)
    ds.track(3, 1, T - DAY, genre="A")                          # two current rows: skipped, counted
    ds.track(3, 1, T - DAY, genre="B")
    for tid in (1, 2, 3):
        ds.repost(10, tid, T - DAY)
    r = cycle(conn, ds, "edge_history_tracks")
    assert track_ids_of(r) == {1}
    assert r.got_tracks[(1, "TRACKS", "pnagD", "week")] == (pytest.approx(5000, rel=1e-9), "Rock")
    assert r.summary["bad_rows"]["duplicate_current_tracks"] == 1


def test_history_rows_in_users(conn):
    ds = base()
    ds.user(12, bio=None, followers=100)              # current row without a bio ...
    ds.user(12, is_current=False)                     # ... and a history row with a full profile
    ds.user(13, followers=7)                          # two full rows, one current
    ds.user(13, is_current=False)
    ds.track(1, 1, T - DAY)
    ds.track(2, 1, T - DAY)
    ds.repost(12, 1, T - DAY)
    ds.repost(13, 2, T - DAY)
    ds.playlist(20, 1, T - DAY)
    ds.playlist(21, 1, T - DAY)
    ds.repost(12, 20, T - DAY, type="playlist")
    ds.repost(13, 21, T - DAY, type="playlist")
    r = cycle(conn, ds, "edge_history_users")
    # Track karma checks every users row: 12 -> 100 (via its history row); 13 -> 7 x 2 rows = 14.
    assert track(r, 1, "week") == pytest.approx(50 * 100, rel=1e-9)
    assert track(r, 2, "week") == pytest.approx(50 * 14, rel=1e-9)
    # Playlist karma only current rows: 12 -> none (NULL, factor 1); 13 -> 7. S = 1 + 50 = 51.
    assert playlist(r, 20, "week") == pytest.approx(51, rel=1e-9)
    assert playlist(r, 21, "week") == pytest.approx(51 * 7, rel=1e-9)


def test_history_rows_in_playlists(conn):
    ds = base()
    ds.playlist(20, 1, T - 50 * DAY, is_current=False, is_private=True, track_ids=[1])
    ds.playlist(20, 1, T - DAY)                       # current row: eligible
    ds.playlist(21, 1, T - DAY)                       # two current rows: skipped and counted
    ds.playlist(21, 1, T - DAY)
    ds.playlist(22, 1, T - DAY, is_current=False)     # only a history row
    r = cycle(conn, ds, "edge_history_playlists")
    assert playlist_ids_of(r) == {20}
    assert playlist(r, 20, "week") == 1.0
    assert r.summary["bad_rows"]["duplicate_current_playlists"] == 1


# ---------------------------------------------------------------------------
# Ineligible tracks
# ---------------------------------------------------------------------------
def test_stem_tracks(conn):
    ds = base()
    ds.track(1, 1, T - DAY, stem_of={"parent_track_id": 2, "category": "other"})
    ds.track(2, 1, T - DAY, stem_of=JSON_NULL)        # jsonb 'null' is not SQL NULL: still a stem
    ds.track(3, 1, T - DAY, stem_of=None)
    for tid in (1, 2, 3):
        ds.repost(10, tid, T - DAY)
    r = cycle(conn, ds, "edge_stems")
    assert track_ids_of(r) == {3}


def test_unlisted_track(conn):
    ds = base()
    ds.track(1, 1, T - DAY, is_unlisted=True)
    ds.track(2, 1, T - DAY, is_unlisted=None)
    ds.track(3, 1, T - DAY, is_available=False)       # is_available is not an eligibility rule
    for tid in (1, 2, 3):
        ds.repost(10, tid, T - DAY)
    r = cycle(conn, ds, "edge_unlisted")
    assert track_ids_of(r) == {3}


def test_deleted_track(conn):
    ds = base()
    ds.track(1, 1, T - DAY, is_delete=True)
    ds.track(2, 1, T - DAY, is_delete=None)
    ds.track(3, 1, T - DAY)
    for tid in (1, 2, 3):
        ds.repost(10, tid, T - DAY)
    r = cycle(conn, ds, "edge_deleted")
    assert track_ids_of(r) == {3}


# ---------------------------------------------------------------------------
# Playlist contents
# ---------------------------------------------------------------------------
def test_playlists_with_2_vs_3_tracks(conn):
    ds = base()
    ds.playlist(20, 1, T - DAY, track_ids=[1, 2])
    ds.playlist(21, 1, T - DAY, track_ids=[1, 2, 3])
    ds.playlist(22, 1, T - DAY, track_ids=[])
    ds.playlist(23, 1, T - DAY, contents={"track_ids": [7, 7, 7]})   # bare ids, repeated: 3 entries
    r = cycle(conn, ds, "edge_playlist_sizes")
    assert playlist_ids_of(r) == {21, 23}
    # S = 1 (no reposts/saves, no aggregate row), karma NULL -> 1, age 1: 1.0 in every range
    assert [playlist(r, 21, g) for g in ("week", "month", "year")] == [1.0, 1.0, 1.0]
    assert r.summary["bad_rows"]["playlists_track_ids_not_array"] == 0


def test_non_array_track_ids(conn):
    ds = base()
    ds.playlist(20, 1, T - DAY, contents={"track_ids": {"track": 1, "time": 2}})
    ds.playlist(21, 1, T - DAY, contents={"track_ids": "1,2,3"})
    ds.playlist(22, 1, T - DAY, contents={})
    ds.playlist(23, 1, T - DAY, contents=None)
    ds.playlist(24, 1, T - DAY, contents=JSON_NULL)
    ds.playlist(25, 1, T - DAY, contents={"track_ids": None})
    ds.playlist(26, 1, T - DAY, contents=[1, 2, 3])
    ds.playlist(27, 1, T - DAY, contents={"track_ids": {}}, is_private=True)   # not counted: private
    ds.playlist(28, 1, T - DAY)                                               # a good one
    r = cycle(conn, ds, "edge_not_array")
    assert playlist_ids_of(r) == {28}
    assert r.summary["status"] == "ok"
    assert r.summary["bad_rows"]["playlists_track_ids_not_array"] == 7


# ---------------------------------------------------------------------------
# Counts and karma
# ---------------------------------------------------------------------------
def test_null_aggregate_plays_count(conn):
    ds = base()
    for tid in (1, 2, 3):
        ds.track(tid, 1, T - DAY)
        ds.repost(10, tid, T - DAY)
    ds.agg_plays(1, None)                  # NULL: no allTime row, counted
    ds.agg_plays(2, 0)                     # 0 plays: allTime = (0 + R*4) * 100 = 100
    ds.agg_track(2, 4, 0)
    r = cycle(conn, ds, "edge_null_plays")  # track 3: no aggregate_plays row, no allTime
    assert track(r, 1, "week") == pytest.approx(5000, rel=1e-9)
    assert track(r, 1, "allTime") is None and track(r, 1, "allTime", version="AnlGe") is None
    assert track(r, 2, "allTime") == pytest.approx(100, rel=1e-9)
    assert track(r, 3, "allTime") is None
    assert r.summary["bad_rows"]["null_play_counts"] == 1


def test_playlist_karma_above_int4(conn):
    ds = base()
    ds.user(30, followers=2_000_000_000)
    ds.user(31, followers=1_500_000_000)
    ds.playlist(20, 1, T - DAY)
    ds.save(30, 20, T - DAY, type="playlist")
    ds.save(31, 20, T - DAY, type="playlist")
    ds.track(1, 1, T - DAY)
    ds.repost(30, 1, T - DAY)
    ds.repost(31, 1, T - DAY)
    r = cycle(conn, ds, "edge_karma_int4")
    # playlist karma 3.5e9 (> 2^31 - 1), S = 1 + 2 saves = 3 -> 1.05e10
    assert playlist(r, 20, "week") == pytest.approx(3 * 3_500_000_000, rel=1e-9)
    # track karma 3.5e9 too, S = 100 (two reposts) -> 3.5e11
    assert track(r, 1, "week") == pytest.approx(100 * 3_500_000_000, rel=1e-9)
    assert r.summary["bad_rows"]["playlist_karma_over_int4"] == 1


def test_user_who_saved_and_reposted(conn):
    ds = base()
    ds.track(1, 1, T - DAY)
    ds.repost(10, 1, T - DAY)
    ds.save(10, 1, T - DAY)
    ds.playlist(20, 1, T - DAY)
    ds.repost(10, 20, T - DAY, type="playlist")
    ds.save(10, 20, T - DAY, type="playlist")
    r = cycle(conn, ds, "edge_saved_and_reposted")
    # karma counts fan 10 twice: 200. Track S = 50 + 1 = 51 -> 10200. Playlist S = 1 + 50 + 1 = 52 -> 10400.
    assert track(r, 1, "week") == pytest.approx(10200, rel=1e-9)
    assert playlist(r, 20, "week") == pytest.approx(10400, rel=1e-9)


def test_users_with_partial_profiles(conn):
    ds = base()
    ds.user(20, cover_photo=None, followers=1000)                     # no cover photo
    ds.user(21, profile_picture=None, followers=1000)                 # no profile picture
    ds.user(22, bio=None, followers=1000)                             # no bio
    ds.user(23, cover_photo=None, cover_photo_sizes="x", profile_picture=None,
            profile_picture_sizes="y", bio="", followers=7)          # complete through *_sizes, '' bio
    ds.agg_user(24, 1000)                                             # no users row at all
    ds.track(1, 1, T - DAY)
    for uid in (20, 21, 22, 23, 24):
        ds.repost(uid, 1, T - DAY)
    r = cycle(conn, ds, "edge_partial_profiles")
    # 5 reposts: S = 250; only user 23 qualifies: karma 7 -> 1750
    assert track(r, 1, "week") == pytest.approx(1750, rel=1e-9)


def test_album_and_deleted_actions_do_not_count(conn):
    ds = base()
    ds.track(1, 1, T - DAY)
    ds.repost(10, 1, T - DAY)                                 # counts: S 50, karma 100
    ds.save(11, 1, T - DAY, type="album")                     # album save of the same id: ignored
    ds.repost(11, 1, T - DAY, type="playlist")                # playlist repost of the same id: ignored
    ds.save(11, 1, T - 2 * DAY, is_delete=True)
    ds.save(11, 1, T - 3 * DAY, is_current=None)
    ds.repost(11, 999, T - DAY)                               # a track that does not exist
    r = cycle(conn, ds, "edge_album_actions")
    assert track_ids_of(r) == {1}
    assert track(r, 1, "week") == pytest.approx(5000, rel=1e-9)


# ---------------------------------------------------------------------------
# Session time zone
# ---------------------------------------------------------------------------
def test_session_timezone_los_angeles(conn):
    # now = 2024-03-14 03:30 UTC = Mar 13 20:30 PDT (DST began Mar 10). In UTC:
    # week bound = Mar 7 03:30, month bound = Feb 14 03:30. Computed in LA local time they
    # would be Mar 7 04:30 UTC and Feb 14 04:30 UTC: the plays at 04:00 tell them apart.
    now = datetime(2024, 3, 14, 3, 30, tzinfo=UTC)
    t = datetime(2024, 3, 14, 3, 30)
    ds = base(now)
    ds.track(1, 1, t - 2 * DAY)
    ds.save(10, 1, t - 20 * DAY)                   # karma 100, month window only
    ds.play(1, datetime(2024, 3, 7, 4, 0))
    ds.play(1, datetime(2024, 2, 14, 4, 0))
    ds.playlist(20, 1, t - 2 * DAY)
    ds.repost(10, 20, datetime(2024, 3, 7, 4, 0), type="playlist")
    datasets = [("edge_tz_hand", ds)] + [(f"edge_tz_{s}", random_dataset(s)) for s in (3, 11, 42)]

    for schema, dataset in datasets:
        # Clear the score tables, so that every row below is written by the LA-session cycle.
        cycle(conn, Dataset(now=dataset.now), "edge_tz_empty")
        conn.execute("SET TimeZone = 'America/Los_Angeles'")
        try:
            la = cycle(conn, dataset, schema)
            stamps = {r[0] for r in conn.execute(
                "SELECT created_at FROM trending.track_trending_scores UNION "
                "SELECT created_at FROM trending.playlist_trending_scores").fetchall()}
        finally:
            conn.execute("SET TimeZone = 'UTC'")
        # created_at is the cycle's now in UTC, whatever the session's TimeZone
        assert stamps <= {dataset.now_utc}, (schema, stamps)
        utc = cycle(conn, dataset, schema)
        assert la.got_tracks == utc.got_tracks, schema
        assert la.got_playlists == utc.got_playlists, schema
        if schema == "edge_tz_hand":
            # week: 1 listen -> S 1 -> 100; month: 2 listens + 1 save -> 300
            assert track(la, 1, "week") == pytest.approx(100, rel=1e-9)
            assert track(la, 1, "month") == pytest.approx(300, rel=1e-9)
            # playlist week: the repost (after the UTC bound) counts: S = 51, karma 100
            assert playlist(la, 20, "week") == pytest.approx(5100, rel=1e-9)
