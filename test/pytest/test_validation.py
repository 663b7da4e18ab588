"""What a cycle accepts as its `now` and as settings (issue 8, items 9 and 10).

A value is refused with 22023 and a message that says what is accepted, both
when a setting is changed (the trigger) and when a cycle starts (a value
stored by an older version or loaded by pg_restore never went through the
trigger), through both entry points. The edges of each accepted range run a
real cycle, checked against the oracle where it computes scores.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import errors
from support.harness import ALL_STRATEGIES, playlist_scores, track_scores
from support.random_datasets import Dataset, drop_schema, load_dataset, run_cycle

UTC = timezone.utc
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
SOURCE = "validation_src"

# The documented range of `now` (extension/trending_pl/validate.py), UTC.
NOW_MIN = datetime(2, 1, 1, tzinfo=UTC)
NOW_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
NOW_WORDS = ("finite", "0002-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00", "AD")

# Refused `now` values, as SQL text (so that infinity and BC can be written).
BAD_NOWS = {
    "infinity": "infinity",
    "-infinity": "-infinity",
    "BC": "0044-03-15 12:00:00+00 BC",
    "one microsecond before the minimum": "0001-12-31 23:59:59.999999+00",
    "the minimum written at UTC+1": "0002-01-01 00:00:00+01",   # 0001-12-31 23:00 UTC
    "past the maximum": "10000-01-01 00:00:00+00",
}

# (setting, value) pairs a cycle cannot use. The comments say what the old
# validator (regular expressions only) did with them.
BAD_SETTINGS = [
    ("lock_timeout", "99999999min"),     # accepted; every cycle failed in set_config
    ("lock_timeout", "35792min"),        # accepted; past INT_MAX ms
    ("lock_timeout", "2147483648ms"),    # accepted; past INT_MAX ms
    ("lock_timeout", "010s"),            # accepted; the server reads it as octal: 8s
    ("run_retention", "999999999 years"),  # accepted; now() - retention overflows
    ("run_retention", "101 years"),
    ("run_retention", "0days"),          # accepted; deleted the whole run history
    ("run_retention", "23 hours"),
    ("parallel_workers", "0999"),        # accepted; octal to the server: an error
    ("parallel_workers", "010"),         # accepted; octal to the server: 8
    ("parallel_workers", "1025"),
    ("work_mem", "0128MB"),              # accepted; octal to the server: an error
    ("work_mem", "63kB"),
    ("work_mem", "65GB"),
    ("stale_after", "0min"),
    ("movers_top_n", "0"), ("movers_top_n", "1001"), ("movers_top_n", "0100"),  # issue 11
    ("movers_max_genres", "-1"), ("movers_max_genres", "1001"),
    ("source_schema", "é" * 32),         # accepted; 64 bytes, truncated to another name
    ("lease_idle_timeout", "0s"), ("lease_idle_timeout", "25 hours"),  # issue 17
    ("lease_idle_timeout", "2 days"), ("lease_idle_timeout", "10"),
    ("reconcile_every", "59 minutes"), ("reconcile_every", "8 days"),  # issue 18: 1 hour to 7 days
    ("reconcile_every", "1 mon"), ("reconcile_every", "100 years"),
]

# The edges of each accepted range: each must then run a cycle.
EDGE_SETTINGS = [
    ("lock_timeout", "1ms"), ("lock_timeout", "35791min"), ("lock_timeout", "2147483647ms"),
    ("run_retention", "1 day"), ("run_retention", "24 hours"), ("run_retention", "100 years"),
    ("parallel_workers", "0"), ("parallel_workers", "1024"),
    ("work_mem", "64kB"), ("work_mem", "64GB"),
    ("stale_after", "1 min"), ("stale_after", "100 years"),
    ("movers_top_n", "1"), ("movers_top_n", "1000"), ("movers_max_genres", "0"), ("movers_max_genres", "1000"),
    ("lease_idle_timeout", "1s"), ("lease_idle_timeout", "1 day"),
    ("reconcile_every", "1 hour"), ("reconcile_every", "7 days"), ("reconcile_every", "1 week"),
]

ENTRY_POINTS = ("recompute", "scheduled")


def small_dataset(now: datetime) -> Dataset:
    """A scored track and a scored playlist around `now`."""
    t = now.astimezone(UTC).replace(tzinfo=None)
    ds = Dataset(now=now)
    ds.user(1, followers=10)
    ds.user(10, followers=100)
    ds.track(1, 1, t - 10 * DAY)
    ds.track(2, 1, t - 2 * DAY)
    ds.track(3, 1, t - DAY)
    ds.repost(10, 1, t - DAY)
    ds.save(10, 2, t - 3 * DAY)
    ds.play(1, t - DAY)
    ds.playlist(20, 1, t - 40 * DAY, track_ids=(1, 2, 3))
    ds.repost(10, 20, t - 2 * DAY, type="playlist")
    return ds


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("validation")
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_dataset(conn, SOURCE, small_dataset(datetime(2026, 6, 15, 12, tzinfo=UTC)))
    return dsn


@pytest.fixture
def conn(dsn):
    """Default settings (source: the small dataset), every strategy on, no runs."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("DELETE FROM trending._setting_overrides")
        connection.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SOURCE,))
        connection.execute("UPDATE trending.strategies SET enabled = true")
        connection.execute("DELETE FROM trending.runs")
        yield connection


