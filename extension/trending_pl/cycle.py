"""A cycle as a list of steps, each small enough to be its own transaction.

The plan is fixed when a run starts (settings, the strategies switched on,
the steps) and kept in the session's memory (runs.py; the run's row keeps a
copy for the record, never read back), so that the scheduled procedure can
commit between steps and still run exactly what it planned: check the
sources; then per kind of item (tracks, playlists) stage the shared inputs,
then the changes (private temp tables, kept across the procedure's commits),
then one step per slice that writes them; last, record the movers' lists and
write the incremental state (FINISH_STEPS). recompute() runs the same steps
in one transaction; the procedure runs the last slice and FINISH_STEPS in one
(transaction_steps).

Each slice is written by one statement, so a reader sees a slice either
before or after its step, never in between.
"""

from __future__ import annotations

import json
import time

from . import capture, config, hooks, incremental, inputs, runs, slices, sources
from .config import Strategy

CHECK_SOURCES = "check_sources"
INPUTS = {"track": "track_inputs", "playlist": "playlist_inputs"}
CHANGES = {"track": "track_changes", "playlist": "playlist_changes"}
STAGE_STEPS = (CHECK_SOURCES, *INPUTS.values(), *CHANGES.values())
# After every slice: the top lists as this cycle leaves them (movers()), then
# the incremental state and the capture's watermark. Steps of their own, so
# that their time is not booked under the last slice's.
RECORD_MOVERS = "record_movers"
WRITE_STATE = "write_state"
FINISH_STEPS = (RECORD_MOVERS, WRITE_STATE)


def plan(plpy, full: bool = False) -> dict:
    """What this run will do, as JSON-able data: per kind of item with an
    enabled strategy, stage its inputs, then its changes, then apply each
    slice; a disabled strategy's slices are cleared. Whether the cycle is
    full or incremental is decided by its first step (begin_capture); `full`
    asks for a full one. FINISH_STEPS come last, whatever is enabled."""
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
    steps += [{"name": name} for name in FINISH_STEPS]
    plan_ = {"source_schema": settings["source_schema"], "settings": settings, "steps": steps,
             "full_requested": bool(full)}
    plan_["fingerprint"] = incremental.fingerprint(plan_)
    return plan_


def transaction_steps(plan_: dict, index: int) -> range:
    """The steps the scheduled procedure runs in the transaction that begins
    with step `index`: that step alone, but for the last slice's, which runs
    with FINISH_STEPS in one transaction (each still timed and reported as a
    step of its own). The state, the capture's watermark (armed or advanced)
    and the run marked ok commit with the cycle's last scores or not at all:
    a run recorded failed has armed and moved nothing, and no committed
    moment has every slice at this cycle's now while the state, the
    watermark and the movers' lists still describe the previous cycle
    (docs/incremental.md, "It moves in one transaction"). Holding the last
    slice's commit back until then costs readers nothing: they never wait
    on a cycle's locks."""
    last_slice = len(plan_["steps"]) - len(FINISH_STEPS) - 1
    return range(index, len(plan_["steps"])) if index >= last_slice else range(index, index + 1)


def _strategy(step: dict) -> Strategy:
    return Strategy(step["type"], step["version"], step["kind"], (step["range"],), step["enabled"])


# trending.settings name -> the server parameter it sets for a cycle's transactions
SESSION_SETTINGS = {"work_mem": "work_mem", "lock_timeout": "lock_timeout",
                    "parallel_workers": "max_parallel_workers_per_gather"}


# What an incremental cycle's steps also set. jit: its statements read a
# few thousand rows by index, but their estimates (ids = ANY (ARRAY(...))
# over temp tables) pass jit_above_cost, and compiling them took 3.5 s of a
# 6.9 s cycle at medium scale (docs/benchmark.md, "JIT compilation"). Full
# cycles keep the server's setting: their statements are few and large.
INCREMENTAL_PARAMETERS = {"jit": "off"}


def apply_session_settings(plpy, settings: dict, incremental: bool = False) -> None:
    """work_mem, lock_timeout and parallelism (and, for an incremental
    cycle, INCREMENTAL_PARAMETERS) for the rest of this transaction, or of
    the calling function: the entry points pin settings, so a
    set_config(..., true) ends with them."""
    values = {parameter: settings[name] for name, parameter in SESSION_SETTINGS.items()}
    if incremental:
        values |= INCREMENTAL_PARAMETERS
    for parameter, value in values.items():
        plpy.execute(f"SELECT pg_catalog.set_config({plpy.quote_literal(parameter)}, "
                     f"{plpy.quote_literal(value)}, true)")


