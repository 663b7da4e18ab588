-------------------------------------------------------------------------------
-- _lease_take
-- Take the cycle lease for a run about to begin in this transaction (see
-- sql/schema/55_cycle_lease.sql), or record why not. Returns
--   {"status": "taken"}                          go on: plan, then _run_begin
--   {"status": "skipped", "run_id", "message"}   another cycle runs (named)
--   {"status": "failed", "run_id", "message"}    something else holds the
--                                                 table's lock (named, with its
--                                                 role): trending.status turns
--                                                 unhealthy
-- 1. The table lock, waiting at most 200 ms (longer than any instant a
--    role without privileges can hold it: a few functions lock a relation
--    by OID before their privilege check, e.g. brin_summarize_range). Held
--    by another backend's transaction: that is a cycle (only the owner can
--    hold it), skipped, naming the run between two steps that the lease row
--    names, if any; unless it is idle in transaction for longer than
--    lease_idle_timeout (a recompute() whose caller never commits): its
--    backend is ended (a transaction's lock cannot be broken otherwise) and
--    the lock taken. Not held, yet not free: something else holds or waits
--    for a conflicting lock (a superuser's LOCK TABLE): failed, naming it.
-- 2. The committed lease row, renewed when the run began and at the end of
--    each step: a live backend's renewed within lease_idle_timeout is a
--    scheduled run between two steps, skipped (each step holds the lock
--    from its start, runs.mine, to its commit). A gone backend (or one whose
--    backend_start differs: a reused pid), one that ran no step for longer
--    than lease_idle_timeout (idle, or busy with anything but the cycle), or
--    this very backend (a run interrupted in this session) loses it: its
--    run is marked aborted and the break recorded.
-- SECURITY DEFINER: only the owner may read pg_stat_activity of every role,
-- end a backend, lock and write the lease.
CREATE FUNCTION trending._lease_take(p_trigger text, p_now timestamptz, p_run_by name)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
SET lock_timeout = '2s'
AS $function$
DECLARE
    v_me integer := pg_catalog.pg_backend_pid();
    v_my_start timestamptz;
    v_timeout interval;
    v_lease record;
    v_holder record;
    v_blockers text;
    v_broken text;
    v_broken_pid integer;
    v_broken_role name;
    v_status text;
    v_message text;
    v_run_id bigint;
BEGIN
    IF p_run_by IS NULL OR NOT pg_catalog.pg_has_role(SESSION_USER, p_run_by, 'MEMBER') THEN
        RAISE EXCEPTION 'trending: a run can only be recorded as run by the session''s own role'
            USING ERRCODE = '42501';
    END IF;
    v_timeout := (SELECT s.value FROM trending.settings s WHERE s.name = 'lease_idle_timeout')::pg_catalog.interval;
    PERFORM pg_catalog.pg_stat_clear_snapshot();  -- the sessions as they are now, not as this transaction first saw them
    SELECT a.backend_start INTO v_my_start FROM pg_catalog.pg_stat_get_activity(v_me) a;

    FOR v_attempt IN 1..3 LOOP
        BEGIN
            -- a short wait rather than NOWAIT: a few functions take the lock
            -- for an instant on an OID before checking the caller may
            -- (brin_summarize_range), and any role may call them
            PERFORM pg_catalog.set_config('lock_timeout', '200ms', true);
            LOCK TABLE trending_private.cycle_lease IN SHARE UPDATE EXCLUSIVE MODE;
            PERFORM pg_catalog.set_config('lock_timeout', '2s', true);
            SELECT * INTO v_lease FROM trending_private.cycle_lease;
            IF v_lease.run_id IS NOT NULL THEN
                IF v_lease.pid = v_me AND v_lease.backend_start = v_my_start THEN
                    v_broken := pg_catalog.format('run %s of this session (pid %s) was interrupted', v_lease.run_id, v_me);
                ELSE
                    SELECT a.pid, a.state, a.backend_start INTO v_holder
                    FROM pg_catalog.pg_stat_get_activity(v_lease.pid) a;
                    IF v_holder.pid IS NULL OR v_holder.backend_start IS DISTINCT FROM v_lease.backend_start THEN
                        v_broken := pg_catalog.format('the backend of run %s (pid %s, role %s) ended before the run finished',
                                                      v_lease.run_id, v_lease.pid, v_lease.role);
                    ELSIF v_lease.renewed_at < pg_catalog.clock_timestamp() - v_timeout THEN
                        -- not in a step (this transaction holds the lock a step
                        -- holds throughout), and none ended since: the session
                        -- is idle, or busy with something else
                        v_broken := pg_catalog.format('pid %s (role %s) held the cycle lease of run %s without running a'
                                                      ' step since %s (now %s), longer than lease_idle_timeout (%s):'
                                                      ' the lease was broken',
                                                      v_lease.pid, v_lease.role, v_lease.run_id, v_lease.renewed_at,
                                                      v_holder.state, v_timeout);
                    ELSE
                        -- a scheduled run between two steps: let go of the lock
                        -- at once (the error rolls this block back), or its next
                        -- step would wait for this call's caller to commit
                        RAISE EXCEPTION USING ERRCODE = 'TRSKP',
                            MESSAGE = pg_catalog.format('another cycle is running (pid %s)', v_lease.pid);
                    END IF;
                END IF;
                UPDATE trending.runs
                SET status = 'aborted', finished_at = pg_catalog.clock_timestamp(), message = v_broken
                WHERE run_id = v_lease.run_id AND status = 'running';
                v_broken_pid := v_lease.pid;
                v_broken_role := v_lease.role;
            END IF;
            IF v_broken IS NOT NULL THEN
                UPDATE trending_private.cycle_lease
                SET broken_pid = v_broken_pid, broken_role = v_broken_role,
                    broken_at = pg_catalog.clock_timestamp(), broken_reason = v_broken;
            END IF;
            UPDATE trending_private.cycle_lease
            SET run_id = NULL, pid = v_me, backend_start = v_my_start, role = p_run_by,
                taken_at = pg_catalog.clock_timestamp(), taken_xact = pg_catalog.pg_current_xact_id(),
                renewed_at = pg_catalog.clock_timestamp();
            v_status := 'taken';
        EXCEPTION WHEN SQLSTATE 'TRSKP' THEN
            v_status := 'skipped';
            v_message := SQLERRM;
        WHEN lock_not_available THEN
            PERFORM pg_catalog.pg_stat_clear_snapshot();
            SELECT l.pid, pg_catalog.pg_get_userbyid(a.usesysid) AS usename, a.state, a.state_change INTO v_holder
            FROM pg_catalog.pg_locks l
            LEFT JOIN pg_catalog.pg_stat_get_activity(l.pid) a ON true
            WHERE l.locktype = 'relation' AND l.relation = 'trending_private.cycle_lease'::pg_catalog.regclass
              AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
              AND l.mode = 'ShareUpdateExclusiveLock' AND l.granted AND l.pid <> v_me
            LIMIT 1;
            IF v_holder.pid IS NOT NULL THEN
                IF v_holder.state IN ('idle in transaction', 'idle in transaction (aborted)')
                   AND v_holder.state_change < pg_catalog.clock_timestamp() - v_timeout AND v_attempt < 3 THEN
                    -- a cycle transaction left open: end its backend, then try again
                    v_broken := pg_catalog.format('pid %s (role %s) was idle in transaction with the cycle lock since %s,'
                                                  ' longer than lease_idle_timeout (%s): its backend was ended',
                                                  v_holder.pid, v_holder.usename, v_holder.state_change, v_timeout);
                    v_broken_pid := v_holder.pid;
                    v_broken_role := v_holder.usename;
                    PERFORM pg_catalog.pg_terminate_backend(v_holder.pid, 5000);
                    v_status := 'retry';
                ELSE
                    -- name the run between two steps if there is one (the
                    -- lock's holder may be another call about to skip)
                    SELECT c.pid INTO v_lease FROM trending_private.cycle_lease c
                    WHERE c.run_id IS NOT NULL AND c.pid <> v_me
                      AND EXISTS (SELECT FROM pg_catalog.pg_stat_get_activity(c.pid) a
                                  WHERE a.backend_start = c.backend_start);
                    v_status := 'skipped';
                    v_message := pg_catalog.format('another cycle is running (pid %s)',
                                                   COALESCE(v_lease.pid, v_holder.pid));
                END IF;
            ELSE
                SELECT pg_catalog.string_agg(pg_catalog.format('pid %s (role %s, %s, %s)', l.pid,
                                                               COALESCE(pg_catalog.pg_get_userbyid(a.usesysid)::text, '?'),
                                                               COALESCE(a.backend_type, '?'),
                                                               CASE WHEN l.granted THEN 'holds ' ELSE 'waits for ' END
                                                               OPERATOR(pg_catalog.||) l.mode),
                                             ', ' ORDER BY l.pid)
                INTO v_blockers
                FROM pg_catalog.pg_locks l
                LEFT JOIN pg_catalog.pg_stat_get_activity(l.pid) a ON true
                WHERE l.locktype = 'relation' AND l.relation = 'trending_private.cycle_lease'::pg_catalog.regclass
                  AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
                  AND l.pid <> v_me
                  AND l.mode IN ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock',
                                 'ExclusiveLock', 'AccessExclusiveLock');
                IF v_blockers IS NULL AND v_attempt < 3 THEN
                    v_status := 'retry';  -- whoever it was has let go
                ELSE
                    v_status := 'failed';
                    v_message := pg_catalog.format('the cycle lock is blocked by %s: not a cycle',
                                                   COALESCE(v_blockers, 'backends that let go at once, again and again'));
                END IF;
            END IF;
        END;
        EXIT WHEN v_status <> 'retry';
    END LOOP;

    IF v_status = 'taken' THEN
        RETURN pg_catalog.jsonb_build_object('status', 'taken');
    END IF;
    INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, run_by, sqlstate, message)
    VALUES (p_trigger, v_status, pg_catalog.clock_timestamp(), p_now, p_run_by,
            CASE WHEN v_status = 'failed' THEN '55P03' END, v_message)
    RETURNING run_id INTO v_run_id;
    RETURN pg_catalog.jsonb_build_object('status', v_status, 'run_id', v_run_id, 'message', v_message);
END;
$function$;
