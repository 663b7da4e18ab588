"""Issue 8, items 1 and 2: a source-table owner cannot run code as the cycle's role.

The source tables belong to a hostile role here (`trust_hostile`). Each test
plants a payload the way an attacker would, then runs a cycle as a superuser
(or as a non-superuser cycle role where superusers are immune, e.g. RLS) and
checks that the cycle refuses with the right SQLSTATE and a message naming
the problem, and that the payload never ran as anyone but its owner.

The payload counts its runs in a sequence (nextval is not rolled back, so a
payload that ran inside a cycle that then failed is still seen) and tries
`ALTER ROLE trust_hostile SUPERUSER`.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from support.harness import ALL_STRATEGIES, enable_strategies, use_source_schema
from support.random_datasets import Dataset, drop_schema, load_dataset, random_dataset, run_cycle

HOSTILE = "trust_hostile"
CYCLER = "trust_cycler"      # a non-superuser cycle role
SETTER = "trust_setter"      # a role with UPDATE on trending.settings (README's dba)
SRC = "trust_src"

ENTRY_POINTS = ["recompute", "procedure"]


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tdsn(make_db):
    dsn = make_db("trending_trust_sources")
    with psycopg.connect(dsn, autocommit=True) as c:
        for role in (HOSTILE, CYCLER, SETTER):
            if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                c.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        # where a payload leaves its trace: anyone may count
        c.execute("CREATE SCHEMA audit")
        c.execute("CREATE SEQUENCE audit.payload_ran")
        c.execute("CREATE TABLE audit.ran (who text, at timestamptz DEFAULT clock_timestamp())")
        c.execute("GRANT USAGE ON SCHEMA audit TO PUBLIC")
        c.execute("GRANT USAGE, UPDATE ON SEQUENCE audit.payload_ran TO PUBLIC")
        c.execute("GRANT INSERT ON audit.ran TO PUBLIC")
        c.execute(sql.SQL("GRANT CREATE ON DATABASE trending_trust_sources TO {}, {}").format(
            sql.Identifier(HOSTILE), sql.Identifier(SETTER)))
    yield dsn
    with psycopg.connect(dsn, autocommit=True) as c:
        for role in (HOSTILE, CYCLER, SETTER):
            c.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))


def _grant_cycle(c, role: str) -> None:
    """What a non-superuser needs to run cycles: trending.grant_cycle when it
    exists (issue 8 item 13), else the grants the README lists today."""
    if c.execute("SELECT 1 FROM pg_proc WHERE proname = 'grant_cycle' "
                 "AND pronamespace = 'trending'::regnamespace").fetchone():
        c.execute("SELECT trending.grant_cycle(%s)", (role,))  # needs the source schema set
        return
    ident = sql.Identifier(role)
    c.execute(sql.SQL("GRANT EXECUTE ON FUNCTION trending.recompute(timestamptz, boolean), "
                      "trending._recompute(timestamptz, boolean) TO {}").format(ident))
    c.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON trending.runs, trending.track_trending_scores, "
                      "trending.playlist_trending_scores TO {}").format(ident))
    c.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA trending TO {}").format(ident))


@pytest.fixture
def db(tdsn):
    """An autocommit superuser connection with a fresh source schema owned by the
    hostile role (tables, enum types, the schema itself) and its payload."""
    with psycopg.connect(tdsn, autocommit=True) as c:
        c.execute("RESET ROLE")
        make_hostile_source(c, SRC, HOSTILE, small_dataset())
        use_source_schema(c, SRC)
        enable_strategies(c, ALL_STRATEGIES)
        _grant_cycle(c, CYCLER)
        yield c
        c.execute("RESET ROLE")
        c.execute("RESET ALL")
        drop_schema(c, SRC)


def small_dataset() -> Dataset:
    return random_dataset(3)


def make_hostile_source(c, schema: str, owner: str, dataset: Dataset) -> None:
    load_dataset(c, schema, dataset)
    ident, o = sql.Identifier(schema), sql.Identifier(owner)
    c.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(ident, o))
    for (kind, name) in c.execute(
            "SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.relname FROM pg_class c "
            "WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p') ORDER BY 2",
            (schema,)).fetchall():
        c.execute(sql.SQL("ALTER {} {}.{} OWNER TO {}").format(sql.SQL(kind), ident, sql.Identifier(name), o))
    for (name,) in c.execute("SELECT t.typname FROM pg_type t WHERE t.typnamespace = %s::regnamespace "
                             "AND t.typtype = 'e'", (schema,)).fetchall():
        c.execute(sql.SQL("ALTER TYPE {}.{} OWNER TO {}").format(ident, sql.Identifier(name), o))
    # the payload, owned by the hostile role: pwn_log() leaves a trace when it
    # runs as anyone else and tries to make its owner a superuser; pwn() and
    # pwn_int() are IMMUTABLE wrappers, so the planner folds them
    c.execute(sql.SQL("SET ROLE {}").format(o))
    c.execute(sql.SQL("""
        CREATE FUNCTION {s}.pwn_log() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
        BEGIN
            IF current_user <> {owner} THEN
                PERFORM pg_catalog.nextval('audit.payload_ran');
                INSERT INTO audit.ran (who) VALUES (current_user);
                BEGIN
                    EXECUTE 'ALTER ROLE ' || quote_ident({owner}) || ' SUPERUSER';
                EXCEPTION WHEN OTHERS THEN NULL;
                END;
            END IF;
            RETURN true;
        END $f$;
        CREATE FUNCTION {s}.pwn() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
            $f$BEGIN RETURN {s}.pwn_log(); END$f$;
        CREATE FUNCTION {s}.pwn_int() RETURNS integer LANGUAGE plpgsql IMMUTABLE AS
            $f$BEGIN PERFORM {s}.pwn_log(); RETURN 0; END$f$;
        GRANT USAGE ON SCHEMA {s} TO PUBLIC;
        """).format(s=ident, owner=sql.Literal(owner)))
    c.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(ident, sql.Identifier(CYCLER)))
    c.execute("RESET ROLE")


def payload_runs(c) -> int:
    last, called = c.execute("SELECT last_value, is_called FROM audit.payload_ran").fetchone()
    return last if called else 0


def is_superuser(c, role: str) -> bool:
    return c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]


def as_hostile(c, *statements: str) -> None:
    c.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(HOSTILE)))
    try:
        for statement in statements:
            c.execute(statement.format(s=SRC))
    finally:
        c.execute("RESET ROLE")


def cycle(c, entry: str, now=None):
    now = now or small_dataset().now
    if entry == "recompute":
        return c.execute("SELECT trending.recompute(%s)", (now,)).fetchone()[0]
    return c.execute("CALL trending.scheduled_recompute(%s)", (now,))


def assert_refused(c, entry: str, error_class, *fragments: str, role: str | None = None):
    """The cycle fails with that SQLSTATE and names every fragment; the payload never ran."""
    before = payload_runs(c)
    if role:
        c.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        with pytest.raises(error_class) as raised:
            cycle(c, entry)
    finally:
        c.execute("RESET ROLE")
    message = raised.value.diag.message_primary
    for fragment in fragments:
        assert fragment in message, message
    assert raised.value.diag.message_hint, "a refusal says what to do"
    assert payload_runs(c) == before, "the owner's code ran as the cycle's role"
    assert not is_superuser(c, HOSTILE)
    return raised.value


# ---------------------------------------------------------------------------
# the repros
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_table_swapped_for_a_view_is_refused(db, entry):
    as_hostile(db, "ALTER TABLE {s}.aggregate_track RENAME TO aggregate_track_data",
               "CREATE VIEW {s}.aggregate_track AS SELECT track_id, repost_count, save_count "
               "FROM {s}.aggregate_track_data WHERE {s}.pwn()")
    assert_refused(db, entry, psycopg.errors.WrongObjectType,
                   f'source schema "{SRC}" cannot feed a cycle',
                   f"{SRC}.aggregate_track is a view, not a plain or partitioned table")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_item_type_column_retyped_with_an_implicit_cast_is_refused(db, entry):
    as_hostile(db, "CREATE TYPE {s}.rt AS (v text)",
               "CREATE FUNCTION {s}.rt_text({s}.rt) RETURNS text LANGUAGE plpgsql IMMUTABLE AS "
               "$f$BEGIN PERFORM {s}.pwn_log(); RETURN $1.v; END$f$",
               "CREATE CAST ({s}.rt AS text) WITH FUNCTION {s}.rt_text({s}.rt) AS IMPLICIT",
               "ALTER TABLE {s}.reposts ALTER COLUMN repost_type TYPE {s}.rt USING ROW(repost_type::text)::{s}.rt")
    assert_refused(db, entry, psycopg.errors.DatatypeMismatch,
                   f"column reposts.repost_type is {SRC}.rt, expected an enum type")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_enum_with_an_owner_made_cast_to_text_is_compared_without_it(db, entry):
    """A legitimate enum column, but its owner added an implicit cast to text:
    the cycle runs and never calls the cast."""
    as_hostile(db, "CREATE FUNCTION {s}.e_text({s}.reposttype) RETURNS text LANGUAGE plpgsql IMMUTABLE AS "
                   "$f$BEGIN PERFORM {s}.pwn_log(); RETURN 'track'; END$f$",
               "CREATE CAST ({s}.reposttype AS text) WITH FUNCTION {s}.e_text({s}.reposttype) AS IMPLICIT",
               "CREATE FUNCTION {s}.se_text({s}.savetype) RETURNS text LANGUAGE plpgsql IMMUTABLE AS "
               "$f$BEGIN PERFORM {s}.pwn_log(); RETURN 'track'; END$f$",
               "CREATE CAST ({s}.savetype AS text) WITH FUNCTION {s}.se_text({s}.savetype) AS IMPLICIT")
    before = payload_runs(db)
    cycle(db, entry)
    assert payload_runs(db) == before
    assert db.execute("SELECT status FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone() == ("ok",)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_settings_writer_pointing_at_a_schema_of_views_is_refused(db, entry):
    """Item 2: UPDATE on trending.settings (the README's dba grant) must not let
    its holder run code as the next cycle's role."""
    db.execute(sql.SQL("GRANT UPDATE ON trending.settings TO {}").format(sql.Identifier(SETTER)))
    try:
        make_hostile_source(db, "trust_evil", SETTER, small_dataset())
        db.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(SETTER)))
        db.execute("ALTER TABLE trust_evil.tracks RENAME TO tracks_data")
        db.execute("CREATE VIEW trust_evil.tracks AS SELECT * FROM trust_evil.tracks_data WHERE trust_evil.pwn()")
        db.execute("UPDATE trending.settings SET value = 'trust_evil' WHERE name = 'source_schema'")
        db.execute("RESET ROLE")
        error = assert_refused(db, entry, psycopg.errors.WrongObjectType,
                               'source schema "trust_evil" cannot feed a cycle',
                               "trust_evil.tracks is a view")
        assert not is_superuser(db, SETTER)
        assert error.diag.sqlstate == "42809"
    finally:
        db.execute("RESET ROLE")
        drop_schema(db, "trust_evil")
        db.execute(sql.SQL("REVOKE UPDATE ON trending.settings FROM {}").format(sql.Identifier(SETTER)))


