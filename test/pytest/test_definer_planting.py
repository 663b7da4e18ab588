"""Nothing a cycle role plants runs as the extension's owner (issue 17, item 3).

The SECURITY DEFINER writers (trending._apply_slice, trending._state_write)
run as the extension's owner, a superuser, and read temp tables a cycle
stages. On 1.1 the calling session created those tables, so a CHECK
constraint on one was planned (constraint_exclusion = on) into the owner's
statement: the job role became a superuser. In 1.2 they are made by
trending._staging_table, owned by the extension's owner (docs/security.md,
"What a definer function reads").

For every relation a definer reads and every kind of object a caller could
attach, from the job role's own session (LOGIN, given trending.grant_cycle,
constraint_exclusion = on, a run of its own started):

- in_place:   the session makes the relation itself, carrying the object, and
              calls the definer: refused (55000), the payload never runs as
              the owner;
- on_staging: the session stages the relation the cycle's way and tries to
              attach the object to it: refused (it owns nothing there); the
              definer then reads the table without running the payload.

The payload records current_user (a row, and a NOTICE, which a rollback
does not take back) and makes the job role a superuser when it runs as one.
Pass: the job role is still no superuser and the payload ran as nobody but
the job role. Positive controls: the payload called directly records, and
on 1.1 the CHECK of the issue does make the role a superuser.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset

SOURCE = "music"
DATASET = random_dataset(1717)
JOB = "planting_job"
JOB_11 = "planting_job_11"

_CHANGES = [("stored_tid", "tid"), ("stored_id", "integer"), ("type", "text"), ("version", "text"),
            ("time_range", "text"), ("id", "integer"), ("score", "double precision")]
_ACTIONS = [("track_id", "bigint"), ("is_repost", "boolean"), ("user_id", "bigint"), ("created_at", "timestamp")]
_FILENODE = "(SELECT pg_relation_filenode('trending.{kind}_trending_scores'))"

# Every relation a definer reads that a caller could influence: its columns
# (None: those of the state table it stages, read from the catalog), the
# definer call that reads it, and the other staging tables that call reads.
_TRACK_STATE = ("trending_track_state", "trending_track_engagements", "trending_track_affected",
                "trending_track_reread", "trending_track_action_pairs", "trending_track_pair_rows")
_PLAYLIST_STATE = ("trending_playlist_state", "trending_playlist_engagement_hours", "trending_playlist_owners",
                   "trending_playlist_affected")
RELATIONS = {
    "trending_track_changes": (
        _CHANGES + [("genre", "character varying")],
        "SELECT trending._apply_slice({run}, 'track', 'TRACKS', 'pnagD', 'week', now()::timestamp, "
        + _FILENODE.format(kind="track") + ")", ("trending_track_changes",)),
    "trending_playlist_changes": (
        _CHANGES,
        "SELECT trending._apply_slice({run}, 'playlist', 'PLAYLISTS', 'pnagD', 'week', now()::timestamp, "
        + _FILENODE.format(kind="playlist") + ")", ("trending_playlist_changes",)),
    "trending_play_hours": (
        [("track_id", "bigint"), ("hour", "timestamp"), ("n_source", "bigint"), ("n_after", "bigint")],
        "SELECT trending._state_write({run}, 'play_buckets', true)", ("trending_play_hours",)),
    "trending_track_user_state": (
        [("user_id", "bigint"), ("weight", "numeric"), ("negative", "boolean")],
        "SELECT trending._state_write({run}, 'track_users', true)", ("trending_track_user_state",)),
    "trending_playlist_user_state": (
        [("user_id", "bigint"), ("weight", "numeric"), ("negative", "boolean")],
        "SELECT trending._state_write({run}, 'playlist_users', false)", ("trending_playlist_user_state",)),
    "trending_track_state": (None, "SELECT trending._state_write({run}, 'track', false)", _TRACK_STATE),
    "trending_track_engagements": (
        _ACTIONS, "SELECT trending._state_write({run}, 'track', false)", _TRACK_STATE),
    "trending_track_affected": ([("id", "bigint")], "SELECT trending._state_write({run}, 'track', false)",
                                _TRACK_STATE),
    "trending_track_reread": ([("id", "bigint")], "SELECT trending._state_write({run}, 'track', false)",
                              _TRACK_STATE),
    "trending_track_action_pairs": (
        [("track_id", "bigint"), ("user_id", "bigint"), ("is_repost", "boolean")],
        "SELECT trending._state_write({run}, 'track', false)", _TRACK_STATE),
    "trending_track_pair_rows": (
        _ACTIONS, "SELECT trending._state_write({run}, 'track', false)", _TRACK_STATE),
    "trending_playlist_state": (None, "SELECT trending._state_write({run}, 'playlist', false)", _PLAYLIST_STATE),
    "trending_playlist_engagement_hours": (
        [("hour", "timestamp"), ("item_id", "bigint")],
        "SELECT trending._state_write({run}, 'playlist', true)", _PLAYLIST_STATE),
    "trending_playlist_owners": (
        [("playlist_id", "bigint"), ("owner_id", "bigint")],
        "SELECT trending._state_write({run}, 'playlist', true)", _PLAYLIST_STATE),
    "trending_playlist_affected": ([("id", "bigint")], "SELECT trending._state_write({run}, 'playlist', false)",
                                   _PLAYLIST_STATE),
}

# The payload: records who runs it and, run as a superuser, makes the job
# role one. i() is IMMUTABLE so that the planner folds it (constraint
# exclusion, constant folding); k(x) the same with an argument.
PAYLOAD = """
CREATE FUNCTION pg_temp.payload() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'planted payload ran as %', current_user;
    INSERT INTO planter.ran_as VALUES (current_user);
    IF (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
        EXECUTE format('ALTER ROLE %I SUPERUSER', {job});
    END IF;
    RETURN true;
END$$;
CREATE FUNCTION pg_temp.i() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$BEGIN RETURN pg_temp.payload(); END$$;
CREATE FUNCTION pg_temp.k(anyelement) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
    $$BEGIN RETURN pg_temp.payload(); END$$;
CREATE FUNCTION pg_temp.trg() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN PERFORM pg_temp.payload(); RETURN NULL; END$$;
"""

KINDS = ("check", "check_not_valid", "default", "generated", "domain", "composite", "view", "partitioned",
         "index", "rule", "trigger")


def _null_of(type_: str) -> str:
    """A value of the type that runs the payload when computed."""
    return f"(CASE WHEN pg_temp.i() THEN NULL END)::{type_}"


def plant_in_place(name: str, columns: list[tuple[str, str]], kind: str) -> list[str]:
    """Statements by which the session makes pg_temp.<name> itself, carrying one kind of object."""
    (first, first_type), (last, last_type) = columns[0], columns[-1]
    plain = ", ".join(f"{c} {t}" for c, t in columns)
    create = f"CREATE TEMP TABLE {name} ({plain})"
    with_first = lambda definition: ", ".join(  # noqa: E731
        [f"{first} {definition}"] + [f"{c} {t}" for c, t in columns[1:]])
    if kind == "check":
        return [f"CREATE TEMP TABLE {name} ({plain}, CHECK (pg_temp.i()))"]
    if kind == "check_not_valid":
        return [create, f"ALTER TABLE pg_temp.{name} ADD CONSTRAINT planted CHECK (pg_temp.i()) NOT VALID"]
    if kind == "default":
        return [f"CREATE TEMP TABLE {name} ({with_first(f'{first_type} DEFAULT {_null_of(first_type)}')})"]
    if kind == "generated":
        others = ", ".join(f"{c} {t}" for c, t in columns[:-1])
        return [f"CREATE TEMP TABLE {name} ({others}{', ' if others else ''}"
                f"{last} {last_type} GENERATED ALWAYS AS ({_null_of(last_type)}) STORED)"]
    if kind == "domain":
        return [f"CREATE DOMAIN pg_temp.planted AS {first_type} CHECK (pg_temp.i())",
                f"CREATE TEMP TABLE {name} ({with_first('pg_temp.planted')})"]
    if kind == "composite":
        return [f"CREATE DOMAIN pg_temp.planted_d AS {first_type} CHECK (pg_temp.i())",
                "CREATE TYPE pg_temp.planted AS (v pg_temp.planted_d)",
                f"CREATE TEMP TABLE {name} ({with_first('pg_temp.planted')})"]
    if kind == "view":
        return [f"CREATE TEMP VIEW {name} AS SELECT "
                + ", ".join(f"{_null_of(t)} AS {c}" for c, t in columns)]
    if kind == "partitioned":
        return [f"CREATE TEMP TABLE {name} ({plain}) PARTITION BY LIST ((pg_temp.k({first})))",
                f"CREATE TEMP TABLE planted_part PARTITION OF pg_temp.{name} (CHECK (pg_temp.i())) DEFAULT"]
    if kind == "index":
        return [create, f"CREATE INDEX planted ON pg_temp.{name} ((pg_temp.k({first}))) WHERE pg_temp.k({last})"]
    if kind == "rule":
        return [create] + [f"CREATE RULE planted_{event.lower()} AS ON {event} TO pg_temp.{name} "
                           f"DO ALSO SELECT pg_temp.payload()" for event in ("INSERT", "UPDATE", "DELETE")]
    if kind == "trigger":
        return [create, f"CREATE TRIGGER planted BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON pg_temp.{name} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.trg()"]
    raise AssertionError(kind)


def plant_on_staging(name: str, columns: list[tuple[str, str]], kind: str) -> list[str]:
    """Statements that try to attach one kind of object to the staging table
    trending._staging_table made (each must fail: the session owns nothing)."""
    (first, first_type), (last, last_type) = columns[0], columns[-1]
    table = f"pg_temp.{name}"
    return {
        "check": [f"ALTER TABLE {table} ADD CONSTRAINT planted CHECK (pg_temp.i())"],
        "check_not_valid": [f"ALTER TABLE {table} ADD CONSTRAINT planted CHECK (pg_temp.i()) NOT VALID"],
        "default": [f"ALTER TABLE {table} ALTER COLUMN {first} SET DEFAULT {_null_of(first_type)}"],
        "generated": [f"ALTER TABLE {table} ADD COLUMN planted {last_type} "
                      f"GENERATED ALWAYS AS ({_null_of(last_type)}) STORED"],
        "domain": [f"CREATE DOMAIN pg_temp.planted AS {first_type} CHECK (pg_temp.i())",
                   f"ALTER TABLE {table} ALTER COLUMN {first} TYPE pg_temp.planted"],
        "composite": ["CREATE TYPE pg_temp.planted AS (v integer)",
                      f"ALTER TABLE {table} ALTER COLUMN {first} TYPE pg_temp.planted USING NULL"],
        # a view or a partitioned table in its place: the staging table must go first
        "view": [f"DROP TABLE {table}"],
        # ... or a child whose CHECK constraint exclusion would read
        "partitioned": [f"CREATE TEMP TABLE planted_child (CHECK (pg_temp.i())) INHERITS ({table})"],
        "index": [f"CREATE INDEX planted ON {table} ((pg_temp.k({first}))) WHERE pg_temp.k({last})"],
        "rule": [f"CREATE RULE planted AS ON INSERT TO {table} DO ALSO SELECT pg_temp.payload()"],
        "trigger": [f"CREATE TRIGGER planted BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.trg()"],
    }[kind]


def _make_job(conn, role: str) -> None:
    if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone():  # left by an earlier session
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    conn.execute("SELECT trending.grant_cycle(%s)", (role,))
    conn.execute(sql.SQL("CREATE SCHEMA planter AUTHORIZATION {}").format(sql.Identifier(role)))
    conn.execute("CREATE TABLE planter.ran_as (who name)")
    conn.execute(sql.SQL("ALTER TABLE planter.ran_as OWNER TO {}").format(sql.Identifier(role)))


def _database(make_db, name: str, role: str, version: str | None = None) -> str:
    dsn = make_db(name, extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION trending" + (f" VERSION '{version}'" if version else "") + " CASCADE")
        load_dataset(conn, SOURCE, DATASET)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        _make_job(conn, role)
    return dsn


@pytest.fixture(scope="module")
def dsn(make_db):
    return _database(make_db, "definer_planting", JOB)


@pytest.fixture
def admin(dsn):
    """A superuser connection; the payload's records emptied."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE planter.ran_as")
        yield conn
        conn.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(JOB)))  # whatever happened


