"""The cycle's plan and steps against a fake plpy: what each step stages,
which slices it writes or clears, what it records and reports."""

from __future__ import annotations

import json
import re

import pytest
from trending_pl import cycle, hooks, inputs, recompute, runs

STRATEGIES = [
    {"type": "TRACKS", "version": "pnagD", "kind": "track", "time_ranges": ["week", "month", "allTime"]},
    {"type": "TRACKS", "version": "AnlGe", "kind": "track", "time_ranges": ["week", "month", "allTime"]},
    {"type": "PLAYLISTS", "version": "pnagD", "kind": "playlist", "time_ranges": ["week", "month", "year"]},
]
SETTINGS = [{"name": "source_schema", "value": "music"}, {"name": "work_mem", "value": "64MB"},
            {"name": "lock_timeout", "value": "2s"}, {"name": "run_retention", "value": "30 days"},
            {"name": "parallel_workers", "value": "0"}, {"name": "movers_top_n", "value": "100"},
            {"name": "movers_max_genres", "value": "50"}, {"name": "reconcile_every", "value": "1 day"}]
BOUNDS = {"now_utc": "2026-03-31 12:00:00", "track_week_start": "2026-03-24 12:00:00",
          "track_month_start": "2026-02-28 12:00:00", "playlist_week_start": "2026-03-24 12:00:00",
          "playlist_month_start": "2026-03-01 12:00:00", "playlist_year_start": "2025-03-31 12:00:00",
          "track_month_keep": "2026-02-27 12:00:00"}
BOUNDS.update({f"{name}_floor": value for name, value in BOUNDS.items()})  # the starts are on the hour


NOT_INSTALLED = {"installed": False, "armed": False, "incremental_ok": False,
                 "full_cycle_reason": "the capture is not installed", "full_cycle_reasons": ["the capture is not installed"],
                 "consumed_upto": None, "captured_upto": 0, "pending_changes": 0, "pending_plays": 0,
                 "fingerprint": "f0", "source_schema": "music"}


SNAPSHOT = "100:104:101,102"


def plpy_for(fake_plpy, enabled, pause=None, superuser=True, capture=NOT_INSTALLED, unrecorded=None):
    strategies = [dict(s, enabled=(s["type"], s["version"]) in enabled) for s in STRATEGIES]
    return fake_plpy([
        (r"FROM trending.capture_status", [capture]),
        (r"FROM trending._state_meta", []),  # no incremental state: every cycle is full
        (r"trending._state_(write|finish)\(", [{"n": 0}]),
        (r"trending\._staging_(table|analyze|drop)\(", [{}]),
        (r"trending._capture_snapshot\(", [{"snapshot": SNAPSHOT, "previous": "90:95:", "unrecorded": unrecorded}]),
        (r"trending._capture_arm\(", [{"reason": None}]),
        (r"FROM trending.settings", SETTINGS),
        (r"set_config\(", [{}]),
        (r"FROM trending.strategies", strategies),
        (r"trending\._check_sources\(", []),  # fit sources: no problems (sources.lock_and_check)
        (r"AS cycle_now", [BOUNDS]),
        (r"to_regclass", [{"present": False}]),
        (r"AS duplicate_current_tracks", [dict(dict.fromkeys(inputs.TRACK_BAD_ROWS, 0),
                                               duplicate_current_tracks=2, null_play_counts=1)]),
        (r"AS duplicate_current_playlists", [dict(dict.fromkeys(inputs.PLAYLIST_BAD_ROWS, 0),
                                                  playlists_track_ids_not_array=4)]),
        (r"trending._apply_slice\(", [{"r": json.dumps({"updated": 3, "inserted": 2, "deleted": 1, "missed": 0})}]),
        (r"AS staged FROM pg_temp.trending_\w+_staged", [{"staged": 10}]),
        (r"AS staged, \(SELECT count", [{"staged": 30, "changed": 6, "filenode": 16400}]),
        (r"WITH joined AS MATERIALIZED", []),
        (r"trending._remove_slice\(", [{"n": 7}]),
        (r"trending._record_top\(", [{"r": json.dumps({"entries": 5, "lists": 3})}]),
        (r"pg_notify\(", [{}]),
        (r"trending._run_step_done\(", [{}]),
        (r"current_setting\('trending.test_pause_after'", [{"value": pause}]),
        (r"rolsuper", [{"rolsuper": superuser}]),
        (r"pg_sleep", [{}]),
    ])


