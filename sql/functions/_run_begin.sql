-------------------------------------------------------------------------------
-- _run_begin
-- Begin a run for the caller, who holds the cycle lock: mark the runs of dead
-- backends aborted (holding the lock means no other cycle is alive), forget
-- runs older than the run_retention setting, insert the 'running' row.
-- SECURITY DEFINER: roles that run cycles write trending.runs only through
-- these functions (see docs/security.md). The plan is stored for the record
-- only: a run's steps follow the plan the session keeps in memory, never
-- this row. p_run_by must be a role the session's user is a member of.
CREATE FUNCTION trending._run_begin(p_trigger text, p_now timestamptz, p_run_by name, p_plan jsonb)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_run_id bigint;
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_locks l
        WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
          AND l.classid = 1953654126 AND l.objid = 1 AND l.objsubid = 2
          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                            WHERE d.datname = pg_catalog.current_database())) THEN
        RAISE EXCEPTION 'trending: a run can only begin while its session holds the cycle lock'
            USING ERRCODE = '55000', HINT = 'Run a cycle with trending.recompute() or trending.scheduled_recompute().';
    END IF;
    IF p_run_by IS NULL OR NOT pg_catalog.pg_has_role(SESSION_USER, p_run_by, 'MEMBER') THEN
        RAISE EXCEPTION 'trending: a run can only be recorded as run by the session''s own role'
            USING ERRCODE = '42501';
    END IF;
    UPDATE trending.runs
    SET status = 'aborted', finished_at = pg_catalog.clock_timestamp(),
        message = pg_catalog.format('the run''s backend (pid %s) ended before the run finished', pid)
    WHERE status = 'running';
    DELETE FROM trending.runs
    WHERE started_at < pg_catalog.now() - (SELECT s.value FROM trending.settings s
                                           WHERE s.name = 'run_retention')::pg_catalog.interval
      AND status <> 'running';
    INSERT INTO trending.runs (trigger, status, cycle_now, run_by, source_schema, plan, wal_start_lsn)
    VALUES (p_trigger, 'running', p_now, p_run_by, p_plan OPERATOR(pg_catalog.->>) 'source_schema', p_plan,
            pg_catalog.pg_current_wal_insert_lsn())
    RETURNING run_id INTO v_run_id;
    RETURN v_run_id;
END;
$function$;