# ---------------------------------------------------------------------------
# the class: every way a source's owner gets code evaluated by a read
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_index_predicate_calling_an_owner_function_is_refused(db, entry):
    # the planner folds the IMMUTABLE pwn() in the predicate when it considers the index
    as_hostile(db, "CREATE INDEX tracks_pwn ON {s}.tracks (track_id) WHERE {s}.pwn()")
    assert_refused(db, entry, psycopg.errors.InsufficientPrivilege,
                   f"index {SRC}.tracks_pwn of {SRC}.tracks depends on function {SRC}.pwn(), "
                   f"owned by {HOSTILE}, who is not a superuser")


def test_extended_statistics_calling_an_owner_function_are_refused(db):
    # expressions of extended statistics go through eval_const_expressions at plan time
    as_hostile(db, "CREATE STATISTICS {s}.tracks_pwn_stats ON ((owner_id + {s}.pwn_int())) FROM {s}.tracks",
               "ANALYZE {s}.tracks")
    assert_refused(db, "recompute", psycopg.errors.InsufficientPrivilege,
                   f"statistics object {SRC}.tracks_pwn_stats of {SRC}.tracks depends on function "
                   f"{SRC}.pwn_int()")


def test_a_check_constraint_or_operator_of_the_owner_is_refused(db):
    as_hostile(db, "CREATE FUNCTION {s}.eq(integer, integer) RETURNS boolean LANGUAGE sql IMMUTABLE "
                   "AS 'SELECT $1 = $2'",
               "CREATE OPERATOR {s}.=== (function = {s}.eq, leftarg = integer, rightarg = integer)",
               "ALTER TABLE {s}.aggregate_user ADD CONSTRAINT pwn CHECK (user_id OPERATOR({s}.===) user_id)")
    assert_refused(db, "recompute", psycopg.errors.InsufficientPrivilege,
                   f"on table {SRC}.aggregate_user depends on operator {SRC}.===(integer,integer)")


