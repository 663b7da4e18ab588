"""`trending install`: everything a database needs to run trending, idempotently.

1. The extension files: the package carries the built control file and SQL
   scripts (bundle.py); when the server runs on this machine and its files
   are missing or differ, they are copied into its extension directory.
2. CREATE EXTENSION trending CASCADE, or ALTER EXTENSION trending UPDATE when
   the files carry a newer version.
3. The source schema setting, if given.
4. With --capture: the change capture (trending.install_capture(), see
   docs/incremental.md), which briefly locks each source table it puts
   triggers on.
5. pg_cron, created in its database when it is preloaded but not created
   (its comment marks it as install's: `trending uninstall` drops it with
   the last job).
6. The job role (default trending_job; a role is cluster-wide, so one per
   cluster serves every database): a non-superuser with LOGIN (pg_cron 1.4.2
   runs jobs only as such roles) and no password, granted what a cycle needs
   with trending.grant_cycle(); a role install creates carries a comment
   that says so (`trending uninstall` drops only such a role).
7. The pg_cron job, in whichever database pg_cron lives (cron.py), run as
   the job role.

The steps are planned from the catalogs first (plan.py): the real run
executes them, --dry-run prints them (with their SQL) on a read-only
session and changes nothing. What would make the result fail is checked
before anything changes: source tables missing (unless --force), pg_cron
unusable for an explicit --schedule, a job role pg_cron could not log in as
(unless --force). Each step says what it changed; a second run changes
nothing and says so.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

from .. import bundle, compat, cron
from ..db import (DEFAULT_SOURCE_SCHEMA, SOURCE_TABLES, available_version, connect, extension_version,
                  is_superuser, source_schema, source_tables_problem)
from ..errors import CliError
from ..plan import Outcome, Step, execute, note, show

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
ROOT_HINT = "run as root (sudo trending install ...) or `sudo make install` in a trending checkout"


def register(commands) -> None:
    parser = commands.add_parser(
        "install", help="install the extension files, create or update the extension, schedule it",
        description="Install trending into the database (idempotent): copy the extension files into the "
                    "server's extension directory when the server runs on this machine and they are missing "
                    "or differ (needs write access there), CREATE EXTENSION trending CASCADE or ALTER "
                    "EXTENSION trending UPDATE, set the source schema, and schedule the cycle with pg_cron "
                    "in whichever database pg_cron lives (creating pg_cron there when it is preloaded but not "
                    f"created), run as the job role (--job-role, default {cron.DEFAULT_ROLE}: a non-superuser "
                    "with LOGIN and no password, created when missing and granted with "
                    "trending.grant_cycle(); one per cluster). Without --schedule an existing job keeps its "
                    f"schedule and a new one runs hourly ('{cron.DEFAULT_SCHEDULE}'); without pg_cron "
                    "nothing is scheduled (a warning). Refuses, before changing anything, a source schema "
                    "that lacks the tables and a job pg_cron could not log in as (pg_hba.conf; "
                    "cron.use_background_workers = on needs none), unless --force. Needs a superuser. "
                    "--dry-run prints every step and its SQL instead, and changes nothing.")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--schedule", metavar="CRON",
                      help=f"pg_cron schedule, five fields in GMT (new jobs default to '{cron.DEFAULT_SCHEDULE}')")
    when.add_argument("--no-schedule", action="store_true", help="leave pg_cron alone")
    parser.add_argument("--source-schema", metavar="S", help="the schema holding the service's source tables")
    parser.add_argument("--job-role", metavar="ROLE", default=cron.DEFAULT_ROLE,
                        help=f"the role the pg_cron job runs as (default {cron.DEFAULT_ROLE}): created when missing "
                             "as a non-superuser with LOGIN and no password, granted with trending.grant_cycle(); "
                             "roles are cluster-wide, so one job role serves every database of the cluster")
    parser.add_argument("--capture", action="store_true",
                        help="also install the change capture: triggers on the source tables that record what "
                             "changed (trending.install_capture(); briefly locks each table, its writers wait); "
                             "it grants nothing: the triggers run as role trending_capture. Each full cycle then "
                             "keeps it armed and prunes it. Idempotent")
    parser.add_argument("--force", action="store_true",
                        help="install even when the source tables are missing or pg_cron could not log in as the "
                             "job role (cycles fail until that is fixed)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print every step that would happen (extension, settings, roles, grants, capture "
                             "triggers, pg_cron job) with its SQL, and change nothing: it only reads the catalogs, "
                             "on a read-only session, and takes no lock a writer waits for")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn, ExitStack() as stack:
        before = extension_version(conn)
        steps = plan(conn, args.dsn, stack, schedule=args.schedule, no_schedule=args.no_schedule,
                     wanted_schema=args.source_schema, job_role=args.job_role, force=args.force,
                     capture=args.capture, dry_run=args.dry_run)
        if args.dry_run:
            show(steps, "install", conn.info.dbname, print)
            return 0
        changed = execute(steps, print)
        offer = compat.capture_offer(conn, before)  # after an update from 1.0 or 1.1: the reason to upgrade
    if offer:
        print(offer)
    print("trending install: done" if changed else "trending install: nothing to change")
    return 0


def install(conn, dsn: str, *, schedule: str | None = None, no_schedule: bool = False,
            source_schema: str | None = None, job_role: str = cron.DEFAULT_ROLE, force: bool = False,
            capture: bool = False, out=print) -> bool:
    """Plan the steps, then run them; True if any changed something."""
    with ExitStack() as stack:
        return execute(plan(conn, dsn, stack, schedule=schedule, no_schedule=no_schedule,
                            wanted_schema=source_schema, job_role=job_role, force=force, capture=capture,
                            out=out), out)


def plan(conn, dsn: str, stack: ExitStack, *, schedule: str | None = None, no_schedule: bool = False,
         wanted_schema: str | None = None, job_role: str = cron.DEFAULT_ROLE, force: bool = False,
         capture: bool = False, dry_run: bool = False, out=print) -> list[Step]:
    """The steps of an install, from the catalogs alone (a dry run's session
    is read-only: it could not change anything if it tried). What would make
    the result fail is refused here, before anything changes."""
    if not is_superuser(conn):
        raise CliError(f"role {conn.info.user} is not a superuser",
                       "installing trending needs one (its functions are PL/Python, an untrusted language): "
                       "connect as a superuser, e.g. --dsn \"user=postgres\"")
    if dry_run:
        _read_only(conn)
    _check_sources(conn, wanted_schema, force, out)
    cron_conn, cron_warning = (None, None) if no_schedule else _cron(conn, dsn, schedule, stack, dry_run)
    if cron_conn is not None:
        _check_login(conn, job_role, force, out)
    before = extension_version(conn)
    current_schema = source_schema(conn) if before else DEFAULT_SOURCE_SCHEMA
    schema = wanted_schema or current_schema
    steps, version = _plan_files(conn)
    steps += _plan_extension(conn, version)
    steps += _plan_source_schema(conn, current_schema, wanted_schema)
    if capture:
        steps += _plan_capture(conn, schema, before, version)
    if cron_conn is not None:
        steps += _plan_pg_cron(cron_conn, schedule)
        if dry_run and schedule:
            steps.append(note("schedule", f"'{schedule}' is checked by pg_cron when the real run schedules it"))
        steps += _plan_job_role(conn, job_role, schema, force, before != version or schema != current_schema)
        steps += _plan_schedule(conn, cron_conn, schedule, job_role)
    elif cron_warning:
        steps.append(note("warning", f"not scheduled: {cron_warning}; meanwhile run cycles with `trending recompute`"))
    return steps


def _read_only(conn) -> None:
    """A dry run's sessions are read-only: a write, DDL, nextval or a lock
    stronger than a writer's would fail rather than happen."""
    conn.execute("SET default_transaction_read_only = on")


