-------------------------------------------------------------------------------
-- _capture_margin
-- How long before record_until a cycle already treats the capture as no
-- longer recording: a cycle's commit (which moves record_until on) comes
-- after it decided, and a writer that starts between record_until and that
-- commit records nothing. A quarter of capture_max_pause, at most 10
-- minutes: with hourly cycles and the default bound (1 day) it never
-- applies; only a cycle after a pause of nearly the bound runs full.
CREATE FUNCTION trending._capture_margin()
RETURNS interval
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT LEAST(s.value::pg_catalog.interval OPERATOR(pg_catalog./) 4, '10 minutes'::pg_catalog.interval)
    FROM trending.settings s WHERE s.name = 'capture_max_pause'
$function$;
