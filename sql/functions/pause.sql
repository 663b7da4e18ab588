-------------------------------------------------------------------------------
-- pause
-- Pause this database's pg_cron job 'trending-recompute' (whichever role it
-- runs as; pg_cron lets only its owner or a superuser change it): its
-- schedule and run history stay; trending.resume() makes it run again.
-- Returns true if there was a job, false if nothing was scheduled. A run in
-- progress is not stopped (cancel it with pg_cancel_backend(running_pid)
-- from trending.status). While paused, the change capture records for
-- capture_max_pause at most; the first cycle after that runs full.
-- pg_cron must live in this database; from the service's own database,
-- where it usually does not, the error's hint names the CLI command
-- (`trending pause --dsn ...`), which reaches pg_cron's database.
CREATE FUNCTION trending.pause()
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
    PERFORM trending._require_local_pg_cron('pause');
    EXECUTE 'SELECT pg_catalog.array_agg(j.jobid ORDER BY j.jobid) FROM cron.job j
             WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()'
       INTO v_jobs USING 'trending-recompute';
    FOREACH v_job_id IN ARRAY COALESCE(v_jobs, '{}') LOOP
        EXECUTE 'SELECT cron.alter_job(job_id => $1, active => false)' USING v_job_id;
    END LOOP;
    RETURN v_jobs IS NOT NULL;
END;
$function$;
