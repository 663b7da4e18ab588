"""`trending uninstall`: remove what `trending install` created, and nothing
else.

In one transaction of this database (when pg_cron lives in another, its own
transaction commits just before ours), so that pg_cron never runs a cycle
against a dropped extension and a refused DROP leaves everything in place:
the pg_cron job of this database, the change capture's triggers
(trending.uninstall_capture()), what install granted its job role here on
the service's schema and tables and the database (REVOKE), and DROP
EXTENSION trending. Then, each only when nothing else uses it:

- schema trending, which CREATE EXTENSION made (it is not a member of the
  extension): dropped when empty, else kept;
- the job role install created (its comment marks it; a role is
  cluster-wide): dropped with the last database that uses it: owns
  something or holds a privilege there, or a pg_cron job runs as it;
- role trending_capture (the extension script creates it; it owns the
  capture functions of every database that has trending): dropped with the
  last such database;
- pg_cron, when install created it (its comment marks it) and no other job
  is left.

What it must leave, it names with the SQL that removes it. A job that runs
trending in another database is left alone. The source tables, plpython3u
and the extension files stay. The steps are planned from the catalogs first
(plan.py): the real run executes them, --dry-run prints them."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack

import psycopg
from psycopg import sql

from .. import cron
from ..db import SOURCE_TABLES, connect, extension_version
from ..errors import CliError
from ..plan import Outcome, Step, execute, note, show
from .install import CAPTURE_ROLE, ROLE_MARK

LOCK_TIMEOUT = "10s"  # DROP waits for readers and a running cycle; do not queue behind them forever


def register(commands) -> None:
    parser = commands.add_parser(
        "uninstall", help="remove what trending install created: the job, the extension, its roles",
        description="Remove trending's pg_cron job (wherever pg_cron lives, if it runs this database), the change "
                    "capture's triggers, what install granted its job role here, then DROP EXTENSION trending "
                    "with the score tables and run history; then the empty schema trending, the job role "
                    "install created and role trending_capture once no database of the cluster uses them, and "
                    "pg_cron if install created it and no job is left. What it must leave it names, with the "
                    "SQL that removes it. Refuses when other objects depend on the extension (a view over the "
                    "score tables, say) unless --cascade. Nothing to do is not an error.")
    parser.add_argument("--cascade", action="store_true",
                        help="also drop the objects that depend on the extension (DROP ... CASCADE)")
    parser.add_argument("--force", action="store_true",
                        help="uninstall even though a same-named score table exists in another schema")
    parser.add_argument("--dry-run", action="store_true",
                        help="print every step that would happen with its SQL, and change nothing: it only reads "
                             "the catalogs, on a read-only session, and takes no lock a writer waits for")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn, ExitStack() as stack:
        steps = plan(conn, args.dsn, stack, cascade=args.cascade, force=args.force, dry_run=args.dry_run)
        if args.dry_run:
            show(steps, "uninstall", conn.info.dbname, print)
        elif not any(step.changes for step in steps):
            print(f"trending uninstall: trending is not installed in database {conn.info.dbname}: nothing to do")
        else:
            execute(steps, print)
            print("trending uninstall: done")
    return 0


def plan(conn, dsn: str, stack: ExitStack, *, cascade: bool = False, force: bool = False,
         dry_run: bool = False) -> list[Step]:
    """The steps of an uninstall, from the catalogs alone."""
    if dry_run:
        conn.execute("SET default_transaction_read_only = on")
    version = extension_version(conn)
    if version is not None:
        _check_shadowed(conn, force)
    cron_conn, job, steps = _job(conn, dsn, stack, dry_run)
    marked = _marked_roles(conn)
    revokes = {role: _revocations(conn, role) for role in marked} if version is not None else {}
    steps += _plan_drop(conn, version, cron_conn, job, revokes, cascade)
    steps += _plan_schema(conn, marked)
    for role in marked:
        steps += _plan_role(conn, cron_conn, job, role, revokes.get(role, []), "job role")
    if job is not None and job.username not in marked:
        steps += _unmarked_job_role(conn, job.username)
    if _role_exists(conn, CAPTURE_ROLE):
        steps += _plan_role(conn, cron_conn, job, CAPTURE_ROLE, [], "capture role")
    if cron_conn is not None and cron.installed(cron_conn):
        steps += _plan_pg_cron(cron_conn, job, version is not None or job is not None)
    return steps


# -- the job, the capture, the grants and the extension: one transaction ----------
def _job(conn, dsn: str, stack: ExitStack, dry_run: bool):
    """(the cron database's connection or None, the job to remove or None, notes)."""
    cron_db = cron.database(conn)
    if cron_db is None:
        return None, None, []
    cron_conn = stack.enter_context(cron.connect_cron(conn, dsn, cron_db))
    if dry_run and cron_conn is not conn:
        cron_conn.execute("SET default_transaction_read_only = on")
    job = cron.find_job(cron_conn, conn.info.dbname) if cron.installed(cron_conn) else None
    if job is not None and job.database != conn.info.dbname:
        return cron_conn, None, [note("schedule", f"pg_cron job {job.jobid} runs trending in database "
                                                  f"{job.database}: left alone")]
    return cron_conn, job, []


def _plan_drop(conn, version: str | None, cron_conn, job, revokes: dict[str, list], cascade: bool) -> list[Step]:
    """Unschedule, uninstall the capture, revoke the job role's grants here
    and DROP EXTENSION, all or nothing: the first step runs them all in one
    transaction, the others say what it did."""
    database = conn.info.dbname
    unschedule = sql.SQL("SELECT cron.unschedule({}::bigint)").format(sql.Literal(job.jobid)) if job else None
    triggers = _capture_triggers(conn) if version is not None else []
    grants = [statement for statements in revokes.values() for _, _, statement in statements]
    drop = sql.SQL("DROP EXTENSION trending {}").format(sql.SQL("CASCADE" if cascade else "RESTRICT"))
    if job is None and version is None:
        return []
    revoked = {role: ", ".join(f"{privilege} on {target}" for target, privilege, _ in statements)
               for role, statements in revokes.items() if statements}

    def run_all() -> Outcome:
        removed = None
        try:
            with conn.transaction():
                if version is not None:
                    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                    if triggers:
                        conn.execute("SET LOCAL client_min_messages = warning")  # a NOTICE per table otherwise
                        (result,) = conn.execute("SELECT trending.uninstall_capture()").fetchone()
                        removed = result["removed"]
                    for statement in grants:
                        conn.execute(statement)
                    conn.execute(drop)
                if job is not None:
                    with cron_conn.transaction():
                        cron_conn.execute(unschedule)
        except psycopg.errors.DependentObjectsStillExist as error:
            detail = (error.diag.message_detail or "").splitlines()
            raise CliError(error.diag.message_primary,
                           (f"{detail[0]}{' (and more)' if len(detail) > 1 else ''}; " if detail else "")
                           + "drop those first, or rerun with --cascade to drop them too") from error
        except psycopg.errors.LockNotAvailable as error:
            raise CliError(f"DROP EXTENSION waited {LOCK_TIMEOUT} for a lock on trending's tables",
                           "a running cycle or an open transaction uses them: `trending status` shows a running "
                           "cycle; retry when it has finished") from error
        lines = []
        if job is not None:
            lines.append(f"schedule: removed pg_cron job {job.jobid} ('{job.schedule}', in database "
                         f"{cron_conn.info.dbname})")
        if removed is not None:
            lines.append(f"capture: removed {len(removed)} trigger(s) from the source tables, which are as they "
                         "were before")
        if version is not None:
            lines.append(f"extension: dropped trending {version} from database {database}")
        return lines + [f"job role: revoked from {role} what install granted it in database {database}: {what}"
                        for role, what in revoked.items()], True

    steps = []
    if job is not None:
        steps.append(Step("schedule", f"remove pg_cron job {job.jobid} ('{job.schedule}', as role {job.username}, "
                                      f"running trending in database {database})",
                          sql=[unschedule.as_string(cron_conn) + ";"], database=cron_conn.info.dbname))
    if triggers:
        steps.append(Step("capture", f"remove the capture triggers ({len(triggers)}) from "
                                     f"{', '.join(sorted({t.rsplit('.', 1)[0] for t in triggers}))}, which are then "
                                     "as they were before (each table locked briefly, ACCESS EXCLUSIVE)",
                          sql=["SELECT trending.uninstall_capture();"]))
    for role, what in revoked.items():
        steps.append(Step("job role", f"revoke from {role} what install granted it in database {database}: {what}",
                          sql=[s.as_string(conn) + ";" for _, _, s in revokes[role]]))
    if version is not None:
        steps.append(Step("extension", f"drop trending {version} from database {database}, with its tables (the "
                                       "scores, settings and run history), functions and their grants"
                                       + (", and the objects that depend on it" if cascade else ""),
                          sql=[drop.as_string(conn) + ";"]))
    # one transaction: the first step runs it, the others only said what it does
    steps[0].run = run_all
    for step in steps[1:]:
        step.run = lambda: ([], True)
    if len(steps) > 1:
        steps[-1].what += ("; all of the above in one transaction (pg_cron's commits just before it): a refused "
                           "step leaves everything as it was")
    return steps


def _capture_triggers(conn) -> list[str]:
    """The capture triggers (relation.trigger) trending.uninstall_capture() removes."""
    if conn.execute("SELECT pg_catalog.to_regprocedure('trending.uninstall_capture()') IS NULL").fetchone()[0]:
        return []  # a version without the capture
    return [r[0] for r in conn.execute("""
SELECT pg_catalog.format('%%s.%%I', g.tgrelid::pg_catalog.regclass, g.tgname) FROM pg_catalog.pg_trigger g
WHERE g.tgfoid IN (SELECT pg_catalog.to_regprocedure(pg_catalog.format('trending._capture_%%s()', t))
                   FROM pg_catalog.unnest(%s::text[]) AS t)
ORDER BY 1""", (list(SOURCE_TABLES),))]


def _marked_roles(conn) -> list[str]:
    """The roles trending install created (their comment says so)."""
    return [r[0] for r in conn.execute(
        "SELECT r.rolname FROM pg_catalog.pg_roles r WHERE pg_catalog.shobj_description(r.oid, 'pg_authid') = %s "
        "ORDER BY 1", (ROLE_MARK,))]


def _role_exists(conn, role: str) -> bool:
    return conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s)",
                        (role,)).fetchone()[0]


