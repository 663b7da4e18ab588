"""`trending doctor`: is everything in place for trending to run, and run on
schedule? One line per check, ok / warn / FAIL, with the fix under each
failure; exit status 1 when anything FAILs. Checks that depend on a failed
one are not run (their fix would repeat it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import bundle, cron
from ..db import (available_version, connect, extension_version, is_superuser, missing_source_tables,
                  source_schema)
from ..errors import CliError


@dataclass
class Check:
    status: str  # "ok", "warn" or "FAIL"
    label: str
    detail: str
    fix: str = ""


def register(commands) -> None:
    parser = commands.add_parser(
        "doctor", help="check the prerequisites and the schedule, with the fix for each failure",
        description="Check the server version, PL/Python, the extension files and the extension, the source "
                    "tables, pg_cron (preloaded, its database, the extension there), the job and its last "
                    "runs. Prints ok/warn/FAIL per check and the fix for each failure; exit status 1 when "
                    "any check FAILs.")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn:
        checks = list(_server(conn)) + list(_schedule(conn, args.dsn))
    for check in checks:
        print(f"{check.status:<4}  {check.label}: {check.detail}")
        if check.fix:
            print(f"      fix: {check.fix}")
    failed = sum(check.status == "FAIL" for check in checks)
    print(f"trending doctor: {failed} check{'s' * (failed != 1)} failed" if failed else "trending doctor: all good")
    return 1 if failed else 0


def _server(conn):
    version_num = conn.info.server_version
    version = conn.execute("SELECT current_setting('server_version')").fetchone()[0]
    yield (Check("ok", "server", f"PostgreSQL {version}") if version_num >= 150000 else
           Check("FAIL", "server", f"PostgreSQL {version}; trending needs 15 or later", "upgrade the server"))
    yield (Check("ok", "role", f"{conn.info.user} (superuser)") if is_superuser(conn) else
           Check("warn", "role", f"{conn.info.user} is not a superuser: install and uninstall need one",
                 "connect as a superuser for those, e.g. --dsn \"user=postgres\""))
    if available_version(conn, "plpython3u"):
        yield Check("ok", "plpython3u", "available")
    else:
        yield Check("FAIL", "plpython3u", "not installed on the server",
                    "apt-get install postgresql-plpython3-15 on the database server")
    available = available_version(conn, "trending")
    carried = bundle.default_version(bundle.files().get("trending.control", b""))
    if available is None:
        yield Check("FAIL", "extension files", "trending is not in pg_available_extensions",
                    "trending install (on the server's machine, as root), or `sudo make install` in a checkout")
        return
    if carried and carried != available:
        yield Check("warn", "extension files", f"the server has trending {available}, this CLI carries {carried}",
                    "trending install (as root, on the server's machine) installs this CLI's files")
    else:
        yield Check("ok", "extension files", f"trending {available} available")
    installed = extension_version(conn)
    database = conn.info.dbname
    if installed is None:
        yield Check("FAIL", "extension", f"not created in database {database}", "trending install")
        return
    if installed != available:
        yield Check("warn", "extension", f"trending {installed} in database {database}, files have {available}",
                    "trending install (runs ALTER EXTENSION trending UPDATE)")
    else:
        yield Check("ok", "extension", f"trending {installed} in database {database}")
    schema = source_schema(conn)
    missing = missing_source_tables(conn, schema)
    fix = "trending install --source-schema SCHEMA (the schema holding the service's tables)"
    if missing is None:
        yield Check("FAIL", "source tables", f"schema {schema} does not exist", fix)
    elif missing:
        yield Check("FAIL", "source tables", f"schema {schema} lacks {', '.join(missing)}", fix)
    else:
        yield Check("ok", "source tables", f"all present in schema {schema}")


def _schedule(conn, dsn: str):
    cron_db = cron.database(conn)
    if cron_db is None:
        yield Check("FAIL", "pg_cron", "not in shared_preload_libraries: nothing runs the cycle on a schedule",
                    cron.PRELOAD_HINT)
        return
    yield Check("ok", "pg_cron", "preloaded")
    yield Check("ok", "cron.database_name", cron_db)
    try:
        with cron.connect_cron(conn, dsn, cron_db) as cron_conn:
            yield from _job(cron_conn, cron_db, conn.info.dbname)
    except CliError as error:
        yield Check("FAIL", "pg_cron database", str(error), error.hint)


def _job(cron_conn, cron_db: str, database: str):
    if not cron.installed(cron_conn):
        yield Check("FAIL", "pg_cron extension", f"not created in database {cron_db}",
                    f"CREATE EXTENSION pg_cron; in database {cron_db}, as a superuser")
        return
    version = cron_conn.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'").fetchone()
    yield Check("ok", "pg_cron extension", f"{version[0]} in database {cron_db}")
    schedule_fix = f"trending install --schedule '{cron.DEFAULT_SCHEDULE}'"
    job = cron.find_job(cron_conn)
    if job is None:
        yield Check("FAIL", "job", f"no pg_cron job {cron.JOB_NAME} for this role", schedule_fix)
        return
    if job.database != database:
        yield Check("FAIL", "job", f"job {job.jobid} runs in database {job.database}, not {database}",
                    "trending install (moves the job to this database)")
        return
    if not job.active:
        yield Check("warn", "job", f"job {job.jobid} ('{job.schedule}') is inactive", schedule_fix)
    else:
        yield Check("ok", "job", f"job {job.jobid}: '{job.schedule}' runs {job.command}")
    runs = cron.last_runs(cron_conn, job)
    if not runs:
        yield Check("ok", "last runs", "none yet")
        return
    text = "; ".join(f"{status} at {start:%Y-%m-%d %H:%M:%S%z}" if start else status for status, start, _, _ in runs)
    status, _, _, message = runs[0]
    if status == "failed":
        yield Check("FAIL", "last runs", f"{text}; the last one: {(message or '').strip()}",
                    "see `trending status` (the failed run's SQLSTATE and message) and fix its cause")
    else:
        yield Check("ok", "last runs", text)
