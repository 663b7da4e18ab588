"""The current CLI against a database that holds an older trending (issue 19,
item 1): a DBA runs `trending doctor` and `trending status` before
upgrading. Each database is created with CREATE EXTENSION trending VERSION
'1.0' or '1.1' (their scripts are installed beside 1.2's) and runs one
cycle of that version; 1.1's has the change capture installed. The commands
say which version is installed and that `trending install` updates it, and
check what that version has; `trending install` then updates it and says
once how to turn the change capture on.

Also doctor's two lists of runs (item 5), labelled: the pg_cron job's (in
pg_cron's database, `postgres`, while the service is elsewhere) and
trending.runs' cycles, whatever ran them.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from trending_cli import compat, cron
from trending_cli.db import version_key
from trending_cli.sample_data import generate

CLI_DIR = Path(__file__).resolve().parents[2] / "cli"
NEWEST = "1.2"
OFFER = "turn it on with `trending install --capture`"


def trending(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def clean(result: subprocess.CompletedProcess, status: int = 0) -> str:
    """stdout of a run that ended with `status` and printed nothing else."""
    assert (result.returncode, result.stderr) == (status, ""), result.stdout + result.stderr
    return result.stdout


def create_old(dsn: str, version: str, *, data: bool = True, capture: bool = False) -> None:
    """trending `version`, and with `data` the tiny sample data and one cycle of that version."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute(f"CREATE EXTENSION trending VERSION '{version}' CASCADE")
        if not data:
            return
        generate(conn, "music", scale="tiny", seed=3, as_of=datetime.now(timezone.utc))
        conn.execute("UPDATE trending.settings SET value = 'music' WHERE name = 'source_schema'")
        if capture:
            conn.execute("SELECT trending.install_capture()")
        conn.execute("SELECT trending.recompute()")


@pytest.fixture(scope="module", params=["1.0", "1.1"])
def old(request, make_db) -> tuple[str, str]:
    """(version, dsn): a database of the cluster without pg_cron."""
    version = request.param
    dsn = make_db(f"cli_old_{version.replace('.', '_')}", extensions=())
    create_old(dsn, version, capture=version == "1.1")
    return version, dsn


def test_versions_compare_by_number_and_features_follow_them():
    assert compat.Installed("1.0", NEWEST).outdated and not compat.Installed("1.0", NEWEST).has("health")
    assert compat.Installed("1.1", NEWEST).has("capture") and not compat.Installed("1.1", NEWEST).has("capture_role")
    assert compat.Installed("1.10", NEWEST).has("capture_role") and not compat.Installed("1.10", NEWEST).outdated
    assert not compat.Installed(NEWEST, NEWEST).outdated and compat.Installed(NEWEST, NEWEST).has("capture_role")


def test_doctor_says_which_version_is_installed_and_checks_what_it_has(old):
    version, dsn = old
    out = clean(trending("doctor", "--dsn", dsn))  # warnings only: no pg_cron, the update pending
    assert f"warn  extension: trending {version} is installed in database cli_old_{version.replace('.', '_')}; " \
           f"`trending install` updates it to {NEWEST}; until then doctor checks what {version} has\n" \
           "      fix: trending install (runs ALTER EXTENSION trending UPDATE)\n" in out, out
    assert "ok    health: healthy: scores as of " in out
    assert "ok    source tables: all present in schema music" in out
    assert "warn  pg_cron: not in shared_preload_libraries" in out
    assert "ok    last cycles (trending.runs, any trigger): run 1 recompute ok at " in out
    if version == "1.0":
        assert "note  capture: none in trending 1.0 (every cycle reads everything): update it (`trending install`), " \
               "then `trending install --capture` turns it on\n" in out
    else:
        # 1.1's triggers ran as each writer: not a failure of 1.1, what the update changes
        assert "capture: installed on schema music" in out
        assert "note  capture role: in trending 1.1 the capture triggers run as each writer" in out
        assert "capture backlog" not in out, "1.1's capture has no bound"
    assert out.endswith("trending doctor: nothing blocks trending; 2 warnings\n")


def test_status_says_which_version_is_installed_and_shows_what_it_records(old):
    version, dsn = old
    out = clean(trending("status", "--dsn", dsn))
    assert out.startswith(f"trending {version} in database cli_old_{version.replace('.', '_')}, source schema music\n"
                          f"trending {version} is installed; `trending install` updates it to {NEWEST}; "
                          f"until then this shows what {version} records\n"), out
    assert "  1  recompute  ok  " in out
    assert "scores: as of " in out and "warning" not in out
    assert ("capture: none in trending 1.0" if version == "1.0" else "capture: installed on schema music") in out
    assert "Tables\n" in out
    assert clean(trending("status", "--check", "--dsn", dsn)).startswith("healthy: scores as of ")
    run = clean(trending("status", "--run", "1", "--dsn", dsn))
    assert run.startswith("run 1: recompute, ok" + (", full cycle" if version == "1.1" else "") + ", as role postgres")
    assert "step 1/" in run and " check_sources done in " in run


def test_a_failed_run_of_an_old_version_fails_doctors_health_and_is_noted_among_the_cycles(old):
    """1.0's status view has no healthy column: the CLI says the same from its
    run columns (1.1's from its own)."""
    version, dsn = old
    with psycopg.connect(dsn, autocommit=True) as conn:
        (run_id,) = conn.execute("""
INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, sqlstate, message)
VALUES ('scheduled', 'failed', clock_timestamp(), now(), '3F000', 'trending: source schema "gone" does not exist')
RETURNING run_id""").fetchone()
        try:
            out = clean(trending("doctor", "--dsn", dsn), 1)
            assert f"FAIL  health: not healthy: the last finished run ({run_id}) failed: source schema \"gone\" does " \
                   "not exist\n      fix: trending status shows the runs; trending recompute runs a cycle now\n" in out
            assert f"note  last cycles (trending.runs, any trigger): run {run_id} scheduled failed at " in out
            assert out.endswith("trending doctor: 1 check failed\n")
            check = trending("status", "--check", "--dsn", dsn)
            assert check.returncode == 1 and check.stdout.startswith(f"not healthy: the last finished run ({run_id})")
        finally:
            conn.execute("DELETE FROM trending.runs WHERE run_id = %s", (run_id,))


