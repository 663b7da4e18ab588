"""Explain one stored score: its inputs, each term of the formula, and why.

trending.explain_track() / explain_playlist() stage the cycle's own inputs
(inputs.py, its very statements) for the one item, as an incremental cycle
stages the items it rescores (inputs.Scope): the item's rows, saves and
reposts by their indexes; counting one track's plays still scans the month
of plays by plays(created_at), there being no index on play_item_id. The score is the
cycle's expression (formulas.py) over that row, so a computed score equals
the stored one when both are for the same `now`. The sources are checked
as a cycle checks them, before each read and after the last.
"""

from __future__ import annotations

import json
import math
import re

from . import config, cycle, formulas, inputs, slices, sources, validate

REL_TOLERANCE = 1e-12
TOP_CONTRIBUTORS = 10


def _json_value(value):
    """SQL values as JSON: exact integers, finite floats, text for the rest."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    text = str(value)  # numeric (Decimal), timestamps
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _row(row) -> dict:
    return {k: _json_value(v) for k, v in dict(row).items()}


def _validate(plpy, kind: str, item_id, time_range, version) -> config.Strategy:
    if item_id is None:
        plpy.error(f"trending: invalid {kind}_id NULL", sqlstate="22023", hint=f"Pass the {kind}'s id.")
    strategies = config.read_strategies(plpy)
    choose = plpy.prepare("SELECT trending._validate_choice($1, $2, $3)", ["text", "text", "text[]"])
    if kind == "track":
        versions = [s.version for s in strategies if s.type == "TRACKS"]
        plpy.execute(choose, ["version", version, versions])
        strategy = next(s for s in strategies if s.type == "TRACKS" and s.version == version)
    else:
        strategy = next(s for s in strategies if s.type == "PLAYLISTS")
    plpy.execute(choose, ["time_range", time_range, list(strategy.time_ranges)])
    return strategy


def _resolve_now(plpy, now):
    """(now, where it came from): NULL means the now of the stored scores."""
    if now is not None:
        return now, "argument"
    row = plpy.execute("SELECT s.scores_as_of::text AS n FROM trending.status s")
    if row and row[0]["n"] is not None:
        return row[0]["n"], "scores_as_of"
    return plpy.execute("SELECT pg_catalog.now()::text AS n")[0]["n"], "transaction (no cycle has succeeded yet)"


def explain(plpy, kind: str, item_id, time_range, version, now) -> str:
    """The jsonb document (as JSON text) explaining one item's score."""
    strategy = _validate(plpy, kind, item_id, time_range, version)
    now, now_source = _resolve_now(plpy, now)
    validate.now(plpy, now)
    settings = config.read_settings(plpy)
    cycle.apply_session_settings(plpy, settings)
    schema = settings["source_schema"]
    step = cycle.INPUTS[kind]

    def guard(point: str) -> None:
        sources.lock_and_check(plpy, schema, step)

    inputs.drop_temp_tables(plpy)
    try:
        guard("start")
        c = inputs.Cycle.start(plpy, now, schema)
        id_col = slices.TABLES[kind]["id"]
        plpy.execute("CREATE TEMP TABLE trending_explain_ids (id bigint)")
        plpy.execute(f"INSERT INTO pg_temp.trending_explain_ids VALUES ({int(item_id)})")
        stage = inputs.stage_track_inputs if kind == "track" else inputs.stage_playlist_inputs
        bad_rows = stage(plpy, c, guard, inputs.Scope(ids="pg_temp.trending_explain_ids"))
        guard("rules")
        doc = {"kind": kind, "id": int(item_id), "type": strategy.type, "version": strategy.version,
               "time_range": time_range, "now": c.now_text + "+00", "now_source": now_source,
               "source_schema": schema, "strategy_enabled": strategy.enabled,
               "bad_rows": {k: v for k, v in bad_rows.items() if v}}
        found = plpy.execute(f"SELECT * FROM {slices.TABLES[kind]['inputs']} i WHERE i.{id_col} = {int(item_id)}")
        if kind == "track":
            excluded = _track_exclusion(plpy, c, int(item_id)) if not found else None
        else:
            excluded = _playlist_exclusion(plpy, c, int(item_id)) if not found else None
        doc["eligible"] = bool(found)
        doc["excluded_by"] = excluded
        if found:
            doc["inputs"] = {k: _json_value(v) for k, v in dict(found[0]).items()
                             if k not in ("negative_contributors",)}
            doc["karma_contributors"], doc["karma_contributors_total"] = _contributors(
                plpy, c, kind, int(item_id), time_range)
            guard("end")
            doc.update(_formula(plpy, strategy, time_range))
        else:
            guard("end")
            doc["inputs"] = None
            doc["formula"] = None
            doc["computed_score"] = 0.0
            doc["stored_if_computed"] = False
    finally:
        inputs.drop_temp_tables(plpy)
    doc["stored"] = _stored(plpy, strategy, int(item_id), time_range)
    doc["agrees"] = _agrees(doc)
    if found and doc["computed_score"] == 0:
        doc["no_row_because"] = ("the owner has fewer than Y followers: the score is 0, not stored"
                                 if doc["formula"]["owner_below_min_followers"]
                                 else "the score is 0 (a zero factor), not stored")
    return json.dumps(doc)


