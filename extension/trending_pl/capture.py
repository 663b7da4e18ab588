"""Change capture: what changed in the source tables since the last cycle.

Statement-level AFTER triggers (sql/functions/_capture_<table>.sql) append
the ids of changed rows to UNLOGGED delta tables in schema trending, in the
writer's transaction; see docs/incremental.md for the design and its cost.
This module installs and removes the triggers and answers the one question
a cycle asks first: may I run incrementally, and if not, why?

Protocol for a cycle (the cycle lock held throughout):

    st = capture.state(plpy)                 # before reading any source
    snap = capture.snapshot(plpy, timeout)   # the cycle's snapshot, the last one's
    if st["incremental"] and snap["unrecorded"] is None:
        read the delta rows consumed(snap) names, rescore what they name,
        then, in the transaction that commits that state:
        reason = capture.advance(plpy)       # None, or why the next cycle must be full
    else:                                    # full cycle, reason st["reason"]
        recompute everything, then in the transaction that commits it:
        reason = capture.arm(plpy, st["fingerprint"])

Exactness (pgq's method): a delta row commits in the same transaction as
the change it names and carries that transaction's id (tx). A cycle takes
its snapshot S before it reads anything and consumes the rows of the
transactions visible in S and not in the last consuming cycle's: every
later statement of the cycle sees those transactions, so all its reads
agree on that set, and a transaction still open (or prepared) is in no
consumed set until a snapshot sees it committed, exactly once. Reading the
sources after S sees at least every change visible in S; a change of a
transaction not visible in S may be seen too and is then processed again
by the cycle that consumes its rows, which must therefore be idempotent
(rescore the items named); play-hour counts are deltas, so a full cycle
subtracts from the plays it reads those of the delta rows not visible in S
(after()), in the same statement.

Nothing here imports plpy: functions take it as their first argument.
"""

from __future__ import annotations

import json

from trending_pl import sources

# Source code (as stored in the delta tables) -> table, as in sql/schema/80_capture.sql.
SOURCES = {1: "tracks", 2: "plays", 3: "saves", 4: "reposts", 5: "users", 6: "aggregate_user",
           7: "aggregate_track", 8: "aggregate_plays", 9: "aggregate_playlist", 10: "playlists"}
TABLES = tuple(SOURCES[code] for code in sorted(SOURCES))

# name -> (event, transition tables clause); tgtype and names are checked by trending._capture_catalog
TRIGGERS = {
    "trending_capture_insert": ("INSERT", "REFERENCING NEW TABLE AS capture_new"),
    "trending_capture_update": ("UPDATE", "REFERENCING OLD TABLE AS capture_old NEW TABLE AS capture_new"),
    "trending_capture_delete": ("DELETE", "REFERENCING OLD TABLE AS capture_old"),
    "trending_capture_truncate": ("TRUNCATE", ""),
}
DELTA_TABLES = ("trending._capture_changes", "trending._capture_plays", "trending._capture_truncates")
SEQUENCE = "trending._capture_seq"
WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE")
CAPTURE_FUNCTIONS_SQL = ("SELECT p.oid FROM pg_catalog.pg_proc p "
                         "WHERE p.pronamespace = 'trending'::pg_catalog.regnamespace "
                         "AND p.proname = ANY (ARRAY[{}]) AND p.pronargs = 0")


def state(plpy, schema: str | None = None) -> dict:
    """May the next cycle be incremental? {"incremental": bool, "reason": str | None
    (the first reason a full cycle is needed), "reasons": [...], "since": the
    watermark (None when not armed), "fingerprint": pass it to arm(), ...}.
    `schema`: the source schema the cycle reads (default: the setting's).
    Read-only; call it before reading the sources."""
    row = plpy.execute("SELECT s.installed, s.armed, s.incremental_ok, s.full_cycle_reason, "
                       "s.full_cycle_reasons, s.consumed_upto, s.captured_upto, s.pending_changes, "
                       "s.pending_plays, s.fingerprint, s.source_schema FROM trending.capture_status s")[0]
    reasons = list(row["full_cycle_reasons"] or [])
    if schema is not None and schema != row["source_schema"]:
        reasons.insert(0, f'the cycle reads schema "{schema}", the capture follows "{row["source_schema"]}"')
    return {"incremental": not reasons, "reason": reasons[0] if reasons else None,
            "reasons": reasons, "installed": bool(row["installed"]),
            "armed": bool(row["armed"]), "since": row["consumed_upto"], "captured_upto": row["captured_upto"],
            "pending_changes": row["pending_changes"], "pending_plays": row["pending_plays"],
            "fingerprint": row["fingerprint"]}



