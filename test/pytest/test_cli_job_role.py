"""`trending install --schedule` on a cluster that authenticates like a real
one: pg_hba.conf trusts only the harness's own role (postgres, on the
socket) and asks everyone else for a SCRAM password, as Debian's peer or
scram lines do for a role that is no OS user. pg_cron is preloaded and not
yet created, as on a fresh server.

In order (the module's tests share the cluster and run top to bottom):
doctor before an install; install refusing a missing source schema, then a
job its role could not log in as (libpq mode: cron.host is the socket,
where the job role has no password); after cron.use_background_workers = on
and a restart, install creates pg_cron, the non-superuser job role and the
job, which fires as that role and records an ok run; doctor and status
follow the job by name after its id changed. Last, on a cluster of its own
without background workers, the documented pg_hba.conf alternative: a peer
line with a map from the server's OS user to the job role.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from trending_cli.cluster import Cluster
from trending_cli.sample_data import generate

CLI_DIR = Path(__file__).resolve().parents[2] / "cli"
ROLE = "trending_job"
JOB = "trending-recompute"


def trending(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


@pytest.fixture(scope="module")
def server():
    hba = ["local all postgres trust", "local all all scram-sha-256"]
    with Cluster(name="trending-auth", pg_cron=True, hba=hba) as cluster:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE app")
        with psycopg.connect(cluster.conninfo("app"), autocommit=True) as conn:
            generate(conn, "music", scale="tiny", seed=2, as_of=datetime.now(timezone.utc))
        yield cluster


@pytest.fixture(scope="module")
def app(server) -> str:
    return server.conninfo("app")


def one(dsn: str, query: str, params=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


def test_doctor_before_install_says_what_is_missing_and_fails_only_on_the_sources(app):
    result = trending("--dsn", app, "doctor")
    out = result.stdout
    assert result.returncode == 1 and result.stderr == "", out + result.stderr
    assert "warn  extension: not created in database app yet\n      fix: trending install\n" in out
    assert "FAIL  source tables (before install: the default schema): source schema public lacks the tables " \
           "tracks, plays" in out
    assert "warn  pg_cron extension: not created in database postgres" in out
    assert out.endswith("trending doctor: 1 check failed\n")


def test_install_refuses_a_source_schema_without_the_tables_and_changes_nothing(app):
    result = trending("--dsn", app, "install", "--schedule", "* * * * *", "--source-schema", "nowhere")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == "trending install: source schema nowhere does not exist: a cycle cannot run"
    assert "--force" in result.stderr.splitlines()[1]
    assert one(app, "SELECT count(*) FROM pg_extension WHERE extname = 'trending'") == (0,)


def test_install_refuses_a_job_its_role_could_not_log_in_as(server, app):
    result = trending("--dsn", app, "install", "--schedule", "* * * * *", "--source-schema", "music")
    assert result.returncode == 1, result.stdout + result.stderr
    message, hint = result.stderr.splitlines()
    assert message == (f"trending install: cannot schedule: pg_cron connects to {server.socket_dir} as role "
                       f"{ROLE}, and pg_hba.conf line 3 asks it for scram-sha-256 authentication, which a job "
                       "role without a password cannot pass")
    assert "cron.use_background_workers = on" in hint and f"local all {ROLE} peer map=trending" in hint
    assert one(app, "SELECT count(*) FROM pg_extension WHERE extname = 'trending'") == (0,)
    assert one(server.conninfo(), "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") == (0,)
    assert one(app, "SELECT count(*) FROM pg_roles WHERE rolname = %s", (ROLE,)) == (0,)


def wait_for_run(dsn: str, timeout: float = 75) -> tuple:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = one(dsn, "SELECT status, run_by, sqlstate, message FROM trending.runs WHERE trigger = 'scheduled' "
                       "AND status NOT IN ('running', 'skipped') ORDER BY run_id DESC LIMIT 1")
        if row is not None:
            return row
        time.sleep(1)
    raise AssertionError(f"pg_cron finished no run within {timeout} s")


def test_with_background_workers_install_schedules_a_job_that_runs_as_the_job_role(server, app, peer_map_job):
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET cron.use_background_workers = on")
    server.restart()

    result = trending("--dsn", app, "install", "--schedule", "* * * * *", "--source-schema", "music")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert ("pg_cron: created the extension in database postgres (cron.database_name; it was preloaded but "
            "not created)") in out
    assert (f"job role: created role {ROLE} (LOGIN, no password, not a superuser; roles are cluster-wide: one "
            "job role serves every database of this cluster)") in out
    assert f"job role: granted {ROLE} what a cycle in database app needs (trending.grant_cycle)" in out
    assert "' runs CALL trending.scheduled_recompute() in database app as role trending_job" in out
    assert one(server.conninfo(), "SELECT username, database, schedule, active FROM cron.job WHERE jobname = %s",
               (JOB,)) == (ROLE, "app", "* * * * *", True)
    assert one(app, "SELECT rolsuper, rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = %s",
               (ROLE,)) == (False, True, True)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"{app} user={ROLE}")  # the socket asks the job role for a password: no trust for it

    status, run_by, sqlstate, message = wait_for_run(app)
    assert (status, run_by, sqlstate, message) == ("ok", ROLE, None, None)
    assert one(app, "SELECT count(*) > 0 FROM trending.track_trending_scores") == (True,)

    doctor = trending("--dsn", app, "doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "ok    pg_cron: preloaded, jobs run as background workers (no pg_hba.conf line needed)" in doctor.stdout
    assert f"runs CALL trending.scheduled_recompute() as role {ROLE}\n" in doctor.stdout
    assert "FAIL" not in doctor.stdout and "job login" not in doctor.stdout


def test_doctor_and_status_follow_the_job_by_name_when_its_id_changes(server, app):
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s", (JOB,))
    again = trending("--dsn", app, "install", "--schedule", "0 3 * * *")
    assert again.returncode == 0 and "schedule: created pg_cron job" in again.stdout, again.stdout + again.stderr
    doctor = trending("--dsn", app, "doctor").stdout
    assert "ok    last job runs (pg_cron, in database postgres): succeeded at " in doctor, doctor
    assert "none yet" not in doctor
    assert "last job run: succeeded at " in trending("--dsn", app, "status").stdout
    second = trending("--dsn", app, "install", "--schedule", "0 3 * * *")
    assert second.stdout.endswith("trending install: nothing to change\n"), second.stdout
    assert f"job role: {ROLE} (exists; one per cluster)" in second.stdout


def test_a_failed_job_run_shows_its_message_and_hint_not_the_context(server, app):
    """pg_cron records `ERROR: ... CONTEXT: ...` lines; doctor prints one."""
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        (jobid,) = conn.execute("SELECT jobid FROM cron.job WHERE jobname = %s", (JOB,)).fetchone()
        conn.execute("""
