"""`trending status`: is trending doing its job? The recent runs, the
schedule, how fresh the scores are (with a warning once they are stale or
unhealthy, by trending.status's rule), the change capture's state and how
big its tables are.
`trending status --check` is a monitoring probe: one line, exit 0 when
healthy, 1 when not. `trending status --run N` shows one run as its
progress lines said it (pg_cron's runs print them to no one).
On a database that holds an older trending (before an upgrade) it says so
first and shows what that version records (compat.py)."""

from __future__ import annotations

from datetime import timedelta

from .. import compat, cron
from ..compat import Installed
from ..db import connect, require_extension, source_schema
from ..errors import CliError, server_message
from ..output import table


def register(commands) -> None:
    parser = commands.add_parser(
        "status", help="recent runs, the schedule, score freshness, table sizes",
        description="Show the recent runs (trending.runs), the pg_cron schedule, how old the scores are "
                    "(trending.status) and the size of trending's tables. Prints a warning when the scores "
                    "are stale (the last successful cycle's now is older than the stale_after setting, 2 hours "
                    "by default) or the last finished run failed, and why. With --check: only the health, one line, exit status "
                    "0 when healthy and 1 when not (a monitoring probe).")
    parser.add_argument("--runs", type=int, default=10, metavar="N", help="how many recent runs (default 10)")
    parser.add_argument("--check", action="store_true",
                        help="print only the health and exit 0 when healthy, 1 when not")
    parser.add_argument("--run", type=int, metavar="N",
                        help="show run N (trending.runs): its kind and reason, each step's time and rows, "
                             "the rows it skipped, its drift and its error, as its progress lines said")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn:
        require_extension(conn)
        ext = compat.installed(conn)
        if args.check:
            healthy, line = health(conn, ext)
            print(line)
            return 0 if healthy else 1
        if args.run is not None:
            print(one_run(conn, ext, args.run))
            return 0
        print(f"trending {ext.version} in database {conn.info.dbname}, source schema {source_schema(conn)}")
        if ext.outdated:
            print(f"{ext.update_line()}; until then this shows what {ext.version} records")
        print()
        _runs(conn, args.runs)
        _schedule(conn, args.dsn)
        _freshness(conn, ext)
        print(f"{capture(conn, ext)[1]}\n")
        _sizes(conn)
    return 0


def health(conn, ext: Installed) -> tuple[bool, str]:
    """trending.status's healthy, and one line saying why not (shared with
    doctor): its unhealthy_reason (what failed, how stale the scores are,
    the calls skipped since and whom they named), or for an older version
    the same from the columns it has (compat.old_health)."""
    if ext.has("unhealthy_reason"):
        healthy, reason = conn.execute("SELECT healthy, unhealthy_reason FROM trending.status").fetchone()
        line = "not healthy: " + server_message(reason or "")
    else:
        healthy, line = compat.old_health(conn, ext)
    if not healthy:
        return False, line
    (as_of,) = conn.execute("SELECT to_char(scores_as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
                            "FROM trending.status").fetchone()
    return True, f"healthy: scores as of {as_of} UTC"


def capture(conn, ext: Installed) -> tuple[bool, str]:
    """The change capture's state in one line (trending.capture_status), and
    whether it is as it should be (not installed is fine: cycles run full).
    Shared with doctor."""
    if not ext.has("capture"):
        return True, (f"capture: none in trending {ext.version} (every cycle reads everything): update it "
                      "(`trending install`), then `trending install --capture` turns it on")
    (installed, schema, armed, incremental_ok, reason, consumed, changes, plays, kind, why) = conn.execute("""
SELECT c.installed, c.source_schema, c.armed, c.incremental_ok, c.full_cycle_reason, c.consumed_upto,
       c.pending_changes, c.pending_plays, s.last_cycle_kind, s.last_cycle_reason
FROM trending.capture_status c, trending.status s""").fetchone()
    # the last cycle's reason speaks of the capture as that cycle found it:
    # shown once a cycle has armed it, not between its install and that cycle
    last = f"; last cycle {kind}" + (f" ({why})" if why and installed and armed else "") if kind else ""
    if not installed:
        return True, f"capture: not installed (every cycle reads everything; trending install --capture){last}"
    pending = f"{changes} changed ids and {plays} plays pending"
    if armed and incremental_ok:
        return True, f"capture: installed on schema {schema}, armed up to {consumed}, {pending}{last}"
    return False, f"capture: installed on schema {schema}, not ready: {reason}; {pending}{last}"


