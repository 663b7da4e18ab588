-- source: sql/updates/1.0--1.1.sql
-- trending: upgrade script 1.0 -> 1.1. Generated (see the Makefile): this
-- hand-written delta first, then every routine of sql/functions/ as CREATE OR
-- REPLACE, then sql/grants.sql and sql/comments.sql, then
-- sql/updates/1.0--1.1-finish.sql. Edit the parts, not the generated file.
\echo Use "ALTER EXTENSION trending UPDATE TO '1.1'" to load this file. \quit

SET LOCAL search_path = pg_catalog, pg_temp;

-- Routines whose signature or return type changes cannot be replaced in
-- place: they are dropped here and created anew below. The EXECUTE grants a
-- DBA gave on them (to roles; PUBLIC's are grants.sql's business) are kept
-- in a transaction-local setting and given back to the new routine of the
-- same name by the finish part.
CREATE OR REPLACE FUNCTION pg_temp.trending_drop_keeping_grants(p_routines regprocedure[])
RETURNS void
LANGUAGE plpgsql
AS $function$
DECLARE
    v_kept jsonb := COALESCE(NULLIF(current_setting('trending.upgrade_grants', true), ''), '[]')::jsonb;
    v_routine regprocedure;
BEGIN
    FOREACH v_routine IN ARRAY p_routines LOOP
        v_kept := v_kept || COALESCE((
            SELECT jsonb_agg(jsonb_build_object('name', p.proname, 'grantee', a.grantee::regrole::text,
                                                'grantable', a.is_grantable))
            FROM pg_proc p, aclexplode(p.proacl) a
            WHERE p.oid = v_routine AND a.privilege_type = 'EXECUTE'
              AND a.grantee <> 0 AND a.grantee <> p.proowner), '[]');
        EXECUTE format('ALTER EXTENSION trending DROP %s %s',
                       CASE (SELECT prokind FROM pg_proc WHERE oid = v_routine) WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                       v_routine);
        EXECUTE format('DROP ROUTINE %s', v_routine);
    END LOOP;
    PERFORM set_config('trending.upgrade_grants', v_kept::text, true);
END;
$function$;

