"""On a hot standby the scheduled procedure returns quietly (one pg_cron
schedule can then live on every node and survive a failover), while
recompute() says why it cannot run."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from trending_cli.cluster import PORT, SERVER_USER, pg_bindir


def as_server(argv: list[str]) -> None:
    if os.geteuid() == 0:
        argv = ["runuser", "-u", SERVER_USER, "--", *argv]
    subprocess.run(argv, check=True, capture_output=True, text=True, cwd="/")


@pytest.fixture(scope="module")
def standby(cluster, dsn):
    """A streaming standby of the test cluster, on its own socket directory."""
    home = Path(tempfile.mkdtemp(prefix="trending-standby-"))
    home.chmod(0o755)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    data = home / "data"
    as_server([str(pg_bindir() / "pg_basebackup"), "-D", str(data), "-R", "-X", "stream",
               "-c", "fast", "-h", str(cluster.socket_dir), "-p", str(PORT), "-U", SERVER_USER])
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(f"\nunix_socket_directories = '{home}'\nhot_standby = on\n")
    as_server([str(pg_bindir() / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w", "start"])
    try:
        yield f"host={home} port={PORT} user={SERVER_USER} dbname=trending_test"
    finally:
        as_server([str(pg_bindir() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(home, ignore_errors=True)


def test_the_scheduled_procedure_returns_quietly_on_a_standby(standby):
    with psycopg.connect(standby, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        conn.execute("CALL trending.scheduled_recompute()")  # no error: nothing to do here


def test_recompute_on_a_standby_says_to_run_it_on_the_primary(standby):
    with psycopg.connect(standby, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as raised:
            conn.execute("SELECT trending.recompute()")
    assert raised.value.diag.message_primary == "trending: cannot run a cycle on a hot standby"
    assert raised.value.diag.message_detail is None, "no empty DETAIL line"
    assert "primary" in raised.value.diag.message_hint
