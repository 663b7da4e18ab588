"""A cycle as a list of steps, each small enough to be its own transaction.

The plan is fixed when a run starts (settings, the strategies switched on,
the steps) and kept in the session's memory (runs.py; the run's row keeps a
copy for the record, never read back), so that the scheduled procedure can
commit between steps and still run exactly what it planned: check the
sources; then per kind of item (tracks, playlists) stage the shared inputs,
then the changes (private temp tables, kept across the procedure's commits),
then one step per slice that writes them. recompute() runs the same steps in
one transaction.

Each slice is written by one statement, so a reader sees a slice either
before or after its step, never in between.
"""

from __future__ import annotations

import json
import time

from . import capture, config, hooks, inputs, runs, slices, sources
from .config import Strategy

CHECK_SOURCES = "check_sources"
INPUTS = {"track": "track_inputs", "playlist": "playlist_inputs"}
CHANGES = {"track": "track_changes", "playlist": "playlist_changes"}
STAGE_STEPS = (CHECK_SOURCES, *INPUTS.values(), *CHANGES.values())


def plan(plpy) -> dict:
    """What this run will do, as JSON-able data: per kind of item with an
    enabled strategy, stage its inputs, then its changes, then apply each
    slice; a disabled strategy's slices are cleared."""
    settings = config.read_settings(plpy)
    strategies = config.read_strategies(plpy)
    steps = [{"name": CHECK_SOURCES}]
    for kind in ("track", "playlist"):
        mine = [s for s in strategies if s.kind == kind]
        if any(s.enabled for s in mine):
            steps += [{"name": INPUTS[kind]}, {"name": CHANGES[kind]}]
        for s in mine:
            for time_range in s.time_ranges:
                steps.append({"name": f"{s.key}/{time_range}", "type": s.type, "version": s.version,
                              "kind": s.kind, "range": time_range, "enabled": s.enabled})
    return {"source_schema": settings["source_schema"], "settings": settings, "steps": steps}


def _strategy(step: dict) -> Strategy:
    return Strategy(step["type"], step["version"], step["kind"], (step["range"],), step["enabled"])


# trending.settings name -> the server parameter it sets for a cycle's transactions
SESSION_SETTINGS = {"work_mem": "work_mem", "lock_timeout": "lock_timeout",
                    "parallel_workers": "max_parallel_workers_per_gather"}


def apply_session_settings(plpy, settings: dict) -> None:
    """work_mem, lock_timeout and parallelism for the rest of this transaction."""
    for name, parameter in SESSION_SETTINGS.items():
        plpy.execute(f"SELECT pg_catalog.set_config({plpy.quote_literal(parameter)}, "
                     f"{plpy.quote_literal(settings[name])}, true)")


def _stage_changes(plpy, run: dict, kind: str) -> dict:
    """Stage every enabled slice of `kind`'s changes; remember the score
    table's filenode they were staged against (see slices.apply)."""
    enabled = [(_strategy(s), s["range"]) for s in run["plan"]["steps"]
               if s.get("kind") == kind and s["enabled"]]
    changes = slices.stage_changes(plpy, kind, enabled)
    run.setdefault("filenodes", {})[kind] = changes["filenode"]
    return changes


