"""Hostile input as a property (issue 8, item 15): hypothesis fills the source
tables with random rows (NULL in every nullable column, infinite, ancient and
far-future dates, huge and negative counts, very long text, duplicate current
rows, jsonb that is not an object or whose track_ids is not an array). Every
cycle completes, through either entry point, its bad_rows counters equal the
oracle's expected_bad_rows, and every stored score equals the oracle's.

Deterministic by default (derandomized, a few dozen examples, well under 2
minutes); TRENDING_SLOW=1 runs many more, randomized examples.
"""

from __future__ import annotations

import os
import random
import string
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from support.random_datasets import ENTRY_POINTS, JSON_NULL, Dataset, run_cycle

SLOW = os.environ.get("TRENDING_SLOW") == "1"
SCHEMA = "hostile"

INT4_MAX, INT8_MAX = 2**31 - 1, 2**63 - 1
NOWS = [datetime(2024, 3, 31, 12, 0, tzinfo=timezone.utc), datetime(2024, 2, 29, 0, 0, tzinfo=timezone.utc),
        datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)]
# What datetime cannot hold, as PostgreSQL's text (the loader passes it through COPY).
FAR_DATES = ["infinity", "-infinity", "4713-01-01 00:00:00 BC", "4714-11-24 00:00:00 BC",
             "294276-12-31 23:59:59.999999", "0001-01-01 00:00:00"]
INCOMPRESSIBLE = "".join(random.Random(15).choices(string.ascii_letters + string.digits, k=3200))

USER_IDS = st.integers(1, 6)
TRACK_IDS = st.integers(1, 12)
PLAYLIST_IDS = st.integers(1, 6)
FLAG = st.sampled_from([True, False, None])
# biased so that enough items stay eligible for the scores to be checked too
MOSTLY_TRUE = st.sampled_from([True] * 10 + [False, None])
MOSTLY_FALSE = st.sampled_from([False] * 10 + [True, None])
# any character PostgreSQL text can hold (no NUL, no lone surrogate)
TEXT = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "字", "😀"]), st.integers(200, 1100)),
    st.just(INCOMPRESSIBLE),
)
PROFILE_TEXT = st.one_of(st.just("x"), st.just("x"), TEXT)          # mostly present
FOLLOWERS = st.one_of(st.integers(3, 10**6), st.integers(3, 10**6), st.none(),
                      st.sampled_from([0, 1, 2, 3, 1499, 1500, INT8_MAX, -1, -INT8_MAX - 1]),
                      st.integers(-10**12, 10**12), st.integers(2**62, INT8_MAX))
INT4_COUNT = st.one_of(st.sampled_from([0, INT4_MAX, -INT4_MAX - 1]), st.integers(-1000, 100000))
BIG_COUNT = st.one_of(st.none(), st.sampled_from([0, INT8_MAX, -INT8_MAX - 1]), st.integers(-1000, 10**7))


def timestamps(now: datetime):
    """Naive UTC instants around `now` (inside and outside every window, some
    in the future), and the dates datetime cannot hold."""
    now_utc = now.astimezone(timezone.utc).replace(tzinfo=None)
    near = st.one_of(st.integers(-40 * 86_400_000_000, 86_400_000_000),
                     st.integers(-800 * 86_400_000_000, 60 * 86_400_000_000)).map(
        lambda us: now_utc + timedelta(microseconds=us))
    edges = st.sampled_from([now_utc, now_utc - timedelta(days=7), now_utc - timedelta(days=30),
                             now_utc - timedelta(days=365), now_utc - timedelta(days=4015),
                             now_utc - timedelta(days=7, microseconds=-1)])
    return st.one_of(near, near, near, edges, st.sampled_from(FAR_DATES))


# jsonb refuses the NUL character (\u0000) in any string, keys included: a
# row PostgreSQL cannot store is no row a cycle can meet
JSON_TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


