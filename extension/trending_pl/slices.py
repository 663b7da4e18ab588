"""Score one slice (strategy x time range) and bring its rows up to date.

A slice's new scores are computed as a set from the shared inputs into a
private temp table, analyzed (so the planner sees its real size), compared
with the stored slice, and only the differences are written: rows whose score
or genre changed are updated, new ones inserted, the ones that left the
eligible set deleted. Unchanged rows are not touched and keep their created_at.
"""

from __future__ import annotations

import time

from . import formulas
from .config import Strategy
from .inputs import Cycle

# How each kind of strategy is stored: its score table, id column, inputs,
# and whether rows carry a genre.
TABLES = {
    "track": {"table": "trending.track_trending_scores", "id": "track_id",
              "inputs": "pg_temp.trending_track_inputs", "genre": True},
    "playlist": {"table": "trending.playlist_trending_scores", "id": "playlist_id",
                 "inputs": "pg_temp.trending_playlist_inputs", "genre": False},
}


def score_expression(strategy: Strategy, time_range: str) -> tuple[str, str]:
    if strategy.kind == "track":
        return formulas.track_score(strategy.version, time_range)
    return formulas.playlist_score(time_range)


def _slice_filter(plpy, strategy: Strategy, time_range: str, alias: str) -> str:
    return (f"{alias}.type = {plpy.quote_literal(strategy.type)}"
            f" AND {alias}.version = {plpy.quote_literal(strategy.version)}"
            f" AND {alias}.time_range = {plpy.quote_literal(time_range)}")


def stage(plpy, strategy: Strategy, time_range: str) -> None:
    """pg_temp.trending_stage := this slice's non-zero scores."""
    spec = TABLES[strategy.kind]
    expression, row_filter = score_expression(strategy, time_range)
    genre = ", i.genre" if spec["genre"] else ""
    plpy.execute(f"""
CREATE TEMP TABLE trending_stage ON COMMIT DROP AS
SELECT scored.* FROM (
    SELECT i.{spec['id']} AS id{genre}, {expression} AS score
    FROM {spec['inputs']} i
    WHERE {row_filter}
) AS scored
WHERE scored.score <> 0""")
    plpy.execute("ANALYZE pg_temp.trending_stage")


def apply(plpy, c: Cycle, strategy: Strategy, time_range: str) -> dict[str, int]:
    """Write the staged slice: update changed rows, insert new, delete gone.

    First the difference between the stage and the stored slice, as a FULL
    JOIN (hash or merge: a full join cannot be a nested loop, so no estimate
    can make it quadratic), keeping the stored rows' ctids. Then the changes
    are applied by ctid (a TID scan of exactly the rows that change) and the
    new rows inserted: work proportional to what changed, after one pass over
    the slice. New rows go in score order, so the rows that change most
    often (the top of each list) share few pages and a steady cycle dirties
    fewer of them.
    """
    spec = TABLES[strategy.kind]
    table, id_col = spec["table"], spec["id"]
    in_slice = _slice_filter(plpy, strategy, time_range, "t")
    changed = "t.score IS DISTINCT FROM s.score"
    genre_col = set_genre = insert_genre_col = insert_genre_val = ""
    if spec["genre"]:
        changed += " OR t.genre IS DISTINCT FROM s.genre"
        genre_col, set_genre = ", s.genre", ", genre = c.genre"
        insert_genre_col, insert_genre_val = ", genre", ", c.genre"
    plpy.execute(f"""
CREATE TEMP TABLE trending_changes ON COMMIT DROP AS
SELECT t.ctid AS stored_tid, s.id, s.score{genre_col}
FROM pg_temp.trending_stage s
FULL JOIN (SELECT t.ctid, t.* FROM {table} t WHERE {in_slice}) AS t ON t.{id_col} = s.id
WHERE t.{id_col} IS NULL OR s.id IS NULL OR {changed}""")
    row = plpy.execute(f"""
WITH updated AS (
    UPDATE {table} t
    SET score = c.score{set_genre}, created_at = {c.now_utc}
    FROM pg_temp.trending_changes c
    WHERE t.ctid = ANY (ARRAY(SELECT stored_tid FROM pg_temp.trending_changes
                              WHERE stored_tid IS NOT NULL AND id IS NOT NULL))
      AND t.ctid = c.stored_tid
    RETURNING 1
), deleted AS (
    DELETE FROM {table} t
    WHERE t.ctid = ANY (ARRAY(SELECT stored_tid FROM pg_temp.trending_changes WHERE id IS NULL))
    RETURNING 1
), inserted AS (
    INSERT INTO {table} ({id_col}, type, version, time_range, score, created_at{insert_genre_col})
    SELECT c.id, {plpy.quote_literal(strategy.type)}, {plpy.quote_literal(strategy.version)},
           {plpy.quote_literal(time_range)}, c.score, {c.now_utc}{insert_genre_val}
    FROM pg_temp.trending_changes c
    WHERE c.stored_tid IS NULL
    ORDER BY c.score DESC
    RETURNING 1
)
SELECT (SELECT count(*) FROM pg_temp.trending_stage) AS staged,
       (SELECT count(*) FROM updated)  AS updated,
       (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(*) FROM deleted)  AS deleted""")[0]
    plpy.execute("DROP TABLE pg_temp.trending_changes")
    updated, inserted = int(row["updated"]), int(row["inserted"])
    return {"inserted": inserted, "updated": updated, "deleted": int(row["deleted"]),
            "unchanged": int(row["staged"]) - inserted - updated}


def refresh(plpy, c: Cycle, strategy: Strategy, time_range: str) -> dict[str, int]:
    """Stage and apply one slice; the counts plus its milliseconds."""
    started = time.monotonic()
    stage(plpy, strategy, time_range)
    counts = apply(plpy, c, strategy, time_range)
    plpy.execute("DROP TABLE pg_temp.trending_stage")
    counts["ms"] = round((time.monotonic() - started) * 1000, 1)
    return counts


def remove(plpy, strategy: Strategy, time_range: str) -> dict[str, int]:
    """A disabled strategy's slice: delete its rows."""
    started = time.monotonic()
    table = TABLES[strategy.kind]["table"]
    row = plpy.execute(f"""
WITH deleted AS (
    DELETE FROM {table} t WHERE {_slice_filter(plpy, strategy, time_range, "t")} RETURNING 1
)
SELECT count(*) AS n FROM deleted""")[0]
    return {"inserted": 0, "updated": 0, "deleted": int(row["n"]), "unchanged": 0,
            "ms": round((time.monotonic() - started) * 1000, 1)}
