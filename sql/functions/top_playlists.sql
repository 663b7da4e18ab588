-------------------------------------------------------------------------------
-- top_playlists
-- Trending playlists of one range (PLAYLISTS/pnagD), by score then id, as a
-- top-N scan of the ranking index. rank is the absolute position.
CREATE FUNCTION trending.top_playlists(
    time_range text    DEFAULT 'week',
    lim        integer DEFAULT 30,
    off        integer DEFAULT 0)
RETURNS SETOF trending.ranked_playlist
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $function$
BEGIN
    PERFORM trending._validate_choice('time_range', top_playlists.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'PLAYLISTS' AND d.version = 'pnagD'));
    PERFORM trending._validate_page(top_playlists.lim, top_playlists.off);

    RETURN QUERY
    SELECT row_number() OVER (ORDER BY s.score DESC, s.playlist_id DESC), s.playlist_id, s.score
    FROM trending.playlist_trending_scores s
    WHERE s.type = 'PLAYLISTS' AND s.version = 'pnagD' AND s.time_range = top_playlists.time_range
    ORDER BY s.score DESC, s.playlist_id DESC
    LIMIT top_playlists.lim OFFSET top_playlists.off;
END;
$function$;