def run_all(plpy) -> dict:
    """Plan and run every step the way recompute() does, without a runs table."""
    plan = cycle.plan(plpy)
    run = {"run_id": 7, "now": "2026-03-31 12:00:00+00", "plan": json.loads(json.dumps(plan))}
    for index in range(len(plan["steps"])):
        cycle.run_step(plpy, run, index)
    return plan


def recorded(plpy) -> dict:
    """Fold the steps' trending._run_step_done calls back into step_ms/slice_rows/bad_rows."""
    row = {"run_id": 7, "ms": 12.5, "wal_bytes": 4096, "step_ms": {}, "slice_rows": {}, "bad_rows": {}}
    for statement in plpy.ran(r"trending._run_step_done\("):
        args = re.findall(r"NULL|'((?:[^']|'')*)'", statement.split("_run_step_done(", 1)[1])
        run_id, name, ms, slice_rows, bad_rows = [a.replace("''", "'") if a else None for a in args[:5]]
        row["step_ms"][name] = float(ms)
        if slice_rows:
            row["slice_rows"][name] = json.loads(slice_rows)
        if bad_rows:
            row["bad_rows"].update(json.loads(bad_rows))
    return row


def test_enabled_strategies_are_scored_and_disabled_ones_cleared(fake_plpy):
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD")})
    plan = run_all(plpy)

    assert [s["name"] for s in plan["steps"][:3]] == ["check_sources", "track_inputs", "track_changes"]
    assert len(plpy.ran(r"CREATE TEMP TABLE trending_track_inputs")) == 1, "shared inputs staged once"
    assert plpy.ran(r"CREATE TEMP TABLE trending_playlist_inputs") == [], "no playlist strategy: no playlist inputs"
    (diff,) = plpy.ran(r"WITH joined AS MATERIALIZED")
    assert diff.count("UNION ALL") == 2, "the three enabled slices are scored in one statement"
    assert "FULL JOIN" in diff and "('TRACKS', 'pnagD', 'allTime')" in diff
    assert "AnlGe" not in diff, "disabled strategies are not scored"
    assert len(plpy.ran(r"trending._apply_slice\(")) == 3, "one write per enabled slice"
    cleared = plpy.ran(r"trending._remove_slice\(")
    assert len(cleared) == 6, "every range of the two disabled strategies is cleared"
    assert any("'PLAYLISTS', 'pnagD', 'year'" in s for s in cleared)
    assert len(plpy.ran(r"trending._record_top\(")) == 1, "the last step records the top lists, once"

    summary = cycle.summary(plan, recorded(plpy), "2026-03-31 12:00:00")
    assert summary["status"] == "ok" and summary["run_id"] == 7 and summary["wal_bytes"] == 4096
    assert summary["source_schema"] == "music"
    assert summary["strategies"]["TRACKS/pnagD"]["enabled"] is True
    assert summary["strategies"]["TRACKS/pnagD"]["ranges"]["week"] == \
        {"inserted": 2, "updated": 3, "deleted": 1, "unchanged": 5, "ms": pytest.approx(0, abs=1000)}
    assert summary["strategies"]["PLAYLISTS/pnagD"]["ranges"]["year"]["deleted"] == 7
    assert summary["rows"] == {"inserted": 6, "updated": 9, "deleted": 3 + 6 * 7, "unchanged": 15}
    assert summary["bad_rows"] == {**dict.fromkeys(inputs.TRACK_BAD_ROWS, 0),
                                   "duplicate_current_tracks": 2, "null_play_counts": 1,
                                   **dict.fromkeys(inputs.PLAYLIST_BAD_ROWS)}
    assert {"check_sources", "track_inputs", "track_changes", "slices", "record_movers", "write_state"} == \
        set(summary["steps"]), "the movers' lists and the state are not booked under the slices"