def _track_exclusion(plpy, c: inputs.Cycle, track_id: int) -> str:
    """The eligibility rule (or bad-row counter) that leaves this track out."""
    row = plpy.execute(f"""
SELECT count(*) AS current_rows,
       bool_and(t.is_delete IS FALSE) AS not_deleted, bool_and(t.is_unlisted IS FALSE) AS listed,
       bool_and(t.stem_of IS NULL) AS not_stem, bool_and(pg_catalog.isfinite(t.created_at)) AS finite
FROM {c.source}.tracks t WHERE t.track_id = {track_id} AND t.is_current IS TRUE""")[0]
    if row["current_rows"] == 0:
        return "no current row: no tracks row with is_current true for this track_id"
    if row["current_rows"] > 1:
        return (f"{row['current_rows']} current rows for this track_id: skipped and counted"
                " (bad row counter duplicate_current_tracks)")
    if not row["not_deleted"]:
        return "is_delete is not false (true or NULL)"
    if not row["listed"]:
        return "is_unlisted is not false (true or NULL)"
    if not row["not_stem"]:
        return "stem_of is not NULL: a stem is not scored"
    if not row["finite"]:
        return "created_at is infinite (bad row counter tracks_created_at_infinite)"
    return "not eligible"


def _playlist_exclusion(plpy, c: inputs.Cycle, playlist_id: int) -> str:
    row = plpy.execute(f"""
SELECT count(*) AS current_rows,
       bool_and(p.is_delete IS FALSE) AS not_deleted, bool_and(p.is_private IS FALSE) AS public,
       bool_and(pg_catalog.jsonb_typeof(p.playlist_contents -> 'track_ids') IS NOT DISTINCT FROM 'array') AS is_array,
       min(CASE WHEN pg_catalog.jsonb_typeof(p.playlist_contents -> 'track_ids') = 'array'
                THEN pg_catalog.jsonb_array_length(p.playlist_contents -> 'track_ids') END) AS entries,
       bool_and(EXISTS (SELECT FROM {c.source}.aggregate_user au WHERE au.user_id = p.playlist_owner_id))
           AS owner_known,
       bool_and(pg_catalog.isfinite(p.created_at)) AS finite
FROM {c.source}.playlists p WHERE p.playlist_id = {playlist_id} AND p.is_current IS TRUE""")[0]
    if row["current_rows"] == 0:
        return "no current row: no playlists row with is_current true for this playlist_id"
    if row["current_rows"] > 1:
        return (f"{row['current_rows']} current rows for this playlist_id: skipped and counted"
                " (bad row counter duplicate_current_playlists)")
    if not row["not_deleted"]:
        return "is_delete is not false (true or NULL)"
    if not row["public"]:
        return "is_private is not false (true or NULL)"
    if not row["is_array"]:
        return ("playlist_contents->'track_ids' is missing or not an array"
                " (bad row counter playlists_track_ids_not_array)")
    if row["entries"] < 3:
        return f"{row['entries']} entries in playlist_contents->'track_ids': fewer than 3"
    if not row["owner_known"]:
        return "the owner has no aggregate_user row"
    if not row["finite"]:
        return "created_at is infinite (bad row counter playlists_created_at_infinite)"
    return "not eligible"


