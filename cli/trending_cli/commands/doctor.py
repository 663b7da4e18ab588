"""`trending doctor`: is everything in place for trending to run, and run on
schedule? One line per check, ok / note / warn / FAIL, with the fix under
each warning and failure. It works before an install too (it then says what
`trending install` will do and what would stop it). FAIL for what blocks an
install or makes a cycle fail, and, once the change capture is installed,
for what makes it miss writes: a source table or partition it does not
cover, a backlog past its bound (capture_max_pause: the triggers then stop
recording) or a capture that is not recording; a step not done yet (the
extension, pg_cron, the job) or a backlog past half its bound is a warning;
the capture turned off a note. Scores that are not healthy (trending.status)
FAIL too, with the reason, once a cycle has run. Exit status 1 when anything
FAILs. Checks that depend on a failed one are not run (their fix would
repeat it). The last runs are shown twice, labelled: the pg_cron job's (in
pg_cron's database) and trending.runs' cycles, whatever ran them.

A DBA runs doctor before upgrading: on a database that holds an older
trending it says so, with the command that updates it, and checks what that
version has (compat.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from .. import bundle, compat, cron
from ..compat import Installed
from . import status
from ..db import (DEFAULT_SOURCE_SCHEMA, available_version, connect, is_superuser,
                  source_schema, source_tables_problem)
from ..errors import CliError, server_message


@dataclass
class Check:
    status: str  # "ok", "note", "warn" or "FAIL"
    label: str
    detail: str
    fix: str = ""


def register(commands) -> None:
    parser = commands.add_parser(
        "doctor", help="check the prerequisites and the schedule, with the fix for each failure",
        description="Check the server version, PL/Python, the extension files and the extension, the source "
                    "tables, pg_cron (preloaded, its database, the extension there), the job and its last "
                    "runs, the change capture. Works before an install too. Prints ok/note/warn/FAIL per check "
                    "and the fix for each; FAIL (exit status 1) for what blocks an install or makes a cycle fail, "
                    "for scores that are not healthy (trending.status: stale, or the last run failed) once a cycle "
                    "has run, and, with the change capture installed, for what makes it miss writes: a source "
                    "table or partition it does not cover, a backlog past its bound (no cycle consumed it for "
                    "longer than the capture_max_pause setting: the triggers stop recording) or a capture not "
                    "recording; past half the bound it warns. Without the capture it only notes that it is off. "
                    "Shows the pg_cron job's last runs and trending.runs' last cycles (any trigger). On an older "
                    "trending it says which, that `trending install` updates it, and checks what it has.")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn:
        ext = compat.installed(conn)
        checks = list(_server(conn, ext)) + list(_schedule(conn, args.dsn)) + list(_cycles(conn, ext))
    for check in checks:
        print(f"{check.status:<4}  {check.label}: {check.detail}")
        if check.fix:
            print(f"      fix: {check.fix}")
    failed = sum(check.status == "FAIL" for check in checks)
    warned = sum(check.status == "warn" for check in checks)
    if failed:
        print(f"trending doctor: {failed} check{'s' * (failed != 1)} failed")
    elif warned:
        print(f"trending doctor: nothing blocks trending; {warned} warning{'s' * (warned != 1)}")
    else:
        print("trending doctor: all good")
    return 1 if failed else 0


def _server(conn, ext: Installed | None):
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
        yield Check("warn", "extension files", "trending is not in pg_available_extensions",
                    "trending install (on the server's machine, as root) copies them, or `sudo make install` "
                    "in a checkout")
    elif carried and carried != available:
        yield Check("warn", "extension files", f"the server has trending {available}, this CLI carries {carried}",
                    "trending install (as root, on the server's machine) installs this CLI's files")
    else:
        yield Check("ok", "extension files", f"trending {available} available")
    installed = ext.version if ext else None
    database = conn.info.dbname
    if installed is None:
        yield Check("warn", "extension", f"not created in database {database} yet", "trending install")
    elif ext.outdated:
        yield Check("warn", "extension", f"{ext.update_line(database)}; until then doctor checks what "
                    f"{installed} has", "trending install (runs ALTER EXTENSION trending UPDATE)")
    elif installed != available:
        yield Check("warn", "extension", f"trending {installed} in database {database}, files have {available}",
                    "trending install (runs ALTER EXTENSION trending UPDATE)")
    else:
        yield Check("ok", "extension", f"trending {installed} in database {database}")
    if installed:
        # not healthy: the scores went stale or a cycle failed, the failure
        # this project exists to prevent (issue 17): FAIL, saying why. Before
        # the first cycle (just installed) nothing has gone wrong yet: a warning.
        healthy, line = status.health(conn, ext)
        never_run = conn.execute("SELECT last_success_run_id IS NULL AND last_failure_run_id IS NULL "
                                 "FROM trending.status").fetchone()[0]
        fix = ("trending status shows the runs" + (" and who holds the cycle lease" if ext.has("lease") else "")
               + "; trending recompute runs a cycle now")
        yield (Check("ok", "health", line) if healthy else
               Check("warn" if never_run else "FAIL", "health", line, fix))
        yield from _capture(conn, ext)
        yield from _capture_backlog(conn, ext)
    # before an install: the schema trending install would use by default
    schema = source_schema(conn) if installed else DEFAULT_SOURCE_SCHEMA
    label = "source tables" if installed else "source tables (before install: the default schema)"
    problem = source_tables_problem(conn, schema)
    if problem:
        yield Check("FAIL", label, problem,
                    "trending install --source-schema SCHEMA (the schema holding the service's tables)")
    else:
        yield Check("ok", label, f"all present in schema {schema}")


def _capture(conn, ext: Installed):
    """The change capture: off (or absent from an older version) is a note;
    on, a table or partition it does not cover (its writes would be missed)
    FAILs with the fix."""
    fine, line = status.capture(conn, ext)
    line = line.removeprefix("capture: ")
    if not ext.has("capture"):
        yield Check("note", "capture", line)
        return
    if line.startswith("not installed"):
        yield Check("note", "capture", "off: " + line)
        return
    not_covered = conn.execute("SELECT not_covered FROM trending.capture_status").fetchone()[0] \
        if ext.has("capture_coverage") else None
    if not_covered:
        yield Check("FAIL", "capture", "not covered: " + "; ".join(not_covered),
                    "a superuser runs SELECT trending.install_capture(); (or trending install --capture): it puts "
                    "the capture triggers on every source table and partition")
    elif fine:
        yield Check("ok", "capture", line)
    else:
        yield Check("warn", "capture", line, "a full cycle re-arms it (trending recompute); a missing, disabled "
                    "or replaced trigger needs trending install --capture again")
    if ext.has("capture_role"):
        yield from _capture_role(conn)
    else:
        yield Check("note", "capture role", f"in trending {ext.version} the capture triggers run as each writer, "
                    "granted INSERT on the capture's tables; the update (`trending install`) makes them run as "
                    f"{CAPTURE_ROLE} and revokes those grants")


CAPTURE_ROLE = "trending_capture"
# What trending_capture may do in schema trending, exactly (sql/grants.sql).
CAPTURE_ROLE_GRANTS = sorted([("trending._capture_armed", "SELECT"), ("trending._capture_changes", "INSERT"),
                              ("trending._capture_plays", "INSERT"), ("trending._capture_seq", "USAGE"),
                              ("trending._capture_truncates", "INSERT")])
REINSTALL = ("ALTER EXTENSION trending UPDATE restores the owner and grants; or drop and recreate the extension "
             "(trending uninstall, trending install --capture)")


def _capture_role(conn):
    """The capture triggers run as trending_capture (SECURITY DEFINER), so no
    writer can fail for lack of a grant: check that they do, that the role can
    do nothing but append to the delta tables, and that no other role may
    write trending's tables (a writer that could would forge changes)."""
    functions = conn.execute("""
SELECT p.proname, r.rolname, p.prosecdef FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_roles r ON r.oid = p.proowner
JOIN pg_catalog.pg_trigger g ON g.tgfoid = p.oid
WHERE p.pronamespace = 'trending'::pg_catalog.regnamespace AND p.proname LIKE '\\_capture\\_%'
GROUP BY 1, 2, 3 ORDER BY 1""").fetchall()
    wrong = [f"{name} (owner {owner}{'' if definer else ', not SECURITY DEFINER'})"
             for name, owner, definer in functions if owner != CAPTURE_ROLE or not definer]
    if wrong:
        yield Check("FAIL", "capture role", f"capture trigger functions not running as {CAPTURE_ROLE}: "
                    + ", ".join(wrong) + "; the service's writers may then fail, or write as another role",
                    REINSTALL)
        return
    role = conn.execute("""
SELECT r.rolsuper, array_remove(ARRAY[
           CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN r.rolcanlogin THEN 'LOGIN' END,
           CASE WHEN r.rolinherit THEN 'INHERIT' END, CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
           CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, CASE WHEN r.rolreplication THEN 'REPLICATION' END,
           CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END], NULL),
       ARRAY(SELECT pg_catalog.format('%%s in %%s', m.member::regrole, m.roleid::regrole)
             FROM pg_catalog.pg_auth_members m WHERE r.oid IN (m.roleid, m.member) ORDER BY 1),
       ARRAY(SELECT ROW(c.oid::regclass::text, a.privilege_type)::text
             FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
             WHERE a.grantee = r.oid ORDER BY 1),
       (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.relowner = r.oid)
FROM pg_catalog.pg_roles r WHERE r.rolname = %s""", (CAPTURE_ROLE,)).fetchone()
    expected = [f"({relation},{privilege})" for relation, privilege in CAPTURE_ROLE_GRANTS]
    if role is None:
        yield Check("FAIL", "capture role", f"role {CAPTURE_ROLE} does not exist", REINSTALL)
        return
    superuser, attributes, memberships, grants, owned = role
    problems = []
    if attributes:
        problems.append("attributes " + " ".join(attributes))
    if memberships:
        problems.append("memberships " + ", ".join(memberships))
    extra = [g for g in grants if g not in expected]
    if extra:
        problems.append("privileges beyond appending to the delta tables: " + ", ".join(extra))
    elif grants != expected:
        problems.append("missing privileges: " + ", ".join(g for g in expected if g not in grants))
    if owned:
        problems.append(f"owns {owned} relation(s)")
    if problems:
        yield Check("FAIL", "capture role", f"{CAPTURE_ROLE} (the capture triggers run as it) has "
                    + "; ".join(problems) + ": a way to act as it could forge captured changes",
                    f"ALTER ROLE {CAPTURE_ROLE} NOLOGIN NOINHERIT NOSUPERUSER NOCREATEROLE NOCREATEDB "
                    f"NOREPLICATION NOBYPASSRLS; REVOKE the memberships and the extra privileges; then "
                    + REINSTALL.split(";")[0])
        return
    writers = conn.execute("""
SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
WHERE c.relnamespace = 'trending'::pg_catalog.regnamespace AND a.grantee <> c.relowner
  AND a.grantee IS DISTINCT FROM %s::regrole::oid
  AND ((c.relkind IN ('r', 'p') AND c.relname NOT IN ('settings', 'strategies')
        AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES'))
       OR (c.relkind = 'S' AND a.privilege_type IN ('USAGE', 'UPDATE')))
ORDER BY 1""", (CAPTURE_ROLE,)).fetchall()
    if writers:
        yield Check("FAIL", "capture role", "roles that may write trending's capture, state or score tables "
                    "(they could forge captured changes): " + ", ".join(w[0] for w in writers),
                    "REVOKE their INSERT, UPDATE, DELETE, TRUNCATE on the tables and USAGE, UPDATE on the "
                    "sequences of schema trending (the capture needs no writer grant)")
        return
    yield Check("ok", "capture role", f"the triggers run as {CAPTURE_ROLE} (not a superuser, no login): every "
                "write of the service is recorded whatever its role, and no other role writes trending's tables")


