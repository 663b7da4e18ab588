"""Issue 16, items 1 and 2: the change capture never breaks a write of the
service and trusts no writer (docs/incremental.md, "Who the capture runs as,
and why a hostile writer gains nothing").

The source tables belong to a non-superuser service owner (`capw_owner`).
PUBLIC's USAGE on schema trending is revoked, so no role of the service has
any privilege there. For each way a role may get its write privilege, the
write succeeds, and the next cycle is incremental and equals the oracle.
Forged delta rows are refused to the owner and every writer, and no role
but trending's own may write trending's tables or draw its sequences.

TRENDING_CAPTURE_WRITERS_VERSION=1.1 runs the same tests against 1.1's
functions (CREATE EXTENSION trending VERSION '1.1'); with
TRENDING_CAPTURE_WRITERS_PUBLIC_USAGE=keep as well, PUBLIC keeps its USAGE on
schema trending (1.1's writers need it): the late writer, the column-level
writer, the forged rows and the privilege sweep fail there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from support.random_datasets import load_dataset, random_dataset, run_cycle

VERSION = os.environ.get("TRENDING_CAPTURE_WRITERS_VERSION")  # None: the default (this build's)
REVOKE_PUBLIC_USAGE = os.environ.get("TRENDING_CAPTURE_WRITERS_PUBLIC_USAGE") != "keep"
SOURCE = "music"
DATASET = random_dataset(16016)
OWNER = "capw_owner"
CAPTURE_ROLE = "trending_capture"
# role -> how it gets its privilege (created by the fixture; capw_late by its test)
WRITERS = ("capw_table", "capw_column", "capw_group", "capw_member", "capw_public", "capw_caller", "capw_late")
DELTA_TABLES = ("trending._capture_changes", "trending._capture_plays", "trending._capture_truncates")
CAPTURE_FUNCTIONS = ["_capture_" + t for t in ("tracks", "plays", "saves", "reposts", "users", "aggregate_user",
                                                "aggregate_track", "aggregate_plays", "aggregate_playlist",
                                                "playlists")]
CONFIGURATION = ("settings", "strategies")  # grant_configure gives UPDATE/DELETE on these: not trending's state


def q(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _reset_roles(c) -> None:
    for role in (OWNER,) + WRITERS:
        if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            c.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(q(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(q(role)))


def _give_sources_to_the_service(c) -> None:
    """The service's layout: a non-superuser owns the source tables; writers get
    their privilege in every way the issue lists (capw_late: later, by its test)."""
    c.execute(sql.SQL("CREATE ROLE {}").format(q(OWNER)))
    for role in WRITERS[:-1]:
        c.execute(sql.SQL("CREATE ROLE {}").format(q(role)))
    c.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(q(SOURCE), q(OWNER)))
    for (table,) in c.execute("SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace "
                              "AND relkind = 'r'", (SOURCE,)).fetchall():
        c.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(q(SOURCE), q(table), q(OWNER)))
    for typ in ("savetype", "reposttype"):
        c.execute(sql.SQL("ALTER TYPE {}.{} OWNER TO {}").format(q(SOURCE), q(typ), q(OWNER)))
    grants = [
        # a table grant
        "GRANT INSERT ON plays TO capw_table",
        "GRANT USAGE ON SEQUENCE plays_id_seq TO capw_table",
        # a column-level grant (the issue's: GRANT UPDATE (bio) ON users)
        "GRANT SELECT (user_id), UPDATE (bio) ON users TO capw_column",
        # membership in a role that has the grant
        "GRANT SELECT, INSERT ON saves TO capw_group",
        "GRANT capw_group TO capw_member",
    ]
    c.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO PUBLIC").format(q(SOURCE)))
    c.execute(sql.SQL("SET search_path = {}").format(q(SOURCE)))
    for grant in grants:
        c.execute(grant)
    # a SECURITY DEFINER function of the service: its caller has no privilege on plays
    c.execute(sql.SQL("SET ROLE {}").format(q(OWNER)))
    c.execute("""CREATE FUNCTION record_play(p_item integer, p_at timestamp) RETURNS void
                 LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
                 AS $$ INSERT INTO music.plays (play_item_id, created_at) VALUES (p_item, p_at) $$""")
    c.execute("REVOKE EXECUTE ON FUNCTION record_play(integer, timestamp) FROM PUBLIC")
    c.execute("GRANT EXECUTE ON FUNCTION record_play(integer, timestamp) TO capw_caller")
    c.execute("RESET ROLE")
    c.execute("RESET search_path")


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("capture_writers", extensions=())
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        if VERSION:
            c.execute(sql.SQL("CREATE EXTENSION trending VERSION {} CASCADE").format(sql.Literal(VERSION)))
        else:
            c.execute("CREATE EXTENSION trending CASCADE")
        _reset_roles(c)
        load_dataset(c, SOURCE, DATASET)
        c.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                  f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")
        _give_sources_to_the_service(c)
        # no role of the service has any privilege in schema trending
        if REVOKE_PUBLIC_USAGE:
            c.execute("REVOKE USAGE ON SCHEMA trending FROM PUBLIC")
        c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SOURCE,))
        c.execute("SELECT trending.install_capture()")
    yield dsn
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SELECT trending.uninstall_capture()")
        _reset_roles(c)


@pytest.fixture
def su(dsn):
    """A superuser connection with the capture armed: the last cycle ran, matching the oracle."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        cycle(c)
        assert c.execute("SELECT armed FROM trending.capture_status").fetchone()[0]
        yield c