def _check_sources(conn, wanted: str | None, force: bool, out) -> None:
    """Refuse (unless --force) a source schema that does not exist or lacks
    tables: the job would fail every time it runs."""
    schema = wanted or (source_schema(conn) if extension_version(conn) else DEFAULT_SOURCE_SCHEMA)
    problem = source_tables_problem(conn, schema)
    if problem is None:
        return
    if not force:
        raise CliError(f"{problem}: a cycle cannot run",
                       "name the schema that holds the service's tables with --source-schema SCHEMA "
                       "(`trending doctor` lists what is missing), or --force to install anyway")
    out(f"warning: {problem}: cycles fail until it holds the source tables (--force)")


# -- 1. files ------------------------------------------------------------------
def _files(conn, out) -> bool:
    """Install the extension files where the server reads them (a plan of one step, run)."""
    return execute(_plan_files(conn)[0], out)


def _plan_files(conn) -> tuple[list[Step], str | None]:
    """(the files step, the trending version the server offers after it)."""
    carried = bundle.files()
    if not carried:
        raise CliError("this trending package carries no extension files",
                       "reinstall the CLI from a built checkout: make, then pip install .")
    target = _extension_dir(conn)
    differ = _differing(conn, target, carried)
    if not differ:
        return [note("extension files", f"up to date in {target}")], available_version(conn, "trending")
    if not _server_is_local(conn, target):
        if "trending.control" in differ and _server_file(conn, target / "trending.control") is None:
            raise CliError("the trending extension files are not installed on the server, which does not run "
                           "on this machine",
                           "install them on the database server: `sudo make install` in a checkout, or run "
                           "`trending install` there")
        return [note("warning", f"the server's extension files differ from this package's ({', '.join(differ)}); "
                                "the server does not run on this machine, so they stay as they are")], \
            available_version(conn, "trending")

    def copy() -> Outcome:
        for name in differ:
            _write(target / name, carried[name])
        if _differing(conn, target, carried):
            raise CliError(f"copied the extension files into {target}, but the server reads other files there",
                           "the server does not run on this machine: install the files on the database server "
                           "(`sudo make install` in a checkout there)")
        return [f"extension files: installed {', '.join(differ)} into {target}"], True

    step = Step("extension files", f"install {', '.join(differ)} into {target} (a file copy, no SQL)", run=copy)
    return [step], bundle.default_version(carried["trending.control"])


