"""The write path under concurrency and failure (issue 3's acceptance):
readers never wait and never see a partial slice, no ACCESS EXCLUSIVE lock,
unchanged rows are not rewritten, overlapping calls skip, failures and dead
backends are recorded, and the previous scores survive every failure.

A cycle is paused mid-way with the superuser-only test hook
(trending.test_pause_after = 'STEP:SECONDS') while other sessions look.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from support.cycles import ENTRY_POINTS, Background, snapshot
from support.harness import enable_strategies, recompute, use_source_schema

from trending_cli.sample_data import generate

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)
LATER = AS_OF + timedelta(hours=1)
SOURCE = "music"
API_READ = """
SELECT track_id FROM trending.track_trending_scores
WHERE type = 'TRACKS' AND version = 'pnagD' AND time_range = %s
  AND (%s = '' OR genre = %s)
ORDER BY score DESC, track_id DESC LIMIT %s OFFSET %s"""


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("write_path")
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, SOURCE, scale="tiny", seed=5, as_of=AS_OF)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
    return dsn


@pytest.fixture
def conn(dsn):
    """A connection to a database whose scores are those of a cycle at AS_OF,
    with the default settings and no run history."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("DELETE FROM trending.settings WHERE name <> 'source_schema'")
        use_source_schema(connection, SOURCE)
        recompute(connection, AS_OF)
        connection.execute("DELETE FROM trending.runs")
        yield connection


def api_reads(dsn: str, seconds: float) -> tuple[list[list[int]], list[Exception]]:
    """Loop the API's read with lock_timeout = 200ms for `seconds`."""
    lists, errors = [], []
    deadline = time.monotonic() + seconds
    with psycopg.connect(dsn, autocommit=True) as reader:
        reader.execute("SET lock_timeout = '200ms'")
        while time.monotonic() < deadline:
            for time_range, genre in (("week", ""), ("month", ""), ("allTime", ""), ("week", "Electronic")):
                try:
                    lists.append([r[0] for r in reader.execute(API_READ, (time_range, genre, genre, 100, 0))])
                except psycopg.Error as error:
                    errors.append(error)
    return lists, errors


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_a_reader_never_waits_nor_sees_an_empty_list_during_a_paused_cycle(dsn, conn, entry):
    statement = ENTRY_POINTS[entry]
    before = snapshot(conn)
    with Background(dsn, statement, (LATER,), pause="TRACKS/pnagD/week:4") as cycle:
        cycle.wait_until_paused(conn)
        lists, errors = api_reads(dsn, 2.5)
    assert cycle.error is None, cycle.error
    assert errors == [], "a read failed (lock_timeout 200ms) while the cycle held its locks"
    assert len(lists) > 20 and all(lists), "every read returned a full list"
    assert snapshot(conn) != before, "the cycle at a later now did change scores"


@pytest.mark.parametrize("pause", ["track_inputs", "TRACKS/pnagD/week", "write_state"])
def test_no_access_exclusive_lock_and_nothing_stronger_than_row_exclusive_during_a_cycle(dsn, conn, pause):
    with Background(dsn, "SELECT trending.recompute(%s)", (LATER,), pause=f"{pause}:3") as cycle:
        cycle.wait_until_paused(conn)
        locks = conn.execute("""
SELECT c.relname, c.relpersistence, n.nspname, l.mode
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = %s AND l.locktype = 'relation'""", (cycle.pid,)).fetchall()
    assert cycle.error is None, cycle.error
    shared = [(name, schema, mode) for name, persistence, schema, mode in locks if persistence != "t"]
    assert shared, "the paused cycle holds locks (the test looks at the right backend)"
    assert not [s for s in shared if s[2] == "AccessExclusiveLock"]
    for name, schema, mode in shared:
        if schema == SOURCE:
            assert mode == "AccessShareLock", f"source table {name} locked in {mode}"
        elif (schema, name) == ("trending_private", "cycle_lease"):  # only cycles lock it (issue 17)
            assert mode in ("AccessShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock"), \
                f"the cycle lease locked in {mode}"
        else:
            assert mode in ("AccessShareLock", "RowShareLock", "RowExclusiveLock"), f"{schema}.{name}: {mode}"


