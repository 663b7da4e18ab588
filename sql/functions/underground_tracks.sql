-------------------------------------------------------------------------------
-- underground_tracks
-- "Underground" trending (SPEC.md): the TRACKS/pnagD list of a range/genre
-- without its overall top 20, keeping tracks whose owner has an
-- aggregate_user row with fewer than 1500 followers and 1500 followings.
-- The owner lives in the source schema (a setting), hence dynamic SQL; the
-- scan still walks the ranking index in order and stops at the limit.
CREATE FUNCTION trending.underground_tracks(
    time_range text    DEFAULT 'week',
    genre      text    DEFAULT NULL,
    lim        integer DEFAULT 100,
    off        integer DEFAULT 0)
RETURNS SETOF trending.ranked_track
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_source text;
    v_genre_filter text := '';
BEGIN
    PERFORM trending._validate_choice('time_range', underground_tracks.time_range,
        (SELECT d.time_ranges FROM trending._strategy_defaults d
         WHERE d.type = 'TRACKS' AND d.version = 'pnagD'));
    PERFORM trending._validate_page(underground_tracks.lim, underground_tracks.off);

    SELECT s.value INTO v_source FROM trending.settings s WHERE s.name = 'source_schema';
    IF COALESCE(underground_tracks.genre, '') <> '' THEN
        v_genre_filter := 'AND s.genre = $2';
    END IF;

    RETURN QUERY EXECUTE format($query$
        SELECT row_number() OVER (ORDER BY c.score DESC, c.track_id DESC), c.track_id, c.score, c.genre
        FROM (
            SELECT s.track_id, s.score, s.genre
            FROM trending.track_trending_scores s
            WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = $1 %1$s
            ORDER BY s.score DESC, s.track_id DESC
            OFFSET 20
        ) AS c
        WHERE EXISTS (
            SELECT FROM %2$I.tracks t
            JOIN %2$I.aggregate_user au ON au.user_id = t.owner_id
            WHERE t.track_id = c.track_id AND t.is_current IS TRUE
              AND au.follower_count < 1500 AND au.following_count < 1500)
        ORDER BY c.score DESC, c.track_id DESC
        LIMIT $3 OFFSET $4
        $query$, v_genre_filter, v_source)
    USING underground_tracks.time_range, underground_tracks.genre,
          underground_tracks.lim, underground_tracks.off;
END;
$function$;
