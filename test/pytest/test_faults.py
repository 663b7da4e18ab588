"""Faults against a real cluster, through both entry points (issue 8, item 14):
a server crash mid-cycle, statement_timeout on the job's role, 8 concurrent
calls, and the service writing while a cycle runs.

In each case: the previous scores stay intact (a scheduled run keeps the
slices it committed before the fault, the others keep their previous rows);
the run history tells the truth (a recompute() that never committed leaves
no row, a scheduled run that died is marked 'aborted' by the next run); and
the next cycle succeeds and matches the independent oracle on the source
rows as they are then.

A cycle is stopped at a known step with the superuser-only pause hook
(trending.test_pause_after, extension/trending_pl/hooks.py) or held on a
lock the test takes; the tests wait for either in pg_stat_activity. The
dataset is a small adversarial one (support/random_datasets.py): the hook,
not the size, puts each fault mid-cycle.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from oracle import ALL_STRATEGIES
from psycopg.conninfo import make_conninfo
from support.cycles import ENTRY_POINTS, Background, snapshot
from support.faults import CrashableCluster, ServiceWriter, oracle_mismatches
from support.harness import enable_strategies, recompute, use_source_schema
from support.random_datasets import load_dataset, random_dataset

from trending_cli.cluster import SERVER_USER, pg_bindir

SCHEMA = "faults_src"
DATASET = random_dataset(9)
NOW0 = DATASET.now                      # the previous cycle's now
NOW1 = NOW0 + timedelta(days=3)         # the faulty cycle's, and the next one's
NOW1_UTC = DATASET.now_utc + timedelta(days=3)
# The procedure commits TRACKS/pnagD/week before this slice; the pause hook
# stops a cycle after this slice's work, before its commit.
PAUSED_SLICE = "TRACKS/pnagD/month"
COMMITTED_SLICE = ("TRACKS", "pnagD", "week")
JOB_ROLE = "trending_fault_job"


def prepare(conn) -> list[tuple]:
    """Load the dataset afresh, run a cycle at NOW0 with every strategy on
    and the default settings, empty the run history; the scores as they are."""
    load_dataset(conn, SCHEMA, DATASET)
    conn.execute("DELETE FROM trending.settings WHERE name <> 'source_schema'")
    use_source_schema(conn, SCHEMA)
    enable_strategies(conn, ALL_STRATEGIES)
    assert recompute(conn, NOW0)["status"] == "ok"
    conn.execute("DELETE FROM trending.runs")
    return snapshot(conn)


def runs(conn) -> list[tuple]:
    return conn.execute("SELECT trigger, status, sqlstate, pid, message, step_ms "
                        "FROM trending.runs ORDER BY run_id").fetchall()


def committed_slices(step_ms: dict) -> set[tuple]:
    return {tuple(name.split("/")) for name in step_ms if name.count("/") == 2}


def slice_rows(rows: list[tuple], slices: set[tuple], inside: bool) -> list[tuple]:
    return [r for r in rows if ((r[2], r[3], r[4]) in slices) == inside]


def assert_partial_run_kept_only_its_committed_slices(before, after, step_ms) -> None:
    """A scheduled run stopped in PAUSED_SLICE: the slices it committed hold
    new scores, every other slice its previous rows, untouched."""
    committed = committed_slices(step_ms)
    assert COMMITTED_SLICE in committed, "the slices before the paused one were committed"
    assert tuple(PAUSED_SLICE.split("/")) not in committed, "the paused slice's work was not"
    assert slice_rows(after, committed, False) == slice_rows(before, committed, False)
    assert slice_rows(after, {COMMITTED_SLICE}, True) != slice_rows(before, {COMMITTED_SLICE}, True), \
        "the committed slice holds the new cycle's scores"


def assert_next_cycle_succeeds_and_matches_the_oracle(conn, entry: str, dsn: str | None = None) -> None:
    statement = ENTRY_POINTS[entry]
    if dsn is None:
        conn.execute(statement, (NOW1,))
    else:  # as another role
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute(statement, (NOW1,))
    last = conn.execute("SELECT trigger, status FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone()
    assert last == (entry, "ok")
    mismatches = oracle_mismatches(conn, SCHEMA, NOW1, ALL_STRATEGIES)
    assert not mismatches, f"{len(mismatches)} differences from the oracle: {mismatches[:10]}"


def running_pid(conn):
    return conn.execute("SELECT running_pid FROM trending.status").fetchone()[0]


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("faults")
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The faulty cycle would change the slice the procedure commits first,
        # else "the previous scores stay intact" could not fail.
        before = prepare(conn)
        assert slice_rows(before, {COMMITTED_SLICE}, True), "the dataset has TRACKS/pnagD/week scores"
        recompute(conn, NOW1)
        assert slice_rows(snapshot(conn), {COMMITTED_SLICE}, True) != slice_rows(before, {COMMITTED_SLICE}, True)
    return dsn


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


# ---------------------------------------------------------------------------
# pg_ctl stop -m immediate mid-cycle, then a restart
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crash_cluster():
    """A cluster of its own, with durable settings (fsync and
    synchronous_commit on: with synchronous_commit off an immediate stop may
    lose the last commits, and what survives would depend on timing)."""
    with CrashableCluster(name="trending-crash", fast=False) as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            admin.execute("CREATE EXTENSION trending CASCADE")
        yield server


def cluster_state(cluster) -> str:
    out = subprocess.run(["runuser", "-u", SERVER_USER, "--", str(pg_bindir() / "pg_controldata"),
                          "-D", str(cluster.data_dir)], capture_output=True, text=True, check=True).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith("Database cluster state"))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_server_crash_mid_cycle_keeps_the_previous_scores_and_the_next_cycle_succeeds(crash_cluster, entry):
    dsn = crash_cluster.conninfo()
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = prepare(conn)
        with Background(dsn, ENTRY_POINTS[entry], (NOW1,), pause=f"{PAUSED_SLICE}:60") as cycle:
            cycle.wait_until_paused(conn)
            crash_cluster.crash()
    assert isinstance(cycle.error, psycopg.OperationalError), cycle.error
    assert cluster_state(crash_cluster) == "in production", "a crash, not a clean shutdown"
    crash_cluster.restart()  # crash recovery replays the WAL

    with psycopg.connect(dsn, autocommit=True) as conn:
        after, history = snapshot(conn), runs(conn)
        assert running_pid(conn) is None, "no cycle is reported running after the restart"
        if entry == "recompute":
            assert after == before, "nothing of the uncommitted cycle survives"
            assert history == [], "its run row was never committed"
        else:
            assert [(t, s, pid) for t, s, _, pid, _, _ in history] == [("scheduled", "running", cycle.pid)], \
                "the run row says what was known at the crash"
            assert_partial_run_kept_only_its_committed_slices(before, after, history[0][5])
        assert_next_cycle_succeeds_and_matches_the_oracle(conn, entry)
        history = runs(conn)
        if entry == "scheduled":
            assert history[0][1] == "aborted" and f"pid {cycle.pid}" in history[0][4], history[0]
            assert [h[1] for h in history] == ["aborted", "ok"]
        else:
            assert [h[1] for h in history] == ["ok"]


# ---------------------------------------------------------------------------
# statement_timeout on the job's role
# ---------------------------------------------------------------------------
@pytest.fixture
def job_dsn(dsn, conn):
    """A login role whose sessions get statement_timeout = 2s, as a DBA bounds
    a scheduled job. A superuser: only a superuser may use the pause hook."""
    conn.execute(f"DROP ROLE IF EXISTS {JOB_ROLE}")
    conn.execute(f"CREATE ROLE {JOB_ROLE} LOGIN SUPERUSER")
    conn.execute(f"ALTER ROLE {JOB_ROLE} SET statement_timeout = '2s'")
    yield make_conninfo(dsn, user=JOB_ROLE)
    deadline = time.monotonic() + 30  # its backends drop their temp tables as they exit
    while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (JOB_ROLE,)).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    conn.execute(f"DROP ROLE {JOB_ROLE}")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_statement_timeout_on_the_job_role_cancels_a_cycle_and_the_next_one_succeeds(conn, job_dsn, entry):
    before = prepare(conn)
    with Background(job_dsn, ENTRY_POINTS[entry], (NOW1,), pause=f"{PAUSED_SLICE}:60") as cycle:
        cycle.wait_until_paused(conn)  # the timeout lands in the pause, mid-cycle
    assert isinstance(cycle.error, psycopg.errors.QueryCanceled), cycle.error
    assert "statement timeout" in str(cycle.error)
    after, history = snapshot(conn), runs(conn)
    assert running_pid(conn) is None
    if entry == "recompute":
        assert after == before and history == []
    else:
        assert [(t, s, code, pid) for t, s, code, pid, _, _ in history] == \
            [("scheduled", "failed", "57014", cycle.pid)], "the cancelled run recorded its SQLSTATE"
        assert "statement timeout" in history[0][4]
        assert_partial_run_kept_only_its_committed_slices(before, after, history[0][5])
    # the role keeps its statement_timeout: a cycle that fits in it succeeds
    assert_next_cycle_succeeds_and_matches_the_oracle(conn, entry, dsn=job_dsn)
    assert [h[1] for h in runs(conn)] == (["ok"] if entry == "recompute" else ["failed", "ok"])


def test_a_cancel_between_two_steps_of_the_procedure_records_the_run_and_frees_the_lock(dsn, conn):
    """pg_cancel_backend (the documented way to stop a cycle) can land between
    two steps, outside a step's work. To put it there deterministically, the
    test takes ACCESS EXCLUSIVE on trending.runs while the cycle is paused in
    a step: the lock is granted when that step commits, and the cycle then
    waits for it in the next step's first read of its run row, where the
    cancel lands. The caller's session stays connected afterwards, as psql
    does: the run must be recorded failed and the cycle lock freed, else
    every other session's cycle skips until that session ends."""
    before = prepare(conn)
    with Background(dsn, ENTRY_POINTS["scheduled"], (NOW1,), pause="TRACKS/pnagD/week:2", keep_open=True) as cycle, \
            psycopg.connect(dsn) as blocker:
        cycle.wait_until_paused(conn)
        locker = threading.Thread(target=lambda: blocker.execute(
            "LOCK TABLE trending.runs IN ACCESS EXCLUSIVE MODE"), daemon=True)
        locker.start()
        # Only pg_stat_activity and pg_locks from here on: trending.status
        # reads trending.runs and would queue behind the test's lock.
        deadline = time.monotonic() + 60
        while not conn.execute("""
SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s AND NOT granted AND relation = 'trending.runs'::regclass)""",
                               (cycle.pid,)).fetchone()[0]:
            assert time.monotonic() < deadline and not cycle.finished.is_set(), \
                "the cycle never waited for trending.runs"
            time.sleep(0.05)
        locker.join(10)
        conn.execute("SELECT pg_cancel_backend(%s)", (cycle.pid,))
        blocker.rollback()  # recording the failure may need trending.runs
        assert cycle.finished.wait(30)
        assert isinstance(cycle.error, psycopg.errors.QueryCanceled), cycle.error

        history = runs(conn)  # the caller's session is still connected
        assert [(t, s, code) for t, s, code, *_ in history] == [("scheduled", "failed", "57014")], \
            "the cancelled run is recorded failed, though its session lives on"
        assert running_pid(conn) is None, "the caller's session no longer holds the cycle lock"
        committed = committed_slices(history[0][5])
        assert COMMITTED_SLICE in committed, "the paused step committed before the cancel"
        assert slice_rows(snapshot(conn), committed, False) == slice_rows(before, committed, False)
        assert_next_cycle_succeeds_and_matches_the_oracle(conn, "recompute")  # from another session


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_run_left_between_steps_in_a_live_session_does_not_hold_the_lock_after_the_next_run(dsn, conn, entry):
    """A cancel landing in the procedure's own COMMIT, between two steps,
    leaves the session holding the (re-entrant) session lock with a run in
    its memory. Stand-in: the procedure's first step called on its own. The
    same session's next cycle must mark that run aborted and leave the lock
    free, else every other session's cycle would skip while it lives."""
    prepare(conn)
    with psycopg.connect(dsn, autocommit=True) as session:
        left = session.execute("SELECT trending._scheduled_start(%s, false)", (NOW1,)).fetchone()[0]
        assert left is not None and running_pid(conn) == session.info.backend_pid
        session.execute(ENTRY_POINTS[entry], (NOW1,))
        assert running_pid(conn) is None, "the session holds the cycle lock after its run finished"
        statuses = dict(conn.execute("SELECT run_id, status FROM trending.runs").fetchall())
        assert statuses.pop(left) == "aborted"
        assert list(statuses.values()) == ["ok"]
    assert_next_cycle_succeeds_and_matches_the_oracle(conn, "recompute")