def row_versions(conn) -> dict[tuple, str]:
    """{score row key: (xmin, ctid)}: a rewritten row gets a new version."""
    rows = conn.execute("""
SELECT 't', track_id, type, version, time_range, xmin::text || ctid::text FROM trending.track_trending_scores
UNION ALL
SELECT 'p', playlist_id, type, version, time_range, xmin::text || ctid::text FROM trending.playlist_trending_scores""")
    return {r[:5]: r[5] for r in rows}


def written_by(conn, statement: str, params) -> tuple[dict, set]:
    """Run a cycle; its summary and the keys of the score rows it inserted,
    rewrote or deleted."""
    before = row_versions(conn)
    summary = conn.execute(statement, params).fetchone()[0]
    after = row_versions(conn)
    return summary, {key[1:] for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def test_an_unchanged_cycle_writes_nothing_and_one_play_changes_only_its_track(conn):
    summary, written = written_by(conn, "SELECT trending.recompute(%s)", (AS_OF,))
    assert summary["rows"]["inserted"] == summary["rows"]["updated"] == summary["rows"]["deleted"] == 0
    assert summary["rows"]["unchanged"] > 100
    assert written == set(), "no score row got a new version"

    track = conn.execute("""
SELECT track_id FROM trending.track_trending_scores
WHERE type = 'TRACKS' AND version = 'pnagD' AND time_range = 'week' ORDER BY score DESC LIMIT 1 OFFSET 3""").fetchone()[0]
    conn.execute(f"INSERT INTO {SOURCE}.plays (play_item_id, created_at) VALUES (%s, %s)",
                 (track, (AS_OF - timedelta(hours=1)).replace(tzinfo=None)))
    conn.execute(f"UPDATE {SOURCE}.aggregate_plays SET count = count + 1 WHERE play_item_id = %s", (track,))
    try:
        summary, written = written_by(conn, "SELECT trending.recompute(%s)", (AS_OF,))
    finally:
        conn.execute(f"DELETE FROM {SOURCE}.plays WHERE id = (SELECT max(id) FROM {SOURCE}.plays)")
        conn.execute(f"UPDATE {SOURCE}.aggregate_plays SET count = count - 1 WHERE play_item_id = %s", (track,))
    assert {key[0] for key in written} == {track}, "only the played track's rows were rewritten"
    assert {(t, v, r) for _, t, v, r in written} == {
        (t, v, r) for t, v in (("TRACKS", "pnagD"), ("TRACKS", "AnlGe"), ("UNDERGROUND_TRACKS", "pnagD"))
        for r in ("week", "month", "allTime")}
    assert summary["rows"]["updated"] == 9 and summary["rows"]["inserted"] == summary["rows"]["deleted"] == 0


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_a_second_call_while_a_cycle_runs_returns_skipped_at_once(dsn, conn, entry):
    with Background(dsn, "SELECT trending.recompute(%s)", (LATER,), pause="track_inputs:6") as first:
        first.wait_until_paused(conn)
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        started = time.monotonic()
        if entry == "recompute":
            summary = recompute(conn, LATER)
            assert summary["status"] == "skipped"
        else:
            conn.execute("CALL trending.scheduled_recompute(%s)", (LATER,))
        elapsed = time.monotonic() - started
        assert first.thread.is_alive(), "the first cycle is still running"
    assert elapsed < 5
    assert any("skipped: another cycle is running" in n for n in notices)
    assert first.error is None and first.result["status"] == "ok"
    statuses = conn.execute("SELECT trigger, status FROM trending.runs ORDER BY run_id").fetchall()
    assert statuses == [("recompute", "ok"), ("recompute" if entry == "recompute" else "scheduled", "skipped")] or \
        statuses == [("recompute" if entry == "recompute" else "scheduled", "skipped"), ("recompute", "ok")]


def test_a_failing_scheduled_run_records_sqlstate_and_message_and_keeps_the_scores(conn):
    before = snapshot(conn)
    use_source_schema(conn, "no_such_schema")
    with pytest.raises(psycopg.errors.InvalidSchemaName) as raised:
        conn.execute("CALL trending.scheduled_recompute(%s)", (LATER,))
    assert 'source schema "no_such_schema" does not exist' in str(raised.value)
    row = conn.execute("SELECT status, sqlstate, message, finished_at IS NOT NULL FROM trending.runs").fetchone()
    assert row == ("failed", "3F000", 'trending: source schema "no_such_schema" does not exist', True)
    assert snapshot(conn) == before
    status = conn.execute("SELECT last_failure_sqlstate, last_failure_status, running_pid FROM trending.status").fetchone()
    assert status == ("3F000", "failed", None)


def test_a_lock_wait_past_lock_timeout_fails_cleanly_and_the_next_cycle_succeeds(dsn, conn):
    conn.execute("UPDATE trending.settings SET value = '200ms' WHERE name = 'lock_timeout'")
    before = snapshot(conn)
    with psycopg.connect(dsn) as blocker:  # a transaction holding a lock that conflicts with row writes
        blocker.execute("LOCK TABLE trending.playlist_trending_scores IN SHARE MODE")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.LockNotAvailable):
            recompute(conn, LATER)
        assert time.monotonic() - started < 10
        assert snapshot(conn) == before, "recompute() failed as a whole: nothing changed"

        with pytest.raises(psycopg.errors.LockNotAvailable):
            conn.execute("CALL trending.scheduled_recompute(%s)", (LATER,))
        failed = conn.execute("SELECT status, sqlstate, step_ms ? 'TRACKS/pnagD/week' FROM trending.runs").fetchone()
        assert failed == ("failed", "55P03", True), "the procedure committed the track slices before failing"
        blocker.rollback()
    assert recompute(conn, LATER)["status"] == "ok"