def test_row_level_security_is_refused(db):
    """RLS policies run as the reader (superusers bypass them, so the cycle
    runs as a non-superuser role here)."""
    as_hostile(db, "ALTER TABLE {s}.plays ENABLE ROW LEVEL SECURITY",
               "CREATE POLICY pwn ON {s}.plays USING ({s}.pwn_log())")
    assert_refused(db, "recompute", psycopg.errors.InsufficientPrivilege,
                   f"row-level security is enabled on {SRC}.plays", role=CYCLER)


def _partition_plays(c, schema: str = SRC) -> None:
    """plays as a partitioned table: the old rows become its default partition."""
    s = sql.Identifier(schema)
    c.execute(sql.SQL("ALTER TABLE {s}.plays RENAME TO plays_rest").format(s=s))
    c.execute(sql.SQL("CREATE TABLE {s}.plays (LIKE {s}.plays_rest) PARTITION BY RANGE (created_at)").format(s=s))
    c.execute(sql.SQL("CREATE TABLE {s}.plays_2000 PARTITION OF {s}.plays "
                      "FOR VALUES FROM ('2000-01-01') TO ('2001-01-01')").format(s=s))
    c.execute(sql.SQL("ALTER TABLE {s}.plays ATTACH PARTITION {s}.plays_rest DEFAULT").format(s=s))


