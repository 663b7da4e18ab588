"""One cycle: every enabled strategy, every range, in the caller's transaction.

Orchestration only: read the configuration, check the sources, stage the
shared inputs once, then score and apply each slice; time every step and
return the summary. The heavy lifting is set-based SQL (inputs.py, slices.py).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

from . import config, inputs, slices, sources

# Traps counted per cycle (SPEC.md, "Known traps"); None when the kind of
# strategy that would find them is disabled.
TRACK_BAD_ROWS = ("duplicate_current_tracks", "null_play_counts")
PLAYLIST_BAD_ROWS = ("duplicate_current_playlists", "playlists_track_ids_not_array",
                     "playlist_karma_over_int4")
COUNTERS = ("inserted", "updated", "deleted", "unchanged")


@contextmanager
def _timed(steps: dict, name: str):
    started = time.monotonic()
    try:
        yield
    finally:
        steps[name] = round((time.monotonic() - started) * 1000, 1)


def run(plpy, now: str) -> str:
    """Run one cycle at `now` (timestamptz text); return the summary as JSON text."""
    started = time.monotonic()
    steps: dict[str, float] = {}
    settings = config.read_settings(plpy)
    plpy.execute("SELECT pg_catalog.set_config('work_mem', "
                 f"{plpy.quote_literal(settings['work_mem'])}, true)")
    strategies = config.read_strategies(plpy)
    source_schema = settings["source_schema"]

    with _timed(steps, "check_sources"):
        sources.check(plpy, source_schema)
    cycle = inputs.Cycle.start(plpy, now, source_schema)
    inputs.drop_temp_tables(plpy)

    bad_rows = dict.fromkeys(TRACK_BAD_ROWS + PLAYLIST_BAD_ROWS)
    kinds = {s.kind for s in strategies if s.enabled}
    if "track" in kinds:
        with _timed(steps, "track_inputs"):
            bad_rows.update(inputs.stage_track_inputs(plpy, cycle))
    if "playlist" in kinds:
        with _timed(steps, "playlist_inputs"):
            bad_rows.update(inputs.stage_playlist_inputs(plpy, cycle))

    results = {}
    with _timed(steps, "slices"):
        for strategy in strategies:
            ranges = {}
            for time_range in strategy.time_ranges:
                if strategy.enabled:
                    ranges[time_range] = slices.refresh(plpy, cycle, strategy, time_range)
                else:
                    ranges[time_range] = slices.remove(plpy, strategy, time_range)
            results[strategy.key] = {"enabled": strategy.enabled, "ranges": ranges}
    inputs.drop_temp_tables(plpy)

    return json.dumps(summarize(cycle, source_schema, steps, results, bad_rows,
                                round((time.monotonic() - started) * 1000, 1)))


def summarize(cycle, source_schema: str, steps: dict, results: dict, bad_rows: dict, ms: float) -> dict:
    totals = {k: sum(r[k] for s in results.values() for r in s["ranges"].values()) for k in COUNTERS}
    return {"status": "ok", "now": cycle.now_text, "source_schema": source_schema, "ms": ms,
            "rows": totals, "steps": steps, "strategies": results, "bad_rows": bad_rows}
