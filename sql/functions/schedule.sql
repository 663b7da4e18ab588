-------------------------------------------------------------------------------
-- schedule
-- Run trending.scheduled_recompute() on a cron schedule with pg_cron, as the
-- job 'trending-recompute' (scheduling again replaces the schedule: one job,
-- whatever the number of calls). Returns the job id. If this database's job
-- already runs as another role (`trending install --schedule` makes it run
-- as trending_job), it is re-timed in place and keeps its role (pg_cron
-- lets only its owner or a superuser do that).
--
-- pg_cron 1.4 knows minutes, not seconds, and runs schedules in GMT; a
-- malformed schedule is refused here with the accepted forms. For pg_cron
-- in another database, see _require_local_pg_cron's hint (the CLI).
CREATE FUNCTION trending.schedule(cron text DEFAULT '0 * * * *')
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_field  text := '(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*';
    v_job_id bigint;
BEGIN
    IF cron IS NULL OR NOT (
           btrim(cron) ~ ('^' || v_field || '(\s+' || v_field || '){4}$')
           OR btrim(cron) IN ('@hourly', '@daily', '@weekly', '@monthly', '@yearly', '@annually')) THEN
        RAISE EXCEPTION 'invalid schedule %: pg_cron 1.4 takes five cron fields (minute hour day month weekday, in GMT)',
                        COALESCE(quote_literal(cron), 'NULL')
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'For example ''0 * * * *'' (hourly, the default), ''*/15 * * * *'' or ''@hourly''. '
                           'Intervals in seconds need pg_cron 1.5 or later.';
    END IF;
    PERFORM trending._require_local_pg_cron('schedule');
    EXECUTE 'SELECT j.jobid FROM cron.job j WHERE j.jobname = $1 AND j.database = pg_catalog.current_database()
             AND j.username <> CURRENT_USER ORDER BY j.jobid LIMIT 1'
       INTO v_job_id USING 'trending-recompute';
    IF v_job_id IS NOT NULL THEN
        EXECUTE 'SELECT cron.alter_job(job_id => $1, schedule => $2)' USING v_job_id, btrim(cron);
        RETURN v_job_id;
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
       INTO v_job_id
      USING 'trending-recompute', btrim(cron), 'CALL trending.scheduled_recompute()';
    RETURN v_job_id;
END;
$function$;