-- source: sql/functions/_python_init.sql
-------------------------------------------------------------------------------
-- _python_init
-- Make the trending_pl package importable in this session's Python.
--
-- The build embeds the source of extension/trending_pl/*.py below (the marker
-- line becomes SOURCES and DIGEST), so CREATE EXTENSION
-- alone installs the Python code and the SQL and the code can never be of
-- different versions. Modules are served by a finder on sys.meta_path and
-- cached per session; a session that outlives ALTER EXTENSION ... UPDATE sees
-- a new DIGEST and reloads.
CREATE OR REPLACE FUNCTION trending._python_init()
RETURNS text
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $python$
import importlib.abc
import importlib.util
import sys

SOURCES = {
    'trending_pl': '"""trending_pl: the Python half of the trending extension.\n\nIt runs inside PostgreSQL (PL/Python, the server\'s own Python, stdlib only).\nThe install script embeds these modules (see sql/functions/_python_init.sql);\nnothing here imports ``plpy`` at module level: functions that talk to the\ndatabase take it as their first argument, so every module also imports\noutside the server, where the unit tests pass a fake.\n"""\n\n__version__ = "1.1"  # must equal default_version in trending.control\n',
    'trending_pl.config': '"""Read the extension\'s configuration: trending.settings and trending.strategies."""\n\nfrom __future__ import annotations\n\nfrom dataclasses import dataclass\n\n\n@dataclass(frozen=True)\nclass Strategy:\n    type: str\n    version: str\n    kind: str  # \'track\' or \'playlist\': which score table it writes\n    time_ranges: tuple[str, ...]\n    enabled: bool\n\n    @property\n    def key(self) -> str:\n        return f"{self.type}/{self.version}"\n\n\ndef read_settings(plpy) -> dict[str, str]:\n    rows = plpy.execute("SELECT name, value FROM trending.settings")\n    return {row["name"]: row["value"] for row in rows}\n\n\ndef read_strategies(plpy) -> list[Strategy]:\n    rows = plpy.execute(\n        "SELECT type, version, kind, time_ranges, enabled FROM trending.strategies"\n        " ORDER BY kind DESC, type, version")\n    return [Strategy(r["type"], r["version"], r["kind"], tuple(r["time_ranges"]), bool(r["enabled"]))\n            for r in rows]\n',
    'trending_pl.cycle': '"""A cycle as a list of steps, each small enough to be its own transaction.\n\nThe plan is fixed when a run starts (settings, the strategies switched on,\nthe steps) and kept in the run\'s row, so that the scheduled procedure can\ncommit between steps and still run exactly what it planned: check the\nsources; then per kind of item (tracks, playlists) stage the shared inputs,\nthen the changes (private temp tables, kept across the procedure\'s commits),\nthen one step per slice that writes them. recompute() runs the same steps in\none transaction.\n\nEach slice is written by one statement, so a reader sees a slice either\nbefore or after its step, never in between.\n"""\n\nfrom __future__ import annotations\n\nimport json\nimport time\n\nfrom . import config, hooks, inputs, runs, slices, sources\nfrom .config import Strategy\n\nCHECK_SOURCES = "check_sources"\nINPUTS = {"track": "track_inputs", "playlist": "playlist_inputs"}\nCHANGES = {"track": "track_changes", "playlist": "playlist_changes"}\nSTAGE_STEPS = (CHECK_SOURCES, *INPUTS.values(), *CHANGES.values())\n\n\ndef plan(plpy) -> dict:\n    """What this run will do, as JSON-able data: per kind of item with an\n    enabled strategy, stage its inputs, then its changes, then apply each\n    slice; a disabled strategy\'s slices are cleared."""\n    settings = config.read_settings(plpy)\n    strategies = config.read_strategies(plpy)\n    steps = [{"name": CHECK_SOURCES}]\n    for kind in ("track", "playlist"):\n        mine = [s for s in strategies if s.kind == kind]\n        if any(s.enabled for s in mine):\n            steps += [{"name": INPUTS[kind]}, {"name": CHANGES[kind]}]\n        for s in mine:\n            for time_range in s.time_ranges:\n                steps.append({"name": f"{s.key}/{time_range}", "type": s.type, "version": s.version,\n                              "kind": s.kind, "range": time_range, "enabled": s.enabled})\n    return {"source_schema": settings["source_schema"], "settings": settings, "steps": steps}\n\n\ndef _strategy(step: dict) -> Strategy:\n    return Strategy(step["type"], step["version"], step["kind"], (step["range"],), step["enabled"])\n\n\n# trending.settings name -> the server parameter it sets for a cycle\'s transactions\nSESSION_SETTINGS = {"work_mem": "work_mem", "lock_timeout": "lock_timeout",\n                    "parallel_workers": "max_parallel_workers_per_gather"}\n\n\ndef apply_session_settings(plpy, settings: dict) -> None:\n    """work_mem, lock_timeout and parallelism for the rest of this transaction."""\n    for name, parameter in SESSION_SETTINGS.items():\n        plpy.execute(f"SELECT pg_catalog.set_config({plpy.quote_literal(parameter)}, "\n                     f"{plpy.quote_literal(settings[name])}, true)")\n\n\ndef run_step(plpy, run: dict, index: int) -> None:\n    """Run step `index` of the run\'s plan and record it in the run\'s row."""\n    plan_ = run["plan"]\n    step = plan_["steps"][index]\n    apply_session_settings(plpy, plan_["settings"])\n    source_schema = plan_["source_schema"]\n    started = time.monotonic()\n    name = step["name"]\n    bad_rows = slice_result = changes = None\n\n    if name == CHECK_SOURCES:\n        inputs.drop_temp_tables(plpy)  # a failed run earlier in this session may have left them\n        sources.check(plpy, source_schema)\n    elif name == INPUTS["track"]:\n        bad_rows = inputs.stage_track_inputs(plpy, inputs.Cycle.start(plpy, run["now"], source_schema))\n    elif name == INPUTS["playlist"]:\n        bad_rows = inputs.stage_playlist_inputs(plpy, inputs.Cycle.start(plpy, run["now"], source_schema))\n    elif name in CHANGES.values():\n        kind = next(k for k, v in CHANGES.items() if v == name)\n        enabled = [(_strategy(s), s["range"]) for s in plan_["steps"]\n                   if s.get("kind") == kind and s["enabled"]]\n        changes = slices.stage_changes(plpy, kind, enabled)\n    elif step["enabled"]:\n        slice_result = slices.apply(plpy, inputs.Cycle.start(plpy, run["now"], source_schema),\n                                    _strategy(step), step["range"])\n    else:\n        slice_result = slices.remove(plpy, _strategy(step), step["range"])\n\n    ms = round((time.monotonic() - started) * 1000, 1)\n    runs.record_step(plpy, run["run_id"], name, ms, slice_key=None if slice_result is None else name,\n                     slice_result=slice_result, bad_rows=bad_rows)\n    plpy.notice(progress_line(index, len(plan_["steps"]), name, ms, slice_result, bad_rows, changes))\n    if index == len(plan_["steps"]) - 1:\n        inputs.drop_temp_tables(plpy)\n    hooks.pause_after(plpy, name)\n\n\ndef progress_line(index: int, total: int, name: str, ms: float, slice_result, bad_rows, changes=None) -> str:\n    """The NOTICE a DBA sees in psql as each step finishes."""\n    line = f"trending: step {index + 1}/{total} {name} done in {ms:.0f} ms"\n    if changes is not None:\n        line += f": {changes[\'changed\']} of {changes[\'staged\']} scores to write"\n    if slice_result is not None:\n        line += (f": {slice_result[\'inserted\']} inserted, {slice_result[\'updated\']} updated,"\n                 f" {slice_result[\'deleted\']} deleted, {slice_result[\'unchanged\']} unchanged")\n    if bad_rows:\n        found = {k: v for k, v in bad_rows.items() if v}\n        if found:\n            line += "; skipped or adjusted rows: " + ", ".join(f"{k} {v}" for k, v in found.items())\n    return line\n\n\ndef summary(plan_: dict, run_row: dict, now_text: str) -> dict:\n    """The jsonb recompute() returns, from the run\'s finished row."""\n    step_ms = _json(run_row["step_ms"])\n    slice_rows = _json(run_row["slice_rows"])\n    strategies: dict = {}\n    for step in plan_["steps"]:\n        if "range" not in step:\n            continue\n        entry = strategies.setdefault(f"{step[\'type\']}/{step[\'version\']}",\n                                      {"enabled": step["enabled"], "ranges": {}})\n        entry["ranges"][step["range"]] = slice_rows[step["name"]]\n    counters = ("inserted", "updated", "deleted", "unchanged")\n    totals = {k: sum(r[k] for s in strategies.values() for r in s["ranges"].values()) for k in counters}\n    steps = {k: v for k, v in step_ms.items() if k in STAGE_STEPS}\n    steps["slices"] = round(sum(v for k, v in step_ms.items() if k not in steps), 1)\n    bad_rows = dict.fromkeys(inputs.TRACK_BAD_ROWS + inputs.PLAYLIST_BAD_ROWS)\n    bad_rows.update(_json(run_row["bad_rows"]) or {})\n    return {"status": "ok", "run_id": int(run_row["run_id"]), "now": now_text,\n            "source_schema": plan_["source_schema"], "ms": float(run_row["ms"]),\n            "wal_bytes": int(run_row["wal_bytes"]), "rows": totals, "steps": steps,\n            "strategies": strategies, "bad_rows": bad_rows}\n\n\ndef _json(value):\n    """jsonb arrives in PL/Python as text."""\n    return json.loads(value) if isinstance(value, str) else value\n',
    'trending_pl.formulas': '"""SPEC.md\'s score formulas, as SQL expressions over the staged inputs.\n\nThe constants live here and only here. Each builder returns SQL text that the\nslice step evaluates for every input row in one INSERT ... SELECT; Python never\ntouches a row. Arithmetic is double precision throughout, in SPEC\'s order\n(decay * S * K).\n"""\n\nfrom __future__ import annotations\n\nN = 1        # weight of a listen\nF = 50       # weight of a windowed repost\nO = 1        # weight of a windowed save\nR = 0.25     # weight of a total repost\nI = 0.01     # weight of a total save\nQ = 100000   # decay base\nY = 3        # minimum owner followers\n\n# Window lengths in days, for the decay (and for the playlist windows).\nWINDOW_DAYS = {"week": 7, "month": 30, "year": 365}\n\n# Track windows for counting listens, reposts and saves are calendar based\n# (\'1 mon\' is a calendar month: Mar 31 - 1 mon = Feb 28).\nTRACK_COUNT_WINDOWS = {"week": "7 days", "month": "1 mon"}\n# Playlist windows count days, year included.\nPLAYLIST_WINDOWS = {"week": "7 days", "month": "30 days", "year": "365 days"}\n\nTRACK_VERSIONS = ("pnagD", "AnlGe")\n\n\ndef _num(value) -> str:\n    """A double precision SQL literal that parses back to exactly `value`."""\n    return f"{float(value)!r}::float8"\n\n\ndef decay(age_days: str, window_days: int) -> str:\n    """1 within the window, then Q^(1 - age/w) floored at 1/Q (exponent floored at -10)."""\n    return (f"CASE WHEN {age_days} <= {window_days} THEN {_num(1)} "\n            f"ELSE greatest({_num(1)} / {_num(Q)}, "\n            f"power({_num(Q)}, greatest({_num(-10)}, {_num(1)} - {age_days}::float8 / {_num(window_days)}))) END")\n\n\ndef karma_factor(version: str, karma: str) -> str:\n    """K: the karma itself (pnagD) or 1 + log10(1 + karma) (AnlGe)."""\n    if version == "pnagD":\n        return f"{karma}::float8"\n    if version == "AnlGe":\n        return f"({_num(1)} + log({_num(1)} + {karma}::float8))"\n    raise ValueError(f"unknown track strategy version {version!r}")\n\n\ndef _gate(owner_followers: str, score: str) -> str:\n    """Owners with fewer than Y followers score 0 (a NULL count is not < Y)."""\n    return f"CASE WHEN {owner_followers} < {Y} THEN {_num(0)} ELSE {score} END"\n\n\ndef track_score(version: str, time_range: str, row: str = "i") -> tuple[str, str]:\n    """(score expression, row filter) for one track slice over trending_track_inputs."""\n    k = karma_factor(version, f"{row}.karma")\n    totals = f"{_num(R)} * {row}.repost_total + {_num(I)} * {row}.save_total"\n    if time_range == "allTime":\n        s = f"({_num(N)} * {row}.play_total + {totals})"\n        return _gate(f"{row}.owner_followers", f"{s} * {k}"), f"{row}.play_total IS NOT NULL"\n    if time_range not in TRACK_COUNT_WINDOWS:\n        raise ValueError(f"unknown track time range {time_range!r}")\n    s = (f"({_num(N)} * {row}.listens_{time_range} + {_num(F)} * {row}.reposts_{time_range}"\n         f" + {_num(O)} * {row}.saves_{time_range} + {totals})")\n    d = decay(f"{row}.age_days", WINDOW_DAYS[time_range])\n    return _gate(f"{row}.owner_followers", f"({d}) * {s} * {k}"), "true"\n\n\ndef playlist_score(time_range: str, row: str = "i") -> tuple[str, str]:\n    """(score expression, row filter) for one playlist slice over trending_playlist_inputs."""\n    if time_range not in PLAYLIST_WINDOWS:\n        raise ValueError(f"unknown playlist time range {time_range!r}")\n    s = (f"({_num(N)} * 1 + {_num(F)} * {row}.reposts_{time_range}"\n         f" + {_num(O)} * {row}.saves_{time_range}"\n         f" + {_num(R)} * {row}.repost_total + {_num(I)} * {row}.save_total)")\n    d = decay(f"{row}.age_days", WINDOW_DAYS[time_range])\n    k = f"COALESCE({row}.karma_{time_range}::float8, {_num(1)})"\n    return _gate(f"{row}.owner_followers", f"({d}) * {s} * {k}"), "true"\n',
    'trending_pl.hooks': '"""A test-only pause inside a cycle, so tests can look at a cycle mid-way.\n\n`SET trending.test_pause_after = \'STEP:SECONDS\'` (e.g.\n\'TRACKS/pnagD/week:5\') makes a cycle sleep that long after that step\'s\nwork, before its commit, with its locks held (in the scheduled procedure the\nsteps before it are committed). Off unless set; only a superuser may use it:\nanyone can set a custom parameter, so a non-superuser\'s cycle refuses to run\nwith it set rather than let any role stretch a cycle\'s locks.\n"""\n\nfrom __future__ import annotations\n\nPAUSE_SETTING = "trending.test_pause_after"\n\n\ndef pause_after(plpy, step_name: str) -> None:\n    value = plpy.execute(f"SELECT pg_catalog.current_setting(\'{PAUSE_SETTING}\', true) AS value")[0]["value"]\n    if not value:\n        return\n    target, _, seconds = value.rpartition(":")\n    if not target or not _is_number(seconds):\n        plpy.error(f"trending: invalid {PAUSE_SETTING} {value!r}", sqlstate="22023",\n                   hint="Use \'STEP:SECONDS\', e.g. \'TRACKS/pnagD/week:5\', or RESET it.")\n    superuser = plpy.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")\n    if not (superuser and superuser[0]["rolsuper"]):\n        plpy.error(f"trending: {PAUSE_SETTING} is a test hook that only a superuser may set",\n                   sqlstate="42501", hint=f"RESET {PAUSE_SETTING};")\n    if target == step_name:\n        plpy.execute(f"SELECT pg_catalog.pg_sleep({float(seconds)})")\n\n\ndef _is_number(text: str) -> bool:\n    try:\n        return float(text) >= 0\n    except ValueError:\n        return False\n',
    'trending_pl.inputs': '"""Stage the inputs every strategy shares, once per cycle, as private temp tables.\n\nOne row per eligible track (pg_temp.trending_track_inputs) and per eligible\nplaylist (pg_temp.trending_playlist_inputs) holds everything SPEC\'s formulas\nneed for every strategy and range: windowed counts, totals, karma, age, owner\nfollowers. Each source table is scanned once per kind; the windows are\nFILTER clauses of the same aggregate. No source row is ever visited from\nPython.\n"""\n\nfrom __future__ import annotations\n\nfrom dataclasses import dataclass\n\nfrom . import formulas\n\n\n@dataclass(frozen=True)\nclass Cycle:\n    """What every statement of one cycle needs: where to read and when `now` is."""\n    source: str       # the source schema, quoted as an identifier\n    now_text: str     # now in UTC, ISO text, for the summary\n    now_utc: str      # SQL literals of type timestamp (UTC)\n    track_week_start: str\n    track_month_start: str\n    playlist_starts: dict  # time range -> SQL literal\n\n    @classmethod\n    def start(cls, plpy, now: str, source_schema: str) -> "Cycle":\n        """Window bounds in UTC, with PostgreSQL\'s calendar arithmetic (\'1 mon\')."""\n        bounds = {"now_utc": "interval \'0\'",\n                  "track_week_start": f"interval \'{formulas.TRACK_COUNT_WINDOWS[\'week\']}\'",\n                  "track_month_start": f"interval \'{formulas.TRACK_COUNT_WINDOWS[\'month\']}\'"}\n        bounds.update({f"playlist_{r}_start": f"interval \'{w}\'"\n                       for r, w in formulas.PLAYLIST_WINDOWS.items()})\n        select = ", ".join(f"(n - {interval})::text AS {name}" for name, interval in bounds.items())\n        row = plpy.execute(f"SELECT {select} FROM (SELECT {plpy.quote_literal(now)}::timestamptz"\n                           f" AT TIME ZONE \'UTC\' AS n) AS cycle_now")[0]\n\n        def lit(name: str) -> str:\n            return f"{plpy.quote_literal(row[name])}::timestamp"\n\n        return cls(source=plpy.quote_ident(source_schema), now_text=row["now_utc"],\n                   now_utc=lit("now_utc"),\n                   track_week_start=lit("track_week_start"),\n                   track_month_start=lit("track_month_start"),\n                   playlist_starts={r: lit(f"playlist_{r}_start") for r in formulas.PLAYLIST_WINDOWS})\n\n\n# Traps counted per cycle (SPEC.md, "Known traps"); None in a summary when the\n# kind of strategy that would find them is switched off.\nTRACK_BAD_ROWS = ("duplicate_current_tracks", "null_play_counts")\nPLAYLIST_BAD_ROWS = ("duplicate_current_playlists", "playlists_track_ids_not_array",\n                     "playlist_karma_over_int4")\n\n# Kept across the scheduled procedure\'s commits (so not ON COMMIT DROP):\n# dropped by the last step, by a failure, and before a run stages anything.\nTEMP_TABLES = tuple(f"trending_{kind}_{table}" for kind in ("track", "playlist")\n                    for table in ("candidates", "inputs", "staged", "changes"))\n\n\ndef drop_temp_tables(plpy) -> None:\n    """Drop this cycle\'s private tables."""\n    for name in TEMP_TABLES:\n        if plpy.execute(f"SELECT pg_catalog.to_regclass(\'pg_temp.{name}\') IS NOT NULL AS present")[0]["present"]:\n            plpy.execute(f"DROP TABLE pg_temp.{name}")\n\n\ndef _age_days(c: Cycle, row: str) -> str:\n    """Whole days of now - base (the interval\'s days field, truncated toward zero).\n    base: created_at if release_date is after now, else the later of the two\n    (greatest() ignores a NULL release_date)."""\n    return (f"EXTRACT(day FROM {c.now_utc} - CASE WHEN {row}.release_date > {c.now_utc} "\n            f"THEN {row}.created_at ELSE greatest({row}.release_date, {row}.created_at) END)::integer")\n\n\n_COMPLETE_PROFILE = """(u.cover_photo IS NOT NULL OR u.cover_photo_sizes IS NOT NULL)\n          AND (u.profile_picture IS NOT NULL OR u.profile_picture_sizes IS NOT NULL)\n          AND u.bio IS NOT NULL"""\n\n# An id with more than one current row is skipped (and counted): upstream\n# failed on it because the score tables\' key would collide. Grouping the\n# current rows gives both the single row\'s values and the duplicates.\n_TRACK_CANDIDATES = """\nCREATE TEMP TABLE trending_track_candidates AS\nSELECT t.track_id,\n       count(*)            AS current_rows,\n       min(t.owner_id)     AS owner_id,\n       min(t.genre)        AS genre,\n       min(t.created_at)   AS created_at,\n       min(t.release_date) AS release_date,\n       bool_and(t.is_delete IS FALSE AND t.is_unlisted IS FALSE AND t.stem_of IS NULL) AS listed\nFROM {src}.tracks t\nWHERE t.is_current IS TRUE\nGROUP BY t.track_id\n"""\n\n_TRACK_INPUTS = """\nCREATE TEMP TABLE trending_track_inputs AS\nWITH eligible AS (\n    SELECT c.* FROM pg_temp.trending_track_candidates c\n    WHERE c.current_rows = 1 AND c.listed\n),\nlistens AS (\n    SELECT p.play_item_id                                        AS track_id,\n           count(*) FILTER (WHERE p.created_at > {week_start})   AS listens_week,\n           count(*)                                              AS listens_month\n    FROM {src}.plays p\n    WHERE p.created_at > {month_start}\n    GROUP BY p.play_item_id\n),\n-- karma weight of a user: follower_count once per users row (current or not,\n-- as upstream) with a complete profile\nprofile_weights AS (\n    SELECT u.user_id, sum(au.follower_count) AS weight\n    FROM {src}.users u\n    JOIN {src}.aggregate_user au ON au.user_id = u.user_id\n    WHERE {complete_profile}\n    GROUP BY u.user_id\n),\nengagements AS (\n    SELECT r.repost_item_id AS track_id, true AS is_repost, r.user_id, r.created_at\n    FROM {src}.reposts r\n    WHERE r.repost_type = \'track\' AND r.is_current IS TRUE AND r.is_delete IS FALSE\n    UNION ALL\n    SELECT s.save_item_id, false, s.user_id, s.created_at\n    FROM {src}.saves s\n    WHERE s.save_type = \'track\' AND s.is_current IS TRUE AND s.is_delete IS FALSE\n),\nengagement_counts AS (\n    SELECT e.track_id,\n           count(*) FILTER (WHERE e.is_repost AND e.created_at > {week_start})      AS reposts_week,\n           count(*) FILTER (WHERE e.is_repost AND e.created_at > {month_start})     AS reposts_month,\n           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {week_start})  AS saves_week,\n           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {month_start}) AS saves_month,\n           sum(w.weight)                                                           AS karma\n    FROM engagements e\n    LEFT JOIN profile_weights w ON w.user_id = e.user_id\n    GROUP BY e.track_id\n)\nSELECT e.track_id,\n       e.genre,\n       au.follower_count                     AS owner_followers,\n       {age_days}                            AS age_days,\n       COALESCE(l.listens_week, 0)           AS listens_week,\n       COALESCE(l.listens_month, 0)          AS listens_month,\n       COALESCE(g.reposts_week, 0)           AS reposts_week,\n       COALESCE(g.reposts_month, 0)          AS reposts_month,\n       COALESCE(g.saves_week, 0)             AS saves_week,\n       COALESCE(g.saves_month, 0)            AS saves_month,\n       COALESCE(at.repost_count, 0)          AS repost_total,\n       COALESCE(at.save_count, 0)            AS save_total,\n       ap.count                              AS play_total,\n       ap.play_item_id IS NOT NULL AND ap.count IS NULL AS null_play_count,\n       COALESCE(g.karma, 0)                  AS karma\nFROM eligible e\nLEFT JOIN {src}.aggregate_user au     ON au.user_id = e.owner_id\nLEFT JOIN listens l                   ON l.track_id = e.track_id\nLEFT JOIN engagement_counts g         ON g.track_id = e.track_id\nLEFT JOIN {src}.aggregate_track at    ON at.track_id = e.track_id\nLEFT JOIN {src}.aggregate_plays ap    ON ap.play_item_id = e.track_id\n"""\n\n_PLAYLIST_CANDIDATES = """\nCREATE TEMP TABLE trending_playlist_candidates AS\nSELECT p.playlist_id,\n       count(*)                 AS current_rows,\n       min(p.playlist_owner_id) AS owner_id,\n       min(p.created_at)        AS created_at,\n       min(p.release_date)      AS release_date,\n       bool_and(p.is_delete IS FALSE AND p.is_private IS FALSE) AS listed,\n       bool_and(pg_catalog.jsonb_typeof(p.playlist_contents -> \'track_ids\') IS NOT DISTINCT FROM \'array\')\n                                AS track_ids_is_array,\n       min(CASE WHEN pg_catalog.jsonb_typeof(p.playlist_contents -> \'track_ids\') = \'array\'\n                THEN pg_catalog.jsonb_array_length(p.playlist_contents -> \'track_ids\') END)\n                                AS track_count\nFROM {src}.playlists p\nWHERE p.is_current IS TRUE\nGROUP BY p.playlist_id\n"""\n\n_PLAYLIST_INPUTS = """\nCREATE TEMP TABLE trending_playlist_inputs AS\nWITH eligible AS (\n    SELECT c.*, au.follower_count AS owner_followers\n    FROM pg_temp.trending_playlist_candidates c\n    JOIN {src}.aggregate_user au ON au.user_id = c.owner_id\n    WHERE c.current_rows = 1 AND c.listed AND c.track_ids_is_array AND c.track_count >= 3\n),\n-- karma weight of a user: follower_count once per CURRENT users row with a\n-- complete profile (upstream filters is_current here, unlike for tracks)\nprofile_weights AS (\n    SELECT u.user_id, sum(au.follower_count) AS weight\n    FROM {src}.users u\n    JOIN {src}.aggregate_user au ON au.user_id = u.user_id\n    WHERE u.is_current IS TRUE AND {complete_profile}\n    GROUP BY u.user_id\n),\nengagements AS (\n    SELECT r.repost_item_id AS playlist_id, true AS is_repost, r.user_id, r.created_at\n    FROM {src}.reposts r\n    WHERE r.repost_type = \'playlist\' AND r.is_current IS TRUE AND r.is_delete IS FALSE\n      AND r.created_at >= {year_start}\n    UNION ALL\n    SELECT s.save_item_id, false, s.user_id, s.created_at\n    FROM {src}.saves s\n    WHERE s.save_type = \'playlist\' AND s.is_current IS TRUE AND s.is_delete IS FALSE\n      AND s.created_at >= {year_start}\n),\n-- counts take created_at > start, karma created_at >= start (as upstream)\nengagement_counts AS (\n    SELECT e.playlist_id,\n           {window_columns}\n    FROM engagements e\n    LEFT JOIN profile_weights w ON w.user_id = e.user_id\n    GROUP BY e.playlist_id\n)\nSELECT e.playlist_id,\n       e.owner_followers,\n       {age_days}                            AS age_days,\n       {window_outputs},\n       COALESCE(ap.repost_count, 0)          AS repost_total,\n       COALESCE(ap.save_count, 0)            AS save_total\nFROM eligible e\nLEFT JOIN engagement_counts g         ON g.playlist_id = e.playlist_id\nLEFT JOIN {src}.aggregate_playlist ap ON ap.playlist_id = e.playlist_id\n"""\n\n_TRACK_BAD_ROWS = """\nSELECT (SELECT count(*) FROM pg_temp.trending_track_candidates WHERE current_rows > 1) AS duplicate_current_tracks,\n       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE null_play_count)      AS null_play_counts\n"""\n\n_PLAYLIST_BAD_ROWS = """\nSELECT (SELECT count(*) FROM pg_temp.trending_playlist_candidates WHERE current_rows > 1)\n           AS duplicate_current_playlists,\n       (SELECT count(*) FROM pg_temp.trending_playlist_candidates\n         WHERE current_rows = 1 AND listed AND NOT track_ids_is_array)\n           AS playlists_track_ids_not_array,\n       (SELECT count(*) FROM pg_temp.trending_playlist_inputs\n         WHERE greatest({karmas}) > 2147483647)\n           AS playlist_karma_over_int4\n"""\n\n\ndef stage_track_inputs(plpy, c: Cycle) -> dict[str, int]:\n    """Build trending_track_inputs; return the track traps found (SPEC, Known traps)."""\n    plpy.execute(_TRACK_CANDIDATES.format(src=c.source))\n    plpy.execute("ANALYZE pg_temp.trending_track_candidates")\n    plpy.execute(_TRACK_INPUTS.format(src=c.source, week_start=c.track_week_start,\n                                      month_start=c.track_month_start,\n                                      complete_profile=_COMPLETE_PROFILE,\n                                      age_days=_age_days(c, "e")))\n    plpy.execute("ANALYZE pg_temp.trending_track_inputs")\n    row = plpy.execute(_TRACK_BAD_ROWS)[0]\n    return {key: int(row[key]) for key in TRACK_BAD_ROWS}\n\n\ndef stage_playlist_inputs(plpy, c: Cycle) -> dict[str, int]:\n    """Build trending_playlist_inputs; return the playlist traps found."""\n    ranges = list(formulas.PLAYLIST_WINDOWS)\n    starts = c.playlist_starts\n    window_columns = ",\\n           ".join(\n        [f"count(*) FILTER (WHERE e.is_repost AND e.created_at > {starts[r]}) AS reposts_{r}" for r in ranges]\n        + [f"count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {starts[r]}) AS saves_{r}" for r in ranges]\n        + [f"sum(w.weight) FILTER (WHERE e.created_at >= {starts[r]}) AS karma_{r}" for r in ranges])\n    window_outputs = ",\\n       ".join(\n        [f"COALESCE(g.reposts_{r}, 0) AS reposts_{r}" for r in ranges]\n        + [f"COALESCE(g.saves_{r}, 0) AS saves_{r}" for r in ranges]\n        + [f"g.karma_{r} AS karma_{r}" for r in ranges])\n    # the widest window bounds the scan; all windows are nested\n    year_start = starts[max(ranges, key=lambda r: formulas.WINDOW_DAYS[r])]\n    plpy.execute(_PLAYLIST_CANDIDATES.format(src=c.source))\n    plpy.execute("ANALYZE pg_temp.trending_playlist_candidates")\n    plpy.execute(_PLAYLIST_INPUTS.format(src=c.source, year_start=year_start,\n                                         complete_profile=_COMPLETE_PROFILE,\n                                         window_columns=window_columns,\n                                         window_outputs=window_outputs,\n                                         age_days=_age_days(c, "e")))\n    plpy.execute("ANALYZE pg_temp.trending_playlist_inputs")\n    karmas = ", ".join(f"karma_{r}" for r in ranges)\n    row = plpy.execute(_PLAYLIST_BAD_ROWS.format(karmas=karmas))[0]\n    return {key: int(row[key]) for key in PLAYLIST_BAD_ROWS}\n',
    'trending_pl.recompute': '"""The two ways to run a cycle.\n\n- run(): `SELECT trending.recompute()`, one transaction. The caller sees\n  every error; nothing of a failed cycle stays, not even its run row.\n- start() / step(): `CALL trending.scheduled_recompute()`, the procedure\n  pg_cron runs, which commits after each step so that no snapshot or lock is\n  held for a whole cycle. Its \'running\' row is committed first; a failure is\n  recorded in the row (with SQLSTATE and message) before the procedure\n  re-raises it, so pg_cron marks the job failed too.\n\nBoth plan the cycle the same way and run the same steps (cycle.py).\n"""\n\nfrom __future__ import annotations\n\nimport json\n\nfrom . import cycle, inputs, runs\n\n\ndef _require_primary(plpy) -> None:\n    if plpy.execute("SELECT pg_catalog.pg_is_in_recovery() AS standby")[0]["standby"]:\n        plpy.error("trending: cannot run a cycle on a hot standby", sqlstate="25006",\n                   hint="Run it on the primary; the scheduled procedure returns quietly on a standby.")\n\n\ndef _now_text(plpy, now: str) -> str:\n    return plpy.execute(f"SELECT pg_catalog.to_char({plpy.quote_literal(now)}::timestamptz AT TIME ZONE \'UTC\',"\n                        " \'YYYY-MM-DD HH24:MI:SS.US\') AS t")[0]["t"].removesuffix(".000000")\n\n\ndef _skip(plpy, trigger: str, now: str) -> dict:\n    result = runs.skipped(plpy, trigger, now, runs.running_pid(plpy))\n    plpy.notice(f"trending: skipped: {result[\'message\']}")\n    return result\n\n\ndef run(plpy, now: str) -> str:\n    """One whole cycle in the caller\'s transaction; the summary as JSON text."""\n    _require_primary(plpy)\n    if not runs.try_lock(plpy, session=False):\n        return json.dumps(_skip(plpy, "recompute", now))\n    plan = cycle.plan(plpy)\n    run_id = runs.start(plpy, "recompute", now, plan, plan["settings"]["run_retention"])\n    state = runs.load(plpy, run_id)\n    for index in range(len(plan["steps"])):\n        cycle.run_step(plpy, state, index)\n    return json.dumps(cycle.summary(plan, runs.finish(plpy, run_id), _now_text(plpy, now)))\n\n\ndef start(plpy, now: str):\n    """First transaction of a scheduled run: the run id, or None when another\n    cycle is running (recorded as skipped)."""\n    if not runs.try_lock(plpy, session=True):\n        _skip(plpy, "scheduled", now)\n        return None\n    try:\n        plan = cycle.plan(plpy)\n        run_id = runs.start(plpy, "scheduled", now, plan, plan["settings"]["run_retention"])\n    except Exception:\n        runs.unlock(plpy)\n        raise\n    plpy.notice(f"trending: run {run_id} started: {len(plan[\'steps\'])} steps")\n    return run_id\n\n\ndef step(plpy, run_id: int, index: int) -> str:\n    """Step `index` of a scheduled run, as one subtransaction of the\n    procedure\'s current transaction. Returns JSON: {"state": "more"} while\n    steps remain, {"state": "ok", "summary": ...} after the last one, or\n    {"state": "failed", "sqlstate", "message", "detail", "hint"} after\n    recording the failure (the step\'s own work is rolled back)."""\n    try:\n        state = runs.load(plpy, run_id)\n        with plpy.subtransaction():\n            cycle.run_step(plpy, state, index)\n        if index < len(state["plan"]["steps"]) - 1:\n            return json.dumps({"state": "more"})\n        summary = cycle.summary(state["plan"], runs.finish(plpy, run_id), _now_text(plpy, state["now"]))\n        runs.unlock(plpy)\n        plpy.notice(f"trending: run {run_id} ok in {summary[\'ms\']:.0f} ms: "\n                    + ", ".join(f"{v} {k}" for k, v in summary["rows"].items()))\n        return json.dumps({"state": "ok", "summary": summary})\n    except Exception as error:  # every failure ends the run: record it, free the lock\n        runs.fail(plpy, run_id, error)\n        inputs.drop_temp_tables(plpy)\n        runs.unlock(plpy)\n        return json.dumps({"state": "failed", "sqlstate": getattr(error, "sqlstate", None) or "XX000",\n                           "message": runs.error_message(error), "detail": getattr(error, "detail", None),\n                           "hint": getattr(error, "hint", None)})\n',
    'trending_pl.runs': '"""Run history (trending.runs) and the lock that keeps cycles from overlapping.\n\nEvery cycle is one row of trending.runs: \'running\' while it works, then \'ok\',\n\'failed\' (with SQLSTATE and message) or, when its backend died, \'aborted\'\n(set by the next run). A call that finds another cycle running records a\n\'skipped\' row and returns at once.\n\nBoth entry points take the same advisory lock: recompute() a transaction\nlock (released at its commit or rollback), the scheduled procedure a session\nlock (it commits between steps), released when it finishes or fails and, if\nits backend dies, by the server.\n"""\n\nfrom __future__ import annotations\n\nimport json\n\n# pg_try_advisory_*lock(int4, int4) key: \'tren\' as an int4, then 1 for\n# "recompute". pg_locks shows it as classid = 1953654126, objid = 1,\n# objsubid = 2 (the trending.status view looks for exactly that).\nLOCK_KEY = "1953654126, 1"\n\n\ndef try_lock(plpy, *, session: bool) -> bool:\n    function = "pg_try_advisory_lock" if session else "pg_try_advisory_xact_lock"\n    return bool(plpy.execute(f"SELECT pg_catalog.{function}({LOCK_KEY}) AS locked")[0]["locked"])\n\n\ndef unlock(plpy) -> None:\n    """Release the session lock of a scheduled run (quietly if not held)."""\n    plpy.execute(f"""\nSELECT pg_catalog.pg_advisory_unlock({LOCK_KEY})\nFROM pg_catalog.pg_locks\nWHERE locktype = \'advisory\' AND pid = pg_catalog.pg_backend_pid() AND granted\n  AND classid = 1953654126 AND objid = 1 AND objsubid = 2\n  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())""")\n\n\ndef running_pid(plpy):\n    """The backend that holds the cycle lock in this database, if any."""\n    rows = plpy.execute("""\nSELECT pid FROM pg_catalog.pg_locks\nWHERE locktype = \'advisory\' AND granted AND classid = 1953654126 AND objid = 1 AND objsubid = 2\n  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())""")\n    return rows[0]["pid"] if rows else None\n\n\ndef start(plpy, trigger: str, now: str, plan: dict, retention: str) -> int:\n    """Begin a run (the caller holds the lock): mark the runs of dead backends\n    aborted, forget runs older than the retention, insert the \'running\' row."""\n    # Holding the lock means no other cycle is alive: a \'running\' row left\n    # now belongs to a backend that died (terminated, crashed) mid-cycle.\n    plpy.execute("""\nUPDATE trending.runs\nSET status = \'aborted\', finished_at = pg_catalog.clock_timestamp(),\n    message = pg_catalog.format(\'the run\'\'s backend (pid %s) ended before the run finished\', pid)\nWHERE status = \'running\'""")\n    plpy.execute(f"""\nDELETE FROM trending.runs\nWHERE started_at < pg_catalog.now() - {plpy.quote_literal(retention)}::interval AND status <> \'running\'""")\n    row = plpy.execute(f"""\nINSERT INTO trending.runs (trigger, status, cycle_now, source_schema, plan, wal_start_lsn)\nVALUES ({plpy.quote_literal(trigger)}, \'running\', {plpy.quote_literal(now)}::timestamptz,\n        {plpy.quote_literal(plan[\'source_schema\'])}, {plpy.quote_literal(json.dumps(plan))}::jsonb,\n        pg_catalog.pg_current_wal_insert_lsn())\nRETURNING run_id""")[0]\n    return int(row["run_id"])\n\n\ndef skipped(plpy, trigger: str, now: str, holder) -> dict:\n    """Record a call that found a cycle running; the summary it returns."""\n    message = f"another cycle is running (pid {holder})" if holder else "another cycle is running"\n    row = plpy.execute(f"""\nINSERT INTO trending.runs (trigger, status, finished_at, cycle_now, message)\nVALUES ({plpy.quote_literal(trigger)}, \'skipped\', pg_catalog.clock_timestamp(),\n        {plpy.quote_literal(now)}::timestamptz, {plpy.quote_literal(message)})\nRETURNING run_id""")[0]\n    return {"status": "skipped", "run_id": int(row["run_id"]), "message": message}\n\n\ndef load(plpy, run_id: int) -> dict:\n    row = plpy.execute(f"""\nSELECT run_id, status, plan, pg_catalog.to_char(cycle_now AT TIME ZONE \'UTC\', \'YYYY-MM-DD HH24:MI:SS.US+00\') AS now\nFROM trending.runs WHERE run_id = {int(run_id)}""")\n    if not row:\n        plpy.error(f"trending: run {run_id} does not exist", sqlstate="22023")\n    run = dict(row[0])\n    run["plan"] = json.loads(run["plan"])\n    return run\n\n\ndef record_step(plpy, run_id: int, name: str, ms: float, *, slice_key: str | None = None,\n                slice_result: dict | None = None, bad_rows: dict | None = None) -> None:\n    """Add one finished step to the run\'s row: its milliseconds and, for a\n    slice, its row counts; for an input step, the bad rows it counted."""\n    sets = [f"step_ms = step_ms || pg_catalog.jsonb_build_object({plpy.quote_literal(name)}, {float(ms)})"]\n    if slice_key is not None:\n        sets.append(f"slice_rows = slice_rows || pg_catalog.jsonb_build_object({plpy.quote_literal(slice_key)}, "\n                    f"{plpy.quote_literal(json.dumps(slice_result))}::jsonb)")\n    if bad_rows:\n        sets.append(f"bad_rows = bad_rows || {plpy.quote_literal(json.dumps(bad_rows))}::jsonb")\n    plpy.execute(f"UPDATE trending.runs SET {\', \'.join(sets)} WHERE run_id = {int(run_id)}")\n\n\ndef finish(plpy, run_id: int) -> dict:\n    """Mark the run ok; return its row (with the WAL the cycle wrote)."""\n    return dict(plpy.execute(f"""\nUPDATE trending.runs\nSET status = \'ok\', finished_at = pg_catalog.clock_timestamp(),\n    wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)\nWHERE run_id = {int(run_id)}\nRETURNING run_id, step_ms, slice_rows, bad_rows, wal_bytes,\n          pg_catalog.round(EXTRACT(epoch FROM finished_at - started_at) * 1000, 1) AS ms""")[0])\n\n\ndef fail(plpy, run_id: int, error) -> None:\n    """Record a failed run with the error\'s SQLSTATE, message, detail and hint."""\n    fields = {"sqlstate": getattr(error, "sqlstate", None) or "XX000",\n              "message": error_message(error),\n              "detail": getattr(error, "detail", None),\n              "hint": getattr(error, "hint", None)}\n    values = ", ".join(f"{name} = {\'NULL\' if value is None else plpy.quote_literal(str(value))}"\n                       for name, value in fields.items())\n    plpy.execute(f"""\nUPDATE trending.runs\nSET status = \'failed\', finished_at = pg_catalog.clock_timestamp(), {values},\n    wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)\nWHERE run_id = {int(run_id)}""")\n\n\ndef error_message(error) -> str:\n    text = str(error.args[0]) if getattr(error, "args", None) else str(error)\n    return text or type(error).__name__\n',
    'trending_pl.slices': '"""Score the slices (strategy x time range) and bring their rows up to date.\n\nPer kind of item (tracks, playlists), once per cycle, the `changes` step:\nevery enabled slice\'s new scores are computed as one set and compared with\nthe stored rows in one FULL JOIN (hash or merge: a full join cannot be a\nnested loop, so no estimate makes it quadratic). What differs is kept, with the stored rows\' ctids, in\npg_temp.trending_<kind>_changes: rows whose score or genre changed, new rows,\nand rows of items that left the eligible set.\n\nThen one step per slice applies that slice\'s changes in one statement (a\nreader sees the slice before or after, never in between): updates and deletes\nby ctid (a TID scan of exactly the rows that change), inserts of new rows in\nscore order. Unchanged rows are not touched and keep their created_at.\n\nThe changes table outlives the scheduled procedure\'s commits between steps;\nits ctids stay valid because only a cycle writes the score tables and cycles\nhold the cycle lock.\n"""\n\nfrom __future__ import annotations\n\nimport time\n\nfrom . import formulas\nfrom .config import Strategy\nfrom .inputs import Cycle\n\n# How each kind of strategy is stored: its score table, id column, inputs,\n# and whether rows carry a genre.\nTABLES = {\n    "track": {"table": "trending.track_trending_scores", "id": "track_id",\n              "inputs": "pg_temp.trending_track_inputs", "genre": True},\n    "playlist": {"table": "trending.playlist_trending_scores", "id": "playlist_id",\n                 "inputs": "pg_temp.trending_playlist_inputs", "genre": False},\n}\n\n\ndef changes_table(kind: str) -> str:\n    return f"pg_temp.trending_{kind}_changes"\n\n\ndef staged_counts_table(kind: str) -> str:\n    return f"pg_temp.trending_{kind}_staged"\n\n\ndef score_expression(strategy: Strategy, time_range: str) -> tuple[str, str]:\n    if strategy.kind == "track":\n        return formulas.track_score(strategy.version, time_range)\n    return formulas.playlist_score(time_range)\n\n\ndef _slice_key(plpy, strategy: Strategy, time_range: str) -> str:\n    """The slice\'s (type, version, time_range) as a SQL row literal."""\n    return (f"({plpy.quote_literal(strategy.type)}, {plpy.quote_literal(strategy.version)},"\n            f" {plpy.quote_literal(time_range)})")\n\n\ndef _in_slice(plpy, strategy: Strategy, time_range: str, alias: str) -> str:\n    return f"({alias}.type, {alias}.version, {alias}.time_range) = {_slice_key(plpy, strategy, time_range)}"\n\n\ndef stage_changes(plpy, kind: str, slices: list[tuple[Strategy, str]]) -> dict[str, int]:\n    """Score every enabled slice of `kind` and keep what differs from the stored\n    rows in the kind\'s changes table, and each slice\'s number of non-zero\n    scores in its staged-counts table. One statement: the new scores are\n    computed, joined and counted in flight, never written out whole.\n    Returns {"staged", "changed"}."""\n    spec = TABLES[kind]\n    table, id_col = spec["table"], spec["id"]\n    changes, counts = changes_table(kind), staged_counts_table(kind)\n    genre, genre_def = (", i.genre", ", genre varchar") if spec["genre"] else ("", "")\n    selects = []\n    for strategy, time_range in slices:\n        expression, row_filter = score_expression(strategy, time_range)\n        selects.append(\n            f"SELECT i.{id_col} AS id, {plpy.quote_literal(strategy.type)}::text AS type,"\n            f" {plpy.quote_literal(strategy.version)}::text AS version,"\n            f" {plpy.quote_literal(time_range)}::text AS time_range{genre}, {expression} AS score"\n            f" FROM {spec[\'inputs\']} i WHERE {row_filter}")\n    union = "\\n        UNION ALL\\n        ".join(selects)\n    keys = ", ".join(_slice_key(plpy, s, r) for s, r in slices)\n    differs = "t.score IS DISTINCT FROM s.score"\n    stage_genre = kept_genre = ""\n    if spec["genre"]:\n        differs += " OR t.genre IS DISTINCT FROM s.genre"\n        stage_genre, kept_genre = ", s.genre", ", genre"\n    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_changes (stored_tid tid, type text, version text,"\n                 f" time_range text, id integer, score float8{genre_def})")\n    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_staged (type text, version text, time_range text, n bigint)")\n    plpy.execute(f"""\nWITH joined AS MATERIALIZED (\n    SELECT t.ctid AS stored_tid,\n           COALESCE(s.type, t.type::text) AS type, COALESCE(s.version, t.version::text) AS version,\n           COALESCE(s.time_range, t.time_range::text) AS time_range,\n           s.id, s.score{stage_genre},\n           t.{id_col} IS NULL OR s.id IS NULL OR {differs} AS differs\n    FROM (\n        SELECT scored.* FROM (\n        {union}\n        ) AS scored\n        WHERE scored.score <> 0\n    ) AS s\n    FULL JOIN (SELECT t.ctid, t.* FROM {table} t WHERE (t.type, t.version, t.time_range) IN ({keys})) AS t\n           ON t.{id_col} = s.id AND t.type = s.type AND t.version = s.version AND t.time_range = s.time_range\n), kept AS (\n    INSERT INTO {changes}\n    SELECT stored_tid, type, version, time_range, id, score{kept_genre} FROM joined WHERE differs\n)\nINSERT INTO {counts}\nSELECT type, version, time_range, count(id) FROM joined GROUP BY type, version, time_range""")\n    plpy.execute(f"ANALYZE {changes}")\n    row = plpy.execute(f"SELECT (SELECT sum(n) FROM {counts}) AS staged, (SELECT count(*) FROM {changes}) AS changed")[0]\n    return {"staged": int(row["staged"] or 0), "changed": int(row["changed"])}\n\n\ndef apply(plpy, c: Cycle, strategy: Strategy, time_range: str) -> dict[str, int]:\n    """Write one slice\'s staged changes in one statement; its counts and ms."""\n    started = time.monotonic()\n    spec = TABLES[strategy.kind]\n    table, id_col = spec["table"], spec["id"]\n    changes, counts = changes_table(strategy.kind), staged_counts_table(strategy.kind)\n    mine = _in_slice(plpy, strategy, time_range, "c")\n    set_genre = insert_genre_col = insert_genre_val = ""\n    if spec["genre"]:\n        set_genre = ", genre = c.genre"\n        insert_genre_col, insert_genre_val = ", genre", ", c.genre"\n    row = plpy.execute(f"""\nWITH updated AS (\n    UPDATE {table} t\n    SET score = c.score{set_genre}, created_at = {c.now_utc}\n    FROM {changes} c\n    WHERE t.ctid = ANY (ARRAY(SELECT c.stored_tid FROM {changes} c\n                              WHERE {mine} AND c.stored_tid IS NOT NULL AND c.id IS NOT NULL))\n      AND t.ctid = c.stored_tid\n    RETURNING 1\n), deleted AS (\n    DELETE FROM {table} t\n    WHERE t.ctid = ANY (ARRAY(SELECT c.stored_tid FROM {changes} c WHERE {mine} AND c.id IS NULL))\n    RETURNING 1\n), inserted AS (\n    INSERT INTO {table} ({id_col}, type, version, time_range, score, created_at{insert_genre_col})\n    SELECT c.id, c.type, c.version, c.time_range, c.score, {c.now_utc}{insert_genre_val}\n    FROM {changes} c\n    WHERE {mine} AND c.stored_tid IS NULL\n    ORDER BY c.score DESC\n    RETURNING 1\n)\nSELECT (SELECT COALESCE(sum(n), 0) FROM {counts} c WHERE {mine}) AS staged,\n       (SELECT count(*) FROM updated)  AS updated,\n       (SELECT count(*) FROM inserted) AS inserted,\n       (SELECT count(*) FROM deleted)  AS deleted""")[0]\n    updated, inserted = int(row["updated"]), int(row["inserted"])\n    return {"inserted": inserted, "updated": updated, "deleted": int(row["deleted"]),\n            "unchanged": int(row["staged"]) - inserted - updated,\n            "ms": round((time.monotonic() - started) * 1000, 1)}\n\n\ndef remove(plpy, strategy: Strategy, time_range: str) -> dict[str, int]:\n    """A disabled strategy\'s slice: delete its rows."""\n    started = time.monotonic()\n    table = TABLES[strategy.kind]["table"]\n    row = plpy.execute(f"""\nWITH deleted AS (\n    DELETE FROM {table} t WHERE {_in_slice(plpy, strategy, time_range, "t")} RETURNING 1\n)\nSELECT count(*) AS n FROM deleted""")[0]\n    return {"inserted": 0, "updated": 0, "deleted": int(row["n"]), "unchanged": 0,\n            "ms": round((time.monotonic() - started) * 1000, 1)}\n',
    'trending_pl.sources': '"""Check the source tables before a cycle reads them.\n\nCREATE EXTENSION must not need the source tables (pg_restore creates\nextensions before tables), so the first moment we can check them is a cycle.\nA missing table or column, an unexpected type or an unreadable table stops the\ncycle with one error that names every problem, before any work is done.\n"""\n\nfrom __future__ import annotations\n\nINTEGER = frozenset({"integer", "bigint", "smallint"})\nTEXT = frozenset({"character varying", "text", "character"})\nTIMESTAMP = frozenset({"timestamp without time zone"})\nBOOLEAN = frozenset({"boolean"})\nJSONB = frozenset({"jsonb"})\nANY = frozenset()  # enums (savetype, reposttype) and text both work\n\n# Every column a cycle reads, by table, with the types it accepts. Timestamps\n# must be `timestamp without time zone` holding UTC (SPEC.md): a timestamptz\n# column would silently shift windows by the session\'s offset.\nREQUIRED_COLUMNS: dict[str, dict[str, frozenset]] = {\n    "tracks": {"track_id": INTEGER, "owner_id": INTEGER, "genre": TEXT, "created_at": TIMESTAMP,\n               "release_date": TIMESTAMP, "is_current": BOOLEAN, "is_delete": BOOLEAN,\n               "is_unlisted": BOOLEAN, "stem_of": JSONB},\n    "plays": {"play_item_id": INTEGER, "created_at": TIMESTAMP},\n    "saves": {"user_id": INTEGER, "save_item_id": INTEGER, "save_type": ANY, "is_current": BOOLEAN,\n              "is_delete": BOOLEAN, "created_at": TIMESTAMP},\n    "reposts": {"user_id": INTEGER, "repost_item_id": INTEGER, "repost_type": ANY,\n                "is_current": BOOLEAN, "is_delete": BOOLEAN, "created_at": TIMESTAMP},\n    "users": {"user_id": INTEGER, "is_current": BOOLEAN, "cover_photo": ANY, "cover_photo_sizes": ANY,\n              "profile_picture": ANY, "profile_picture_sizes": ANY, "bio": ANY},\n    "aggregate_user": {"user_id": INTEGER, "follower_count": INTEGER, "following_count": INTEGER},\n    "aggregate_track": {"track_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},\n    "aggregate_plays": {"play_item_id": INTEGER, "count": INTEGER},\n    "aggregate_playlist": {"playlist_id": INTEGER, "repost_count": INTEGER, "save_count": INTEGER},\n    "playlists": {"playlist_id": INTEGER, "playlist_owner_id": INTEGER, "is_current": BOOLEAN,\n                  "is_delete": BOOLEAN, "is_private": BOOLEAN, "playlist_contents": JSONB,\n                  "created_at": TIMESTAMP, "release_date": TIMESTAMP},\n}\n\n# SQLSTATEs, most fundamental first: the error carries the first that applies.\nUNDEFINED_TABLE = "42P01"\nUNDEFINED_COLUMN = "42703"\nDATATYPE_MISMATCH = "42804"\nINSUFFICIENT_PRIVILEGE = "42501"\nINVALID_SCHEMA_NAME = "3F000"\n\n_CATALOG_QUERY = """\nSELECT c.relname::text AS table_name,\n       a.attname::text AS column_name,\n       pg_catalog.format_type(a.atttypid, NULL) AS column_type,\n       pg_catalog.has_table_privilege(c.oid, \'SELECT\') AS readable\nFROM pg_catalog.pg_class c\nJOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nJOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped\nWHERE n.nspname = {schema}\n  AND c.relname = ANY ({tables}::text[])\n  AND c.relkind IN (\'r\', \'p\', \'v\', \'m\', \'f\')\n"""\n\n\ndef find_problems(schema: str, catalog_rows) -> list[tuple[str, str]]:\n    """(sqlstate, description) for every way `catalog_rows` falls short of REQUIRED_COLUMNS.\n\n    `catalog_rows` are mappings with table_name, column_name, column_type, readable.\n    """\n    found: dict[str, dict[str, str]] = {}\n    readable: dict[str, bool] = {}\n    for row in catalog_rows:\n        found.setdefault(row["table_name"], {})[row["column_name"]] = row["column_type"]\n        readable[row["table_name"]] = bool(row["readable"])\n\n    problems = []\n    for table, columns in REQUIRED_COLUMNS.items():\n        if table not in found:\n            problems.append((UNDEFINED_TABLE, f"table {schema}.{table} does not exist"))\n            continue\n        if not readable[table]:\n            problems.append((INSUFFICIENT_PRIVILEGE, f"no SELECT privilege on {schema}.{table}"))\n        for column, accepted in columns.items():\n            actual = found[table].get(column)\n            if actual is None:\n                problems.append((UNDEFINED_COLUMN, f"column {table}.{column} does not exist"))\n            elif accepted and actual not in accepted:\n                expected = " or ".join(sorted(accepted))\n                problems.append((DATATYPE_MISMATCH,\n                                 f"column {table}.{column} is {actual}, expected {expected}"))\n    return problems\n\n\ndef check(plpy, schema: str) -> None:\n    """Raise one clear error if the source schema cannot feed a cycle."""\n    exists = plpy.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = "\n                          + plpy.quote_literal(schema))\n    if len(exists) == 0:\n        plpy.error(f\'trending: source schema "{schema}" does not exist\',\n                   hint="Set trending.settings.source_schema to the schema holding tracks, plays, ...: "\n                        "UPDATE trending.settings SET value = \'<schema>\' WHERE name = \'source_schema\';",\n                   sqlstate=INVALID_SCHEMA_NAME)\n    tables = "{" + ",".join(REQUIRED_COLUMNS) + "}"\n    rows = plpy.execute(_CATALOG_QUERY.format(schema=plpy.quote_literal(schema),\n                                              tables=plpy.quote_literal(tables)))\n    problems = find_problems(schema, rows)\n    if problems:\n        plpy.error(f\'trending: source schema "{schema}" cannot feed a cycle: \'\n                   + "; ".join(text for _, text in problems),\n                   detail="trending reads these columns: " + describe_requirements(),\n                   hint="Point trending.settings.source_schema at the service\'s schema, "\n                        "or create the missing objects.",\n                   sqlstate=min(problems, key=lambda p: _SEVERITY.index(p[0]))[0])\n\n\n_SEVERITY = [INVALID_SCHEMA_NAME, UNDEFINED_TABLE, UNDEFINED_COLUMN, DATATYPE_MISMATCH,\n             INSUFFICIENT_PRIVILEGE]\n\n\ndef describe_requirements() -> str:\n    return "; ".join(f"{table}({\', \'.join(columns)})" for table, columns in REQUIRED_COLUMNS.items())\n',
}
DIGEST = 'f4dd2bfcaacf1774345a55020da9b8dc0970a09d635488ca080ce75a1bdd21cf'
PACKAGE = "trending_pl"

loaded = sys.modules.get(PACKAGE)
if loaded is not None and getattr(loaded, "__trending_digest__", None) == DIGEST:
    return DIGEST

# another build's modules (or none): forget them and serve this build's
for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
    del sys.modules[name]
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "serves_trending_pl", False)]


class EmbeddedSources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    serves_trending_pl = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in SOURCES:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname == PACKAGE)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path = "extension/" + module.__name__.replace(".", "/")
        path += "/__init__.py" if module.__name__ == PACKAGE else ".py"
        exec(compile(SOURCES[module.__name__], path, "exec"), module.__dict__)


sys.meta_path.insert(0, EmbeddedSources())
import trending_pl
trending_pl.__trending_digest__ = DIGEST
return DIGEST
$python$;

-- source: sql/functions/_raise.sql
-------------------------------------------------------------------------------
-- _raise
-- Raise an error with this message, SQLSTATE and, when not NULL or empty,
-- DETAIL and HINT (RAISE would print an empty DETAIL or HINT label, and
-- refuses a NULL one). recompute() and scheduled_recompute() re-raise the
-- cycle's errors through it.
CREATE OR REPLACE FUNCTION trending._raise(p_message text, p_sqlstate text, p_detail text, p_hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_detail <> '' AND p_hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, DETAIL = p_detail, HINT = p_hint;
    ELSIF p_detail <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, DETAIL = p_detail;
    ELSIF p_hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, HINT = p_hint;
    END IF;
    RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate;
END;
$function$;

-- source: sql/functions/_recompute.sql
-------------------------------------------------------------------------------
-- _recompute
-- The cycle itself (extension/trending_pl/recompute.py): plan, run every step
-- in this transaction, return the summary. trending.recompute() wraps it to
-- present deliberate errors cleanly.
--
-- TimeZone and DateStyle are pinned so that nothing depends on the session:
-- source timestamps are UTC and `now` is converted to UTC explicitly.
CREATE OR REPLACE FUNCTION trending._recompute(now timestamptz)
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.run(plpy, now)
$python$;

-- source: sql/functions/_require_local_pg_cron.sql
-------------------------------------------------------------------------------
-- _require_local_pg_cron
-- Raise a clear error, with a HINT saying what to do, unless pg_cron is
-- preloaded and installed in this very database: trending.schedule() and
-- unschedule() only handle that common case. pg_cron lives in one database
-- per cluster (cron.database_name); from any other database the `trending`
-- CLI schedules through cron.schedule_in_database in the cron database.
CREATE OR REPLACE FUNCTION trending._require_local_pg_cron()
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cron_database text := current_setting('cron.database_name', true);
BEGIN
    IF v_cron_database IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not loaded in this server'
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Add pg_cron to shared_preload_libraries in postgresql.conf, restart, then '
                           'CREATE EXTENSION pg_cron in the database named by cron.database_name '
                           '(default postgres). `trending doctor` checks every step.';
    END IF;
    IF v_cron_database <> current_database() THEN
        RAISE EXCEPTION 'pg_cron lives in database %, not in %', quote_ident(v_cron_database),
                        quote_ident(current_database())
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = format('Schedule from the shell: trending install --schedule ''0 * * * *'' --dsn ''dbname=%s'' '
                                  '(it uses cron.schedule_in_database in %s), or in %s: '
                                  'SELECT cron.schedule_in_database(''trending-recompute'', ''0 * * * *'', '
                                  '''CALL trending.scheduled_recompute()'', %L);',
                                  current_database(), v_cron_database, v_cron_database, current_database());
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is loaded but not installed in database %', quote_ident(current_database())
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'CREATE EXTENSION pg_cron; (as a superuser), then call trending.schedule() again.';
    END IF;
END;
$function$;

-- source: sql/functions/_scheduled_start.sql
-------------------------------------------------------------------------------
-- _scheduled_start
-- First transaction of trending.scheduled_recompute(): take the cycle lock
-- (a session lock: the procedure commits), plan the cycle and insert its
-- 'running' row. NULL when another cycle runs (recorded as 'skipped').
CREATE OR REPLACE FUNCTION trending._scheduled_start(now timestamptz)
RETURNS bigint
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.start(plpy, now)
$python$;

-- source: sql/functions/_scheduled_step.sql
-------------------------------------------------------------------------------
-- _scheduled_step
-- One step of a scheduled run, in a subtransaction: {"state": "more"},
-- {"state": "ok", "summary": ...} after the last step, or {"state":
-- "failed", "sqlstate", "message", "detail", "hint"} once the failure is
-- recorded in trending.runs and the lock released. Never raises for a
-- failed step, so the procedure can commit the failure before re-raising it.
CREATE OR REPLACE FUNCTION trending._scheduled_step(run_id bigint, step integer)
RETURNS jsonb
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
AS $python$
plpy.execute("SELECT trending._python_init()")
from trending_pl import recompute
return recompute.step(plpy, run_id, step)
$python$;

-- source: sql/functions/_validate_choice.sql
-------------------------------------------------------------------------------
-- _validate_choice
-- Raise 22023 unless p_value is one of p_valid; the message names them all,
-- so a bad argument never looks like an empty result.
CREATE OR REPLACE FUNCTION trending._validate_choice(p_name text, p_value text, p_valid text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_value IS NULL OR NOT (p_value = ANY (p_valid)) THEN
        RAISE EXCEPTION 'invalid % %: valid values are %', p_name,
              COALESCE(quote_literal(p_value), 'NULL'), array_to_string(p_valid, ', ')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$function$;

-- source: sql/functions/_validate_page.sql
-------------------------------------------------------------------------------
-- _validate_page
-- Raise 22023 unless 1 <= p_lim <= 1000 and p_off >= 0.
CREATE OR REPLACE FUNCTION trending._validate_page(p_lim integer, p_off integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_lim IS NULL OR p_lim < 1 OR p_lim > 1000 THEN
        RAISE EXCEPTION 'invalid lim %: valid values are 1 to 1000', COALESCE(p_lim::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_off IS NULL OR p_off < 0 THEN
        RAISE EXCEPTION 'invalid off %: valid values are 0 or more', COALESCE(p_off::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$function$;

-- source: sql/functions/_validate_setting.sql
-------------------------------------------------------------------------------
-- _validate_setting
-- Raise 22023 unless p_value is acceptable for setting p_name. The source
-- schema is only checked for shape here: it may legitimately not exist yet
-- (pg_restore loads settings before the service's tables); a cycle checks it.
CREATE OR REPLACE FUNCTION trending._validate_setting(p_name text, p_value text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    CASE p_name
    WHEN 'source_schema' THEN
        IF p_value = '' OR length(p_value) > 63 THEN
            RAISE EXCEPTION 'invalid source_schema %: a schema name of 1 to 63 characters',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'work_mem' THEN
        IF p_value !~ '^[0-9]+ ?(kB|MB|GB)$'
           OR pg_size_bytes(p_value) NOT BETWEEN 64 * 1024 AND pg_size_bytes('64GB') THEN
            RAISE EXCEPTION 'invalid work_mem %: a size from 64kB to 64GB, e.g. ''256MB''',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'lock_timeout' THEN
        IF p_value !~ '^[0-9]+ ?(ms|s|min)$' OR p_value ~ '^0+ ?[a-z]+$' THEN
            RAISE EXCEPTION 'invalid lock_timeout %: a positive duration in ms, s or min, e.g. ''5s''',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'parallel_workers' THEN
        IF p_value !~ '^[0-9]{1,4}$' OR p_value::integer > 1024 THEN
            RAISE EXCEPTION 'invalid parallel_workers %: a whole number from 0 to 1024',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'run_retention' THEN
        IF p_value !~ '^[0-9]+ ?(hours?|days?|weeks?|mons?|months?|years?)$' OR p_value ~ '^0+ ' THEN
            RAISE EXCEPTION 'invalid run_retention %: a positive interval in hours, days, weeks, months or years, e.g. ''30 days''',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown setting %', quote_literal(p_name)
              USING ERRCODE = 'invalid_parameter_value';
    END CASE;
END;
$function$;

-- source: sql/functions/_write_setting.sql
-------------------------------------------------------------------------------
-- _write_setting
-- INSTEAD OF trigger on the view trending.settings. UPDATE ... SET value
-- stores an override (or removes it when the value is the default or NULL);
-- DELETE restores the default; INSERT is refused (the settings are fixed).
-- SECURITY DEFINER so that UPDATE on the view is the only privilege a DBA
-- needs to grant.
CREATE OR REPLACE FUNCTION trending._write_setting()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'unknown setting %', quote_literal(NEW.name)
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'The settings are listed in trending.settings; change one with UPDATE.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM trending._setting_overrides o WHERE o.name = OLD.name;
        RETURN OLD;
    END IF;

    IF NEW.name IS DISTINCT FROM OLD.name
       OR NEW.default_value IS DISTINCT FROM OLD.default_value
       OR NEW.description IS DISTINCT FROM OLD.description THEN
        RAISE EXCEPTION 'only the value of a setting can be changed'
              USING ERRCODE = 'feature_not_supported';
    END IF;

    IF NEW.value IS NULL OR NEW.value = OLD.default_value THEN
        DELETE FROM trending._setting_overrides o WHERE o.name = OLD.name;
        NEW.value := OLD.default_value;
    ELSE
        PERFORM trending._validate_setting(OLD.name, NEW.value);
        INSERT INTO trending._setting_overrides AS o (name, value) VALUES (OLD.name, NEW.value)
        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now();
    END IF;
    NEW.is_default := NEW.value = OLD.default_value;
    RETURN NEW;
END;
$function$;

-- source: sql/functions/_write_strategy.sql
-------------------------------------------------------------------------------
-- _write_strategy
-- INSTEAD OF trigger on the view trending.strategies: a plain
--   UPDATE trending.strategies SET enabled = false WHERE type = 'PLAYLISTS';
-- switches a strategy; the next cycle adds or removes its rows. Only the
-- user's deviation from the default is stored (and dumped), so CREATE
-- EXTENSION during a restore never collides with it. NULL restores the default.
CREATE OR REPLACE FUNCTION trending._write_strategy()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'strategies are registered by the extension and cannot be added or removed'
              USING ERRCODE = 'feature_not_supported',
                    HINT = 'Switch one on or off: UPDATE trending.strategies SET enabled = false WHERE type = ... AND version = ...;';
    END IF;
    IF NEW.type IS DISTINCT FROM OLD.type OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.time_ranges IS DISTINCT FROM OLD.time_ranges
       OR NEW.enabled_by_default IS DISTINCT FROM OLD.enabled_by_default
       OR NEW.description IS DISTINCT FROM OLD.description THEN
        RAISE EXCEPTION 'only "enabled" of a strategy can be changed'
              USING ERRCODE = 'feature_not_supported';
    END IF;

    IF NEW.enabled IS NULL OR NEW.enabled = OLD.enabled_by_default THEN
        DELETE FROM trending._strategy_overrides o WHERE o.type = OLD.type AND o.version = OLD.version;
        NEW.enabled := OLD.enabled_by_default;
    ELSE
        INSERT INTO trending._strategy_overrides AS o (type, version, enabled)
        VALUES (OLD.type, OLD.version, NEW.enabled)
        ON CONFLICT (type, version) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now();
    END IF;
    RETURN NEW;
END;
$function$;

-- source: sql/functions/recompute.sql
-------------------------------------------------------------------------------
-- recompute
-- One cycle of every enabled strategy, in the caller's transaction: stage the
-- shared inputs, score every slice as a set, write only the rows that
-- changed; return the summary. On any error it raises and nothing changes.
--
-- A thin PL/pgSQL layer over _recompute: PL/Python prefixes the errors it
-- raises on purpose with "plpy.Error: "; re-raised from here they read as
-- plain messages with their SQLSTATE, DETAIL and HINT. Every other error
-- passes through untouched.
CREATE OR REPLACE FUNCTION trending.recompute(now timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_message text;
    v_sqlstate text;
    v_detail text;
    v_hint text;
BEGIN
    RETURN trending._recompute(recompute.now);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    IF v_message NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    PERFORM trending._raise(substr(v_message, length('plpy.Error: ') + 1), v_sqlstate, v_detail, v_hint);
END;
$function$;

-- source: sql/functions/schedule.sql
-------------------------------------------------------------------------------
-- schedule
-- Run trending.scheduled_recompute() on a cron schedule with pg_cron, as the
-- job 'trending-recompute' (scheduling again replaces the schedule: one job,
-- whatever the number of calls). Returns the job id.
--
-- pg_cron 1.4 knows minutes, not seconds, and runs schedules in GMT; a
-- malformed schedule is refused here with the accepted forms. For pg_cron
-- in another database, see _require_local_pg_cron's hint (the CLI).
CREATE OR REPLACE FUNCTION trending.schedule(cron text DEFAULT '0 * * * *')
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_field  text := '(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*';
    v_job_id bigint;
BEGIN
    IF cron IS NULL OR NOT (
           btrim(cron) ~ ('^' || v_field || '(\s+' || v_field || '){4}$')
           OR btrim(cron) IN ('@hourly', '@daily', '@weekly', '@monthly', '@yearly', '@annually')) THEN
        RAISE EXCEPTION 'invalid schedule %: pg_cron 1.4 takes five cron fields (minute hour day month weekday, in GMT)',
                        COALESCE(quote_literal(cron), 'NULL')
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'For example ''0 * * * *'' (hourly, the default), ''*/15 * * * *'' or ''@hourly''. '
                           'Intervals in seconds need pg_cron 1.5 or later.';
    END IF;
    PERFORM trending._require_local_pg_cron();
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
       INTO v_job_id
      USING 'trending-recompute', btrim(cron), 'CALL trending.scheduled_recompute()';
    RETURN v_job_id;
