-------------------------------------------------------------------------------
-- _run_skipped
-- Record a call that found another cycle running (named by the backend that
-- holds the cycle lock, if it is still there): {"run_id", "message"} of its
-- 'skipped' row.
CREATE FUNCTION trending._run_skipped(p_trigger text, p_now timestamptz, p_run_by name)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_holder integer;
    v_message text;
    v_run_id bigint;
BEGIN
    IF p_run_by IS NULL OR NOT pg_catalog.pg_has_role(SESSION_USER, p_run_by, 'MEMBER') THEN
        RAISE EXCEPTION 'trending: a run can only be recorded as run by the session''s own role'
            USING ERRCODE = '42501';
    END IF;
    SELECT l.pid INTO v_holder FROM pg_catalog.pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1953654126 AND l.objid = 1 AND l.objsubid = 2
      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
    LIMIT 1;
    v_message := CASE WHEN v_holder IS NULL THEN 'another cycle is running'
                      ELSE pg_catalog.format('another cycle is running (pid %s)', v_holder) END;
    INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, run_by, message)
    VALUES (p_trigger, 'skipped', pg_catalog.clock_timestamp(), p_now, p_run_by, v_message)
    RETURNING run_id INTO v_run_id;
    RETURN pg_catalog.jsonb_build_object('run_id', v_run_id, 'message', v_message);
END;
$function$;
