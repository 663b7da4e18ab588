-------------------------------------------------------------------------------
-- _require_local_pg_cron
-- Raise a clear error, with a HINT saying what to do, unless pg_cron is
-- preloaded and installed in this very database: trending.schedule(),
-- unschedule(), pause() and resume() (p_action: which one) only handle that
-- case. pg_cron lives in one database per cluster (cron.database_name), and
-- SQL in another database cannot reach it: the hint names the `trending`
-- CLI command that does (it connects to the cron database), and the SQL to
-- run there.
CREATE FUNCTION trending._require_local_pg_cron(p_action text)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cron_database text := current_setting('cron.database_name', true);
    -- this database's job, for the SQL to run in the cron database
    v_job text := ' FROM cron.job WHERE jobname = ''trending-recompute'' AND database = '
                  || quote_literal(current_database());
BEGIN
    IF v_cron_database IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not loaded in this server'
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Add pg_cron to shared_preload_libraries in postgresql.conf, restart, then '
                           'CREATE EXTENSION pg_cron in the database named by cron.database_name '
                           '(default postgres). `trending doctor` checks every step.';
    END IF;
    IF v_cron_database <> current_database() THEN
        RAISE EXCEPTION 'pg_cron lives in database %, not in %', quote_ident(v_cron_database),
                        quote_ident(current_database())
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = CASE p_action
                        WHEN 'pause' THEN
                            format('Pause from the shell: trending pause --dsn ''dbname=%s'' (it runs cron.alter_job '
                                   'in %s), or in %s: %s;', current_database(), v_cron_database, v_cron_database,
                                   'SELECT cron.alter_job(jobid, active => false)' || v_job)
                        WHEN 'resume' THEN
                            format('Resume from the shell: trending resume --dsn ''dbname=%s'' (it runs cron.alter_job '
                                   'in %s), or in %s: %s;', current_database(), v_cron_database, v_cron_database,
                                   'SELECT cron.alter_job(jobid, active => true)' || v_job)
                        WHEN 'unschedule' THEN
                            format('Stop the schedule from the shell: trending pause --dsn ''dbname=%s'' (trending '
                                   'resume starts it again; trending uninstall removes the job with the extension), '
                                   'or remove the job in %s: %s;', current_database(), v_cron_database,
                                   'SELECT cron.unschedule(jobid)' || v_job)
                        ELSE
                            format('Schedule from the shell: trending install --schedule ''0 * * * *'' --dsn ''dbname=%s'' '
                                   '(it uses cron.schedule_in_database in %s), or in %s: '
                                   'SELECT cron.schedule_in_database(''trending-recompute'', ''0 * * * *'', '
                                   '''CALL trending.scheduled_recompute()'', %L);',
                                   current_database(), v_cron_database, v_cron_database, current_database())
                    END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is loaded but not installed in database %', quote_ident(current_database())
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = format('CREATE EXTENSION pg_cron; (as a superuser), then call trending.%s() again.', p_action);
    END IF;
END;
$function$;