END;
$function$;

-- source: sql/functions/scheduled_recompute.sql
-------------------------------------------------------------------------------
-- scheduled_recompute
-- The cycle pg_cron runs: CALL trending.scheduled_recompute();
--
-- Same steps as trending.recompute(), but it COMMITs after each one: the
-- 'running' run row first, then each step (staging the inputs, each slice),
-- so no snapshot or lock is held for a whole cycle and a reader sees each
-- slice switch atomically when its step commits. A failed step is recorded
-- in trending.runs (SQLSTATE, message) and committed, then re-raised so the
-- cron job is marked failed; the slices already committed keep their new
-- scores, the others their previous ones. On a hot standby it returns
-- quietly, so one schedule survives a failover. Another cycle running: it
-- returns at once (a 'skipped' run and a NOTICE).
--
-- A procedure that commits may not have a SET clause nor be SECURITY
-- DEFINER, and must be called at top level (not inside BEGIN): it therefore
-- schema-qualifies every name and does its work in functions that pin their
-- search_path.
CREATE OR REPLACE PROCEDURE trending.scheduled_recompute(now timestamptz DEFAULT NULL)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_run_id bigint;
    v_step   integer := 0;
    v_result jsonb;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RETURN;
    END IF;
    -- Inside BEGIN ... or a function this fails at once (2D000), before a
    -- session lock is taken that would outlive the aborted call.
    COMMIT;
    v_run_id := trending._scheduled_start(COALESCE(scheduled_recompute.now, pg_catalog.now()));
    IF v_run_id IS NULL THEN
        RETURN;
    END IF;
    COMMIT;
    LOOP
        v_result := trending._scheduled_step(v_run_id, v_step);
        COMMIT;
        EXIT WHEN v_result OPERATOR(pg_catalog.->>) 'state' OPERATOR(pg_catalog.<>) 'more';
        v_step := v_step OPERATOR(pg_catalog.+) 1;
    END LOOP;
    IF v_result OPERATOR(pg_catalog.->>) 'state' OPERATOR(pg_catalog.<>) 'failed' THEN
        RETURN;
    END IF;
    -- re-raise the recorded failure, now committed
    PERFORM trending._raise(v_result OPERATOR(pg_catalog.->>) 'message',
                            v_result OPERATOR(pg_catalog.->>) 'sqlstate',
                            v_result OPERATOR(pg_catalog.->>) 'detail',
                            v_result OPERATOR(pg_catalog.->>) 'hint');
