"""trending.explain_track() / explain_playlist() (issue 11, item 2): for every
item of small random datasets, the explained inputs equal the independent
oracle's (test/oracle/scores.py) and the explained score equals the stored
one within 1e-12 relative; items that are not eligible say which rule
excludes them; karma's contributors add up to the karma."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from oracle import fetch_source
from oracle.scores import expected_playlist_inputs, expected_track_inputs
from support.harness import ALL_STRATEGIES, enable_strategies, recompute, use_source_schema
from support.random_datasets import Dataset, drop_schema, load_dataset, random_dataset, run_cycle

REL = 1e-12
TRACK_INPUTS = ("owner_id", "owner_followers", "genre", "age_days", "repost_total", "save_total", "play_total",
                "karma", "listens_week", "listens_month", "reposts_week", "reposts_month", "saves_week",
                "saves_month")
PLAYLIST_INPUTS = ("owner_id", "owner_followers", "age_days", "repost_total", "save_total",
                   *(f"{n}_{r}" for n in ("reposts", "saves", "karma") for r in ("week", "month", "year")))


def _clamped(age: int) -> int:
    """The cycle stages age_days clamped into [0, 11 * 365] (the decay is the
    same: extension/trending_pl/formulas.py AGE_CLAMP_DAYS); the oracle does not clamp."""
    return max(0, min(age, 11 * 365))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b))


def _explain_track(conn, track_id, time_range="week", version="pnagD", now=None) -> dict:
    return conn.execute("SELECT trending.explain_track(%s, %s, %s, %s)",
                        (track_id, time_range, version, now)).fetchone()[0]


def _explain_playlist(conn, playlist_id, time_range="week", now=None) -> dict:
    return conn.execute("SELECT trending.explain_playlist(%s, %s, %s)",
                        (playlist_id, time_range, now)).fetchone()[0]


def _check_score(doc: dict, stored_score) -> list[str]:
    problems = []
    if not doc["agrees"]:
        problems.append("agrees is false")
    if stored_score is None:
        if doc["stored"] is not None:
            problems.append(f"stored {doc['stored']} where the table has no row")
        if doc.get("computed_score"):
            problems.append(f"computed {doc['computed_score']} but no row is stored")
    else:
        # jsonb holds a double as its shortest decimal: compare as float8
        if doc["stored"] is None or float(doc["stored"]["score"]) != stored_score:
            problems.append(f"stored {doc['stored']} != table's {stored_score}")
        elif not _close(doc["computed_score"], stored_score):
            problems.append(f"computed {doc['computed_score']!r} != stored {stored_score!r}")
    return problems


SEEDS = range(4)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed_{s}" for s in SEEDS])
def test_explained_inputs_and_scores_match_oracle_and_stored(conn, seed):
    dataset = random_dataset(seed)
    schema = f"explain_{seed}"
    result = run_cycle(conn, schema, dataset, keep_schema=True)
    try:
        source = fetch_source(conn, schema)
        oracle_tracks = expected_track_inputs(source, dataset.now)
        oracle_playlists = expected_playlist_inputs(source, dataset.now)
        problems = []
        track_ids = sorted({r["track_id"] for r in dataset.tables["tracks"]} | {424242})
        for tid in track_ids:
            for version in ("pnagD", "AnlGe"):
                for rng in ("week", "month", "allTime"):
                    doc = _explain_track(conn, tid, rng, version)   # now NULL: the stored scores' now
                    where = f"track {tid} TRACKS/{version}/{rng}"
                    if doc["eligible"] != (tid in oracle_tracks):
                        problems.append(f"{where}: eligible {doc['eligible']}, oracle {tid in oracle_tracks}"
                                        f" ({doc['excluded_by']})")
                        continue
                    if doc["eligible"]:
                        got = {k: doc["inputs"][k] for k in TRACK_INPUTS}
                        want = {k: oracle_tracks[tid][k] for k in TRACK_INPUTS}
                        want["age_days"] = _clamped(want["age_days"])
                        if got != want:
                            problems.append(f"{where}: inputs {got} != oracle {want}")
                    elif not doc["excluded_by"]:
                        problems.append(f"{where}: not eligible without a reason")
                    stored = result.got_tracks.get((tid, "TRACKS", version, rng))
                    problems += [f"{where}: {p}" for p in _check_score(doc, stored and stored[0])]
        playlist_ids = sorted({r["playlist_id"] for r in dataset.tables["playlists"]})
        for pid in playlist_ids:
            for rng in ("week", "month", "year"):
                doc = _explain_playlist(conn, pid, rng)
                where = f"playlist {pid} {rng}"
                if doc["eligible"] != (pid in oracle_playlists):
                    problems.append(f"{where}: eligible {doc['eligible']}, oracle {pid in oracle_playlists}")
                    continue
                if doc["eligible"]:
                    got = {k: doc["inputs"][k] for k in PLAYLIST_INPUTS}
                    want = {k: oracle_playlists[pid][k] for k in PLAYLIST_INPUTS}
                    want["age_days"] = _clamped(want["age_days"])
                    if got != want:
                        problems.append(f"{where}: inputs {got} != oracle {want}")
                problems += [f"{where}: {p}" for p in
                             _check_score(doc, result.got_playlists.get((pid, "PLAYLISTS", "pnagD", rng)))]
        assert not problems, f"{dataset.summary()}: {len(problems)} problems:\n  " + "\n  ".join(problems[:15])
    finally:
        drop_schema(conn, schema)


NOW = datetime(2024, 3, 31, 12, 0, tzinfo=timezone.utc)
T0 = NOW.replace(tzinfo=None)
DAY = timedelta(days=1)


@pytest.fixture
def hand_made(conn):
    """Items each excluded by one rule, and one track whose karma has known contributors."""
    ds = Dataset(now=NOW)
    ds.user(1, followers=10)                      # owner
    ds.user(2, followers=1)                       # owner with too few followers
    ds.user(10, followers=100)                    # contributor: 2 engagements, 1 profile row
    ds.user(11, followers=1000)                   # contributor: 1 engagement, 2 profile rows
    ds.user(11, is_current=False)
    ds.user(12, followers=-5)                     # negative followers: adds nothing (counted)
    ds.user(13, followers=7, bio=None)            # no complete profile: not a contributor
    ds.track(100, 1, T0 - 3 * DAY)                # eligible, with karma
    ds.repost(10, 100, T0 - DAY)
    ds.save(10, 100, T0 - 40 * DAY)
    ds.save(11, 100, T0 - 2 * DAY)
    ds.repost(12, 100, T0 - DAY)
    ds.repost(13, 100, T0 - DAY)
    ds.play(100, T0 - DAY)
    ds.agg_plays(100, None)                       # no allTime score (null_play_counts)
    ds.track(101, 1, T0, is_delete=True)
    ds.track(102, 1, T0, is_unlisted=None)
    ds.track(103, 1, T0, stem_of={"parent_track_id": 100})
    ds.track(104, 1, T0)
    ds.track(104, 1, T0)                          # two current rows
    ds.track(105, 1, "infinity")
    ds.track(106, 2, T0)                          # owner below Y
    ds.save(10, 106, T0)
    ds.playlist(200, 1, T0, track_ids=(1, 2))
    ds.playlist(201, 1, T0, contents={"track_ids": {"1": 2}})
    ds.playlist(202, 99, T0)                      # owner without aggregate_user
    ds.playlist(203, 1, T0, is_private=True)
    load_dataset(conn, "explain_hand", ds)
    conn.execute("TRUNCATE trending.track_trending_scores, trending.playlist_trending_scores")
    use_source_schema(conn, "explain_hand")
    enable_strategies(conn, ALL_STRATEGIES)
    yield ds
    drop_schema(conn, "explain_hand")


def test_not_eligible_items_say_why(conn, hand_made):
    expected = {101: "is_delete", 102: "is_unlisted", 103: "stem_of", 104: "duplicate_current_tracks",
                105: "tracks_created_at_infinite", 999: "no current row"}
    for tid, rule in expected.items():
        doc = _explain_track(conn, tid, now=NOW)
        assert doc["eligible"] is False and rule in doc["excluded_by"], (tid, doc["excluded_by"])
        assert doc["inputs"] is None and doc["agrees"] is True
    assert _explain_track(conn, 104, now=NOW)["bad_rows"] == {"duplicate_current_tracks": 1}
    expected = {200: "fewer than 3", 201: "playlists_track_ids_not_array", 202: "no aggregate_user row",
                203: "is_private"}
    for pid, rule in expected.items():
        doc = _explain_playlist(conn, pid, now=NOW)
        assert doc["eligible"] is False and rule in doc["excluded_by"], (pid, doc["excluded_by"])
    # eligible, but scored 0 or without a row
    doc = _explain_track(conn, 106, now=NOW)
    assert doc["eligible"] and doc["computed_score"] == 0 and "fewer than Y" in doc["no_row_because"]
    assert doc["formula"]["owner_below_min_followers"] is True
    doc = _explain_track(conn, 100, "allTime", now=NOW)
    assert doc["computed_score"] is None and "null_play_counts" in doc["no_row_because"]
    assert doc["bad_rows"] == {"null_play_counts": 1, "track_users_negative_followers": 1}


def test_karma_contributors_and_terms(conn, hand_made):
    doc = _explain_track(conn, 100, "week", now=NOW)
    assert doc["now_source"] == "argument"
    contributors = [(c["user_id"], c["follower_count"], c["engagements"], c["profile_rows"], c["contribution"])
                    for c in doc["karma_contributors"]]
    assert contributors == [(11, 1000, 1, 2, 2000), (10, 100, 2, 1, 200), (12, -5, 1, 1, 0)]
    assert doc["karma_contributors_total"] == 3
    assert doc["inputs"]["karma"] == 2200 == sum(c[4] for c in contributors)
    formula = doc["formula"]
    assert [(t["term"], t["value"]) for t in formula["terms"]] == [
        ("N*listens_week", 1.0), ("F*reposts_week", 150.0), ("O*saves_week", 1.0),
        ("R*repost_total", 0.0), ("I*save_total", 0.0)]
    assert formula["S"] == 152.0 and formula["decay"] == 1.0 and formula["K"] == 2200.0
    assert doc["computed_score"] == 152.0 * 2200.0
    assert doc["agrees"] is False and doc["stored"] is None, "no cycle has written it"
    anl = _explain_track(conn, 100, "week", "AnlGe", now=NOW)["formula"]
    assert anl["K"] == pytest.approx(1 + math.log10(2201), rel=1e-15)


def test_stored_score_agrees_only_at_its_now(conn, hand_made):
    recompute(conn, NOW)
    doc = _explain_track(conn, 100, "week")
    assert doc["now_source"] == "scores_as_of" and doc["agrees"] is True
    assert doc["stored"]["created_at"] == "2024-03-31 12:00:00.000000"
    later = _explain_track(conn, 100, "week", now=NOW + 10 * DAY)   # older track: decayed
    assert later["formula"]["decay"] < 1 and later["agrees"] is False


@pytest.mark.parametrize("call, message", [
    ("SELECT trending.explain_track(NULL)", "invalid track_id NULL"),
    ("SELECT trending.explain_track(1, 'year')", "invalid time_range 'year'"),
    ("SELECT trending.explain_track(1, 'week', 'nope')", "invalid version 'nope'"),
    ("SELECT trending.explain_playlist(1, 'allTime')", "invalid time_range 'allTime'"),
    ("SELECT trending.explain_playlist(1, 'week', 'infinity')", "trending: invalid now"),
])
def test_bad_arguments(conn, call, message):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        conn.execute(call)
    assert message in error.value.diag.message_primary


def test_cli_explain(conn, dsn, hand_made, capsys):
    from trending_cli.__main__ import main

    recompute(conn, NOW)
    assert main(["explain", "track", "100", "--dsn", dsn]) == 0
    out = capsys.readouterr().out
    assert "track 100: TRACKS/pnagD/week" in out and "scores_as_of" in out
    assert "F*reposts_week" in out and "biggest contributors (3 of 3)" in out
    assert "computed score: 334,400" in out and "agree: yes" in out
    assert main(["explain", "track", "101", "--dsn", dsn]) == 0
    assert "not eligible: is_delete is not false" in capsys.readouterr().out
    assert main(["explain", "playlist", "200", "--range", "month", "--dsn", dsn, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["eligible"] is False and doc["time_range"] == "month"
    assert main(["explain", "track", "100", "--range", "year", "--dsn", dsn]) == 1
    assert "invalid time_range 'year'" in capsys.readouterr().err