def snapshot(plpy, timeout: str = "1s") -> dict:
    """{"snapshot": S (text), "previous": the last consuming cycle's (text or
    None), "unrecorded": None, or why the capture cannot be armed or advanced
    at S (the cycle then runs full)}; see trending._capture_snapshot."""
    row = plpy.execute("SELECT s.snapshot::text AS snapshot, s.previous::text AS previous, s.unrecorded "
                       "FROM trending._capture_snapshot(" + plpy.quote_literal(timeout) + "::pg_catalog.interval) s")[0]
    return {"snapshot": row["snapshot"], "previous": row["previous"], "unrecorded": row["unrecorded"]}


def _snapshot_literal(plpy, snapshot: str) -> str:
    return plpy.quote_literal(snapshot) + "::pg_catalog.pg_snapshot"


def consumed(plpy, alias: str, now: str, previous: str) -> str:
    """SQL condition: the delta row `alias` is of a transaction visible in the
    cycle's snapshot `now` and not in the last one's `previous`."""
    return (f"pg_catalog.pg_visible_in_snapshot({alias}.tx, {_snapshot_literal(plpy, now)})"
            f" AND NOT pg_catalog.pg_visible_in_snapshot({alias}.tx, {_snapshot_literal(plpy, previous)})")


def after(plpy, alias: str, snapshot: str) -> str:
    """SQL condition: the delta row `alias` is of a transaction not visible in `snapshot`."""
    return f"NOT pg_catalog.pg_visible_in_snapshot({alias}.tx, {_snapshot_literal(plpy, snapshot)})"


def arm(plpy, fingerprint: str) -> str | None:
    """After a full cycle: cover every change not visible in its snapshot from now on. None, or why not."""
    return plpy.execute("SELECT trending._capture_arm(" + plpy.quote_literal(fingerprint) + ") AS reason")[0]["reason"]


def advance(plpy) -> str | None:
    """After an incremental cycle: move the watermark to its snapshot. None, or why the next cycle must be full."""
    return plpy.execute("SELECT trending._capture_advance() AS reason")[0]["reason"]


# --------------------------------------------------------------------------
# install / uninstall (superuser)
# --------------------------------------------------------------------------
def _require_superuser(plpy, what: str) -> None:
    row = plpy.execute("SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER")
    if not (row and row[0]["rolsuper"]):
        plpy.error(f"trending: {what} puts triggers on the service's tables and needs a superuser",
                   sqlstate="42501",
                   hint="Ask a superuser to run it: it locks the service's tables briefly and grants their "
                        "writers INSERT on trending's delta tables.")


def _setting(plpy, name: str) -> str:
    return plpy.execute("SELECT s.value FROM trending.settings s WHERE s.name = "
                        + plpy.quote_literal(name))[0]["value"]


def _capture_functions(plpy) -> list[int]:
    names = ", ".join(plpy.quote_literal("_capture_" + t) for t in TABLES)
    return [r["oid"] for r in plpy.execute(CAPTURE_FUNCTIONS_SQL.format(names))]


def _intact(plpy, relid: int, table: str) -> bool:
    """Are the four capture triggers of `table` on relid, as install creates them?"""
    names = ", ".join(plpy.quote_literal(n) for n in TRIGGERS)
    trig = plpy.execute(
        "SELECT pg_catalog.count(*) AS n FROM pg_catalog.pg_trigger g "
        f"WHERE g.tgrelid = {int(relid)} AND g.tgname IN ({names}) AND g.tgenabled = 'A' "
        "AND g.tgfoid = " + plpy.quote_literal(f"trending._capture_{table}()") + "::pg_catalog.regprocedure "
        "AND g.tgnargs = 0 AND g.tgqual IS NULL "
        "AND g.tgtype = CASE g.tgname WHEN 'trending_capture_insert' THEN 4 WHEN 'trending_capture_update' THEN 16 "
        "WHEN 'trending_capture_delete' THEN 8 ELSE 32 END "
        "AND g.tgoldtable IS NOT DISTINCT FROM CASE WHEN g.tgname IN ('trending_capture_update', "
        "'trending_capture_delete') THEN 'capture_old' END "
        "AND g.tgnewtable IS NOT DISTINCT FROM CASE WHEN g.tgname IN ('trending_capture_insert', "
        "'trending_capture_update') THEN 'capture_new' END")
    return trig[0]["n"] == len(TRIGGERS)


