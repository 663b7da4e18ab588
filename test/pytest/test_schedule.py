"""Scheduling with pg_cron (its own cluster, pg_cron preloaded for database
postgres): trending.schedule()/unschedule() in the cron database, their
errors elsewhere, and a job that really fires and records its run."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from support.harness import enable_strategies, use_source_schema
from trending_cli.sample_data import generate

JOB = "trending-recompute"


@pytest.fixture
def cron_conn(cron_cluster):
    with psycopg.connect(cron_cluster.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT trending.unschedule()")
        yield conn
        conn.execute("SELECT trending.unschedule()")


def jobs(conn) -> list[tuple]:
    return conn.execute("SELECT jobname, schedule, command, database FROM cron.job ORDER BY jobid").fetchall()


def test_schedule_is_idempotent_by_job_name_and_runs_the_procedure(cron_conn):
    first = cron_conn.execute("SELECT trending.schedule()").fetchone()[0]
    again = cron_conn.execute("SELECT trending.schedule('*/15 * * * *')").fetchone()[0]
    assert first == again, "scheduling again updates the one job"
    assert jobs(cron_conn) == [(JOB, "*/15 * * * *", "CALL trending.scheduled_recompute()", "postgres")]


def test_unschedule_removes_the_job_and_is_quiet_when_there_is_none(cron_conn):
    cron_conn.execute("SELECT trending.schedule()")
    assert cron_conn.execute("SELECT trending.unschedule()").fetchone()[0] is True
    assert jobs(cron_conn) == []
    assert cron_conn.execute("SELECT trending.unschedule()").fetchone()[0] is False


def test_a_job_that_runs_as_another_role_is_retimed_in_place_and_unscheduled(cron_conn):
    """`trending install --schedule` makes the job run as trending_job: a
    superuser's schedule() re-times that job (no second job as postgres), and
    unschedule() removes it."""
    cron_conn.execute("DO $$ BEGIN CREATE ROLE sched_job LOGIN; EXCEPTION WHEN duplicate_object THEN END $$")
    (job_id,) = cron_conn.execute(
        "SELECT cron.schedule_in_database(%s, '0 * * * *', 'CALL trending.scheduled_recompute()', "
        "'postgres', 'sched_job', true)", (JOB,)).fetchone()
    assert cron_conn.execute("SELECT trending.schedule('*/30 * * * *')").fetchone()[0] == job_id
    assert cron_conn.execute("SELECT jobname, schedule, username FROM cron.job").fetchall() == \
        [(JOB, "*/30 * * * *", "sched_job")]
    assert cron_conn.execute("SELECT trending.unschedule()").fetchone()[0] is True
    assert jobs(cron_conn) == []


@pytest.mark.parametrize("schedule", ["10 seconds", "* * * *", "every hour", "0 * * * * *", "", None])
def test_a_schedule_pg_cron_1_4_cannot_run_is_refused_with_the_accepted_forms(cron_conn, schedule):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        cron_conn.execute("SELECT trending.schedule(%s)", (schedule,))
    assert "five cron fields" in str(raised.value)
    assert "'0 * * * *'" in raised.value.diag.message_hint
    assert jobs(cron_conn) == []


def test_from_another_database_the_error_names_the_cron_database_and_the_cli(cron_cluster):
    with psycopg.connect(cron_cluster.conninfo("app"), autocommit=True) as app:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
            app.execute("SELECT trending.schedule()")
    assert str(raised.value).startswith("pg_cron lives in database postgres, not in app")
    assert "trending install --schedule" in raised.value.diag.message_hint
    assert "cron.schedule_in_database" in raised.value.diag.message_hint


def test_without_pg_cron_loaded_the_error_says_how_to_load_it(conn):
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
        conn.execute("SELECT trending.schedule()")
    assert str(raised.value).startswith("pg_cron is not loaded")
    assert "shared_preload_libraries" in raised.value.diag.message_hint


def wait_for_run(conn, after_run_id: int, timeout: float = 75):
    """The first finished run after `after_run_id`, waiting up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = conn.execute("""
SELECT run_id, trigger, status, sqlstate, message FROM trending.runs
WHERE run_id > %s AND status NOT IN ('running', 'skipped') ORDER BY run_id LIMIT 1""", (after_run_id,)).fetchone()
        if run is not None:
            return run
        time.sleep(1)
    raise AssertionError(f"pg_cron did not finish a run within {timeout} s")


def last_job_status(conn) -> tuple:
    return conn.execute("""
SELECT d.status, d.return_message FROM cron.job_run_details d JOIN cron.job j USING (jobid)
WHERE j.jobname = %s AND d.status IN ('succeeded', 'failed') ORDER BY d.runid DESC LIMIT 1""", (JOB,)).fetchone()