def test_every_step_runs_with_the_configured_session_settings_and_schema(fake_plpy):
    plpy = plpy_for(fake_plpy, {("PLAYLISTS", "pnagD")})
    plan = run_all(plpy)
    assert len(plpy.ran(r"set_config\('work_mem', '64MB', true\)")) == len(plan["steps"])
    assert len(plpy.ran(r"set_config\('lock_timeout', '2s', true\)")) == len(plan["steps"])
    assert len(plpy.ran(r"set_config\('max_parallel_workers_per_gather', '0', true\)")) == len(plan["steps"])
    inputs = plpy.ran(r"CREATE TEMP TABLE trending_playlist_inputs")
    engagements = plpy.ran(r"CREATE TEMP TABLE trending_playlist_engagements")
    assert len(inputs) == 1 and '"music".aggregate_user' in inputs[0]
    assert len(engagements) == 1 and '"music".reposts' in engagements[0] and '"music".saves' in engagements[0]
    assert plpy.ran(r'FROM "music".playlists p'), "candidates read the configured schema"


def test_each_step_reports_progress_and_the_last_drops_the_private_tables(fake_plpy):
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD")})
    plan = run_all(plpy)
    assert len(plpy.notices) == len(plan["steps"])
    assert plpy.notices[0].startswith(f"trending: step 1/{len(plan['steps'])} check_sources done in")
    assert "skipped or adjusted rows: duplicate_current_tracks 2, null_play_counts 1" in plpy.notices[1]
    assert plpy.notices[2].endswith(": 6 of 30 scores to write")
    assert "2 inserted, 3 updated, 1 deleted, 5 unchanged" in plpy.notices[3]
    drops = [i for i, s in enumerate(plpy.statements) if "to_regclass('pg_temp.trending_track_inputs')" in s]
    assert len(drops) == 2, "private tables dropped before the first step and after the last"
    assert len(plpy.ran(r"trending\._staging_drop\(\)")) == 2, "and the staging tables the owner made"
    staged = plpy.ran(r"trending\._staging_table\(")
    assert staged and not plpy.ran(r"CREATE TEMP TABLE trending_track_(changes|state|affected)"), \
        "the tables the writers read are made by the owner, never by the caller"


def test_nothing_is_staged_when_every_strategy_is_off(fake_plpy):
    plpy = plpy_for(fake_plpy, set())
    plan = run_all(plpy)
    assert plpy.ran(r"CREATE TEMP TABLE") == [] and plpy.ran(r"_staging_table\(") == []
    summary = cycle.summary(plan, recorded(plpy), "2026-03-31 12:00:00")
    assert summary["rows"]["inserted"] == 0 and summary["rows"]["deleted"] == 9 * 7


def test_the_pause_hook_sleeps_after_the_named_step_only(fake_plpy):
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD")}, pause="TRACKS/pnagD/month:2.5")
    run_all(plpy)
    sleeps = [i for i, s in enumerate(plpy.statements) if "pg_sleep" in s]
    assert len(sleeps) == 1 and "pg_sleep(2.5)" in plpy.statements[sleeps[0]]
    month_write = max(i for i, s in enumerate(plpy.statements)
                      if "_apply_slice(" in s and "'TRACKS', 'pnagD', 'month'" in s)
    assert month_write < sleeps[0] < month_write + 6, "right after the month slice is written"


@pytest.mark.parametrize("value, sqlstate", [("TRACKS/pnagD/week", "22023"), ("x:-1", "22023")])
def test_the_pause_hook_rejects_a_malformed_value(fake_plpy, value, sqlstate):
    plpy = plpy_for(fake_plpy, set(), pause=value)
    with pytest.raises(fake_plpy.Error) as raised:
        hooks.pause_after(plpy, "check_sources")
    assert raised.value.sqlstate == sqlstate


def test_only_a_superuser_may_use_the_pause_hook(fake_plpy):
    plpy = plpy_for(fake_plpy, set(), pause="check_sources:1", superuser=False)
    with pytest.raises(fake_plpy.Error) as raised:
        hooks.pause_after(plpy, "check_sources")
    assert raised.value.sqlstate == "42501" and "only a superuser" in raised.value.message
    assert plpy.ran(r"pg_sleep") == []


