"""recompute.run orchestration against a fake plpy: what it stages, which
slices it writes or clears, and the summary it returns."""

from __future__ import annotations

import json

from test_sources import catalog
from trending_pl import recompute

STRATEGIES = [
    {"type": "TRACKS", "version": "pnagD", "kind": "track", "time_ranges": ["week", "month", "allTime"]},
    {"type": "TRACKS", "version": "AnlGe", "kind": "track", "time_ranges": ["week", "month", "allTime"]},
    {"type": "PLAYLISTS", "version": "pnagD", "kind": "playlist", "time_ranges": ["week", "month", "year"]},
]


def plpy_for(fake_plpy, enabled):
    strategies = [dict(s, enabled=(s["type"], s["version"]) in enabled) for s in STRATEGIES]
    bounds = {"now_utc": "2026-03-31 12:00:00", "track_week_start": "2026-03-24 12:00:00",
              "track_month_start": "2026-02-28 12:00:00", "playlist_week_start": "2026-03-24 12:00:00",
              "playlist_month_start": "2026-03-01 12:00:00", "playlist_year_start": "2025-03-31 12:00:00"}
    return fake_plpy([
        (r"FROM trending.settings", [{"name": "source_schema", "value": "music"},
                                     {"name": "work_mem", "value": "64MB"}]),
        (r"set_config\('work_mem'", [{}]),
        (r"FROM trending.strategies", strategies),
        (r"pg_namespace WHERE nspname", [{"?column?": 1}]),
        (r"pg_attribute", catalog()),
        (r"AS cycle_now", [bounds]),
        (r"to_regclass", [{"present": False}]),
        (r"AS duplicate_current_tracks", [{"duplicate_current_tracks": 2, "null_play_counts": 1}]),
        (r"AS duplicate_current_playlists", [{"duplicate_current_playlists": 0,
                                              "playlists_track_ids_not_array": 4,
                                              "playlist_karma_over_int4": 0}]),
        (r"WITH updated AS", [{"staged": 10, "updated": 3, "inserted": 2, "deleted": 1}]),
        (r"WITH deleted AS", [{"n": 7}]),
    ])


def test_enabled_strategies_are_scored_and_disabled_ones_cleared(fake_plpy):
    plpy = plpy_for(fake_plpy, {("TRACKS", "pnagD")})
    summary = json.loads(recompute.run(plpy, "2026-03-31 12:00:00+00"))

    assert len(plpy.ran(r"CREATE TEMP TABLE trending_track_inputs")) == 1, "shared inputs staged once"
    assert plpy.ran(r"CREATE TEMP TABLE trending_playlist_inputs") == [], "no playlist strategy: no playlist inputs"
    assert len(plpy.ran(r"CREATE TEMP TABLE trending_stage")) == 3, "one stage per enabled slice"
    assert len(plpy.ran(r"WITH updated AS")) == 3
    cleared = plpy.ran(r"WITH deleted AS")
    assert len(cleared) == 6, "every range of the two disabled strategies is cleared"
    assert all("DELETE FROM" in s for s in cleared)
    assert any("t.type = 'PLAYLISTS'" in s and "t.time_range = 'year'" in s for s in cleared)

    assert summary["status"] == "ok"
    assert summary["source_schema"] == "music"
    assert summary["now"] == "2026-03-31 12:00:00"
    assert summary["strategies"]["TRACKS/pnagD"]["enabled"] is True
    assert summary["strategies"]["TRACKS/pnagD"]["ranges"]["week"] | {"ms": 0} == \
        {"inserted": 2, "updated": 3, "deleted": 1, "unchanged": 5, "ms": 0}
    assert summary["strategies"]["PLAYLISTS/pnagD"]["ranges"]["year"]["deleted"] == 7
    assert summary["rows"] == {"inserted": 6, "updated": 9, "deleted": 3 + 6 * 7, "unchanged": 15}
    assert summary["bad_rows"] == {"duplicate_current_tracks": 2, "null_play_counts": 1,
                                   "duplicate_current_playlists": None,
                                   "playlists_track_ids_not_array": None, "playlist_karma_over_int4": None}
    assert {"check_sources", "track_inputs", "slices"} <= set(summary["steps"])


def test_the_cycle_runs_with_the_configured_work_mem_and_schema(fake_plpy):
    plpy = plpy_for(fake_plpy, {("PLAYLISTS", "pnagD")})
    recompute.run(plpy, "2026-03-31 12:00:00+00")
    assert plpy.ran(r"set_config\('work_mem', '64MB', true\)")
    inputs = plpy.ran(r"CREATE TEMP TABLE trending_playlist_inputs")
    assert len(inputs) == 1 and '"music".playlists' not in inputs[0] and '"music".reposts' in inputs[0]
    assert plpy.ran(r'FROM "music".playlists p'), "candidates read the configured schema"


def test_nothing_is_staged_when_every_strategy_is_off(fake_plpy):
    plpy = plpy_for(fake_plpy, set())
    summary = json.loads(recompute.run(plpy, "2026-03-31 12:00:00+00"))
    assert plpy.ran(r"CREATE TEMP TABLE") == []
    assert summary["rows"]["inserted"] == 0 and summary["rows"]["deleted"] == 9 * 7