def test_a_partition_with_row_level_security_is_refused(db):
    as_hostile(db, "ALTER TABLE {s}.plays RENAME TO plays_rest",
               "CREATE TABLE {s}.plays (LIKE {s}.plays_rest) PARTITION BY RANGE (created_at)",
               "CREATE TABLE {s}.plays_2000 PARTITION OF {s}.plays FOR VALUES FROM ('2000-01-01') TO ('2001-01-01')",
               "ALTER TABLE {s}.plays ATTACH PARTITION {s}.plays_rest DEFAULT",
               "ALTER TABLE {s}.plays_2000 ENABLE ROW LEVEL SECURITY",
               "CREATE POLICY pwn ON {s}.plays_2000 USING ({s}.pwn_log())",
               "GRANT SELECT ON {s}.plays TO " + CYCLER)
    assert_refused(db, "recompute", psycopg.errors.InsufficientPrivilege,
                   f"row-level security is enabled on {SRC}.plays_2000 (a partition of {SRC}.plays)", role=CYCLER)


def test_an_inheritance_child_with_an_owner_index_is_refused(db):
    as_hostile(db, "CREATE TABLE {s}.plays_more () INHERITS ({s}.plays)",
               "CREATE INDEX plays_more_pwn ON {s}.plays_more (play_item_id) WHERE {s}.pwn()")
    assert_refused(db, "recompute", psycopg.errors.InsufficientPrivilege,
                   f"index {SRC}.plays_more_pwn of {SRC}.plays_more (a child of {SRC}.plays) depends on "
                   f"function {SRC}.pwn()")