def _stage_changes(plpy, run: dict, kind: str) -> dict:
    """Stage every enabled slice of `kind`'s changes; remember the score
    table's filenode they were staged against (see slices.apply)."""
    enabled = [(_strategy(s), s["range"]) for s in run["plan"]["steps"]
               if s.get("kind") == kind and s["enabled"]]
    ids = None
    if run["cycle"]["kind"] == "incremental":  # less the share's items kept (incremental.keep_unchanged_share)
        ids = f"pg_temp.trending_{kind}_{'rescored' if run['rotation'] else 'affected'}"
    changes = slices.stage_changes(plpy, kind, enabled, ids)
    run.setdefault("filenodes", {})[kind] = changes["filenode"]
    return changes


def _incremental(run: dict) -> bool:
    """Whether the run's first step decided an incremental cycle."""
    return run.get("cycle", {}).get("kind") == "incremental"


def run_step(plpy, run: dict, index: int) -> None:
    """Run step `index` of the run's plan and record it in the run's row."""
    plan_ = run["plan"]
    step = plan_["steps"][index]
    apply_session_settings(plpy, plan_["settings"], _incremental(run))
    source_schema = plan_["source_schema"]
    started = time.monotonic()
    name = step["name"]
    bad_rows = slice_result = changes = None

    cycle_ = None
    if name == CHECK_SOURCES:
        inputs.drop_temp_tables(plpy)  # a failed run earlier in this session may have left them
        # before any source is read (the capture's snapshot); before their
        # locks too, so that its wait for writers in flight (when arming)
        # never holds a lock a writer may be queued on
        cycle_ = begin_capture(plpy, run, source_schema, plan_["settings"])
        if _incremental(run):  # for the rest of the step
            apply_session_settings(plpy, plan_["settings"], incremental=True)
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

        kind = next(k for k, v in INPUTS.items() if v == name)
        bad_rows = stage_inputs(plpy, run, kind, inputs.Cycle.start(plpy, run["now"], source_schema), guard)
    elif name in CHANGES.values():
        changes = _stage_changes(plpy, run, next(k for k, v in CHANGES.items() if v == name))
    elif name == RECORD_MOVERS:
        record_top(plpy, run)  # the lists as this cycle leaves them, for movers()
    elif name == WRITE_STATE:
        finish_capture(plpy, run, inputs.Cycle.start(plpy, run["now"], source_schema))
    elif step["enabled"]:
        kind = step["kind"]
        slice_result = slices.apply(plpy, run["run_id"], inputs.Cycle.start(plpy, run["now"], source_schema),
                                    _strategy(step), step["range"], run.get("filenodes", {}).get(kind),
                                    restage=lambda: _stage_changes(plpy, run, kind)["filenode"])
    else:
        slice_result = slices.remove(plpy, run["run_id"], _strategy(step), step["range"])

    ms = round((time.monotonic() - started) * 1000, 1)
    in_step = name in INPUTS.values()
    runs.record_step(plpy, run["run_id"], name, ms, slice_key=None if slice_result is None else name,
                     slice_result=slice_result, bad_rows=bad_rows, cycle=cycle_,
                     affected=run["cycle"]["affected"] if in_step else None,
                     drift=run["cycle"]["drift"] if in_step else None)
    plpy.notice(progress_line(index, len(plan_["steps"]), name, ms, slice_result, bad_rows, changes))
    if index == len(plan_["steps"]) - 1:
        inputs.drop_temp_tables(plpy)
    hooks.pause_after(plpy, name)


# Arming the capture after it was not recording waits for the source
# tables' writers that started before it recorded (normally milliseconds) at
# most this long, and never longer than the lock_timeout setting, the bound
# on any wait of a cycle; past it the cycle runs full without arming.
ARM_WAIT_MAX_MS = 1000
_DURATION_MS = {"ms": 1, "s": 1000, "min": 60_000}


def arm_wait_ms(lock_timeout: str) -> int:
    """min(lock_timeout setting, ARM_WAIT_MAX_MS), in ms (the setting is validated: '5s', '200 ms', '2min')."""
    number = "".join(ch for ch in lock_timeout if ch.isdigit())
    unit = lock_timeout[len(number):].strip()
    return min(int(number) * _DURATION_MS[unit], ARM_WAIT_MAX_MS)


