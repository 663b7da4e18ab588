"""Issue 9, item 2: change capture of the source tables (docs/incremental.md).

The source tables belong to a non-superuser owner (`cap_owner`) and are
written by it and by a writer role (`cap_writer`), as the service's indexer
would. Each test compares what the capture recorded with what really
changed, or checks that trending.capture_status asks for a full cycle, with
the right reason, after each way the owner can defeat the triggers.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from trending_cli.sample_data import create_source_schema
from support.lease import free_lease, hold_lease

SRC = "cap_src"
OWNER = "cap_owner"
WRITER = "cap_writer"
LATE_WRITER = "cap_late_writer"
TRACK, PLAYLIST = 1, 2
S = {"tracks": 1, "plays": 2, "saves": 3, "reposts": 4, "users": 5, "aggregate_user": 6,
     "aggregate_track": 7, "aggregate_plays": 8, "aggregate_playlist": 9, "playlists": 10}
T0 = datetime(2026, 3, 1, 12, 0)


# ---------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------
def _reset_roles(c) -> None:
    for role in (OWNER, WRITER, LATE_WRITER):
        if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            c.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))


def _create_sources(c) -> None:
    """SRC with a few rows in every table, owned by OWNER, writable by WRITER."""
    create_source_schema(c, SRC)
    c.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(SRC), sql.Identifier(OWNER)))
    c.execute(f"SET search_path = {SRC}")
    c.execute("INSERT INTO users (user_id, is_current, cover_photo, profile_picture, bio) "
              "SELECT g, true, 'c', 'p', 'b' FROM generate_series(1, 20) g")
    c.execute("INSERT INTO aggregate_user (user_id, follower_count, following_count) "
              "SELECT g, g * 10, 5 FROM generate_series(1, 20) g")
    c.execute("INSERT INTO tracks (track_id, owner_id, genre, created_at, is_current, is_delete, is_unlisted) "
              "SELECT g, g, 'rock', %s, true, false, false FROM generate_series(1, 10) g", (T0 - timedelta(days=3),))
    c.execute("INSERT INTO playlists (playlist_id, playlist_owner_id, is_current, is_delete, is_private, "
              "playlist_contents, created_at) SELECT g, g, true, false, false, "
              "'{\"track_ids\": [{\"track\": 1}, {\"track\": 2}, {\"track\": 3}]}', %s FROM generate_series(1, 5) g",
              (T0 - timedelta(days=3),))
    c.execute("INSERT INTO saves (user_id, save_item_id, save_type, is_current, is_delete, created_at, txhash) "
              "SELECT u, 1 + u %% 10, 'track', true, false, %s, 'a' FROM generate_series(1, 20) u", (T0,))
    c.execute("INSERT INTO reposts (user_id, repost_item_id, repost_type, is_current, is_delete, created_at, txhash) "
              "SELECT u, 1 + u %% 5, 'playlist', true, false, %s, 'a' FROM generate_series(1, 20) u", (T0,))
    c.execute("INSERT INTO aggregate_track (track_id, repost_count, save_count) SELECT g, 1, 2 FROM generate_series(1, 10) g")
    c.execute("INSERT INTO aggregate_plays (play_item_id, count) SELECT g, 100 FROM generate_series(1, 10) g")
    c.execute("INSERT INTO aggregate_playlist (playlist_id, repost_count, save_count) SELECT g, 1, 1 FROM generate_series(1, 5) g")
    c.execute("INSERT INTO plays (play_item_id, created_at) SELECT 1 + g %% 10, %s FROM generate_series(1, 50) g", (T0,))
    c.execute("RESET search_path")
    for (table,) in c.execute("SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace "
                              "AND relkind = 'r'", (SRC,)).fetchall():
        c.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(
            sql.Identifier(SRC), sql.Identifier(table), sql.Identifier(OWNER)))
    for typ in ("savetype", "reposttype"):
        c.execute(sql.SQL("ALTER TYPE {}.{} OWNER TO {}").format(sql.Identifier(SRC), sql.Identifier(typ),
                                                                 sql.Identifier(OWNER)))
    c.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}, {}").format(
        sql.Identifier(SRC), sql.Identifier(WRITER), sql.Identifier(LATE_WRITER)))
    c.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(
        sql.Identifier(SRC), sql.Identifier(WRITER)))
    c.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
        sql.Identifier(SRC), sql.Identifier(WRITER)))


@pytest.fixture(scope="module")
def cdsn(make_db):
    dsn = make_db("trending_capture")
    with psycopg.connect(dsn, autocommit=True) as c:
        _reset_roles(c)
        c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SRC,))
    return dsn


@pytest.fixture
def su(cdsn):
    """A superuser connection with fresh sources and the capture installed and armed."""
    with psycopg.connect(cdsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("SELECT trending.uninstall_capture()")
        _create_sources(c)
        c.execute("SELECT trending.install_capture()")
        arm(c)
        yield c


def as_role(dsn: str, role: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(SRC)))
    return conn


def status(c) -> dict:
    cur = c.execute("SELECT * FROM trending.capture_status")
    return dict(zip([d.name for d in cur.description], cur.fetchone()))


def arm(c) -> str | None:
    """What a full cycle does: under the cycle lease, fingerprint, snapshot, (read), arm."""
    lease_run = hold_lease(c)
    try:
        fingerprint = status(c)["fingerprint"]
        c.execute("SELECT * FROM trending._capture_snapshot('10s')")
        return c.execute("SELECT trending._capture_arm(%s)", (fingerprint,)).fetchone()[0]
    finally:
        free_lease(c, lease_run)


# the delta rows an incremental cycle consumes: of the transactions its
# snapshot sees and the last consuming cycle's did not
CONSUMED = "pg_visible_in_snapshot(tx, %(now)s::pg_snapshot) AND NOT pg_visible_in_snapshot(tx, %(prev)s::pg_snapshot)"


def consume(c) -> tuple[set, Counter, bool]:
    """What an incremental cycle does: snapshot, read what it consumes, advance.
    Returns the (source, kind, item, user) changes, the net plays per (item, hour),
    and whether it could advance."""
    lease_run = hold_lease(c)
    try:
        now, prev, unrecorded = c.execute("SELECT snapshot::text, previous::text, unrecorded "
                                          "FROM trending._capture_snapshot('10s')").fetchone()
        assert unrecorded is None and prev is not None, unrecorded
        snapshots = {"now": now, "prev": prev}
        changes = set(c.execute("SELECT source, kind, item_id, user_id FROM trending._capture_changed "
                                f"WHERE {CONSUMED}", snapshots).fetchall())
        plays = Counter()
        for item, hour, n in c.execute("SELECT item_id, hour, n FROM trending._capture_play_hours "
                                       f"WHERE {CONSUMED}", snapshots).fetchall():
            plays[(item, hour)] += n
        advanced = c.execute("SELECT trending._capture_advance()").fetchone()[0] is None
        return changes, Counter({k: v for k, v in plays.items() if v}), advanced
    finally:
        free_lease(c, lease_run)


# ---------------------------------------------------------------------------
# install / uninstall
# ---------------------------------------------------------------------------
def test_install_is_idempotent_announces_its_locks_and_arms_on_a_full_cycle(cdsn):
    with psycopg.connect(cdsn, autocommit=True) as c:
        c.execute("SELECT trending.uninstall_capture()")
        _create_sources(c)
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        first = json.loads(json.dumps(c.execute("SELECT trending.install_capture()").fetchone()[0]))
        assert set(first["tables"].values()) == {"installed"} and len(first["tables"]) == 10
        assert sum("briefly locks" in n for n in notices) == 10
        assert "writers" not in first  # issue 16: it grants nothing (the triggers run as trending_capture)
        notices.clear()
        second = c.execute("SELECT trending.install_capture()").fetchone()[0]
        assert set(second["tables"].values()) == {"kept"}
        assert not any("briefly locks" in n for n in notices)
        st = status(c)
        assert st["installed"] and not st["armed"] and not st["incremental_ok"]
        assert "not armed" in st["full_cycle_reason"]
        assert arm(c) is None
        st = status(c)
        assert st["armed"] and st["incremental_ok"] and st["full_cycle_reason"] is None
        assert st["tables_with_triggers"] == 10


def test_install_needs_a_superuser_and_the_owner_cannot_plant_capture_triggers(su, cdsn):
    with as_role(cdsn, OWNER) as owner:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute("SELECT trending.install_capture()")
        # the trigger functions are not the owner's to use: no look-alike capture on a swapped table
        owner.execute("CREATE TABLE fake (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute("CREATE TRIGGER trending_capture_insert AFTER INSERT ON fake "
                          "FOR EACH STATEMENT EXECUTE FUNCTION trending._capture_plays()")
    with as_role(cdsn, WRITER) as writer:
        # a writer may append to the delta tables (through the trigger) and nothing more
        writer.execute("INSERT INTO plays (play_item_id, created_at) VALUES (1, %s)", (T0,))
        for statement in ("SELECT * FROM trending._capture_plays", "DELETE FROM trending._capture_plays",
                          "UPDATE trending._capture_armed SET since = 0", "SELECT trending._capture_advance()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute(statement)


def _catalog(c) -> dict:
    """Everything the catalog says about the source tables that install could touch."""
    rel = f"c.relnamespace = '{SRC}'::regnamespace"
    queries = {
        "class": f"SELECT c.relname, c.relowner, c.relacl::text, c.relkind, c.relpersistence, c.relhasindex, "
                 f"c.relhasrules, c.relhastriggers, c.relreplident, c.reloptions::text, c.relfilenode, c.reltype "
                 f"FROM pg_class c WHERE {rel} ORDER BY 1",
        "triggers": f"SELECT c.relname, t.tgname, t.tgfoid::regproc::text, t.tgenabled FROM pg_trigger t "
                    f"JOIN pg_class c ON c.oid = t.tgrelid WHERE {rel} ORDER BY 1, 2",
        "attributes": f"SELECT c.relname, a.attname, a.atttypid, a.attnotnull, a.atthasdef, a.attacl::text "
                      f"FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE {rel} ORDER BY 1, 2",
        "constraints": f"SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
                       f"JOIN pg_class c ON c.oid = k.conrelid WHERE {rel} ORDER BY 1, 2",
        "depends": f"SELECT c.relname, d.classid::regclass::text, d.refclassid::regclass::text, d.deptype "
                   f"FROM pg_depend d JOIN pg_class c ON c.oid = d.refobjid "
                   f"WHERE {rel} AND d.refclassid = 'pg_class'::regclass ORDER BY 1, 2, 3, 4",
        "rules": f"SELECT c.relname, r.rulename FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
                 f"WHERE {rel} ORDER BY 1, 2",
        "types": f"SELECT t.typname, t.typowner, t.typacl::text FROM pg_type t "
                 f"WHERE t.typnamespace = '{SRC}'::regnamespace ORDER BY 1",
    }
    return {name: c.execute(q).fetchall() for name, q in queries.items()}


def test_uninstall_leaves_the_tables_exactly_as_they_were(cdsn):
    with psycopg.connect(cdsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("SELECT trending.uninstall_capture()")
        _create_sources(c)
        c.execute(f"VACUUM {SRC}.plays")
        before = _catalog(c)
        c.execute("SELECT trending.install_capture()")
        arm(c)
        c.execute(f"INSERT INTO {SRC}.plays (play_item_id, created_at) VALUES (1, %s)", (T0,))
        assert _catalog(c)["triggers"] != before["triggers"]
        result = c.execute("SELECT trending.uninstall_capture()").fetchone()[0]
        assert len(result["removed"]) == 40
        assert c.execute("SELECT trending.uninstall_capture()").fetchone()[0]["removed"] == []  # idempotent
        # DROP TRIGGER leaves pg_class.relhastriggers set until the next VACUUM clears it
        for table in S:
            c.execute(sql.SQL("VACUUM {}.{}").format(sql.Identifier(SRC), sql.Identifier(table)))
        after = _catalog(c)
        assert after == before
        st = status(c)
        assert not st["installed"] and not st["armed"] and st["pending_changes"] == 0
        # the writers never had a grant on the delta tables
        assert c.execute("SELECT has_table_privilege(%s, 'trending._capture_plays', 'INSERT')",
                         (WRITER,)).fetchone()[0] is False


def test_drop_extension_fails_naming_uninstall_capture_or_cascades(make_db, cdsn):
    dsn = make_db("trending_capture_drop")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SRC,))
        _create_sources(c)
        before = _catalog(c)
        c.execute("SELECT trending.install_capture()")
        with pytest.raises(psycopg.errors.DependentObjectsStillExist) as bare:
            c.execute("DROP EXTENSION trending")
        assert "trending.uninstall_capture()" in bare.value.diag.message_hint
        assert c.execute("SELECT count(*) FROM pg_extension WHERE extname = 'trending'").fetchone()[0] == 1
        assert status(c)["tables_with_triggers"] == 10
        # run from inside a function, the guard cannot see the command: PostgreSQL's own dependency error
        with pytest.raises(psycopg.errors.DependentObjectsStillExist):
            c.execute("DO $$ BEGIN EXECUTE 'DROP EXTENSION trending'; END $$")
        # another extension may still be dropped, also in a list that names trending only in a comment
        c.execute("CREATE EXTENSION pg_trgm")
        c.execute("DROP EXTENSION pg_trgm /* not trending */")
        # CASCADE removes the triggers with the extension
        c.execute("DROP EXTENSION trending CASCADE")
        for table in S:
            c.execute(sql.SQL("VACUUM {}.{}").format(sql.Identifier(SRC), sql.Identifier(table)))
        assert _catalog(c) == before
        # after uninstall_capture, a bare DROP EXTENSION succeeds
        c.execute("CREATE EXTENSION trending")
        c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SRC,))
        c.execute("SELECT trending.install_capture()")
        c.execute("SELECT trending.uninstall_capture()")
        c.execute("DROP EXTENSION trending")


# ---------------------------------------------------------------------------
# every change a cycle reads is captured
# ---------------------------------------------------------------------------
def test_every_change_type_is_captured(su, cdsn):
    consume(su)  # start from nothing pending
    h = T0.replace(minute=0)
    cases = [
        # (statement run by the writer, expected (source, kind, item, user) changes)
        ("INSERT INTO saves (user_id, save_item_id, save_type, is_current, is_delete, created_at, txhash) "
         "VALUES (1, 7, 'track', true, false, '2026-03-01 12:30', 'b'), (2, 3, 'playlist', true, false, "
         "'2026-03-01 12:30', 'b'), (3, 4, 'album', true, false, '2026-03-01 12:30', 'b')",
         {(S["saves"], TRACK, 7, 1), (S["saves"], PLAYLIST, 3, 2)}),                       # album: not read
        ("UPDATE saves SET is_delete = true WHERE user_id = 4 AND txhash = 'a'",             # un-save in place
         {(S["saves"], TRACK, 5, 4)}),
        ("UPDATE saves SET is_current = false WHERE user_id = 5 AND txhash = 'a'",           # new current row
         {(S["saves"], TRACK, 6, 5)}),
        ("INSERT INTO saves (user_id, save_item_id, save_type, is_current, is_delete, created_at, txhash) "
         "VALUES (5, 6, 'track', true, true, '2026-03-01 12:40', 'c')", {(S["saves"], TRACK, 6, 5)}),
        ("DELETE FROM saves WHERE user_id = 6 AND txhash = 'a'", {(S["saves"], TRACK, 7, 6)}),
        ("UPDATE reposts SET is_delete = true WHERE user_id = 7", {(S["reposts"], PLAYLIST, 3, 7)}),
        ("UPDATE reposts SET is_current = false WHERE user_id = 8",
         {(S["reposts"], PLAYLIST, 4, 8)}),
        ("INSERT INTO reposts (user_id, repost_item_id, repost_type, is_current, is_delete, created_at, txhash) "
         "VALUES (8, 9, 'track', true, false, '2026-03-01 12:40', 'b')", {(S["reposts"], TRACK, 9, 8)}),
        ("UPDATE tracks SET is_unlisted = true WHERE track_id = 2", {(S["tracks"], TRACK, 2, 2)}),
        ("UPDATE tracks SET is_current = false WHERE track_id = 3", {(S["tracks"], TRACK, 3, 3)}),
        ("INSERT INTO tracks (track_id, owner_id, genre, created_at, release_date, is_current, is_delete, "
         "is_unlisted, txhash) VALUES (3, 4, 'jazz', '2026-02-01', '2026-02-02', true, false, false, 'b')",
         {(S["tracks"], TRACK, 3, 4)}),                                                     # new owner too
        ("UPDATE tracks SET owner_id = 11 WHERE track_id = 5",
         {(S["tracks"], TRACK, 5, 5), (S["tracks"], TRACK, 5, 11)}),                        # old and new owner
        ("DELETE FROM tracks WHERE track_id = 6", {(S["tracks"], TRACK, 6, 6)}),
        ("UPDATE playlists SET is_private = true WHERE playlist_id = 2", {(S["playlists"], PLAYLIST, 2, 2)}),
        ("UPDATE playlists SET playlist_contents = '{}' WHERE playlist_id = 3", {(S["playlists"], PLAYLIST, 3, 3)}),
        ("UPDATE aggregate_user SET follower_count = follower_count + 5 WHERE user_id IN (3, 4)",
         {(S["aggregate_user"], None, None, 3), (S["aggregate_user"], None, None, 4)}),
        ("UPDATE aggregate_user SET user_id = 99 WHERE user_id = 20",                       # a key change: both
         {(S["aggregate_user"], None, None, 20), (S["aggregate_user"], None, None, 99)}),
        ("UPDATE users SET bio = NULL WHERE user_id = 9", {(S["users"], None, None, 9)}),   # profile emptied
        ("INSERT INTO users (user_id, is_current, bio, txhash) VALUES (10, false, 'x', 'b')",
         {(S["users"], None, None, 10)}),
        ("UPDATE aggregate_track SET save_count = save_count + 1 WHERE track_id = 8",
         {(S["aggregate_track"], TRACK, 8, None)}),
        ("UPDATE aggregate_plays SET count = NULL WHERE play_item_id = 9", {(S["aggregate_plays"], TRACK, 9, None)}),
        ("UPDATE aggregate_playlist SET repost_count = 7 WHERE playlist_id = 4",
         {(S["aggregate_playlist"], PLAYLIST, 4, None)}),
        ("INSERT INTO aggregate_user (user_id, follower_count) VALUES (50, 3)", {(S["aggregate_user"], None, None, 50)}),
        ("DELETE FROM aggregate_playlist WHERE playlist_id = 5", {(S["aggregate_playlist"], PLAYLIST, 5, None)}),
        ("UPDATE saves SET created_at = created_at WHERE false", set()),                    # no rows: nothing
    ]
    with as_role(cdsn, WRITER) as writer:
        for statement, expected in cases:
            writer.execute(statement)
            changes, plays, advanced = consume(su)
            assert changes == expected, statement
            assert not plays and advanced

        # plays: net count per (item, hour of created_at), late plays in their own hour
        writer.execute("INSERT INTO plays (play_item_id, created_at) VALUES "
                       "(1, '2026-03-01 12:05'), (1, '2026-03-01 12:55'), (2, '2026-03-01 12:10'), "
                       "(2, '2026-02-26 03:59'), (3, '2026-03-01 09:00')")  # 3 days and 3 hours late
        changes, plays, _ = consume(su)
        assert not changes
        assert plays == Counter({(1, h): 2, (2, h): 1, (2, datetime(2026, 2, 26, 3)): 1,
                                 (3, datetime(2026, 3, 1, 9)): 1})
        writer.execute("UPDATE plays SET created_at = created_at + interval '1 minute' "
                       "WHERE created_at = '2026-03-01 12:05'")                      # same hour: nets to nothing
        assert consume(su)[1] == Counter()
        writer.execute("UPDATE plays SET user_id = 7 WHERE play_item_id = 1")         # columns not read: no row
        assert su.execute("SELECT count(*) FROM trending._capture_plays").fetchone()[0] == 0
        writer.execute("UPDATE plays SET play_item_id = 4 WHERE created_at = '2026-03-01 09:00'")
        writer.execute("DELETE FROM plays WHERE created_at = '2026-03-01 12:10'")
        changes, plays, _ = consume(su)
        assert not changes
        assert plays == Counter({(4, datetime(2026, 3, 1, 9)): 1, (3, datetime(2026, 3, 1, 9)): -1, (2, h): -1})
    assert status(su)["incremental_ok"]


def test_copy_merge_and_upsert_are_captured(su, cdsn):
    consume(su)
    with as_role(cdsn, OWNER) as owner:
        with owner.cursor().copy("COPY plays (play_item_id, created_at) FROM STDIN") as copy:
            copy.write_row((7, T0))
            copy.write_row((7, T0 + timedelta(minutes=1)))
        owner.execute("INSERT INTO aggregate_user (user_id, follower_count) VALUES (1, 1), (77, 1) "
                      "ON CONFLICT (user_id) DO UPDATE SET follower_count = excluded.follower_count")
        owner.execute("MERGE INTO aggregate_track t USING (VALUES (1, 9), (88, 9)) v (id, n) ON t.track_id = v.id "
                      "WHEN MATCHED THEN UPDATE SET save_count = v.n "
                      "WHEN NOT MATCHED THEN INSERT (track_id, repost_count, save_count) VALUES (v.id, 0, v.n)")
    changes, plays, advanced = consume(su)
    assert plays == Counter({(7, T0): 2})
    assert changes == {(S["aggregate_user"], None, None, 1), (S["aggregate_user"], None, None, 77),
                       (S["aggregate_track"], TRACK, 1, None), (S["aggregate_track"], TRACK, 88, None)}
    assert advanced


def test_writes_in_replica_mode_are_captured(su, cdsn):
    """A logical-replication subscriber applies changes with session_replication_role = replica:
    the triggers are ENABLE ALWAYS, so they fire there too."""
    consume(su)
    su.execute("SET session_replication_role = replica")
    su.execute(f"UPDATE {SRC}.aggregate_user SET follower_count = 0 WHERE user_id = 2")
    su.execute("RESET session_replication_role")
    changes, _, _ = consume(su)
    assert changes == {(S["aggregate_user"], None, None, 2)}


def test_a_role_granted_a_write_after_the_install_writes_and_is_captured(su, cdsn):
    # issue 16: 1.1 failed this write with "permission denied for table _capture_plays"
    su.execute(sql.SQL("GRANT INSERT ON {}.plays TO {}").format(sql.Identifier(SRC), sql.Identifier(LATE_WRITER)))
    su.execute(sql.SQL("GRANT USAGE ON {}.plays_id_seq TO {}").format(sql.Identifier(SRC), sql.Identifier(LATE_WRITER)))
    with as_role(cdsn, LATE_WRITER) as late:
        late.execute("INSERT INTO plays (play_item_id, created_at) VALUES (1, %s)", (T0,))
    assert status(su)["incremental_ok"]  # grants alone change nothing the capture relies on
    assert consume(su)[1] == Counter({(1, T0): 1})


# ---------------------------------------------------------------------------
# out-of-order commits
# ---------------------------------------------------------------------------
def test_a_writer_committing_after_a_later_one_is_never_lost(su, cdsn):
    consume(su)
    with as_role(cdsn, WRITER) as a, as_role(cdsn, WRITER) as b:
        a.execute("BEGIN")
        a.execute("INSERT INTO plays (play_item_id, created_at) VALUES (1, %s)", (T0,))  # draws the lower number
        b.execute("INSERT INTO plays (play_item_id, created_at) VALUES (2, %s)", (T0,))  # commits first
        first_seq_b = su.execute("SELECT max(seq) FROM trending._capture_plays").fetchone()[0]

        # a consumer takes b's row only, and advances: a's row stays for later
        changes, plays, advanced = consume(su)
        assert plays == Counter({(2, T0.replace(minute=0)): 1}) and advanced
        # (an id (seq) watermark taken now would skip a's row: it is below b's)
        assert status(su)["held_by"] == [f"pid {a.info.backend_pid}"]
        a.execute("COMMIT")
        assert su.execute("SELECT max(seq) FROM trending._capture_plays").fetchone()[0] < first_seq_b
        changes, plays, advanced = consume(su)
        assert plays == Counter({(1, T0.replace(minute=0)): 1}) and advanced, "a's row, exactly once"

        # and the other order: a (earlier number) commits first, b stays open across a consume
        b.execute("BEGIN")
        a.execute("INSERT INTO plays (play_item_id, created_at) VALUES (3, %s)", (T0,))
        b.execute("INSERT INTO plays (play_item_id, created_at) VALUES (4, %s)", (T0,))
        a.execute("INSERT INTO plays (play_item_id, created_at) VALUES (5, %s)", (T0,))
        changes, plays, advanced = consume(su)
        assert set(plays) == {(3, T0.replace(minute=0)), (5, T0.replace(minute=0))} and advanced
        b.execute("COMMIT")
        changes, plays, advanced = consume(su)
        assert plays == Counter({(4, T0.replace(minute=0)): 1}) and advanced, "b's row only: each once"
        changes, plays, advanced = consume(su)
        assert not plays and not changes and advanced


def test_a_rolled_back_write_leaves_nothing(su, cdsn):
    consume(su)
    with as_role(cdsn, WRITER) as w:
        w.execute("BEGIN")
        w.execute("INSERT INTO plays (play_item_id, created_at) VALUES (1, %s)", (T0,))
        w.execute("SAVEPOINT s")
        w.execute("UPDATE aggregate_user SET follower_count = 1 WHERE user_id = 1")
        w.execute("ROLLBACK TO SAVEPOINT s")
        w.execute("COMMIT")
    changes, plays, _ = consume(su)
    assert plays == Counter({(1, T0.replace(minute=0)): 1}) and not changes


# ---------------------------------------------------------------------------
# tampering: the owner defeats the triggers; never a wrong incremental cycle
# ---------------------------------------------------------------------------
def _full_needed(c, fragment: str) -> None:
    st = status(c)
    assert not st["incremental_ok"], st
    assert any(fragment in r for r in st["full_cycle_reasons"]), st["full_cycle_reasons"]


def test_a_disabled_trigger_needs_a_full_cycle_even_once_re_enabled(su, cdsn):
    with as_role(cdsn, OWNER) as owner:
        owner.execute("ALTER TABLE plays DISABLE TRIGGER trending_capture_insert")
        _full_needed(su, "disabled")
        owner.execute("INSERT INTO plays (play_item_id, created_at) VALUES (1, %s)", (T0,))  # escapes the capture
        owner.execute("ALTER TABLE plays ENABLE ALWAYS TRIGGER trending_capture_insert")
    _full_needed(su, "altered since the last full cycle")
    # an incremental cycle that started before would not advance: it disarms
    lease_run = hold_lease(su)
    su.execute("SELECT * FROM trending._capture_snapshot('1s')")
    assert "altered" in su.execute("SELECT trending._capture_advance()").fetchone()[0]
    free_lease(su, lease_run)
    _full_needed(su, "not armed")
    # a full cycle re-arms
    assert arm(su) is None and status(su)["incremental_ok"]
    # the owner's ENABLE (not ALWAYS) would skip replica-mode writes: still not trusted
    with as_role(cdsn, OWNER) as owner:
        owner.execute("ALTER TABLE users ENABLE TRIGGER trending_capture_update")
    _full_needed(su, "must be ENABLE ALWAYS")
    assert "ENABLE ALWAYS" in arm(su)  # a full cycle cannot arm it either
    assert su.execute("SELECT trending.install_capture()").fetchone()[0]["tables"]["users"] == "replaced"
    assert arm(su) is None and status(su)["incremental_ok"]


def test_a_dropped_trigger_needs_a_full_cycle(su, cdsn):
    with as_role(cdsn, OWNER) as owner:
        owner.execute("DROP TRIGGER trending_capture_update ON aggregate_user")
    _full_needed(su, "trending_capture_update missing on cap_src.aggregate_user")
    assert arm(su) is not None and not status(su)["armed"]
    assert su.execute("SELECT trending.install_capture()").fetchone()[0]["tables"]["aggregate_user"] == "replaced"
    assert arm(su) is None and status(su)["incremental_ok"]


def test_truncate_needs_a_full_cycle(su, cdsn):
    with as_role(cdsn, OWNER) as owner:
        owner.execute("TRUNCATE saves")
    _full_needed(su, f"truncated since the last cycle: {SRC}.saves")
    assert arm(su) is None and status(su)["incremental_ok"]  # the full cycle covered it


def test_a_truncate_during_an_incremental_cycle_disarms_it(su, cdsn):
    lease_run = hold_lease(su)
    assert status(su)["incremental_ok"]
    with as_role(cdsn, OWNER) as owner:
        owner.execute("TRUNCATE reposts")
    su.execute("SELECT * FROM trending._capture_snapshot('1s')")
    assert su.execute("SELECT trending._capture_advance()").fetchone()[0] is not None
    free_lease(su, lease_run)
    _full_needed(su, f"truncated since the last cycle: {SRC}.reposts")
    _full_needed(su, "not armed")


def test_a_swapped_table_needs_a_full_cycle(su, cdsn):
    with as_role(cdsn, OWNER) as owner:
        owner.execute("ALTER TABLE plays RENAME TO plays_old")
        owner.execute("CREATE TABLE plays (LIKE plays_old INCLUDING ALL)")
        owner.execute("INSERT INTO plays SELECT * FROM plays_old")
    _full_needed(su, "cap_src.plays was replaced since the capture was last armed by a full cycle "
                     "(relation OID changed")
    # the event trigger (issue 16) moved the capture triggers: off plays_old, onto the new plays at its
    # CREATE TABLE (so its INSERT was captured); a full cycle arms on the new table
    assert su.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'cap_src.plays_old'::regclass"
                      ).fetchone()[0] == 0
    assert status(su)["not_covered"] == []
    assert arm(su) is None and status(su)["incremental_ok"]
    result = su.execute("SELECT trending.install_capture()").fetchone()[0]
    assert result["tables"]["plays"] == "kept" and result["removed"] == []


def test_a_rewrite_that_bypasses_triggers_needs_a_full_cycle(su, cdsn):
    with as_role(cdsn, OWNER) as owner:
        # ALTER TABLE ... TYPE ... USING rewrites every row without firing a trigger
        owner.execute("ALTER TABLE aggregate_user ALTER follower_count TYPE bigint USING follower_count * 2")
    _full_needed(su, "cap_src.aggregate_user was rewritten since the last full cycle")
    assert arm(su) is None and status(su)["incremental_ok"]


def test_a_change_during_a_full_cycle_keeps_it_from_arming(su, cdsn):
    su.execute("UPDATE trending._capture_armed SET snapshot = NULL")  # recording, not armed
    lease_run = hold_lease(su)
    fingerprint = status(su)["fingerprint"]
    su.execute("SELECT * FROM trending._capture_snapshot('1s')")
    with as_role(cdsn, OWNER) as owner:  # disable, write, re-enable: all while the full cycle reads
        owner.execute("ALTER TABLE saves DISABLE TRIGGER trending_capture_insert")
        owner.execute("ALTER TABLE saves ENABLE ALWAYS TRIGGER trending_capture_insert")
    reason = su.execute("SELECT trending._capture_arm(%s)", (fingerprint,)).fetchone()[0]
    free_lease(su, lease_run)
    assert reason == "a capture trigger or a source table changed during the full cycle"
    assert not status(su)["armed"]


def test_lost_unlogged_state_needs_a_full_cycle(su):
    # what crash recovery or a promoted standby does to the unlogged tables (see the crash test below)
    su.execute("TRUNCATE trending._capture_armed, trending._capture_changes, trending._capture_plays")
    _full_needed(su, "unlogged state was lost")
    assert not status(su)["recording"]
    # the full cycle that finds it starts it recording; the next one arms it
    assert "records from this cycle on" in arm(su)
    assert status(su)["recording"] and not status(su)["armed"]
    assert arm(su) is None and status(su)["incremental_ok"]


def test_the_watermark_moves_only_under_the_cycle_lock_and_after_a_snapshot(su):
    for statement in ("SELECT trending._capture_advance()", "SELECT trending._capture_arm('x')",
                      "SELECT * FROM trending._capture_snapshot('1s')"):
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            su.execute(statement)
    lease_run = hold_lease(su)
    try:
        su.execute("UPDATE trending._capture_armed SET next_snapshot = NULL")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="took no capture snapshot"):
            su.execute("SELECT trending._capture_advance()")
    finally:
        free_lease(su, lease_run)


def test_the_cycle_side_helpers_follow_the_protocol(su, cdsn):
    """extension/trending_pl/capture.py, as a cycle calls it (PL/Python)."""
    with as_role(cdsn, WRITER) as w:
        w.execute("UPDATE aggregate_user SET follower_count = 1 WHERE user_id = 3")
    lease_run = hold_lease(su)
    try:
        notices = []
        su.add_notice_handler(lambda d: notices.append(d.message_primary))
        su.execute("SET client_min_messages = notice")
        su.execute("""DO LANGUAGE plpython3u $$
