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
score order. Unchanged rows are not touched and keep their created_at. The
write is trending._apply_slice, a SECURITY DEFINER function (roles that run
cycles have no write privilege on the score tables) that checks the run is
the caller's own and that the changes table is a plain temp table.

The changes table outlives the scheduled procedure's commits between steps.
Its ctids are trusted only with care: the stored row's key is kept with its
ctid and an update or delete happens only where both still match, and a
rewrite of the score table (VACUUM FULL, CLUSTER, pg_repack: a new filenode)
since the changes were staged makes the step stage them again first.
"""

from __future__ import annotations

import json
import time

from . import formulas
from .config import Strategy
from .inputs import Cycle, analyze_staging, drop_temp_table, staging_table

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


def stage_changes(plpy, kind: str, slices: list[tuple[Strategy, str]], ids: str | None = None) -> dict[str, int]:
    """Score every enabled slice of `kind` and keep what differs from the stored
    rows in the kind's changes table, and each slice's number of non-zero
    scores in its staged-counts table. One statement: the new scores are
    computed, joined and counted in flight, never written out whole.
    `ids`: a temp table (id bigint) of the items an incremental cycle staged;
    only their stored rows are read (by the primary key) and compared.
    Returns {"staged", "changed"}."""
    spec = TABLES[kind]
    table, id_col = spec["table"], spec["id"]
    changes, counts = changes_table(kind), staged_counts_table(kind)
    genre = ", i.genre" if spec["genre"] else ""
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
    # The stored rows to compare: every row of the slices, or (incremental)
    # the affected items' rows, each item looked up by its id alone, which
    # only the primary key leads with; OFFSET 0 keeps the lookup a
    # parameterized subquery. So no estimate (a score table the cold cycle
    # filled before autovacuum analyzed it looks empty) can turn it into a
    # walk of a whole slice through a ranking index, where the id is no
    # leading key, as `id = ANY (...)` beside the slice keys did.
    in_slices = f"(t.type, t.version, t.time_range) IN ({keys})"
    stored = f"SELECT t.ctid, t.* FROM {table} t WHERE {in_slices}" if ids is None else (
        f"SELECT t.* FROM {ids} a CROSS JOIN LATERAL"
        f" (SELECT t.ctid, t.* FROM {table} t WHERE t.{id_col} = a.id OFFSET 0) AS t WHERE {in_slices}")
    differs = "t.score IS DISTINCT FROM s.score"
    stage_genre = kept_genre = ""
    if spec["genre"]:
        differs += " OR t.genre IS DISTINCT FROM s.genre"
        stage_genre, kept_genre = ", s.genre", ", genre"
    # the changes table is a staging table (the write reads it and checks its
    # columns: sql/functions/_staging_columns.sql, _apply_slice.sql)
    staging_table(plpy, f"trending_{kind}_changes")
    drop_temp_table(plpy, f"trending_{kind}_staged")  # staged again when a slice restages
    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_staged (type text, version text, time_range text, n bigint)")
    plpy.execute(f"""
WITH joined AS MATERIALIZED (
    SELECT t.ctid AS stored_tid, t.{id_col} AS stored_id,
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
    FULL JOIN ({stored}) AS t
           ON t.{id_col} = s.id AND t.type = s.type AND t.version = s.version AND t.time_range = s.time_range
), kept AS (
    INSERT INTO {changes}
    SELECT stored_tid, stored_id, type, version, time_range, id, score{kept_genre} FROM joined WHERE differs
)
INSERT INTO {counts}
SELECT type, version, time_range, count(id) FROM joined GROUP BY type, version, time_range""")
    analyze_staging(plpy, f"trending_{kind}_changes")
    # read under the lock the diff's scan of the score table took, kept to
    # the end of this transaction: the file the staged ctids point into
    row = plpy.execute(f"SELECT (SELECT sum(n) FROM {counts}) AS staged, (SELECT count(*) FROM {changes}) AS changed,"
                       f" pg_catalog.pg_relation_filenode({plpy.quote_literal(table)}::pg_catalog.regclass)"
                       f"::pg_catalog.int8 AS filenode")[0]
    return {"staged": int(row["staged"] or 0), "changed": int(row["changed"]),
            "filenode": None if row["filenode"] is None else int(row["filenode"])}


def apply(plpy, run_id: int, c: Cycle, strategy: Strategy, time_range: str, filenode, restage) -> dict[str, int]:
    """Write one slice's staged changes in one statement (trending._apply_slice);
    its counts and ms. `filenode` is the score table's when the changes were
    staged; `restage()` stages the kind's changes again and returns the new
    one. The write refuses stale ctids: after a rewrite it writes nothing and
    asks for a re-stage; rows no longer at their staged ctid are left alone,
    counted as missed, and re-staged (the second write finds them)."""
    started = time.monotonic()
    counts = staged_counts_table(strategy.kind)
    done = {"inserted": 0, "updated": 0, "deleted": 0}
    plan = plpy.prepare("SELECT trending._apply_slice($1, $2, $3, $4, $5, $6, $7) AS r",
                        ["bigint", "text", "text", "text", "text", "timestamp", "oid"])
    for _attempt in range(3):
        result = json.loads(plpy.execute(plan, [run_id, strategy.kind, strategy.type, strategy.version,
                                                time_range, c.now_text, filenode])[0]["r"])
        if not result.get("restage"):
            for k in done:
                done[k] += int(result[k])
            if int(result["missed"]) == 0:
                break
        filenode = restage()
    else:
        plpy.error(f"trending: the rows of {strategy.key}/{time_range} kept moving while the cycle wrote them",
                   sqlstate="40001", hint="Something other than a cycle is rewriting the score tables; run again.")
    staged = plpy.execute(f"SELECT COALESCE(sum(n), 0) AS staged FROM {counts} c"
                          f" WHERE {_in_slice(plpy, strategy, time_range, 'c')}")[0]["staged"]
    return {"inserted": done["inserted"], "updated": done["updated"], "deleted": done["deleted"],
            "unchanged": int(staged) - done["inserted"] - done["updated"],
            "ms": round((time.monotonic() - started) * 1000, 1)}


def remove(plpy, run_id: int, strategy: Strategy, time_range: str) -> dict[str, int]:
    """A disabled strategy's slice: delete its rows (trending._remove_slice)."""
    started = time.monotonic()
    row = plpy.execute(plpy.prepare("SELECT trending._remove_slice($1, $2, $3, $4, $5) AS n",
                                    ["bigint", "text", "text", "text", "text"]),
                       [run_id, strategy.kind, strategy.type, strategy.version, time_range])[0]
    return {"inserted": 0, "updated": 0, "deleted": int(row["n"]), "unchanged": 0,
            "ms": round((time.monotonic() - started) * 1000, 1)}