def test_a_full_cycle_takes_the_capture_snapshot_first_and_arms_it_in_its_last_step(fake_plpy):
    installed = dict(NOT_INSTALLED, installed=True, armed=True, incremental_ok=True, full_cycle_reason=None,
                     full_cycle_reasons=[], consumed_upto=7, captured_upto=42)
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD")}, capture=installed)
    plan = cycle.plan(plpy)
    run = {"run_id": 7, "now": "2026-03-31 12:00:00+00", "plan": json.loads(json.dumps(plan))}
    cycle.run_step(plpy, run, 0)
    ran = plpy.statements
    taken = next(i for i, q in enumerate(ran) if "_capture_snapshot(" in q)
    assert taken < next(i for i, q in enumerate(ran) if "_check_sources(" in q), "taken before the sources"
    assert "'1000 milliseconds'" in ran[taken], "lock_timeout 2s, capped at 1s"
    assert {k: run["capture"][k] for k in ("installed", "fingerprint", "snapshot", "previous", "armed",
                                           "not_armed", "since", "build_state")} == \
        {"installed": True, "fingerprint": "f0", "snapshot": SNAPSHOT, "previous": "90:95:", "armed": False,
         "not_armed": None, "since": 7, "build_state": True}
    (done,) = plpy.ran(r"trending._run_step_done\(")
    assert "'full', 'the incremental state is missing: first cycle with the capture" in done
    assert plpy.ran(r"trending._capture_arm\(") == []
    for index in range(1, len(plan["steps"])):
        cycle.run_step(plpy, run, index)
        last = index == len(plan["steps"]) - 1
        assert bool(plpy.ran(r"trending._capture_arm\(")) == last
        assert bool(plpy.ran(r"trending._state_(write|finish)\(")) == last, "the state moves in the last step only"
    (arm,) = plpy.ran(r"trending._capture_arm\(")
    assert "_capture_arm('f0')" in arm and run["capture"]["armed"] is True
    (plays,) = [q for q in plpy.statements if "INSERT INTO pg_temp.trending_play_hours" in q]
    assert f"NOT pg_catalog.pg_visible_in_snapshot(d.tx, '{SNAPSHOT}'::pg_catalog.pg_snapshot)" in plays, \
        "the plays of the transactions the snapshot does not see stay out of the state's buckets"
    writes = [re.search(r"_state_write\('7', '(\w+)', '(\w+)'\)", w) for w in plpy.ran(r"_state_write\(")]
    assert [(w.group(1), w.group(2)) for w in writes] == [("begin", "True"), ("play_buckets", "True"),
                                                           ("track", "True"), ("track_users", "True")], \
        "rebuilt whole"
    assert len(plpy.ran(r"trending._state_finish\(")) == 1
    summary = cycle.summary(plan, dict(recorded(plpy), cycle_kind="full", cycle_reason="r"), "x", run["capture"])
    assert summary["cycle"] == {"kind": "full", "reason": "r", "affected": None, "drift": None, "reconciled": None, "capture": {
        "installed": True, "snapshot": SNAPSHOT, "armed": True, "not_armed": None}}


def test_a_capture_that_cannot_be_armed_runs_the_cycle_full_and_says_why(fake_plpy):
    installed = dict(NOT_INSTALLED, installed=True, armed=True, incremental_ok=True, full_cycle_reason=None,
                     full_cycle_reasons=[], consumed_upto=7)
    why = "the capture stopped recording at 2026-03-30 11:00:00+00 because no cycle consumed it for longer than 1 day"
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD")}, capture=installed, unrecorded=why)
    run_all(plpy)
    (first, *_) = plpy.ran(r"trending._run_step_done\(")
    assert f"'full', '{why}'" in first
    assert len(plpy.ran(r"trending._capture_arm\(")) == 1, "the full cycle calls arm, which restarts the recording"


def test_without_the_capture_the_cycle_is_full_and_says_so(fake_plpy):
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD")})
    run_all(plpy)
    assert plpy.ran(r"trending._capture_snapshot\(") == [] and plpy.ran(r"trending._capture_arm\(") == []
    (first, *_) = plpy.ran(r"trending._run_step_done\(")
    assert first.endswith("'full', 'the capture is not installed', NULL, NULL)")


