"""Who may do what to a cycle (issue 8, items 3, 5, 6, 11, 12 and 13).

A cycle may run as a superuser (a DBA in psql, pg_cron as the scheduling
role); every role the docs grant something (the job role given
trending.grant_cycle, a `dba` given trending.grant_configure) is treated as
hostile. Scores are checked against the independent oracle (test/oracle).
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from oracle import ALL_STRATEGIES, expected_scores, fetch_source, score_mismatches
from psycopg import sql
from support.cycles import Background, snapshot
from support.lease import hold_lease
from support.harness import enable_strategies, playlist_scores, recompute, track_scores, use_source_schema
from support.random_datasets import load_dataset, random_dataset
from trending_pl.sources import REQUIRED_COLUMNS

SOURCE = "music"
DATASET = random_dataset(8801)
JOB, DBA, NOBODY = "trust_job", "trust_dba", "trust_nobody"


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("trust_cycle")
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_dataset(conn, SOURCE, DATASET)
        conn.execute(f"CREATE TABLE {SOURCE}.secrets (secret text)")
        conn.execute(f"INSERT INTO {SOURCE}.secrets VALUES ('the service''s keys')")
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        for role in (JOB, DBA, NOBODY):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        conn.execute("SELECT trending.grant_cycle(%s)", (JOB,))
        conn.execute("SELECT trending.grant_configure(%s)", (DBA,))
    return dsn


@pytest.fixture
def conn(dsn):
    """A superuser connection; the scores and runs emptied, the settings reset."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("DELETE FROM trending.settings WHERE name <> 'source_schema'")
        use_source_schema(connection, SOURCE)
        connection.execute("TRUNCATE trending.track_trending_scores, trending.playlist_trending_scores, trending.runs")
        yield connection
        connection.execute("RESET ROLE")


def assert_matches_oracle(conn) -> None:
    source = fetch_source(conn, SOURCE)
    tracks, playlists = expected_scores(source, DATASET.now, ALL_STRATEGIES)
    problems = score_mismatches(tracks, track_scores(conn), with_genre=True)
    problems += score_mismatches(playlists, playlist_scores(conn), with_genre=False)
    assert not problems, f"{len(problems)} mismatches vs the oracle: {problems[:10]}"
    assert tracks and playlists, "the dataset should produce scores"


def run_statuses(conn) -> list[tuple]:
    return conn.execute("SELECT trigger, status, run_by FROM trending.runs ORDER BY run_id").fetchall()


# --- item 13: grant_cycle gives what cycles need, and nothing more -----------

@pytest.mark.parametrize("entry", ["recompute", "scheduled"])
def test_a_role_given_only_grant_cycle_runs_cycles_that_match_the_oracle(conn, entry):
    conn.execute(f"SET ROLE {JOB}")
    if entry == "recompute":
        assert recompute(conn, DATASET.now)["status"] == "ok"
    else:
        conn.execute("CALL trending.scheduled_recompute(%s)", (DATASET.now,))
    # a second cycle on stored scores: updates and deletes go through the writers too
    conn.execute("RESET ROLE")
    conn.execute("UPDATE trending.track_trending_scores SET score = score * 3 WHERE track_id % 2 = 0")
    conn.execute("INSERT INTO trending.playlist_trending_scores "
                 "SELECT playlist_id + 1000000, type, version, time_range, score, created_at "
                 "FROM trending.playlist_trending_scores")
    conn.execute(f"SET ROLE {JOB}")
    if entry == "recompute":
        summary = recompute(conn, DATASET.now)
        assert summary["rows"]["updated"] > 0 and summary["rows"]["deleted"] > 0
    else:
        conn.execute("CALL trending.scheduled_recompute(%s)", (DATASET.now,))
    conn.execute("RESET ROLE")
    assert_matches_oracle(conn)
    trigger = "recompute" if entry == "recompute" else "scheduled"
    assert run_statuses(conn) == [(trigger, "ok", JOB)] * 2