# ---------------------------------------------------------------------------
# 8 concurrent calls
# ---------------------------------------------------------------------------
CALLERS = {"recompute": ["recompute"] * 8, "scheduled": ["scheduled"] * 8,
           "mixed": ["recompute", "scheduled"] * 4}


@pytest.mark.parametrize("callers", CALLERS)
def test_eight_concurrent_calls_run_one_cycle_and_skip_the_others(dsn, conn, callers):
    entries = CALLERS[callers]
    before = prepare(conn)
    # The one cycle that gets the lock is held on a lock the test takes (in
    # its first playlist slice), so that all the others meet it running.
    conn.execute("UPDATE trending.settings SET value = '60s' WHERE name = 'lock_timeout'")
    gate = threading.Event()
    calls = [Background(dsn, ENTRY_POINTS[e], (NOW1,), gate=gate) for e in entries]
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE trending.playlist_trending_scores IN SHARE MODE")
        for call in calls:
            call.__enter__()  # connected, waiting at the gate
        gate.set()
        # the winner: the one call waiting for the test's lock (only a call
        # that took the cycle lease writes the score tables)
        deadline = time.monotonic() + 60
        while not (waiting := [r[0] for r in conn.execute(
                "SELECT pid FROM pg_locks WHERE relation = 'trending.playlist_trending_scores'::regclass"
                " AND NOT granted").fetchall()]):
            assert time.monotonic() < deadline, "no call got to the test's lock"
            time.sleep(0.05)
        assert len(waiting) == 1, "one call runs a cycle"
        winner = next(c for c in calls if c.pid == waiting[0])
        assert running_pid(conn) == winner.pid, "trending.status names the running cycle"
        others = [c for c in calls if c is not winner]
        for call in others:
            call.thread.join(60)
        stuck = [c.pid for c in others if c.thread.is_alive()]
        assert not stuck, ("every other call returned while one runs", conn.execute(
            "SELECT pid, state, wait_event_type, wait_event, query FROM pg_stat_activity WHERE pid = ANY(%s)",
            (stuck,)).fetchall(), conn.execute(
            "SELECT pid, locktype, relation::regclass, mode, granted FROM pg_locks WHERE pid = ANY(%s)",
            (stuck,)).fetchall())
        if entries[calls.index(winner)] == "recompute":
            assert snapshot(conn) == before, "the skipped calls wrote nothing"
        blocker.rollback()
    winner.thread.join(60)

    errors = [(c.pid, c.error) for c in calls if c.error is not None]
    assert errors == [], "no call failed (no deadlock, no lock timeout)"
    for entry, call in zip(entries, calls):
        if entry == "recompute":
            assert call.result["status"] == ("ok" if call is winner else "skipped")
        if call is not winner:
            assert any("skipped: another cycle is running" in n for n in call.notices)
    skipped_messages = {m for _, s, _, _, m, _ in runs(conn) if s == "skipped"}
    assert skipped_messages == {f"another cycle is running (pid {winner.pid})"}, "each names the running one"
    history = Counter((t, s) for t, s, *_ in runs(conn))
    expected = Counter((e, "skipped") for c, e in zip(calls, entries) if c is not winner)
    expected[(entries[calls.index(winner)], "ok")] += 1
    assert history == expected, "one ok run and one skipped run per other call"
    mismatches = oracle_mismatches(conn, SCHEMA, NOW1, ALL_STRATEGIES)
    assert not mismatches, mismatches[:10]
    assert_next_cycle_succeeds_and_matches_the_oracle(conn, entries[0])


