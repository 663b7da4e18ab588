-------------------------------------------------------------------------------
-- _remove_slice
-- A disabled strategy's slice: delete its rows, for the caller's own running
-- run; the number deleted. SECURITY DEFINER like _apply_slice.
CREATE FUNCTION trending._remove_slice(p_run_id bigint, p_kind text, p_type text, p_version text,
                                       p_time_range text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_deleted bigint;
    v_wal_compression text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    v_wal_compression := trending._wal_compress();
    IF p_kind = 'track' THEN
        DELETE FROM trending.track_trending_scores t
        WHERE t.type = p_type AND t.version = p_version AND t.time_range = p_time_range;
    ELSIF p_kind = 'playlist' THEN
        DELETE FROM trending.playlist_trending_scores t
        WHERE t.type = p_type AND t.version = p_version AND t.time_range = p_time_range;
    ELSE
        RAISE EXCEPTION 'trending: unknown kind %', p_kind USING ERRCODE = '22023';
    END IF;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    PERFORM trending._wal_compress(v_wal_compression);
    RETURN v_deleted;
END;
$function$;