def _runs(conn, limit: int) -> None:
    rows = conn.execute("""
SELECT run_id, trigger, status, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
       round(EXTRACT(epoch FROM finished_at - started_at)::numeric, 1)::text,
       (SELECT sum(COALESCE((v->>'inserted')::bigint, 0) + COALESCE((v->>'updated')::bigint, 0)
                   + COALESCE((v->>'deleted')::bigint, 0))
        FROM jsonb_each(slice_rows) AS s(k, v))::bigint,
       pg_size_pretty(wal_bytes),
       concat_ws(': ', sqlstate, message)
FROM trending.runs ORDER BY run_id DESC LIMIT %s""", (limit,)).fetchall()
    print("Recent runs")
    print(table(["run", "trigger", "status", "started (UTC)", "seconds", "rows changed", "WAL", "message"],
                [list(r) for r in rows], align="rlllrrrl") if rows else "(none yet)")
    print()


def _schedule(conn, dsn: str) -> None:
    """Print the schedule and the job's last run."""
    cron_db = cron.database(conn)
    if cron_db is None:
        print("schedule: none (pg_cron is not loaded; `trending doctor` says how)")
        return
    try:
        with cron.connect_cron(conn, dsn, cron_db) as cron_conn:
            job = cron.find_job(cron_conn, conn.info.dbname) if cron.installed(cron_conn) else None
            runs = cron.last_runs(cron_conn, job, 1) if job else []
    except CliError as error:
        print(f"schedule: unknown ({error})")
        return
    if job is None or job.database != conn.info.dbname:
        print(f"schedule: none (no pg_cron job {cron.JOB_NAME} for this database: trending install schedules it)")
        return
    state = "active" if job.active else "INACTIVE"
    print(f"schedule: '{job.schedule}' (GMT), pg_cron job {job.jobid} in database {cron_db}, as role "
          f"{job.username}, {state}")
    if runs:
        status, start, _, message = runs[0]
        print(f"last job run: {status}" + (f" at {start:%Y-%m-%d %H:%M:%S %Z}" if start else "")
              + (f": {server_message(message)}" if status == "failed" and message else ""))