END;
$procedure$;

-- source: sql/functions/top_playlists.sql
-------------------------------------------------------------------------------
-- top_playlists
-- Trending playlists of one range (PLAYLISTS/pnagD), by score then id, as a
-- top-N scan of the ranking index. rank is the absolute position.
CREATE OR REPLACE FUNCTION trending.top_playlists(
    time_range text    DEFAULT 'week',
    lim        integer DEFAULT 30,
    off        integer DEFAULT 0)
RETURNS SETOF trending.ranked_playlist
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
BEGIN
    PERFORM trending._validate_choice('time_range', top_playlists.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'PLAYLISTS' AND d.version = 'pnagD'));
    PERFORM trending._validate_page(top_playlists.lim, top_playlists.off);

    RETURN QUERY
    SELECT row_number() OVER (ORDER BY s.score DESC, s.playlist_id DESC), s.playlist_id, s.score
    FROM trending.playlist_trending_scores s
    WHERE s.type = 'PLAYLISTS' AND s.version = 'pnagD' AND s.time_range = top_playlists.time_range
    ORDER BY s.score DESC, s.playlist_id DESC
    LIMIT top_playlists.lim OFFSET top_playlists.off;
END;
$function$;

-- source: sql/functions/top_tracks.sql
-------------------------------------------------------------------------------
-- top_tracks
-- The API's hot read: trending tracks of one range, overall or for a genre,
-- as a top-N scan of a ranking index (no Sort). rank is the absolute
-- position, so page 2 starts at off + 1.
--
-- plan_cache_mode: a generic plan cannot see the limit and may prefer a
-- sort of the whole slice; a custom plan is cheap here and always right.
CREATE OR REPLACE FUNCTION trending.top_tracks(
    time_range text    DEFAULT 'week',
    genre      text    DEFAULT NULL,
    lim        integer DEFAULT 100,
    off        integer DEFAULT 0,
    version    text    DEFAULT 'pnagD')