def test_a_job_every_minute_fires_records_a_failure_then_a_success(cron_conn):
    if not cron_conn.execute("SELECT to_regnamespace('music') IS NOT NULL").fetchone()[0]:
        generate(cron_conn, "music", scale="tiny", seed=9, as_of=datetime.now(timezone.utc))
    enable_strategies(cron_conn)
    cron_conn.execute("DELETE FROM trending.runs")

    use_source_schema(cron_conn, "not_there")
    cron_conn.execute("SELECT trending.schedule('* * * * *')")
    run_id, trigger, status, sqlstate, message = wait_for_run(cron_conn, 0)
    assert (trigger, status, sqlstate) == ("scheduled", "failed", "3F000")
    assert message == 'trending: source schema "not_there" does not exist'
    job_status, job_message = last_job_status(cron_conn)
    assert job_status == "failed" and "not_there" in job_message, "pg_cron marks the job failed too"

    use_source_schema(cron_conn, "music")
    assert wait_for_run(cron_conn, run_id)[1:] == ("scheduled", "ok", None, None)
    assert last_job_status(cron_conn)[0] == "succeeded"
    assert cron_conn.execute("SELECT count(*) FROM trending.track_trending_scores").fetchone()[0] > 0


# ---------------------------------------------------------------------------
# pause and resume (issue 16, item 6), in the README's layout: pg_cron in
# database postgres, the service (trending) in database app
# ---------------------------------------------------------------------------
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def trending_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def active(cron_conn, database: str) -> list[bool]:
    return [r[0] for r in cron_conn.execute("SELECT active FROM cron.job WHERE jobname = %s AND database = %s",
                                            (JOB, database)).fetchall()]


@pytest.mark.parametrize("action", ["pause", "resume", "unschedule"])
def test_from_the_services_database_sql_names_the_cli_command_that_reaches_pg_cron(cron_cluster, action):
    with psycopg.connect(cron_cluster.conninfo("app"), autocommit=True) as app:
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as raised:
            app.execute(f"SELECT trending.{action}()")
    assert str(raised.value).startswith("pg_cron lives in database postgres, not in app")
    hint = raised.value.diag.message_hint
    command = "trending resume" if action == "resume" else "trending pause"
    assert f"{command} --dsn 'dbname=app'" in hint, hint
    assert "trending install --schedule" not in hint, "the hint is about this action, not about scheduling"
    assert "WHERE jobname = 'trending-recompute' AND database = 'app'" in hint


def test_pause_and_resume_from_the_cli_in_the_two_database_layout(cron_cluster):
    app_dsn = cron_cluster.conninfo("app")
    with psycopg.connect(cron_cluster.conninfo(), autocommit=True) as cron_conn:
        cron_conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s", (JOB,))
        result = trending_cli("pause", "--dsn", app_dsn)
        assert result.returncode == 1 and "no pg_cron job trending-recompute runs trending in database app" \
            in result.stderr and "trending install --schedule" in result.stderr
        cron_conn.execute("SELECT cron.schedule_in_database(%s, '0 * * * *', %s, 'app')",
                          (JOB, "CALL trending.scheduled_recompute()"))
        try:
            result = trending_cli("pause", "--dsn", app_dsn)
            assert result.returncode == 0, result.stderr
            assert "paused; a cycle running now finishes" in result.stdout
            assert active(cron_conn, "app") == [False]
            doctor = trending_cli("doctor", "--dsn", app_dsn).stdout
            assert "') is paused (inactive): no cycle runs" in doctor and "fix: trending resume" in doctor
            assert "INACTIVE" in trending_cli("status", "--dsn", app_dsn).stdout
            assert "is already paused" in trending_cli("pause", "--dsn", app_dsn).stdout
            result = trending_cli("resume", "--dsn", app_dsn)
            assert result.returncode == 0 and "runs again" in result.stdout, result.stderr
            assert active(cron_conn, "app") == [True]
            assert "is paused" not in trending_cli("doctor", "--dsn", app_dsn).stdout
        finally:
            cron_conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s", (JOB,))


def test_pause_and_resume_in_sql_where_pg_cron_lives(cron_conn):
    assert cron_conn.execute("SELECT trending.pause()").fetchone()[0] is False, "nothing scheduled"
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="no pg_cron job"):
        cron_conn.execute("SELECT trending.resume()")
    job_id = cron_conn.execute("SELECT trending.schedule()").fetchone()[0]
    assert cron_conn.execute("SELECT trending.pause()").fetchone()[0] is True
    assert active(cron_conn, "postgres") == [False]
    assert cron_conn.execute("SELECT trending.schedule('*/30 * * * *')").fetchone()[0] == job_id
    assert active(cron_conn, "postgres") == [False], "re-timing a paused job keeps it paused"
    assert cron_conn.execute("SELECT trending.resume()").fetchone()[0] is True
    assert active(cron_conn, "postgres") == [True]
