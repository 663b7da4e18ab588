"""Score the slices (strategy x time range) and bring their rows up to date.

Per kind of item (tracks, playlists), once per cycle, the `changes` step:
every enabled slice's new scores are computed as one set and compared with
the stored rows in one FULL JOIN (hash or merge: a full join cannot be a
nested loop, so no estimate makes it quadratic). What differs is kept, with the stored rows' ctids, in
pg_temp.trending_<kind>_changes: rows whose score or genre changed, new rows,
and rows of items that left the eligible set.

Then one step per slice applies that slice's changes in one statement (a
reader sees the slice before or after, never in between): updates and deletes
by ctid (a TID scan of exactly the rows that change), inserts of new rows in
score order. Unchanged rows are not touched and keep their created_at.

The changes table outlives the scheduled procedure's commits between steps;
its ctids stay valid because only a cycle writes the score tables and cycles
hold the cycle lock.
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


def changes_table(kind: str) -> str:
    return f"pg_temp.trending_{kind}_changes"


def staged_counts_table(kind: str) -> str:
    return f"pg_temp.trending_{kind}_staged"


def score_expression(strategy: Strategy, time_range: str) -> tuple[str, str]:
    if strategy.kind == "track":
        return formulas.track_score(strategy.version, time_range)
    return formulas.playlist_score(time_range)


def _slice_key(plpy, strategy: Strategy, time_range: str) -> str:
    """The slice's (type, version, time_range) as a SQL row literal."""
    return (f"({plpy.quote_literal(strategy.type)}, {plpy.quote_literal(strategy.version)},"
            f" {plpy.quote_literal(time_range)})")


def _in_slice(plpy, strategy: Strategy, time_range: str, alias: str) -> str:
    return f"({alias}.type, {alias}.version, {alias}.time_range) = {_slice_key(plpy, strategy, time_range)}"


def stage_changes(plpy, kind: str, slices: list[tuple[Strategy, str]]) -> dict[str, int]:
    """Score every enabled slice of `kind` and keep what differs from the stored
    rows in the kind's changes table, and each slice's number of non-zero
    scores in its staged-counts table. One statement: the new scores are
    computed, joined and counted in flight, never written out whole.
    Returns {"staged", "changed"}."""
    spec = TABLES[kind]
    table, id_col = spec["table"], spec["id"]
    changes, counts = changes_table(kind), staged_counts_table(kind)
    genre, genre_def = (", i.genre", ", genre varchar") if spec["genre"] else ("", "")
    selects = []
    for strategy, time_range in slices:
        expression, row_filter = score_expression(strategy, time_range)
        selects.append(
            f"SELECT i.{id_col} AS id, {plpy.quote_literal(strategy.type)}::text AS type,"
            f" {plpy.quote_literal(strategy.version)}::text AS version,"
            f" {plpy.quote_literal(time_range)}::text AS time_range{genre}, {expression} AS score"
            f" FROM {spec['inputs']} i WHERE {row_filter}")
    union = "\n        UNION ALL\n        ".join(selects)
    keys = ", ".join(_slice_key(plpy, s, r) for s, r in slices)
    differs = "t.score IS DISTINCT FROM s.score"
    stage_genre = kept_genre = ""
    if spec["genre"]:
        differs += " OR t.genre IS DISTINCT FROM s.genre"
        stage_genre, kept_genre = ", s.genre", ", genre"
    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_changes (stored_tid tid, type text, version text,"
                 f" time_range text, id integer, score float8{genre_def})")
    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_staged (type text, version text, time_range text, n bigint)")
    plpy.execute(f"""
WITH joined AS MATERIALIZED (
    SELECT t.ctid AS stored_tid,
           COALESCE(s.type, t.type::text) AS type, COALESCE(s.version, t.version::text) AS version,
           COALESCE(s.time_range, t.time_range::text) AS time_range,
           s.id, s.score{stage_genre},
           t.{id_col} IS NULL OR s.id IS NULL OR {differs} AS differs
    FROM (
        SELECT scored.* FROM (
        {union}
        ) AS scored
        WHERE scored.score <> 0
    ) AS s
    FULL JOIN (SELECT t.ctid, t.* FROM {table} t WHERE (t.type, t.version, t.time_range) IN ({keys})) AS t
           ON t.{id_col} = s.id AND t.type = s.type AND t.version = s.version AND t.time_range = s.time_range
), kept AS (
    INSERT INTO {changes}
    SELECT stored_tid, type, version, time_range, id, score{kept_genre} FROM joined WHERE differs
)
INSERT INTO {counts}
SELECT type, version, time_range, count(id) FROM joined GROUP BY type, version, time_range""")
    plpy.execute(f"ANALYZE {changes}")
    row = plpy.execute(f"SELECT (SELECT sum(n) FROM {counts}) AS staged, (SELECT count(*) FROM {changes}) AS changed")[0]
    return {"staged": int(row["staged"] or 0), "changed": int(row["changed"])}


