"""Every contender must end every phase with the extension's scores.

Compared per score table with one FULL JOIN on the key in the reference's
database: rows missing or extra, scores outside a relative 1e-9, genres that
differ. Zero-score rows of a contender that stores zeros (A, B, C) are
ignored; a zero-score row anywhere else is an error (docs/reference.md: zeros are not
stored). A contender in another database is first copied into temp tables.
"""

from __future__ import annotations

from psycopg import sql

TOLERANCE = 1e-9
SAMPLES = 5

_TABLES = (
    # (attribute, key id column, has genre)
    ("track_table", "track_id", True),
    ("playlist_table", "playlist_id", False),
)

_COMPARE = """
WITH r AS (SELECT {id} AS id, type, version, time_range, score, {genre} AS genre FROM {ref}),
     c AS (SELECT {id} AS id, type, version, time_range, score, {genre} AS genre FROM {cand}
           WHERE score <> 0),
     j AS (SELECT r.id AS r_id, c.id AS c_id, coalesce(r.id, c.id) AS id,
                  coalesce(r.type, c.type) AS type, coalesce(r.version, c.version) AS version,
                  coalesce(r.time_range, c.time_range) AS time_range,
                  r.score AS r_score, c.score AS c_score, r.genre AS r_genre, c.genre AS c_genre,
                  CASE WHEN c.id IS NULL THEN 'missing'
                       WHEN r.id IS NULL THEN 'extra'
                       WHEN abs(r.score - c.score) > {tol} * greatest(abs(r.score), abs(c.score)) THEN 'score'
                       WHEN r.genre IS DISTINCT FROM c.genre THEN 'genre'
                  END AS problem
           FROM r FULL JOIN c ON c.id = r.id AND c.type = r.type AND c.version = r.version
                              AND c.time_range = r.time_range)
SELECT problem, count(*), (array_agg(json_build_object(
           'id', id, 'type', type, 'version', version, 'time_range', time_range,
           'extension', r_score, 'contender', c_score, 'extension_genre', r_genre,
           'contender_genre', c_genre) ORDER BY type, version, time_range, id))[1:{samples}]
FROM j WHERE problem IS NOT NULL GROUP BY problem
"""


def compare(ref_conn, reference, cand_conn, candidate) -> dict:
    """Compare `candidate`'s score tables with `reference`'s. Returns
    {"ok", "rows", "problems": {kind: count}, "samples": [...],
     "zero_rows": {...}}; ok is False on any difference."""
    result = {"ok": True, "rows": {}, "problems": {}, "samples": [], "zero_rows": {}}
    for attribute, id_col, has_genre in _TABLES:
        ref_table = getattr(reference, attribute)
        cand_table = _local_copy(ref_conn, cand_conn, getattr(candidate, attribute)) \
            if cand_conn is not ref_conn else getattr(candidate, attribute)
        query = sql.SQL(_COMPARE).format(
            id=sql.Identifier(id_col), genre=sql.SQL("genre" if has_genre else "NULL::varchar"),
            ref=ref_table, cand=cand_table,
            tol=sql.Literal(TOLERANCE), samples=sql.Literal(SAMPLES))
        kind = "tracks" if has_genre else "playlists"
        for problem, count, samples in ref_conn.execute(query).fetchall():
            result["problems"][f"{kind}_{problem}"] = count
            result["samples"].extend(samples or [])
        result["rows"][kind] = _count(ref_conn, ref_table, "score <> 0")
        result["zero_rows"][kind] = _count(ref_conn, cand_table, "score = 0")
        reference_zeros = _count(ref_conn, ref_table, "score = 0")
        if reference_zeros:
            result["problems"][f"{kind}_zero_rows_in_extension"] = reference_zeros
        if result["zero_rows"][kind] and not candidate.store_zeros:
            result["problems"][f"{kind}_zero_rows"] = result["zero_rows"][kind]
    result["ok"] = not result["problems"]
    return result


def _count(conn, table, condition: str) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, sql.SQL(condition))).fetchone()[0]


def _local_copy(ref_conn, cand_conn, table) -> sql.Identifier:
    """Copy a score table of another database into a temp table of ref_conn
    (COPY out, COPY in, streamed)."""
    name = "bench_copy_" + table.as_string(ref_conn).replace('"', "").replace(".", "_")
    target = sql.Identifier(name)
    ref_conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(target))
    cur = cand_conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(table))
    columns = [d.name for d in cur.description]
    types = [row[0] for row in cand_conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (table.as_string(cand_conn),)).fetchall()]
    ref_conn.execute(sql.SQL("CREATE TEMP TABLE {} ({})").format(target, sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in zip(columns, types))))
    with cand_conn.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(table)) as source, \
            ref_conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(target)) as sink:
        for block in source:
            sink.write(block)
    return target
