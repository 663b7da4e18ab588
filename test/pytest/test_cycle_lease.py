"""The cycle lease (issue 17, item 4): a role that cannot run cycles cannot
stop them; a cycle that stops working loses the lease; health says why.

1.1's mutual exclusion was an advisory lock on a fixed key: any role that
could connect held it and every cycle was recorded skipped. 1.2's is a lease
in schema trending_private (sql/schema/55_cycle_lease.sql) that only the
extension's SECURITY DEFINER functions can lock or write. Roles here log in
as themselves, so that pg_stat_activity shows them as they are.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql
from support.cycles import Background
from support.harness import enable_strategies, recompute, use_source_schema
from support.lease import free_lease, hold_lease
from support.random_datasets import load_dataset, random_dataset

SOURCE = "music"
DATASET = random_dataset(1717)
NOW = DATASET.now
READER, JOB = "lease_reader", "lease_job"
ADVISORY_1_1 = "SELECT pg_advisory_lock(1953654126, 1)"  # 1.1's cycle lock key
ENTRY_POINTS = {"recompute": "SELECT trending.recompute(%s)", "scheduled": "CALL trending.scheduled_recompute(%s)"}


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("cycle_lease")
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_dataset(conn, SOURCE, DATASET)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        for role in (READER, JOB):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute("SELECT trending.grant_read(%s)", (READER,))
        conn.execute("SELECT trending.grant_cycle(%s)", (JOB,))
    return dsn


@pytest.fixture
def conn(dsn):
    """A superuser connection; the run history emptied, the settings reset, the lease free."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("DELETE FROM trending.settings WHERE name <> 'source_schema'")
        assert connection.execute("SELECT running_pid FROM trending.status").fetchone()[0] is None, \
            "a previous test left a cycle holding the lease"
        connection.execute("TRUNCATE trending.runs")
        yield connection


def connect_as(dsn: str, role: str) -> psycopg.Connection:
    return psycopg.connect(dsn, user=role, autocommit=True)