def _columns(admin, name: str) -> list[tuple[str, str]]:
    columns = RELATIONS[name][0]
    if columns is None:  # a state staging: the state table's columns
        table = "trending._state_tracks" if name.startswith("trending_track") else "trending._state_playlists"
        columns = admin.execute("SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                                "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                                "ORDER BY a.attnum", (table,)).fetchall()
    return columns


class JobSession:
    """The job role's own session with a run of its own started and
    constraint_exclusion = on; keeps the notices it is sent."""

    def __init__(self, dsn: str, role: str):
        self.role = role
        self.conn = psycopg.connect(make_conninfo(dsn, user=role), autocommit=True)
        self.notices: list[str] = []
        self.conn.add_notice_handler(lambda d: self.notices.append(d.message_primary))
        assert self.conn.execute("SELECT current_user, session_user").fetchone() == (role, role)
        (self.run_id,) = self.conn.execute("SELECT trending._scheduled_start(now(), true)").fetchone()
        assert self.run_id is not None, "the job role's run started"
        self.conn.execute("SET constraint_exclusion = on")
        self.conn.execute(PAYLOAD.replace("{job}", f"'{role}'"))

    def execute(self, statement: str):
        return self.conn.execute(statement)

    def close(self, admin):
        """Disconnect and wait for the backend to exit (its run's lock goes with it)."""
        pid = self.conn.info.backend_pid
        self.conn.close()
        deadline = time.monotonic() + 30
        while admin.execute("SELECT FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the job's backend did not exit"
            time.sleep(0.02)


def _ran_as(admin) -> set[str]:
    return {r[0] for r in admin.execute("SELECT who FROM planter.ran_as")}


def _superuser(admin, role: str) -> bool:
    return admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0]