INSTALLED = dict(NOT_INSTALLED, installed=True, armed=True, incremental_ok=True, full_cycle_reason=None,
                 full_cycle_reasons=[], consumed_upto=7, captured_upto=42)


def test_the_movers_lists_and_the_state_are_steps_of_their_own_after_the_last_slice(fake_plpy):
    """Their work runs between the last slice's progress line and their own:
    it is timed and reported under record_movers and write_state, not under
    the last slice."""
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD"), ("PLAYLISTS", "pnagD")}, capture=INSTALLED)
    plpy.notice = lambda message, **kwargs: plpy.statements.append(f"NOTICE {message}")
    plan = run_all(plpy)
    names = [s["name"] for s in plan["steps"]]
    assert names[-3:] == ["PLAYLISTS/pnagD/year", "record_movers", "write_state"]
    total = len(names)

    def at(pattern: str) -> list[int]:
        return [i for i, s in enumerate(plpy.statements) if re.search(pattern, s)]
    (last_slice,) = at(rf"^NOTICE trending: step {total - 2}/{total} PLAYLISTS/pnagD/year done in ")
    (movers,) = at(rf"^NOTICE trending: step {total - 1}/{total} record_movers done in \d+ ms$")
    (state,) = at(rf"^NOTICE trending: step {total}/{total} write_state done in \d+ ms$")
    (record_top,) = at(r"trending\._record_top\(")
    writes = at(r"trending\._(capture_arm|state_write|state_finish)\(")
    assert last_slice < record_top < movers, "the movers' lists are recorded in their own step"
    assert writes and movers < min(writes) and max(writes) < state, "the state is written in its own step"
    assert list(recorded(plpy)["step_ms"])[-3:] == names[-3:], "each recorded with its own milliseconds"


def test_the_procedure_runs_the_last_slice_and_the_finishing_steps_in_one_transaction(fake_plpy):
    """recompute.step, called as the procedure calls it (one call per
    transaction, the next index until it is not "more"): one step per
    transaction but the last, which runs the last slice, record_movers and
    write_state, each recorded and reported as a step, then marks the run ok."""
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD"), ("PLAYLISTS", "pnagD")}, capture=INSTALLED)
    plpy.rules[:0] = [(re.compile(pattern), rows) for pattern, rows in [
        (r"trending\._own_run\(", [{"ok": True}]),
        (r"trending\._run_finish\(", lambda query: [{"r": json.dumps(recorded(plpy))}]),
        (r"AS t$", [{"t": "2026-03-31 12:00:00.000000"}]),
    ]]
    plan = json.loads(json.dumps(cycle.plan(plpy)))
    runs._RUNS[7] = {"run_id": 7, "now": "2026-03-31 12:00:00+00", "plan": plan, "next": 0, "filenodes": {}}
    transactions, index = [], 0
    while True:
        done = len(plpy.ran(r"trending\._run_step_done\("))
        result = json.loads(recompute.step(plpy, 7, index))
        transactions.append([re.search(r"_run_step_done\('7', '([^']+)'", q).group(1)
                             for q in plpy.ran(r"trending\._run_step_done\(")[done:]])
        if result["state"] != "more":
            break
        index += 1
    assert result["state"] == "ok", result
    assert transactions[-1] == ["PLAYLISTS/pnagD/year", "record_movers", "write_state"]
    assert all(len(t) == 1 for t in transactions[:-1]), transactions
    assert [n for t in transactions for n in t] == [s["name"] for s in plan["steps"]]
    assert len(plpy.notices) == len(plan["steps"]) + 1, "a progress line per step, then the run's"
    assert {"record_movers", "write_state"} <= set(result["summary"]["steps"])
    assert len(plpy.ran(r"trending\._run_finish\(")) == 1 and 7 not in runs._RUNS


def test_transaction_steps_groups_only_the_last_slice_with_the_finishing_steps():
    plan = {"steps": [{"name": n} for n in ("check_sources", "a/b/c", "d/e/f", *cycle.FINISH_STEPS)]}
    assert [list(cycle.transaction_steps(plan, i)) for i in range(3)] == [[0], [1], [2, 3, 4]]
