-------------------------------------------------------------------------------
-- top_tracks
-- The API's hot read: trending tracks of one range, overall or for a genre,
-- as a top-N scan of a ranking index (no Sort). rank is the absolute
-- position, so page 2 starts at off + 1.
--
-- plan_cache_mode: a generic plan cannot see the limit and may prefer a
-- sort of the whole slice; a custom plan is cheap here and always right.
CREATE FUNCTION trending.top_tracks(
    time_range text    DEFAULT 'week',
    genre      text    DEFAULT NULL,
    lim        integer DEFAULT 100,
    off        integer DEFAULT 0,
    version    text    DEFAULT 'pnagD')
RETURNS SETOF trending.ranked_track
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
BEGIN
    PERFORM trending._validate_choice('time_range', top_tracks.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'TRACKS' AND d.version = 'pnagD'));
    PERFORM trending._validate_choice('version', top_tracks.version,
        ARRAY(SELECT d.version FROM trending.strategies d
              WHERE d.type = 'TRACKS' ORDER BY d.version DESC));
    PERFORM trending._validate_page(top_tracks.lim, top_tracks.off);

    IF COALESCE(top_tracks.genre, '') = '' THEN
        RETURN QUERY
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = top_tracks.version AND s.time_range = top_tracks.time_range
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT top_tracks.lim OFFSET top_tracks.off;
    ELSE
        RETURN QUERY
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = top_tracks.version AND s.time_range = top_tracks.time_range
          AND s.genre = top_tracks.genre
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT top_tracks.lim OFFSET top_tracks.off;
    END IF;
END;
$function$;
