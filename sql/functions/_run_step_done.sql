-------------------------------------------------------------------------------
-- _run_step_done
-- Add one finished step to the caller's own running run: its milliseconds,
-- for a slice its row counts, for an input step the bad rows it counted;
-- for the step that decides it (check_sources), the kind of cycle and why
-- (NULL: unchanged).
CREATE FUNCTION trending._run_step_done(p_run_id bigint, p_step text, p_ms double precision,
                                        p_slice_rows jsonb, p_bad_rows jsonb,
                                        p_cycle_kind text, p_cycle_reason text,
                                        p_affected jsonb, p_drift jsonb)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    PERFORM trending._own_run(p_run_id);
    UPDATE trending.runs
    SET step_ms = step_ms || pg_catalog.jsonb_build_object(p_step, p_ms),
        slice_rows = CASE WHEN p_slice_rows IS NULL THEN slice_rows
                          ELSE slice_rows || pg_catalog.jsonb_build_object(p_step, p_slice_rows) END,
        bad_rows = bad_rows || COALESCE(p_bad_rows, '{}'),
        cycle_kind = COALESCE(p_cycle_kind, cycle_kind),
        cycle_reason = COALESCE(p_cycle_reason, cycle_reason),
        affected = CASE WHEN p_affected IS NULL THEN affected ELSE COALESCE(affected, '{}') || p_affected END,
        drift = CASE WHEN p_drift IS NULL THEN drift ELSE COALESCE(drift, '{}') || p_drift END
    WHERE run_id = p_run_id;
END;
$function$;