def _revocations(conn, role: str) -> list[tuple[str, str, sql.Composable]]:
    """What trending.grant_cycle gave `role` outside schema trending, as it
    stands: USAGE on the source schema, SELECT on its source tables,
    TEMPORARY on this database: [(object, privilege, REVOKE)]."""
    rows = conn.execute("""
WITH me AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s),
src AS (SELECT value AS schema FROM trending.settings WHERE name = 'source_schema')
SELECT 'schema', pg_catalog.format('%%I', n.nspname), 'USAGE', 0 FROM pg_catalog.pg_namespace n, src, me
WHERE n.nspname = src.schema
  AND EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a WHERE a.grantee = me.oid AND a.privilege_type = 'USAGE')
UNION ALL
SELECT 'table', pg_catalog.format('%%I.%%I', src.schema, t), 'SELECT', o
FROM pg_catalog.unnest(%(tables)s::text[]) WITH ORDINALITY AS u(t, o), src, me, pg_catalog.pg_class c
WHERE c.oid = pg_catalog.to_regclass(pg_catalog.format('%%I.%%I', src.schema, t))
  AND EXISTS (SELECT FROM pg_catalog.aclexplode(c.relacl) a WHERE a.grantee = me.oid AND a.privilege_type = 'SELECT')
UNION ALL
SELECT 'database', pg_catalog.format('%%I', d.datname), 'TEMPORARY', 100 FROM pg_catalog.pg_database d, me
WHERE d.datname = pg_catalog.current_database()
  AND EXISTS (SELECT FROM pg_catalog.aclexplode(d.datacl) a WHERE a.grantee = me.oid
              AND a.privilege_type = 'TEMPORARY')
ORDER BY 4""", {"role": role, "tables": list(SOURCE_TABLES)}).fetchall()
    tables = [name for kind, name, _, _ in rows if kind == "table"]
    revokes = [(f"{kind} {name}", privilege,
                sql.SQL("REVOKE {} ON {} {} FROM {}").format(sql.SQL(privilege), sql.SQL(kind.upper()),
                                                             sql.SQL(name), sql.Identifier(role)))
               for kind, name, privilege, _ in rows if kind != "table"]
    if tables:  # one statement for the tables, after the schema's
        revokes.insert(1 if rows[0][0] == "schema" else 0,
                       (f"table{'s' * (len(tables) > 1)} {', '.join(tables)}", "SELECT",
                        sql.SQL("REVOKE SELECT ON {} FROM {}").format(sql.SQL(", ".join(tables)),
                                                                      sql.Identifier(role))))
    return revokes


