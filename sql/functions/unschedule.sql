-------------------------------------------------------------------------------
-- unschedule
-- Remove the job 'trending-recompute'; true if there was one. (pg_cron
-- 1.4's cron.unschedule raises on a missing name, so look first.) A run in
-- progress is not stopped: cancel it with pg_cancel_backend(running_pid)
-- from trending.status.
CREATE FUNCTION trending.unschedule()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_found boolean;
BEGIN
    PERFORM trending._require_local_pg_cron();
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobname = $1 AND username = current_user)'
       INTO v_found USING 'trending-recompute';
    IF v_found THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING 'trending-recompute';
    END IF;
    RETURN v_found;
END;
$function$;