def _contributors(plpy, c: inputs.Cycle, kind: str, item_id: int, time_range: str):
    """The karma's biggest contributors (at most TOP_CONTRIBUTORS) and how many
    there are: per user with a complete profile, follower_count, engagements
    (reposts + saves) and profile rows; contribution = follower_count x
    profile rows x engagements (a negative or missing follower_count adds
    nothing), as the cycle sums it."""
    if kind == "track":
        label, window, current = "track", "true", ""
    else:
        # playlist karma: the range's window (created_at >= start), current users rows only
        label, window, current = "playlist", f"e.created_at >= {c.playlist_starts[time_range]}", \
            "u.is_current IS TRUE AND "
    rows = plpy.execute(f"""
WITH engagements AS (
    SELECT r.user_id, true AS is_repost, r.created_at
    FROM {c.source}.reposts r
    WHERE r.repost_item_id = {item_id}
      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), '{label}')
      AND r.is_current IS TRUE AND r.is_delete IS FALSE
    UNION ALL
    SELECT s.user_id, false, s.created_at
    FROM {c.source}.saves s
    WHERE s.save_item_id = {item_id}
      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), '{label}')
      AND s.is_current IS TRUE AND s.is_delete IS FALSE
), per_user AS (
    SELECT e.user_id, count(*) FILTER (WHERE e.is_repost) AS reposts, count(*) FILTER (WHERE NOT e.is_repost) AS saves
    FROM engagements e WHERE {window}
    GROUP BY e.user_id
), profiles AS (
    SELECT u.user_id, count(*) AS profile_rows
    FROM {c.source}.users u
    WHERE u.user_id IN (SELECT p.user_id FROM per_user p) AND {current}{inputs._COMPLETE_PROFILE}
    GROUP BY u.user_id
), ranked AS (
    SELECT p.user_id, au.follower_count, p.reposts + p.saves AS engagements, p.reposts, p.saves,
           pr.profile_rows,
           CASE WHEN au.follower_count >= 0
                THEN au.follower_count::numeric * pr.profile_rows * (p.reposts + p.saves) ELSE 0 END AS contribution
    FROM per_user p
    JOIN profiles pr ON pr.user_id = p.user_id
    LEFT JOIN {c.source}.aggregate_user au ON au.user_id = p.user_id
)
SELECT r.*, count(*) OVER () AS total FROM ranked r
ORDER BY r.contribution DESC, r.user_id LIMIT {TOP_CONTRIBUTORS}""")
    total = int(rows[0]["total"]) if rows else 0
    return [{k: v for k, v in _row(r).items() if k != "total"} for r in rows], total