def contents():
    entries = st.lists(st.one_of(st.fixed_dictionaries({"track": TRACK_IDS, "time": st.integers(0, 2**40)}),
                                 TRACK_IDS), max_size=5)
    not_an_array = st.one_of(st.none(), st.integers(), st.text(JSON_TEXT, max_size=5),     # None: JSON null
                             st.dictionaries(st.text(JSON_TEXT, max_size=3), st.integers(), max_size=2))
    three_or_more = st.lists(st.fixed_dictionaries({"track": TRACK_IDS, "time": st.integers(0, 2**40)}),
                             min_size=3, max_size=5)
    return st.one_of(
        three_or_more.map(lambda e: {"track_ids": e}), three_or_more.map(lambda e: {"track_ids": e}),
        three_or_more.map(lambda e: {"track_ids": e}),
        entries.map(lambda e: {"track_ids": e}),
        entries.map(lambda e: {"track_ids": e, "other": 1}),
        not_an_array.map(lambda v: {"track_ids": v}),          # track_ids not an array
        st.just({}),
        st.none(), st.just(JSON_NULL),                          # SQL NULL, jsonb null
        st.lists(st.integers(), max_size=4),                    # not an object
        st.one_of(st.integers(), st.text(JSON_TEXT, max_size=5), st.booleans()),
    )


@st.composite
def hostile_datasets(draw) -> tuple[Dataset, str]:
    now = draw(st.sampled_from(NOWS))
    ds = Dataset(now=now)
    ts = timestamps(now)

    for _ in range(draw(st.integers(0, 8))):
        ds.user(draw(USER_IDS), is_current=draw(MOSTLY_TRUE), cover_photo=draw(PROFILE_TEXT),
                cover_photo_sizes=draw(TEXT), profile_picture=draw(PROFILE_TEXT),
                profile_picture_sizes=draw(TEXT), bio=draw(PROFILE_TEXT))
    for uid in draw(st.sets(USER_IDS, min_size=3)):
        ds.agg_user(uid, draw(FOLLOWERS), draw(FOLLOWERS))

    for _ in range(draw(st.integers(0, 10))):                  # duplicate current rows come for free
        ds.track(draw(TRACK_IDS), draw(USER_IDS), draw(ts), genre=draw(TEXT),
                 release_date=draw(st.one_of(st.none(), ts)), is_current=draw(MOSTLY_TRUE),
                 is_delete=draw(MOSTLY_FALSE), is_unlisted=draw(MOSTLY_FALSE),
                 stem_of=draw(st.sampled_from([None] * 8 + [JSON_NULL, {}, {"parent_track_id": 1}, [1]])),
                 is_available=draw(FLAG))
    for _ in range(draw(st.integers(0, 6))):
        ds.playlist(draw(PLAYLIST_IDS), draw(USER_IDS), draw(ts), contents=draw(contents()),
                    release_date=draw(st.one_of(st.none(), ts)), is_album=draw(FLAG),
                    is_private=draw(MOSTLY_FALSE), is_current=draw(MOSTLY_TRUE), is_delete=draw(MOSTLY_FALSE))

    for _ in range(draw(st.integers(0, 12))):
        ds.play(draw(st.one_of(TRACK_IDS, st.integers(-2**31, 2**31 - 1))), draw(ts),
                user_id=draw(st.one_of(st.none(), USER_IDS)))
    for add in (ds.save, ds.repost):
        for _ in range(draw(st.integers(0, 12))):
            kind = draw(st.sampled_from(["track", "playlist", "album"]))
            item = draw(TRACK_IDS if kind == "track" else PLAYLIST_IDS)
            add(draw(USER_IDS), item, draw(ts), type=kind, is_current=draw(MOSTLY_TRUE),
                is_delete=draw(MOSTLY_FALSE))

    for tid in draw(st.sets(TRACK_IDS)):
        ds.agg_track(tid, draw(INT4_COUNT), draw(INT4_COUNT))
    for tid in draw(st.sets(TRACK_IDS)):
        ds.agg_plays(tid, draw(BIG_COUNT))
    for pid in draw(st.sets(PLAYLIST_IDS)):
        ds.agg_playlist(pid, draw(INT4_COUNT), draw(INT4_COUNT), is_album=draw(FLAG))
    return ds, draw(st.sampled_from(ENTRY_POINTS))


@pytest.fixture(scope="module")
def hconn(dsn):
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


@settings(max_examples=1000 if SLOW else 80, deadline=None, derandomize=not SLOW, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(case=hostile_datasets())
def test_hostile_sources_never_stop_a_cycle_and_match_the_oracle(hconn, case):
    dataset, entry = case
    result = run_cycle(hconn, SCHEMA, dataset, entry=entry)
    for counter, value in result.expected_bad_rows.items():   # --hypothesis-show-statistics
        if value:
            event(counter)
    event("track scores" if result.expected_tracks else "no track scores")
    event("playlist scores" if result.expected_playlists else "no playlist scores")
    assert result.summary["status"] == "ok", result.summary
    result.assert_matches_oracle()          # every score, every genre, every bad_rows counter