# -- schema trending ---------------------------------------------------------------
def _plan_schema(conn, marked: list[str]) -> list[Step]:
    """CREATE EXTENSION created schema trending and DROP EXTENSION leaves it
    (it is not a member), with its grants: dropped when nothing but the
    extension's objects is in it, else its grants to trending's roles are
    revoked (so that the roles can go)."""
    if conn.execute("SELECT pg_catalog.to_regnamespace('trending') IS NULL").fetchone()[0]:
        return []
    others = [r[0] for r in conn.execute("""
SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0) FROM pg_catalog.pg_depend d
WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
  AND d.refobjid = 'trending'::pg_catalog.regnamespace AND d.classid <> 'pg_catalog.pg_extension'::pg_catalog.regclass
  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                  WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype IN ('e', 'a', 'i')
                    AND (e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                         OR EXISTS (SELECT FROM pg_catalog.pg_depend m
                                    WHERE m.classid = e.refclassid AND m.objid = e.refobjid AND m.deptype = 'e')))
ORDER BY 1""")]
    if others:
        roles = [r for r in [*marked, CAPTURE_ROLE] if _role_exists(conn, r)]
        revoke = [sql.SQL("REVOKE ALL ON SCHEMA trending FROM {}").format(sql.Identifier(r)) for r in roles]

        def revoke_only() -> Outcome:
            for statement in revoke:
                conn.execute(statement)
            return [f"schema: kept trending, which holds what trending did not create: {', '.join(others)}; "
                    f"revoked its grants to {', '.join(roles)}; to remove it with them: DROP SCHEMA trending "
                    "CASCADE;"], True
        return [Step("schema", f"keep schema trending, which holds what trending did not create: "
                               f"{', '.join(others)}; revoke its grants to {', '.join(roles)}",
                     sql=[s.as_string(conn) + ";" for s in revoke], run=revoke_only)]
    statement = sql.SQL("DROP SCHEMA trending RESTRICT")

    def drop() -> Outcome:
        try:
            with conn.transaction():
                conn.execute(statement)
        except psycopg.errors.DependentObjectsStillExist as error:  # something came in meanwhile
            return [f"schema: kept trending: {error.diag.message_detail or error.diag.message_primary}; to remove "
                    "it: DROP SCHEMA trending CASCADE;"], False
        return ["schema: dropped trending (empty once the extension was gone; CREATE EXTENSION had created it)"], True
    return [Step("schema", "drop schema trending, empty once the extension is gone, and its grants (CREATE "
                           "EXTENSION created it; it is no member of the extension)",
                 sql=[statement.as_string(conn) + ";"], run=drop)]