def _assert_never_ran_as_anyone_else(admin, job: JobSession) -> None:
    assert not _superuser(admin, job.role), "the job role became a superuser"
    assert _ran_as(admin) <= {job.role}, f"the payload ran as {_ran_as(admin)}"
    ran_as = {n.rsplit(" ", 1)[1] for n in job.notices if n.startswith("planted payload ran as")}
    assert ran_as <= {job.role}, f"the payload ran as {ran_as} (its rows rolled back)"


IDS = [(name, kind) for name in RELATIONS for kind in KINDS]


@pytest.mark.parametrize(("name", "kind"), IDS, ids=[f"{n}-{k}" for n, k in IDS])
def test_a_relation_the_session_made_is_refused_and_runs_nothing_as_the_owner(dsn, admin, name, kind):
    columns = _columns(admin, name)
    _, reader, reads = RELATIONS[name]
    job = JobSession(dsn, JOB)
    try:
        for other in reads:
            if other != name:
                job.execute(f"SELECT trending._staging_table('{other}')")
        for statement in plant_in_place(name, columns, kind):
            job.execute(statement)
        refused = None
        try:
            job.execute(reader.format(run=job.run_id))
        except psycopg.errors.ObjectNotInPrerequisiteState as error:
            refused = error
        _assert_never_ran_as_anyone_else(admin, job)  # first: what 1.1 got wrong
        assert refused is not None and name in str(refused), "the definer read a relation the session made"
    finally:
        job.close(admin)