def test_a_terminated_scheduled_run_is_marked_aborted_by_the_next_run(dsn, conn):
    with Background(dsn, "CALL trending.scheduled_recompute(%s)", (LATER,), pause="track_inputs:30") as cycle:
        cycle.wait_until_paused(conn)
        running = conn.execute("SELECT status, pid FROM trending.runs").fetchone()
        assert running == ("running", cycle.pid), "the procedure committed its 'running' row first"
        assert conn.execute("SELECT running_pid FROM trending.status").fetchone()[0] == cycle.pid
        conn.execute("SELECT pg_terminate_backend(%s)", (cycle.pid,))
    assert isinstance(cycle.error, psycopg.OperationalError)
    conn.execute("CALL trending.scheduled_recompute(%s)", (LATER,))
    rows = conn.execute("SELECT status, message FROM trending.runs ORDER BY run_id").fetchall()
    assert rows[0][0] == "aborted" and f"pid {cycle.pid}" in rows[0][1]
    assert rows[1][0] == "ok"


@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_a_cycle_killed_mid_way_leaves_the_previous_scores_and_the_next_succeeds(dsn, conn, entry):
    statement = ENTRY_POINTS[entry]
    before = snapshot(conn)
    with Background(dsn, statement, (LATER,), pause="TRACKS/pnagD/month:30") as cycle:
        cycle.wait_until_paused(conn)
        conn.execute("SELECT pg_terminate_backend(%s)", (cycle.pid,))
    assert isinstance(cycle.error, psycopg.OperationalError)
    after = snapshot(conn)
    if entry == "recompute":
        assert after == before, "nothing of the killed cycle is visible"
    else:  # slices committed before the kill hold the new scores, the others the previous ones
        done = conn.execute("SELECT step_ms FROM trending.runs WHERE status = 'running'").fetchone()[0]
        committed = {tuple(name.split("/")) for name in done if name.count("/") == 2}
        assert ("TRACKS", "pnagD", "week") in committed, "the slices before the paused one were committed"
        assert ("TRACKS", "pnagD", "month") not in committed, "the paused step's work was not"

        def rest(rows):
            return [r for r in rows if (r[2], r[3], r[4]) not in committed]
        assert rest(after) == rest(before)
        assert [r for r in after if (r[2], r[3], r[4]) == ("TRACKS", "pnagD", "week")] != \
            [r for r in before if (r[2], r[3], r[4]) == ("TRACKS", "pnagD", "week")]
    assert recompute(conn, LATER)["status"] == "ok"