# -- the roles: cluster-wide, dropped with the last database that uses them --------
def _plan_role(conn, cron_conn, job, role: str, revoked: list, area: str) -> list[Step]:
    uses, commands = _role_uses(conn, cron_conn, job, role, revoked)
    ident = sql.Identifier(role)
    statement = sql.SQL("DROP ROLE {}").format(ident)
    if uses:
        if role == CAPTURE_ROLE:
            return [note(area, f"kept {role} (cluster-wide), which trending still needs elsewhere: "
                               f"{'; '.join(uses)}; once trending is uninstalled from every database, remove it "
                               f"with: DROP ROLE {role};")]
        return [note(area, f"kept {role} (cluster-wide; trending install created it), which is still used: "
                           f"{'; '.join(uses)}; trending uninstall drops it with the last database that uses it, "
                           f"or remove it now: {' '.join(commands)} DROP ROLE {role};")]
    done = (f"capture role: dropped {role} (no database of the cluster has trending any more)" if role == CAPTURE_ROLE
            else f"job role: dropped {role} (trending install created it; no database of the cluster uses it any "
                 "more)")

    def drop() -> Outcome:
        try:
            with conn.transaction():
                conn.execute(statement)
        except (psycopg.errors.DependentObjectsStillExist, psycopg.errors.InsufficientPrivilege) as error:
            where = (error.diag.message_detail or error.diag.message_primary or "").splitlines()
            return [f"{area}: kept {role} (cluster-wide), still used: {'; '.join(where)}; once nothing uses it, "
                    f"remove it with: DROP ROLE {role};"], False
        return [done], True
    why = ("no other database of the cluster has trending" if role == CAPTURE_ROLE else
           "trending install created it, and no other database or pg_cron job uses it")
    return [Step(area, f"drop role {role} (cluster-wide; {why})", sql=[statement.as_string(conn) + ";"], run=drop)]