def install(plpy) -> str:
    """Body of trending.install_capture(): see sql/functions/install_capture.sql."""
    _require_superuser(plpy, "install_capture()")
    schema = _setting(plpy, "source_schema")
    # the tables must be the service's plain tables, of the types a cycle reads
    sources.lock_and_check(plpy, schema)
    plpy.execute("SELECT pg_catalog.set_config('lock_timeout', "
                 + plpy.quote_literal(_setting(plpy, "lock_timeout")) + ", true)")
    result = {"source_schema": schema, "tables": {}, "removed": [], "writers": []}
    relids = {}
    for table in TABLES:
        row = plpy.execute(
            "SELECT c.oid, c.relkind, EXISTS (SELECT FROM pg_catalog.pg_inherits h WHERE h.inhparent = c.oid) "
            "AS has_children FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass("
            + plpy.quote_literal(_qualified(plpy, schema, table)) + ")")[0]
        if row["relkind"] != "r" or row["has_children"]:
            plpy.error(f"trending: cannot capture changes of {schema}.{table}: it is partitioned or has "
                       "inheritance children, and writes to those would bypass statement triggers on it",
                       sqlstate="0A000",
                       hint="Capture needs plain tables; without it every cycle runs full.")
        relids[table] = row["oid"]

    functions = _capture_functions(plpy)
    if len(functions) != len(TABLES):
        plpy.error("trending: the capture functions are missing", sqlstate="XX000",
                   hint="ALTER EXTENSION trending UPDATE, or reinstall the extension.")
    # capture triggers on other relations: an old source schema, a table renamed away
    stray = plpy.execute(
        "SELECT g.tgname, g.tgrelid::pg_catalog.regclass::text AS rel FROM pg_catalog.pg_trigger g "
        f"WHERE g.tgfoid = ANY (ARRAY[{', '.join(str(f) for f in functions)}]::oid[]) "
        f"AND g.tgrelid <> ALL (ARRAY[{', '.join(str(r) for r in relids.values())}]::oid[]) "
        "ORDER BY 2, 1")
    for trigger in stray:
        plpy.notice(f"trending: removing capture trigger {trigger['tgname']} from {trigger['rel']}, "
                    "which is no longer a source table; this briefly locks it (ACCESS EXCLUSIVE)")
        plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger['tgname'])} ON {trigger['rel']}")
        result["removed"].append(f"{trigger['rel']}.{trigger['tgname']}")

    for table in TABLES:
        qualified = _qualified(plpy, schema, table)
        if _intact(plpy, relids[table], table):
            result["tables"][table] = "kept"
            continue
        plpy.notice(f"trending: installing capture triggers on {qualified}; this briefly locks the table "
                    "(SHARE ROW EXCLUSIVE: its writers wait, its readers do not)")
        existing = plpy.execute(
            "SELECT g.tgname FROM pg_catalog.pg_trigger g "
            f"WHERE g.tgrelid = {int(relids[table])} AND (g.tgname LIKE 'trending\\_capture\\_%' "
            f"OR g.tgfoid = ANY (ARRAY[{', '.join(str(f) for f in functions)}]::oid[])) ORDER BY 1")
        for trigger in existing:
            plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger['tgname'])} ON {qualified}")
        for name, (event, referencing) in TRIGGERS.items():
            plpy.execute(f"CREATE TRIGGER {name} AFTER {event} ON {qualified} {referencing} "
                         f"FOR EACH STATEMENT EXECUTE FUNCTION trending._capture_{table}()")
        # ALWAYS: fire in session_replication_role = replica too (a logical
        # replication subscriber applying the service's changes)
        plpy.execute(f"ALTER TABLE {qualified} "
                     + ", ".join(f"ENABLE ALWAYS TRIGGER {name}" for name in TRIGGERS))
        result["tables"][table] = "replaced" if existing else "installed"

    # the triggers run as the writer: the owner and every role that may write
    # a source table needs INSERT on the delta tables
    writers = plpy.execute(
        "SELECT DISTINCT CASE WHEN w.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END AS role "
        "FROM (SELECT c.relowner AS grantee FROM pg_catalog.pg_class c "
        f"      WHERE c.oid = ANY (ARRAY[{', '.join(str(r) for r in relids.values())}]::oid[]) "
        "      UNION "
        "      SELECT a.grantee FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
        f"      WHERE c.oid = ANY (ARRAY[{', '.join(str(r) for r in relids.values())}]::oid[]) "
        f"        AND a.privilege_type IN ({', '.join(plpy.quote_literal(p) for p in WRITE_PRIVILEGES)})) w "
        "LEFT JOIN pg_catalog.pg_roles r ON r.oid = w.grantee "
        "WHERE w.grantee = 0 OR NOT r.rolsuper ORDER BY 1")
    roles = [w["role"] for w in writers]
    if roles:
        plpy.execute(f"GRANT INSERT ON TABLE {', '.join(DELTA_TABLES)} TO {', '.join(roles)}")
        plpy.execute(f"GRANT USAGE ON SEQUENCE {SEQUENCE} TO {', '.join(roles)}")
    result["writers"] = roles

    for code, table in sorted(SOURCES.items()):
        plpy.execute(
            "INSERT INTO trending._capture_installed (source, source_schema, relid) VALUES "
            f"({code}, {plpy.quote_literal(schema)}, {int(relids[table])}) "
            "ON CONFLICT (source) DO UPDATE SET source_schema = excluded.source_schema, relid = excluded.relid, "
            "installed_at = CASE WHEN trending._capture_installed.relid = excluded.relid "
            "  AND trending._capture_installed.source_schema = excluded.source_schema "
            "  THEN trending._capture_installed.installed_at ELSE excluded.installed_at END, "
            "installed_by = excluded.installed_by")
    # Recording starts with the triggers (issue 16): the armed row says until
    # when the triggers record; the first full cycle arms it. A row already
    # there (reinstall) is the cycles' business (_capture_arm).
    plpy.execute("INSERT INTO trending._capture_armed (since, fingerprint, record_until) "
                 "SELECT 0, '', pg_catalog.now() + s.value::pg_catalog.interval FROM trending.settings s "
                 "WHERE s.name = 'capture_max_pause' ON CONFLICT (one) DO NOTHING")
    if any(v != "kept" for v in result["tables"].values()) or result["removed"]:
        plpy.notice("trending: change capture installed; the next cycle runs full and arms it "
                    "(SELECT * FROM trending.capture_status)")
    return json.dumps(result)