def test_each_step_sends_a_notice_and_the_run_is_recorded(conn):
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    summary = recompute(conn, LATER)
    steps = [n for n in notices if n.startswith("trending: step ")]
    assert len(steps) == 5 + 4 * 3 + 2, "sources, inputs and changes of two kinds, twelve slices, movers, state"
    assert steps[-3].startswith("trending: step 17/19 PLAYLISTS/pnagD/year done in")
    assert steps[-2].startswith("trending: step 18/19 record_movers done in")
    assert steps[-1].startswith("trending: step 19/19 write_state done in")
    row = conn.execute("""
SELECT trigger, status, cycle_now, slice_rows -> 'TRACKS/pnagD/week', step_ms ? 'track_inputs', wal_bytes > 0
FROM trending.runs WHERE run_id = %s""", (summary["run_id"],)).fetchone()
    assert row[:3] == ("recompute", "ok", LATER)
    assert row[3] == {k: v for k, v in summary["strategies"]["TRACKS/pnagD"]["ranges"]["week"].items()}
    assert row[4] and row[5]
    status = conn.execute("SELECT last_success_run_id, scores_as_of, last_failure_at FROM trending.status").fetchone()
    assert status == (summary["run_id"], LATER, None)


def test_old_runs_are_pruned_by_the_retention_setting(conn):
    conn.execute("UPDATE trending.settings SET value = '2 days' WHERE name = 'run_retention'")
    conn.execute("""
INSERT INTO trending.runs (trigger, status, started_at, finished_at, cycle_now)
VALUES ('scheduled', 'ok', now() - interval '3 days', now() - interval '3 days', now() - interval '3 days'),
       ('scheduled', 'failed', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day')""")
    recompute(conn, LATER)
    assert conn.execute("SELECT status FROM trending.runs ORDER BY run_id").fetchall() == [("failed",), ("ok",)]


def test_the_procedure_inside_a_transaction_block_fails_before_taking_the_lock(dsn, conn):
    with psycopg.connect(dsn) as inside:  # not autocommit: CALL runs inside BEGIN
        with pytest.raises(psycopg.errors.InvalidTransactionTermination):
            inside.execute("CALL trending.scheduled_recompute(%s)", (LATER,))
        inside.rollback()
        assert conn.execute("SELECT running_pid FROM trending.status").fetchone()[0] is None, \
            "no session lock left behind to make later cycles skip"
    assert recompute(conn, LATER)["status"] == "ok"


def test_only_a_superuser_can_switch_the_pause_hook_on(conn):
    conn.execute("DROP ROLE IF EXISTS trending_pauser")
    conn.execute("CREATE ROLE trending_pauser")
    conn.execute("SELECT trending.grant_cycle('trending_pauser')")
    try:
        conn.execute("SET ROLE trending_pauser")
        conn.execute("SET trending.test_pause_after = 'check_sources:30'")
        started = time.monotonic()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="only a superuser"):
            recompute(conn, LATER)
        assert time.monotonic() - started < 10
        conn.execute("RESET trending.test_pause_after")
        assert recompute(conn, LATER)["status"] == "ok", "the same role runs cycles without the hook"
    finally:
        conn.execute("RESET ROLE")
        conn.execute("DROP OWNED BY trending_pauser")  # its grants, in this database
        conn.execute("DROP ROLE trending_pauser")



