"""Change capture: what changed in the source tables since the last cycle.

Statement-level AFTER triggers (sql/functions/_capture_<table>.sql, generated
by tools/generate_capture.py) append the ids of changed rows to UNLOGGED delta
tables in schema trending, in the writer's transaction. They run as the role
trending_capture (SECURITY DEFINER), which may only append there: the
service's writers need no privilege in schema trending and have none. See
docs/incremental.md for the design and its cost.
This module installs and removes the triggers and answers the one question
a cycle asks first: may I run incrementally, and if not, why?

Protocol for a cycle (the cycle lease held throughout):

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

# the capture triggers' names; trending._capture_cover creates them, and
# trending._capture_catalog and _intact check their shape
TRIGGERS = ("trending_capture_insert", "trending_capture_update", "trending_capture_delete",
            "trending_capture_truncate")
DELTA_TABLES = ("trending._capture_changes", "trending._capture_plays", "trending._capture_truncates")
# the owner of the trigger functions (sql/grants.sql): they run as it
CAPTURE_ROLE = "trending_capture"
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
                   hint="Ask a superuser to run it: it locks the service's tables briefly; it grants nothing "
                        "to anyone.")


def _setting(plpy, name: str) -> str:
    return plpy.execute("SELECT s.value FROM trending.settings s WHERE s.name = "
                        + plpy.quote_literal(name))[0]["value"]


def _capture_functions(plpy) -> list[int]:
    names = ", ".join(plpy.quote_literal("_capture_" + t) for t in TABLES)
    return [r["oid"] for r in plpy.execute(CAPTURE_FUNCTIONS_SQL.format(names))]


def _check_capture_role(plpy, functions: list[int]) -> None:
    """The trigger functions run as their owner: it must be trending_capture,
    which must have no way in (login, membership) and no power (superuser, ...)."""
    wrong = plpy.execute(
        "SELECT pg_catalog.string_agg(p.proname || ' (owner ' || r.rolname || CASE WHEN p.prosecdef THEN '' "
        "ELSE ', not SECURITY DEFINER' END || ')', ', ' ORDER BY p.proname) AS list "
        "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner "
        f"WHERE p.oid = ANY (ARRAY[{', '.join(str(f) for f in functions)}]::oid[]) "
        f"AND (r.rolname <> {plpy.quote_literal(CAPTURE_ROLE)} OR NOT p.prosecdef)")[0]["list"]
    if wrong:
        plpy.error(f"trending: the capture trigger functions must run as {CAPTURE_ROLE}: {wrong}",
                   sqlstate="42501",
                   hint="ALTER EXTENSION trending UPDATE (or reinstall the extension) restores them.")
    powers = plpy.execute(
        "SELECT r.rolsuper OR r.rolcanlogin OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication "
        "OR r.rolbypassrls OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m "
        "WHERE r.oid IN (m.roleid, m.member)) AS more FROM pg_catalog.pg_roles r "
        f"WHERE r.rolname = {plpy.quote_literal(CAPTURE_ROLE)}")
    if powers and powers[0]["more"]:
        plpy.error(f"trending: role {CAPTURE_ROLE} has attributes or memberships it must not have",
                   sqlstate="42501",
                   detail="The capture triggers run as it: a way to log in or act as it could forge captured changes.",
                   hint=f"ALTER ROLE {CAPTURE_ROLE} NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION "
                        "NOBYPASSRLS, and revoke its memberships (trending doctor lists them).")


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
    result = {"source_schema": schema, "tables": {}, "removed": []}
    relids = {}
    partitions = {}  # table -> [(relid, qualified name)], every level under it
    for table in TABLES:
        row = plpy.execute(
            "SELECT c.oid, c.relkind, EXISTS (SELECT FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class k "
            "ON k.oid = h.inhrelid WHERE h.inhparent = c.oid AND NOT k.relispartition) AS has_children "
            "FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass("
            + plpy.quote_literal(_qualified(plpy, schema, table)) + ")")[0]
        if row["relkind"] not in ("r", "p") or row["has_children"]:
            plpy.error(f"trending: cannot capture changes of {schema}.{table}: it has inheritance children, "
                       "and writes to those would bypass statement triggers on it",
                       sqlstate="0A000",
                       hint="Capture needs plain or declaratively partitioned tables; without it every cycle "
                            "runs full.")
        relids[table] = row["oid"]
        partitions[table] = _partitions(plpy, row["oid"], f"{schema}.{table}")

    functions = _capture_functions(plpy)
    if len(functions) != len(TABLES):
        plpy.error("trending: the capture functions are missing", sqlstate="XX000",
                   hint="ALTER EXTENSION trending UPDATE, or reinstall the extension.")
    _check_capture_role(plpy, functions)
    # capture triggers on other relations: an old source schema, a table renamed away, a partition detached
    covered = list(relids.values()) + [relid for parts in partitions.values() for relid, _ in parts]
    stray = plpy.execute(
        "SELECT g.tgname, g.tgrelid::pg_catalog.regclass::text AS rel FROM pg_catalog.pg_trigger g "
        f"WHERE g.tgfoid = ANY (ARRAY[{', '.join(str(f) for f in functions)}]::oid[]) "
        f"AND g.tgrelid <> ALL (ARRAY[{', '.join(str(r) for r in covered)}]::oid[]) "
        "ORDER BY 2, 1")
    for trigger in stray:
        plpy.notice(f"trending: removing capture trigger {trigger['tgname']} from {trigger['rel']}, "
                    "which is no longer a source table; this briefly locks it (ACCESS EXCLUSIVE)")
        plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger['tgname'])} ON {trigger['rel']}")
        result["removed"].append(f"{trigger['rel']}.{trigger['tgname']}")

    # the source tables, then (partitioned sources) every partition at every
    # level: statement triggers fire only for the table a statement names
    result["partitions"] = {}
    for table in TABLES:
        qualified = _qualified(plpy, schema, table)
        if not _intact(plpy, relids[table], table):
            plpy.notice(f"trending: installing capture triggers on {qualified}; this briefly locks the table "
                        "(SHARE ROW EXCLUSIVE: its writers wait, its readers do not)")
        result["tables"][table] = _cover(plpy, relids[table], qualified, table, functions)
        for relid, partition in partitions[table]:
            result["partitions"][partition] = _cover(plpy, relid, partition, table, functions)
    # nothing is granted: the triggers run as trending_capture, whatever role writes

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
    if any(v != "kept" for v in list(result["tables"].values()) + list(result["partitions"].values())) \
            or result["removed"]:
        plpy.notice("trending: change capture installed; the next cycle runs full and arms it "
                    "(SELECT * FROM trending.capture_status)")
    return json.dumps(result)


def uninstall(plpy) -> str:
    """Body of trending.uninstall_capture(): see sql/functions/uninstall_capture.sql."""
    _require_superuser(plpy, "uninstall_capture()")
    plpy.execute("SELECT pg_catalog.set_config('lock_timeout', "
                 + plpy.quote_literal(_setting(plpy, "lock_timeout")) + ", true)")
    functions = _capture_functions(plpy)
    result = {"removed": []}
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
    # install granted nothing, so there is nothing to revoke (trending_capture
    # keeps its grants: they come with the extension, see sql/grants.sql)
    for table in ("trending._capture_armed", "trending._capture_installed") + DELTA_TABLES:
        plpy.execute(f"DELETE FROM {table}")
    return json.dumps(result)


def _partitions(plpy, relid: int, name: str) -> list[tuple[int, str]]:
    """The partitions of relid, every level, as (relid, schema-qualified name);
    an error if one cannot carry the capture triggers (a foreign table)."""
    rows = plpy.execute(
        "SELECT t.relid::pg_catalog.oid AS relid, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, "
        "c.relkind FROM pg_catalog.pg_partition_tree(" + str(int(relid)) + "::pg_catalog.regclass) t "
        "JOIN pg_catalog.pg_class c ON c.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE t.level > 0 ORDER BY t.level, c.relname")
    odd = [r["name"] for r in rows if r["relkind"] not in ("r", "p")]
    if odd:
        plpy.error(f"trending: cannot capture changes of {name}: its partition(s) {', '.join(odd)} are not plain "
                   "tables and cannot carry the capture triggers", sqlstate="0A000",
                   hint="Capture needs plain or declaratively partitioned tables; without it every cycle runs full.")
    return [(r["relid"], r["name"]) for r in rows]


def _cover(plpy, relid: int, qualified: str, table: str, functions: list[int]) -> str:
    """Put the capture triggers of `table` on relid (the source table or a
    partition) unless intact there: kept, installed or replaced."""
    if _intact(plpy, relid, table):
        return "kept"
    existing = plpy.execute(
        "SELECT g.tgname FROM pg_catalog.pg_trigger g "
        f"WHERE g.tgrelid = {int(relid)} AND (g.tgname LIKE 'trending\\_capture\\_%' "
        f"OR g.tgfoid = ANY (ARRAY[{', '.join(str(f) for f in functions)}]::oid[])) ORDER BY 1")
    for trigger in existing:
        plpy.execute(f"DROP TRIGGER {plpy.quote_ident(trigger['tgname'])} ON {qualified}")
    plpy.execute(f"SELECT trending._capture_cover({int(relid)}, {plpy.quote_literal(table)})")
    return "replaced" if existing else "installed"


def _qualified(plpy, schema: str, table: str) -> str:
    return f"{plpy.quote_ident(schema)}.{plpy.quote_ident(table)}"
