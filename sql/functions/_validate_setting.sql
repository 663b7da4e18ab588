-------------------------------------------------------------------------------
-- _validate_setting
-- Raise 22023 unless p_value is acceptable for setting p_name. The source
-- schema is only checked for shape here: it may legitimately not exist yet
-- (pg_restore loads settings before the service's tables); a cycle checks it.
CREATE FUNCTION trending._validate_setting(p_name text, p_value text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    CASE p_name
    WHEN 'source_schema' THEN
        IF p_value = '' OR length(p_value) > 63 THEN
            RAISE EXCEPTION 'invalid source_schema %: a schema name of 1 to 63 characters',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'work_mem' THEN
        IF p_value !~ '^[0-9]+ ?(kB|MB|GB)$'
           OR pg_size_bytes(p_value) NOT BETWEEN 64 * 1024 AND pg_size_bytes('64GB') THEN
            RAISE EXCEPTION 'invalid work_mem %: a size from 64kB to 64GB, e.g. ''256MB''',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'lock_timeout' THEN
        IF p_value !~ '^[0-9]+ ?(ms|s|min)$' OR p_value ~ '^0+ ?[a-z]+$' THEN
            RAISE EXCEPTION 'invalid lock_timeout %: a positive duration in ms, s or min, e.g. ''5s''',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'parallel_workers' THEN
        IF p_value !~ '^[0-9]{1,4}$' OR p_value::integer > 1024 THEN
            RAISE EXCEPTION 'invalid parallel_workers %: a whole number from 0 to 1024',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    WHEN 'run_retention' THEN
        IF p_value !~ '^[0-9]+ ?(hours?|days?|weeks?|mons?|months?|years?)$' OR p_value ~ '^0+ ' THEN
            RAISE EXCEPTION 'invalid run_retention %: a positive interval in hours, days, weeks, months or years, e.g. ''30 days''',
                  quote_literal(p_value) USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSE
        RAISE EXCEPTION 'unknown setting %', quote_literal(p_name)
              USING ERRCODE = 'invalid_parameter_value';
    END CASE;
END;
$function$;