def apply(plpy, c: Cycle, strategy: Strategy, time_range: str) -> dict[str, int]:
    """Write one slice's staged changes in one statement; its counts and ms."""
    started = time.monotonic()
    spec = TABLES[strategy.kind]
    table, id_col = spec["table"], spec["id"]
    changes, counts = changes_table(strategy.kind), staged_counts_table(strategy.kind)
    mine = _in_slice(plpy, strategy, time_range, "c")
    set_genre = insert_genre_col = insert_genre_val = ""
    if spec["genre"]:
        set_genre = ", genre = c.genre"
        insert_genre_col, insert_genre_val = ", genre", ", c.genre"
    row = plpy.execute(f"""
WITH updated AS (
    UPDATE {table} t
    SET score = c.score{set_genre}, created_at = {c.now_utc}
    FROM {changes} c
    WHERE t.ctid = ANY (ARRAY(SELECT c.stored_tid FROM {changes} c
                              WHERE {mine} AND c.stored_tid IS NOT NULL AND c.id IS NOT NULL))
      AND t.ctid = c.stored_tid
    RETURNING 1
), deleted AS (
    DELETE FROM {table} t
    WHERE t.ctid = ANY (ARRAY(SELECT c.stored_tid FROM {changes} c WHERE {mine} AND c.id IS NULL))
    RETURNING 1
), inserted AS (
    INSERT INTO {table} ({id_col}, type, version, time_range, score, created_at{insert_genre_col})
    SELECT c.id, c.type, c.version, c.time_range, c.score, {c.now_utc}{insert_genre_val}
    FROM {changes} c
    WHERE {mine} AND c.stored_tid IS NULL
    ORDER BY c.score DESC
    RETURNING 1
)
SELECT (SELECT COALESCE(sum(n), 0) FROM {counts} c WHERE {mine}) AS staged,
       (SELECT count(*) FROM updated)  AS updated,
       (SELECT count(*) FROM inserted) AS inserted,
       (SELECT count(*) FROM deleted)  AS deleted""")[0]
    updated, inserted = int(row["updated"]), int(row["inserted"])
    return {"inserted": inserted, "updated": updated, "deleted": int(row["deleted"]),
            "unchanged": int(row["staged"]) - inserted - updated,
            "ms": round((time.monotonic() - started) * 1000, 1)}


def remove(plpy, strategy: Strategy, time_range: str) -> dict[str, int]:
    """A disabled strategy's slice: delete its rows."""
    started = time.monotonic()
    table = TABLES[strategy.kind]["table"]
    row = plpy.execute(f"""
WITH deleted AS (
    DELETE FROM {table} t WHERE {_in_slice(plpy, strategy, time_range, "t")} RETURNING 1
)
SELECT count(*) AS n FROM deleted""")[0]
    return {"inserted": 0, "updated": 0, "deleted": int(row["n"]), "unchanged": 0,
            "ms": round((time.monotonic() - started) * 1000, 1)}