@pytest.mark.parametrize("version, capture", [("1.0", False), ("1.1", False), ("1.1", True)])
def test_install_updates_an_old_version_and_says_once_how_to_turn_the_capture_on(make_db, version, capture):
    dsn = make_db(f"cli_old_install_{version.replace('.', '_')}{'_capture' * capture}", extensions=())
    create_old(dsn, version, data=capture, capture=capture)
    first = clean(trending("install", "--no-schedule", "--force", "--dsn", dsn))
    assert f"extension: updated trending {version} -> {NEWEST} in database " in first, first
    assert first.count("trending install --capture") == (0 if capture else 1), first
    if not capture:
        assert OFFER in first and first.endswith("trending install: done\n")
    again = clean(trending("install", "--no-schedule", "--force", "--dsn", dsn))
    assert "--capture" not in again, "said once: the update is done"
    doctor = trending("doctor", "--dsn", dsn).stdout
    assert "is installed" not in doctor and f"ok    extension: trending {NEWEST} in database " in doctor
    assert ("ok    capture role: the triggers run as trending_capture" if capture else
            "note  capture: off: not installed") in doctor


# -- the two-database layout: pg_cron in postgres, trending 1.0 in old_cron ----------------------
@pytest.fixture(scope="module")
def old_cron(cron_cluster):
    """trending 1.0 in database old_cron of the pg_cron cluster, a job for it
    scheduled as 1.0's SQL did (as the superuser), no job run yet. Databases
    there are never dropped (pg_cron 1.4.2 stalls DROP DATABASE): the job,
    the extension and the data go afterwards."""
    with psycopg.connect(cron_cluster.conninfo(), autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = 'old_cron'").fetchone() is None:
            admin.execute("CREATE DATABASE old_cron")
    dsn = cron_cluster.conninfo("old_cron")
    create_old(dsn, "1.0")
    with psycopg.connect(cron_cluster.conninfo(), autocommit=True) as cron_conn:
        (jobid,) = cron_conn.execute("SELECT cron.schedule_in_database(%s, '0 0 1 1 *', %s, 'old_cron')",
                                     (cron.JOB_NAME, cron.COMMAND)).fetchone()
        try:
            yield dsn, cron_conn, jobid
        finally:
            cron_conn.execute("DELETE FROM cron.job_run_details WHERE jobid = %s", (jobid,))
            cron_conn.execute("SELECT cron.unschedule(%s::bigint)", (jobid,))
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SET client_min_messages = warning")
                conn.execute("DROP EXTENSION trending CASCADE")
                conn.execute("DROP SCHEMA music CASCADE")


def test_doctor_shows_the_jobs_runs_and_the_cycles_labelled_where_pg_cron_lives_elsewhere(old_cron):
    """Before: `last runs: none yet` (pg_cron's) while status listed the cycle
    `trending recompute` ran. Now both, each saying whose runs they are."""
    dsn, cron_conn, jobid = old_cron
    out = clean(trending("doctor", "--dsn", dsn))
    assert "warn  extension: trending 1.0 is installed in database old_cron; `trending install` updates it to " \
           f"{NEWEST}" in out
    assert "ok    cron.database_name: postgres" in out
    assert f"ok    job: job {jobid}: '0 0 1 1 *' runs {cron.COMMAND} as role postgres" in out
    assert "warn  job role: the job runs as superuser postgres" in out
    assert f"note  last job runs (pg_cron, in database postgres): none yet: job {jobid} has not fired" in out
    assert "ok    last cycles (trending.runs, any trigger): run 1 recompute ok at " in out
    assert out.index("last job runs (pg_cron") < out.index("last cycles (trending.runs")

    cron_conn.execute("""
INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status, return_message,
                                  start_time, end_time)
VALUES (%s, 1, 'old_cron', 'postgres', %s, 'succeeded', 'CALL', now(), now())""",
                      (jobid, cron.COMMAND))
    out = clean(trending("doctor", "--dsn", dsn))
    assert "ok    last job runs (pg_cron, in database postgres): succeeded at " in out
    assert "ok    last cycles (trending.runs, any trigger): run 1 recompute ok at " in out
    status = clean(trending("status", "--dsn", dsn))
    assert f"pg_cron job {jobid} in database postgres" in status and "last job run: succeeded at " in status


@pytest.mark.parametrize("command", [["recompute"], ["movers"], ["preview"], ["explain", "track", "1"],
                                     ["pause"]])
def test_a_command_the_old_version_cannot_serve_says_so_and_how_to_update(old, command):
    """Commands that call what only a later version has (recompute's full
    argument, movers, preview, explain: 1.1; pause: 1.2) stop before calling
    it, naming the installed version and `trending install`, never with
    "function ... does not exist"."""
    version, dsn = old
    needs = "1.2" if command == ["pause"] else "1.1"
    result = trending(*command, "--dsn", dsn)
    if version_key(version) >= version_key(needs):
        assert "is installed" not in result.stderr
        return
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"trending {version} is installed in database" in result.stderr
    assert f"this command needs {needs} or later" in result.stderr
    assert "`trending install` updates it" in result.stderr
    assert "does not exist" not in result.stderr