def test_grant_cycle_reads_exactly_the_source_tables(conn):
    readable = {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p', 'v') "
        "AND has_table_privilege(%s, c.oid, 'SELECT')", (SOURCE, JOB))}
    assert readable == set(REQUIRED_COLUMNS), "SELECT on sources.REQUIRED_COLUMNS' tables, nothing else"
    conn.execute(f"SET ROLE {JOB}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"SELECT * FROM {SOURCE}.secrets")


def test_the_job_role_cannot_configure_write_trending_nor_call_untrusted_code_directly(conn):
    conn.execute(f"SET ROLE {JOB}")
    for statement in ("UPDATE trending.settings SET value = 'elsewhere' WHERE name = 'source_schema'",
                      "UPDATE trending.strategies SET enabled = false",
                      "UPDATE trending.runs SET status = 'ok'",
                      "INSERT INTO trending.runs (trigger, status, cycle_now) VALUES ('recompute', 'ok', now())",
                      "DELETE FROM trending.track_trending_scores",
                      "UPDATE trending.playlist_trending_scores SET score = 1"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
    conn.execute("RESET ROLE")
    # plpython3u: only the four routines the entry points call as the invoker
    # (PL/Python checks EXECUTE as the caller); each does no more than the
    # entry points do, and a step continues only the caller's own run
    executable = [r[0] for r in conn.execute(
        "SELECT p.proname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
        "WHERE p.pronamespace = 'trending'::regnamespace AND l.lanname = 'plpython3u' "
        "AND has_function_privilege(%s, p.oid, 'EXECUTE') ORDER BY 1", (JOB,))]
    # (and those of preview() and explain_*(), issue 11: they read what a cycle reads)
    assert executable == ["_explain", "_preview", "_python_init", "_recompute", "_scheduled_start", "_scheduled_step"]
    conn.execute(f"SET ROLE {JOB}")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="run 424242 does not exist"):
        conn.execute("SELECT trending._scheduled_step(424242, 0)")


def test_untrusted_routines_are_not_granted_to_public(conn):
    """Item 12: on 1.0, PUBLIC could execute _python_init() (plpython3u)."""
    conn.execute(f"SET ROLE {NOBODY}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT trending._python_init()")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT trending._raise('x', 'P0001', NULL, NULL)")


# --- item 3: a run's plan lives in its session; nobody else continues it ----

def test_another_session_cannot_continue_or_write_for_a_superusers_run(dsn, conn):
    with Background(dsn, "CALL trending.scheduled_recompute(%s)", (DATASET.now,), pause="track_inputs:8") as cycle:
        cycle.wait_until_paused(conn)
        (run_id,) = conn.execute("SELECT run_id FROM trending.runs WHERE status = 'running'").fetchone()
        with psycopg.connect(dsn, autocommit=True) as job:
            job.execute(f"SET ROLE {JOB}")
            for call, args in (("SELECT trending._scheduled_step(%s, 2)", (run_id,)),
                               ("SELECT trending._run_fail(%s, 'XX000', 'x', NULL, NULL)", (run_id,)),
                               ("SELECT trending._run_finish(%s)", (run_id,)),
                               ("SELECT trending._remove_slice(%s, 'track', 'TRACKS', 'pnagD', 'week')", (run_id,))):
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="belongs to another session"):
                    job.execute(call, args)
        assert conn.execute("SELECT status FROM trending.runs WHERE run_id = %s", (run_id,)).fetchone() == \
            ("running",), "the run is untouched"
    assert cycle.error is None, cycle.error
    assert [s for _, s, _ in run_statuses(conn)] == ["ok"]
    assert_matches_oracle(conn)


