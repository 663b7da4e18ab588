-------------------------------------------------------------------------------
-- _lease_held
-- Raise 55000 unless this session holds the cycle lease for a running run
-- of its own (see trending._own_run): the change capture's watermark moves
-- only inside a cycle. Called by the SECURITY DEFINER capture functions.
CREATE FUNCTION trending._lease_held()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_run_id bigint;
BEGIN
    SELECT c.run_id INTO v_run_id FROM trending_private.cycle_lease c WHERE c.pid = pg_catalog.pg_backend_pid();
    IF v_run_id IS NULL THEN
        RAISE EXCEPTION 'trending: this session does not hold the cycle lease'
            USING ERRCODE = '55000', HINT = 'Only a cycle does this: trending.recompute() or trending.scheduled_recompute().';
    END IF;
    PERFORM trending._own_run(v_run_id);
END;
$function$;
