"""DDL that changes what a cycle reads makes the next cycle run full, naming
the table (issue 16, item 3; docs/incremental.md "What makes a cycle run
full"): the catalog fingerprint a full cycle records covers each column a
cycle reads (number, type, enum labels), the relation and its partitions;
the event trigger trending_capture_follow_ddl keeps the capture triggers on
the tables they can read. Each case: the cycle after the DDL is full, equals
the oracle and names the table; the cycle after it is incremental again and
equals the oracle. DDL that changes nothing a cycle reads keeps cycles
incremental. A column a cycle needs gone fails the cycle (healthy false)."""

from __future__ import annotations

import psycopg
import pytest
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset, run_cycle

SOURCE = "music"
DATASET = random_dataset(9101)
INCREMENTAL = "incremental: the capture and the state are intact"


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("capture_ddl")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        # the dataset's now is years back: freshness by the clock would call every score stale, and
        # these tests read healthy for what the last run did
        conn.execute("UPDATE trending.settings SET value = '100 years' WHERE name = 'stale_after'")
    return dsn


def load(conn) -> None:
    load_dataset(conn, SOURCE, DATASET)
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                 f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")


@pytest.fixture
def conn(dsn):
    """Fresh source tables, the capture installed and armed by a full cycle."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET client_min_messages = warning")
        connection.execute("SELECT trending.uninstall_capture()")
        load(connection)
        connection.execute("TRUNCATE trending.runs")
        connection.execute("SELECT trending.install_capture()")
        cycle(connection)
        assert last_run(connection)[1] == "full"
        yield connection


def last_run(conn) -> tuple:
    return conn.execute("SELECT status, cycle_kind, cycle_reason FROM trending.runs "
                        "WHERE status <> 'skipped' ORDER BY run_id DESC LIMIT 1").fetchone()


def cycle(conn) -> tuple:
    """A cycle that must equal the oracle on what the sources hold now; (status, kind, reason)."""
    run_cycle(conn, SOURCE, DATASET, load=False, keep_schema=True).assert_matches_oracle()
    return last_run(conn)


def write(conn) -> None:
    """The indexer between cycles: plays, a follower count, a save, a play total."""
    conn.execute(f"INSERT INTO {SOURCE}.plays (play_item_id, created_at) "
                 f"SELECT t.track_id, (%s::timestamptz AT TIME ZONE 'UTC') - interval '90 minutes' "
                 f"FROM {SOURCE}.tracks t ORDER BY t.track_id LIMIT 3", (DATASET.now,))
    conn.execute(f"UPDATE {SOURCE}.aggregate_user SET follower_count = COALESCE(follower_count, 0) + 7 "
                 f"WHERE user_id = (SELECT min(user_id) FROM {SOURCE}.aggregate_user)")
    conn.execute(f"UPDATE {SOURCE}.aggregate_plays SET count = COALESCE(count, 0) + 11 "
                 f"WHERE play_item_id = (SELECT min(play_item_id) FROM {SOURCE}.aggregate_plays)")


def steady(conn) -> None:
    write(conn)
    assert cycle(conn) == ("ok", "incremental", INCREMENTAL)


# (DDL, what the next cycle's reason must name)
CHANGES = {
    "three renames swap two columns": (
        ["ALTER TABLE music.aggregate_user RENAME COLUMN follower_count TO swap",
         "ALTER TABLE music.aggregate_user RENAME COLUMN following_count TO follower_count",
         "ALTER TABLE music.aggregate_user RENAME COLUMN swap TO following_count"],
        "music.aggregate_user: column follower_count, following_count changed"),
    "a column dropped and added back with a default": (
        ["ALTER TABLE music.aggregate_plays DROP COLUMN count",
         "ALTER TABLE music.aggregate_plays ADD COLUMN count bigint DEFAULT 5"],
        "music.aggregate_plays: column count changed"),
    "a column retyped (built-in)": (
        ["ALTER TABLE music.aggregate_track ALTER COLUMN repost_count TYPE bigint",
         "UPDATE music.aggregate_track SET repost_count = repost_count * 1000 WHERE track_id % 2 = 0"],
        "music.aggregate_track: column repost_count changed"),
    "a column retyped without a rewrite": (
        # varchar -> text is binary coercible: no rewrite, no trigger; only the type OID says it
        ["ALTER TABLE music.users ALTER COLUMN bio TYPE varchar",
         "ALTER TABLE music.users ALTER COLUMN bio TYPE text"],
        "music.users: column bio changed"),
    "enum labels swapped by three renames": (
        ["ALTER TYPE music.savetype RENAME VALUE 'track' TO 'swap'",
         "ALTER TYPE music.savetype RENAME VALUE 'playlist' TO 'track'",
         "ALTER TYPE music.savetype RENAME VALUE 'swap' TO 'playlist'"],
        "music.saves: column save_type changed"),
    "an enum label added": (
        ["ALTER TYPE music.reposttype ADD VALUE 'single'"],
        "music.reposts: column repost_type changed"),
    "a table renamed in place of another": (
        ["CREATE TABLE music.plays_total (LIKE music.aggregate_plays INCLUDING ALL)",
         "INSERT INTO music.plays_total SELECT play_item_id, count + 3 FROM music.aggregate_plays",
         "ALTER TABLE music.aggregate_plays RENAME TO aggregate_plays_old",
         "ALTER TABLE music.plays_total RENAME TO aggregate_plays"],
        "music.aggregate_plays was replaced"),
    "tables moved between schemas": (
        ["CREATE SCHEMA IF NOT EXISTS staging", "CREATE SCHEMA IF NOT EXISTS attic",
         "DROP TABLE IF EXISTS staging.aggregate_user, attic.aggregate_user",
         "CREATE TABLE staging.aggregate_user (LIKE music.aggregate_user INCLUDING ALL)",
         "INSERT INTO staging.aggregate_user SELECT user_id, following_count, follower_count "
         "FROM music.aggregate_user",
         "ALTER TABLE music.aggregate_user SET SCHEMA attic",
         "ALTER TABLE staging.aggregate_user SET SCHEMA music"],
        "music.aggregate_user was replaced"),
    "a table dropped and created again": (
        ["CREATE TEMP TABLE kept AS SELECT * FROM music.aggregate_track",
         "DROP TABLE music.aggregate_track",
         "CREATE TABLE music.aggregate_track (track_id integer PRIMARY KEY, repost_count integer, "
         "save_count integer)",
         "INSERT INTO music.aggregate_track SELECT track_id, save_count, repost_count FROM kept"],
        "music.aggregate_track was replaced"),
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_ddl_that_changes_what_a_cycle_reads_runs_the_next_cycle_full(conn, case):
    steady(conn)
    statements, named = CHANGES[case]
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)
    write(conn)
    status, kind, reason = cycle(conn)
    assert (status, kind) == ("ok", "full") and named in reason, reason
    steady(conn)
    steady(conn)


UNREAD = {
    "a comment": ["COMMENT ON TABLE music.plays IS 'listens'",
                  "COMMENT ON COLUMN music.aggregate_user.follower_count IS 'followers'"],
    "a new index": ["CREATE INDEX plays_item_idx ON music.plays (play_item_id)"],
    "a column the cycle does not read": ["ALTER TABLE music.users ADD COLUMN nickname text",
                                         "ALTER TABLE music.plays ALTER COLUMN source TYPE text",
                                         "ALTER TABLE music.tracks DROP COLUMN IF EXISTS title"],
    "a new table beside the sources": ["CREATE TABLE music.notes (id int)", "ALTER TABLE music.notes ADD COLUMN t text"],
}


@pytest.mark.parametrize("case", list(UNREAD))
def test_ddl_that_changes_nothing_a_cycle_reads_keeps_cycles_incremental(conn, case):
    steady(conn)
    for statement in UNREAD[case]:
        conn.execute(statement)
    steady(conn)


def test_a_column_a_cycle_needs_gone_fails_the_cycle_and_the_status_is_unhealthy(conn):
    steady(conn)
    conn.execute("ALTER TABLE music.aggregate_plays DROP COLUMN count")
    # the service's writes still succeed: the capture triggers could not read the table, and are gone from it
    conn.execute("UPDATE music.aggregate_plays SET play_item_id = play_item_id WHERE play_item_id < 0")
    conn.execute("INSERT INTO music.plays (play_item_id, created_at) VALUES (1, now())")
    st = conn.execute("SELECT incremental_ok, not_covered FROM trending.capture_status").fetchone()
    assert not st[0] and any("aggregate_plays" in p for p in st[1]), st
    with pytest.raises(psycopg.Error, match="aggregate_plays"):
        conn.execute("CALL trending.scheduled_recompute(%s)", (DATASET.now,))  # as pg_cron runs it
    assert last_run(conn)[0] == "failed"
    assert conn.execute("SELECT healthy FROM trending.status").fetchone()[0] is False
    # put back: the triggers come back with the column, one full cycle, then incremental
    conn.execute("ALTER TABLE music.aggregate_plays ADD COLUMN count bigint")
    assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []
    status, kind, reason = cycle(conn)
    assert (status, kind) == ("ok", "full") and "music.aggregate_plays" in reason, reason
    assert conn.execute("SELECT healthy FROM trending.status").fetchone()[0] is True
    steady(conn)


def test_ddl_succeeds_even_when_the_capture_cannot_follow_it(conn, dsn):
    """The event trigger never fails a DDL. Unrelated DDL and DDL on a source
    table go through; with the event trigger's own work made to fail (a stray
    capture trigger on a table another session holds locked, which it would
    remove), the command still commits with a warning, and what is left is a
    problem that keeps cycles full until install_capture() repairs it."""
    conn.execute("CREATE TABLE public.unrelated (id int)")
    conn.execute("ALTER TABLE public.unrelated ADD COLUMN t text")
    conn.execute("CREATE INDEX ON public.unrelated (t)")
    conn.execute("DROP TABLE public.unrelated")
    conn.execute("CREATE TABLE public.stray (play_item_id int, created_at timestamp)")
    conn.execute("CREATE TRIGGER trending_capture_insert AFTER INSERT ON public.stray "
                 "REFERENCING NEW TABLE AS capture_new FOR EACH STATEMENT EXECUTE FUNCTION trending._capture_plays()")
    notices = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK public.stray IN ACCESS SHARE MODE")
        conn.execute("ALTER TABLE music.plays ADD COLUMN note text")  # DDL on a source table
        conn.execute("CREATE TABLE public.other (id int)")
    assert any("could not follow this command" in n for n in notices), notices
    assert conn.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'music.plays'::regclass "
                        "AND attname = 'note'").fetchone()[0] == 1
    assert conn.execute("SELECT to_regclass('public.other') IS NOT NULL").fetchone()[0]
    not_covered = conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0]
    assert any("music.plays" in p and "also on 1 relation" in p for p in not_covered), not_covered
    assert cycle(conn)[1] == "full"
    conn.execute("SELECT trending.install_capture()")  # removes the stray trigger
    conn.execute("DROP TABLE public.stray, public.other")
    assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []
    assert cycle(conn)[1] == "full"
    steady(conn)


def test_read_columns_agree_with_sources_required_columns(conn):
    from trending_pl import sources
    codes = {"tracks": 1, "plays": 2, "saves": 3, "reposts": 4, "users": 5, "aggregate_user": 6,
             "aggregate_track": 7, "aggregate_plays": 8, "aggregate_playlist": 9, "playlists": 10}
    want = sorted((codes[t], c, None if isinstance(a, sources.Enum) else sorted(a),
                   sorted(a) if isinstance(a, sources.Enum) else None)
                  for t, cols in sources.REQUIRED_COLUMNS.items() for c, a in cols.items())
    got = sorted((s, c, sorted(t) if t else None, sorted(e) if e else None) for s, c, t, e in conn.execute(
        "SELECT source, column_name, type_names, enum_labels FROM trending._capture_read_columns").fetchall())
    assert got == want


def test_a_column_retyped_to_a_type_the_capture_does_not_read_takes_the_triggers_off(conn):
    """The capture triggers would run the type's code, or fail the service's
    writes: the event trigger takes them off the table at the ALTER. The
    writes succeed, the table is not covered (doctor fails), the cycle
    refuses the type; retyped back, the triggers return."""
    steady(conn)
    conn.execute("DROP DOMAIN IF EXISTS public.counter")
    conn.execute("CREATE DOMAIN public.counter AS bigint")
    conn.execute("ALTER TABLE music.aggregate_plays ALTER COLUMN count TYPE public.counter")
    assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'music.aggregate_plays'::regclass"
                        ).fetchone()[0] == 0
    conn.execute("UPDATE music.aggregate_plays SET count = count + 1")
    (not_covered,) = conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()
    assert not_covered == ["music.aggregate_plays has no capture triggers: a column a cycle reads is gone "
                           "or of a type the capture does not read"], not_covered
    with pytest.raises(psycopg.Error, match="aggregate_plays"):
        conn.execute("CALL trending.scheduled_recompute(%s)", (DATASET.now,))
    conn.execute("ALTER TABLE music.aggregate_plays ALTER COLUMN count TYPE bigint")
    assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []
    status, kind, reason = cycle(conn)
    assert (status, kind) == ("ok", "full") and "music.aggregate_plays" in reason, reason
    steady(conn)


def test_an_enum_label_the_capture_compares_with_renamed_away_never_fails_a_write(conn):
    conn.execute("ALTER TYPE music.savetype RENAME VALUE 'track' TO 'song'")
    conn.execute("INSERT INTO music.saves (user_id, save_item_id, save_type, is_current, is_delete, created_at, txhash) "
                 "VALUES (1, 1, 'song', true, false, now(), 'x1')")
    assert any("music.saves" in p for p in
               conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0])
    conn.execute("ALTER TYPE music.savetype RENAME VALUE 'song' TO 'track'")
    assert conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] == []
    status, kind, reason = cycle(conn)
    assert (status, kind) == ("ok", "full") and "music.saves" in reason, reason
    steady(conn)