def _capture_backlog(conn, ext: Installed):
    """The capture's backlog against its bound, and what holds changes back
    (nothing when the capture is not installed, or the extension is older
    than the bound: 1.0, 1.1)."""
    if not ext.has("capture_bound"):
        return
    row = conn.execute("""
SELECT c.recording, to_char(c.record_until AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), c.max_pause::text,
       date_trunc('second', c.unconsumed_for)::text, c.unconsumed_for >= c.max_pause / 2,
       c.pending_changes, c.pending_plays, c.held_by
FROM trending.capture_status c WHERE c.installed""").fetchone()
    if row is None:
        return
    recording, until, bound, age, past_half, changes, plays, held = row
    pending = f"{changes} changed ids and {plays} plays pending"
    restart = ("run a cycle: trending recompute (it runs full and restarts the recording; the next cycle arms "
               "it), and keep cycles running: trending resume if the schedule is paused")
    if until is None:
        yield Check("FAIL", "capture backlog", "the capture is not recording: its unlogged state was lost (crash "
                    "restart, failover or restore); writes to the source tables are not recorded", restart)
    elif not recording:
        yield Check("FAIL", "capture backlog", f"the capture stopped recording at {until} UTC: no cycle consumed it "
                    f"for longer than capture_max_pause ({bound}); writes since then were not recorded; {pending}",
                    restart)
    elif past_half:
        yield Check("warn", "capture backlog", f"no cycle consumed the capture for {age} ({pending}); at {until} "
                    f"UTC (capture_max_pause {bound}) it stops recording and the next cycle runs full",
                    "resume the schedule (trending resume) or run a cycle now (trending recompute)")
    else:
        yield Check("ok", "capture backlog", f"{pending}, last consumed {age} ago; records until {until} UTC "
                    f"(capture_max_pause {bound})")
    if held:
        prepared = [h for h in held if h.startswith("prepared transaction")]
        detail = "changes of " + ", ".join(held) + " wait for their commit (the cycles consume the others)"
        yield (Check("warn", "capture held back", detail,
                     "a prepared transaction stays until COMMIT PREPARED or ROLLBACK PREPARED with its gid "
                     "(pg_prepared_xacts)") if prepared else Check("ok", "capture held back", detail))


