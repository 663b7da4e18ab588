-------------------------------------------------------------------------------
-- _own_run
-- Raise unless run p_run_id is this backend's own running run: its row says
-- pid = pg_backend_pid() and status 'running', and the cycle lease names
-- this run and this backend (pid and backend_start: so the row cannot be a
-- dead backend's whose pid was reused, nor a run whose lease was broken).
-- Every function that writes for a run checks this first, so a role that
-- may run cycles can write only through its own run, never another
-- session's. It first takes the lease's table lock (waiting at most
-- lock_timeout): a cycle breaking this run's lease holds it, so the two
-- never both go on.
CREATE FUNCTION trending._own_run(p_run_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
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
    LOCK TABLE trending_private.cycle_lease IN SHARE UPDATE EXCLUSIVE MODE;
    IF NOT EXISTS (
        SELECT FROM trending_private.cycle_lease c
        WHERE c.run_id = p_run_id AND c.pid = pg_catalog.pg_backend_pid()
          AND c.backend_start = (SELECT a.backend_start
                                 FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a)) THEN
        RAISE EXCEPTION 'trending: this session does not hold the cycle lease of run %', p_run_id
            USING ERRCODE = '55000',
                  HINT = 'Its lease was broken (see trending.status): start a new cycle.';
    END IF;
END;
$function$;