def _role_uses(conn, cron_conn, job, role: str, revoked: list) -> tuple[list[str], list[str]]:
    """What will still use `role` once this uninstall is done, and the SQL
    that would end each use: what it owns or is granted in any database
    (pg_shdepend, the cluster's shared catalog, read from here), minus what
    this uninstall removes here (the extension's objects, schema trending,
    the grants it revokes); pg_cron jobs that run as it; its memberships."""
    rows = conn.execute("""
WITH me AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s),
here AS (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
SELECT CASE WHEN s.dbid = 0 AND s.classid = 'pg_catalog.pg_database'::pg_catalog.regclass
            THEN (SELECT datname FROM pg_catalog.pg_database WHERE oid = s.objid) ELSE d.datname END,
       (s.dbid = here.oid OR (s.dbid = 0 AND s.classid = 'pg_catalog.pg_database'::pg_catalog.regclass
                              AND s.objid = here.oid)),
       CASE WHEN s.dbid = here.oid THEN pg_catalog.pg_describe_object(s.classid, s.objid, s.objsubid)
            WHEN s.dbid = 0 THEN pg_catalog.pg_describe_object(s.classid, s.objid, 0) END,
       s.dbid = here.oid AND EXISTS (
           SELECT FROM pg_catalog.pg_depend e JOIN pg_catalog.pg_extension x ON x.oid = e.refobjid
           WHERE e.classid = s.classid AND e.objid = s.objid AND e.deptype = 'e'
             AND e.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND x.extname = 'trending'),
       s.dbid = here.oid AND s.classid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
           AND s.objid = pg_catalog.to_regnamespace('trending')::oid,
       CASE WHEN s.deptype = 'a' AND s.objsubid = 0 THEN CASE s.classid
           WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
               (SELECT pg_catalog.array_agg(a.privilege_type) FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
                WHERE s.dbid = here.oid AND c.oid = s.objid AND a.grantee = me.oid)
           WHEN 'pg_catalog.pg_namespace'::pg_catalog.regclass THEN
               (SELECT pg_catalog.array_agg(a.privilege_type) FROM pg_catalog.pg_namespace n,
                       pg_catalog.aclexplode(n.nspacl) a
                WHERE s.dbid = here.oid AND n.oid = s.objid AND a.grantee = me.oid)
           WHEN 'pg_catalog.pg_database'::pg_catalog.regclass THEN
               (SELECT pg_catalog.array_agg(a.privilege_type) FROM pg_catalog.pg_database b,
                       pg_catalog.aclexplode(b.datacl) a WHERE b.oid = s.objid AND a.grantee = me.oid) END END
FROM pg_catalog.pg_shdepend s CROSS JOIN me CROSS JOIN here LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.refobjid = me.oid
ORDER BY 1, 3""", {"role": role}).fetchall()
    gone = {(target.split(" ", 1)[1], privilege) for target, privilege, _ in revoked}
    gone |= {(name, "SELECT") for target, privilege, _ in revoked if target.startswith("table")
             for name in target.split(" ", 1)[1].split(", ")}
    elsewhere: Counter = Counter()
    here: list[str] = []
    for database, is_here, what, member, trending_schema, privileges in rows:
        if not is_here:
            elsewhere[database or "the cluster (a shared object)"] += 1
            continue
        if member or trending_schema:  # dropped with the extension; the schema dropped or its grants revoked
            continue
        name = (what or "").split(" ", 1)[-1]
        if privileges and all((name, p) in gone for p in privileges):
            continue
        here.append(what or "an object")
    uses = [f"{n} object{'s' * (n > 1)} in database {db}" for db, n in sorted(elsewhere.items())]
    commands = [f"in database {db}: REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role};"
                for db in sorted(elsewhere) if not db.startswith("the cluster")]
    if here:
        uses.append(f"in database {conn.info.dbname}: {', '.join(here)}")
        commands.append(f"here: REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role};")
    if cron_conn is not None and cron.installed(cron_conn):
        for other in cron.other_jobs(cron_conn, job):
            if other.username == role:
                uses.append(f"pg_cron job {other.jobid} runs as it (in database {other.database})")
                commands.append(f"in database {cron_conn.info.dbname}: SELECT cron.unschedule({other.jobid});")
    members = [r[0] for r in conn.execute(
        "SELECT CASE WHEN m.member = r.oid THEN 'a member of role ' || g.rolname ELSE 'role ' || g.rolname "
        "|| ' is a member of it' END FROM pg_catalog.pg_roles r JOIN pg_catalog.pg_auth_members m "
        "ON r.oid IN (m.roleid, m.member) JOIN pg_catalog.pg_roles g "
        "ON g.oid = CASE WHEN m.member = r.oid THEN m.roleid ELSE m.member END WHERE r.rolname = %s ORDER BY 1",
        (role,))]
    uses += members
    return uses, commands