def run_step(plpy, run: dict, index: int) -> None:
    """Run step `index` of the run's plan and record it in the run's row."""
    plan_ = run["plan"]
    step = plan_["steps"][index]
    apply_session_settings(plpy, plan_["settings"])
    source_schema = plan_["source_schema"]
    started = time.monotonic()
    name = step["name"]
    bad_rows = slice_result = changes = None

    cycle_ = None
    if name == CHECK_SOURCES:
        inputs.drop_temp_tables(plpy)  # a failed run earlier in this session may have left them
        # before any source is read; before their locks too, so that the
        # settle wait never holds a lock a writer in flight may be queued on
        cycle_ = begin_capture(plpy, run, source_schema, plan_["settings"])
        sources.lock_and_check(plpy, source_schema)
    elif name in INPUTS.values():
        # Every transaction that reads the sources checks them after taking
        # the read's lock (the procedure commits between steps, and the owner
        # may swap a table in between), and again before each statement that
        # reads them and after the last: DDL that the read's lock does not
        # conflict with (CREATE INDEX, CREATE STATISTICS, ATTACH PARTITION)
        # could add what the check refuses. A change found after the last
        # read fails the step, and its transaction's effects with it.
        def guard(point: str) -> None:
            hooks.pause_after(plpy, f"{name}/{point}")  # tests put DDL here
            sources.lock_and_check(plpy, source_schema, name)

        stage = inputs.stage_track_inputs if name == INPUTS["track"] else inputs.stage_playlist_inputs
        bad_rows = stage(plpy, inputs.Cycle.start(plpy, run["now"], source_schema), guard)
        guard("end")
    elif name in CHANGES.values():
        changes = _stage_changes(plpy, run, next(k for k, v in CHANGES.items() if v == name))
    elif step["enabled"]:
        kind = step["kind"]
        slice_result = slices.apply(plpy, run["run_id"], inputs.Cycle.start(plpy, run["now"], source_schema),
                                    _strategy(step), step["range"], run.get("filenodes", {}).get(kind),
                                    restage=lambda: _stage_changes(plpy, run, kind)["filenode"])
    else:
        slice_result = slices.remove(plpy, run["run_id"], _strategy(step), step["range"])

    if index == len(plan_["steps"]) - 1:
        record_top(plpy, run)  # the lists as this cycle leaves them, for movers()
        finish_capture(plpy, run)  # in the transaction that commits the cycle's last state

    ms = round((time.monotonic() - started) * 1000, 1)
    runs.record_step(plpy, run["run_id"], name, ms, slice_key=None if slice_result is None else name,
                     slice_result=slice_result, bad_rows=bad_rows, cycle=cycle_)
    plpy.notice(progress_line(index, len(plan_["steps"]), name, ms, slice_result, bad_rows, changes))
    if index == len(plan_["steps"]) - 1:
        inputs.drop_temp_tables(plpy)
    hooks.pause_after(plpy, name)


# A full cycle does not need the capture settled to be right: an unsettled
# one only leaves the delta rows to the next cycle. So it waits for the
# writers in flight (normally milliseconds) at most this long, and never
# longer than the lock_timeout setting, the bound on any wait of a cycle.
SETTLE_MAX_MS = 1000
_DURATION_MS = {"ms": 1, "s": 1000, "min": 60_000}


def settle_timeout_ms(lock_timeout: str) -> int:
    """min(lock_timeout setting, SETTLE_MAX_MS), in ms (the setting is validated: '5s', '200 ms', '2min')."""
    number = "".join(ch for ch in lock_timeout if ch.isdigit())
    unit = lock_timeout[len(number):].strip()
    return min(int(number) * _DURATION_MS[unit], SETTLE_MAX_MS)


