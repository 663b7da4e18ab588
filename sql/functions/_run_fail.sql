-------------------------------------------------------------------------------
-- _run_fail
-- Record the caller's own running run as failed, with the error's SQLSTATE,
-- message, detail and hint.
CREATE FUNCTION trending._run_fail(p_run_id bigint, p_sqlstate text, p_message text, p_detail text, p_hint text)
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
    SET status = 'failed', finished_at = pg_catalog.clock_timestamp(),
        sqlstate = p_sqlstate, message = p_message, detail = p_detail, hint = p_hint,
        wal_bytes = pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), wal_start_lsn)
    WHERE run_id = p_run_id;
END;
$function$;