INSERT INTO cron.job_run_details (jobid, runid, job_pid, database, username, command, status, return_message,
                                  start_time, end_time)
VALUES (%s, 999999, 1, 'app', %s, 'CALL trending.scheduled_recompute()', 'failed',
        E'ERROR:  trending: source schema "gone" does not exist\\nHINT:  Set source_schema.\\nCONTEXT:  PL/pgSQL '
        'function trending._raise(text,text,text,text) line 4 at RAISE\\nSQL statement "SELECT ..."\\n'
        'PL/pgSQL function trending.scheduled_recompute(timestamp with time zone) line 40 at PERFORM',
        now() + interval '1 hour', now() + interval '1 hour')""", (jobid, ROLE))
    try:
        result = trending("--dsn", app, "doctor")
        line = next(l for l in result.stdout.splitlines() if "last job runs" in l)
        assert result.returncode == 1
        assert line.endswith('the last one: source schema "gone" does not exist (hint: Set source_schema.)'), line
        assert "CONTEXT" not in result.stdout and "PL/pgSQL" not in result.stdout
        status = trending("--dsn", app, "status").stdout
        assert 'last job run: failed at ' in status and "CONTEXT" not in status
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("DELETE FROM cron.job_run_details WHERE runid = 999999")
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s", (JOB,))


# -- the documented alternative: a peer line with a map, libpq mode -------------------------
@pytest.fixture(scope="module")
def peer_map_job():
    """A cluster of its own without background workers, with pg_hba.conf's
    `local all trending_job peer map=trending` and the map `postgres ->
    trending_job`, its job installed to fire every minute. The
    background-worker test asks for it before it waits, so that both
    clusters' jobs fire in the same minute (one wait, not two)."""
    hba = ["local all postgres trust", f"local all {ROLE} peer map=trending", "local all all scram-sha-256"]
    with Cluster(name="trending-peer", pg_cron=True, hba=hba, ident=[f"trending postgres {ROLE}"]) as cluster:
        dsn = cluster.conninfo()
        with psycopg.connect(dsn, autocommit=True) as conn:
            generate(conn, "music", scale="tiny", seed=4, as_of=datetime.now(timezone.utc))
        result = trending("--dsn", dsn, "install", "--schedule", "* * * * *", "--source-schema", "music")
        assert result.returncode == 0, result.stdout + result.stderr
        yield dsn


def test_without_background_workers_a_peer_map_for_the_os_user_postgres_admits_the_job(peer_map_job):
    """pg_cron's libpq connection comes from the server's OS user, postgres:
    the peer line with its map admits it, and nobody else (this test runs as
    root)."""
    dsn = peer_map_job
    assert one(dsn, "SELECT current_setting('cron.use_background_workers')") == ("off",)
    assert one(dsn, "SELECT username FROM cron.job WHERE jobname = %s", (JOB,)) == (ROLE,)
    if os.geteuid() == 0:  # any OS user but postgres is refused
        with pytest.raises(psycopg.OperationalError, match="Peer authentication failed"):
            psycopg.connect(f"{dsn} user={ROLE}")
    assert wait_for_run(dsn) == ("ok", ROLE, None, None)
    assert "FAIL" not in trending("--dsn", dsn, "doctor").stdout
