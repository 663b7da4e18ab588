-------------------------------------------------------------------------------
-- _validate_setting
-- Raise 22023 unless p_value is acceptable for setting p_name. The source
-- schema is only checked for shape here: it may legitimately not exist yet
-- (pg_restore loads settings before the service's tables); a cycle checks it.
--
-- Each value is checked by doing what a cycle does with it, so the two
-- cannot disagree: the server parameters are applied with set_config() (as
-- cycle.apply_session_settings does), inside a block that is always rolled
-- back; run_retention is subtracted from now() (as runs.start does). A cycle
-- calls this again for every setting when it starts (validate.py), which
-- also covers overrides loaded by pg_restore, which bypass the trigger.
--
-- Numbers may not have leading zeros: the server reads an integer parameter
-- with strtol(..., 0), so '010' would mean 8 and '0999' is an error.
CREATE FUNCTION trending._validate_setting(p_name text, p_value text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_parameter text;
    v_accepted  text;
    v_problem   text;
    v_interval  interval;
    v_minimum   interval;
    v_maximum   interval;
BEGIN
    CASE p_name
    WHEN 'source_schema' THEN
        -- octet_length: a longer name would be truncated to another schema's
        IF p_value IS NULL OR p_value = '' OR pg_catalog.octet_length(p_value) > 63 THEN
            RAISE EXCEPTION 'invalid source_schema %: a schema name of 1 to 63 bytes',
                  pg_catalog.quote_nullable(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        RETURN;
    WHEN 'work_mem' THEN
        v_parameter := 'work_mem';
        v_accepted := 'a size from 64kB to 64GB in kB, MB or GB, without leading zeros, e.g. ''256MB''';
        IF p_value !~ '^[1-9][0-9]{0,7} ?(kB|MB|GB)$'
           OR pg_catalog.pg_size_bytes(p_value) < 64 * 1024
           OR pg_catalog.pg_size_bytes(p_value) > pg_catalog.pg_size_bytes('64GB') THEN
            v_problem := 'out of range or malformed';
        END IF;
    WHEN 'lock_timeout' THEN
        v_parameter := 'lock_timeout';
        -- the server's limit is INT_MAX ms: 2147483647ms = 2147483s = 35791min
        v_accepted := 'a positive duration in ms, s or min up to 2147483647ms (35791min), without leading zeros, e.g. ''5s''';
        IF p_value !~ '^[1-9][0-9]{0,9} ?(ms|s|min)$' THEN
            v_problem := 'out of range or malformed';
        END IF;
    WHEN 'parallel_workers' THEN
        v_parameter := 'max_parallel_workers_per_gather';
        v_accepted := 'a whole number from 0 to 1024, without leading zeros';
        IF p_value !~ '^(0|[1-9][0-9]{0,3})$' THEN
            v_problem := 'out of range or malformed';
        END IF;
    WHEN 'run_retention', 'stale_after', 'reconcile_every' THEN
        -- run_retention: at least a day, so that a cycle never deletes the
        -- run history it was just asked about. stale_after: at least a
        -- minute (pg_cron's finest schedule). At most 100 years, so that
        -- now() - value (runs.start, trending.status) stays far inside the
        -- timestamp range. reconcile_every: from an hour (the cycles' own
        -- pace: every cycle then checks the whole state) to 7 days (each
        -- cycle checks a share of the state, so that the whole of it is
        -- checked within this; longer would leave drift unrepaired for
        -- longer than a week of cycles: issue 18).
        v_minimum := CASE p_name WHEN 'run_retention' THEN interval '1 day' WHEN 'reconcile_every' THEN interval '1 hour'
                                 ELSE interval '1 minute' END;
        v_maximum := CASE p_name WHEN 'reconcile_every' THEN interval '7 days' ELSE interval '100 years' END;
        v_accepted := pg_catalog.format('an interval from %s to %s in minutes, hours, days, weeks, months or years, e.g. %L',
                          CASE p_name WHEN 'run_retention' THEN '1 day' WHEN 'reconcile_every' THEN '1 hour' ELSE '1 minute' END,
                          CASE p_name WHEN 'reconcile_every' THEN '7 days' ELSE '100 years' END,
                          CASE p_name WHEN 'run_retention' THEN '30 days' WHEN 'reconcile_every' THEN '1 day' ELSE '2 hours' END);
        IF p_value !~ '^[0-9]{1,9} ?(mins?|minutes?|hours?|days?|weeks?|mons?|months?|years?)$' THEN
            v_problem := 'malformed';
        ELSE
            BEGIN
                v_interval := p_value::interval;
                PERFORM pg_catalog.now() - v_interval;
            EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
                v_problem := 'out of range';
            END;
            IF v_problem IS NULL
               AND (v_interval < v_minimum OR v_interval > v_maximum) THEN
                v_problem := 'out of range';
            END IF;
        END IF;
    WHEN 'lease_idle_timeout' THEN
        -- at least a second, at most a day: a working cycle runs its steps
        -- back to back (and holds the lease's lock during each), so only a
        -- run that stopped working loses the lease
        v_accepted := 'an interval from 1 second to 1 day in seconds, minutes, hours or days, e.g. ''10 minutes''';
        IF p_value !~ '^[0-9]{1,9} ?(s|secs?|seconds?|mins?|minutes?|hours?|days?)$' THEN
            v_problem := 'malformed';
        ELSE
            v_interval := p_value::interval;
            IF v_interval < interval '1 second' OR v_interval > interval '1 day' THEN
                v_problem := 'out of range';
            END IF;
        END IF;
    WHEN 'capture_max_pause' THEN
        -- a day covers an overnight pause of an hourly schedule; 30 days
        -- bounds the backlog (after a long pause the next cycle weighs
        -- finding what changed against a full cycle: incremental.decide)
        v_accepted := 'an interval from 1 minute to 30 days in minutes, hours or days, e.g. ''1 day''';
        IF p_value !~ '^[0-9]{1,6} ?(mins?|minutes?|hours?|days?)$' THEN
            v_problem := 'malformed';
        ELSIF p_value::interval < interval '1 minute' OR p_value::interval > interval '30 days' THEN
            v_problem := 'out of range';
        END IF;
    WHEN 'movers_top_n', 'movers_max_genres' THEN
        -- movers_top_n: at least 1; both at most 1000, so that the movers
        -- table stays small (2 x lists x N rows) and its WAL a cycle's noise
        v_accepted := CASE p_name WHEN 'movers_top_n' THEN 'a whole number from 1 to 1000, without leading zeros, e.g. ''100'''
                                  ELSE 'a whole number from 0 to 1000, without leading zeros, e.g. ''50''' END;
        IF p_value !~ '^(0|[1-9][0-9]{0,2}|1000)$' OR (p_name = 'movers_top_n' AND p_value = '0') THEN
            v_problem := 'out of range or malformed';
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown setting %', pg_catalog.quote_nullable(p_name)
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'The settings are listed in trending.settings.';
    END CASE;

    IF p_value IS NULL THEN
        v_problem := 'NULL';
    ELSIF v_problem IS NULL AND v_parameter IS NOT NULL THEN
        -- Apply it as a cycle will; the sentinel error rolls the setting back.
        BEGIN
            PERFORM pg_catalog.set_config(v_parameter, p_value, true);
            RAISE EXCEPTION USING ERRCODE = 'TRVOK', MESSAGE = 'accepted';
        EXCEPTION
            WHEN SQLSTATE 'TRVOK' THEN
                NULL;
            WHEN invalid_parameter_value THEN
                v_problem := SQLERRM;
        END;
    END IF;

    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid % %: %', p_name, pg_catalog.quote_nullable(p_value), v_accepted
              USING ERRCODE = 'invalid_parameter_value',
                    DETAIL = v_problem,
                    HINT = pg_catalog.format('Set it with UPDATE trending.settings SET value = ... WHERE name = %L;'
                                             ' DELETE restores the default.', p_name);
    END IF;
END;
$function$;