def _ms_text(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def begin_capture(plpy, run: dict, source_schema: str, settings: dict) -> dict:
    """The change capture's part of the first step: its state and, when it
    is installed, a settled watermark, kept in the run's memory (never
    re-read from a table another role can write) for finish_capture. Returns
    the kind of cycle and why, for the run's row."""
    st = capture.state(plpy, source_schema)
    info = {"installed": st["installed"], "fingerprint": st["fingerprint"], "upto": None, "settled": False,
            "armed": False, "not_armed": None}
    reason = st["reason"]
    if st["installed"]:
        timeout_ms = settle_timeout_ms(settings["lock_timeout"])
        info["upto"], info["settled"] = capture.settle(plpy, f"{timeout_ms} milliseconds")
        if not info["settled"]:
            info["not_armed"] = (f"the capture did not settle within {_ms_text(timeout_ms)}: a write to a source "
                                 "table was still in flight; its changes are kept for the next cycle")
            reason = reason or info["not_armed"]
    # incremental cycles do not exist yet: a capture ready for one still runs full
    reason = reason or "incremental cycles are not implemented yet: every cycle is full"
    run["capture"] = info
    run["cycle"] = {"kind": "full", "reason": reason}
    return run["cycle"]


def finish_capture(plpy, run: dict) -> None:
    """In the transaction of the last step: arm the capture from the
    watermark settled before any source was read (this prunes the delta rows
    the cycle covered). A failed run never gets here: nothing is armed and
    the next cycle reads again."""
    info = run.get("capture")
    if not info or not info["installed"] or not info["settled"]:
        return
    info["not_armed"] = capture.arm(plpy, info["upto"], info["fingerprint"])
    info["armed"] = info["not_armed"] is None
    if info["not_armed"]:
        plpy.warning(f"trending: the change capture was not armed: {info['not_armed']}",
                     hint="The next cycle runs full again; SELECT * FROM trending.capture_status.")


def record_top(plpy, run: dict) -> None:
    """In the last step's transaction: record the top N of every list the
    API reads (trending._record_top keeps the previous cycle's beside them)
    and keep its counts in the run's memory for announce()."""
    settings = run["plan"]["settings"]
    row = plpy.execute(plpy.prepare("SELECT trending._record_top($1, $2, $3) AS r", ["bigint", "int4", "int4"]),
                       [run["run_id"], int(settings["movers_top_n"]), int(settings["movers_max_genres"])])
    run["movers"] = _json(row[0]["r"])


# NOTIFY payloads are limited to 8000 bytes: this one is a few dozen; the
# detail is in trending.movers().
NOTIFY_CHANNEL = "trending"


def announce(plpy, run: dict, now_text: str) -> None:
    """After runs.finish, in the same transaction: NOTIFY trending with the
    run id, its status, its now and the total entries into the top N lists.
    Delivered at commit only, so a failed or rolled-back cycle sends nothing."""
    payload = json.dumps({"run_id": run["run_id"], "status": "ok", "now": now_text,
                          "entries": int((run.get("movers") or {}).get("entries") or 0)})
    plpy.execute(plpy.prepare("SELECT pg_catalog.pg_notify($1, $2)", ["text", "text"]), [NOTIFY_CHANNEL, payload])


def progress_line(index: int, total: int, name: str, ms: float, slice_result, bad_rows, changes=None) -> str:
    """The NOTICE a DBA sees in psql as each step finishes."""
    line = f"trending: step {index + 1}/{total} {name} done in {ms:.0f} ms"
    if changes is not None:
        line += f": {changes['changed']} of {changes['staged']} scores to write"
    if slice_result is not None:
        line += (f": {slice_result['inserted']} inserted, {slice_result['updated']} updated,"
                 f" {slice_result['deleted']} deleted, {slice_result['unchanged']} unchanged")
    if bad_rows:
        found = {k: v for k, v in bad_rows.items() if v}
        if found:
            line += "; skipped or adjusted rows: " + ", ".join(f"{k} {v}" for k, v in found.items())
    return line


def summary(plan_: dict, run_row: dict, now_text: str, capture_info: dict | None = None) -> dict:
    """The jsonb recompute() returns, from the run's finished row (and the
    capture's part of the run's memory)."""
    step_ms = _json(run_row["step_ms"])
    slice_rows = _json(run_row["slice_rows"])
    strategies: dict = {}
    for step in plan_["steps"]:
        if "range" not in step:
            continue
        entry = strategies.setdefault(f"{step['type']}/{step['version']}",
                                      {"enabled": step["enabled"], "ranges": {}})
        entry["ranges"][step["range"]] = slice_rows[step["name"]]
    counters = ("inserted", "updated", "deleted", "unchanged")
    totals = {k: sum(r[k] for s in strategies.values() for r in s["ranges"].values()) for k in counters}
    steps = {k: v for k, v in step_ms.items() if k in STAGE_STEPS}
    steps["slices"] = round(sum(v for k, v in step_ms.items() if k not in steps), 1)
    bad_rows = dict.fromkeys(inputs.TRACK_BAD_ROWS + inputs.PLAYLIST_BAD_ROWS)
    bad_rows.update(_json(run_row["bad_rows"]) or {})
    return {"status": "ok", "run_id": int(run_row["run_id"]), "now": now_text,
            "source_schema": plan_["source_schema"], "ms": float(run_row["ms"]),
            "wal_bytes": int(run_row["wal_bytes"]), "rows": totals, "steps": steps,
            "strategies": strategies, "bad_rows": bad_rows,
            "cycle": {"kind": run_row.get("cycle_kind"), "reason": run_row.get("cycle_reason"),
                      "capture": None if capture_info is None else
                      {k: capture_info[k] for k in ("installed", "upto", "settled", "armed", "not_armed")}}}


def _json(value):
    """jsonb arrives in PL/Python as text."""
    return json.loads(value) if isinstance(value, str) else value
