"""`trending pause` and `trending resume`: stop and restart the schedule,
in every layout: pg_cron lives in one database per cluster (usually
postgres), and SQL in the service's database cannot reach it
(trending.pause() there says so and names these commands). They connect to
the cron database and set the job's `active` with cron.alter_job; its
schedule, role and run history stay.

While paused, the change capture records for capture_max_pause at most
(default 1 day); each command says until when."""

from __future__ import annotations

from .. import cron
from ..db import connect, require_extension
from ..errors import CliError


def register(commands) -> None:
    for name, verb, help_text in (
            ("pause", "Pause", "stop the schedule (pg_cron job kept), e.g. for a switch-over"),
            ("resume", "Resume", "start the paused schedule again")):
        parser = commands.add_parser(
            name, help=help_text,
            description=f"{verb} this database's pg_cron job {cron.JOB_NAME} with cron.alter_job (active "
                        f"{'false' if name == 'pause' else 'true'}), connecting to pg_cron's database "
                        "(cron.database_name) when it is another one: its schedule, role and run history stay. "
                        "A cycle running now is not stopped. While paused, the change capture (if installed) "
                        "records for the capture_max_pause setting at most; the first cycle after that runs "
                        "full. The same in SQL, where pg_cron lives in the service's database: "
                        f"SELECT trending.{name}();")
        parser.set_defaults(handler=run_pause if name == "pause" else run_resume)


def run_pause(args) -> int:
    return _set_active(args, active=False)


def run_resume(args) -> int:
    return _set_active(args, active=True)


def _set_active(args, *, active: bool) -> int:
    command = "resume" if active else "pause"
    with connect(args.dsn) as conn:
        require_extension(conn, since="1.2")
        database = conn.info.dbname
        cron_db = cron.database(conn)
        if cron_db is None:
            raise CliError("pg_cron is not loaded: nothing runs trending on a schedule", cron.PRELOAD_HINT)
        with cron.connect_cron(conn, args.dsn, cron_db) as cron_conn:
            job = cron.find_job(cron_conn, database) if cron.installed(cron_conn) else None
            if job is None or job.database != database:
                raise CliError(f"no pg_cron job {cron.JOB_NAME} runs trending in database {database}",
                               f"trending install --schedule '{cron.DEFAULT_SCHEDULE}' schedules it")
            if job.active == active:
                print(f"trending {command}: job {job.jobid} ('{job.schedule}') is already "
                      f"{'active' if active else 'paused'}")
            else:
                cron_conn.execute("SELECT cron.alter_job(job_id => %s, active => %s)", (job.jobid, active))
                print(f"trending {command}: job {job.jobid} ('{job.schedule}', GMT) in database {cron_db} "
                      + ("runs again" if active else
                         "paused; a cycle running now finishes (`trending status` shows it)"))
        line = _capture_line(conn, active)
        if line:
            print(line)
    return 0


def _capture_line(conn, active: bool) -> str | None:
    """What the pause means for the change capture, or None without it."""
    if not conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = "
                        "pg_catalog.to_regclass('trending.capture_status') AND attname = 'record_until')").fetchone()[0]:
        return None  # no capture, or one without a bound (1.1)
    row = conn.execute("SELECT c.installed, c.recording, "
                       "to_char(c.record_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), c.max_pause::text "
                       "FROM trending.capture_status c").fetchone()
    if row is None or not row[0]:
        return None
    _, recording, until, bound = row
    if not recording:
        return ("capture: not recording: the next cycle runs full and restarts it" if active else
                "capture: not recording (no cycle consumed it for capture_max_pause); the first cycle after "
                "`trending resume` runs full")
    if active:
        return f"capture: recording until {until} UTC unless a cycle consumes it (capture_max_pause {bound})"
    return (f"capture: records until {until} UTC (capture_max_pause {bound} after the last cycle); resume "
            "before then, or the first cycle after it runs full")