def _schedule(conn, dsn: str):
    cron_db = cron.database(conn)
    if cron_db is None:
        yield Check("warn", "pg_cron", "not in shared_preload_libraries: nothing runs the cycle on a schedule "
                    "(`trending recompute` runs one)", cron.PRELOAD_HINT)
        return
    yield Check("ok", "pg_cron", "preloaded" + (", jobs run as background workers (no pg_hba.conf line needed)"
                                                if cron.background_workers(conn) else ""))
    yield Check("ok", "cron.database_name", cron_db)
    try:
        with cron.connect_cron(conn, dsn, cron_db) as cron_conn:
            yield from _job(conn, cron_conn, cron_db, conn.info.dbname)
    except CliError as error:
        yield Check("FAIL", "pg_cron database", str(error), error.hint)


def _job(conn, cron_conn, cron_db: str, database: str):
    schedule_fix = f"trending install --schedule '{cron.DEFAULT_SCHEDULE}'"
    if not cron.installed(cron_conn):
        yield Check("warn", "pg_cron extension", f"not created in database {cron_db}",
                    f"{schedule_fix} creates it (or CREATE EXTENSION pg_cron; in database {cron_db})")
        return
    version = cron_conn.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'").fetchone()
    yield Check("ok", "pg_cron extension", f"{version[0]} in database {cron_db}")
    job = cron.find_job(cron_conn, database)
    if job is None:
        yield Check("warn", "job", f"no pg_cron job {cron.JOB_NAME}", schedule_fix)
        return
    if job.database != database:
        yield Check("warn", "job", f"job {job.jobid} runs trending in database {job.database}, not {database} "
                    "(one job per cluster)", "trending install (moves the job to this database)")
        return
    others = [j for j in cron.find_jobs(cron_conn) if j.jobid != job.jobid]
    if others:
        yield Check("warn", "job", f"more jobs named {cron.JOB_NAME}: "
                    + ", ".join(f"{j.jobid} (role {j.username}, database {j.database})" for j in others),
                    "trending install keeps one")
    if not job.active:
        yield Check("warn", "job", f"job {job.jobid} ('{job.schedule}') is paused (inactive): no cycle runs",
                    "trending resume")
    else:
        yield Check("ok", "job", f"job {job.jobid}: '{job.schedule}' runs {job.command} as role {job.username}")
    role = conn.execute("SELECT rolsuper, rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = %s",
                        (job.username,)).fetchone()
    if role is None or not role[1]:
        yield Check("FAIL", "job role", f"role {job.username} {'does not exist' if role is None else 'cannot log in'}: "
                    "pg_cron 1.4.2 runs jobs only as roles with LOGIN", "trending install --schedule ...")
        return
    if role[0]:
        yield Check("warn", "job role", f"the job runs as superuser {job.username}",
                    f"trending install moves it to the non-superuser role {cron.DEFAULT_ROLE} (--job-role)")
    try:
        problem = cron.login_problem(conn, job.username, job.database)
    except psycopg.errors.InsufficientPrivilege:
        yield Check("warn", "job login", "cannot read pg_hba.conf's rules as a non-superuser",
                    "run doctor as a superuser to check that pg_cron can log in as the job role")
        problem = None
    if problem:
        yield Check("FAIL", "job login", problem, cron.BGW_HINT.format(role=job.username))
    runs = cron.last_runs(cron_conn, job)
    label = f"last job runs (pg_cron, in database {cron_db})"
    if not runs:
        yield Check("note", label, f"none yet: job {job.jobid} has not fired (cycles run otherwise are below)")
        return
    text = "; ".join(f"{status} at {start:%Y-%m-%d %H:%M:%S%z}" if start else status for status, start, _, _ in runs)
    status, _, _, message = runs[0]
    if status == "failed":
        yield Check("FAIL", label, f"{text}; the last one: {server_message(message)}",
                    "see `trending status` (the failed run's SQLSTATE and message) and fix its cause")
    else:
        yield Check("ok", label, text)


RECENT_CYCLES = 3


def _cycles(conn, ext: Installed | None):
    """trending.runs' last cycles, whatever ran them (the pg_cron job,
    `trending recompute`, a call of trending.recompute()): pg_cron's own
    record above knows only its job's. A failure is the health check's FAIL;
    here it is a note, not counted twice."""
    if ext is None:
        return
    label = "last cycles (trending.runs, any trigger)"
    runs = conn.execute("""
SELECT run_id, trigger, status, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
FROM trending.runs ORDER BY run_id DESC LIMIT %s""", (RECENT_CYCLES,)).fetchall()
    if not runs:
        yield Check("note", label, "none yet: `trending recompute` runs one")
        return
    text = "; ".join(f"run {run} {trigger} {state} at {started} UTC" for run, trigger, state, started in runs)
    finished = [state for _, _, state, _ in runs if state in ("ok", "failed", "aborted")]
    yield (Check("note", label, f"{text} (the health check says why; trending status --run N shows one)")
           if finished and finished[0] != "ok" else Check("ok", label, text))
