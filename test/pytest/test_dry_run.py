"""`trending install --dry-run` (issue 19, item 3): it lists every step the
real run then takes, and the real run changes exactly what it listed: the
catalog (roles, ACLs of the service's schema and tables and of trending's,
triggers, cron.job, extension versions, trending.settings) is snapshotted
before and after, and every difference must be a step of the dry run, every
step a difference (support/catalog.py). The dry run itself changes nothing,
and no writer waits for it: it runs while writers hold their locks on every
source table, trending's settings and cron.job.

In order, on one cluster with pg_cron preloaded but not created, as on a
fresh server: a fresh install with --capture; the same install again
(nothing to change); an install whose pieces a DBA changed (only the
differences); the update of a 1.1 extension.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from support.catalog import check, snapshot, steps, writers_holding_their_locks
from trending_cli.cluster import Cluster
from trending_cli.db import SOURCE_TABLES
from trending_cli.sample_data import generate

CLI_DIR = Path(__file__).resolve().parents[2] / "cli"
DATABASES = ["app", "old"]


def trending(*args: str, options: str = "") -> str:
    env = {"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    if options:
        env["PGOPTIONS"] = options
    result = subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def server():
    with Cluster(name="trending-dry-run", pg_cron=True) as cluster:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
            for db in DATABASES:
                admin.execute(f"CREATE DATABASE {db}")
        for seed, db in enumerate(DATABASES):
            with psycopg.connect(cluster.conninfo(db), autocommit=True) as conn:
                generate(conn, "music", scale="tiny", seed=seed, as_of=datetime.now(timezone.utc))
        yield cluster


def take(server) -> set[tuple]:
    return snapshot(server.conninfo, DATABASES)


def dry_and_real(server, db: str, *args: str) -> tuple[str, str]:
    """The dry run (which must change nothing while writers hold their
    locks), then the real run; checks the difference against the dry run."""
    dsn = server.conninfo(db)
    before = take(server)
    with writers_holding_their_locks(server.conninfo(db), server.conninfo(), SOURCE_TABLES):
        dry = trending("install", "--dsn", dsn, *args, "--dry-run", options="-c lock_timeout=2s")
    assert take(server) == before, "the dry run changed nothing"
    real = trending("install", "--dsn", dsn, *args)
    check(dry, before, take(server), db)
    return dry, real


def test_a_fresh_install_changes_exactly_what_its_dry_run_lists(server):
    dry, real = dry_and_real(server, "app", "--source-schema", "music", "--capture", "--schedule", "0 * * * *")
    listed = steps(dry)
    assert [step.split(":")[0] for step in listed] == [
        "would extension", "would source schema", "would capture", "would pg_cron", "would job role",
        "would job role", "would schedule"], dry
    assert "CREATE EXTENSION trending CASCADE;" in listed[0] and "role trending_capture" in listed[0]
    assert "CREATE EXTENSION pg_cron;" in listed[3] and "-- in database postgres" in listed[3]
    assert "SELECT cron.schedule_in_database('trending-recompute', '0 * * * *', " \
           "'CALL trending.scheduled_recompute()', 'app', 'trending_job', true);" in listed[6]
    assert dry.endswith("trending install --dry-run: 7 steps would change something\n")
    assert real.endswith("trending install: done\n")


def test_the_same_install_again_lists_nothing_and_changes_nothing(server):
    dry, real = dry_and_real(server, "app", "--source-schema", "music", "--capture")
    assert steps(dry) == [] and dry.endswith("trending install --dry-run: nothing would change\n"), dry
    assert "  capture: installed on schema music (unchanged: every trigger intact;" in dry
    assert real.endswith("trending install: nothing to change\n")


def test_an_install_a_dba_changed_lists_only_the_differences(server):
    with psycopg.connect(server.conninfo("app"), autocommit=True) as conn:
        conn.execute("DROP TRIGGER trending_capture_insert ON music.plays")
        conn.execute("REVOKE SELECT ON music.saves FROM trending_job")
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT cron.alter_job(jobid, schedule => '5 * * * *') FROM cron.job")
    dry, _ = dry_and_real(server, "app", "--capture", "--schedule", "0 * * * *")
    listed = steps(dry)
    assert [step.split(":")[0] for step in listed] == ["would capture", "would job role", "would schedule"], dry
    assert "on plays in schema music" in listed[0]
    assert "it lacks SELECT on music.saves" in listed[1]
    assert "schedule '5 * * * *' -> '0 * * * *'" in listed[2]


def test_an_update_from_1_1_lists_the_update(server):
    with psycopg.connect(server.conninfo("old"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION trending VERSION '1.1' CASCADE")
    dry, real = dry_and_real(server, "old", "--no-schedule", "--source-schema", "music")
    assert [step.split(":")[0] for step in steps(dry)] == ["would extension", "would source schema"], dry
    assert "update trending 1.1 -> 1.2 in database old" in dry and "ALTER EXTENSION trending UPDATE;" in dry
    assert "extension: updated trending 1.1 -> 1.2 in database old" in real
