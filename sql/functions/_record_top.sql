-------------------------------------------------------------------------------
-- _record_top
-- At the end of the caller's own successful run (its last step, before
-- runs.finish): record the top p_top_n of every list the API reads in
-- trending.movers_top and keep only the previous generation besides it, so
-- the table stays bounded (2 x lists x N rows). One top-N scan of a ranking
-- index per list, no loop over rows. Genres: the p_max_genres genres with
-- the most scored tracks in each range, counted when p_recount_genres (full
-- and reconciling cycles: it reads the whole slice); an incremental cycle
-- keeps the previous run's genres.
-- SECURITY DEFINER (roles that run cycles have no write privilege on the
-- table); checks the run is the caller's own first.
--
-- Returns {"previous_run_id", "lists", "rows", "entries"}: entries counts the
-- ids new to a list's top N over the lists recorded in both generations
-- (the total the NOTIFY carries; movers() has the detail).
CREATE FUNCTION trending._record_top(p_run_id bigint, p_top_n integer, p_max_genres integer,
                                     p_recount_genres boolean)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET plan_cache_mode = force_custom_plan  -- a generic plan cannot see the LIMIT: it might sort a whole slice
AS $function$
DECLARE
    v_as_of timestamptz;
    v_previous bigint;
    v_list record;
    v_count bigint;
    v_rows bigint := 0;
    v_lists bigint := 0;
    v_entries bigint;
    v_wal_compression text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    v_wal_compression := trending._wal_compress();
    PERFORM trending._validate_setting('movers_top_n', p_top_n::text);
    PERFORM trending._validate_setting('movers_max_genres', p_max_genres::text);
    SELECT r.cycle_now INTO v_as_of FROM trending.runs r WHERE r.run_id = p_run_id;
    -- the last generation recorded before this run becomes the previous one;
    -- anything older (and this run's own rows, were it called twice) goes
    SELECT pg_catalog.max(m.run_id) INTO v_previous FROM trending.movers_top m WHERE m.run_id <> p_run_id;
    DELETE FROM trending.movers_top m WHERE m.run_id IS DISTINCT FROM v_previous;

    -- One statement per list, each a top-N scan of a ranking index (a
    -- loop over the lists, at most 3 x (1 + movers_max_genres) + 3 of
    -- them, never over rows): one statement for all lists would join the
    -- lists to the scores in a nested loop. The genres with the most scored
    -- tracks per range come from one aggregate over the TRACKS/pnagD rows.
    FOR v_list IN
        SELECT 'track'::text AS kind, r.time_range, ''::text AS genre
        FROM trending._strategy_defaults d, pg_catalog.unnest(d.time_ranges) AS r(time_range)
        WHERE d.type = 'TRACKS' AND d.version = 'pnagD'
        UNION ALL
        SELECT 'track', g.time_range, g.genre
        FROM (SELECT s.time_range::text AS time_range, s.genre::text AS genre,
                     pg_catalog.row_number() OVER (PARTITION BY s.time_range
                                                   ORDER BY pg_catalog.count(*) DESC, s.genre) AS place
              FROM trending.track_trending_scores s
              WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.genre <> ''
                AND (p_recount_genres OR v_previous IS NULL)
              GROUP BY s.time_range, s.genre) g
        WHERE g.place <= p_max_genres
        UNION ALL
        -- an incremental cycle reads no whole slice: it keeps the previous run's genres
        SELECT DISTINCT 'track', m.time_range, m.genre
        FROM trending.movers_top m
        WHERE NOT p_recount_genres AND m.run_id = v_previous AND m.kind = 'track' AND m.genre <> ''
        UNION ALL
        SELECT 'playlist', r.time_range, ''
        FROM trending._strategy_defaults d, pg_catalog.unnest(d.time_ranges) AS r(time_range)
        WHERE d.type = 'PLAYLISTS' AND d.version = 'pnagD'
    LOOP
        IF v_list.kind = 'playlist' THEN
            INSERT INTO trending.movers_top (run_id, as_of, kind, time_range, genre, rank, id, score)
            SELECT p_run_id, v_as_of, 'playlist', v_list.time_range, '',
                   pg_catalog.row_number() OVER (ORDER BY s.score DESC, s.playlist_id DESC), s.playlist_id, s.score
            FROM trending.playlist_trending_scores s
            WHERE s.type = 'PLAYLISTS' AND s.version = 'pnagD' AND s.time_range = v_list.time_range
            ORDER BY s.score DESC, s.playlist_id DESC
            LIMIT p_top_n;
        ELSIF v_list.genre = '' THEN
            INSERT INTO trending.movers_top (run_id, as_of, kind, time_range, genre, rank, id, score)
            SELECT p_run_id, v_as_of, 'track', v_list.time_range, '',
                   pg_catalog.row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score
            FROM trending.track_trending_scores s
            WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = v_list.time_range
            ORDER BY s.score DESC, s.track_id DESC
            LIMIT p_top_n;
        ELSE
            INSERT INTO trending.movers_top (run_id, as_of, kind, time_range, genre, rank, id, score)
            SELECT p_run_id, v_as_of, 'track', v_list.time_range, v_list.genre,
                   pg_catalog.row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score
            FROM trending.track_trending_scores s
            WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = v_list.time_range
              AND s.genre = v_list.genre
            ORDER BY s.score DESC, s.track_id DESC
            LIMIT p_top_n;
        END IF;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        v_rows := v_rows + v_count;
        v_lists := v_lists + (v_count > 0)::integer;
    END LOOP;

    -- entries: in a list's new top N, not in its previous one, over the
    -- lists recorded in both generations; one aggregate over the table
    SELECT pg_catalog.count(*) FILTER (WHERE x.is_new AND NOT x.was AND x.list_was) INTO v_entries
    FROM (SELECT pg_catalog.bool_or(m.run_id = p_run_id) AS is_new, pg_catalog.bool_or(m.run_id = v_previous) AS was,
                 pg_catalog.bool_or(pg_catalog.bool_or(m.run_id = v_previous))
                     OVER (PARTITION BY m.kind, m.time_range, m.genre) AS list_was
          FROM trending.movers_top m
          GROUP BY m.kind, m.time_range, m.genre, m.id) x;
    PERFORM trending._wal_compress(v_wal_compression);
    RETURN pg_catalog.jsonb_build_object('previous_run_id', v_previous, 'lists', v_lists, 'rows', v_rows,
                                         'entries', v_entries);
END;
$function$;