def test_a_source_that_is_a_partition_of_an_owner_keyed_table_is_refused(db):
    # its partition constraint comes from the parent's key; constraint_exclusion = on evaluates it
    as_hostile(db, "CREATE TABLE {s}.agg_parent (LIKE {s}.aggregate_track) "
                   "PARTITION BY RANGE ((track_id + {s}.pwn_int()))",
               "ALTER TABLE {s}.agg_parent ATTACH PARTITION {s}.aggregate_track "
               "FOR VALUES FROM (MINVALUE) TO (MAXVALUE)")
    db.execute("SET constraint_exclusion = on")
    assert_refused(db, "recompute", psycopg.errors.InsufficientPrivilege,
                   f"the partition key of {SRC}.agg_parent (an ancestor of {SRC}.aggregate_track) "
                   f"depends on function {SRC}.pwn_int()")


def test_a_foreign_table_partition_is_refused(db):
    # CREATE FOREIGN DATA WRAPPER needs a superuser; the owner only uses its server
    db.execute("DROP FOREIGN DATA WRAPPER IF EXISTS trust_fdw CASCADE")
    db.execute("CREATE FOREIGN DATA WRAPPER trust_fdw")
    db.execute("CREATE SERVER trust_server FOREIGN DATA WRAPPER trust_fdw")
    db.execute(sql.SQL("GRANT USAGE ON FOREIGN SERVER trust_server TO {}").format(sql.Identifier(HOSTILE)))
    try:
        as_hostile(db, "ALTER TABLE {s}.plays RENAME TO plays_rest",
                   "CREATE TABLE {s}.plays (LIKE {s}.plays_rest) PARTITION BY RANGE (created_at)",
                   "ALTER TABLE {s}.plays ATTACH PARTITION {s}.plays_rest DEFAULT",
                   "CREATE FOREIGN TABLE {s}.plays_remote PARTITION OF {s}.plays "
                   "FOR VALUES FROM ('2000-01-01') TO ('2001-01-01') SERVER trust_server")
        assert_refused(db, "recompute", psycopg.errors.WrongObjectType,
                       f"{SRC}.plays_remote (a partition of {SRC}.plays) is a foreign table")
    finally:
        drop_schema(db, SRC)
        db.execute("DROP FOREIGN DATA WRAPPER trust_fdw CASCADE")


def test_a_domain_typed_column_is_refused(db):
    # a domain's CHECK is the owner's code; look-alike types are refused by OID
    as_hostile(db, "CREATE DOMAIN {s}.kind AS text CHECK ({s}.pwn())",
               "ALTER TABLE {s}.saves ALTER COLUMN save_type TYPE {s}.kind USING save_type::text",
               'CREATE DOMAIN {s}."integer" AS bigint',
               'ALTER TABLE {s}.aggregate_plays ALTER COLUMN count TYPE {s}."integer"')
    assert_refused(db, "recompute", psycopg.errors.DatatypeMismatch,
                   f"column saves.save_type is {SRC}.kind, expected an enum type",
                   f'column aggregate_plays.count is {SRC}."integer", expected bigint or integer or smallint')


def test_an_enum_without_a_label_the_cycle_compares_is_refused(db):
    as_hostile(db, "CREATE TYPE {s}.only_tracks AS ENUM ('track')",
               "ALTER TABLE {s}.reposts ALTER COLUMN repost_type TYPE {s}.only_tracks "
               "USING 'track'::{s}.only_tracks")
    assert_refused(db, "recompute", psycopg.errors.DatatypeMismatch,
                   f"column reposts.repost_type: enum type {SRC}.only_tracks has no label 'playlist'")