RETURNS SETOF trending.ranked_track
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
BEGIN
    PERFORM trending._validate_choice('time_range', top_tracks.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'TRACKS' AND d.version = 'pnagD'));
    PERFORM trending._validate_choice('version', top_tracks.version,
        ARRAY(SELECT d.version FROM trending.strategies d
              WHERE d.type = 'TRACKS' ORDER BY d.version DESC));
    PERFORM trending._validate_page(top_tracks.lim, top_tracks.off);

    IF COALESCE(top_tracks.genre, '') = '' THEN
        RETURN QUERY
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = top_tracks.version AND s.time_range = top_tracks.time_range
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT top_tracks.lim OFFSET top_tracks.off;
    ELSE
        RETURN QUERY
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = top_tracks.version AND s.time_range = top_tracks.time_range
          AND s.genre = top_tracks.genre
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT top_tracks.lim OFFSET top_tracks.off;
    END IF;
END;
$function$;

-- source: sql/functions/underground_tracks.sql
-------------------------------------------------------------------------------
-- underground_tracks
-- "Underground" trending (SPEC.md): the TRACKS/pnagD list of a range/genre
-- without its overall top 20, keeping tracks whose owner has an
-- aggregate_user row with fewer than 1500 followers and 1500 followings.
--
-- First find the 20th entry (a top-20 index scan), then read on from just
-- after it: one query level with the LIMIT in sight, so the planner walks the
-- ranking index in order and stops, whatever the owner filter's selectivity.
-- The owners live in the source schema (a setting), hence dynamic SQL.
CREATE OR REPLACE FUNCTION trending.underground_tracks(
    time_range text    DEFAULT 'week',
    genre      text    DEFAULT NULL,
    lim        integer DEFAULT 100,
    off        integer DEFAULT 0)
