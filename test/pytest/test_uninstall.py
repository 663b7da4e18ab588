"""`trending uninstall` removes what `trending install` created, and nothing
else (issue 19, item 2), and its --dry-run lists exactly that (item 3): the
catalog is snapshotted before and after each real run and the difference
checked against the dry run (support/catalog.py), which itself changes
nothing and waits for no writer.

In order, on one cluster with pg_cron preloaded but not created: install
into database a (with the change capture and a schedule: install creates
pg_cron, the job role and the job) and into database b, where the DBA
grants the job role what a cycle needs and schedules a job of their own as
it. Uninstalling a keeps the job role (b uses it), trending_capture (b has
trending) and pg_cron (another job), each named with the SQL that removes
it; uninstalling b drops trending_capture, the last database's; once the
DBA's job is gone, an uninstall drops the job role and pg_cron. Last, a
role and a pg_cron that install did not create are left alone.
"""

from __future__ import annotations

import re
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
DATABASES = ["a", "b", "c"]
ROLE = "trending_job"


def trending(*args: str, options: str = "") -> str:
    env = {"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    if options:
        env["PGOPTIONS"] = options
    result = subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def one(dsn: str, query: str, params=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


@pytest.fixture(scope="module")
def server():
    with Cluster(name="trending-uninstall", pg_cron=True) as cluster:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
            for db in DATABASES:
                admin.execute(f"CREATE DATABASE {db}")
        for seed, db in enumerate(DATABASES):
            with psycopg.connect(cluster.conninfo(db), autocommit=True) as conn:
                generate(conn, "music", scale="tiny", seed=seed, as_of=datetime.now(timezone.utc))
        trending("install", "--dsn", cluster.conninfo("a"), "--source-schema", "music", "--capture")
        trending("install", "--dsn", cluster.conninfo("b"), "--source-schema", "music", "--no-schedule")
        with psycopg.connect(cluster.conninfo("b"), autocommit=True) as conn:
            conn.execute("SELECT trending.grant_cycle(%s)", (ROLE,))
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("SELECT cron.schedule_in_database('nightly', '0 3 * * *', "
                         "'CALL trending.scheduled_recompute()', 'b', %s)", (ROLE,))
        yield cluster


def nightly(server) -> int:
    return one(server.conninfo(), "SELECT jobid FROM cron.job WHERE jobname = 'nightly'")[0]


def uninstall(server, db: str) -> tuple[str, str]:
    """The dry run (changing nothing, waiting for no writer), then the real
    run; the difference of the catalog against the dry run's steps."""
    dsn = server.conninfo(db)
    before = snapshot(server.conninfo, DATABASES)
    with writers_holding_their_locks(dsn, server.conninfo(), SOURCE_TABLES):
        dry = trending("uninstall", "--dsn", dsn, "--dry-run", options="-c lock_timeout=2s")
    assert snapshot(server.conninfo, DATABASES) == before, "the dry run changed nothing"
    real = trending("uninstall", "--dsn", dsn)
    check(dry, before, snapshot(server.conninfo, DATABASES), db)
    return dry, real


def test_uninstall_keeps_what_another_database_or_job_uses_and_names_how_to_remove_it(server):
    job = nightly(server)
    dry, out = uninstall(server, "a")
    assert [s.split(":")[0] for s in steps(dry)] == [
        "would schedule", "would capture", "would job role", "would extension", "would schema"], dry
    assert "REVOKE SELECT ON music.tracks, music.plays, " in dry and 'FROM "trending_job";' in dry
    kept = next(line for line in out.splitlines() if line.startswith("job role: kept"))
    assert re.search(r"still used: \d+ objects in database b; pg_cron job \d+ runs as it \(in database b\);", kept)
    assert kept.endswith(f"or remove it now: in database b: REASSIGN OWNED BY {ROLE} TO CURRENT_USER; DROP OWNED "
                         f"BY {ROLE}; in database postgres: SELECT cron.unschedule({job}); DROP ROLE {ROLE};"), kept
    assert re.search(r"^capture role: kept trending_capture \(cluster-wide\), which trending still needs elsewhere: "
                     r"\d+ objects in database b; .*DROP ROLE trending_capture;$", out, re.M), out
    assert re.search(r"^pg_cron: kept in database postgres: trending install created it, and 1 other job uses it "
                     rf"\({job}\); .*DROP EXTENSION pg_cron;", out, re.M), out
    a = server.conninfo("a")
    assert one(a, "SELECT to_regnamespace('trending')") == (None,), "the empty schema trending went too"
    assert one(a, "SELECT count(*) FROM pg_shdepend WHERE refobjid = %s::regrole "
                  "AND dbid = (SELECT oid FROM pg_database WHERE datname = 'a')", (ROLE,)) == (0,), \
        "nothing in a grants the job role anything any more"


def test_the_last_database_with_trending_takes_trending_capture_with_it(server):
    dry, out = uninstall(server, "b")
    assert "capture role: dropped trending_capture (no database of the cluster has trending any more)" in out
    assert re.search(rf"^job role: kept {ROLE} .*still used: pg_cron job \d+ runs as it \(in database b\);", out,
                     re.M), out
    assert one(server.conninfo(), "SELECT count(*) FROM pg_roles WHERE rolname = 'trending_capture'") == (0,)


def test_once_no_job_is_left_uninstall_drops_the_job_role_and_pg_cron(server):
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT cron.unschedule(%s)", (nightly(server),))
    dry, out = uninstall(server, "b")
    assert [s.split(":")[0] for s in steps(dry)] == ["would job role", "would pg_cron"], dry
    assert f"job role: dropped {ROLE} (trending install created it; no database of the cluster uses it any more)" \
        in out
    assert "pg_cron: dropped the extension from database postgres" in out
    assert one(server.conninfo(), "SELECT count(*) FROM pg_roles WHERE rolname = %s", (ROLE,)) == (0,)
    assert one(server.conninfo(), "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") == (0,)
    assert trending("uninstall", "--dsn", server.conninfo("b")) == \
        "trending uninstall: trending is not installed in database b: nothing to do\n"


def test_a_role_and_a_pg_cron_install_did_not_create_stay(server):
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_cron")
        conn.execute("CREATE ROLE app_cron LOGIN")
    c = server.conninfo("c")
    trending("install", "--dsn", c, "--source-schema", "music", "--job-role", "app_cron")
    dry, out = uninstall(server, "c")
    assert "DROP ROLE \"app_cron\"" not in dry and "DROP EXTENSION pg_cron" not in dry, dry
    assert "job role: kept app_cron: trending install did not create it; if install's grant_cycle gave it its " \
           "privileges on the sources, revoke them: REVOKE USAGE ON SCHEMA music FROM \"app_cron\";" in out
    assert "pg_cron: kept in database postgres (trending install did not create it)" in out
    assert one(server.conninfo(), "SELECT count(*) FROM pg_roles WHERE rolname = 'app_cron'") == (1,)
    assert one(server.conninfo(), "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") == (1,)
