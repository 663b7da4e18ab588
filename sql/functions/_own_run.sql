-------------------------------------------------------------------------------
-- _own_run
-- Raise unless run p_run_id is this backend's own running run: its row says
-- pid = pg_backend_pid() and status 'running', and this backend holds the
-- cycle lock (so the row cannot be a dead backend's whose pid was reused:
-- the next run to take the lock marks those aborted). Every function that
-- writes for a run checks this first, so a role that may run cycles can
-- write only through its own run, never another session's.
CREATE FUNCTION trending._own_run(p_run_id bigint)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_pid integer;
    v_status text;
BEGIN
    SELECT r.pid, r.status INTO v_pid, v_status FROM trending.runs r WHERE r.run_id = p_run_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'trending: run % does not exist', p_run_id USING ERRCODE = '22023';
    END IF;
    IF v_pid <> pg_catalog.pg_backend_pid() THEN
        RAISE EXCEPTION 'trending: run % belongs to another session (pid %)', p_run_id, v_pid
            USING ERRCODE = '42501',
                  HINT = 'A session can only continue or write for the run it started itself.';
    END IF;
    IF v_status <> 'running' THEN
        RAISE EXCEPTION 'trending: run % is %, not running', p_run_id, v_status USING ERRCODE = '55000';
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_locks l
        WHERE l.locktype = 'advisory' AND l.pid = pg_catalog.pg_backend_pid() AND l.granted
          AND l.classid = 1953654126 AND l.objid = 1 AND l.objsubid = 2
          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                            WHERE d.datname = pg_catalog.current_database())) THEN
        RAISE EXCEPTION 'trending: this session does not hold the cycle lock of run %', p_run_id
            USING ERRCODE = '55000';
    END IF;
END;
$function$;
