-------------------------------------------------------------------------------
-- _state_finish
-- In the transaction of a cycle's last step, after the capture was armed
-- (full) or advanced (incremental): the state is valid at the capture's
-- watermark and at this cycle's now. When the capture is not armed (arming
-- refused, or a trigger found altered), the state is marked invalid and the
-- next cycle runs full. p_kind: 'full' (the state rebuilt from the
-- sources) or 'incremental' (a reconciling cycle is one: the end of its
-- round of reconciliation is written by _state_write 'rotation').
-- SECURITY DEFINER: roles that run cycles have no write privilege on the state.
CREATE FUNCTION trending._state_finish(p_run_id bigint, p_now timestamp, p_fingerprint text, p_kind text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_since bigint;
BEGIN
    PERFORM trending._own_run(p_run_id);
    IF p_kind NOT IN ('full', 'incremental') THEN
        RAISE EXCEPTION 'trending: unknown kind of cycle %', p_kind USING ERRCODE = '22023';
    END IF;
    SELECT a.since INTO v_since FROM trending._capture_armed a WHERE a.snapshot IS NOT NULL;
    IF NOT FOUND OR (p_kind = 'incremental'
                     AND NOT EXISTS (SELECT FROM trending._state_meta m WHERE m.valid)) THEN
        INSERT INTO trending._state_meta AS m (valid, run_id) VALUES (false, p_run_id)
        ON CONFLICT (one) DO UPDATE SET valid = false, run_id = excluded.run_id;
        RETURN false;
    END IF;
    INSERT INTO trending._state_meta AS m (valid, cycle_now, since, fingerprint, built_at, reconciled_at, run_id)
    VALUES (true, p_now, v_since, p_fingerprint, p_now, p_now, p_run_id)
    ON CONFLICT (one) DO UPDATE
    SET valid = true, cycle_now = excluded.cycle_now, since = excluded.since, fingerprint = excluded.fingerprint,
        built_at = CASE WHEN p_kind = 'full' THEN excluded.built_at ELSE m.built_at END,
        reconciled_at = CASE WHEN p_kind = 'incremental' THEN m.reconciled_at ELSE excluded.reconciled_at END,
        -- a state rebuilt whole starts a new round of reconciliation; an
        -- incremental cycle wrote its own (_state_write 'rotation')
        rotation = CASE WHEN p_kind = 'incremental' THEN m.rotation END,
        run_id = excluded.run_id;
    RETURN true;
END;
$function$;