RETURNS SETOF trending.ranked_track
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
DECLARE
    v_source    text;
    v_genre     text := NULLIF(underground_tracks.genre, '');
    v_cut_score double precision;
    v_cut_id    integer;
BEGIN
    PERFORM trending._validate_choice('time_range', underground_tracks.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'TRACKS' AND d.version = 'pnagD'));
    PERFORM trending._validate_page(underground_tracks.lim, underground_tracks.off);

    SELECT s.score, s.track_id INTO v_cut_score, v_cut_id
    FROM trending.track_trending_scores s
    WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = underground_tracks.time_range
      AND (v_genre IS NULL OR s.genre = v_genre)
    ORDER BY s.score DESC, s.track_id DESC
    OFFSET 19 LIMIT 1;
    IF NOT FOUND THEN
        RETURN;  -- 20 tracks or fewer: nothing below the top 20
    END IF;

    SELECT s.value INTO v_source FROM trending.settings s WHERE s.name = 'source_schema';
    RETURN QUERY EXECUTE format($query$
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = $1 %1$s
          AND (s.score, s.track_id) < ($5, $6)
          AND EXISTS (
              SELECT FROM %2$I.tracks t
              JOIN %2$I.aggregate_user au ON au.user_id = t.owner_id
              WHERE t.track_id = s.track_id AND t.is_current IS TRUE
                AND au.follower_count < 1500 AND au.following_count < 1500)
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT $3 OFFSET $4
        $query$, CASE WHEN v_genre IS NULL THEN '' ELSE 'AND s.genre = $2' END, v_source)
    USING underground_tracks.time_range, v_genre, underground_tracks.lim, underground_tracks.off,
          v_cut_score, v_cut_id;
