"""`trending install`: everything a database needs to run trending, idempotently.

1. The extension files: the package carries the built control file and SQL
   scripts (bundle.py); when the server runs on this machine and its files
   are missing or differ, they are copied into its extension directory.
2. CREATE EXTENSION trending CASCADE, or ALTER EXTENSION trending UPDATE when
   the files carry a newer version.
3. The source schema setting, if given.
4. The job role (default trending_job; a role is cluster-wide, so one per
   cluster serves every database): a non-superuser with LOGIN (pg_cron 1.4.2
   runs jobs only as such roles) and no password, granted what a cycle needs
   with trending.grant_cycle().
5. The pg_cron job, in whichever database pg_cron lives (cron.py), run as
   the job role; pg_cron itself is created there first when it is preloaded
   but not created.
6. With --capture: the change capture (trending.install_capture(), see
   docs/incremental.md), which briefly locks each source table.

What would make the result fail is checked before anything changes: source
tables missing (unless --force), pg_cron unusable for an explicit
--schedule, a job role pg_cron could not log in as (unless --force).
Each step says what it changed; a second run changes nothing and says so.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

from .. import bundle, compat, cron
from ..db import (DEFAULT_SOURCE_SCHEMA, available_version, connect, extension_version, is_superuser,
                  source_schema, source_tables_problem)
from ..errors import CliError

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
                    "cron.use_background_workers = on needs none), unless --force. Needs a superuser.")
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
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn:
        before = extension_version(conn)
        changed = install(conn, args.dsn, schedule=args.schedule, no_schedule=args.no_schedule,
                          source_schema=args.source_schema, job_role=args.job_role, force=args.force,
                          capture=args.capture)
        offer = compat.capture_offer(conn, before)  # after an update from 1.0 or 1.1: the reason to upgrade
    if offer:
        print(offer)
    print("trending install: done" if changed else "trending install: nothing to change")
    return 0


def install(conn, dsn: str, *, schedule: str | None = None, no_schedule: bool = False,
            source_schema: str | None = None, job_role: str = cron.DEFAULT_ROLE, force: bool = False,
            capture: bool = False, out=print) -> bool:
    """Run the steps; True if any changed something. What would make the
    result fail is checked before anything changes."""
    if not is_superuser(conn):
        raise CliError(f"role {conn.info.user} is not a superuser",
                       "installing trending needs one (its functions are PL/Python, an untrusted language): "
                       "connect as a superuser, e.g. --dsn \"user=postgres\"")
    _check_sources(conn, source_schema, force, out)
    with ExitStack() as stack:
        cron_conn, cron_warning = (None, None) if no_schedule else _cron(conn, dsn, schedule, stack)
        if cron_conn is not None:
            _check_login(conn, job_role, force, out)
        changed = [_files(conn, out), _extension(conn, out), _source_schema(conn, source_schema, out)]
        if capture:
            changed.append(_capture(conn, out))
        if cron_conn is not None:
            changed.append(cron.ensure_installed(conn, cron_conn, out))
            if schedule:
                cron.validate(cron_conn, schedule)
            changed.append(_job_role(conn, job_role, force, out))
            changed.append(_schedule(conn, cron_conn, schedule, job_role, out))
        elif cron_warning:
            out(f"warning: not scheduled: {cron_warning}; meanwhile run cycles with `trending recompute`")
    return any(changed)


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
    carried = bundle.files()
    if not carried:
        raise CliError("this trending package carries no extension files",
                       "reinstall the CLI from a built checkout: make, then pip install .")
    target = _extension_dir(conn)
    differ = _differing(conn, target, carried)
    if not differ:
        out(f"extension files: up to date in {target}")
        return False
    if not _server_is_local(conn, target):
        if "trending.control" in differ and _server_file(conn, target / "trending.control") is None:
            raise CliError("the trending extension files are not installed on the server, which does not run "
                           "on this machine",
                           "install them on the database server: `sudo make install` in a checkout, or run "
                           "`trending install` there")
        out(f"warning: the server's extension files differ from this package's ({', '.join(differ)}); the server "
            "does not run on this machine, so they stay as they are")
        return False
    for name in differ:
        _write(target / name, carried[name])
    if _differing(conn, target, carried):
        raise CliError(f"copied the extension files into {target}, but the server reads other files there",
                       "the server does not run on this machine: install the files on the database server "
                       "(`sudo make install` in a checkout there)")
    out(f"extension files: installed {', '.join(differ)} into {target}")
    return True


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
def _extension(conn, out) -> bool:
    installed, available = extension_version(conn), available_version(conn, "trending")
    database = conn.info.dbname
    if installed is None:
        if available_version(conn, "plpython3u") is None:
            raise CliError("PL/Python (plpython3u) is not installed on the server; trending needs it",
                           "install it on the database server: apt-get install postgresql-plpython3-15 "
                           "(Debian, Ubuntu) or postgresql15-plpython3 (RHEL)")
        conn.execute("CREATE EXTENSION trending CASCADE")
        out(f"extension: created trending {extension_version(conn)} in database {database}")
        return True
    if installed == available:
        out(f"extension: trending {installed} already installed in database {database}")
        return False
    conn.execute("ALTER EXTENSION trending UPDATE")
    out(f"extension: updated trending {installed} -> {extension_version(conn)} in database {database}")
    return True


# -- 3. the source schema ------------------------------------------------------
def _source_schema(conn, wanted: str | None, out) -> bool:
    current = source_schema(conn)
    changed = wanted is not None and wanted != current
    if changed:
        conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (wanted,))
        out(f"source schema: set to {wanted} (was {current})")
    else:
        out(f"source schema: {current} (unchanged)")
    return changed


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


def _capture(conn, out) -> bool:
    """trending.install_capture() (idempotent: intact triggers are kept)."""
    if conn.execute("SELECT pg_catalog.to_regprocedure('trending.install_capture()') IS NULL").fetchone()[0]:
        raise CliError("this trending version has no change capture",
                       "update the extension files: trending install from a current checkout")
    for line in CAPTURE_TERMS:
        out(line)
    with conn.transaction():
        conn.execute("SET LOCAL client_min_messages = warning")  # one line per table otherwise
        (result,) = conn.execute("SELECT trending.install_capture()").fetchone()
    tables = dict(result["tables"], **result.get("partitions", {}))
    fresh = sorted(t for t, how in tables.items() if how != "kept")
    if not fresh and not result["removed"]:
        # every trigger was intact: only ACCESS SHARE was taken, nothing a writer waits for
        out(f"capture: installed on schema {result['source_schema']} (unchanged)")
        return False
    out(f"capture: installed on schema {result['source_schema']}: triggers "
        + ", ".join(f"{tables[t]} on {t}" for t in fresh)
        + (f"; removed {len(result['removed'])} stale trigger(s)" if result["removed"] else "")
        + "; each of those tables was locked briefly (SHARE ROW EXCLUSIVE: its writers waited, its readers "
          "did not); the next cycle runs full and arms it")
    return True


# -- 4. the schedule -----------------------------------------------------------
def _cron(conn, dsn: str, requested: str | None, stack: ExitStack):
    """(a connection to the cron database, None) when the job can be
    scheduled (a requested schedule validated by pg_cron), else (None, why).
    Without pg_cron an explicit --schedule is an error and the default only a
    warning: trending works without it."""
    def unavailable(message: str, hint: str):
        if requested:
            raise CliError(f"cannot schedule: {message}", hint)
        return None, f"{message} ({hint})"

    cron_db = cron.database(conn)
    if cron_db is None:
        return unavailable("pg_cron is not loaded in this server", cron.PRELOAD_HINT)
    cron_conn = stack.enter_context(cron.connect_cron(conn, dsn, cron_db))
    if requested and cron.installed(cron_conn):
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


# -- 4. the job role -------------------------------------------------------------
def _job_role(conn, role: str, force: bool, out) -> bool:
    """Create the job role when missing (LOGIN: pg_cron 1.4.2 runs jobs only as
    such roles; no password: it never authenticates by one), give it LOGIN
    when it lacks it, refuse a superuser, then trending.grant_cycle()."""
    row = conn.execute("SELECT rolsuper, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = %s",
                       (role,)).fetchone()
    ident = sql.Identifier(role)
    changed = False
    if row is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(ident))
        out(f"job role: created role {role} (LOGIN, no password, not a superuser; roles are cluster-wide: one "
            "job role serves every database of this cluster)")
        changed = True
    elif row[0]:
        raise CliError(f"the job role {role} is a superuser",
                       "a cycle should not run as one: name another role with --job-role, or "
                       f"ALTER ROLE {role} NOSUPERUSER")
    elif not row[1]:
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(ident))
        out(f"job role: gave role {role} LOGIN (pg_cron 1.4.2 runs jobs only as roles that can log in)")
        changed = True
    else:
        out(f"job role: {role} (exists; one per cluster)")
    try:
        conn.execute("SELECT trending.grant_cycle(%s)", (role,))
    except psycopg.errors.UndefinedFunction as error:
        raise CliError("this trending version has no trending.grant_cycle()",
                       "update the extension files: trending install from a current checkout") from error
    except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable) as error:
        if not force:
            raise
        out(f"warning: not granted to {role}: {error.diag.message_primary}; once the source tables exist: "
            f"SELECT trending.grant_cycle('{role}');")
        return changed
    out(f"job role: granted {role} what a cycle in database {conn.info.dbname} needs (trending.grant_cycle)")
    return changed


# -- 5. the schedule -----------------------------------------------------------
def _schedule(conn, cron_conn, requested: str | None, role: str, out) -> bool:
    database = conn.info.dbname
    before = cron.find_job(cron_conn, database)
    wanted = requested or (before.schedule if before else cron.DEFAULT_SCHEDULE)
    after, removed = cron.schedule(cron_conn, database, wanted, role)
    for job in removed:
        out(f"schedule: removed pg_cron job {job.jobid} (also named {cron.JOB_NAME}, as role {job.username}, "
            f"database {job.database}): one job runs the cycle")
    before = before if before is not None and before.jobid == after.jobid else None
    where = f"pg_cron job {after.jobid} in database {cron_conn.info.dbname}"
    if before is None:
        out(f"schedule: created {where}: '{after.schedule}' runs {after.command} in database {after.database} "
            f"as role {after.username}")
        return True
    changes = [f"{field} {getattr(before, field)!r} -> {getattr(after, field)!r}"
               for field in ("schedule", "command", "database", "username", "active")
               if getattr(before, field) != getattr(after, field)]
    if not changes:
        out(f"schedule: '{after.schedule}' in database {after.database} as role {after.username} "
            f"({where}, unchanged)")
        return bool(removed)
    out(f"schedule: updated {where}: {', '.join(changes)}")
    return True