def begin_capture(plpy, run: dict, source_schema: str, settings: dict) -> dict:
    """The change capture's part of the first step: its state, the cycle's
    snapshot (what it consumes up to) and the last one's, the incremental
    state's row, and from them the kind of cycle and why
    (incremental.decide), all kept in the run's memory (never re-read from a
    table another role can write) for the later steps. Returns the kind and
    the reason, for the run's row."""
    st = capture.state(plpy, source_schema)
    info = {"installed": st["installed"], "fingerprint": st["fingerprint"], "snapshot": None, "previous": None,
            "unrecorded": None, "armed": False, "not_armed": None, "since": st["since"]}
    if st["installed"]:
        snap = capture.snapshot(plpy, f"{arm_wait_ms(settings['lock_timeout'])} milliseconds")
        info.update(snapshot=snap["snapshot"], previous=snap["previous"], unrecorded=snap["unrecorded"])
    meta = incremental.read_meta(plpy)
    cur = inputs.Cycle.start(plpy, run["now"], source_schema)
    now_utc = cur.now_text

    def estimate() -> dict:  # decide() calls it once the capture and the state are known intact
        prev = inputs.Cycle.start(plpy, meta["cycle_now"] + "+00", source_schema)
        return incremental.catch_up_estimate(plpy, cur, prev, _consumed(plpy, info), meta,
                                             settings["reconcile_every"])

    recorded, reason = incremental.decide(plpy, full_requested=run["plan"]["full_requested"], capture_state=st,
                                          unrecorded=info["unrecorded"], meta=meta,
                                          plan_fingerprint=run["plan"]["fingerprint"], now_utc=now_utc,
                                          reconcile_every=settings["reconcile_every"], estimate=estimate)
    # a reconciling cycle is an incremental one that completes its round of
    # reconciliation (incremental.plan_rotation): recorded as 'reconcile'
    kind = "incremental" if recorded == "reconcile" else recorded
    # a full cycle rebuilds the state when the capture is installed: its arm
    # says at the end whether the state is valid (armed) or not
    info["build_state"] = kind != "incremental" and st["installed"]
    info["prev_now"] = None if meta is None else meta["cycle_now"]
    run["capture"] = info
    run["cycle"] = {"kind": kind, "reason": reason, "affected": {}, "drift": None}
    run["state_staged"] = []
    if kind == "incremental":
        rotation = None if hooks.reconciliation_skipped(plpy) else incremental.plan_rotation(
            plpy, meta, now_utc, settings["reconcile_every"], completes=recorded == "reconcile")
        run["rotation"] = rotation
        info["reconciled"] = None if rotation is None else {
            "position": rotation["position"], "round_completed": rotation["next"] is None, "items": {},
            "unchanged": {}}
    # The state stays valid through any cycle that does not rebuild it (its
    # writes all happen in the last step's transaction, with the watermark),
    # except one at an earlier now: the scores it writes are not those an
    # incremental cycle would reach from the state's now.
    if kind != "incremental" and meta and meta["valid"] and plpy.execute(
            plpy.prepare("SELECT $1::timestamp < $2::timestamp AS b", ["text", "text"]),
            [now_utc, meta["cycle_now"]])[0]["b"]:
        plpy.execute(plpy.prepare("SELECT trending._state_write($1, 'begin', true)", ["bigint"]), [run["run_id"]])
    return {"kind": recorded, "reason": reason}


# What trending._state_write stores of each kind's staging.
_STATE_PARTS = {"track": ["track", "track_users"], "playlist": ["playlist", "playlist_users"]}


def stage_inputs(plpy, run: dict, kind: str, c: inputs.Cycle, guard) -> dict | None:
    """The inputs step of `kind`: stage the inputs (every item, or the
    affected ones) and what the state keeps of them (written by the last
    step, finish_capture). Returns the bad rows found (None: not counted)."""
    info = run["capture"]
    stage = inputs.stage_track_inputs if kind == "track" else inputs.stage_playlist_inputs
    if run["cycle"]["kind"] == "incremental":
        _stage_incremental(plpy, run, kind, c, guard, stage)
        return None  # absurd rows are counted by full cycles, which read every row
    if not info["build_state"]:
        bad_rows = stage(plpy, c, guard)
        guard("end")
        return bad_rows
    bad_rows = stage(plpy, c, guard, inputs.Scope(after=capture.after(plpy, "d", info["snapshot"])))
    guard("end")
    inputs.stage_state(plpy, c, kind)
    run["state_staged"] += _STATE_PARTS[kind]
    return bad_rows