import json
plpy.execute("SELECT trending._python_init()")
from trending_pl import capture
st = capture.state(plpy)
snap = capture.snapshot(plpy, "5s")
users = [r["user_id"] for r in plpy.execute(
    "SELECT d.user_id FROM trending._capture_changed d WHERE "
    + capture.consumed(plpy, "d", snap["snapshot"], snap["previous"]))]
reason = capture.advance(plpy)
plpy.notice(json.dumps({"incremental": st["incremental"], "unrecorded": snap["unrecorded"], "users": users,
                        "reason": reason, "after": capture.state(plpy)["since"] == st["since"] + 1}))
$$""")
    finally:
        free_lease(su, lease_run)
    result = json.loads(notices[-1])
    assert result == {"incremental": True, "unrecorded": None, "users": [3], "reason": None, "after": True}


def test_crash_recovery_loses_the_unlogged_state_and_asks_for_a_full_cycle():
    """A real crash (immediate stop): the unlogged capture tables come back empty."""
    from trending_cli.cluster import Cluster, pg_bindir
    with Cluster(name="trending-capture-crash") as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as c:
            c.execute("SET client_min_messages = warning")
            c.execute("CREATE EXTENSION trending CASCADE")
            _reset_roles(c)
            c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SRC,))
            _create_sources(c)
            c.execute("SELECT trending.install_capture()")
            assert arm(c) is None and status(c)["incremental_ok"]
            c.execute(f"INSERT INTO {SRC}.plays (play_item_id, created_at) VALUES (1, %s)", (T0,))
            assert status(c)["pending_plays"] == 1
            c.execute("CHECKPOINT")
        server._run_as_server([str(pg_bindir() / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate",
                               "-w", "stop"])
        server._run_as_server([str(pg_bindir() / "pg_ctl"), "-D", str(server.data_dir), "-l",
                               str(server.log_file), "-w", "start"])
        with psycopg.connect(server.conninfo(), autocommit=True) as c:
            st = status(c)
            assert st["installed"] and not st["armed"] and st["pending_plays"] == 0
            assert "unlogged state was lost" in st["full_cycle_reason"]
            # writers keep working; a full cycle starts the capture recording, the next one arms it
            c.execute(f"INSERT INTO {SRC}.plays (play_item_id, created_at) VALUES (1, %s)", (T0,))
            assert "records from this cycle on" in arm(c)
            assert arm(c) is None and status(c)["incremental_ok"]
            c.execute("SELECT trending.uninstall_capture()")


def test_a_prepared_transaction_holds_back_only_its_own_changes_and_is_named():
    """Issue 16, item 7: a prepared transaction (two-phase commit) stays
    "in progress" until someone commits or rolls it back. Consumers go on
    without it, capture_status names its gid, and its changes are consumed
    once it commits; arming after a gap waits for it (and names it), since
    it may hold writes the capture did not record. A cluster of its own:
    the test cluster has max_prepared_transactions = 0."""
    from trending_cli.cluster import Cluster
    with Cluster(name="trending-capture-2pc", settings={"max_prepared_transactions": "4"}) as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as c:
            c.execute("SET client_min_messages = warning")
            c.execute("CREATE EXTENSION trending CASCADE")
            _reset_roles(c)
            c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SRC,))
            _create_sources(c)
            c.execute("SELECT trending.install_capture()")
            assert arm(c) is None
            with as_role(server.conninfo(), WRITER) as w:
                w.execute("BEGIN")
                w.execute("INSERT INTO plays (play_item_id, created_at) VALUES (6, %s)", (T0,))
                w.execute("PREPARE TRANSACTION 'trending-2pc'")
                w.execute("INSERT INTO plays (play_item_id, created_at) VALUES (7, %s)", (T0,))
            changes, plays, advanced = consume(c)
            assert plays == Counter({(7, T0.replace(minute=0)): 1}) and advanced
            assert status(c)["held_by"] == ["prepared transaction 'trending-2pc'"]
            c.execute("COMMIT PREPARED 'trending-2pc'")
            assert status(c)["held_by"] == []
            assert consume(c)[1] == Counter({(6, T0.replace(minute=0)): 1}), "its row, once it committed"
            assert consume(c)[1] == Counter()

            # a gap in the recording (its state lost): arming waits for the prepared writer
            c.execute("DELETE FROM trending._capture_armed")
            with as_role(server.conninfo(), WRITER) as w:
                w.execute("BEGIN")
                w.execute("INSERT INTO plays (play_item_id, created_at) VALUES (8, %s)", (T0,))
                w.execute("PREPARE TRANSACTION 'trending-2pc-gap'")
            assert "records from this cycle on" in arm(c)
            lease_run = hold_lease(c)
            try:
                (unrecorded,) = c.execute("SELECT unrecorded FROM trending._capture_snapshot('10 ms')").fetchone()
            finally:
                free_lease(c, lease_run)
            assert "prepared transaction 'trending-2pc-gap', which started before the capture recorded" in unrecorded
            assert arm(c) is not None and not status(c)["armed"]
            c.execute("ROLLBACK PREPARED 'trending-2pc-gap'")
            assert arm(c) is None and status(c)["incremental_ok"]
            c.execute("SELECT trending.uninstall_capture()")


def test_the_upgrade_from_1_0_brings_the_capture_and_its_drop_guard(make_db, cdsn):
    dsn = make_db("trending_capture_upgrade", extensions=())
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        c.execute("CREATE EXTENSION trending VERSION '1.0' CASCADE")
        c.execute("ALTER EXTENSION trending UPDATE")
        assert c.execute("SELECT count(*) FROM pg_event_trigger WHERE evtname = 'trending_capture_guard_drop' "
                         "AND evtenabled = 'O'").fetchone()[0] == 1
        c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SRC,))
        _create_sources(c)
        c.execute("SELECT trending.install_capture()")
        assert arm(c) is None and status(c)["incremental_ok"]
        c.execute(f"INSERT INTO {SRC}.plays (play_item_id, created_at) VALUES (3, %s)", (T0,))
        assert consume(c)[1] == Counter({(3, T0.replace(minute=0)): 1})
        with pytest.raises(psycopg.errors.DependentObjectsStillExist, match="uninstall_capture"):
            c.execute("DROP EXTENSION trending")
        c.execute("SELECT trending.uninstall_capture()")
        c.execute("DROP EXTENSION trending")
