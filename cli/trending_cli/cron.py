"""pg_cron as the CLI sees it: which database it lives in, the job that runs
trending's cycle for a database, and how often it fires.

pg_cron lives in one database per cluster (cron.database_name). The job is
named 'trending-recompute' (trending.schedule() uses the same name), per
pg_cron's rule one per name and role. For a database other than the cron
database it is created there with cron.schedule_in_database; an existing
job's database is corrected with cron.alter_job, since pg_cron 1.4's
schedule functions update a job's schedule and command but not its database.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import psycopg

from .db import connect
from .errors import CliError

JOB_NAME = "trending-recompute"
COMMAND = "CALL trending.scheduled_recompute()"
DEFAULT_SCHEDULE = "0 * * * *"
PRELOAD_HINT = ("add pg_cron to shared_preload_libraries in postgresql.conf (and cron.database_name = "
                "'<database>' if not postgres), restart the server, then CREATE EXTENSION pg_cron in that database")


@dataclass(frozen=True)
class Job:
    jobid: int
    schedule: str
    command: str
    database: str
    active: bool


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


def find_job(cron_conn) -> Job | None:
    """This role's trending job (pg_cron names are unique per role)."""
    row = cron_conn.execute("SELECT jobid, schedule, command, database, active FROM cron.job "
                            "WHERE jobname = %s AND username = current_user", (JOB_NAME,)).fetchone()
    return Job(*row) if row else None


def last_runs(cron_conn, job: Job, limit: int = 3) -> list[tuple]:
    """(status, start_time, end_time, return_message) of the job's latest runs, newest first."""
    return cron_conn.execute("SELECT status, start_time, end_time, return_message FROM cron.job_run_details "
                             "WHERE jobid = %s ORDER BY runid DESC LIMIT %s", (job.jobid, limit)).fetchall()


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


def schedule(cron_conn, target_db: str, cron_schedule: str) -> Job:
    """Make the job run trending's cycle in `target_db` on `cron_schedule`.
    In the cron database itself trending.schedule() does it, unless an
    existing job must move there or be re-activated."""
    job = find_job(cron_conn)
    if cron_conn.info.dbname == target_db and (job is None or (job.database, job.active) == (target_db, True)):
        cron_conn.execute("SELECT trending.schedule(%s)", (cron_schedule,))
    elif job is None:
        cron_conn.execute("SELECT cron.schedule_in_database(%s, %s, %s, %s)",
                          (JOB_NAME, cron_schedule, COMMAND, target_db))
    elif (job.schedule, job.command, job.database, job.active) != (cron_schedule, COMMAND, target_db, True):
        cron_conn.execute("SELECT cron.alter_job(%s, %s, %s, %s, active => true)",
                          (job.jobid, cron_schedule, COMMAND, target_db))
    return find_job(cron_conn)


# -- how often a schedule fires -----------------------------------------------
_MACROS = {"@hourly": timedelta(hours=1), "@daily": timedelta(days=1), "@weekly": timedelta(weeks=1),
           "@monthly": timedelta(days=31), "@yearly": timedelta(days=366), "@annually": timedelta(days=366)}


def _field(text: str, low: int, high: int) -> set[int] | None:
    """The values of one cron field (*, N, A-B, with /STEP, comma lists); None if not understood."""
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        elif base.isdigit():
            first = last = int(base)
        elif "-" in base and all(x.isdigit() for x in base.split("-", 1)):
            first, last = map(int, base.split("-", 1))
        else:
            return None
        if step and not step.isdigit() or step == "0":
            return None
        values.update(range(first, (high if step and first == last else last) + 1, int(step or 1)))
    return values if values and min(values) >= low and max(values) <= high else None


def interval(cron_schedule: str) -> timedelta | None:
    """The longest gap between two firings of a daily-repeating schedule
    (minute and hour fields; day, month and weekday '*'); None otherwise."""
    text = cron_schedule.strip()
    if text in _MACROS:
        return _MACROS[text]
    fields = text.split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"]:
        return None
    minutes, hours = _field(fields[0], 0, 59), _field(fields[1], 0, 23)
    if not minutes or not hours:
        return None
    times = sorted(h * 60 + m for h in hours for m in minutes)
    gaps = [b - a for a, b in zip(times, times[1:])] + [times[0] + 1440 - times[-1]]
    return timedelta(minutes=max(gaps))