END;
$function$;

-- source: sql/functions/unschedule.sql
-------------------------------------------------------------------------------
-- unschedule
-- Remove the job 'trending-recompute'; true if there was one. (pg_cron
-- 1.4's cron.unschedule raises on a missing name, so look first.) A run in
-- progress is not stopped: cancel it with pg_cancel_backend(running_pid)
-- from trending.status.
CREATE OR REPLACE FUNCTION trending.unschedule()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_found boolean;
BEGIN
    PERFORM trending._require_local_pg_cron();
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND username = current_user)'
       INTO v_found USING 'trending-recompute';
    IF v_found THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING 'trending-recompute';
    END IF;
    RETURN v_found;
END;
$function$;

-- source: sql/grants.sql
-- Privileges, all explicit. PUBLIC may read the scores and the configuration
-- and call the read functions. Running a cycle and changing the configuration
-- are for superusers and the roles a DBA grants:
--   GRANT EXECUTE ON FUNCTION trending.recompute(timestamptz), trending._recompute(timestamptz)
--       TO trending_job;   -- plus SELECT on the source tables, writes on the score tables and runs
--   GRANT EXECUTE ON PROCEDURE trending.scheduled_recompute(timestamptz) TO trending_job;
--   GRANT EXECUTE ON FUNCTION trending._scheduled_start(timestamptz),
--       trending._scheduled_step(bigint, integer) TO trending_job;
--   GRANT UPDATE ON trending.settings, trending.strategies TO dba;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA trending FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA trending FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA trending FROM PUBLIC;