def _freshness(conn, ext: Installed) -> None:
    (as_of, age, seconds, failure_run, failure_status, failure_at, failure_state, failure_message,
     running_pid, running_since) = conn.execute("""
SELECT to_char(scores_as_of AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), scores_age, last_success_seconds,
       last_failure_run_id, last_failure_status, to_char(last_failure_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
       last_failure_sqlstate, last_failure_message,
       running_pid, to_char(running_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
FROM trending.status""").fetchone()
    if as_of is None:
        print("scores: none yet")
    else:
        print(f"scores: as of {as_of} UTC ({_duration(age)} ago), computed in {seconds} s")
    if failure_run is not None:
        print(f"last failure: run {failure_run} {failure_status} at {failure_at} UTC: "
              + ": ".join(x for x in (failure_state, failure_message) if x))
    if running_pid is not None:
        print(f"running now: pid {running_pid} since {running_since} UTC")
    broken = conn.execute("SELECT lease_broken_reason FROM trending.status").fetchone()[0] \
        if ext.has("lease") else None
    if broken:
        print(f"last lease broken: {broken}")
    healthy, line = health(conn, ext)
    if as_of is None:
        print("warning: no cycle has succeeded yet: run `trending recompute`")
    elif not healthy:
        print(f"warning: {line}: check the job's last runs above and `trending doctor`")
    print()


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min" if minutes % 60 else f"{minutes // 60} h"
    return f"{minutes // 1440} days {minutes % 1440 // 60} h"


def _sizes(conn) -> None:
    rows = conn.execute("""
SELECT c.relname, s.n_live_tup, pg_size_pretty(pg_total_relation_size(c.oid))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE n.nspname = 'trending' AND c.relkind = 'r' AND c.relname NOT LIKE '\\_%'
ORDER BY pg_total_relation_size(c.oid) DESC""").fetchall()
    print("Tables")
    print(table(["table", "live rows (est.)", "size with indexes"], [list(r) for r in rows], align="lrr"))


def one_run(conn, ext: Installed, run_id: int) -> str:
    """Run `run_id` of trending.runs, as the progress lines of a cycle show it
    (a scheduled run's lines reach no log at the default log_min_messages):
    one line per step recorded, then what it skipped, its kind, its error."""
    # 1.0's runs have no kind of cycle (every cycle was full)
    kind = ("cycle_kind, cycle_reason, affected, drift" if ext.has("cycle_kind") else
            "NULL::text, NULL::text, NULL::jsonb, NULL::jsonb")
    row = conn.execute(f"""
SELECT run_id, trigger, status, {kind}, run_by, pid, source_schema,
       to_char(cycle_now AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
       round(EXTRACT(epoch FROM finished_at - started_at)::numeric, 1)::text,
       COALESCE(plan -> 'steps', '[]'), step_ms, slice_rows, bad_rows, wal_bytes,
       sqlstate, message, detail, hint
FROM trending.runs WHERE run_id = %s""", (run_id,)).fetchone()
    if row is None:
        (last,) = conn.execute("SELECT max(run_id) FROM trending.runs").fetchone()
        raise CliError(f"there is no run {run_id} in trending.runs",
                       "`trending status` lists the recent runs" + (f" (the last is {last})" if last else "")
                       + "; the run_retention setting says how long runs are kept")
    (run_id, trigger, status, kind, reason, affected, drift, run_by, pid, schema, now, started, seconds, plan_steps,
     step_ms, slice_rows, bad_rows, wal_bytes, sqlstate, message, detail, hint) = row
    lines = [f"run {run_id}: {trigger}, {status}" + (f", {kind} cycle" if kind else "")
             + f", as role {run_by} (pid {pid})",
             f"now {now} UTC, source schema {schema or '?'}, started {started} UTC"
             + (f", took {seconds} s" if seconds else "")
             + (f", WAL {int(wal_bytes):,} bytes" if wal_bytes is not None else "")]
    if reason:
        lines.append(f"why {kind}: {reason}")
    # the plan's order; steps recorded under names the plan does not list come last
    names = [s["name"] for s in plan_steps if "name" in s]
    names += [n for n in step_ms if n not in names]
    total = len(names)
    for index, name in enumerate(names):
        if name not in step_ms:
            lines.append(f"step {index + 1}/{total} {name}: not reached")
            continue
        line = f"step {index + 1}/{total} {name} done in {step_ms[name]:,.0f} ms"
        done = slice_rows.get(name)
        if done:
            line += (f": {done['inserted']} inserted, {done['updated']} updated, {done['deleted']} deleted, "
                     f"{done['unchanged']} unchanged")
        lines.append(line)
    found = {k: v for k, v in sorted((bad_rows or {}).items()) if v}
    if found:
        lines.append("skipped or adjusted rows: " + ", ".join(f"{k} {v:,}" for k, v in found.items()))
    if affected:
        lines.append("items rescored: " + ", ".join(f"{k} {v:,}" for k, v in sorted(affected.items())))
    if drift is not None:
        lines.append("drift: " + (", ".join(f"{k} {v:,}" for k, v in sorted(drift.items())) or "none"))
    if message:
        lines.append(f"error: {sqlstate}: {message}" if sqlstate else f"error: {message}")
        lines += [f"detail: {detail}"] if detail else []
        lines += [f"hint: {hint}"] if hint else []
    return "\n".join(lines)