def test_rewriting_a_running_plan_or_the_settings_changes_nothing_in_the_run(dsn, conn):
    """Item 3 on 1.0: each step re-read the plan from trending.runs, so a role
    with UPDATE on it (the README granted it to the job role) redirected a
    superuser's run to its own schema. Now no role but the owner may write
    runs, and a run never reads its plan back: even the owner's rewrite of
    the row, committed before the next step reads anything, changes nothing."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS mine")  # the hostile roles' schema (empty is enough)
    with Background(dsn, "CALL trending.scheduled_recompute(%s)", (DATASET.now,), pause="track_inputs:5") as cycle:
        cycle.wait_until_paused(conn)
        with psycopg.connect(dsn, autocommit=True) as hostile:
            hostile.execute(f"SET ROLE {JOB}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                hostile.execute("UPDATE trending.runs SET plan = jsonb_set(plan, '{source_schema}', '\"mine\"')")
            hostile.execute(f"SET ROLE {DBA}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                hostile.execute("UPDATE trending.runs SET source_schema = 'mine'")
            # the dba may change what the NEXT cycle reads; not the running one
            hostile.execute("UPDATE trending.settings SET value = 'mine' WHERE name = 'source_schema'")
        with psycopg.connect(dsn) as owner:  # queued behind the paused step, ahead of the next one
            owner.execute("LOCK TABLE trending.runs IN ACCESS EXCLUSIVE MODE")
            owner.execute("UPDATE trending.runs SET source_schema = 'mine', "
                          "plan = jsonb_set(jsonb_set(plan, '{source_schema}', '\"mine\"'), "
                          "'{settings,source_schema}', '\"mine\"') WHERE status = 'running'")
            owner.commit()
    assert cycle.error is None, cycle.error
    conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SOURCE,))
    assert [s for _, s, _ in run_statuses(conn)] == ["ok"]
    assert_matches_oracle(conn)


# --- item 5: the procedure's own declarations ignore the caller's search_path --

def test_a_planted_jsonb_type_on_the_callers_search_path_runs_nothing(dsn, conn):
    """On 1.0, `DECLARE v_result jsonb` resolved `jsonb` on the caller's
    search_path: a look-alike type with an assignment cast ran its function
    as the (superuser) caller."""
    conn.execute("DROP SCHEMA IF EXISTS planted CASCADE")
    conn.execute("CREATE SCHEMA planted")
    conn.execute("CREATE SEQUENCE planted.payload_ran")  # not transactional: survives the call's failure
    conn.execute("CREATE TYPE planted.jsonb AS (x text)")
    conn.execute("CREATE FUNCTION planted.payload(pg_catalog.jsonb) RETURNS planted.jsonb LANGUAGE sql "
                 "AS $$SELECT ROW(pg_catalog.nextval('planted.payload_ran')::text)::planted.jsonb$$")
    conn.execute("CREATE CAST (pg_catalog.jsonb AS planted.jsonb) "
                 "WITH FUNCTION planted.payload(pg_catalog.jsonb) AS ASSIGNMENT")
    try:
        with psycopg.connect(dsn, autocommit=True) as caller:  # a fresh session compiles the procedure
            caller.execute("SET search_path = planted, pg_catalog, public")
            caller.execute("CALL trending.scheduled_recompute(%s)", (DATASET.now,))
        assert conn.execute("SELECT is_called FROM planted.payload_ran").fetchone() == (False,), \
            "the planted cast's function never ran"
    finally:
        conn.execute("DROP SCHEMA planted CASCADE")
    assert [s for _, s, _ in run_statuses(conn)] == ["ok"]
    assert_matches_oracle(conn)


# --- item 6: a table rewrite between the procedure's steps -------------------

@pytest.mark.parametrize("rewrite", ["VACUUM FULL trending.track_trending_scores",
                                     "CLUSTER trending.track_trending_scores USING track_trending_scores_pkey"])
def test_a_score_table_rewritten_between_staging_and_writing_gets_the_right_scores(dsn, conn, rewrite):
    """On 1.0 the slice steps wrote by the ctids track_changes staged: after a
    VACUUM FULL in between, a run reported ok had scores and genres on the
    wrong rows."""
    recompute(conn, DATASET.now)
    # rows the next cycle must update (and dead versions, so the rewrite
    # moves rows), rows it must insert, rows it must delete
    conn.execute("UPDATE trending.track_trending_scores SET score = score * 2, genre = 'stale' "
                 "WHERE track_id % 2 = 0")
    conn.execute("DELETE FROM trending.track_trending_scores WHERE track_id % 5 = 1")
    conn.execute("INSERT INTO trending.track_trending_scores "
                 "SELECT track_id + 1000000, type, genre, version, time_range, score, created_at "
                 "FROM trending.track_trending_scores WHERE track_id % 3 = 0")
    before = conn.execute("SELECT pg_relation_filenode('trending.track_trending_scores')").fetchone()
    with Background(dsn, "CALL trending.scheduled_recompute(%s)", (DATASET.now,), pause="track_changes:5") as cycle:
        cycle.wait_until_paused(conn)
        conn.execute(rewrite)  # waits for the staging step to commit, runs before the first slice step
        after = conn.execute("SELECT pg_relation_filenode('trending.track_trending_scores')").fetchone()
        assert after != before, "the table was rewritten"
    assert cycle.error is None, cycle.error
    statuses = conn.execute("SELECT status, slice_rows -> 'TRACKS/pnagD/week' FROM trending.runs "
                            "WHERE trigger = 'scheduled'").fetchall()
    assert [s for s, _ in statuses] == ["ok"]
    assert_matches_oracle(conn)
    stored = snapshot(conn)
    conn.execute("TRUNCATE trending.track_trending_scores, trending.playlist_trending_scores")
    recompute(conn, DATASET.now)
    assert [r[:7] for r in snapshot(conn)] == [r[:7] for r in stored], "the same scores as a full recompute"


# --- item 11: recompute() leaves the caller's settings as they were ----------

def test_recompute_restores_the_callers_work_mem_lock_timeout_and_parallelism(dsn, conn):
    conn.execute("UPDATE trending.settings SET value = '64MB' WHERE name = 'work_mem'")
    conn.execute("UPDATE trending.settings SET value = '3s' WHERE name = 'lock_timeout'")
    conn.execute("UPDATE trending.settings SET value = '0' WHERE name = 'parallel_workers'")
    show = "SELECT current_setting('work_mem'), current_setting('lock_timeout'), " \
           "current_setting('max_parallel_workers_per_gather')"
    with psycopg.connect(dsn) as caller:  # one transaction
        default = caller.execute(show).fetchone()
        caller.execute("SELECT trending.recompute(%s)", (DATASET.now,))
        assert caller.execute(show).fetchone() == default, "the session's values are back after the call"
        caller.execute("SET LOCAL work_mem = '1111kB'")
        caller.execute("SET LOCAL lock_timeout = '7s'")
        caller.execute("SET LOCAL max_parallel_workers_per_gather = 1")
        caller.execute("SELECT trending.recompute(%s)", (DATASET.now + timedelta(seconds=1),))
        assert caller.execute(show).fetchone() == ("1111kB", "7s", "1"), "and so are the transaction's own"
        caller.rollback()


# --- the writers read the caller's temp table only once it is found plain ---

@pytest.mark.parametrize("plant", [
    "CREATE INDEX ON pg_temp.trending_track_changes ((pg_temp.payload(id)))",
    "CREATE RULE r AS ON UPDATE TO pg_temp.trending_track_changes DO INSTEAD NOTHING",
    "CREATE STATISTICS pg_temp.s ON (pg_temp.payload(id)), score FROM pg_temp.trending_track_changes",
    "ALTER TABLE pg_temp.trending_track_changes ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE pg_temp.trending_track_changes ADD COLUMN extra text",
])
def test_the_writer_refuses_a_changes_table_that_could_run_the_callers_code(dsn, plant):
    """_apply_slice runs as the extension's owner: an index expression, rule,
    policy or statistics object on the caller's temp table would run the
    caller's function as the owner when the definer's planner reads it."""
    with psycopg.connect(dsn, autocommit=True) as job:
        job.execute(f"SET ROLE {JOB}")
        run_id = hold_lease(job)
        job.execute("CREATE FUNCTION pg_temp.payload(integer) RETURNS integer IMMUTABLE LANGUAGE sql "
                    "AS 'SELECT $1'")
        job.execute("CREATE TEMP TABLE trending_track_changes (stored_tid tid, stored_id integer, type text, "
                    "version text, time_range text, id integer, score float8, genre varchar)")
        job.execute(plant)
        (filenode,) = job.execute("SELECT pg_relation_filenode('trending.track_trending_scores')").fetchone()
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="refusing to read"):
            job.execute("SELECT trending._apply_slice(%s, 'track', 'TRACKS', 'pnagD', 'week', now()::timestamp, %s)",
                        (run_id, filenode))
        job.execute("SELECT trending._run_fail(%s, 'XX000', 'test', NULL, NULL)", (run_id,))


def test_the_upgrade_takes_back_1_0s_table_writes_and_keeps_the_job_role_running(dsn, make_db):
    """1.0's README granted the job role writes on runs and the scores; 1.1
    revokes them and gives the role the routines a cycle now calls."""
    upgraded = make_db("trust_upgrade", extensions=())
    with psycopg.connect(upgraded, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION trending VERSION '1.0' CASCADE")
        load_dataset(conn, SOURCE, DATASET)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        conn.execute(f"GRANT EXECUTE ON FUNCTION trending.recompute(timestamptz), trending._recompute(timestamptz) "
                     f"TO {JOB}")
        conn.execute(f"GRANT USAGE ON SCHEMA {SOURCE} TO {JOB}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {SOURCE} TO {JOB}")
        conn.execute(f"GRANT INSERT, UPDATE, DELETE ON trending.track_trending_scores, "
                     f"trending.playlist_trending_scores TO {JOB}")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON trending.runs TO {JOB}")
        conn.execute("ALTER EXTENSION trending UPDATE")
        for table in ("trending.runs", "trending.track_trending_scores", "trending.playlist_trending_scores"):
            for privilege in ("INSERT", "UPDATE", "DELETE"):
                assert not conn.execute("SELECT has_table_privilege(%s, %s, %s)",
                                        (JOB, table, privilege)).fetchone()[0], (table, privilege)
        conn.execute(f"SET ROLE {JOB}")
        assert recompute(conn, DATASET.now)["status"] == "ok", "the 1.0 job role still runs cycles"
        conn.execute("RESET ROLE")
        assert_matches_oracle(conn)
        conn.execute(f"DROP OWNED BY {JOB}")
