-------------------------------------------------------------------------------
-- _run_finish
-- Mark the caller's own running run ok; its row as jsonb (run_id, step_ms,
-- slice_rows, bad_rows, wal_bytes, ms, cycle_kind, cycle_reason) for the summary.
CREATE FUNCTION trending._run_finish(p_run_id bigint)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_row jsonb;
BEGIN
    PERFORM trending._own_run(p_run_id);
    UPDATE trending.runs
    SET status = 'ok', finished_at = pg_catalog.clock_timestamp(),
        wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)
    WHERE run_id = p_run_id
    RETURNING pg_catalog.jsonb_build_object(
        'run_id', run_id, 'step_ms', step_ms, 'slice_rows', slice_rows, 'bad_rows', bad_rows,
        'wal_bytes', wal_bytes, 'cycle_kind', cycle_kind, 'cycle_reason', cycle_reason,
        'affected', affected, 'drift', drift,
        'ms', pg_catalog.round(EXTRACT(epoch FROM finished_at - started_at) * 1000, 1))
    INTO v_row;
    RETURN v_row;
END;
$function$;