def uninstall(plpy) -> str:
    """Body of trending.uninstall_capture(): see sql/functions/uninstall_capture.sql."""
    _require_superuser(plpy, "uninstall_capture()")
    plpy.execute("SELECT pg_catalog.set_config('lock_timeout', "
                 + plpy.quote_literal(_setting(plpy, "lock_timeout")) + ", true)")
    functions = _capture_functions(plpy)
    result = {"removed": [], "revoked": []}
    if functions:
        triggers = plpy.execute(
            "SELECT g.tgname, g.tgrelid::pg_catalog.regclass::text AS rel FROM pg_catalog.pg_trigger g "
            f"WHERE g.tgfoid = ANY (ARRAY[{', '.join(str(f) for f in functions)}]::oid[]) ORDER BY 2, 1")
        for rel in sorted({t["rel"] for t in triggers}):
            plpy.notice(f"trending: removing capture triggers from {rel}; this briefly locks the table "
                        "(ACCESS EXCLUSIVE)")
        for trigger in triggers:
            plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger['tgname'])} ON {trigger['rel']}")
            result["removed"].append(f"{trigger['rel']}.{trigger['tgname']}")
    # the writers' grants install gave (INSERT, USAGE); other grants stay
    grants = plpy.execute(
        "SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END AS role "
        "FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
        "LEFT JOIN pg_catalog.pg_roles r ON r.oid = a.grantee "
        f"WHERE c.oid = ANY (ARRAY[{', '.join(plpy.quote_literal(t) for t in DELTA_TABLES + (SEQUENCE,))}]"
        "::pg_catalog.regclass[]::oid[]) AND a.grantee <> c.relowner "
        "AND a.privilege_type IN ('INSERT', 'USAGE') ORDER BY 1")
    roles = [g["role"] for g in grants]
    if roles:
        plpy.execute(f"REVOKE INSERT ON TABLE {', '.join(DELTA_TABLES)} FROM {', '.join(roles)}")
        plpy.execute(f"REVOKE USAGE ON SEQUENCE {SEQUENCE} FROM {', '.join(roles)}")
    result["revoked"] = roles
    for table in ("trending._capture_armed", "trending._capture_installed") + DELTA_TABLES:
        plpy.execute(f"DELETE FROM {table}")
    return json.dumps(result)


def _qualified(plpy, schema: str, table: str) -> str:
    return f"{plpy.quote_ident(schema)}.{plpy.quote_ident(table)}"
