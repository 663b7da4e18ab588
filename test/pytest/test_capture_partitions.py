"""Partitioned source tables (issue 16, item 4; docs/incremental.md
"Partitions and pg_partman"): plays partitioned by month of created_at,
with a default partition and a sub-partitioned month. The capture puts its
statement triggers on the parent and on every partition (a statement
trigger fires only for the table a statement names, so nothing is counted
twice); the event trigger trending_capture_follow_ddl covers partitions
created or attached later. Every cycle is compared with the independent
oracle; steady cycles (no DDL since the last) are incremental; a partition
attached with rows, detached with rows, dropped or truncated makes the next
cycle full, naming plays; an empty premade partition keeps cycles
incremental. Then pg_partman 4.x (Debian's postgresql-15-partman) manages
the same table: create_parent, run_maintenance creating partitions,
retention dropping old ones."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset, run_cycle

SOURCE = "music"
DATASET = random_dataset(9101)
INCREMENTAL = "incremental: the capture and the state are intact"
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"

PLAYS = ("CREATE TABLE music.plays (id integer NOT NULL DEFAULT nextval('music.plays_id_seq'), user_id integer, "
         "source varchar, play_item_id integer NOT NULL, created_at timestamp NOT NULL, updated_at timestamp) "
         "PARTITION BY RANGE (created_at)")


def month(dataset, months: int) -> str:
    """The first instant of the month `months` from the dataset's now, as SQL text."""
    return f"(date_trunc('month', '{dataset.now_utc.isoformat()}'::timestamp) + interval '{months} months')"


def partition_plays(conn, dataset, *, by_hand: bool = True) -> None:
    """plays becomes a table partitioned by month of created_at holding the same
    rows: by hand, months -2..+1 of now (the current month sub-partitioned by
    play_item_id), older rows in plays_old, the rest in plays_default."""
    with conn.transaction():
        conn.execute("ALTER SEQUENCE music.plays_id_seq OWNED BY NONE")
        conn.execute("ALTER TABLE music.plays RENAME TO plays_flat")
        conn.execute(PLAYS)
        if by_hand:
            conn.execute(f"CREATE TABLE music.plays_old PARTITION OF music.plays "
                         f"FOR VALUES FROM (MINVALUE) TO ({month(dataset, -2)})")
            for m in (-2, -1, 1):
                conn.execute(f"CREATE TABLE music.plays_m{m + 2} PARTITION OF music.plays "
                             f"FOR VALUES FROM ({month(dataset, m)}) TO ({month(dataset, m + 1)})")
            conn.execute(f"CREATE TABLE music.plays_now PARTITION OF music.plays "
                         f"FOR VALUES FROM ({month(dataset, 0)}) TO ({month(dataset, 1)}) "
                         "PARTITION BY HASH (play_item_id)")
            for r in range(2):
                conn.execute(f"CREATE TABLE music.plays_now_{r} PARTITION OF music.plays_now "
                             f"FOR VALUES WITH (MODULUS 2, REMAINDER {r})")
            conn.execute("CREATE TABLE music.plays_default PARTITION OF music.plays DEFAULT")
            conn.execute("INSERT INTO music.plays SELECT * FROM music.plays_flat")
            conn.execute("DROP TABLE music.plays_flat")


def load(conn, dataset) -> None:
    load_dataset(conn, SOURCE, dataset)
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                 f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("capture_partitions")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        # the dataset's now is years back: its scores are never fresh by the clock, which doctor's
        # health check would report; these tests are about the capture
        conn.execute("UPDATE trending.settings SET value = '100 years' WHERE name = 'stale_after'")
    return dsn


