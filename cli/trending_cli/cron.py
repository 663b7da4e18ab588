"""pg_cron as the CLI sees it: which database it lives in, the job that runs
trending's cycle for a database, and how often it fires.

pg_cron lives in one database per cluster (cron.database_name). The job is
named 'trending-recompute' (trending.schedule() uses the same name), per
pg_cron's rule one per name and role. `trending install` creates it with
cron.schedule_in_database to run in the target database as the job role (a
non-superuser with LOGIN, one per cluster); an existing job's database and
role are corrected with cron.alter_job, since pg_cron 1.4's schedule
functions update a job's schedule and command but not its database.

How the job connects: with cron.use_background_workers = on a job is a
background worker, which needs no connection and so no pg_hba.conf line;
otherwise pg_cron connects through libpq to cron.host as the job's role, and
pg_hba.conf must admit that role without a password (Debian's default, peer
on the socket, refuses a role that is no OS user).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import psycopg
from psycopg import sql

from .db import connect
from .errors import CliError

JOB_NAME = "trending-recompute"
COMMAND = "CALL trending.scheduled_recompute()"
DEFAULT_SCHEDULE = "0 * * * *"
DEFAULT_ROLE = "trending_job"
BGW_HINT = ("set cron.use_background_workers = on in postgresql.conf and restart the server (jobs then run as "
            "background workers: no connection, no pg_hba.conf line); or admit the job role without a password "
            "for OS user postgres only: in pg_ident.conf `trending postgres {role}`, before the other local lines "
            "of pg_hba.conf `local all {role} peer map=trending`, and cron.host = the socket directory")
PRELOAD_HINT = ("add pg_cron to shared_preload_libraries in postgresql.conf (and cron.database_name = "
                "'<database>' if not postgres), restart the server, then CREATE EXTENSION pg_cron in that database")


@dataclass(frozen=True)
class Job:
    jobid: int
    schedule: str
    command: str
    database: str
    active: bool
    username: str = ""


def database(conn) -> str | None:
    """cron.database_name; None when pg_cron is not preloaded (the setting is then unknown)."""
    if "pg_cron" not in preloaded_libraries(conn):
        return None
    return conn.execute("SELECT current_setting('cron.database_name', true)").fetchone()[0]


def preloaded_libraries(conn) -> list[str]:
    (text,) = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    return [name.strip().strip('"') for name in text.split(",") if name.strip()]


@contextmanager
def connect_cron(conn, dsn: str, cron_db: str) -> Iterator[psycopg.Connection]:
    """A connection to the cron database: `conn` itself when it is that
    database, else a new one with the same parameters."""
    if conn.info.dbname == cron_db:
        yield conn
        return
    try:
        cron_conn = connect(dsn, dbname=cron_db)
    except psycopg.OperationalError as error:
        raise CliError(f"cannot connect to the pg_cron database {cron_db}: "
                       f"{str(error).strip().splitlines()[0]}",
                       f"the job is managed from database {cron_db} (cron.database_name): "
                       "allow this role to connect there (pg_hba.conf, CONNECT privilege)") from error
    with cron_conn:
        yield cron_conn


def installed(cron_conn) -> bool:
    return cron_conn.execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'").fetchone() is not None


def find_jobs(cron_conn) -> list[Job]:
    """Every job named trending-recompute, whatever its role (a superuser sees
    them all; pg_cron's row security shows others only their own)."""
    return [Job(*row) for row in cron_conn.execute(
        "SELECT jobid, schedule, command, database, active, username FROM cron.job WHERE jobname = %s "
        "ORDER BY jobid", (JOB_NAME,)).fetchall()]


def find_job(cron_conn, database: str | None = None) -> Job | None:
    """The trending job, followed by name: the one running in `database` if
    any, else the newest (its id changes when it is dropped and recreated)."""
    jobs = find_jobs(cron_conn)
    mine = [job for job in jobs if job.database == database]
    return (mine or jobs or [None])[-1]


def last_runs(cron_conn, job: Job, limit: int = 3) -> list[tuple]:
    """(status, start_time, end_time, return_message) of the latest runs of
    trending's cycle in the job's database, newest first: those of this job
    and of its predecessors (an unscheduled and recreated job has a new id,
    the same command and database)."""
    return cron_conn.execute("SELECT status, start_time, end_time, return_message FROM cron.job_run_details "
                             "WHERE jobid = %s OR (command = %s AND database = %s) "
                             "ORDER BY start_time DESC NULLS LAST, runid DESC LIMIT %s",
                             (job.jobid, job.command, job.database, limit)).fetchall()


def background_workers(conn) -> bool:
    return conn.execute("SELECT current_setting('cron.use_background_workers', true)").fetchone()[0] == "on"


def login_problem(conn, role: str, database: str) -> str | None:
    """Why pg_cron's libpq connection as `role` would fail, or None. With
    background workers there is no connection. Otherwise the first
    pg_hba.conf line that matches the connection pg_cron makes (a socket when
    cron.host is a directory, else TCP; addresses are not matched) must admit
    a role without a password: trust, or peer with a map."""
    if background_workers(conn):
        return None
    host = conn.execute("SELECT current_setting('cron.host', true)").fetchone()[0] or "localhost"
    kinds = ["local"] if host.startswith("/") else ["host", "hostnossl", "hostssl"]
    rules = conn.execute("""
SELECT line_number, type, database, user_name, auth_method, options
FROM pg_catalog.pg_hba_file_rules
WHERE error IS NULL AND type = ANY (%(kinds)s)
  AND (database && ARRAY['all', %(db)s::text]
       OR (database && ARRAY['sameuser', 'samerole'] AND %(db)s::text = %(role)s::text))
  AND (user_name && ARRAY['all', %(role)s::text]
       OR EXISTS (SELECT 1 FROM unnest(user_name) u
                  WHERE u LIKE '+%%'
                    AND CASE WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = %(role)s::name)
                              AND EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = substr(u, 2))
                             THEN pg_has_role(%(role)s::name, substr(u, 2)::name, 'MEMBER') ELSE false END))
ORDER BY line_number LIMIT 1""", {"kinds": kinds, "db": database, "role": role}).fetchone()
    if rules is None:
        return f"no pg_hba.conf line admits role {role} to database {database} (pg_cron connects to {host})"
    line, kind, _, _, method, options = rules
    if method == "trust" or (method == "peer" and any(o.startswith("map=") for o in options or [])):
        return None
    return (f"pg_cron connects to {host} as role {role}, and pg_hba.conf line {line} asks it for {method} "
            f"authentication, which a job role without a password cannot pass")


# `trending install` marks the pg_cron it created in pg_cron's own comment
# (pg_description of the cron database), so that `trending uninstall` drops
# it with the last job: the mark lives and dies with the extension it is
# about (a DBA's DROP and CREATE EXTENSION pg_cron drops it, and pg_cron is
# then theirs), is dumped with it, and is per cluster like pg_cron itself,
# where a row in one service database would be lost with that database's
# trending while pg_cron still serves the others.
CREATED_MARK = "[created by trending install: trending uninstall drops it once no pg_cron job is left]"


def created_by_install(cron_conn) -> bool:
    (comment,) = cron_conn.execute(
        "SELECT pg_catalog.obj_description(e.oid, 'pg_extension') FROM pg_catalog.pg_extension e "
        "WHERE e.extname = 'pg_cron'").fetchone() or (None,)
    return CREATED_MARK in (comment or "")


def create_statements(cron_conn) -> list[sql.Composable]:
    """CREATE EXTENSION pg_cron, and the mark that install created it after
    the comment its control file gives it."""
    (comment,) = cron_conn.execute("SELECT comment FROM pg_catalog.pg_available_extensions "
                                   "WHERE name = 'pg_cron'").fetchone() or (None,)
    return [sql.SQL("CREATE EXTENSION pg_cron"),
            sql.SQL("COMMENT ON EXTENSION pg_cron IS {}").format(
                sql.Literal(f"{comment} {CREATED_MARK}" if comment else CREATED_MARK))]


def other_jobs(cron_conn, removed: Job | None) -> list[Job]:
    """Every pg_cron job but `removed`, whoever owns it."""
    return [Job(*row) for row in cron_conn.execute(
        "SELECT jobid, schedule, command, database, active, username FROM cron.job WHERE jobid <> %s "
        "ORDER BY jobid", (removed.jobid if removed else -1,)).fetchall()]


def validate(cron_conn, cron_schedule: str) -> None:
    """Raise a CliError unless pg_cron accepts `cron_schedule`: asked of
    pg_cron itself, in a transaction rolled back, so that nothing changes."""
    try:
        with cron_conn.transaction(force_rollback=True):
            cron_conn.execute("SELECT cron.schedule(%s, %s, 'SELECT 1')", (f"{JOB_NAME}-check", cron_schedule))
    except psycopg.errors.InvalidParameterValue as error:
        raise CliError(f"pg_cron refused the schedule: {error.diag.message_primary}",
                       "pg_cron 1.4 takes five cron fields (minute hour day month weekday, in GMT), "
                       "e.g. '0 * * * *' (hourly) or '*/15 * * * *'") from error


def plan_schedule(cron_conn, target_db: str, cron_schedule: str,
                  username: str) -> tuple[Job | None, list[Job], list[sql.Composable]]:
    """What makes the job run trending's cycle in `target_db` on
    `cron_schedule` as `username`: (the job kept, None for a new one; the
    other jobs of that name it replaces; the statements). An existing job is
    corrected in place (its id and run history stay); another of the same
    name would run the cycle a second time, so it goes. Reads cron.job only."""
    jobs = find_jobs(cron_conn) if installed(cron_conn) else []
    keep = next((j for j in jobs if j.username == username and j.database == target_db), None) or \
        next((j for j in jobs if j.username == username), None) or \
        next((j for j in jobs if j.database == target_db), None) or (jobs[-1] if jobs else None)
    removed = [j for j in jobs if j is not keep]
    statements = [sql.SQL("SELECT cron.unschedule({}::bigint)").format(sql.Literal(j.jobid)) for j in removed]
    if keep is None:
        statements.append(sql.SQL("SELECT cron.schedule_in_database({}, {}, {}, {}, {}, true)").format(
            *map(sql.Literal, (JOB_NAME, cron_schedule, COMMAND, target_db, username))))
    elif (keep.schedule, keep.command, keep.database, keep.username, keep.active) != \
            (cron_schedule, COMMAND, target_db, username, True):
        statements.append(sql.SQL("SELECT cron.alter_job({}, {}, {}, {}, {}, true)").format(
            *map(sql.Literal, (keep.jobid, cron_schedule, COMMAND, target_db, username))))
    return keep, removed, statements