def _extension_dir(conn) -> Path:
    """Where the server looks for extension files (its own pg_config, not ours)."""
    (sharedir,) = conn.execute("SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR'").fetchone()
    return Path(sharedir) / "extension"


def _server_file(conn, path: Path) -> bytes | None:
    """The file as the server reads it; None if missing. (PostgreSQL 15's
    pg_read_binary_file has no missing_ok without offset and length.)"""
    return conn.execute("SELECT CASE WHEN (pg_catalog.pg_stat_file(%(p)s, true)).size IS NOT NULL "
                        "THEN pg_catalog.pg_read_binary_file(%(p)s) END", {"p": str(path)}).fetchone()[0]


def _differing(conn, target: Path, carried: dict[str, bytes]) -> list[str]:
    """The carried files the server does not have as they are (read by the server itself)."""
    return [name for name, content in carried.items() if _server_file(conn, target / name) != content]


def _server_is_local(conn, target: Path) -> bool:
    host = conn.info.host
    return (host.startswith("/") or host in LOCAL_HOSTS) and target.is_dir()


def _write(path: Path, content: bytes) -> None:
    """Replace `path` atomically (the server never reads half a script), mode 0644."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except PermissionError as error:
        raise CliError(f"cannot write the extension files into {path.parent}: permission denied",
                       ROOT_HINT) from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# -- 2. the extension ----------------------------------------------------------
def _plan_extension(conn, version: str | None) -> list[Step]:
    """CREATE EXTENSION (with what it brings: plpython3u, schema trending,
    role trending_capture) or ALTER EXTENSION UPDATE to `version`."""
    installed, database = extension_version(conn), conn.info.dbname
    if installed is None:
        if available_version(conn, "plpython3u") is None:
            raise CliError("PL/Python (plpython3u) is not installed on the server; trending needs it",
                           "install it on the database server: apt-get install postgresql-plpython3-15 "
                           "(Debian, Ubuntu) or postgresql15-plpython3 (RHEL)")
        also = [what for what, missing in (
            ("plpython3u", not _exists(conn, "pg_extension", "extname", "plpython3u")),
            ("schema trending", not _exists(conn, "pg_namespace", "nspname", "trending")),
            (f"the NOLOGIN role {CAPTURE_ROLE} (cluster-wide; the capture triggers run as it)",
             _at_least(version, "1.2") and not _exists(conn, "pg_roles", "rolname", CAPTURE_ROLE)))
            if missing]

        def create() -> Outcome:
            conn.execute("CREATE EXTENSION trending CASCADE")
            return [f"extension: created trending {extension_version(conn)} in database {database}"], True
        return [Step("extension", f"create trending {version} in database {database}"
                     + (f", with {', '.join(also)}" if also else "")
                     + " (its objects in schemas trending and trending_private, with their grants)",
                     sql=["CREATE EXTENSION trending CASCADE;"], run=create)]
    if installed == version:
        return [note("extension", f"trending {installed} already installed in database {database}")]

    def update() -> Outcome:
        conn.execute("ALTER EXTENSION trending UPDATE")
        return [f"extension: updated trending {installed} -> {extension_version(conn)} in database {database}"], True
    also = (f", with the NOLOGIN role {CAPTURE_ROLE}" if _at_least(version, "1.2") and not _at_least(installed, "1.2")
            and not _exists(conn, "pg_roles", "rolname", CAPTURE_ROLE) else "")
    return [Step("extension", f"update trending {installed} -> {version} in database {database}{also}",
                 sql=["ALTER EXTENSION trending UPDATE;"], run=update)]


def _exists(conn, catalog: str, column: str, name: str) -> bool:
    return conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM pg_catalog.{} WHERE {} = %s)").format(
        sql.Identifier(catalog), sql.Identifier(column)), (name,)).fetchone()[0]


def _at_least(version: str | None, wanted: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(part) for part in v.split(".") if part.isdigit())
    return version is not None and key(version) >= key(wanted)


# -- 3. the source schema ------------------------------------------------------
def _plan_source_schema(conn, current: str, wanted: str | None) -> list[Step]:
    if wanted is None or wanted == current:
        return [note("source schema", f"{current} (unchanged)")]
    statement = sql.SQL("UPDATE trending.settings SET value = {} WHERE name = 'source_schema'").format(
        sql.Literal(wanted))

    def set_it() -> Outcome:
        conn.execute(statement)
        return [f"source schema: set to {wanted} (was {current})"], True
    return [Step("source schema", f"set to {wanted} (was {current}) in trending.settings",
                 sql=[statement.as_string(conn) + ";"], run=set_it)]


# -- 3b. the change capture ----------------------------------------------------
# What the capture needs and grants, what it costs and what makes a cycle run
# full, in two lines (docs/incremental.md says it at length).
CAPTURE_TERMS = (
    "capture: needs a superuser, and locks a source table only to put triggers on it; grants nothing to "
    "anyone: the triggers run as role trending_capture, which may only append to trending's delta tables, so "
    "every writer's write works as before",
    "capture: costs each write statement on a source table one trigger call and one row of ids in an unlogged "
    "table (no WAL); a cycle runs full when it is not armed yet (install, crash restart, failover, restore), "
    "after a TRUNCATE, when a capture trigger or a source table was altered, or when no cycle consumed it in time",
)
CAPTURE_ROLE = "trending_capture"
# the capture triggers of a table as install_capture() makes them: name ->
# (tgtype, old transition table, new transition table), as capture.py's _intact checks
CAPTURE_TRIGGERS = {"trending_capture_insert": (4, None, "capture_new"),
                    "trending_capture_update": (16, "capture_old", "capture_new"),
                    "trending_capture_delete": (8, "capture_old", None),
                    "trending_capture_truncate": (32, None, None)}


def _plan_capture(conn, schema: str, before: str | None, version: str | None) -> list[Step]:
    """trending.install_capture(): the tables and partitions whose triggers
    are missing or not as install makes them, and stray triggers elsewhere;
    when there are none it still runs (it re-checks, taking ACCESS SHARE
    locks only) and changes nothing."""
    capture_function = conn.execute(
        "SELECT pg_catalog.to_regprocedure('trending.install_capture()') IS NOT NULL").fetchone()[0]
    if not (capture_function if before == version else _at_least(version, "1.2")):
        raise CliError("this trending version has no change capture",
                       "update the extension files: trending install from a current checkout")
    relations, stray = _capture_triggers(conn, schema)
    missing = [name for name, intact in relations if not intact]

    def install_it() -> Outcome:
        lines = list(CAPTURE_TERMS)
        with conn.transaction():
            conn.execute("SET LOCAL client_min_messages = warning")  # one line per table otherwise
            (result,) = conn.execute("SELECT trending.install_capture()").fetchone()
        tables = dict(result["tables"], **result.get("partitions", {}))
        fresh = sorted(t for t, how in tables.items() if how != "kept")
        if not fresh and not result["removed"]:
            # every trigger was intact: only ACCESS SHARE was taken, nothing a writer waits for
            return lines + [f"capture: installed on schema {result['source_schema']} (unchanged)"], False
        return lines + [
            f"capture: installed on schema {result['source_schema']}: triggers "
            + ", ".join(f"{tables[t]} on {t}" for t in fresh)
            + (f"; removed {len(result['removed'])} stale trigger(s)" if result["removed"] else "")
            + "; each of those tables was locked briefly (SHARE ROW EXCLUSIVE: its writers waited, its readers "
              "did not); the next cycle runs full and arms it"], True

    if not missing and not stray:
        return [Step("capture", f"installed on schema {schema} (unchanged: every trigger intact; "
                                "install_capture() checks them again, taking ACCESS SHARE locks only)",
                     sql=["SELECT trending.install_capture();"], run=install_it, checks_only=True)]
    what = (f"put the capture triggers ({', '.join(CAPTURE_TRIGGERS)}, running as {CAPTURE_ROLE}) on "
            f"{', '.join(missing)} in schema {schema}" if missing else f"keep the triggers on schema {schema}")
    if stray:
        what += f"; remove the stray capture trigger(s) {', '.join(stray)}"
    return [Step("capture", what + "; each of those tables is locked briefly (its writers wait, its readers do "
                                   "not); the next cycle runs full and arms it",
                 sql=["SELECT trending.install_capture();"], run=install_it)]


def _capture_triggers(conn, schema: str) -> tuple[list[tuple[str, bool]], list[str]]:
    """([(source table or qualified partition, its four triggers intact)],
    [stray triggers: a capture function's trigger on any other relation])."""
    shapes = " OR ".join(
        f"(g.tgname = '{name}' AND g.tgtype = {kind} AND g.tgoldtable IS NOT DISTINCT FROM "
        f"{'NULL' if old is None else repr(old)} AND g.tgnewtable IS NOT DISTINCT FROM "
        f"{'NULL' if new is None else repr(new)})"
        for name, (kind, old, new) in CAPTURE_TRIGGERS.items())
    rows = conn.execute(f"""
WITH src AS (
    SELECT s.t, s.o, pg_catalog.to_regclass(pg_catalog.format('%%I.%%I', %(schema)s::text, s.t)) AS relid,
           pg_catalog.to_regprocedure(pg_catalog.format('trending._capture_%%s()', s.t)) AS funcid
    FROM pg_catalog.unnest(%(tables)s::text[]) WITH ORDINALITY AS s(t, o)
), rel AS (
    SELECT s.t, s.o, 0 AS level, s.relid::oid AS relid, s.t AS name, s.funcid FROM src s
    UNION ALL
    SELECT s.t, s.o, p.level, p.relid::oid, pg_catalog.format('%%I.%%I', n.nspname, c.relname), s.funcid
    FROM src s CROSS JOIN LATERAL pg_catalog.pg_partition_tree(s.relid) p
    JOIN pg_catalog.pg_class c ON c.oid = p.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE p.level > 0
)
SELECT r.name, (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid = r.relid AND g.tgfoid = r.funcid AND g.tgenabled = 'A' AND g.tgnargs = 0
                  AND g.tgqual IS NULL AND ({shapes})) = {len(CAPTURE_TRIGGERS)} AS intact,
       r.relid
FROM rel r WHERE r.relid IS NOT NULL ORDER BY r.o, r.level, r.name""",
                        {"schema": schema, "tables": list(SOURCE_TABLES)}).fetchall()
    stray = [r[0] for r in conn.execute("""
SELECT pg_catalog.format('%%s.%%I', g.tgrelid::pg_catalog.regclass, g.tgname) FROM pg_catalog.pg_trigger g
WHERE g.tgfoid IN (SELECT pg_catalog.to_regprocedure(pg_catalog.format('trending._capture_%%s()', t))
                   FROM pg_catalog.unnest(%(tables)s::text[]) AS t)
  AND g.tgrelid <> ALL (%(covered)s::oid[])
ORDER BY 1""", {"tables": list(SOURCE_TABLES), "covered": [r[2] for r in rows]})]
    return [(name, intact) for name, intact, _ in rows], stray


# -- 4. pg_cron, the job role and the schedule -----------------------------------
def _cron(conn, dsn: str, requested: str | None, stack: ExitStack, dry_run: bool = False):
    """(a connection to the cron database, None) when the job can be
    scheduled (a requested schedule validated by pg_cron, except in a dry
    run), else (None, why). Without pg_cron an explicit --schedule is an
    error and the default only a warning: trending works without it."""
    def unavailable(message: str, hint: str):
        if requested:
            raise CliError(f"cannot schedule: {message}", hint)
        return None, f"{message} ({hint})"

    cron_db = cron.database(conn)
    if cron_db is None:
        return unavailable("pg_cron is not loaded in this server", cron.PRELOAD_HINT)
    cron_conn = stack.enter_context(cron.connect_cron(conn, dsn, cron_db))
    if dry_run:
        _read_only(cron_conn)
    elif requested and cron.installed(cron_conn):
        cron.validate(cron_conn, requested)  # else validated once pg_cron is created
    return cron_conn, None


def _check_login(conn, role: str, force: bool, out) -> None:
    """Refuse (unless --force) a schedule whose job could not log in."""
    problem = cron.login_problem(conn, role, conn.info.dbname)
    if problem is None:
        return
    if not force:
        raise CliError(f"cannot schedule: {problem}", cron.BGW_HINT.format(role=role) + "; or --force")
    out(f"warning: {problem}: the job fails until it can (--force); {cron.BGW_HINT.format(role=role)}")


def _plan_pg_cron(cron_conn, requested: str | None) -> list[Step]:
    """CREATE EXTENSION pg_cron in its database when it is preloaded but not
    created there (what a DBA does first), marked as install's (cron.py)."""
    if cron.installed(cron_conn):
        return []
    statements = cron.create_statements(cron_conn)
    cron_db = cron_conn.info.dbname

    def create() -> Outcome:
        with cron_conn.transaction():
            for statement in statements:
                cron_conn.execute(statement)
        if requested:
            cron.validate(cron_conn, requested)
        return [f"pg_cron: created the extension in database {cron_db} (cron.database_name; it was preloaded but "
                "not created)"], True
    return [Step("pg_cron", f"create the extension in database {cron_db} (cron.database_name; it is preloaded "
                            "but not created), its comment marking it as trending install's, so that trending "
                            "uninstall drops it once no pg_cron job is left",
                 sql=[s.as_string(cron_conn) + ";" for s in statements], run=create, database=cron_db)]


# A role install created carries this comment (pg_shdescription: cluster-wide
# like the role, read from any database, kept by pg_dumpall), so that
# `trending uninstall` drops it with the last database that uses it and
# never a role the DBA made.
ROLE_MARK = ("created by trending install: the role trending's pg_cron jobs run as; trending uninstall drops it "
             "with the last database that uses it")


def _plan_job_role(conn, role: str, schema: str, force: bool, grants_may_change: bool) -> list[Step]:
    """Create the job role when missing (LOGIN: pg_cron 1.4.2 runs jobs only as
    such roles; no password: it never authenticates by one), give it LOGIN
    when it lacks it, refuse a superuser, then trending.grant_cycle()."""
    row = conn.execute("SELECT r.rolsuper, r.rolcanlogin, pg_catalog.shobj_description(r.oid, 'pg_authid'), "
                       "NOT (r.rolinherit AND NOT (r.rolcreaterole OR r.rolcreatedb OR r.rolreplication "
                       "OR r.rolbypassrls) AND a.rolpassword IS NULL AND r.rolvaliduntil IS NULL "
                       "AND NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members m WHERE r.oid IN (m.roleid, m.member)))"
                       " FROM pg_catalog.pg_roles r JOIN pg_catalog.pg_authid a ON a.oid = r.oid "
                       "WHERE r.rolname = %s", (role,)).fetchone()
    ident = sql.Identifier(role)
    mark = sql.SQL("COMMENT ON ROLE {} IS {}").format(ident, sql.Literal(ROLE_MARK))
    steps: list[Step] = []
    if row is None:
        statements = [sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(ident), mark]
        steps.append(Step("job role", f"create role {role} (LOGIN, no password, not a superuser; cluster-wide: one "
                                      "job role serves every database of this cluster), its comment marking it as "
                                      "trending install's",
                          sql=[s.as_string(conn) + ";" for s in statements],
                          run=_statements(conn, statements, f"job role: created role {role} (LOGIN, no password, "
                                          "not a superuser; roles are cluster-wide: one job role serves every "
                                          "database of this cluster)")))
    elif row[0]:
        raise CliError(f"the job role {role} is a superuser",
                       "a cycle should not run as one: name another role with --job-role, or "
                       f"ALTER ROLE {role} NOSUPERUSER")
    else:
        if not row[1]:
            statement = sql.SQL("ALTER ROLE {} LOGIN").format(ident)
            steps.append(Step("job role", f"give role {role} LOGIN (pg_cron 1.4.2 runs jobs only as roles that can "
                                          "log in)", sql=[statement.as_string(conn) + ";"],
                              run=_statements(conn, [statement], f"job role: gave role {role} LOGIN (pg_cron 1.4.2 "
                                              "runs jobs only as roles that can log in)")))
        else:
            steps.append(note("job role", f"{role} (exists; one per cluster)"))
        if row[2] is None and role == cron.DEFAULT_ROLE and row[1] and not row[3]:
            # trending install 1.0 and 1.1 created it so, without the mark
            steps.append(Step("job role", f"mark role {role} as trending install's: an earlier install created it "
                                          "(LOGIN, no password, nothing more), so trending uninstall may drop it",
                              sql=[mark.as_string(conn) + ";"],
                              run=_statements(conn, [mark], f"job role: marked role {role} as trending install's "
                                              "(an earlier install created it)")))
    steps.append(_plan_grant(conn, role, schema, force, grants_may_change or row is None))
    return steps


def _statements(conn, statements, line: str):
    def run() -> Outcome:
        for statement in statements:
            conn.execute(statement)
        return [line], True
    return run


def _plan_grant(conn, role: str, schema: str, force: bool, may_change: bool) -> Step:
    """SELECT trending.grant_cycle(role): a change when the role is new, the
    extension or source schema changes, or the role lacks a grant on the
    sources or the cycle's entry points; else it runs anyway (idempotent)."""
    database = conn.info.dbname
    lacking = [] if may_change else _lacking_grants(conn, role, schema)
    statement = sql.SQL("SELECT trending.grant_cycle({})").format(sql.Literal(role))

    def grant() -> Outcome:
        try:
            conn.execute(statement)
        except psycopg.errors.UndefinedFunction as error:
            raise CliError("this trending version has no trending.grant_cycle()",
                           "update the extension files: trending install from a current checkout") from error
        except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable) as error:
            if not force:
                raise
            return [f"warning: not granted to {role}: {error.diag.message_primary}; once the source tables exist: "
                    f"SELECT trending.grant_cycle('{role}');"], False
        return [f"job role: granted {role} what a cycle in database {database} needs (trending.grant_cycle)"], \
            may_change or bool(lacking)
    what = (f"grant {role} what a cycle in database {database} needs: USAGE on schema {schema}, SELECT on "
            f"{', '.join(f'{schema}.{t}' for t in SOURCE_TABLES)}, TEMPORARY on database {database}, USAGE on schema "
            "trending, and in it EXECUTE on the cycle's routines and SELECT on what a cycle reads "
            "(trending._privileges('cycle'))")
    if may_change or lacking:
        return Step("job role", what + (f"; it lacks {', '.join(lacking)}" if lacking else ""),
                    sql=[statement.as_string(conn) + ";"], run=grant)
    return Step("job role", f"{role} has what a cycle in database {database} needs (trending.grant_cycle runs "
                            "again, idempotent)", sql=[statement.as_string(conn) + ";"], run=grant, checks_only=True)


def _lacking_grants(conn, role: str, schema: str) -> list[str]:
    """What grant_cycle gives that `role` lacks: on the sources, TEMPORARY,
    and EXECUTE on the cycle's entry points (explicit grants, as it makes them)."""
    return [r[0] for r in conn.execute("""
WITH r AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(role)s)
SELECT what FROM (
    SELECT pg_catalog.format('SELECT on %%I.%%I', %(schema)s::text, t) AS what,
           pg_catalog.to_regclass(pg_catalog.format('%%I.%%I', %(schema)s::text, t)) IS NOT NULL AND NOT EXISTS (
               SELECT FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a, r
               WHERE c.oid = pg_catalog.to_regclass(pg_catalog.format('%%I.%%I', %(schema)s::text, t))
                 AND a.grantee = r.oid AND a.privilege_type = 'SELECT') AS lacks, o
    FROM pg_catalog.unnest(%(tables)s::text[]) WITH ORDINALITY AS u(t, o)
    UNION ALL
    SELECT pg_catalog.format('USAGE on schema %%I', %(schema)s::text),
           NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a, r
                       WHERE n.nspname = %(schema)s AND a.grantee = r.oid AND a.privilege_type = 'USAGE'), 0
    UNION ALL
    SELECT 'TEMPORARY on this database',
           NOT EXISTS (SELECT FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a, r
                       WHERE d.datname = pg_catalog.current_database() AND a.grantee = r.oid
                         AND a.privilege_type = 'TEMPORARY'), 100
    UNION ALL
    SELECT pg_catalog.format('EXECUTE on %%s', f),
           NOT EXISTS (SELECT FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, r
                       WHERE p.oid = pg_catalog.to_regprocedure(f) AND a.grantee = r.oid
                         AND a.privilege_type = 'EXECUTE'), 101
    FROM pg_catalog.unnest(ARRAY['trending.recompute(timestamptz, boolean)',
                                 'trending.scheduled_recompute(timestamptz, boolean)']) AS f
) x WHERE lacks ORDER BY o""", {"role": role, "schema": schema, "tables": list(SOURCE_TABLES)})]


def _plan_schedule(conn, cron_conn, requested: str | None, role: str) -> list[Step]:
    database, cron_db = conn.info.dbname, cron_conn.info.dbname
    before = cron.find_job(cron_conn, database) if cron.installed(cron_conn) else None
    wanted = requested or (before.schedule if before else cron.DEFAULT_SCHEDULE)
    keep, removed, statements = cron.plan_schedule(cron_conn, database, wanted, role)
    target = cron.Job(keep.jobid if keep else 0, wanted, cron.COMMAND, database, True, role)
    changes = [f"{field} {getattr(keep, field)!r} -> {getattr(target, field)!r}"
               for field in ("schedule", "command", "database", "username", "active")
               if keep is not None and getattr(keep, field) != getattr(target, field)]
    if not statements:
        return [note("schedule", f"'{keep.schedule}' in database {keep.database} as role {keep.username} "
                                 f"(pg_cron job {keep.jobid} in database {cron_db}, unchanged)")]

    def schedule_it() -> Outcome:
        for statement in statements:
            cron_conn.execute(statement)
        after = cron.find_job(cron_conn, database)
        where = f"pg_cron job {after.jobid} in database {cron_db}"
        lines = [f"schedule: removed pg_cron job {job.jobid} (also named {cron.JOB_NAME}, as role {job.username}, "
                 f"database {job.database}): one job runs the cycle" for job in removed]
        if keep is None:
            lines.append(f"schedule: created {where}: '{after.schedule}' runs {after.command} in database "
                         f"{after.database} as role {after.username}")
        elif changes:
            lines.append(f"schedule: updated {where}: {', '.join(changes)}")
        return lines, True
    what = [f"remove pg_cron job {job.jobid} (also named {cron.JOB_NAME}, as role {job.username}, database "
            f"{job.database}): one job runs the cycle" for job in removed]
    if keep is None:
        what.append(f"create pg_cron job {cron.JOB_NAME} in database {cron_db}: '{wanted}' (GMT) runs "
                    f"{cron.COMMAND} in database {database} as role {role}")
    elif changes:
        what.append(f"update pg_cron job {keep.jobid} in database {cron_db}: {', '.join(changes)}")
    return [Step("schedule", "; ".join(what), sql=[s.as_string(cron_conn) + ";" for s in statements],
                 run=schedule_it, database=cron_db)]