@pytest.fixture
def conn(dsn):
    """plays partitioned by hand, the capture installed and armed by a full cycle."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET client_min_messages = warning")
        connection.execute("SELECT trending.uninstall_capture()")
        load(connection, DATASET)
        partition_plays(connection, DATASET)
        connection.execute("TRUNCATE trending.runs")
        installed = connection.execute("SELECT trending.install_capture()").fetchone()[0]
        assert installed["partitions"] == {f"music.{p}": "installed" for p in (
            "plays_default", "plays_m0", "plays_m1", "plays_m3", "plays_now", "plays_old", "plays_now_0",
            "plays_now_1")}
        assert cycle(connection)[1] == "full"
        yield connection


def last_run(conn) -> tuple:
    return conn.execute("SELECT status, cycle_kind, cycle_reason FROM trending.runs "
                        "WHERE status <> 'skipped' ORDER BY run_id DESC LIMIT 1").fetchone()


def cycle(conn, dataset=DATASET) -> tuple:
    """A cycle that must equal the oracle on what the sources hold now; (status, kind, reason)."""
    run_cycle(conn, SOURCE, dataset, load=False, keep_schema=True).assert_matches_oracle()
    return last_run(conn)


def incremental(conn, dataset=DATASET) -> None:
    assert cycle(conn, dataset) == ("ok", "incremental", INCREMENTAL)


def full(conn, named: str, dataset=DATASET) -> None:
    status, kind, reason = cycle(conn, dataset)
    assert (status, kind) == ("ok", "full") and named in reason, reason


def at(dataset, minutes: int) -> str:
    return f"('{dataset.now_utc.isoformat()}'::timestamp - interval '{minutes} minutes')"


def test_writes_through_the_parent_and_straight_into_partitions_are_captured(conn):
    # through the parent: rows land in plays_now_0/1, plays_m1 and the default partition
    conn.execute(f"INSERT INTO music.plays (play_item_id, created_at) SELECT t.track_id, {at(DATASET, 30)} "
                 "FROM music.tracks t ORDER BY t.track_id LIMIT 5")
    conn.execute(f"INSERT INTO music.plays (play_item_id, created_at) SELECT t.track_id, {at(DATASET, 60 * 24 * 40)} "
                 "FROM music.tracks t ORDER BY t.track_id DESC LIMIT 3")
    incremental(conn)
    # straight into a leaf, into a sub-partitioned partition, into the default
    conn.execute(f"INSERT INTO music.plays_now_1 (play_item_id, created_at) SELECT t.track_id, {at(DATASET, 90)} "
                 "FROM music.tracks t WHERE satisfies_hash_partition('music.plays_now'::regclass, 2, 1, t.track_id)")
    conn.execute(f"INSERT INTO music.plays_now (play_item_id, created_at) SELECT t.track_id, {at(DATASET, 100)} "
                 "FROM music.tracks t ORDER BY t.track_id LIMIT 4")
    conn.execute(f"INSERT INTO music.plays_default (play_item_id, created_at) SELECT t.track_id, "
                 f"{at(DATASET, -60 * 24 * 90)} FROM music.tracks t LIMIT 2")
    incremental(conn)
    # rows moved between partitions by an UPDATE of the partition key, through the parent and within plays_now
    moved = conn.execute(f"UPDATE music.plays SET created_at = created_at - interval '35 days' "
                         f"WHERE created_at >= {month(DATASET, 0)} AND id % 3 = 0").rowcount
    assert moved > 0
    conn.execute("UPDATE music.plays_now SET play_item_id = play_item_id + 1 WHERE id % 4 = 0")
    incremental(conn)
    # deletes through the parent and in a partition; an update naming a leaf
    conn.execute("DELETE FROM music.plays WHERE id % 7 = 0")
    conn.execute("DELETE FROM music.plays_m1 WHERE id % 5 = 0")
    conn.execute(f"UPDATE music.plays_now_0 SET created_at = created_at - interval '1 hour' "
                 f"WHERE created_at >= {month(DATASET, 0)} + interval '1 hour'")
    incremental(conn)


def test_statement_triggers_with_transition_tables_do_not_stop_an_attach(conn):
    # the capture's triggers (statement-level, transition tables) on a table being attached
    conn.execute(f"CREATE TABLE music.plays_m4 (LIKE music.plays)")
    conn.execute("SELECT trending._capture_cover('music.plays_m4'::regclass, 'plays')")
    conn.execute(f"ALTER TABLE music.plays ATTACH PARTITION music.plays_m4 "
                 f"FOR VALUES FROM ({month(DATASET, 2)}) TO ({month(DATASET, 3)})")
    assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []


def test_truncate_of_a_partition_runs_the_next_cycle_full(conn):
    conn.execute("TRUNCATE music.plays_m1")
    full(conn, "music.plays")  # rewritten (a new filenode) and truncated: both name it
    incremental(conn)


def test_an_empty_partition_created_or_attached_keeps_cycles_incremental(conn):
    conn.execute(f"CREATE TABLE music.plays_m4 PARTITION OF music.plays "
                 f"FOR VALUES FROM ({month(DATASET, 2)}) TO ({month(DATASET, 3)})")
    conn.execute(f"CREATE TABLE music.plays_m5 (LIKE music.plays INCLUDING DEFAULTS)")  # pg_partman's way
    conn.execute(f"ALTER TABLE music.plays ATTACH PARTITION music.plays_m5 "
                 f"FOR VALUES FROM ({month(DATASET, 3)}) TO ({month(DATASET, 4)})")
    assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []
    incremental(conn)
    # their writes are captured (future plays: the oracle counts what the cycle counts)
    conn.execute(f"INSERT INTO music.plays_m5 (play_item_id, created_at) SELECT t.track_id, "
                 f"{month(DATASET, 3)} + interval '1 day' FROM music.tracks t LIMIT 3")
    conn.execute(f"INSERT INTO music.plays (play_item_id, created_at) SELECT t.track_id, "
                 f"{month(DATASET, 2)} + interval '1 day' FROM music.tracks t LIMIT 3")
    incremental(conn)
    # detached while empty: still incremental
    conn.execute("DELETE FROM music.plays_m5")
    conn.execute("VACUUM music.plays_m5")  # its pages gone: provably empty again
    incremental(conn)
    conn.execute("ALTER TABLE music.plays DETACH PARTITION music.plays_m5")
    assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'music.plays_m5'::regclass").fetchone()[0] == 0
    incremental(conn)


# (DDL, what the next cycle's reason must name)
PARTITION_CHANGES = {
    "a partition attached with rows": [
        "CREATE TABLE music.plays_m4 (LIKE music.plays INCLUDING DEFAULTS)",
        f"INSERT INTO music.plays_m4 (play_item_id, created_at) SELECT t.track_id, "
        f"{month(DATASET, 2)} + interval '2 hours' FROM music.tracks t",
        f"ALTER TABLE music.plays ATTACH PARTITION music.plays_m4 "
        f"FOR VALUES FROM ({month(DATASET, 2)}) TO ({month(DATASET, 3)})"],
    "a partition with rows detached": ["ALTER TABLE music.plays DETACH PARTITION music.plays_m1"],
    "a partition dropped": ["DROP TABLE music.plays_m1"],
    "an empty partition dropped": ["DROP TABLE music.plays_m3"],  # empty is not provable after a DROP
    "a sub-partition detached": ["ALTER TABLE music.plays_now DETACH PARTITION music.plays_now_1"],
    "a partition created and filled in one transaction": [
        f"CREATE TABLE music.plays_m4 PARTITION OF music.plays "
        f"FOR VALUES FROM ({month(DATASET, 2)}) TO ({month(DATASET, 3)})",
        "ALTER TABLE music.plays_m4 SET (fillfactor = 90)",
        f"INSERT INTO music.plays_m4 (play_item_id, created_at) SELECT t.track_id, "
        f"{month(DATASET, 2)} FROM music.tracks t"],
}


@pytest.mark.parametrize("case", list(PARTITION_CHANGES))
def test_partition_ddl_is_captured_or_runs_the_next_cycle_full(conn, case):
    with conn.transaction():
        for statement in PARTITION_CHANGES[case]:
            conn.execute(statement)
    assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []
    kind = cycle(conn)
    if case == "a partition created and filled in one transaction":
        # created empty and covered at once: its rows reached the capture
        assert kind == ("ok", "incremental", INCREMENTAL)
    else:
        assert kind[:2] == ("ok", "full") and "music.plays" in kind[2], kind
    incremental(conn)


def test_a_partition_created_by_the_tables_owner_is_covered(conn, dsn):
    """The event trigger runs as the extension's owner: a partition that the
    source tables' owner (no superuser, no grant on trending) creates or
    attaches gets the capture triggers, which that role could not create."""
    conn.execute("DROP ROLE IF EXISTS plays_owner")
    conn.execute("CREATE ROLE plays_owner")
    conn.execute("GRANT CREATE, USAGE ON SCHEMA music TO plays_owner")
    conn.execute("ALTER TABLE music.plays OWNER TO plays_owner")
    conn.execute("ALTER SEQUENCE music.plays_id_seq OWNER TO plays_owner")
    conn.execute("SELECT trending.install_capture()")  # (1.1's invoker triggers: the new owner's grant)
    with psycopg.connect(dsn, autocommit=True) as owner:
        owner.execute("SET ROLE plays_owner")
        owner.execute(f"CREATE TABLE music.plays_m4 PARTITION OF music.plays "
                      f"FOR VALUES FROM ({month(DATASET, 2)}) TO ({month(DATASET, 3)})")
        owner.execute(f"INSERT INTO music.plays (play_item_id, created_at) SELECT 1, {month(DATASET, 2)} "
                      f"FROM generate_series(1, 3)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute("SELECT trending._capture_cover('music.plays_m4'::regclass, 'plays')")
    assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'music.plays_m4'::regclass "
                        "AND tgname LIKE 'trending_capture_%' AND tgenabled = 'A'").fetchone()[0] == 4
    incremental(conn)
    conn.execute("ALTER TABLE music.plays OWNER TO postgres")
    conn.execute("ALTER SEQUENCE music.plays_id_seq OWNER TO postgres")
    conn.execute("DROP TABLE music.plays_m4")
    conn.execute("DROP OWNED BY plays_owner")  # the grants, if install_capture gave any
    conn.execute("DROP ROLE plays_owner")


def trending(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def test_a_partition_without_the_capture_triggers_fails_doctor_with_the_fix(conn, dsn):
    assert "ok    capture: installed" in trending("doctor", "--dsn", dsn).stdout
    conn.execute("DROP TRIGGER trending_capture_insert ON music.plays_m3")
    conn.execute("DROP TRIGGER trending_capture_update ON music.plays_m3")
    conn.execute("DROP TRIGGER trending_capture_delete ON music.plays_m3")
    conn.execute("DROP TRIGGER trending_capture_truncate ON music.plays_m3")
    (not_covered,) = conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()
    assert not_covered == ["music.plays_m3 has no capture triggers: run SELECT trending.install_capture()"]
    result = trending("doctor", "--dsn", dsn)
    assert result.returncode == 1, result.stdout
    assert "FAIL  capture: not covered: music.plays_m3 has no capture triggers" in result.stdout
    assert "fix: a superuser runs SELECT trending.install_capture();" in result.stdout
    # not armed on it; the fix, then full once, then incremental
    cycle(conn)
    conn.execute("SELECT trending.install_capture()")
    again = trending("doctor", "--dsn", dsn)
    assert again.returncode == 0, again.stdout
    full(conn, "")
    incremental(conn)


def test_uninstall_takes_the_triggers_off_every_partition(conn):
    removed = conn.execute("SELECT trending.uninstall_capture()").fetchone()[0]["removed"]
    assert len(removed) == 4 * (10 + 8)  # ten source tables, eight partitions of plays
    assert conn.execute("SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
                        "WHERE c.relnamespace = 'music'::regnamespace").fetchone()[0] == 0
    # and the event trigger leaves partitions alone without the capture
    conn.execute(f"CREATE TABLE music.plays_m4 PARTITION OF music.plays "
                 f"FOR VALUES FROM ({month(DATASET, 2)}) TO ({month(DATASET, 3)})")
    assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'music.plays_m4'::regclass").fetchone()[0] == 0


def test_install_still_refuses_inheritance_children(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT trending.uninstall_capture()")
        load(conn, DATASET)
        conn.execute("CREATE TABLE music.plays_child () INHERITS (music.plays)")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="inheritance children"):
            conn.execute("SELECT trending.install_capture()")


# ---------------------------------------------------------------------------
# pg_partman 4.x
# ---------------------------------------------------------------------------
def test_plays_managed_by_pg_partman_every_cycle_equals_the_oracle(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT trending.uninstall_capture()")
        conn.execute("CREATE SCHEMA IF NOT EXISTS partman")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman")
        conn.execute("DELETE FROM partman.part_config")
        # pg_partman premakes and drops relative to the clock: move the dataset to it
        (clock,) = conn.execute("SELECT date_trunc('hour', now() AT TIME ZONE 'UTC')").fetchone()
        shift = clock - DATASET.now_utc
        dataset = dataclasses.replace(DATASET, now=DATASET.now + shift)
        load(conn, DATASET)
        shift_sql = f"interval '{int(shift.total_seconds())} seconds'"
        for table, columns in (("tracks", ("created_at", "release_date")), ("plays", ("created_at",)),
                               ("saves", ("created_at",)), ("reposts", ("created_at",)),
                               ("playlists", ("created_at", "release_date"))):
            conn.execute(f"UPDATE music.{table} SET " + ", ".join(f"{c} = {c} + {shift_sql}" for c in columns))
        partition_plays(conn, dataset, by_hand=False)
        conn.execute("SELECT partman.create_parent(p_parent_table => 'music.plays', p_control => 'created_at', "
                     "p_type => 'native', p_interval => 'monthly', p_premake => 2, "
                     "p_start_partition => %s)", ((clock - timedelta(days=150)).strftime("%Y-%m-%d"),))
        conn.execute("INSERT INTO music.plays SELECT * FROM music.plays_flat")
        conn.execute("DROP TABLE music.plays_flat")
        parts = partitions(conn)
        assert "music.plays_default" in parts and len(parts) >= 8, parts
        conn.execute("TRUNCATE trending.runs")
        conn.execute("SELECT trending.install_capture()")
        assert cycle(conn, dataset)[1] == "full"

        def writes(minutes: int) -> None:
            conn.execute(f"INSERT INTO music.plays (play_item_id, created_at) SELECT t.track_id, "
                         f"{at(dataset, minutes)} FROM music.tracks t ORDER BY t.track_id LIMIT 4")
            conn.execute("UPDATE music.aggregate_user SET follower_count = COALESCE(follower_count, 0) + 3 "
                         "WHERE user_id = (SELECT min(user_id) FROM music.aggregate_user)")

        writes(20)
        incremental(conn, dataset)
        # maintenance premakes further ahead: new, empty partitions, covered, cycles stay incremental
        conn.execute("UPDATE partman.part_config SET premake = 4 WHERE parent_table = 'music.plays'")
        conn.execute("SELECT partman.run_maintenance()")
        more = partitions(conn)
        assert len(more) > len(parts), (parts, more)
        assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []
        writes(40)
        incremental(conn, dataset)
        conn.execute(f"INSERT INTO music.plays (play_item_id, created_at) SELECT t.track_id, "
                     f"{month(dataset, 3)} + interval '1 day' FROM music.tracks t LIMIT 2")  # into a new partition
        incremental(conn, dataset)
        # retention drops the old partitions with their plays: the next cycle is full, naming plays
        conn.execute("UPDATE partman.part_config SET retention = '3 months', retention_keep_table = false "
                     "WHERE parent_table = 'music.plays'")
        conn.execute("SELECT partman.run_maintenance()")
        fewer = partitions(conn)
        assert set(more) - set(fewer), (more, fewer)  # the oldest gone (maybe a new one premade too)
        full(conn, "music.plays: its partitions changed", dataset)
        writes(50)
        incremental(conn, dataset)
        writes(55)
        incremental(conn, dataset)
        conn.execute("SELECT trending.uninstall_capture()")
        conn.execute("DROP EXTENSION pg_partman")


def partitions(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_partition_tree('music.plays') t "
        "JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE t.level > 0 ORDER BY 1").fetchall()]