@pytest.mark.parametrize(("name", "kind"), IDS, ids=[f"{n}-{k}" for n, k in IDS])
def test_nothing_can_be_attached_to_a_staging_table(dsn, admin, name, kind):
    columns = _columns(admin, name)
    _, reader, reads = RELATIONS[name]
    job = JobSession(dsn, JOB)
    try:
        for other in reads:
            job.execute(f"SELECT trending._staging_table('{other}')")
        attempts = plant_on_staging(name, columns, kind)
        for statement in attempts[:-1]:  # the session's own objects (a domain, a type)
            job.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            job.execute(attempts[-1])
        job.execute(reader.format(run=job.run_id))  # reads the staging table as it was made
        _assert_never_ran_as_anyone_else(admin, job)
    finally:
        job.close(admin)


def test_the_staging_tables_are_the_owners_and_the_session_may_only_fill_and_read_them(dsn, admin):
    job = JobSession(dsn, JOB)
    try:
        for name in RELATIONS:
            job.execute(f"SELECT trending._staging_table('{name}')")
        rows = job.execute("SELECT c.relname::text, pg_get_userbyid(c.relowner)::text, c.relacl::text[] "
                           "FROM pg_class c WHERE c.relnamespace = pg_my_temp_schema()").fetchall()
        extension_owner = admin.execute("SELECT pg_get_userbyid(extowner)::text FROM pg_extension "
                                        "WHERE extname = 'trending'").fetchone()[0]
        assert sorted(r[0] for r in rows) == sorted(RELATIONS)
        for name, owner, acl in rows:
            assert owner == extension_owner, name
            assert [a for a in acl if not a.startswith(f"{owner}=")] == [f"=ar/{owner}"], (name, acl)
        # a second staging of the same name replaces the table; a name outside the catalogue is refused
        job.execute("INSERT INTO pg_temp.trending_track_affected VALUES (1)")
        job.execute("SELECT trending._staging_table('trending_track_affected')")
        assert job.execute("SELECT count(*) FROM pg_temp.trending_track_affected").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            job.execute("SELECT trending._staging_table('trending_track_inputs')")
        for statement in ("DELETE FROM pg_temp.trending_track_affected", "TRUNCATE pg_temp.trending_track_affected",
                          "UPDATE pg_temp.trending_track_affected SET id = 2",
                          "ALTER TABLE pg_temp.trending_track_affected RENAME TO mine"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                job.execute(statement)
        assert job.execute("SELECT trending._staging_drop()").fetchone() == (len(RELATIONS),)
        assert job.execute("SELECT to_regclass('pg_temp.trending_track_affected')").fetchone() == (None,)
    finally:
        job.close(admin)


def test_the_definers_read_no_temp_table_but_through_the_checked_staging(admin):
    """The relations above are all a definer reads that a caller could make:
    only _apply_slice and _state_write read temp tables, each through
    _safe_temp_table, and every name they read is in the staging catalogue."""
    def definers(pattern: str) -> set[str]:
        return {r[0] for r in admin.execute(
            "SELECT p.proname::text FROM pg_proc p WHERE p.pronamespace = 'trending'::regnamespace "
            "AND p.prosecdef AND p.prosrc ~ %s", (pattern,))}
    assert definers("_safe_temp_table") == {"_apply_slice", "_state_write"}
    assert definers("pg_temp\\.|pg_my_temp_schema") == {"_staging_table", "_staging_analyze", "_staging_drop"}
    assert all(admin.execute("SELECT trending._staging_columns(%s) IS NOT NULL", (name,)).fetchone()[0]
               for name in RELATIONS)


def test_positive_control_the_payload_called_directly_records(dsn, admin):
    job = JobSession(dsn, JOB)
    try:
        job.execute("SELECT pg_temp.payload()")
        assert _ran_as(admin) == {JOB}
        assert [n for n in job.notices if n.startswith("planted")] == [f"planted payload ran as {JOB}"]
        assert not _superuser(admin, JOB)
    finally:
        job.close(admin)


def test_positive_control_on_1_1_the_check_made_the_job_role_a_superuser(make_db):
    """The issue's reproduction, on 1.1: the harness sees the escalation (and
    undoes it)."""
    dsn = _database(make_db, "definer_planting_11", JOB_11, version="1.1")
    with psycopg.connect(dsn, autocommit=True) as admin:
        job = JobSession(dsn, JOB_11)
        try:
            columns = RELATIONS["trending_track_user_state"][0]
            for statement in plant_in_place("trending_track_user_state", columns, "check"):
                job.execute(statement)
            job.execute(f"SELECT trending._state_write({job.run_id}, 'track_users', true)")
            owner = admin.execute("SELECT pg_get_userbyid(extowner)::text FROM pg_extension "
                                  "WHERE extname = 'trending'").fetchone()[0]
            assert owner in _ran_as(admin), "on 1.1 the planted CHECK ran as the extension's owner"
            assert _superuser(admin, JOB_11), "and made the job role a superuser"
        finally:
            job.close(admin)
            admin.execute(sql.SQL("ALTER ROLE {} NOSUPERUSER").format(sql.Identifier(JOB_11)))
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(JOB_11)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(JOB_11)))
