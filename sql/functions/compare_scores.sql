-------------------------------------------------------------------------------
-- compare_scores
-- The evidence before a switch-over: a legacy score table (the service's
-- own, or any relation with its columns) against trending's, per slice
-- (type, version, time_range): rows on one side only, scores differing
-- beyond a relative tolerance, genres differing, and how the top N of each
-- side overlap (the API's order: score DESC, id DESC).
--
-- Zero scores: trending stores none (they are never trending), the upstream
-- stored them until its latest version. A legacy zero-score row is therefore
-- counted apart (legacy_zero_rows) and left out of every other figure.
--
-- SECURITY INVOKER: the caller reads the legacy relation with its own
-- privileges (and runs whatever that relation runs: name a table you trust).
-- The relation is a parameter, so the query is dynamic; every name in it
-- is quoted or schema-qualified, and it is one set-based statement.
CREATE FUNCTION trending.compare_scores(
    legacy    regclass,
    kind      text             DEFAULT 'track',
    tolerance double precision DEFAULT 1e-9,
    top_n     integer          DEFAULT 100)
RETURNS TABLE (
    type              text,
    version           text,
    time_range        text,
    trending_enabled  boolean,
    legacy_rows       bigint,
    trending_rows     bigint,
    legacy_zero_rows  bigint,
    only_legacy       bigint,
    only_trending     bigint,
    score_differs     bigint,
    max_relative_diff double precision,
    genre_differs     bigint,
    top_compared      bigint,
    top_overlap       bigint,
    top_same_order    boolean)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_id       text;
    v_mine     regclass;
    v_genre    boolean;
    v_missing  text[];
BEGIN
    PERFORM trending._validate_choice('kind', compare_scores.kind, ARRAY['track', 'playlist']);
    IF compare_scores.legacy IS NULL THEN
        RAISE EXCEPTION 'legacy must name a relation'
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'For example trending.compare_scores(''public.track_trending_scores'').';
    END IF;
    IF compare_scores.tolerance IS NULL OR NOT (compare_scores.tolerance >= 0 AND compare_scores.tolerance < 1) THEN
        RAISE EXCEPTION 'invalid tolerance %: a relative difference in [0, 1)',
              COALESCE(compare_scores.tolerance::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF compare_scores.top_n IS NULL OR compare_scores.top_n < 1 THEN
        RAISE EXCEPTION 'invalid top_n %: at least 1', COALESCE(compare_scores.top_n::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF compare_scores.kind = 'track' THEN
        v_id := 'track_id';
        v_mine := 'trending.track_trending_scores'::regclass;
    ELSE
        v_id := 'playlist_id';
        v_mine := 'trending.playlist_trending_scores'::regclass;
    END IF;
    IF compare_scores.legacy = v_mine THEN
        RAISE EXCEPTION 'legacy is trending''s own score table %', v_mine
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Name the service''s old table, e.g. public.'
                           || pg_catalog.split_part(v_mine::text, '.', 2) || '.';
    END IF;

    SELECT pg_catalog.array_agg(w.col ORDER BY w.ord)
      INTO v_missing
      FROM pg_catalog.unnest(ARRAY[v_id, 'type', 'version', 'time_range', 'score']) WITH ORDINALITY AS w(col, ord)
     WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = compare_scores.legacy AND a.attname = w.col
                         AND a.attnum > 0 AND NOT a.attisdropped);
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'relation % lacks the column(s) % of a % score table', compare_scores.legacy,
              pg_catalog.array_to_string(v_missing, ', '), compare_scores.kind
              USING ERRCODE = 'undefined_column',
                    HINT = 'The legacy relation needs ' || v_id || ', type, version, time_range and score '
                           '(genre optional); for the other kind pass kind => '
                           || CASE WHEN compare_scores.kind = 'track' THEN '''playlist''' ELSE '''track''' END || '.';
    END IF;
    v_genre := compare_scores.kind = 'track' AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = compare_scores.legacy AND a.attname = 'genre' AND a.attnum > 0 AND NOT a.attisdropped);

    -- One statement: both sides normalized to (slice, id, score, genre), a
    -- FULL JOIN on the key for the row figures, and the top N of each side
    -- FULL JOINed on the id for the overlap.
    RETURN QUERY EXECUTE pg_catalog.format($q$
WITH legacy_all AS (
    SELECT x.%1$I::pg_catalog.int8 AS id, x.type::pg_catalog.text AS type, x.version::pg_catalog.text AS version,
           x.time_range::pg_catalog.text AS time_range, x.score::pg_catalog.float8 AS score,
           %3$s AS genre
    FROM %2$s x),
legacy AS (
    SELECT * FROM legacy_all l WHERE l.score IS DISTINCT FROM 0::pg_catalog.float8),
mine AS (
    SELECT s.%1$I::pg_catalog.int8 AS id, s.type::pg_catalog.text AS type, s.version::pg_catalog.text AS version,
           s.time_range::pg_catalog.text AS time_range, s.score AS score, %4$s AS genre
    FROM %5$s s),
joined AS (
    SELECT COALESCE(l.type, m.type) AS type, COALESCE(l.version, m.version) AS version,
           COALESCE(l.time_range, m.time_range) AS time_range,
           l.id AS l_id, m.id AS m_id, l.score AS l_score, m.score AS m_score, l.genre AS l_genre, m.genre AS m_genre,
           pg_catalog.abs(l.score - m.score)
               / NULLIF(GREATEST(pg_catalog.abs(l.score), pg_catalog.abs(m.score)), 0::pg_catalog.float8) AS rel
    FROM legacy l
    FULL JOIN mine m ON m.id = l.id AND m.type = l.type AND m.version = l.version AND m.time_range = l.time_range),
per_slice AS (
    SELECT j.type, j.version, j.time_range,
           pg_catalog.count(j.l_id) AS legacy_rows,
           pg_catalog.count(j.m_id) AS trending_rows,
           pg_catalog.count(*) FILTER (WHERE j.m_id IS NULL) AS only_legacy,
           pg_catalog.count(*) FILTER (WHERE j.l_id IS NULL) AS only_trending,
           pg_catalog.count(*) FILTER (WHERE j.l_id IS NOT NULL AND j.m_id IS NOT NULL
                                         AND j.l_score IS DISTINCT FROM j.m_score
                                         AND NOT COALESCE(j.rel <= $1, false)) AS score_differs,
           pg_catalog.max(COALESCE(j.rel, 0::pg_catalog.float8))
               FILTER (WHERE j.l_id IS NOT NULL AND j.m_id IS NOT NULL) AS max_relative_diff,
           CASE WHEN %6$s THEN pg_catalog.count(*) FILTER (WHERE j.l_id IS NOT NULL AND j.m_id IS NOT NULL
                                                        AND j.l_genre IS DISTINCT FROM j.m_genre) END AS genre_differs
    FROM joined j
    GROUP BY j.type, j.version, j.time_range),
zeros AS (
    SELECT z.type, z.version, z.time_range, pg_catalog.count(*) AS legacy_zero_rows
    FROM legacy_all z WHERE z.score = 0::pg_catalog.float8
    GROUP BY z.type, z.version, z.time_range),
legacy_top AS (
    SELECT r.* FROM (SELECT l.type, l.version, l.time_range, l.id,
                            pg_catalog.row_number() OVER (PARTITION BY l.type, l.version, l.time_range
                                                          ORDER BY l.score DESC NULLS LAST, l.id DESC) AS rank
                     FROM legacy l) r
    WHERE r.rank <= $2),
mine_top AS (
    SELECT r.* FROM (SELECT m.type, m.version, m.time_range, m.id,
                            pg_catalog.row_number() OVER (PARTITION BY m.type, m.version, m.time_range
                                                          ORDER BY m.score DESC, m.id DESC) AS rank
                     FROM mine m) r
    WHERE r.rank <= $2),
tops AS (
    SELECT COALESCE(a.type, b.type) AS type, COALESCE(a.version, b.version) AS version,
           COALESCE(a.time_range, b.time_range) AS time_range,
           GREATEST(pg_catalog.count(a.id), pg_catalog.count(b.id)) AS top_compared,
           pg_catalog.count(*) FILTER (WHERE a.id IS NOT NULL AND b.id IS NOT NULL) AS top_overlap,
           pg_catalog.bool_and(a.rank IS NOT DISTINCT FROM b.rank) AS top_same_order
    FROM legacy_top a
    FULL JOIN mine_top b ON b.type = a.type AND b.version = a.version AND b.time_range = a.time_range AND b.id = a.id
    GROUP BY 1, 2, 3),
slices AS (
    SELECT r.type, r.version, r.time_range FROM per_slice r
    UNION
    SELECT z.type, z.version, z.time_range FROM zeros z)
SELECT s.type, s.version, s.time_range,
       COALESCE((SELECT st.enabled AND s.time_range = ANY (st.time_ranges)
                 FROM trending.strategies st
                 WHERE st.type = s.type AND st.version = s.version AND st.kind = %7$L), false),
       COALESCE(r.legacy_rows, 0), COALESCE(r.trending_rows, 0), COALESCE(z.legacy_zero_rows, 0),
       COALESCE(r.only_legacy, 0), COALESCE(r.only_trending, 0), COALESCE(r.score_differs, 0),
       r.max_relative_diff, CASE WHEN %6$s THEN COALESCE(r.genre_differs, 0) END,
       COALESCE(t.top_compared, 0), COALESCE(t.top_overlap, 0), COALESCE(t.top_same_order, true)
FROM slices s
LEFT JOIN per_slice r ON r.type = s.type AND r.version = s.version AND r.time_range = s.time_range
LEFT JOIN zeros z ON z.type = s.type AND z.version = s.version AND z.time_range = s.time_range
LEFT JOIN tops t ON t.type = s.type AND t.version = s.version AND t.time_range = s.time_range
ORDER BY s.type, s.version, s.time_range
$q$,
        v_id,                                                        -- %1$I the id column
        compare_scores.legacy,                                       -- %2$s the legacy relation
        CASE WHEN v_genre THEN 'x.genre::pg_catalog.text' ELSE 'NULL::pg_catalog.text' END,   -- %3$s
        CASE WHEN compare_scores.kind = 'track' THEN 's.genre::pg_catalog.text'
             ELSE 'NULL::pg_catalog.text' END,                       -- %4$s
        v_mine,                                                      -- %5$s trending's table
        v_genre::pg_catalog.text,                                    -- %6$s
        compare_scores.kind)                                         -- %7$L
    USING compare_scores.tolerance, compare_scores.top_n::pg_catalog.int8;
END;
$function$;