def cycle(c) -> str:
    """A cycle that must equal the oracle on what the sources hold now; its kind (trending.runs)."""
    run_cycle(c, SOURCE, DATASET, load=False, keep_schema=True).assert_matches_oracle()
    return c.execute("SELECT cycle_kind FROM trending.runs ORDER BY run_id DESC LIMIT 1").fetchone()[0]


def as_role(dsn: str, role: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(sql.SQL("SET ROLE {}").format(q(role)))
    conn.execute(sql.SQL("SET search_path = {}").format(q(SOURCE)))
    return conn


def a_track(c, offset: int = 0) -> int:
    return c.execute(f"SELECT track_id FROM {SOURCE}.tracks ORDER BY track_id OFFSET %s LIMIT 1",
                     (offset,)).fetchone()[0]


def an_hour_ago():
    """Within the last hour before the cycle's now, as the sources store it (UTC)."""
    return DATASET.now_utc - timedelta(minutes=50)


# ---------------------------------------------------------------------------
# item 1: every path of a write succeeds, and the next cycle is incremental and exact
# ---------------------------------------------------------------------------
def write_with_a_table_grant(su, dsn):
    with as_role(dsn, "capw_table") as w:
        w.execute("INSERT INTO plays (play_item_id, created_at) SELECT %s, %s FROM generate_series(1, 5)",
                  (a_track(su), an_hour_ago()))


def write_with_a_column_grant(su, dsn):
    with as_role(dsn, "capw_column") as w:
        users = [r[0] for r in su.execute(f"SELECT user_id FROM {SOURCE}.users ORDER BY user_id LIMIT 3")]
        w.execute("UPDATE users SET bio = NULL WHERE user_id = %s", (users[0],))
        w.execute("UPDATE users SET bio = 'a bio' WHERE user_id = ANY (%s)", (users[1:],))


def write_as_a_member_of_a_granted_role(su, dsn):
    with as_role(dsn, "capw_member") as w:
        user = su.execute(f"SELECT max(user_id) FROM {SOURCE}.users").fetchone()[0]
        w.execute("INSERT INTO saves (user_id, save_item_id, save_type, is_current, is_delete, created_at, txhash) "
                  "VALUES (%s, %s, 'track', true, false, %s, 'capw')", (user, a_track(su, 1), an_hour_ago()))


def write_with_a_grant_to_public(su, dsn):
    # granted here, not before the install: on 1.1, install_capture would have
    # granted PUBLIC INSERT on the delta tables, hiding every other path's failure
    su.execute(sql.SQL("GRANT SELECT, INSERT ON {}.reposts TO PUBLIC").format(q(SOURCE)))
    try:
        with as_role(dsn, "capw_public") as w:
            user = su.execute(f"SELECT min(user_id) FROM {SOURCE}.users").fetchone()[0]
            w.execute("INSERT INTO reposts (user_id, repost_item_id, repost_type, is_current, is_delete, created_at, "
                      "txhash) VALUES (%s, %s, 'track', true, false, %s, 'capw')",
                      (user, a_track(su, 2), an_hour_ago()))
    finally:
        su.execute(sql.SQL("REVOKE SELECT, INSERT ON {}.reposts FROM PUBLIC").format(q(SOURCE)))


def write_as_a_role_created_after_the_install(su, dsn):
    su.execute("CREATE ROLE capw_late")
    su.execute(sql.SQL("GRANT SELECT, UPDATE ON {}.aggregate_user TO capw_late").format(q(SOURCE)))
    with as_role(dsn, "capw_late") as w:
        w.execute("UPDATE aggregate_user SET follower_count = COALESCE(follower_count, 0) + 1000 "
                  "WHERE user_id = (SELECT min(user_id) FROM aggregate_user)")


def write_through_a_definer_function_of_the_service(su, dsn):
    with as_role(dsn, "capw_caller") as w:
        w.execute("SELECT record_play(%s, %s)", (a_track(su, 3), an_hour_ago()))
        w.execute("SELECT record_play(%s, %s)", (a_track(su, 3), an_hour_ago()))


PATHS = {
    "table grant": write_with_a_table_grant,
    "column-level grant": write_with_a_column_grant,
    "membership in a granted role": write_as_a_member_of_a_granted_role,
    "grant to PUBLIC": write_with_a_grant_to_public,
    "role created after the install": write_as_a_role_created_after_the_install,
    "SECURITY DEFINER function of the service": write_through_a_definer_function_of_the_service,
}


@pytest.mark.parametrize("path", list(PATHS))
def test_a_write_succeeds_however_the_writer_got_its_privilege_and_the_next_cycle_is_incremental(su, dsn, path):
    before = su.execute("SELECT captured_upto FROM trending.capture_status").fetchone()[0]
    PATHS[path](su, dsn)
    st = su.execute("SELECT incremental_ok, captured_upto FROM trending.capture_status").fetchone()
    assert st[0] and st[1] > before, "the write was captured and the capture is intact"
    assert cycle(su) == "incremental"


@pytest.mark.skipif(not REVOKE_PUBLIC_USAGE, reason="PUBLIC keeps its USAGE on schema trending")
def test_the_service_needs_no_privilege_in_schema_trending(su):
    roles = (OWNER,) + WRITERS[:-1]
    rows = su.execute("SELECT r FROM unnest(%s::text[]) r WHERE has_schema_privilege(r, 'trending', 'USAGE')",
                      (list(roles),)).fetchall()
    assert rows == [], "the tests above ran with no USAGE on schema trending for the service's roles"


# ---------------------------------------------------------------------------
# item 2: no role but trending's own writes trending's tables or sequences
# ---------------------------------------------------------------------------
def forge(conn, track: int, at) -> None:
    """The issue's forged rows: 100,000 plays for one track, then n = -1 rows
    removing a competitor's plays."""
    conn.execute("INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats) "
                 "SELECT nextval('trending._capture_seq'), 1, array_fill(%s::bigint, ARRAY[100000]), "
                 "array_fill(%s::timestamp, ARRAY[100000])", (track, at))


def remove_competitor(conn, track: int, at) -> None:
    conn.execute("INSERT INTO trending._capture_plays (seq, n, item_ids, created_ats) "
                 "SELECT 9000000000, -1, array_fill(%s::bigint, ARRAY[1000]), array_fill(%s::timestamp, ARRAY[1000])",
                 (track, at))


@pytest.mark.parametrize("role", [OWNER, "capw_table", "capw_member", "capw_public", "capw_caller"])
@pytest.mark.parametrize("with_schema_usage", [False, True] if REVOKE_PUBLIC_USAGE else [True])
def test_forged_capture_rows_are_refused_and_change_no_ranking(su, dsn, role, with_schema_usage):
    scores = "SELECT * FROM trending.track_trending_scores ORDER BY track_id, type, version, time_range"
    before = su.execute(scores).fetchall()
    ranked = [r[0] for r in su.execute("SELECT track_id FROM trending.track_trending_scores WHERE type = 'TRACKS' "
                                       "ORDER BY score DESC, track_id LIMIT 1")]
    if with_schema_usage:  # as if PUBLIC kept its default USAGE: the table privilege refuses
        su.execute(sql.SQL("GRANT USAGE ON SCHEMA trending TO {}").format(q(role)))
    refused = []
    try:
        with as_role(dsn, role) as w:
            for attempt in (lambda: forge(w, a_track(su, 5), an_hour_ago()),
                            lambda: remove_competitor(w, ranked[0], an_hour_ago())):
                try:
                    attempt()
                except psycopg.errors.InsufficientPrivilege as e:
                    refused.append(str(e).splitlines()[0])
        assert len(refused) == 2, f"forged rows accepted from {role}"
        assert all(("permission denied for table _capture_plays" in r or "sequence _capture_seq" in r)
                   if with_schema_usage else "permission denied for schema trending" in r for r in refused)
        assert su.execute("SELECT count(*) FROM trending._capture_plays").fetchone()[0] == 0
        assert cycle(su) == "incremental"
        assert su.execute(scores).fetchall() == before
    finally:
        if REVOKE_PUBLIC_USAGE:
            su.execute(sql.SQL("REVOKE USAGE ON SCHEMA trending FROM {}").format(q(role)))
        if len(refused) < 2:  # (on 1.1) forged rows went in: a full cycle gives the next test a clean start
            su.execute("SELECT trending.recompute(%s, true)", (DATASET.now,))


TRENDING_WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")


def test_no_role_but_trendings_own_may_write_its_tables_or_draw_its_sequences(su):
    """Every non-superuser role of the cluster (predefined pg_* roles aside),
    on every table of trending but the configuration, and every sequence."""
    su.execute("SELECT trending.grant_cycle('capw_table')")  # a cycle role writes only through definers
    try:
        tables = [r[0] for r in su.execute(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = 'trending'::regnamespace "
            "AND c.relkind IN ('r', 'p') AND c.relname <> ALL (%s) ORDER BY 1", (list(CONFIGURATION),))]
        sequences = [r[0] for r in su.execute(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.relnamespace = 'trending'::regnamespace "
            "AND c.relkind = 'S' ORDER BY 1")]
        assert "trending._capture_changes" in tables and "trending._capture_seq" in sequences
        roles = [r[0] for r in su.execute(
            "SELECT rolname FROM pg_roles WHERE NOT rolsuper AND rolname !~ '^pg_' AND rolname <> %s ORDER BY 1",
            (CAPTURE_ROLE,))]
        assert OWNER in roles and "capw_caller" in roles
        allowed = su.execute(
            "SELECT r, t, p FROM unnest(%s::text[]) r, unnest(%s::text[]) t, unnest(%s::text[]) p "
            "WHERE has_table_privilege(r, t, p) ORDER BY 1, 2, 3",
            (roles, tables, list(TRENDING_WRITES))).fetchall()
        allowed += su.execute(
            "SELECT r, s, p FROM unnest(%s::text[]) r, unnest(%s::text[]) s, unnest(ARRAY['USAGE', 'UPDATE']) p "
            "WHERE has_sequence_privilege(r, s, p) ORDER BY 1, 2, 3", (roles, sequences)).fetchall()
        assert allowed == []
    finally:
        su.execute("SELECT trending.revoke_cycle('capw_table')")


@pytest.mark.parametrize("role", [OWNER, "capw_table", "capw_caller"])
def test_the_owner_and_writers_are_refused_every_write_to_trending(su, dsn, role):
    su.execute(sql.SQL("GRANT USAGE ON SCHEMA trending TO {}").format(q(role)))
    try:
        with as_role(dsn, role) as w:
            for statement in (
                    "INSERT INTO trending._capture_changes (seq, source, item_ids) VALUES (1, 1, '{1}')",
                    "INSERT INTO trending._capture_truncates (seq, source) VALUES (1, 1)",
                    "UPDATE trending._capture_armed SET since = 0",
                    "DELETE FROM trending._capture_changes",
                    "DELETE FROM trending._capture_plays",
                    "DELETE FROM trending.track_trending_scores",
                    "UPDATE trending.playlist_trending_scores SET score = 1e9",
                    "SELECT nextval('trending._capture_seq')",
                    "SELECT setval('trending._capture_seq', 1)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    w.execute(statement)
    finally:
        su.execute(sql.SQL("REVOKE USAGE ON SCHEMA trending FROM {}").format(q(role)))


def test_the_triggers_run_as_trending_capture_which_may_only_append(su):
    funcs = su.execute(
        "SELECT p.proname, r.rolname, p.prosecdef, p.proconfig, p.proacl::text[] FROM pg_proc p "
        "JOIN pg_roles r ON r.oid = p.proowner WHERE p.pronamespace = 'trending'::regnamespace "
        "AND p.proname = ANY (%s) ORDER BY 1", (CAPTURE_FUNCTIONS,)).fetchall()
    assert len(funcs) == 10
    for name, owner, definer, config, acl in funcs:
        assert (owner, definer) == (CAPTURE_ROLE, True), name
        assert sorted(config) == ["constraint_exclusion=off", "search_path=pg_catalog, pg_temp"], name
        assert acl == [f"{CAPTURE_ROLE}=X/{CAPTURE_ROLE}"], f"{name}: EXECUTE for its owner only, not PUBLIC"
    role = su.execute("SELECT rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, "
                      "rolbypassrls FROM pg_roles WHERE rolname = %s", (CAPTURE_ROLE,)).fetchone()
    assert role == (False,) * 7
    assert su.execute("SELECT count(*) FROM pg_auth_members m WHERE %s::regrole IN (m.roleid, m.member)",
                      (CAPTURE_ROLE,)).fetchone()[0] == 0
    # exactly: INSERT on the delta tables, SELECT on the armed row, USAGE on the sequence and the schema
    grants = su.execute(
        "SELECT c.oid::regclass::text, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
        "WHERE a.grantee = %s::regrole ORDER BY 1, 2", (CAPTURE_ROLE,)).fetchall()
    assert grants == sorted([(t, "INSERT") for t in DELTA_TABLES]
                            + [("trending._capture_armed", "SELECT"), ("trending._capture_seq", "USAGE")])
    assert su.execute("SELECT count(*) FROM pg_class c WHERE c.relowner = %s::regrole",
                      (CAPTURE_ROLE,)).fetchone()[0] == 0
    assert su.execute("SELECT has_schema_privilege(%s, 'trending', 'USAGE'), "
                      "has_schema_privilege(%s, 'trending', 'CREATE')",
                      (CAPTURE_ROLE, CAPTURE_ROLE)).fetchone() == (True, False)


def test_no_writer_can_put_a_capture_trigger_on_a_table_of_its_own(su, dsn):
    su.execute(sql.SQL("GRANT USAGE ON SCHEMA trending TO {}").format(q(OWNER)))
    try:
        with as_role(dsn, OWNER) as owner:
            owner.execute("CREATE TABLE forge (play_item_id integer, created_at timestamp)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="_capture_plays"):
                owner.execute("CREATE TRIGGER t AFTER INSERT ON forge REFERENCING NEW TABLE AS capture_new "
                              "FOR EACH STATEMENT EXECUTE FUNCTION trending._capture_plays()")
            owner.execute("DROP TABLE forge")
    finally:
        su.execute(sql.SQL("REVOKE USAGE ON SCHEMA trending FROM {}").format(q(OWNER)))


# ---------------------------------------------------------------------------
# the upgrade from 1.1 takes back what 1.1's install_capture() granted
# ---------------------------------------------------------------------------
@pytest.mark.skipif(VERSION is not None, reason="upgrades from 1.1 to this build")
def test_the_upgrade_from_1_1_revokes_the_writers_grants_and_the_capture_keeps_working(make_db):
    owner, writer = "capu_owner", "capu_writer"
    dsn = make_db("capture_writers_upgrade", extensions=())
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET client_min_messages = warning")
        for role in (owner, writer):
            if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                c.execute(sql.SQL("DROP ROLE {}").format(q(role)))  # owns nothing outside this database
            c.execute(sql.SQL("CREATE ROLE {}").format(q(role)))
        c.execute("CREATE EXTENSION trending VERSION '1.1' CASCADE")
        load_dataset(c, SOURCE, DATASET)
        c.execute(f"SELECT setval(pg_get_serial_sequence('{SOURCE}.plays', 'id'), "
                  f"(SELECT COALESCE(max(id), 0) + 1 FROM {SOURCE}.plays))")
        c.execute(sql.SQL("ALTER TABLE {}.plays OWNER TO {}").format(q(SOURCE), q(owner)))
        c.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(q(SOURCE), q(writer)))
        c.execute(sql.SQL("GRANT INSERT ON {}.plays TO {}").format(q(SOURCE), q(writer)))
        c.execute(sql.SQL("GRANT USAGE ON SEQUENCE {}.plays_id_seq TO {}").format(q(SOURCE), q(writer)))
        c.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SOURCE,))
        c.execute("SELECT trending.install_capture()")
        assert c.execute("SELECT has_table_privilege(%s, 'trending._capture_plays', 'INSERT')",
                         (writer,)).fetchone()[0], "1.1 granted the writer INSERT on the delta tables"
        assert cycle(c) == "full"

        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("ALTER EXTENSION trending UPDATE TO '1.2'")
        revokes = [n for n in notices if n.startswith("trending: revoking")]
        for role in (owner, writer):
            for relation in DELTA_TABLES:
                assert f"trending: revoking INSERT on {relation} from {role} " \
                       "(in 1.2 only trending's own roles write it)" in revokes
            assert f"trending: revoking USAGE on trending._capture_seq from {role} " \
                   "(in 1.2 only trending's own roles write it)" in revokes
        for role in (owner, writer):
            assert c.execute("SELECT bool_or(has_table_privilege(%s, t, 'INSERT')) "
                             "OR has_sequence_privilege(%s, 'trending._capture_seq', 'USAGE') "
                             "FROM unnest(%s::text[]) t", (role, role, list(DELTA_TABLES))).fetchone()[0] is False
        assert c.execute("SELECT DISTINCT r.rolname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner "
                         "WHERE p.proname = ANY (%s)", (CAPTURE_FUNCTIONS,)).fetchall() == [(CAPTURE_ROLE,)]
        # 1.1 armed without recording the columns and partitions a cycle reads: one full cycle records them
        assert cycle(c) == "full"
        with as_role(dsn, writer) as w:
            w.execute("INSERT INTO plays (play_item_id, created_at) SELECT %s, %s FROM generate_series(1, 4)",
                      (a_track(c), an_hour_ago()))
        assert cycle(c) == "incremental"
        c.execute("SELECT trending.uninstall_capture()")
        c.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(q(SOURCE)))
        c.execute("DROP EXTENSION trending")
        for role in (owner, writer):
            c.execute(sql.SQL("DROP OWNED BY {}").format(q(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(q(role)))


# ---------------------------------------------------------------------------
# trending doctor checks who the triggers run as, and that nobody else writes
# ---------------------------------------------------------------------------
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trending_cli", *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def doctor(dsn: str) -> subprocess.CompletedProcess:
    return cli("doctor", "--dsn", dsn)


def capture_role_line(result: subprocess.CompletedProcess) -> str:
    (line,) = [x for x in result.stdout.splitlines() if "capture role:" in x]
    return line


@pytest.mark.skipif(VERSION is not None, reason="checks this build's doctor")
@pytest.mark.parametrize("breakage, undo, expected", [
    (None, None, "ok    capture role: the triggers run as trending_capture (not a superuser, no login)"),
    ("GRANT INSERT ON trending._capture_plays TO capw_table", "REVOKE INSERT ON trending._capture_plays FROM capw_table",
     "FAIL  capture role: roles that may write trending's capture, state or score tables (they could forge "
     "captured changes): capw_table"),
    ("GRANT USAGE ON SEQUENCE trending._capture_seq TO PUBLIC",
     "REVOKE USAGE ON SEQUENCE trending._capture_seq FROM PUBLIC",
     "FAIL  capture role: roles that may write trending's capture, state or score tables (they could forge "
     "captured changes): PUBLIC"),
    ("ALTER FUNCTION trending._capture_plays() OWNER TO capw_owner",
     "ALTER FUNCTION trending._capture_plays() OWNER TO trending_capture",
     "FAIL  capture role: capture trigger functions not running as trending_capture: _capture_plays (owner "
     "capw_owner)"),
    ("GRANT DELETE ON trending._capture_plays TO trending_capture",
     "REVOKE DELETE ON trending._capture_plays FROM trending_capture",
     "FAIL  capture role: trending_capture (the capture triggers run as it) has privileges beyond appending to the "
     "delta tables: (trending._capture_plays,DELETE)"),
    ("GRANT capw_group TO trending_capture", "REVOKE capw_group FROM trending_capture",
     "FAIL  capture role: trending_capture (the capture triggers run as it) has memberships trending_capture in "
     "capw_group"),
])
def test_doctor_says_who_the_capture_runs_as_and_fails_when_another_role_could_forge(su, dsn, breakage, undo,
                                                                                     expected):
    if breakage:
        su.execute(breakage)
    try:
        result = doctor(dsn)
        line = capture_role_line(result)
        assert line.startswith(expected), result.stdout
        assert result.returncode == (1 if breakage else result.returncode), result.stdout
        if breakage:
            assert "fix: " in result.stdout.split(line, 1)[1].splitlines()[1]
    finally:
        if undo:
            su.execute(undo)


# ---------------------------------------------------------------------------
# trending uninstall drops trending_capture with the last database using it
# ---------------------------------------------------------------------------
@pytest.mark.skipif(VERSION is not None, reason="checks this build's CLI")
def test_uninstall_drops_the_capture_role_with_the_last_database_that_has_trending():
    from trending_cli.cluster import Cluster

    with Cluster(name="trending-capture-role") as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            for db in ("capr_a", "capr_b"):
                admin.execute(sql.SQL("CREATE DATABASE {}").format(q(db)))
                with psycopg.connect(server.conninfo(db), autocommit=True) as c:
                    c.execute("CREATE EXTENSION trending CASCADE")
            role = "SELECT count(*) FROM pg_roles WHERE rolname = 'trending_capture'"
            assert admin.execute(role).fetchone()[0] == 1

            first = cli("uninstall", "--dsn", server.conninfo("capr_a"))
            assert first.returncode == 0, first.stdout + first.stderr
            assert "capture role: kept trending_capture (cluster-wide), which trending still needs elsewhere: " \
                   in first.stdout and "capr_b" in first.stdout
            assert first.stdout.rstrip().splitlines()[-2].endswith(
                "once trending is uninstalled from every database, remove it with: DROP ROLE trending_capture;")
            assert admin.execute(role).fetchone()[0] == 1

            second = cli("uninstall", "--dsn", server.conninfo("capr_b"))
            assert second.returncode == 0, second.stdout + second.stderr
            assert "capture role: dropped trending_capture (no database of the cluster has trending any more)" \
                   in second.stdout
            assert admin.execute(role).fetchone()[0] == 0


# ---------------------------------------------------------------------------
# when the capture does not record, the write still succeeds
# ---------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("function", CAPTURE_FUNCTIONS)
def test_every_trigger_first_checks_that_the_capture_records_and_has_no_exception_block(function):
    """No EXCEPTION block (each would be a subtransaction per statement of the
    writer); the first statement returns at once unless armed and recording."""
    text = (ROOT / "sql" / "functions" / f"{function}.sql").read_text()
    body = text.split("AS $function$\n", 1)[1]
    assert "EXCEPTION" not in body.upper()
    assert body.startswith("BEGIN\n    PERFORM FROM trending._capture_armed a WHERE a.record_until > pg_catalog.now();\n"
                           "    IF NOT FOUND THEN\n        RETURN NULL;\n    END IF;\n")
    assert "SECURITY DEFINER\nSET search_path = pg_catalog, pg_temp\nSET constraint_exclusion = off\n" in text


@pytest.mark.skipif(VERSION is not None, reason="1.1 has no record_until")
def test_a_write_succeeds_and_records_nothing_once_the_capture_stopped_recording(su, dsn):
    pending = "SELECT (SELECT count(*) FROM trending._capture_plays) + (SELECT count(*) FROM trending._capture_changes)"
    assert su.execute(pending).fetchone()[0] == 0
    su.execute("UPDATE trending._capture_armed SET record_until = now() - interval '1 second'")
    try:
        write_with_a_table_grant(su, dsn)
        write_with_a_column_grant(su, dsn)
        assert su.execute(pending).fetchone()[0] == 0
    finally:
        # what the cycle side does next (item 5: a full cycle, saying why); here, by hand
        su.execute("UPDATE trending._capture_armed SET record_until = 'infinity'")
        su.execute("SELECT trending.recompute(%s, true)", (DATASET.now,))


@pytest.mark.skipif(VERSION is not None, reason="checks this build's install_capture")
@pytest.mark.parametrize("breakage, undo, message", [
    ("ALTER ROLE trending_capture LOGIN", "ALTER ROLE trending_capture NOLOGIN",
     "role trending_capture has attributes or memberships it must not have"),
    ("GRANT capw_group TO trending_capture", "REVOKE capw_group FROM trending_capture",
     "role trending_capture has attributes or memberships it must not have"),
    ("ALTER FUNCTION trending._capture_saves() OWNER TO capw_owner",
     "ALTER FUNCTION trending._capture_saves() OWNER TO trending_capture",
     "the capture trigger functions must run as trending_capture: _capture_saves (owner capw_owner)"),
    ("ALTER FUNCTION trending._capture_users() SECURITY INVOKER",
     "ALTER FUNCTION trending._capture_users() SECURITY DEFINER",
     "the capture trigger functions must run as trending_capture: _capture_users (owner trending_capture, "
     "not SECURITY DEFINER)"),
])
def test_install_refuses_a_capture_role_that_could_forge_or_triggers_not_running_as_it(su, breakage, undo, message):
    su.execute(breakage)
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=message.replace("(", r"\(").replace(")", r"\)")):
            su.execute("SELECT trending.install_capture()")
    finally:
        su.execute(undo)
    su.execute("SELECT trending.install_capture()")


@pytest.mark.skipif(VERSION is not None, reason="checks this build's script")
def test_create_extension_refuses_an_existing_capture_role_with_more_than_it_needs(su, make_db):
    dsn = make_db("capture_writers_role", extensions=())
    su.execute("ALTER ROLE trending_capture LOGIN")
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            with pytest.raises(psycopg.errors.InsufficientPrivilege,
                               match="role trending_capture exists with attributes or memberships"):
                c.execute("CREATE EXTENSION trending CASCADE")
    finally:
        su.execute("ALTER ROLE trending_capture NOLOGIN")
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION trending CASCADE")  # the role as it should be: reused
        c.execute("DROP EXTENSION trending")
