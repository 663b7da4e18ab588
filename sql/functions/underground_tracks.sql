-------------------------------------------------------------------------------
-- underground_tracks
-- "Underground" trending (docs/reference.md): the TRACKS/pnagD list of a range/genre
-- without its overall top 20, keeping tracks whose owner has an
-- aggregate_user row with fewer than 1500 followers and 1500 followings.
--
-- First find the 20th entry (a top-20 index scan), then read on from just
-- after it: one query level with the LIMIT in sight, so the planner walks the
-- ranking index in order and stops, whatever the owner filter's selectivity.
-- The owners live in the source schema (a setting), hence dynamic SQL; that
-- schema's tables are checked first, as a cycle checks them (_check_sources).
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
SET plan_cache_mode = force_custom_plan
AS $function$
DECLARE
    v_source    text;
    v_genre     text := NULLIF(underground_tracks.genre, '');
    v_cut_score double precision;
    v_cut_id    integer;
    v_problems  text;
    v_sqlstate  text;
BEGIN
    PERFORM trending._validate_choice('time_range', underground_tracks.time_range,
        (SELECT d.time_ranges FROM trending.strategies d
         WHERE d.type = 'TRACKS' AND d.version = 'pnagD'));
    PERFORM trending._validate_page(underground_tracks.lim, underground_tracks.off);

    SELECT s.score, s.track_id INTO v_cut_score, v_cut_id
    FROM trending.track_trending_scores s
    WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = underground_tracks.time_range
      AND (v_genre IS NULL OR s.genre = v_genre)
    ORDER BY s.score DESC, s.track_id DESC
    OFFSET 19 LIMIT 1;
    IF NOT FOUND THEN
        RETURN;  -- 20 tracks or fewer: nothing below the top 20
    END IF;

    SELECT s.value INTO v_source FROM trending.settings s WHERE s.name = 'source_schema';
    -- The two source tables belong to another role and this runs as the
    -- caller: lock and check them as a cycle does (docs/security.md). The
    -- columns are those the query below reads, with sources.py's types.
    SELECT pg_catalog.string_agg(c.problem, '; '),
           (pg_catalog.array_agg(c.sqlstate ORDER BY c.severity))[1]
      INTO v_problems, v_sqlstate
      FROM trending._check_sources(v_source, $spec$[
          {"table": "tracks", "column": "track_id", "types": ["int2", "int4", "int8"]},
          {"table": "tracks", "column": "owner_id", "types": ["int2", "int4", "int8"]},
          {"table": "tracks", "column": "is_current", "types": ["bool"]},
          {"table": "aggregate_user", "column": "user_id", "types": ["int2", "int4", "int8"]},
          {"table": "aggregate_user", "column": "follower_count", "types": ["int2", "int4", "int8"]},
          {"table": "aggregate_user", "column": "following_count", "types": ["int2", "int4", "int8"]}
          ]$spec$::pg_catalog.jsonb) c;
    IF v_problems IS NOT NULL THEN
        PERFORM trending._raise(
            pg_catalog.format('trending: source schema "%s" cannot serve underground_tracks: %s',
                              v_source, v_problems),
            v_sqlstate, NULL,
            CASE WHEN v_sqlstate = '25000'
                 THEN 'Call underground_tracks() in a READ COMMITTED transaction (the default).'
                 ELSE 'Point trending.settings.source_schema at the service''s schema of plain tables, '
                      'or fix the objects named (docs/security.md).' END);
    END IF;
    RETURN QUERY EXECUTE format($query$
        SELECT row_number() OVER (ORDER BY s.score DESC, s.track_id DESC), s.track_id, s.score, s.genre
        FROM trending.track_trending_scores s
        WHERE s.type = 'TRACKS' AND s.version = 'pnagD' AND s.time_range = $1 %1$s
          AND (s.score, s.track_id) < ($5, $6)
          AND EXISTS (
              SELECT FROM %2$I.tracks t
              JOIN %2$I.aggregate_user au ON au.user_id = t.owner_id
              WHERE t.track_id = s.track_id AND t.is_current IS TRUE
                AND au.follower_count < 1500 AND au.following_count < 1500)
        ORDER BY s.score DESC, s.track_id DESC
        LIMIT $3 OFFSET $4
        $query$, CASE WHEN v_genre IS NULL THEN '' ELSE 'AND s.genre = $2' END, v_source)
    USING underground_tracks.time_range, v_genre, underground_tracks.lim, underground_tracks.off,
          v_cut_score, v_cut_id;
END;
$function$;
