-------------------------------------------------------------------------------
-- _capture_advance
-- Called by an incremental cycle, in the transaction that commits the state
-- it computed from the delta rows of the transactions visible in its
-- snapshot (next_snapshot, from _capture_snapshot) and not in the last
-- one's (snapshot): makes next_snapshot the watermark, prunes the rows
-- visible in it, and moves record_until to now() plus capture_max_pause.
-- If anything makes the capture untrustworthy now (a trigger disabled or
-- dropped, a table truncated, replaced or rewritten since the capture was
-- armed, during this cycle included; record_until passed or about to), the
-- capture is disarmed instead (still recording, or recording again), so the
-- next cycle runs full; returns that reason (NULL: advanced).
-- SECURITY DEFINER, cycle lease required: see _capture_arm.
CREATE FUNCTION trending._capture_advance()
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_row trending._capture_armed;
    v_reason text;
    v_stopped boolean;
    v_until timestamptz := pg_catalog.now() + (SELECT s.value::pg_catalog.interval FROM trending.settings s
                                               WHERE s.name = 'capture_max_pause');
BEGIN
    PERFORM trending._lease_held();
    SELECT a.* INTO v_row FROM trending._capture_armed a FOR UPDATE;
    IF NOT FOUND OR v_row.snapshot IS NULL THEN
        RETURN 'the capture is not armed: no full cycle armed it since it was installed, or its unlogged state was lost (crash restart, failover or restore)';
    END IF;
    IF v_row.next_snapshot IS NULL THEN
        RAISE EXCEPTION 'trending: this cycle took no capture snapshot'
            USING ERRCODE = '55000', HINT = 'A cycle calls trending._capture_snapshot() before it reads the sources.';
    END IF;
    v_stopped := v_row.record_until <= pg_catalog.clock_timestamp() + trending._capture_margin();
    IF v_stopped THEN
        v_reason := pg_catalog.format('the capture stopped recording at %s because no cycle consumed it for longer than %s (capture_max_pause): it records again from this cycle on, and the next full cycle arms it',
                                      v_row.record_until, v_row.record_until - v_row.advanced_at);
    ELSE
        SELECT s.full_cycle_reason INTO v_reason FROM trending.capture_status s;
    END IF;
    IF v_reason IS NOT NULL THEN
        -- the next cycle runs full and reads every change committed by then
        -- (a truncate's row stays: capture_status names the table until then)
        DELETE FROM trending._capture_changes;
        DELETE FROM trending._capture_plays;
        UPDATE trending._capture_armed
        SET snapshot = NULL, next_snapshot = NULL, advanced_at = pg_catalog.now(), record_until = v_until,
            recording_from = CASE WHEN v_stopped THEN NULL ELSE recording_from END;
        RETURN v_reason;
    END IF;
    DELETE FROM trending._capture_changes d WHERE pg_catalog.pg_visible_in_snapshot(d.tx, v_row.next_snapshot);
    DELETE FROM trending._capture_plays d WHERE pg_catalog.pg_visible_in_snapshot(d.tx, v_row.next_snapshot);
    UPDATE trending._capture_armed
    SET since = since + 1, snapshot = next_snapshot, next_snapshot = NULL, advanced_at = pg_catalog.now(),
        record_until = v_until;
    RETURN NULL;
END;
$function$;
