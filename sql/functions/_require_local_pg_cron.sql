-------------------------------------------------------------------------------
-- _require_local_pg_cron
-- Raise a clear error, with a HINT saying what to do, unless pg_cron is
-- preloaded and installed in this very database: trending.schedule() and
-- unschedule() only handle that common case. pg_cron lives in one database
-- per cluster (cron.database_name); from any other database the `trending`
-- CLI schedules through cron.schedule_in_database in the cron database.
CREATE FUNCTION trending._require_local_pg_cron()
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_cron_database text := current_setting('cron.database_name', true);
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
                    HINT = format('Schedule from the shell: trending install --schedule ''0 * * * *'' --dsn ''dbname=%s'' '
                                  '(it uses cron.schedule_in_database in %s), or in %s: '
                                  'SELECT cron.schedule_in_database(''trending-recompute'', ''0 * * * *'', '
                                  '''CALL trending.scheduled_recompute()'', %L);',
                                  current_database(), v_cron_database, v_cron_database, current_database());
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is loaded but not installed in database %', quote_ident(current_database())
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'CREATE EXTENSION pg_cron; (as a superuser), then call trending.schedule() again.';
    END IF;
END;
$function$;