def _stage_incremental(plpy, run: dict, kind: str, c: inputs.Cycle, guard, stage) -> None:
    """An incremental cycle's inputs of `kind`: the affected items, with this
    cycle's share of the reconciliation (incremental.plan_rotation) read
    whole from the sources, its drift counted (runs.drift) and repaired."""
    info = run["capture"]
    prev = inputs.Cycle.start(plpy, info["prev_now"] + "+00", run["plan"]["source_schema"])
    consumed, after = _consumed(plpy, info), capture.after(plpy, "d", info["snapshot"])
    rotation = run["rotation"]
    no_share = {"track": None, "playlist": None, "user": None}
    incremental.stage_share(plpy, kind, c, rotation["share"] if rotation else no_share, guard)
    drift = {}
    if kind == "track":
        drift["play_hours"] = incremental.check_play_hours(plpy, c, rotation and rotation["hours"], consumed,
                                                           after, guard)
    run["cycle"]["affected"][kind] = incremental.stage_affected(plpy, kind, c, prev, consumed, guard)
    fresh = kind == "track" and drift["play_hours"] > 0
    scope = inputs.Scope(ids=f"pg_temp.trending_{kind}_affected", plays="state", consumed=consumed,
                         prev_week_floor=prev.track_week_floor, prev_month_floor=prev.track_month_floor,
                         reread=f"pg_temp.trending_{kind}_reread", summed=f"pg_temp.trending_{kind}_summed",
                         fresh="pg_temp.trending_track_fresh" if fresh else None, after=after)
    stage(plpy, c, guard, scope)
    guard("end")
    inputs.stage_state(plpy, c, kind, incremental=True)
    run["state_staged"] += _STATE_PARTS[kind] + (["play_buckets"] if fresh else [])
    if rotation is None:
        return
    drift.update(incremental.measure_drift(plpy, kind, after))
    kept = incremental.keep_unchanged_share(plpy, kind)
    info["reconciled"]["unchanged"][f"{kind}s"] = kept
    run["cycle"]["affected"][kind] -= kept  # the items rescored
    checked = {f"{kind}s": f"pg_temp.trending_{kind}_share", f"{kind}_users": f"pg_temp.trending_{kind}_share_users"}
    info["reconciled"]["items"].update({name: int(plpy.execute(f"SELECT count(*) AS n FROM {table}")[0]["n"])
                                        for name, table in checked.items()})
    if kind == "track" and rotation["hours"]:
        info["reconciled"]["items"]["play_hours"] = int(plpy.execute(
            "SELECT count(*) AS n FROM pg_temp.trending_checked_hours")[0]["n"])
    _record_rotation(plpy, run, c, drift)


def _record_rotation(plpy, run: dict, c: inputs.Cycle, drift: dict) -> None:
    """The drift of this cycle's share (runs.drift; a reconciling cycle's is
    its whole round's), and the round as the last step stores it
    (pg_temp.trending_rotation, _state_write 'rotation')."""
    rotation = run["rotation"]
    this_cycle = run.setdefault("cycle_drift", {})
    this_cycle.update(drift)
    before = rotation["drift_before"]
    round_drift = {k: before.get(k, 0) + this_cycle.get(k, 0) for k in sorted(set(before) | set(this_cycle))}
    if rotation["next"] is None:  # the round ends here: the reconciling cycle records its drift
        run["cycle"]["drift"] = round_drift
    else:
        run["cycle"]["drift"] = dict(this_cycle)
        rotation["next"]["drift"] = round_drift
    inputs.staging_table(plpy, "trending_rotation")  # made anew: each kind's step writes the round so far
    if "rotation" not in run["state_staged"]:
        run["state_staged"].append("rotation")
    plpy.execute(plpy.prepare("INSERT INTO pg_temp.trending_rotation VALUES ($1::jsonb,"
                              " CASE WHEN $1 IS NULL THEN $2::timestamp END)", ["text", "text"]),
                 [None if rotation["next"] is None else json.dumps(rotation["next"]), c.now_text])


def _consumed(plpy, info: dict) -> str:
    """SQL condition on a delta row aliased d: consumed by this incremental cycle."""
    return capture.consumed(plpy, "d", info["snapshot"], info["previous"])