def call(conn, entry: str, now_sql: str | None):
    """One cycle through an entry point with `now` given as SQL text (None: NULL)."""
    if entry == "recompute":
        return conn.execute("SELECT trending.recompute(%s::timestamptz)", (now_sql,)).fetchone()[0]
    conn.execute("CALL trending.scheduled_recompute(%s::timestamptz)", (now_sql,))
    return None


def assert_no_cycle_left(conn) -> None:
    """A refused call leaves no running row and no cycle holding the lease."""
    assert conn.execute("SELECT count(*) FROM trending.runs WHERE status = 'running'").fetchone()[0] == 0
    assert conn.execute("SELECT running_pid FROM trending.status").fetchone()[0] is None


# ---------------------------------------------------------------------------
# Item 9: now
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("case", sorted(BAD_NOWS))
def test_bad_now_is_refused(conn, entry, case):
    with pytest.raises(errors.InvalidParameterValue) as refused:
        call(conn, entry, BAD_NOWS[case])
    message = refused.value.diag.message_primary
    assert "invalid now" in message
    for word in NOW_WORDS:
        assert word in message, (word, message)
    assert_no_cycle_left(conn)
    # and nothing was recorded: the call never started a run
    assert conn.execute("SELECT count(*) FROM trending.runs").fetchone()[0] == 0


def test_null_now_is_refused_by_recompute(conn):
    with pytest.raises(errors.InvalidParameterValue) as refused:
        call(conn, "recompute", None)
    assert "invalid now NULL" in refused.value.diag.message_primary
    for word in NOW_WORDS:
        assert word in refused.value.diag.message_primary
    assert_no_cycle_left(conn)


def test_null_now_means_the_start_of_the_call_for_scheduled_recompute(conn):
    before = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    call(conn, "scheduled", None)
    after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
    status, cycle_now = conn.execute("SELECT status, cycle_now FROM trending.runs").fetchone()
    assert status == "ok"
    assert before <= cycle_now <= after


@pytest.mark.parametrize("now", [NOW_MIN, NOW_MAX], ids=["minimum", "maximum"])
def test_now_at_the_edges_runs_a_cycle_that_matches_the_oracle(conn, now):
    result = run_cycle(conn, "validation_edge", small_dataset(now), ALL_STRATEGIES)
    result.assert_matches_oracle()
    assert result.got_tracks and result.got_playlists, "the dataset is scored, not empty"
    assert result.summary["now"] == {NOW_MIN: "0002-01-01 00:00:00", NOW_MAX: "9999-12-31 23:59:59.999999"}[now]


@pytest.mark.parametrize("now", [NOW_MIN, NOW_MAX], ids=["minimum", "maximum"])
def test_now_at_the_edges_runs_a_scheduled_cycle(conn, now):
    from oracle import expected_scores, fetch_source, score_mismatches
    load_dataset(conn, "validation_edge", small_dataset(now))
    try:
        source = fetch_source(conn, "validation_edge")
        conn.execute("UPDATE trending.settings SET value = 'validation_edge' WHERE name = 'source_schema'")
        conn.execute("DELETE FROM trending.track_trending_scores")
        conn.execute("DELETE FROM trending.playlist_trending_scores")
        conn.execute("CALL trending.scheduled_recompute(%s)", (now,))
        status, cycle_now = conn.execute("SELECT status, cycle_now FROM trending.runs").fetchone()
        assert (status, cycle_now) == ("ok", now)
        got_tracks, got_playlists = track_scores(conn), playlist_scores(conn)
    finally:
        drop_schema(conn, "validation_edge")
    exp_tracks, exp_playlists = expected_scores(source, now, ALL_STRATEGIES)
    assert got_tracks and got_playlists
    assert score_mismatches(exp_tracks, got_tracks, with_genre=True) == []
    assert score_mismatches(exp_playlists, got_playlists, with_genre=False) == []
    written = conn.execute("SELECT DISTINCT created_at FROM trending.track_trending_scores").fetchall()
    assert written == [(now.replace(tzinfo=None),)]


