-------------------------------------------------------------------------------
-- _capture_advance
-- Called by an incremental cycle, in the transaction that commits the state
-- it computed from the delta rows numbered (since, p_upto]: moves the
-- watermark to p_upto (a settled upto of _capture_settle) and prunes those
-- rows. If anything makes the capture untrustworthy now (a trigger
-- disabled or dropped, a table truncated, replaced or rewritten since the
-- capture was armed, during this cycle included), the capture is disarmed
-- instead, so the next cycle runs full; returns that reason (NULL: advanced).
-- SECURITY DEFINER, cycle lock required: see _capture_arm.
CREATE FUNCTION trending._capture_advance(p_upto bigint)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_since bigint;
    v_last bigint;
    v_reason text;
BEGIN
    PERFORM trending._lease_held();
    SELECT a.since INTO v_since FROM trending._capture_armed a FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'the capture is not armed: no full cycle since it was installed, or its unlogged state was lost (crash restart, failover or restore)';
    END IF;
    SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO v_last FROM trending._capture_seq q;
    IF p_upto IS NULL OR p_upto < v_since OR p_upto > v_last THEN
        RAISE EXCEPTION 'trending: capture watermark % is outside [%, %]', p_upto, v_since, v_last
            USING ERRCODE = '22023', HINT = 'Pass the upto of trending._capture_settle().';
    END IF;
    SELECT s.full_cycle_reason INTO v_reason FROM trending.capture_status s;
    IF v_reason IS NOT NULL THEN
        DELETE FROM trending._capture_armed;
        RETURN v_reason;
    END IF;
    UPDATE trending._capture_armed SET since = p_upto, advanced_at = pg_catalog.now();
    DELETE FROM trending._capture_changes WHERE seq <= p_upto;
    DELETE FROM trending._capture_plays WHERE seq <= p_upto;
    RETURN NULL;
END;
$function$;