GRANT USAGE ON SCHEMA trending TO PUBLIC;
GRANT SELECT ON trending.track_trending_scores, trending.playlist_trending_scores,
                trending.settings, trending.strategies, trending.status TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    trending.top_tracks(text, text, integer, integer, text),
    trending.underground_tracks(text, text, integer, integer),
    trending.top_playlists(text, integer, integer),
    trending._validate_choice(text, text, text[]),
    trending._validate_page(integer, integer),
    trending._raise(text, text, text, text),
    trending._python_init()
TO PUBLIC;

-- source: sql/comments.sql
-- Every public object documents itself in \d+ and \df+.
COMMENT ON TABLE trending.track_trending_scores IS
    'Trending scores of tracks, one row per (track, strategy type, version, time range) with a non-zero score. Written by trending.recompute(); read by the API and trending.top_tracks().';
COMMENT ON COLUMN trending.track_trending_scores.genre IS 'The track''s genre when its score was written (NULL when it has none).';
COMMENT ON COLUMN trending.track_trending_scores.score IS 'SPEC.md''s score for the slice; never 0 (zero scores are not stored).';
COMMENT ON COLUMN trending.track_trending_scores.created_at IS 'The cycle''s now (UTC) when this row''s current score or genre was written; unchanged rows keep it.';
COMMENT ON TABLE trending.playlist_trending_scores IS
    'Trending scores of playlists, one row per (playlist, strategy type, version, time range) with a non-zero score. Written by trending.recompute(); read by trending.top_playlists().';
COMMENT ON COLUMN trending.playlist_trending_scores.created_at IS 'The cycle''s now (UTC) when this row''s current score was written; unchanged rows keep it.';

COMMENT ON VIEW trending.settings IS
    'Settings of the extension: UPDATE trending.settings SET value = ... WHERE name = ...; (NULL or DELETE restores the default). Overrides survive pg_dump/pg_restore.';
COMMENT ON VIEW trending.strategies IS
    'Registered scoring strategies: UPDATE trending.strategies SET enabled = ... WHERE type = ... AND version = ...; the next cycle writes or removes their rows. Choices survive pg_dump/pg_restore.';
COMMENT ON TABLE trending._setting_defaults IS 'Shipped defaults of trending.settings (not dumped: CREATE EXTENSION recreates them).';
COMMENT ON TABLE trending._setting_overrides IS 'The user''s settings (dumped by pg_dump). Edit through the view trending.settings.';
COMMENT ON TABLE trending._strategy_defaults IS 'Registered strategies as shipped (not dumped: CREATE EXTENSION recreates them).';
COMMENT ON TABLE trending._strategy_overrides IS 'The user''s on/off choices (dumped by pg_dump). Edit through the view trending.strategies.';

COMMENT ON TYPE trending.ranked_track IS 'A row of top_tracks() and underground_tracks(): absolute rank, track, score, genre.';
COMMENT ON TYPE trending.ranked_playlist IS 'A row of top_playlists(): absolute rank, playlist, score.';

COMMENT ON FUNCTION trending.recompute(timestamptz) IS
    'Run one cycle of every enabled strategy at now (default: the transaction''s start), in the caller''s transaction; returns a jsonb summary (rows inserted/updated/deleted/unchanged and ms per strategy and range, bad rows found, WAL bytes), or {"status": "skipped"} at once when another cycle is running. Raises on failure; nothing of a failed cycle stays.';
COMMENT ON FUNCTION trending.top_tracks(text, text, integer, integer, text) IS
    'Trending tracks: top_tracks(time_range => week|month|allTime, genre => NULL for all, lim => 1..1000, off => 0.., version => pnagD|AnlGe).';
COMMENT ON FUNCTION trending.underground_tracks(text, text, integer, integer) IS
    'Underground trending: the TRACKS/pnagD list without its top 20, owners with < 1500 followers and followings.';
COMMENT ON FUNCTION trending.top_playlists(text, integer, integer) IS
    'Trending playlists: top_playlists(time_range => week|month|year, lim => 1..1000, off => 0..).';
COMMENT ON FUNCTION trending._recompute(timestamptz) IS 'Internal: the cycle itself, in PL/Python; call trending.recompute().';
COMMENT ON FUNCTION trending._python_init() IS 'Internal: makes the embedded trending_pl package importable in this session.';
COMMENT ON FUNCTION trending._validate_choice(text, text, text[]) IS 'Internal: raises 22023 naming the valid values.';
COMMENT ON FUNCTION trending._validate_page(integer, integer) IS 'Internal: raises 22023 unless 1 <= lim <= 1000 and off >= 0.';
COMMENT ON FUNCTION trending._validate_setting(text, text) IS 'Internal: raises 22023 for a value a setting cannot take.';
COMMENT ON FUNCTION trending._write_setting() IS 'Internal: INSTEAD OF trigger making trending.settings writable.';
COMMENT ON FUNCTION trending._write_strategy() IS 'Internal: INSTEAD OF trigger making trending.strategies writable.';

COMMENT ON TABLE trending.runs IS
    'Run history: one row per cycle (running, ok, failed, aborted, skipped) with the now used, per-step milliseconds, per-slice row counts, WAL bytes and, on failure, SQLSTATE and message. Kept for the run_retention setting.';
COMMENT ON COLUMN trending.runs.trigger IS 'recompute: SELECT trending.recompute(); scheduled: CALL trending.scheduled_recompute() (pg_cron).';
COMMENT ON COLUMN trending.runs.cycle_now IS 'The now the scores were computed for.';
COMMENT ON COLUMN trending.runs.step_ms IS 'Milliseconds of each finished step: check_sources, track_inputs, playlist_inputs, then one per slice (TYPE/version/range).';
COMMENT ON COLUMN trending.runs.slice_rows IS 'Per slice: rows inserted, updated, deleted and left unchanged.';
COMMENT ON COLUMN trending.runs.wal_bytes IS 'WAL written in the cluster between the run''s start and end (includes other sessions'' writes).';
COMMENT ON VIEW trending.status IS
    'One row: last successful run and the age of the scores, last failed or aborted run with its SQLSTATE and message, and the backend running a cycle now, if any.';
COMMENT ON PROCEDURE trending.scheduled_recompute(timestamptz) IS
    'The cycle pg_cron runs (CALL trending.scheduled_recompute()): commits after each step, records failures in trending.runs and re-raises them, returns quietly on a standby or when a cycle is running. Call at top level, not inside BEGIN.';
COMMENT ON FUNCTION trending._scheduled_start(timestamptz) IS 'Internal: first step of trending.scheduled_recompute().';
COMMENT ON FUNCTION trending._scheduled_step(bigint, integer) IS 'Internal: one step of trending.scheduled_recompute().';
COMMENT ON FUNCTION trending.schedule(text) IS
    'Schedule CALL trending.scheduled_recompute() with pg_cron as job trending-recompute (default hourly, ''0 * * * *'', GMT); idempotent; returns the job id. Needs pg_cron in this database; otherwise use the trending CLI.';
COMMENT ON FUNCTION trending.unschedule() IS
    'Remove the pg_cron job trending-recompute; true if it existed. Does not stop a run in progress.';
COMMENT ON FUNCTION trending._require_local_pg_cron() IS 'Internal: raise with a hint unless pg_cron is loaded and installed in this database.';
COMMENT ON FUNCTION trending._raise(text, text, text, text) IS 'Internal: raise with a message, SQLSTATE and optional DETAIL and HINT.';

-- source: sql/updates/1.0--1.1-finish.sql
-- Give back the EXECUTE grants kept by pg_temp.trending_drop_keeping_grants
-- (see sql/updates/1.0--1.1.sql) to the routines of the same name.
DO $do$
DECLARE
    v_grant jsonb;
BEGIN
    FOR v_grant IN
        SELECT value FROM jsonb_array_elements(
            COALESCE(NULLIF(current_setting('trending.upgrade_grants', true), ''), '[]')::jsonb)
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %s%s',
                       (SELECT p.oid::regprocedure FROM pg_proc p
                        WHERE p.pronamespace = 'trending'::regnamespace AND p.proname = v_grant->>'name'),
                       v_grant->>'grantee',
                       CASE WHEN (v_grant->>'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    PERFORM set_config('trending.upgrade_grants', '', true);
END;
$do$;
DROP FUNCTION pg_temp.trending_drop_keeping_grants(regprocedure[]);