# ---------------------------------------------------------------------------
# Item 10: settings
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS, ids=[f"{n}={v}" for n, v in BAD_SETTINGS])
def test_bad_setting_is_refused_when_set(conn, name, value):
    before = conn.execute("SELECT value FROM trending.settings WHERE name = %s", (name,)).fetchone()[0]
    with pytest.raises(errors.InvalidParameterValue) as refused:
        conn.execute("UPDATE trending.settings SET value = %s WHERE name = %s", (value, name))
    assert refused.value.diag.message_primary.startswith(f"invalid {name} ")
    assert conn.execute("SELECT value FROM trending.settings WHERE name = %s", (name,)).fetchone()[0] == before


def test_reconcile_every_is_at_most_7_days_and_the_error_says_so(conn):
    """Issue 18: a round of reconciliation lasts at most a week of cycles."""
    with pytest.raises(errors.InvalidParameterValue) as refused:
        conn.execute("UPDATE trending.settings SET value = '8 days' WHERE name = 'reconcile_every'")
    assert refused.value.diag.sqlstate == "22023"
    assert refused.value.diag.message_primary == ("invalid reconcile_every '8 days': an interval from 1 hour to "
                                                  "7 days in minutes, hours, days, weeks, months or years, "
                                                  "e.g. '1 day'")
    assert refused.value.diag.message_detail == "out of range"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS, ids=[f"{n}={v}" for n, v in BAD_SETTINGS])
def test_bad_stored_setting_stops_a_cycle_before_it_starts(conn, entry, name, value):
    """As pg_restore (or 1.0's validator) would leave it: the cycle refuses it
    by name, before it deletes history or takes the lock."""
    call(conn, "recompute", "2026-06-15 12:00+00")   # history a bad retention would delete
    conn.execute("INSERT INTO trending._setting_overrides (name, value) VALUES (%s, %s) "
                 "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", (name, value))
    with pytest.raises(errors.InvalidParameterValue) as refused:
        call(conn, entry, "2026-06-15 13:00+00")
    assert f"invalid {name} " in refused.value.diag.message_primary
    assert_no_cycle_left(conn)
    assert conn.execute("SELECT count(*) FROM trending.runs").fetchone()[0] == 1


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(("name", "value"), EDGE_SETTINGS, ids=[f"{n}={v}" for n, v in EDGE_SETTINGS])
def test_setting_at_an_edge_is_accepted_and_a_cycle_runs_with_it(conn, entry, name, value):
    first = call(conn, "recompute", "2026-06-15 12:00+00")
    assert first["status"] == "ok"
    conn.execute("UPDATE trending.settings SET value = %s WHERE name = %s", (value, name))
    assert conn.execute("SELECT value FROM trending.settings WHERE name = %s", (name,)).fetchone()[0] == value
    call(conn, entry, "2026-06-15 13:00+00")
    runs = conn.execute("SELECT status FROM trending.runs ORDER BY run_id").fetchall()
    # the earlier run survives even the shortest retention
    assert runs == [("ok",), ("ok",)]


def test_the_validator_leaves_no_setting_behind(conn):
    """It applies a value with set_config to check it: never past its own call."""
    with conn.transaction():
        before = conn.execute("SELECT current_setting('work_mem'), current_setting('lock_timeout'),"
                              " current_setting('max_parallel_workers_per_gather')").fetchone()
        conn.execute("UPDATE trending.settings SET value = '1GB' WHERE name = 'work_mem'")
        conn.execute("UPDATE trending.settings SET value = '7s' WHERE name = 'lock_timeout'")
        conn.execute("UPDATE trending.settings SET value = '5' WHERE name = 'parallel_workers'")
        after = conn.execute("SELECT current_setting('work_mem'), current_setting('lock_timeout'),"
                             " current_setting('max_parallel_workers_per_gather')").fetchone()
    assert after == before


# ---------------------------------------------------------------------------
# A cycle at a now before the current scores' runs, and warns
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_cycle_earlier_than_the_current_scores_runs_with_a_warning(conn, entry):
    warnings: list[str] = []
    conn.add_notice_handler(lambda diag: warnings.append(diag.message_primary)
                            if diag.severity_nonlocalized == "WARNING" else None)
    call(conn, entry, "2026-06-15 12:00+00")
    call(conn, entry, "2026-06-15 13:00+00")
    assert warnings == [], "going forward is not worth a warning"
    call(conn, entry, "2026-06-15 11:00+00")
    assert len(warnings) == 1 and "earlier than the current scores' (2026-06-15 13:00:00 UTC)" in warnings[0]
    statuses = conn.execute("SELECT status FROM trending.runs ORDER BY run_id").fetchall()
    assert statuses == [("ok",)] * 3, "the earlier cycle still runs"
    call(conn, entry, "2026-06-15 12:30+00")
    assert len(warnings) == 1, "the current scores are 11:00's: 12:30 goes forward again"
