-------------------------------------------------------------------------------
-- unschedule
-- Remove this database's job 'trending-recompute', whichever role it runs
-- as (`trending install --schedule` makes it trending_job; pg_cron lets only
-- its owner or a superuser remove it); true if there was one. (pg_cron 1.4's
-- cron.unschedule raises on a missing name, so look first.) A run in
-- progress is not stopped: cancel it with pg_cancel_backend(running_pid)
-- from trending.status. To stop the schedule but keep the job: trending.pause().
CREATE FUNCTION trending.unschedule()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_jobs bigint[];
    v_job_id bigint;
BEGIN
    PERFORM trending._require_local_pg_cron('unschedule');
    EXECUTE 'SELECT array_agg(j.jobid ORDER BY j.jobid) FROM cron.job j
             WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()'
       INTO v_jobs USING 'trending-recompute';
    FOREACH v_job_id IN ARRAY COALESCE(v_jobs, '{}') LOOP
        EXECUTE 'SELECT cron.unschedule($1)' USING v_job_id;
    END LOOP;
    RETURN v_jobs IS NOT NULL;
END;
$function$;
