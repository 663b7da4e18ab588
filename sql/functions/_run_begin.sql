-------------------------------------------------------------------------------
-- _run_begin
-- Begin a run for the caller, who took the cycle lease in this transaction
-- (trending._lease_take): mark the runs of dead backends aborted (holding the
-- lease means no other cycle is alive), forget runs older than the
-- run_retention setting, insert the 'running' row and name it in the lease.
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
        SELECT FROM trending_private.cycle_lease c
        WHERE c.run_id IS NULL AND c.pid = pg_catalog.pg_backend_pid()
          AND c.taken_xact OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id()) THEN
        RAISE EXCEPTION 'trending: a run can only begin in the transaction that took the cycle lease'
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
    UPDATE trending_private.cycle_lease SET run_id = v_run_id;
    RETURN v_run_id;
END;
$function$;