def test_repeatable_read_is_refused(db):
    with psycopg.connect(db.info.dsn) as c:
        c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.InvalidTransactionState) as raised:
            cycle(c, "recompute")
        c.rollback()
    assert "REPEATABLE READ" in raised.value.diag.message_primary
    assert "READ COMMITTED" in raised.value.diag.message_hint
    # the procedure's transactions take the session's default
    db.execute("SET default_transaction_isolation = 'repeatable read'")
    try:
        with pytest.raises(psycopg.errors.InvalidTransactionState, match="REPEATABLE READ"):
            cycle(db, "procedure")
    finally:
        db.execute("RESET default_transaction_isolation")
    assert db.execute("SELECT status, sqlstate FROM trending.runs ORDER BY run_id DESC LIMIT 1"
                      ).fetchone() == ("failed", "25000")


def test_a_table_swapped_between_the_procedures_steps_is_refused(db, tdsn):
    """The procedure commits after each step: a swap after track_inputs is
    seen by playlist_inputs, which checks again under its own lock."""
    db.execute("SET trending.test_pause_after = 'track_inputs:3'")
    before = payload_runs(db)
    failure = {}

    def call():
        try:
            cycle(db, "procedure")
        except psycopg.Error as error:
            failure["error"] = error

    worker = threading.Thread(target=call)
    worker.start()
    pid = db.info.backend_pid
    with psycopg.connect(tdsn, autocommit=True) as other:
        deadline = time.monotonic() + 30
        while not other.execute("SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s",
                                (pid,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the procedure never paused"
            time.sleep(0.05)
        other.execute("SET lock_timeout = '2s'")
        as_hostile(other, "ALTER TABLE {s}.aggregate_playlist RENAME TO aggregate_playlist_data",
                   "CREATE VIEW {s}.aggregate_playlist AS SELECT * FROM {s}.aggregate_playlist_data "
                   "WHERE {s}.pwn()")
        assert other.execute("SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s",
                             (pid,)).fetchone()[0], "the swap happened during the pause"
    worker.join(60)
    db.execute("RESET trending.test_pause_after")
    error = failure.get("error")
    assert isinstance(error, psycopg.errors.WrongObjectType), error
    assert f"{SRC}.aggregate_playlist is a view" in error.diag.message_primary
    assert payload_runs(db) == before
    assert not is_superuser(db, HOSTILE)
    assert db.execute("SELECT status, sqlstate FROM trending.runs ORDER BY run_id DESC LIMIT 1"
                      ).fetchone() == ("failed", "42809")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("ddl", [
    "CREATE INDEX plays_pwn ON {s}.plays (play_item_id) WHERE {s}.pwn()",  # SHARE: no conflict with a read
    "CREATE STATISTICS {s}.plays_pwn ON (play_item_id + {s}.pwn_int()), created_at FROM {s}.plays",
], ids=["index", "statistics"])
def test_ddl_the_reads_lock_allows_is_refused_in_the_middle_of_a_step(db, tdsn, entry, ddl):
    """CREATE INDEX (SHARE) and CREATE STATISTICS (SHARE UPDATE EXCLUSIVE)
    do not wait for a reader's ACCESS SHARE: committed after a step's first
    check, before its next statement reads plays, they are caught by the check
    that precedes every statement reading the sources."""
    db.execute("SET trending.test_pause_after = 'track_inputs/inputs:3'")
    before = payload_runs(db)
    failure = {}

    def call():
        try:
            cycle(db, entry)
        except psycopg.Error as error:
            failure["error"] = error

    worker = threading.Thread(target=call)
    worker.start()
    pid = db.info.backend_pid
    try:
        with psycopg.connect(tdsn, autocommit=True) as other:
            deadline = time.monotonic() + 30
            while not other.execute("SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s",
                                    (pid,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the cycle never paused"
                time.sleep(0.05)
            other.execute("SET lock_timeout = '2s'")
            as_hostile(other, ddl)
            assert other.execute("SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = %s",
                                 (pid,)).fetchone()[0], "the DDL committed during the pause"
    finally:
        worker.join(60)
        db.execute("RESET trending.test_pause_after")
        as_hostile(db, "DROP INDEX IF EXISTS {s}.plays_pwn", "DROP STATISTICS IF EXISTS {s}.plays_pwn")
    error = failure.get("error")
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
    assert "plays_pwn" in error.diag.message_primary
    assert payload_runs(db) == before, "the owner's code ran as the cycle's role"
    assert not is_superuser(db, HOSTILE)


def test_underground_tracks_refuses_a_view(db):
    """underground_tracks() reads tracks and aggregate_user as its caller."""
    db.execute("DELETE FROM trending.track_trending_scores")
    db.execute("INSERT INTO trending.track_trending_scores (track_id, type, version, time_range, score, genre, created_at) "
               "SELECT g, 'TRACKS', 'pnagD', 'week', g, 'Electronic', now() FROM generate_series(1, 30) g")
    db.execute("SELECT * FROM trending.underground_tracks('week')")  # fine before the swap
    as_hostile(db, "ALTER TABLE {s}.aggregate_user RENAME TO aggregate_user_data",
               "CREATE VIEW {s}.aggregate_user AS SELECT * FROM {s}.aggregate_user_data WHERE {s}.pwn()")
    before = payload_runs(db)
    with pytest.raises(psycopg.errors.WrongObjectType) as raised:
        db.execute("SELECT * FROM trending.underground_tracks('week')")
    assert f"{SRC}.aggregate_user is a view" in raised.value.diag.message_primary
    assert raised.value.diag.message_hint
    assert payload_runs(db) == before
    assert not is_superuser(db, HOSTILE)
    db.execute("DELETE FROM trending.track_trending_scores")


def test_underground_tracks_refuses_repeatable_read(db):
    db.execute("INSERT INTO trending.track_trending_scores (track_id, type, version, time_range, score, genre, created_at) "
               "SELECT g, 'TRACKS', 'pnagD', 'week', g, 'Electronic', now() FROM generate_series(1, 30) g")
    try:
        with psycopg.connect(db.info.dsn) as c:
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            with pytest.raises(psycopg.errors.InvalidTransactionState):
                c.execute("SELECT * FROM trending.underground_tracks('week')")
    finally:
        db.execute("DELETE FROM trending.track_trending_scores")


# ---------------------------------------------------------------------------
# what stays allowed
# ---------------------------------------------------------------------------
def test_partitioned_plays_and_built_in_expression_indexes_match_the_oracle(db):
    dataset = random_dataset(11)
    make_hostile_source(db, SRC, HOSTILE, dataset)
    cut = (dataset.now_utc - timedelta(days=10)).isoformat()
    as_hostile(db, "ALTER TABLE {s}.plays RENAME TO plays_rest",
               "CREATE TABLE {s}.plays (LIKE {s}.plays_rest INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)",
               f"CREATE TABLE {{s}}.plays_recent PARTITION OF {{s}}.plays FOR VALUES FROM ('{cut}') TO (MAXVALUE)",
               f"INSERT INTO {{s}}.plays_recent SELECT * FROM {{s}}.plays_rest WHERE created_at >= '{cut}'",
               f"DELETE FROM {{s}}.plays_rest WHERE created_at >= '{cut}'",
               "ALTER TABLE {s}.plays_rest ADD CONSTRAINT sane CHECK (play_item_id > 0 OR play_item_id <= 0)",
               "ALTER TABLE {s}.plays ATTACH PARTITION {s}.plays_rest DEFAULT",
               "CREATE INDEX ON {s}.plays (play_item_id, date_trunc('day', created_at))",
               "CREATE INDEX ON {s}.tracks (lower(genre)) WHERE is_current",
               "CREATE STATISTICS {s}.tracks_stats ON owner_id, (track_id % 7) FROM {s}.tracks",
               "ANALYZE {s}.tracks")
    assert db.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass",
                      (f"{SRC}.plays",)).fetchone()[0] == 2
    before = payload_runs(db)
    result = run_cycle(db, SRC, dataset, load=False, keep_schema=True)
    result.assert_matches_oracle()
    cycle(db, "procedure", dataset.now)
    assert db.execute("SELECT status FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone() == ("ok",)
    assert payload_runs(db) == before
