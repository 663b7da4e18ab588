-------------------------------------------------------------------------------
-- resume
-- Make this database's pg_cron job 'trending-recompute' run again after
-- trending.pause() (whichever role it runs as; pg_cron lets only its owner
-- or a superuser change it). Returns true; raises when there is no job.
-- The first cycle after a pause longer than capture_max_pause runs full.
-- pg_cron must live in this database; from the service's own database,
-- where it usually does not, the error's hint names the CLI command
-- (`trending resume --dsn ...`), which reaches pg_cron's database.
CREATE FUNCTION trending.resume()
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
    PERFORM trending._require_local_pg_cron('resume');
    EXECUTE 'SELECT pg_catalog.array_agg(j.jobid ORDER BY j.jobid) FROM cron.job j
             WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()'
       INTO v_jobs USING 'trending-recompute';
    IF v_jobs IS NULL THEN
        RAISE EXCEPTION 'no pg_cron job trending-recompute runs trending in database %', pg_catalog.current_database()
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Schedule it: SELECT trending.schedule();';
    END IF;
    FOREACH v_job_id IN ARRAY v_jobs LOOP
        EXECUTE 'SELECT cron.alter_job(job_id => $1, active => true)' USING v_job_id;
    END LOOP;
    RETURN true;
END;
$function$;
