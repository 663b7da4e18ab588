"""Upgrading from a released version gives exactly a fresh install of the
current one, and keeps what a user has: scores, settings, strategy switches,
run history and the grants a DBA gave.

Each path starts from a released, frozen script (make install ships them
next to the current ones): 1.1 -> 1.2, and 1.0 -> 1.1 -> 1.2 (through the
released trending--1.0--1.1.sql). The old version runs a cycle, then
`ALTER EXTENSION trending UPDATE`. Its catalog is then compared with a fresh
`CREATE EXTENSION trending` in another database: every member object's
definition, owner, privileges and comment, and the config-dump
registrations. Any difference fails the test with the object's name.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from psycopg import sql

from oracle import ALL_STRATEGIES, expected_scores, fetch_source, score_mismatches
from support.harness import enable_strategies, playlist_scores, recompute, track_scores, use_source_schema
from support.random_datasets import load_dataset, random_dataset

DBA_ROLE = "upgrade_test_dba"

# One row per member object of the extension: (kind, identity, definition).
# OIDs differ between databases, so everything is described by name.
MEMBERS = """
WITH members AS (
    SELECT d.classid, d.objid
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
    WHERE e.extname = 'trending' AND d.deptype = 'e'
)
SELECT 'routine' AS kind, p.oid::regprocedure::text AS identity,
       pg_get_functiondef(p.oid) || E'\\nacl: ' || COALESCE(p.proacl::text, '(default)')
       || E'\\nowner: ' || pg_get_userbyid(p.proowner)
       || E'\\ncomment: ' || COALESCE(obj_description(p.oid, 'pg_proc'), '(none)') AS definition
FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT 'relation', c.oid::regclass::text,
       concat_ws(E'\\n',
           'kind: ' || c.relkind::text, 'owner: ' || pg_get_userbyid(c.relowner),
           'options: ' || COALESCE(c.reloptions::text, '(none)'),
           'acl: ' || COALESCE(c.relacl::text, '(default)'),
           'comment: ' || COALESCE(obj_description(c.oid, 'pg_class'), '(none)'),
           'view: ' || pg_get_viewdef(c.oid) ,
           (SELECT string_agg(format('column %s %s %s default %s comment %s', a.attname,
                                     format_type(a.atttypid, a.atttypmod),
                                     CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
                                     COALESCE(pg_get_expr(ad.adbin, ad.adrelid), '-'),
                                     COALESCE(col_description(c.oid, a.attnum), '-')), E'\\n' ORDER BY a.attnum)
            FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
           (SELECT string_agg(pg_get_indexdef(i.indexrelid), E'\\n' ORDER BY pg_get_indexdef(i.indexrelid))
            FROM pg_index i WHERE i.indrelid = c.oid),
           (SELECT string_agg(format('constraint %s %s', k.conname, pg_get_constraintdef(k.oid)), E'\\n' ORDER BY k.conname)
            FROM pg_constraint k WHERE k.conrelid = c.oid),
           (SELECT string_agg(pg_get_triggerdef(t.oid), E'\\n' ORDER BY t.tgname)
            FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal))
FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT 'type', t.oid::regtype::text,
       concat_ws(E'\\n', 'typtype: ' || t.typtype::text, 'acl: ' || COALESCE(t.typacl::text, '(default)'),
                 'comment: ' || COALESCE(obj_description(t.oid, 'pg_type'), '(none)'),
                 (SELECT string_agg(format('attribute %s %s', a.attname, format_type(a.atttypid, a.atttypmod)),
                                    E'\\n' ORDER BY a.attnum)
                  FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
                 (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
UNION ALL
SELECT 'other', pg_describe_object(m.classid, m.objid, 0), ''
FROM members m
WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass)
UNION ALL
SELECT 'schema', n.nspname::text,
       'acl: ' || COALESCE(n.nspacl::text, '(default)') || E'\\ncomment: '
       || COALESCE(obj_description(n.oid, 'pg_namespace'), '(none)')
FROM pg_namespace n WHERE n.nspname = 'trending'
UNION ALL
SELECT 'extension', e.extname::text,
       concat_ws(E'\\n', 'version: ' || e.extversion,
                 'config: ' || COALESCE((SELECT string_agg(format('%s %L', c::regclass, cond), ', ' ORDER BY c::regclass::text)
                                         FROM unnest(e.extconfig, e.extcondition) AS x(c, cond)), '(none)'))
FROM pg_extension e WHERE e.extname = 'trending'
"""


def catalog(conn) -> dict[tuple[str, str], str]:
    return {(kind, identity): definition for kind, identity, definition in conn.execute(MEMBERS).fetchall()}


def _ensure_role(conn, role: str) -> None:
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))


# 1.1 gave the entry points a `full` argument: the upgrade drops the 1.0
# routines and must give their grants to the new ones
ENTRY_POINTS_1_0 = ("FUNCTION trending.recompute(timestamptz)", "PROCEDURE trending.scheduled_recompute(timestamptz)")
ENTRY_POINTS_1_1 = ("FUNCTION trending.recompute(timestamptz, boolean)",
                    "PROCEDURE trending.scheduled_recompute(timestamptz, boolean)")
ENTRY_POINTS = {"1.0": ENTRY_POINTS_1_0, "1.1": ENTRY_POINTS_1_1}
CURRENT = "1.2"
# every released version an upgrade starts from, and the versions it goes through
PATHS = {"1.1": ["1.1", CURRENT], "1.0": ["1.0", "1.1", CURRENT]}


def _dba_grants(conn, routines=ENTRY_POINTS_1_0) -> None:
    """What a DBA may have granted on the entry points."""
    for routine in routines:
        conn.execute(sql.SQL(f"GRANT EXECUTE ON {routine} TO {{}}").format(sql.Identifier(DBA_ROLE)))


@pytest.fixture(scope="module", params=sorted(PATHS), ids=lambda v: f"from_{v}")
def upgraded_and_fresh(request, make_db):
    start = request.param
    dataset = random_dataset(1701)
    upgraded_dsn = make_db(f"upgrade_from_{start.replace('.', '_')}", extensions=())
    fresh_dsn = make_db(f"upgrade_fresh_{start.replace('.', '_')}", extensions=())
    with psycopg.connect(upgraded_dsn, autocommit=True) as conn:
        _ensure_role(conn, DBA_ROLE)
        conn.execute(f"CREATE EXTENSION trending VERSION '{start}' CASCADE")
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'trending'").fetchone()[0] == start
        _dba_grants(conn, ENTRY_POINTS[start])
        load_dataset(conn, "music", dataset)
        use_source_schema(conn, "music")
        enable_strategies(conn, ALL_STRATEGIES)
        conn.execute("UPDATE trending.settings SET value = '64MB' WHERE name = 'work_mem'")
        # 1.1 took up to 100 years; 1.2 clamps it to 7 days (issue 18)
        conn.execute("UPDATE trending.settings SET value = '30 days' WHERE name = 'reconcile_every'")
        first = recompute(conn, dataset.now)
        assert first["status"] == "ok"
        before = {
            "tracks": track_scores(conn),
            "playlists": playlist_scores(conn),
            "settings": conn.execute("SELECT name, value FROM trending.settings ORDER BY 1").fetchall(),
            "strategies": conn.execute("SELECT type, version, enabled FROM trending.strategies ORDER BY 1, 2").fetchall(),
            "runs": conn.execute("SELECT run_id, trigger, status, cycle_now FROM trending.runs ORDER BY 1").fetchall(),
        }
        for version in PATHS[start][1:]:
            conn.execute(f"ALTER EXTENSION trending UPDATE TO '{version}'")
            assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'trending'").fetchone()[0] \
                == version
    with psycopg.connect(fresh_dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION trending CASCADE")
        _dba_grants(conn, ENTRY_POINTS_1_1)
    return dataset, upgraded_dsn, fresh_dsn, before


def test_update_reaches_the_default_version(upgraded_and_fresh):
    _, upgraded_dsn, fresh_dsn, _ = upgraded_and_fresh
    with psycopg.connect(upgraded_dsn) as up, psycopg.connect(fresh_dsn) as fresh:
        version = "SELECT extversion FROM pg_extension WHERE extname = 'trending'"
        assert up.execute(version).fetchone() == fresh.execute(version).fetchone() == (CURRENT,)


def test_upgraded_catalog_equals_a_fresh_install(upgraded_and_fresh):
    _, upgraded_dsn, fresh_dsn, _ = upgraded_and_fresh
    with psycopg.connect(upgraded_dsn) as up, psycopg.connect(fresh_dsn) as fresh:
        got, want = catalog(up), catalog(fresh)
    assert len(want) > 20, "the fresh install should have its objects"
    only_upgraded = sorted(set(got) - set(want))
    only_fresh = sorted(set(want) - set(got))
    assert not only_upgraded, f"objects only after the upgrade: {only_upgraded}"
    assert not only_fresh, f"objects missing after the upgrade: {only_fresh}"
    differ = [key for key in sorted(want) if got[key] != want[key]]
    assert not differ, "definitions differ after the upgrade:\n" + "\n\n".join(
        f"{kind} {name}\n--- upgraded\n{got[(kind, name)]}\n--- fresh\n{want[(kind, name)]}"
        for kind, name in differ[:3])


def test_dba_grants_survive_the_upgrade(upgraded_and_fresh):
    _, upgraded_dsn, _, _ = upgraded_and_fresh
    with psycopg.connect(upgraded_dsn) as conn:
        for routine in (r.split(" ", 1)[1] for r in ENTRY_POINTS_1_1):
            granted = conn.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')",
                                   (DBA_ROLE, routine)).fetchone()[0]
            assert granted, f"{DBA_ROLE} lost EXECUTE on {routine}"


def test_scores_settings_and_history_survive_and_the_next_cycle_succeeds(upgraded_and_fresh):
    dataset, upgraded_dsn, _, before = upgraded_and_fresh
    with psycopg.connect(upgraded_dsn, autocommit=True) as conn:
        assert track_scores(conn) == before["tracks"]
        assert playlist_scores(conn) == before["playlists"]
        settings = dict(conn.execute("SELECT name, value FROM trending.settings").fetchall())
        kept = dict(before["settings"])
        if "reconcile_every" in kept:  # 1.1's '30 days', more than 1.2 accepts: clamped (issue 18)
            assert kept["reconcile_every"] == "30 days" and settings["reconcile_every"] == "7 days"
            kept["reconcile_every"] = "7 days"
        assert {name: settings.get(name) for name, _ in before["settings"]} == kept, \
            "every setting keeps its value (a newer version may add settings; reconcile_every is clamped)"
        assert conn.execute("SELECT type, version, enabled FROM trending.strategies ORDER BY 1, 2").fetchall() \
            == before["strategies"]
        runs = conn.execute("SELECT run_id, trigger, status, cycle_now FROM trending.runs ORDER BY 1").fetchall()
        assert runs[:len(before["runs"])] == before["runs"]

        summary = recompute(conn, dataset.now)
        assert summary["status"] == "ok"
        assert summary["rows"]["inserted"] == summary["rows"]["updated"] == summary["rows"]["deleted"] == 0, \
            "the first cycle after the upgrade, at the same now, finds the old version's scores already right"
        conn.execute("CALL trending.scheduled_recompute(%s)", (dataset.now,))
        source = fetch_source(conn, "music")
        want_tracks, want_playlists = expected_scores(source, dataset.now, ALL_STRATEGIES)
        problems = score_mismatches(want_tracks, track_scores(conn), with_genre=True)
        problems += score_mismatches(want_playlists, playlist_scores(conn), with_genre=False)
        assert not problems, problems[:10]
        statuses = conn.execute("SELECT status FROM trending.runs ORDER BY run_id").fetchall()
        assert statuses[-2:] == [("ok",), ("ok",)]


def test_an_incremental_state_built_by_1_1_is_rebuilt_by_the_first_cycle_after_the_upgrade(make_db):
    """1.1's state kept the hours of the tracks' saves and reposts
    (_state_track_hours); 1.2's keeps each live one (_state_track_actions).
    The upgrade drops the one, creates the other and marks the state
    invalid: the first cycle after it runs full and builds the new state,
    which then holds every live track save and repost, and the next cycle
    is incremental and exact."""
    dataset = random_dataset(1702)
    dsn = make_db("upgrade_state_from_1_1", extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute("CREATE EXTENSION trending VERSION '1.1' CASCADE")
        load_dataset(conn, "music", dataset)
        use_source_schema(conn, "music")
        enable_strategies(conn, ALL_STRATEGIES)
        conn.execute("SELECT trending.install_capture()")
        assert recompute(conn, dataset.now)["status"] == "ok"
        assert conn.execute("SELECT count(*) FROM trending._state_track_hours").fetchone()[0] > 0
        conn.execute("ALTER EXTENSION trending UPDATE TO '1.2'")
        assert conn.execute("SELECT valid FROM trending._state_meta").fetchone() == (False,)
        later = [dataset.now + timedelta(hours=h) for h in (1, 2)]
        assert recompute(conn, later[0])["cycle"]["kind"] == "full"
        conn.execute("UPDATE music.saves SET is_delete = NOT COALESCE(is_delete, false) WHERE ctid = "
                     "(SELECT ctid FROM music.saves WHERE save_type = 'track' AND is_current"
                     " ORDER BY user_id, save_item_id LIMIT 1)")
        second = recompute(conn, later[1])
        assert second["cycle"]["kind"] == "incremental", second["cycle"]["reason"]
        live = conn.execute(
            "SELECT count(*) FROM (SELECT save_item_id FROM music.saves WHERE save_type = 'track' AND is_current"
            " AND is_delete IS FALSE UNION ALL SELECT repost_item_id FROM music.reposts WHERE repost_type = 'track'"
            " AND is_current AND is_delete IS FALSE) AS x").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM trending._state_track_actions").fetchone()[0] == live
        want_tracks, want_playlists = expected_scores(fetch_source(conn, "music"), later[1], ALL_STRATEGIES)
        problems = score_mismatches(want_tracks, track_scores(conn), with_genre=True)
        problems += score_mismatches(want_playlists, playlist_scores(conn), with_genre=False)
        assert not problems, problems[:10]