# ---------------------------------------------------------------------------
# The service writes plays, saves and reposts during a cycle
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_the_service_writing_during_a_cycle_gets_no_error_and_the_next_cycle_counts_every_row(dsn, conn, entry):
    prepare(conn)

    def wait_for_batches(writer, count):
        deadline = time.monotonic() + 30
        while writer.batches < count and writer.error is None and writer.thread.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.02)

    with ServiceWriter(dsn, SCHEMA, NOW1_UTC, max_batches=5000, max_seconds=30) as writer:
        wait_for_batches(writer, 5)
        writer.during.set()
        # paused after staging the track changes: the writer commits while the
        # cycle holds its snapshot, then while it writes the slices
        with Background(dsn, ENTRY_POINTS[entry], (NOW1,), pause="track_changes:2") as cycle:
            cycle.wait_until_paused(conn)
        writer.during.clear()
        wait_for_batches(writer, writer.batches + 5)  # and after the cycle
    assert writer.error is None, writer.error
    assert cycle.error is None, cycle.error
    assert writer.overlapping >= 5, "the writer committed while the cycle ran"
    assert writer.batches < 5000, "the writer was still writing when stopped"
    assert [(t, s) for t, s, *_ in runs(conn)] == [(entry, "ok")]
    during = snapshot(conn)

    assert_next_cycle_succeeds_and_matches_the_oracle(conn, entry)
    assert snapshot(conn) != during, "the rows written after the first cycle's reads changed scores"
    assert [s for _, s, *_ in runs(conn)] == ["ok", "ok"]
