"""The oracle on its own (no extension needed): its calendar arithmetic against
PostgreSQL itself, and its scores against small datasets worked out by hand."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from oracle import calendar as cal
from oracle import expected_bad_rows, expected_scores, fetch_source
from oracle.scores import age_days, decay
from support.random_datasets import JSON_NULL, Dataset, drop_schema, load_dataset, random_dataset

UTC = timezone.utc
DAY = timedelta(days=1)
US = timedelta(microseconds=1)


@pytest.fixture(scope="module")
def pg(cluster):
    """A plain connection to the throwaway cluster (no extension needed)."""
    with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn


# ---------------------------------------------------------------------------
# Calendar arithmetic vs PostgreSQL
# ---------------------------------------------------------------------------
def _calendar_samples() -> list[datetime]:
    rnd = random.Random(1234)
    samples = []
    for year in [1999, 2000, 2001, 2019, 2020, 2023, 2024, 2025, 2100, 2101, 2400]:
        for month in range(1, 13):
            last = cal.days_in_month(year, month)
            for day in {1, 2, 28, 29, 30, 31}:
                if day <= last:
                    samples.append(datetime(year, month, day, 0, 0))
                    samples.append(datetime(year, month, day, 23, 59, 59, 999999))
    samples += [datetime(2024, 2, 29, 12), datetime(2023, 3, 31, 1), datetime(2024, 3, 31, 7),
                datetime(2100, 3, 1), datetime(2100, 2, 28, 5), datetime(2000, 2, 29), datetime(2000, 3, 31),
                datetime(2024, 12, 31, 23, 59, 59, 999999), datetime(2025, 1, 1)]
    day = datetime(2023, 1, 1, 12, 34, 56, 789012)
    while day < datetime(2026, 1, 1):
        samples.append(day)
        day += DAY
    for _ in range(500):
        samples.append(datetime(1990, 1, 1) + timedelta(microseconds=rnd.randrange(120 * 365 * 86400 * 10 ** 6)))
    return samples


@pytest.mark.parametrize("interval", ["1 mon", "1 year", "7 days", "30 days", "365 days", "12 mons", "2 mons"])
def test_subtract_interval_matches_postgres(pg, interval):
    samples = _calendar_samples()
    rows = pg.execute("SELECT t, t - %s::interval FROM unnest(%s::timestamp[]) AS t",
                      (interval, samples)).fetchall()
    assert len(rows) == len(samples)
    wrong = [(t, got, cal.subtract(t, interval)) for t, got in rows if cal.subtract(t, interval) != got]
    assert not wrong, f"{len(wrong)} differences, first (ts, postgres, oracle): {wrong[:5]}"


def test_month_arithmetic_by_hand():
    assert cal.subtract(datetime(2023, 3, 31, 8), "1 mon") == datetime(2023, 2, 28, 8)
    assert cal.subtract(datetime(2024, 3, 31, 8), "1 mon") == datetime(2024, 2, 29, 8)
    assert cal.subtract(datetime(2024, 2, 29), "1 year") == datetime(2023, 2, 28)
    assert cal.subtract(datetime(2100, 3, 29), "1 mon") == datetime(2100, 2, 28)    # 2100 is no leap year
    assert cal.subtract(datetime(2000, 3, 30), "1 mon") == datetime(2000, 2, 29)    # 2000 is one
    assert cal.subtract(datetime(2024, 1, 15), "1 mon") == datetime(2023, 12, 15)
    assert cal.subtract(datetime(2024, 3, 1), "30 days") == datetime(2024, 1, 31)


def _day_pairs() -> list[tuple[datetime, datetime]]:
    rnd = random.Random(99)
    pairs = []
    base = datetime(2024, 3, 31, 12)
    for days in [0, 1, 6, 7, 8, 29, 30, 31, 364, 365, 366, 3000]:
        for delta in [timedelta(0), US, -US, timedelta(seconds=1), -timedelta(seconds=1),
                      timedelta(hours=5), -timedelta(hours=5), DAY - US]:
            pairs.append((base, base - days * DAY + delta))
            pairs.append((base, base + days * DAY + delta))       # negative differences
    for _ in range(500):
        a = datetime(2020, 1, 1) + timedelta(microseconds=rnd.randrange(5 * 365 * 86400 * 10 ** 6))
        b = datetime(2020, 1, 1) + timedelta(microseconds=rnd.randrange(5 * 365 * 86400 * 10 ** 6))
        pairs.append((a, b))
    return pairs


def test_whole_days_matches_postgres(pg):
    pairs = _day_pairs()
    rows = pg.execute("SELECT a, b, extract(day FROM a - b)::bigint FROM unnest(%s::timestamp[], %s::timestamp[]) "
                      "AS x(a, b)", ([a for a, _ in pairs], [b for _, b in pairs])).fetchall()
    wrong = [(a, b, got, cal.whole_days(a, b)) for a, b, got in rows if cal.whole_days(a, b) != got]
    assert not wrong, f"{len(wrong)} differences, first (a, b, postgres, oracle): {wrong[:5]}"


def test_whole_days_by_hand():
    t = datetime(2024, 3, 31, 12)
    assert cal.whole_days(t, t - 7 * DAY) == 7
    assert cal.whole_days(t, t - 7 * DAY + US) == 6                         # 6 days 23:59:59.999999
    assert cal.whole_days(t, t + DAY + timedelta(hours=5)) == -1            # -1 day -05:00
    assert cal.whole_days(t, t + timedelta(hours=5)) == 0
    assert cal.to_utc_naive(datetime(2024, 3, 31, 1, tzinfo=timezone(timedelta(hours=5)))) == datetime(2024, 3, 30, 20)


def test_age_days_and_decay_by_hand():
    now = datetime(2024, 3, 31, 12)
    created = now - 10 * DAY
    assert age_days(now, created, None) == 10
    assert age_days(now, created, now + DAY) == 10                          # future release: created_at
    assert age_days(now, created, created - 5 * DAY) == 10                  # release before creation
    assert age_days(now, created, now - 2 * DAY) == 2                       # later of the two
    assert decay(7, 7) == 1.0 and decay(-3, 7) == 1.0 and decay(30, 30) == 1.0
    assert decay(8, 7) == pytest.approx(10 ** (-5 / 7), rel=1e-12)          # Q^(1 - 8/7)
    assert decay(31, 30) == pytest.approx(10 ** (-5 / 30), rel=1e-12)
    assert decay(30, 7) == 1e-5                                             # clamped at 1/Q
    assert decay(10 ** 6, 7) == 1e-5


# ---------------------------------------------------------------------------
# Hand-worked datasets
# ---------------------------------------------------------------------------
NOW = datetime(2024, 3, 31, 12, 0, tzinfo=UTC)
T = datetime(2024, 3, 31, 12, 0)            # now AT TIME ZONE 'UTC'
MONTH_BOUND = datetime(2024, 2, 29, 12, 0)  # T - 1 mon


def _hand_dataset() -> Dataset:
    ds = Dataset(now=NOW, seed=None)
    ds.user(1, followers=10)
    ds.user(2, followers=2)
    ds.user(3, followers=3)
    ds.user(4)                                                  # no aggregate_user row
    ds.user(10, followers=100)                                  # full profile
    ds.user(11, cover_photo=None, cover_photo_sizes="s", profile_picture=None, profile_picture_sizes="s",
            followers=1000)                                     # full profile through the *_sizes columns
    ds.user(12, bio=None, followers=5000)                       # no bio: no karma
    ds.user(13, followers=7)
    ds.user(13, is_current=False)                               # a second (history) row, full profile too
    ds.user(14, bio="")                                         # '' is a bio; no aggregate_user row
    ds.user(15, followers=3_000_000_000)

    # Track 1: owner 1 (10 followers), created exactly 30 days ago.
    ds.track(1, 1, T - 30 * DAY, genre="Rock")
    for ts in [T - DAY, T - DAY, T - 7 * DAY, MONTH_BOUND, MONTH_BOUND + US, T - 40 * DAY]:
        ds.play(1, ts)
    ds.repost(10, 1, T - 2 * DAY)
    ds.repost(12, 1, T - 10 * DAY)
    ds.repost(11, 1, T - DAY, is_delete=True)
    ds.repost(13, 1, T - 100 * DAY)
    ds.save(11, 1, T - 3 * DAY)
    ds.save(10, 1, T - 20 * DAY)
    ds.save(14, 1, T - DAY)
    ds.save(11, 1, T - DAY, type="album")
    ds.agg_track(1, 8, 100)
    ds.agg_plays(1, 1000)

    # Tracks 2 / 3: owners with 2 / 3 followers, one recent repost by fan 10.
    for tid, owner in [(2, 2), (3, 3)]:
        ds.track(tid, owner, T - DAY)
        ds.repost(10, tid, T - DAY)
    # Tracks 4, 5, 6: not eligible (jsonb 'null' stem_of, two current rows, NULL is_delete).
    ds.track(4, 1, T - DAY, stem_of=JSON_NULL)
    ds.track(5, 1, T - DAY)
    ds.track(5, 1, T - 2 * DAY)
    ds.track(6, 1, T - DAY, is_delete=None)
    for tid in (4, 5, 6):
        ds.repost(10, tid, T - DAY)
        ds.agg_plays(tid, 10)
    # Track 7: owner without aggregate_user row, NULL play count.
    ds.track(7, 4, T - DAY, genre=None)
    ds.save(11, 7, T - DAY)
    ds.agg_plays(7, None)

    # Playlists.
    ds.playlist(20, 1, T - 10 * DAY)
    ds.repost(10, 20, T - 7 * DAY, type="playlist")
    ds.save(11, 20, T - DAY, type="playlist")
    ds.repost(12, 20, T - 2 * DAY, type="playlist")
    ds.save(13, 20, T - DAY, type="playlist")
    ds.agg_playlist(20, 4, 50)
    ds.playlist(21, 1, T - DAY, track_ids=[1, 2])
    ds.playlist(22, 4, T - DAY)
    ds.playlist(23, 1, T - DAY, contents={"track_ids": {"track": 1}})
    ds.playlist(24, 1, T - DAY)
    ds.playlist(25, 2, T - DAY)
    ds.playlist(26, 1, T - DAY)
    ds.save(15, 26, T - 3 * DAY, type="playlist")
    for pid in (21, 22, 23, 25):
        ds.repost(10, pid, T - DAY, type="playlist")
    return ds


@pytest.fixture(scope="module")
def hand(pg):
    ds = _hand_dataset()
    load_dataset(pg, "oracle_hand", ds)
    src = fetch_source(pg, "oracle_hand")
    yield src, expected_scores(src, NOW)
    drop_schema(pg, "oracle_hand")


def test_hand_track_1(hand):
    _src, (tracks, _pl) = hand
    # listens: week = 2 (the two plays a day ago; now-7d exactly is out), month = 4 (adds now-7d and
    # the play 1 us after now - 1 mon = 2024-02-29 12:00; the play exactly at that bound is out).
    # reposts: week = 1 (fan 10), month = 2 (+ fan 12); the deleted one never counts.
    # saves: week = 2 (fans 11, 14), month = 3 (+ fan 10); the album save never counts.
    # karma: reposts 10 (100) + 12 (no bio: 0) + 13 (7 x 2 users rows = 14) + saves 11 (1000) + 10 (100)
    #        + 14 (no aggregate_user row: 0) = 1214.
    # totals: R*8 + I*100 = 2 + 1 = 3. Age: exactly 30 days.
    # week: S = 2 + 50 + 2 + 3 = 57, decay = max(1e-5, 1e5^(1-30/7)) = 1e-5 -> 57 * 1214 * 1e-5
    # month: S = 4 + 100 + 3 + 3 = 110, decay 1 (30 <= 30) -> 110 * 1214 = 133540
    # allTime: (1000 + 3) * 1214 = 1217642
    karma = 1214
    for typ in ("TRACKS", "UNDERGROUND_TRACKS"):
        assert tracks[(1, typ, "pnagD", "week")] == (pytest.approx(57 * karma * 1e-5, rel=1e-12), "Rock")
        assert tracks[(1, typ, "pnagD", "month")] == (pytest.approx(133540, rel=1e-12), "Rock")
        assert tracks[(1, typ, "pnagD", "allTime")] == (pytest.approx(1217642, rel=1e-12), "Rock")
    k = 1 + math.log10(1 + karma)
    assert tracks[(1, "TRACKS", "AnlGe", "month")][0] == pytest.approx(110 * k, rel=1e-12)
    assert tracks[(1, "TRACKS", "AnlGe", "allTime")][0] == pytest.approx(1003 * k, rel=1e-12)
    assert (1, "UNDERGROUND_TRACKS", "AnlGe", "week") not in tracks


def test_hand_owner_followers_and_ineligible_tracks(hand):
    _src, (tracks, _pl) = hand
    assert not [k for k in tracks if k[0] in (2, 4, 5, 6)]
    # Track 3 (owner has 3 followers): S = 50 (one repost), karma 100, age 1, no aggregate_plays row.
    assert tracks[(3, "TRACKS", "pnagD", "week")][0] == pytest.approx(5000, rel=1e-12)
    assert tracks[(3, "TRACKS", "pnagD", "month")][0] == pytest.approx(5000, rel=1e-12)
    assert tracks[(3, "TRACKS", "AnlGe", "week")][0] == pytest.approx(50 * (1 + math.log10(101)), rel=1e-12)
    assert (3, "TRACKS", "pnagD", "allTime") not in tracks
    # Track 7: owner without aggregate_user row still scores; NULL play count -> no allTime.
    assert tracks[(7, "TRACKS", "pnagD", "week")] == (pytest.approx(1000, rel=1e-12), None)
    assert (7, "TRACKS", "pnagD", "allTime") not in tracks and (7, "TRACKS", "AnlGe", "allTime") not in tracks


def test_hand_playlists(hand):
    _src, (_tr, playlists) = hand
    # Playlist 20, age 10 days. Fan 10's repost is exactly at now - 7 days: not in the week count
    # (> bound) but in the week karma (>= bound). Fan 12 (no bio) counts as a repost but adds no karma;
    # fan 13 counts once (only its current users row). karma = 100 + 1000 + 7 = 1107 in every window.
    # week:  S = 1 + 50*1 + 2 + R*4 + I*50 = 54.5, decay = 1e5^(1 - 10/7) = 10^(-15/7)
    # month: S = 1 + 50*2 + 2 + 1.5 = 104.5, decay 1; year: the same.
    assert playlists[(20, "PLAYLISTS", "pnagD", "week")] == pytest.approx(10 ** (-15 / 7) * 54.5 * 1107, rel=1e-12)
    assert playlists[(20, "PLAYLISTS", "pnagD", "month")] == pytest.approx(104.5 * 1107, rel=1e-12)
    assert playlists[(20, "PLAYLISTS", "pnagD", "year")] == pytest.approx(104.5 * 1107, rel=1e-12)
    # 21: two entries; 22: owner without aggregate_user row; 23: track_ids not an array; 25: 2 followers.
    assert not [k for k in playlists if k[0] in (21, 22, 23, 25)]
    # 24: no actions at all: karma NULL -> factor 1, S = 1.
    for rng in ("week", "month", "year"):
        assert playlists[(24, "PLAYLISTS", "pnagD", rng)] == 1.0
        # 26: one save by a user with 3e9 followers (karma above int4): S = 1 + 1 = 2.
        assert playlists[(26, "PLAYLISTS", "pnagD", rng)] == pytest.approx(2 * 3e9, rel=1e-12)
    assert len(playlists) == 9


def test_hand_bad_rows(hand):
    src, _ = hand
    assert expected_bad_rows(src, NOW) == {
        "duplicate_current_tracks": 1,            # track 5
        "duplicate_current_playlists": 0,
        "playlists_track_ids_not_array": 1,       # playlist 23
        "null_play_counts": 1,                    # track 7
        "playlist_karma_over_int4": 1,            # playlist 26
        # the reference's "Absurd rows": none in the hand-worked dataset
        **dict.fromkeys(("tracks_created_at_infinite", "tracks_release_date_infinite",
                         "track_events_created_at_infinite", "track_genres_over_1000_bytes",
                         "track_users_negative_followers", "track_karma_over_int8",
                         "playlists_created_at_infinite", "playlists_release_date_infinite",
                         "playlist_events_created_at_infinite", "playlist_users_negative_followers",
                         "playlist_karma_over_int8"), 0),
    }


def test_fetch_source_tells_json_null_from_sql_null(hand):
    src, _ = hand
    stems = {t.track_id: t.stem_of_is_null for t in src.tracks}
    assert stems[4] is False and stems[1] is True


def test_month_window_at_month_end(pg):
    # now = 2023-03-31 00:00 UTC: now - 1 mon = 2023-02-28 00:00. A play at exactly that instant is out,
    # one a microsecond later is in; a play at 2023-03-01 - 1 us (Feb 28 23:59:59.999999) is in too.
    now = datetime(2023, 3, 31, tzinfo=UTC)
    ds = Dataset(now=now)
    ds.user(1, followers=10)
    ds.user(2, followers=1)
    ds.track(1, 1, datetime(2023, 3, 30))
    ds.save(2, 1, datetime(2023, 3, 30))                         # karma 1
    for ts in [datetime(2023, 2, 28), datetime(2023, 2, 28) + US, datetime(2023, 3, 1) - US]:
        ds.play(1, ts)
    load_dataset(pg, "oracle_month", ds)
    try:
        tracks, _ = expected_scores(fetch_source(pg, "oracle_month"), now)
    finally:
        drop_schema(pg, "oracle_month")
    # month: S = 2 listens + 1 save = 3; week: only the save = 1.
    assert tracks[(1, "TRACKS", "pnagD", "month")][0] == 3.0
    assert tracks[(1, "TRACKS", "pnagD", "week")][0] == 1.0


def test_random_datasets_are_deterministic_and_load(pg):
    a, b = random_dataset(7), random_dataset(7)
    assert a.now == b.now and a.tables == b.tables
    assert random_dataset(8).tables != a.tables
    load_dataset(pg, "oracle_random", a)
    try:
        src = fetch_source(pg, "oracle_random")
        assert len(src.tracks) == len(a.tables["tracks"]) and len(src.plays) == len(a.tables["plays"])
        expected_scores(src, a.now)
    finally:
        drop_schema(pg, "oracle_random")
