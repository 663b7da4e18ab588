-------------------------------------------------------------------------------
-- _state_advance
-- In the transaction of an incremental cycle's last step, before the capture's
-- watermark moves to the cycle's snapshot (trending._capture_advance prunes
-- the delta rows visible in it): add the plays of the delta rows this cycle
-- consumes (of the transactions visible in the armed row's next_snapshot
-- and not in its snapshot) to the play buckets, so that every delta row is
-- counted exactly once: here, in the same transaction that moves the
-- watermark past it; a transaction still open is visible in neither, and
-- its rows are counted by the cycle whose snapshot sees it commit (a bucket whose plays were
-- deleted keeps its 0 until its hour is dropped). Then drop the buckets
-- before p_track_keep and the playlists' item hours before p_playlist_keep,
-- which no later window can reach (inputs.Cycle.track_month_keep); the hour
-- of -infinity stays: its plays are counted as absurd rows.
-- SECURITY DEFINER: roles that run cycles have no write privilege on the state.
CREATE FUNCTION trending._state_advance(p_run_id bigint, p_track_keep timestamp, p_playlist_keep timestamp)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_since bigint;
    v_rows bigint;
    v_armed trending._capture_armed;
BEGIN
    PERFORM trending._own_run(p_run_id);
    SELECT m.since INTO v_since FROM trending._state_meta m WHERE m.valid FOR UPDATE;
    SELECT a.* INTO v_armed FROM trending._capture_armed a;
    IF v_since IS NULL OR v_since IS DISTINCT FROM v_armed.since OR v_armed.snapshot IS NULL
       OR v_armed.next_snapshot IS NULL THEN
        RAISE EXCEPTION 'trending: the incremental state is not at the capture''s watermark'
            USING ERRCODE = '55000', HINT = 'Run a full cycle: SELECT trending.recompute(full => true).';
    END IF;
    WITH delta AS (
        SELECT h.item_id AS track_id, h.hour, pg_catalog.sum(h.n)::bigint AS n
        FROM trending._capture_play_hours h
        WHERE pg_catalog.pg_visible_in_snapshot(h.tx, v_armed.next_snapshot)
          AND NOT pg_catalog.pg_visible_in_snapshot(h.tx, v_armed.snapshot) AND h.item_id IS NOT NULL
          AND (h.hour >= p_track_keep OR h.hour = '-infinity')
        GROUP BY h.item_id, h.hour
        HAVING pg_catalog.sum(h.n) <> 0
    )
    INSERT INTO trending._state_play_buckets AS b (track_id, hour, plays)
    SELECT d.track_id, d.hour, d.n FROM delta d
    ON CONFLICT (track_id, hour) DO UPDATE SET plays = b.plays + excluded.plays;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    DELETE FROM trending._state_play_buckets b WHERE b.hour < p_track_keep AND b.hour <> '-infinity';
    DELETE FROM trending._state_playlist_hours h WHERE h.hour < p_playlist_keep;
    RETURN v_rows;
END;
$function$;
