-------------------------------------------------------------------------------
-- movers
-- Who moved in one list between the previous successful cycle and the last
-- one (trending.movers_top, recorded by _record_top): the entries into the
-- top N (movement 'entry', no previous rank), the exits from it ('exit', no
-- rank) and the climbs ('climb': in both, ranked higher now; climb =
-- previous_rank - rank), with both ranks and scores and the two cycles' now.
-- Entries first by rank, then climbs biggest first, then exits by their
-- previous rank. A list recorded in only one generation (the first cycle, a
-- genre entering the movers_max_genres cap) has no movers yet.
--
-- Lists: kind 'track' is TRACKS/pnagD, overall (genre NULL or '') or for a
-- genre; kind 'playlist' is PLAYLISTS/pnagD (no genre). SECURITY INVOKER: it
-- reads movers_top, which PUBLIC may read like the score tables.
CREATE FUNCTION trending.movers(
    time_range text DEFAULT 'week',
    genre      text DEFAULT NULL,
    kind       text DEFAULT 'track')
RETURNS TABLE(movement text, id integer, previous_rank integer, rank integer, climb integer,
              previous_score double precision, score double precision,
              since timestamptz, as_of timestamptz)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
#variable_conflict use_column
DECLARE
    v_genre text := COALESCE(movers.genre, '');
BEGIN
    PERFORM trending._validate_choice('kind', movers.kind, ARRAY['track', 'playlist']);
    PERFORM trending._validate_choice('time_range', movers.time_range,
        (SELECT d.time_ranges FROM trending._strategy_defaults d
         WHERE d.type = CASE movers.kind WHEN 'track' THEN 'TRACKS' ELSE 'PLAYLISTS' END AND d.version = 'pnagD'));
    IF movers.kind = 'playlist' AND v_genre <> '' THEN
        RAISE EXCEPTION 'trending: playlists have no genre lists'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Call trending.movers(time_range, NULL, ''playlist'').';
    END IF;

    RETURN QUERY
    WITH list AS (
        SELECT m.run_id, m.as_of, m.rank, m.id, m.score
        FROM trending.movers_top m
        WHERE m.kind = movers.kind AND m.time_range = movers.time_range AND m.genre = v_genre
    ), generations AS (  -- the table holds two at most; a list in only one has no movers
        SELECT pg_catalog.min(l.run_id) AS previous, pg_catalog.max(l.run_id) AS last
        FROM list l
        HAVING pg_catalog.min(l.run_id) < pg_catalog.max(l.run_id)
    ), before AS (
        SELECT l.* FROM list l JOIN generations g ON l.run_id = g.previous
    ), after AS (
        SELECT l.* FROM list l JOIN generations g ON l.run_id = g.last
    ), moved AS (
        SELECT CASE WHEN b.id IS NULL THEN 'entry' WHEN a.id IS NULL THEN 'exit' ELSE 'climb' END AS movement,
               COALESCE(a.id, b.id) AS id, b.rank AS previous_rank, a.rank AS rank, b.rank - a.rank AS climb,
               b.score AS previous_score, a.score AS score
        FROM after a
        FULL JOIN before b ON b.id = a.id
        WHERE b.id IS NULL OR a.id IS NULL OR a.rank < b.rank
    )
    SELECT mv.movement, mv.id, mv.previous_rank, mv.rank, mv.climb, mv.previous_score, mv.score,
           (SELECT pg_catalog.min(b.as_of) FROM before b), (SELECT pg_catalog.min(a.as_of) FROM after a)
    FROM moved mv
    ORDER BY CASE mv.movement WHEN 'entry' THEN 1 WHEN 'climb' THEN 2 ELSE 3 END,
             mv.climb DESC NULLS LAST, mv.rank, mv.previous_rank, mv.id;
END;
$function$;
