"""Preview a cycle: the rows a cycle at `now` would insert, update and delete.

trending.preview(now) runs the cycle's own staging (inputs.py, then
slices.stage_changes) as the caller, so what it reports is what the next
cycle at the same `now` would write, and keeps the result in
pg_temp.trending_preview for the SQL wrapper to return. Nothing else is
written: no run row, no score, no cycle lease (a preview runs beside a
cycle; neither waits for the other). The sources and score tables are read
under ACCESS SHARE only, as a cycle reads them.

Ranks are the API's (score DESC, id DESC within the slice), computed as sets
with window functions over each changed slice: old over the stored rows,
new over the stored rows with the changes applied. The stored rows are read
again by the statement that ranks them; should a cycle commit between the
staging and that statement, old values are those it left.
"""

from __future__ import annotations

from . import config, cycle, inputs, slices, sources, validate

RESULT = "pg_temp.trending_preview"


def stage(plpy, now: str) -> int:
    """Build pg_temp.trending_preview for a cycle at `now`; return its row count.
    The cycle's private tables are dropped before and after (also on error)."""
    validate.cycle_inputs(plpy, now)
    plan = cycle.plan(plpy)
    cycle.apply_session_settings(plpy, plan["settings"])
    schema = plan["source_schema"]
    by_kind: dict[str, list] = {"track": [], "playlist": []}
    removed: list = []
    for step in plan["steps"]:
        if "range" not in step:
            continue
        strategy = config.Strategy(step["type"], step["version"], step["kind"], (step["range"],), step["enabled"])
        (by_kind[step["kind"]] if step["enabled"] else removed).append((strategy, step["range"]))

    inputs.drop_temp_table(plpy, "trending_preview")  # one a failed preview in this session left
    plpy.execute("CREATE TEMP TABLE trending_preview (kind text, type text, version text, time_range text,"
                 " id integer, action text, old_score float8, new_score float8, old_rank bigint,"
                 " new_rank bigint, old_genre text, new_genre text)")
    inputs.drop_temp_tables(plpy)  # a failed run earlier in this session may have left them
    try:
        sources.lock_and_check(plpy, schema)
        c = inputs.Cycle.start(plpy, now, schema)
        for kind, enabled in by_kind.items():
            if not enabled:
                continue
            step = cycle.INPUTS[kind]

            # as a cycle's step: check the sources before each read and after the last
            def guard(point: str, step=step) -> None:
                sources.lock_and_check(plpy, schema, step)

            stage_inputs = inputs.stage_track_inputs if kind == "track" else inputs.stage_playlist_inputs
            stage_inputs(plpy, c, guard)
            guard("end")
            slices.stage_changes(plpy, kind, enabled)
            _keep_changes(plpy, kind)
        for strategy, time_range in removed:
            _keep_removal(plpy, strategy, time_range)
    finally:
        inputs.drop_temp_tables(plpy)
    return int(plpy.execute(f"SELECT count(*) AS n FROM {RESULT}")[0]["n"])


def _keep_changes(plpy, kind: str) -> None:
    """The kind's staged changes, with both scores and both ranks, into the result."""
    spec = slices.TABLES[kind]
    table, id_col = spec["table"], spec["id"]
    changes = slices.changes_table(kind)
    new_genre, old_genre = ("c.genre", "t.genre::text") if spec["genre"] else ("NULL::text", "NULL::text")
    slice_ = "type, version, time_range"
    plpy.execute(f"""
WITH ch AS (
    SELECT c.type, c.version, c.time_range, c.stored_id, c.id AS new_id, c.score AS new_score,
           {new_genre} AS new_genre
    FROM {changes} c
), touched AS (
    SELECT DISTINCT {slice_} FROM ch
), stored AS (
    SELECT t.{id_col} AS id, t.type::text AS type, t.version::text AS version,
           t.time_range::text AS time_range, t.score, {old_genre} AS genre
    FROM {table} t
    WHERE (t.type, t.version, t.time_range) IN (SELECT s.type, s.version, s.time_range FROM touched s)
), old_ranked AS (
    SELECT s.*, pg_catalog.row_number() OVER (PARTITION BY {slice_} ORDER BY s.score DESC, s.id DESC) AS rank
    FROM stored s
), new_slice AS (
    SELECT s.id, s.type, s.version, s.time_range, s.score FROM stored s
    WHERE NOT EXISTS (SELECT FROM ch WHERE ch.stored_id = s.id AND ch.type = s.type
                                       AND ch.version = s.version AND ch.time_range = s.time_range)
    UNION ALL
    SELECT ch.new_id, ch.type, ch.version, ch.time_range, ch.new_score FROM ch WHERE ch.new_id IS NOT NULL
), new_ranked AS (
    SELECT n.*, pg_catalog.row_number() OVER (PARTITION BY {slice_} ORDER BY n.score DESC, n.id DESC) AS rank
    FROM new_slice n
)
INSERT INTO {RESULT}
SELECT {plpy.quote_literal(kind)}, ch.type, ch.version, ch.time_range, COALESCE(ch.new_id, ch.stored_id),
       CASE WHEN ch.stored_id IS NULL THEN 'insert' WHEN ch.new_id IS NULL THEN 'delete' ELSE 'update' END,
       o.score, ch.new_score, o.rank, n.rank, o.genre, ch.new_genre
FROM ch
LEFT JOIN old_ranked o ON o.id = ch.stored_id AND o.type = ch.type AND o.version = ch.version
                      AND o.time_range = ch.time_range
LEFT JOIN new_ranked n ON n.id = ch.new_id AND n.type = ch.type AND n.version = ch.version
                      AND n.time_range = ch.time_range""")


def _keep_removal(plpy, strategy: config.Strategy, time_range: str) -> None:
    """A switched-off strategy's slice: the cycle deletes every stored row."""
    spec = slices.TABLES[strategy.kind]
    genre = "t.genre::text" if spec["genre"] else "NULL::text"
    plpy.execute(plpy.prepare(f"""
INSERT INTO {RESULT}
SELECT $1, t.type, t.version, t.time_range, t.{spec['id']}, 'delete', t.score, NULL,
       pg_catalog.row_number() OVER (ORDER BY t.score DESC, t.{spec['id']} DESC), NULL, {genre}, NULL
FROM {spec['table']} t
WHERE t.type = $2 AND t.version = $3 AND t.time_range = $4""", ["text", "text", "text", "text"]),
                 [strategy.kind, strategy.type, strategy.version, time_range])
