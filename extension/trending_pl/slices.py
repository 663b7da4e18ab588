"""Score one slice (strategy x time range) and bring its rows up to date.

A slice's new scores are computed as a set from the shared inputs into a
private temp table, analyzed (so the planner sees its real size), then
applied to the score table in one statement that updates the rows whose score
or genre changed, inserts the new ones and deletes the ones that left the
eligible set. Unchanged rows are not touched and keep their created_at.
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
    """Write the staged slice: update changed rows, insert new, delete gone."""
    spec = TABLES[strategy.kind]
    table, id_col = spec["table"], spec["id"]
    in_slice = _slice_filter(plpy, strategy, time_range, "t")
    changed = "t.score IS DISTINCT FROM s.score"
    set_genre = ""
    insert_genre_col = insert_genre_val = ""
    if spec["genre"]:
        changed += " OR t.genre IS DISTINCT FROM s.genre"
        set_genre = ", genre = s.genre"
        insert_genre_col, insert_genre_val = ", genre", ", s.genre"
    row = plpy.execute(f"""
WITH updated AS (
    UPDATE {table} t
    SET score = s.score{set_genre}, created_at = {c.now_utc}
    FROM pg_temp.trending_stage s
    WHERE {in_slice} AND t.{id_col} = s.id AND ({changed})
    RETURNING 1
), inserted AS (
    INSERT INTO {table} ({id_col}, type, version, time_range, score, created_at{insert_genre_col})
    SELECT s.id, {plpy.quote_literal(strategy.type)}, {plpy.quote_literal(strategy.version)},
           {plpy.quote_literal(time_range)}, s.score, {c.now_utc}{insert_genre_val}
    FROM pg_temp.trending_stage s
    WHERE NOT EXISTS (SELECT FROM {table} t WHERE {in_slice} AND t.{id_col} = s.id)
    RETURNING 1
), deleted AS (
    DELETE FROM {table} t
    WHERE {in_slice} AND NOT EXISTS (SELECT FROM pg_temp.trending_stage s WHERE s.id = t.{id_col})
    RETURNING 1
)
SELECT (SELECT count(*) FROM pg_temp.trending_stage) AS staged,
       (SELECT count(*) FROM updated)  AS updated,
       (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(*) FROM deleted)  AS deleted""")[0]
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