def _unmarked_job_role(conn, role: str) -> list[Step]:
    """The job ran as a role install did not create: it stays, and so do the
    grants on the sources that it may have had before install."""
    if not _role_exists(conn, role) or conn.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = %s",
                                                    (role,)).fetchone()[0]:
        return []
    revokes = _revocations(conn, role) if extension_version(conn) else []
    extra = (f"; if install's grant_cycle gave it its privileges on the sources, revoke them: "
             f"{' '.join(s.as_string(conn) + ';' for _, _, s in revokes)}" if revokes else "")
    return [note("job role", f"kept {role}: trending install did not create it{extra}")]


# -- pg_cron -----------------------------------------------------------------------
def _plan_pg_cron(cron_conn, job, say: bool) -> list[Step]:
    """DROP EXTENSION pg_cron when install created it (cron.CREATED_MARK)
    and no job but this database's is left."""
    cron_db = cron_conn.info.dbname
    if not cron.created_by_install(cron_conn):
        return [note("pg_cron", f"kept in database {cron_db} (trending install did not create it)")] if say else []
    others = cron.other_jobs(cron_conn, job)
    if others:
        return [note("pg_cron", f"kept in database {cron_db}: trending install created it, and {len(others)} other "
                                f"job{'s' * (len(others) > 1)} use{'s' * (len(others) == 1)} it "
                                f"({', '.join(str(j.jobid) for j in others)}); once they are gone, remove it "
                                f"with, in database {cron_db}: DROP EXTENSION pg_cron; (and take pg_cron out of "
                                "shared_preload_libraries)")]
    statement = sql.SQL("DROP EXTENSION pg_cron")

    def drop() -> Outcome:
        cron_conn.execute(statement)
        return [f"pg_cron: dropped the extension from database {cron_db} (trending install created it; no job is "
                "left); pg_cron stays in shared_preload_libraries until you take it out"], True
    return [Step("pg_cron", f"drop the extension from database {cron_db}, with its job history: trending install "
                            "created it and no other job uses it",
                 sql=[statement.as_string(cron_conn) + ";"], run=drop, database=cron_db)]


# -- same-named tables in other schemas (the switch-over's rollback trap) --------
# An API that finds trending's tables through its search_path (trending, public)
# would, once they are dropped, silently resolve the same names to the old
# tables further down its path and serve their stale scores without an error.

SCORE_TABLES = ("track_trending_scores", "playlist_trending_scores")


def _check_shadowed(conn, force: bool) -> None:
    others = [r[0] for r in conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = ANY (%s) AND n.nspname <> 'trending' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "ORDER BY 1", (list(SCORE_TABLES),))]
    if not others:
        return
    readers = [r[0] for r in conn.execute(
        "SELECT coalesce(r.rolname, 'every role') FROM pg_catalog.pg_db_role_setting s "
        "LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole "
        "WHERE s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())) "
        "AND EXISTS (SELECT FROM unnest(s.setconfig) AS c(setting) WHERE c.setting ~* '^search_path=.*trending') "
        "ORDER BY 1")]
    problem = (f"{' and '.join(others)} also exist{'s' * (len(others) == 1)}: a client that reads "
               f"trending's score tables through its search_path would silently read "
               f"{'that table' if len(others) == 1 else 'those tables'} after the uninstall")
    if readers:
        problem += f" (roles whose search_path names trending: {', '.join(readers)})"
    if not force:
        raise CliError(problem, "point the API back at the old tables first (docs/switch-over.md: rollback), "
                                "then rerun with --force")
    print(f"warning: {problem}; going on (--force)")
