"""Installing, reinstalling, dumping and restoring the extension, and running
cycles as a non-superuser: the lifecycle a DBA goes through."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from psycopg import sql

from support.harness import playlist_scores, recompute, track_scores, use_source_schema
from support.random_datasets import load_dataset, random_dataset, run_cycle


def test_create_extension_needs_no_source_tables(make_db):
    dsn = make_db("install_bare", extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION trending CASCADE")
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.UndefinedTable) as failure:
            conn.execute("SELECT trending.recompute()")
    message = str(failure.value)
    assert message.startswith('trending: source schema "public" cannot feed a cycle')
    for table in ("tracks", "plays", "saves", "reposts", "users", "playlists", "aggregate_user"):
        assert f"table public.{table} does not exist" in message


def test_drop_and_create_again_leaves_a_working_install(conn):
    dataset = random_dataset(1001)
    conn.execute("DROP EXTENSION trending")
    conn.execute("CREATE EXTENSION trending")
    result = run_cycle(conn, "reinstall", dataset)
    result.assert_matches_oracle()
    assert result.got_tracks or result.got_playlists, "the dataset should produce scores"


def test_dump_and_restore_keep_switches_and_settings(cluster, make_db, tmp_path):
    source_dsn = make_db("dump_source")
    dataset = random_dataset(1002)
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        load_dataset(conn, "music", dataset)
        use_source_schema(conn, "music")
        conn.execute("UPDATE trending.strategies SET enabled = true WHERE type = 'TRACKS' AND version = 'AnlGe'")
        conn.execute("UPDATE trending.strategies SET enabled = false WHERE type = 'PLAYLISTS'")
        conn.execute("UPDATE trending.settings SET value = '64MB' WHERE name = 'work_mem'")
        recompute(conn, dataset.now)
        before = (track_scores(conn), playlist_scores(conn))
        config_before = conn.execute("SELECT * FROM trending.strategies ORDER BY 1, 2").fetchall(), \
            conn.execute("SELECT name, value FROM trending.settings ORDER BY 1").fetchall()

    dump = tmp_path / "music.dump"
    env = cluster.env("dump_source")
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "dump_source"], env=env, check=True)
    target_dsn = make_db("dump_target", extensions=())
    restore = subprocess.run(["pg_restore", "--exit-on-error", "-d", "dump_target", str(dump)],
                             env=env, capture_output=True, text=True)
    assert restore.returncode == 0, restore.stderr

    with psycopg.connect(target_dsn, autocommit=True) as conn:
        config_after = conn.execute("SELECT * FROM trending.strategies ORDER BY 1, 2").fetchall(), \
            conn.execute("SELECT name, value FROM trending.settings ORDER BY 1").fetchall()
        assert config_after == config_before, "strategy switches and settings survive pg_dump/pg_restore"
        assert track_scores(conn) == {} and playlist_scores(conn) == {}, \
            "scores are derived data: pg_dump does not carry them"
        summary = recompute(conn, dataset.now)
        assert summary["status"] == "ok"
        assert (track_scores(conn), playlist_scores(conn)) == before, \
            "the first cycle after a restore rebuilds the same scores"


def test_a_granted_role_runs_cycles_and_others_cannot(make_db):
    dsn = make_db("install_roles")
    dataset = random_dataset(1003)
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_dataset(conn, "music", dataset)
        use_source_schema(conn, "music")
        for role in ("trending_job", "someone"):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        # what the README says: one call gives a role what running cycles needs
        conn.execute("SELECT trending.grant_cycle('trending_job')")
        conn.execute("SELECT trending.grant_cycle('trending_job')")  # idempotent

        conn.execute("SET ROLE someone")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT trending.recompute(%s)", (dataset.now,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CALL trending.scheduled_recompute(%s)", (dataset.now,))
        assert conn.execute("SELECT count(*) FROM trending.top_tracks()").fetchone()[0] == 0, \
            "anyone may read the (still empty) lists"
        conn.execute("RESET ROLE")

        conn.execute("SET ROLE trending_job")
        summary = recompute(conn, dataset.now)
        conn.execute("CALL trending.scheduled_recompute(%s)", (dataset.now,))
        conn.execute("RESET ROLE")
        assert summary["status"] == "ok"
        assert summary["rows"]["inserted"] > 0
        assert conn.execute("SELECT trigger, status, run_by FROM trending.runs ORDER BY run_id").fetchall() == \
            [("recompute", "ok", "trending_job"), ("scheduled", "ok", "trending_job")]


def test_result_does_not_depend_on_the_session_datestyle(conn):
    dataset = random_dataset(1004)
    conn.execute("SET DateStyle = 'SQL, DMY'")
    try:
        result = run_cycle(conn, "datestyle", dataset)
    finally:
        conn.execute("RESET DateStyle")
    result.assert_matches_oracle()
    assert result.summary["now"] == dataset.now_utc.isoformat(sep=" "), \
        "the summary reports now in UTC, ISO format, whatever the session's DateStyle"
