-------------------------------------------------------------------------------
-- _staging_columns
-- The catalogue of the temp tables a cycle stages for its SECURITY DEFINER
-- writers to read: for each name, its column definitions (built-in types
-- only, no default, no constraint); NULL for any other name. The state
-- stagings take the columns of the state tables they replace rows of
-- (trending's own tables). trending._staging_table creates these tables as
-- the extension's owner, so the calling role owns nothing it could attach
-- code to (docs/security.md, "What a definer function reads"). Called only
-- by the staging functions (as their owner); no grant.
CREATE FUNCTION trending._staging_columns(p_name text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    RETURN CASE
        -- a slice's changes (extension/trending_pl/slices.py), read by _apply_slice
        WHEN p_name IN ('trending_track_changes', 'trending_playlist_changes') THEN
            'stored_tid pg_catalog.tid, stored_id pg_catalog.int4, type pg_catalog.text, version pg_catalog.text, '
            'time_range pg_catalog.text, id pg_catalog.int4, score pg_catalog.float8'
            || CASE WHEN p_name = 'trending_track_changes' THEN ', genre pg_catalog.varchar' ELSE '' END
        -- the rest are read by _state_write
        WHEN p_name = 'trending_play_hours' THEN
            'track_id pg_catalog.int8, hour pg_catalog.timestamp, n_source pg_catalog.int8, n_after pg_catalog.int8'
        WHEN p_name IN ('trending_track_state', 'trending_playlist_state') THEN
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname,
                                                            pg_catalog.format_type(a.atttypid, a.atttypmod)),
                                          ', ' ORDER BY a.attnum)
             FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = CASE p_name WHEN 'trending_track_state' THEN 'trending._state_tracks'::pg_catalog.regclass
                                            ELSE 'trending._state_playlists'::pg_catalog.regclass END
               AND a.attnum > 0 AND NOT a.attisdropped)
        WHEN p_name = 'trending_playlist_engagement_hours' THEN 'hour pg_catalog.timestamp, item_id pg_catalog.int8'
        -- the tracks' live saves and reposts (a full staging's all, an
        -- incremental one's of the tracks read whole) and those of the pairs
        -- the capture named (trending._state_track_actions)
        WHEN p_name IN ('trending_track_engagements', 'trending_track_pair_rows') THEN
            'track_id pg_catalog.int8, is_repost pg_catalog.bool, user_id pg_catalog.int8, created_at pg_catalog.timestamp'
        WHEN p_name = 'trending_track_action_pairs' THEN
            'track_id pg_catalog.int8, user_id pg_catalog.int8, is_repost pg_catalog.bool'
        WHEN p_name IN ('trending_track_user_state', 'trending_playlist_user_state') THEN
            'user_id pg_catalog.int8, weight pg_catalog.numeric, negative pg_catalog.bool'
        WHEN p_name = 'trending_playlist_owners' THEN 'playlist_id pg_catalog.int8, owner_id pg_catalog.int8'
        WHEN p_name IN ('trending_track_affected', 'trending_playlist_affected', 'trending_track_fresh',
                        'trending_track_reread')
            THEN 'id pg_catalog.int8'
        WHEN p_name = 'trending_rotation' THEN 'rotation pg_catalog.jsonb, reconciled_at pg_catalog.timestamp'
    END;
END;
$function$;
