"""The two ways to run a cycle.

- run(): `SELECT trending.recompute()`, one transaction. The caller sees
  every error; nothing of a failed cycle stays, not even its run row.
- start() / step(): `CALL trending.scheduled_recompute()`, the procedure
  pg_cron runs, which commits after each step so that no snapshot or lock is
  held for a whole cycle (the last slice, record_movers and write_state
  commit together: cycle.transaction_steps). Its 'running' row is committed
  first; a failure is recorded in the row (with SQLSTATE and message) before
  the procedure re-raises it, so pg_cron marks the job failed too.

Both plan the cycle the same way and run the same steps (cycle.py).
"""

from __future__ import annotations

import json

from . import cycle, inputs, runs
from . import validate


def _require_primary(plpy) -> None:
    if plpy.execute("SELECT pg_catalog.pg_is_in_recovery() AS standby")[0]["standby"]:
        plpy.error("trending: cannot run a cycle on a hot standby", sqlstate="25006",
                   hint="Run it on the primary; the scheduled procedure returns quietly on a standby.")


def _now_text(plpy, now: str) -> str:
    return plpy.execute(f"SELECT pg_catalog.to_char({plpy.quote_literal(now)}::timestamptz AT TIME ZONE 'UTC',"
                        " 'YYYY-MM-DD HH24:MI:SS.US') AS t")[0]["t"].removesuffix(".000000")


def run(plpy, now: str, full: bool = False) -> str:
    """One whole cycle in the caller's transaction; the summary as JSON text.
    `full`: a full cycle even when an incremental one could run."""
    validate.cycle_inputs(plpy, now)
    _require_primary(plpy)
    not_taken = runs.take_lease(plpy, "recompute", now)
    if not_taken:
        return json.dumps(not_taken)
    runs.warn_if_before_current_scores(plpy, now)
    plan = cycle.plan(plpy, full=bool(full))
    run = runs.start(plpy, "recompute", now, plan)
    try:
        for index in range(len(plan["steps"])):
            cycle.run_step(plpy, run, index)
        finished = runs.finish(plpy, run["run_id"])
        now_text = _now_text(plpy, now)
        cycle.announce(plpy, run, now_text)  # sent when the caller commits
        return json.dumps(cycle.summary(plan, finished, now_text, run.get("capture")))
    finally:
        runs.forget(run["run_id"])


def start(plpy, now: str, full: bool = False):
    """First transaction of a scheduled run: the run id; None when another
    cycle runs (recorded skipped); minus the id of the run recorded failed
    when something but a cycle blocks the lease (the procedure commits it,
    then raises). An error rolls the lease back with the rest of the
    transaction."""
    validate.cycle_inputs(plpy, now)
    not_taken = runs.take_lease(plpy, "scheduled", now)
    if not_taken:
        return -not_taken["run_id"] if not_taken["status"] == "failed" else None
    runs.warn_if_before_current_scores(plpy, now)
    plan = cycle.plan(plpy, full=bool(full))
    run_id = runs.start(plpy, "scheduled", now, plan)["run_id"]
    plpy.notice(f"trending: run {run_id} started: {len(plan['steps'])} steps")
    return run_id


def step(plpy, run_id: int, index: int) -> str:
    """Step `index` of a scheduled run (with the steps that share its
    transaction: cycle.transaction_steps), as one subtransaction of the
    procedure's current transaction. Returns JSON: {"state": "more"} while
    steps remain, {"state": "ok", "summary": ...} after the last one, or
    {"state": "failed", "sqlstate", "message", "detail", "hint"} after
    recording the failure (the step's own work is rolled back).

    Only the session that started the run continues it (runs.mine): another
    session's run, or one this session does not hold, raises at once and is
    left as it is."""
    try:
        with plpy.subtransaction():
            state = runs.mine(plpy, run_id, index)
    except Exception as error:
        if _failed_own_row(plpy, run_id, error):
            return _failed(error)
        raise
    try:
        steps = cycle.transaction_steps(state["plan"], index)
        last = steps[-1] == len(state["plan"]["steps"]) - 1
        with plpy.subtransaction():
            # the last slice, record_movers and write_state (which arms the
            # change capture) in one transaction; marking the run ok goes
            # with them, so that a run recorded failed has armed nothing
            for each in steps:
                cycle.run_step(plpy, state, each)
            finished = runs.finish(plpy, run_id) if last else None
            if last:
                cycle.announce(plpy, state, _now_text(plpy, state["now"]))  # sent at the procedure's commit
        state["next"] = steps.stop
        if not last:
            return json.dumps({"state": "more"})
        summary = cycle.summary(state["plan"], finished, _now_text(plpy, state["now"]), state.get("capture"))
        plpy.notice(f"trending: run {run_id} ok in {summary['ms']:.0f} ms: "
                    + ", ".join(f"{v} {k}" for k, v in summary["rows"].items()))
        return json.dumps({"state": "ok", "summary": summary})
    except Exception as error:  # every failure ends the run: record it (which frees the lease)
        runs.fail(plpy, run_id, error)
        inputs.drop_temp_tables(plpy)
        return _failed(error)


def _failed(error) -> str:
    return json.dumps({"state": "failed", "sqlstate": getattr(error, "sqlstate", None) or "XX000",
                       "message": runs.error_message(error), "detail": getattr(error, "detail", None),
                       "hint": getattr(error, "hint", None)})


def _failed_own_row(plpy, run_id: int, error) -> bool:
    """A run whose row is this backend's own, running, but which this session
    cannot continue (its plan is no longer in memory: the module was
    reloaded by ALTER EXTENSION ... UPDATE; or a step out of order): record
    it failed, which frees the lease, so later cycles do not skip; True. Whatever
    the error (a cancel while checking counts too), any other session's run
    is not touched (trending._run_fail refuses it): False."""
    try:
        with plpy.subtransaction():
            runs.fail(plpy, run_id, error)
    except Exception:
        return False
    inputs.drop_temp_tables(plpy)
    return True