def _formula(plpy, strategy: config.Strategy, time_range: str) -> dict:
    """Each term, S, decay, K, the owner gate and the score, evaluated in SQL by
    the cycle's own expressions (formulas.py) over the staged inputs row."""
    num = formulas._num
    i = "i"
    totals = {"R*repost_total": f"{num(formulas.R)} * {i}.repost_total",
              "I*save_total": f"{num(formulas.I)} * {i}.save_total"}
    if strategy.kind == "track":
        score, _filter = formulas.track_score(strategy.version, time_range)
        k = formulas.karma_factor(strategy.version, f"{i}.karma")
        if time_range == "allTime":
            terms = {"N*play_total": f"{num(formulas.N)} * {i}.play_total", **totals}
            decay, window = num(1), None
        else:
            terms = {f"N*listens_{time_range}": f"{num(formulas.N)} * {i}.listens_{time_range}",
                     f"F*reposts_{time_range}": f"{num(formulas.F)} * {i}.reposts_{time_range}",
                     f"O*saves_{time_range}": f"{num(formulas.O)} * {i}.saves_{time_range}", **totals}
            window = formulas.WINDOW_DAYS[time_range]
            decay = formulas.decay(f"{i}.age_days", window)
        k_text = "karma" if strategy.version == "pnagD" else "1 + log10(1 + karma)"
    else:
        score, _filter = formulas.playlist_score(time_range)
        k = f"COALESCE({i}.karma_{time_range}::float8, {num(1)})"
        terms = {"N*1": f"{num(formulas.N)} * 1",
                 f"F*reposts_{time_range}": f"{num(formulas.F)} * {i}.reposts_{time_range}",
                 f"O*saves_{time_range}": f"{num(formulas.O)} * {i}.saves_{time_range}", **totals}
        window = formulas.WINDOW_DAYS[time_range]
        decay = formulas.decay(f"{i}.age_days", window)
        k_text = f"karma_{time_range}, or 1 when NULL"
    columns = [f"({expr})::float8 AS t{n}" for n, expr in enumerate(terms.values())]
    s_expr = " + ".join(f"({expr})" for expr in terms.values())
    row = plpy.execute(f"""
SELECT {', '.join(columns)}, ({s_expr})::float8 AS s, ({decay})::float8 AS decay, ({k})::float8 AS k,
       COALESCE({i}.owner_followers < {formulas.Y}, false) AS gated,
       ({score})::float8 AS score, ({_filter}) AS has_row
FROM {slices.TABLES[strategy.kind]['inputs']} {i}""")[0]  # the one item's row (explain() checked)
    constants = {"N": formulas.N, "F": formulas.F, "O": formulas.O, "R": formulas.R, "I": formulas.I,
                 "Q": formulas.Q, "Y": formulas.Y}
    return {
        "formula": {
            "constants": constants,
            # a list: jsonb keeps the order of arrays, not of object keys
            "terms": [{"term": name, "value": _json_value(row[f"t{n}"])} for n, name in enumerate(terms)],
            "S": _json_value(row["s"]),
            "decay": _json_value(row["decay"]),
            "decay_window_days": window,
            "K": _json_value(row["k"]),
            "K_is": k_text,
            "owner_below_min_followers": bool(row["gated"]),
            "expression": "0 if owner_followers < Y else decay * S * K",
        },
        "computed_score": _json_value(row["score"]) if row["has_row"] else None,
        "stored_if_computed": bool(row["has_row"]) and row["score"] != 0,
        "no_row_because": None if row["has_row"] else (
            "no aggregate_plays row, or its count is NULL (bad row counter null_play_counts): no allTime score"),
    }


def _stored(plpy, strategy: config.Strategy, item_id: int, time_range: str):
    spec = slices.TABLES[strategy.kind]
    genre = ", t.genre" if spec["genre"] else ""
    rows = plpy.execute(plpy.prepare(
        f"SELECT t.score, pg_catalog.to_char(t.created_at, 'YYYY-MM-DD HH24:MI:SS.US') AS created_at{genre}"
        f" FROM {spec['table']} t WHERE t.{spec['id']} = $1 AND t.type = $2 AND t.version = $3"
        f" AND t.time_range = $4", ["integer", "text", "text", "text"]),
        [item_id, strategy.type, strategy.version, time_range])
    return _row(rows[0]) if rows else None


def _agrees(doc: dict) -> bool:
    """The computed score and the stored one agree within REL_TOLERANCE; a zero
    (or absent) score agrees with no stored row."""
    stored = doc["stored"]
    computed = doc.get("computed_score") or 0.0
    if stored is None:
        return computed == 0
    got = float(stored["score"])
    return abs(computed - got) <= REL_TOLERANCE * max(abs(computed), abs(got))