def finish_capture(plpy, run: dict, c: inputs.Cycle) -> None:
    """The write_state step, in the transaction that commits the cycle's
    last scores (transaction_steps): move the state and the capture's
    watermark together.
    - Full or reconciling: arm the capture at the snapshot taken before any
      source was read (this prunes the delta rows the cycle covered), and
      replace the state with what the cycle staged (valid only if armed).
    - Incremental: add the consumed delta rows' plays to the buckets,
      replace the affected items' rows, and move the watermark past them,
      so each delta row is counted once.
    The state is then valid at the watermark and at this now. A failed run
    never gets here: nothing is armed, moved or written, and the next cycle
    reads again."""
    info = run.get("capture")
    if not info or not info["installed"]:
        return
    kind = run["cycle"]["kind"]
    month_floor = c.track_month_keep  # what the state keeps of plays and track engagements
    year_floor = c.playlist_floors[max(inputs.formulas.PLAYLIST_WINDOWS,
                                       key=lambda r: inputs.formulas.WINDOW_DAYS[r])]
    write = plpy.prepare("SELECT trending._state_write($1, $2, $3) AS n", ["bigint", "text", "bool"])
    full = kind != "incremental"
    if kind == "incremental":
        plpy.execute(f"SELECT trending._state_advance({int(run['run_id'])}, {month_floor}, {year_floor})")
        info["not_armed"] = capture.advance(plpy)
    else:
        reason = capture.arm(plpy, info["fingerprint"])
        # when the cycle's snapshot already said why it cannot arm, that says more
        info["not_armed"] = reason and (info["unrecorded"] or reason)
    info["armed"] = info["not_armed"] is None
    if info["not_armed"]:
        plpy.warning(f"trending: the change capture was not armed: {info['not_armed']}",
                     hint="The next cycle runs full again; SELECT * FROM trending.capture_status.")
    if full and info["build_state"]:
        plpy.execute(write, [run["run_id"], "begin", True])
        if "track" in run["state_staged"]:
            plpy.execute(write, [run["run_id"], "play_buckets", True])
    for staged in run["state_staged"]:
        plpy.execute(write, [run["run_id"], staged, full])
    if run["state_staged"] or (full and info["build_state"]):
        plpy.execute(plpy.prepare("SELECT trending._state_finish($1, $2, $3, $4)",
                                  ["bigint", "timestamp", "text", "text"]),
                     [run["run_id"], c.now_text, run["plan"]["fingerprint"], kind])


def record_top(plpy, run: dict) -> None:
    """The record_movers step, after every slice, in the transaction of the
    last one (transaction_steps): record the top N of every list the
    API reads (trending._record_top keeps the previous cycle's beside them)
    and keep its counts in the run's memory for announce()."""
    settings = run["plan"]["settings"]
    # an incremental cycle keeps the previous run's genre lists (counting the
    # biggest genres reads a whole slice); full and reconciling cycles recount
    row = plpy.execute(plpy.prepare("SELECT trending._record_top($1, $2, $3, $4) AS r",
                                    ["bigint", "int4", "int4", "bool"]),
                       [run["run_id"], int(settings["movers_top_n"]), int(settings["movers_max_genres"]),
                        run["cycle"]["kind"] != "incremental"])
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
    steps = {k: v for k, v in step_ms.items() if k in STAGE_STEPS + FINISH_STEPS}
    steps["slices"] = round(sum(v for k, v in step_ms.items() if k not in steps), 1)
    bad_rows = dict.fromkeys(inputs.TRACK_BAD_ROWS + inputs.PLAYLIST_BAD_ROWS)
    bad_rows.update(_json(run_row["bad_rows"]) or {})
    return {"status": "ok", "run_id": int(run_row["run_id"]), "now": now_text,
            "source_schema": plan_["source_schema"], "ms": float(run_row["ms"]),
            "wal_bytes": int(run_row["wal_bytes"]), "rows": totals, "steps": steps,
            "strategies": strategies, "bad_rows": bad_rows,
            "cycle": {"kind": run_row.get("cycle_kind"), "reason": run_row.get("cycle_reason"),
                      "affected": _json(run_row.get("affected")), "drift": _json(run_row.get("drift")),
                      "reconciled": None if capture_info is None else capture_info.get("reconciled"),
                      "capture": None if capture_info is None else
                      {k: capture_info[k] for k in ("installed", "snapshot", "armed", "not_armed")}}}


def _json(value):
    """jsonb arrives in PL/Python as text."""
    return json.loads(value) if isinstance(value, str) else value