def cycle(conn, entry: str) -> tuple[str, str | None]:
    """One cycle through an entry point: the status and message of the run it recorded."""
    conn.execute(ENTRY_POINTS[entry], (NOW,))
    return conn.execute("SELECT status, message FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone()


def status(conn) -> dict:
    cur = conn.execute("SELECT * FROM trending.status")
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def wait_until(conn, condition: str, params=(), what: str = "", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not conn.execute(f"SELECT {condition}", params).fetchone()[0]:
        assert time.monotonic() < deadline, f"never: {what or condition}"
        time.sleep(0.05)


# --- a role that cannot run cycles cannot stop them -------------------------

@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_read_role_holding_1_1s_advisory_key_does_not_stop_cycles(dsn, conn, entry):
    """On 1.1 this made every cycle skip (see docs/security.md)."""
    with connect_as(dsn, READER) as reader:
        reader.execute(ADVISORY_1_1)  # held by an idle session, as the issue describes
        assert status(conn)["running_pid"] is None, "the reader's backend is not shown as a running cycle"
        assert cycle(conn, entry) == ("ok", None)
        assert cycle(conn, entry) == ("ok", None)


def test_a_read_role_can_neither_name_lock_nor_write_the_lease(dsn):
    with connect_as(dsn, READER) as reader:
        for statement in (
            "LOCK TABLE trending_private.cycle_lease IN SHARE UPDATE EXCLUSIVE MODE NOWAIT",
            "LOCK TABLE trending_private.cycle_lease IN ACCESS SHARE MODE",
            "SELECT * FROM trending_private.cycle_lease",
            "UPDATE trending_private.cycle_lease SET run_id = NULL",
            "DELETE FROM trending_private.cycle_lease",
            "INSERT INTO trending_private.cycle_lease DEFAULT VALUES",
            # what the parser locks before the privilege check, in a schema the role may use
            "PREPARE p AS INSERT INTO trending_private.cycle_lease DEFAULT VALUES",
            "SELECT trending._lease_take('recompute', now(), current_user)",
            "SELECT trending._lease_held()",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), reader.transaction():
                reader.execute(statement)
    with connect_as(dsn, JOB) as job:  # a cycle role takes it only through the definer functions
        for statement in ("LOCK TABLE trending_private.cycle_lease IN SHARE UPDATE EXCLUSIVE MODE NOWAIT",
                          "UPDATE trending_private.cycle_lease SET run_id = NULL"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), job.transaction():
                job.execute(statement)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_statements_that_lock_before_the_privilege_check_cannot_reach_the_lease(dsn, conn, entry):
    """The parser locks a relation a statement names before the privilege
    check: in a schema the role may use (here trending.runs), a prepared
    INSERT holds ROW EXCLUSIVE until its transaction ends, and a CREATE
    TRIGGER queued behind it asks for SHARE ROW EXCLUSIVE; together they
    would block the lease's SHARE UPDATE EXCLUSIVE. The lease's schema
    refuses the name itself, so neither gets any lock on it."""
    with connect_as(dsn, READER) as holder, connect_as(dsn, READER) as queued:
        holder.execute("BEGIN")
        holder.execute("PREPARE p AS INSERT INTO trending.runs (trigger) VALUES ('recompute')")
        held = "SELECT mode FROM pg_locks WHERE pid = %s AND relation = %s::regclass AND granted"
        assert conn.execute(held, (holder.info.backend_pid, "trending.runs")).fetchall() == [("RowExclusiveLock",)]
        holder.execute("SAVEPOINT s")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema trending_private"):
            holder.execute("PREPARE q AS INSERT INTO trending_private.cycle_lease DEFAULT VALUES")
        holder.execute("ROLLBACK TO s")
        queued.execute("CREATE FUNCTION pg_temp.f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="schema trending_private"):
            queued.execute("CREATE TRIGGER t BEFORE INSERT ON trending_private.cycle_lease "
                           "FOR EACH ROW EXECUTE FUNCTION pg_temp.f()")
        for pid in (holder.info.backend_pid, queued.info.backend_pid):
            assert conn.execute(held.replace(" AND granted", ""), (pid, "trending_private.cycle_lease")).fetchall() == []
        assert cycle(conn, entry) == ("ok", None)
        holder.execute("ROLLBACK")


def test_functions_that_lock_the_lease_by_oid_for_an_instant_do_not_stop_cycles(dsn, conn):
    """brin_summarize_range() locks the table of the index OID it is given
    (SHARE UPDATE EXCLUSIVE) before it checks anything, and any role may
    call it: two read-role sessions doing so in a tight loop. A cycle waits
    up to 200 ms for the lock instead of giving up at once."""
    (index,) = conn.execute("SELECT 'trending_private.cycle_lease_pkey'::regclass::oid").fetchone()
    loop = f"""DO $$ BEGIN
        FOR i IN 1..1000000 LOOP
            BEGIN PERFORM brin_summarize_range({index}, 0); EXCEPTION WHEN OTHERS THEN NULL; END;
        END LOOP; END $$"""
    hammers = [Background(dsn, loop) for _ in range(2)]
    for hammer in hammers:
        hammer.dsn = f"{dsn} user={READER}"
        hammer.__enter__()
    try:
        wait_until(conn, "count(*) = 2 FROM pg_stat_activity WHERE usename = %s AND state = 'active'", (READER,))
        for _ in range(5):
            for entry in ENTRY_POINTS:
                assert cycle(conn, entry) == ("ok", None)
    finally:
        conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = %s", (READER,))
        for hammer in hammers:
            hammer.__exit__(None, None, None)


# --- two cycles -------------------------------------------------------------

@pytest.mark.parametrize("winner", ENTRY_POINTS)
@pytest.mark.parametrize("loser", ENTRY_POINTS)
def test_of_two_overlapping_cycles_the_second_is_skipped_naming_the_first(dsn, conn, winner, loser):
    """The first cycle is held on a lock the test takes (its playlist slices
    wait for it), so that the second meets it running."""
    conn.execute("UPDATE trending.settings SET value = '60s' WHERE name = 'lock_timeout'")
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE trending.playlist_trending_scores IN SHARE MODE")
        with Background(dsn, ENTRY_POINTS[winner], (NOW,)) as first:
            first.wait_until_waiting_for_a_lock(conn)
            shown = status(conn)
            assert (shown["running_pid"], shown["running_role"]) == (first.pid, blocker.info.user)
            assert cycle(conn, loser) == ("skipped", f"another cycle is running (pid {first.pid})")
            blocker.rollback()
            first.thread.join(60)
            assert first.error is None, first.error
    statuses = sorted(s for (s,) in conn.execute("SELECT status FROM trending.runs"))
    assert statuses == ["ok", "skipped"]
    assert status(conn)["running_pid"] is None


def test_a_cycle_role_between_two_steps_holds_the_lease_until_it_finishes(dsn, conn):
    with connect_as(dsn, JOB) as job:
        run_id = job.execute("SELECT trending._scheduled_start(%s, false)", (NOW,)).fetchone()[0]
        shown = status(conn)
        assert (shown["running_pid"], shown["running_role"], shown["running_run_id"]) == \
            (job.info.backend_pid, JOB, run_id)
        for entry in ENTRY_POINTS:
            assert cycle(conn, entry) == ("skipped", f"another cycle is running (pid {job.info.backend_pid})")
        step = 0
        while job.execute("SELECT trending._scheduled_step(%s, %s)", (run_id, step)).fetchone()[0]["state"] == "more":
            step += 1
    assert status(conn)["running_pid"] is None
    assert cycle(conn, "recompute") == ("ok", None)


def test_a_call_skipped_inside_an_open_transaction_holds_nothing_the_running_cycle_needs(dsn, conn):
    """A call that meets a scheduled run between two steps looks at the
    lease under its lock, then lets go of the lock at once: its caller's
    transaction may stay open, and the run's next step still gets it."""
    conn.execute("UPDATE trending.settings SET value = '1s' WHERE name = 'lock_timeout'")
    with connect_as(dsn, JOB) as job, psycopg.connect(dsn) as caller:
        run_id = job.execute("SELECT trending._scheduled_start(%s, false)", (NOW,)).fetchone()[0]
        summary = caller.execute("SELECT trending.recompute(%s)", (NOW,)).fetchone()[0]
        assert summary["status"] == "skipped"
        assert caller.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                              "AND relation = 'trending_private.cycle_lease'::regclass").fetchone()[0] == 0
        step = 0
        while (result := job.execute("SELECT trending._scheduled_step(%s, %s)",
                                     (run_id, step)).fetchone()[0])["state"] == "more":
            step += 1
        assert result["state"] == "ok", result
        caller.rollback()


# --- a cycle that stops working loses the lease ------------------------------

def test_an_idle_cycle_role_loses_the_lease_after_lease_idle_timeout(dsn, conn):
    with connect_as(dsn, JOB) as job:
        pid = job.info.backend_pid
        run_id = job.execute("SELECT trending._scheduled_start(%s, false)", (NOW,)).fetchone()[0]
        # before the timeout (10 minutes by default): the next cycle is skipped
        assert cycle(conn, "scheduled") == ("skipped", f"another cycle is running (pid {pid})")
        conn.execute("UPDATE trending.settings SET value = '1s' WHERE name = 'lease_idle_timeout'")
        wait_until(conn, "state = 'idle' AND state_change < clock_timestamp() - interval '1s' "
                         "FROM pg_stat_activity WHERE pid = %s", (pid,), "the job idle for a second")
        assert cycle(conn, "scheduled") == ("ok", None)
        shown = status(conn)
        assert (shown["lease_broken_pid"], shown["lease_broken_role"]) == (pid, JOB)
        assert f"pid {pid} (role {JOB}) held the cycle lease of run {run_id} without running a step since" in \
            shown["lease_broken_reason"] and "(now idle)" in shown["lease_broken_reason"]
        assert conn.execute("SELECT status, message FROM trending.runs WHERE run_id = %s", (run_id,)).fetchone() == \
            ("aborted", shown["lease_broken_reason"])
        assert (shown["last_failure_run_id"], shown["last_failure_status"]) == (run_id, "aborted")
        # the job's run cannot go on: its lease is gone
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            job.execute("SELECT trending._run_step_done(%s, 'x', 1, NULL, NULL, NULL, NULL, NULL, NULL)", (run_id,))


def test_a_cycle_role_busy_with_anything_but_its_run_loses_the_lease_too(dsn, conn):
    """Not idle, yet not running a step: a session that started a run and then
    runs something else (here pg_sleep) holds the lease no longer than one
    that sits idle."""
    with connect_as(dsn, JOB) as job:
        pid = job.info.backend_pid
        run_id = job.execute("SELECT trending._scheduled_start(%s, false)", (NOW,)).fetchone()[0]
        sleeper = threading.Thread(target=lambda: _sleep_quietly(job), daemon=True)
        sleeper.start()
        wait_until(conn, "state = 'active' AND wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s", (pid,),
                   "the job sleeping")
        assert cycle(conn, "recompute") == ("skipped", f"another cycle is running (pid {pid})")
        conn.execute("UPDATE trending.settings SET value = '1s' WHERE name = 'lease_idle_timeout'")
        wait_until(conn, "running_since < clock_timestamp() - interval '1s' FROM trending.status")
        assert cycle(conn, "recompute") == ("ok", None)
        shown = status(conn)
        assert shown["lease_broken_pid"] == pid and "(now active)" in shown["lease_broken_reason"]
        assert conn.execute("SELECT status FROM trending.runs WHERE run_id = %s", (run_id,)).fetchone()[0] == "aborted"
        conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
        sleeper.join(30)


def _sleep_quietly(connection) -> None:
    try:
        connection.execute("SELECT pg_sleep(60)")
    except psycopg.Error:
        pass  # cancelled by the test


def test_a_recompute_left_idle_in_transaction_is_ended_after_lease_idle_timeout(dsn, conn):
    """A one-transaction cycle holds the lease's table lock until its caller
    commits; a table lock cannot be broken, so its backend is ended."""
    job = connect_as(dsn, JOB)
    try:
        pid = job.info.backend_pid
        job.execute("BEGIN")
        assert job.execute("SELECT trending.recompute(%s)", (NOW,)).fetchone()[0]["status"] == "ok"
        assert status(conn)["running_pid"] == pid
        assert cycle(conn, "recompute") == ("skipped", f"another cycle is running (pid {pid})")
        conn.execute("UPDATE trending.settings SET value = '1s' WHERE name = 'lease_idle_timeout'")
        wait_until(conn, "state = 'idle in transaction' AND state_change < clock_timestamp() - interval '1s' "
                         "FROM pg_stat_activity WHERE pid = %s", (pid,), "the job idle in transaction")
        assert cycle(conn, "scheduled") == ("ok", None)
        assert not conn.execute("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s)", (pid,)).fetchone()[0]
        shown = status(conn)
        assert (shown["lease_broken_pid"], shown["lease_broken_role"]) == (pid, JOB)
        assert "idle in transaction with the cycle lock" in shown["lease_broken_reason"]
        with pytest.raises(psycopg.OperationalError):
            job.execute("COMMIT")
    finally:
        job.close()


def test_a_run_of_a_backend_that_ended_is_aborted_by_the_next_cycle(dsn, conn):
    with connect_as(dsn, JOB) as job:
        pid = job.info.backend_pid
        run_id = hold_lease(job)
    wait_until(conn, "NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s)", (pid,), "the job's backend gone")
    assert status(conn)["running_pid"] is None, "a gone backend is not shown running"
    assert cycle(conn, "recompute") == ("ok", None)
    assert conn.execute("SELECT status FROM trending.runs WHERE run_id = %s", (run_id,)).fetchone()[0] == "aborted"
    assert status(conn)["lease_broken_pid"] == pid


# --- anything else blocking the lock: failed, and unhealthy ------------------

@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_lock_held_by_anything_but_a_cycle_fails_the_cycle_and_says_who(dsn, conn, entry):
    """Only the owner can lock the lease's table besides a cycle: here a
    superuser session. The cycle is recorded failed (not skipped), with the
    blocking pid and its role, and the status turns unhealthy, saying so."""
    recompute(conn, NOW)
    conn.execute("UPDATE trending.runs SET cycle_now = now()")  # fresh scores: healthy so far
    assert status(conn)["healthy"] is True
    with psycopg.connect(dsn) as blocker:
        blocker.execute("LOCK TABLE trending_private.cycle_lease IN ACCESS EXCLUSIVE MODE")
        pid, user = blocker.info.backend_pid, blocker.info.user
        if entry == "recompute":
            summary = conn.execute(ENTRY_POINTS[entry], (NOW,)).fetchone()[0]
            assert summary["status"] == "failed"
        else:  # the job fails too (pg_cron records it), its run committed first
            with pytest.raises(psycopg.errors.LockNotAvailable, match="the cycle lease's lock is blocked"):
                conn.execute(ENTRY_POINTS[entry], (NOW,))
        failed = conn.execute("SELECT status, sqlstate, message FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone()
        blocker.rollback()
    expected = (f"the cycle lock is blocked by pid {pid} (role {user}, client backend, "
                "holds AccessExclusiveLock): not a cycle")
    assert failed == ("failed", "55P03", expected)
    shown = status(conn)
    assert shown["healthy"] is False
    assert expected in shown["unhealthy_reason"]
    assert cycle(conn, entry) == ("ok", None), "the next cycle runs once the lock is free"


# --- the status for readers, and 1.1's roles after the upgrade ----------------

def test_a_read_role_reads_the_status_when_publics_grants_are_revoked(dsn, conn):
    """trending.status calls trending._cycle_holder() (SECURITY DEFINER: it
    alone may see every role's sessions); grant_read gives it with the view."""
    conn.execute("REVOKE SELECT ON trending.status FROM PUBLIC")
    conn.execute("REVOKE EXECUTE ON FUNCTION trending._cycle_holder() FROM PUBLIC")
    try:
        with connect_as(dsn, READER) as reader:
            with connect_as(dsn, JOB) as job:
                hold_lease(job)  # a cycle holds the lease: the reader sees it
                shown = status(reader)
                assert (shown["running_pid"], shown["running_role"]) == (job.info.backend_pid, JOB)
            conn.execute("SELECT trending.revoke_read(%s)", (READER,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute("SELECT * FROM trending.status")
    finally:
        conn.execute("SELECT trending.grant_read(%s)", (READER,))
        conn.execute("GRANT SELECT ON trending.status TO PUBLIC")
        conn.execute("GRANT EXECUTE ON FUNCTION trending._cycle_holder() TO PUBLIC")
    assert cycle(conn, "recompute") == ("ok", None)  # and breaks the gone job's lease


def test_the_upgrade_from_1_1_keeps_its_cycle_and_read_roles_working(make_db):
    """1.1's grant_cycle did not give trending._lease_take, nor grant_read
    trending._cycle_holder: the upgrade gives them to the roles that had 1.1's."""
    dsn = make_db("cycle_lease_upgrade", extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION trending VERSION '1.1' CASCADE")
        load_dataset(conn, SOURCE, DATASET)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        conn.execute("SELECT trending.grant_cycle(%s), trending.grant_read(%s)", (JOB, READER))
        conn.execute("REVOKE SELECT ON trending.status FROM PUBLIC")
        conn.execute("ALTER EXTENSION trending UPDATE TO '1.2'")
        conn.execute("REVOKE EXECUTE ON FUNCTION trending._cycle_holder() FROM PUBLIC")
        with connect_as(dsn, JOB) as job:
            for entry in ENTRY_POINTS:
                job.execute(ENTRY_POINTS[entry], (NOW,))
        statuses = [s for (s,) in conn.execute("SELECT status FROM trending.runs ORDER BY run_id")]
        assert statuses == ["ok", "ok"]
        with connect_as(dsn, READER) as reader:
            assert status(reader)["last_success_run_id"] is not None