def test_the_procedure_ignores_functions_planted_on_the_callers_search_path(conn):
    """A committing procedure cannot pin its search_path: every name in it is
    schema-qualified, so look-alikes earlier on the caller's path change nothing."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS planted")
    conn.execute("CREATE OR REPLACE FUNCTION planted.now() RETURNS timestamptz "
                 "LANGUAGE sql AS $$SELECT '2000-01-01 00:00+00'::timestamptz$$")
    conn.execute("CREATE OR REPLACE FUNCTION planted.pg_is_in_recovery() RETURNS boolean "
                 "LANGUAGE sql AS $$SELECT true$$")
    try:
        conn.execute("SET search_path = planted, pg_catalog")
        conn.execute("CALL trending.scheduled_recompute()")
    finally:
        conn.execute("RESET search_path")
        conn.execute("DROP SCHEMA planted CASCADE")
    row = conn.execute("SELECT trigger, status, cycle_now > now() - interval '1 hour' FROM trending.runs "
                       "ORDER BY run_id DESC LIMIT 1").fetchone()
    assert row == ("scheduled", "ok", True), "the run happened, at the real now()"


def test_the_score_writers_compress_their_full_page_images_and_put_the_setting_back(conn):
    """An hourly cycle's WAL is mostly full-page images of the score pages it
    touches first after a checkpoint: the writers compress them (lz4), for
    their own statements only."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
    conn.execute("ALTER SYSTEM SET full_page_writes = on")  # the test clusters run without (cluster.py)
    conn.execute("SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 10
        while conn.execute("SHOW full_page_writes").fetchone() != ("on",) and time.monotonic() < deadline:
            time.sleep(0.05)
        conn.execute("CHECKPOINT")
        (start,) = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
        with conn.transaction():
            conn.execute("SELECT trending.recompute(%s)", (LATER,))  # an hour later: every week score decays
            assert conn.execute("SHOW wal_compression").fetchone() == ("off",), "the caller's setting is back"
        conn.execute("SELECT pg_switch_wal()")
        images = conn.execute(r"""
SELECT count(*) FILTER (WHERE r.block_ref ~ 'method: lz4'), count(*)
FROM pg_get_wal_records_info(%s, pg_current_wal_flush_lsn()) r
WHERE r.block_ref ~ 'FPW' AND r.block_ref ~ ('rel \d+/\d+/' || pg_relation_filenode('trending.track_trending_scores') || ' ')
  -- the writes themselves: reads may log hint bits, autovacuum may prune, neither through the writers
  AND r.resource_manager = 'Heap' AND r.record_type IN ('INSERT', 'UPDATE', 'HOT_UPDATE', 'DELETE')
""", (start,)).fetchone()
    finally:
        conn.execute("ALTER SYSTEM RESET full_page_writes")
        conn.execute("SELECT pg_reload_conf()")
    assert images[1] > 0 and images[0] == images[1], f"every image of a score page is lz4-compressed: {images}"


def test_wal_compression_is_left_alone_when_the_server_compresses_or_the_caller_may_not_set_it(conn):
    with conn.transaction():
        assert conn.execute("SELECT trending._wal_compress()").fetchone() == ("off",)
        assert conn.execute("SHOW wal_compression").fetchone() == ("lz4",)
        conn.execute("SELECT trending._wal_compress('off')")
        assert conn.execute("SHOW wal_compression").fetchone() == ("off",)
        conn.execute("SET LOCAL wal_compression = 'zstd'")  # the DBA's own choice stands
        assert conn.execute("SELECT trending._wal_compress()").fetchone() == ("zstd",)
        assert conn.execute("SHOW wal_compression").fetchone() == ("zstd",)
    conn.execute("DROP ROLE IF EXISTS trending_not_super")
    conn.execute("CREATE ROLE trending_not_super")
    try:
        with conn.transaction():
            conn.execute("GRANT EXECUTE ON FUNCTION trending._wal_compress(text) TO trending_not_super")
            conn.execute("SET LOCAL ROLE trending_not_super")
            assert conn.execute("SELECT trending._wal_compress()").fetchone() == ("off",)
            assert conn.execute("SHOW wal_compression").fetchone() == ("off",), "a non-superuser changes nothing"
            conn.execute("RESET ROLE")
            conn.execute("REVOKE ALL ON FUNCTION trending._wal_compress(text) FROM trending_not_super")
    finally:
        conn.execute("DROP ROLE trending_not_super")
