-------------------------------------------------------------------------------
-- scheduled_recompute
-- The cycle pg_cron runs: CALL trending.scheduled_recompute();
--
-- Same steps as trending.recompute(), but it COMMITs after each one: the
-- 'running' run row first, then each step (staging the inputs, each slice;
-- the last slice with record_movers and write_state, which move the
-- incremental state with the last scores), so no snapshot or lock is held
-- for a whole cycle and a reader sees each slice switch atomically when its
-- step commits. A failed step is recorded
-- in trending.runs (SQLSTATE, message) and committed, then re-raised so the
-- cron job is marked failed; the slices already committed keep their new
-- scores, the others their previous ones. On a hot standby it returns
-- quietly, so one schedule survives a failover. Another cycle running: it
-- returns at once (a 'skipped' run and a NOTICE); the cycle lease's lock
-- blocked by anything but a cycle: a 'failed' run, committed, then 55P03.
--
-- A procedure that commits may not have a SET clause nor be SECURITY
-- DEFINER, and must be called at top level (not inside BEGIN): it therefore
-- schema-qualifies every name, type and operator (a variable declared as
-- plain `jsonb` would be resolved on the caller's search_path, where a
-- look-alike type with an assignment cast could run code) and does its work
-- in functions that pin their search_path.
CREATE PROCEDURE trending.scheduled_recompute(now timestamptz DEFAULT NULL, full boolean DEFAULT false)
LANGUAGE plpgsql
AS $procedure$
DECLARE
    v_run_id pg_catalog.int8;
    v_step   pg_catalog.int4 := 0;
    v_result pg_catalog.jsonb;
    v_message pg_catalog.text;
    v_sqlstate pg_catalog.text;
    v_detail pg_catalog.text;
    v_hint pg_catalog.text;
BEGIN
    IF pg_catalog.pg_is_in_recovery() THEN
        RETURN;
    END IF;
    -- Inside BEGIN ... or a function this fails at once (2D000), before a
    -- session lock is taken that would outlive the aborted call.
    COMMIT;
    -- A refusal before the run starts (a bad now or setting) reads as the
    -- plain message, as from trending.recompute(). The handler's block ends before
    -- the next COMMIT (a COMMIT inside it would be refused).
    BEGIN
        v_run_id := trending._scheduled_start(COALESCE(scheduled_recompute.now, pg_catalog.now()),
                                              COALESCE(scheduled_recompute.full, false));
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                                v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
        IF pg_catalog.starts_with(v_message, 'plpy.Error: ') IS NOT TRUE THEN
            RAISE;
        END IF;
        PERFORM trending._raise(pg_catalog.substr(v_message, 13), v_sqlstate, v_detail, v_hint);
    END;
    IF v_run_id IS NULL THEN
        RETURN;
    END IF;
    IF v_run_id OPERATOR(pg_catalog.<) 0 THEN
        COMMIT;  -- the 'failed' row, then fail the job too
        PERFORM trending._raise(
            pg_catalog.format('trending: run %s failed: the cycle lease''s lock is blocked by a backend that is not a cycle',
                              OPERATOR(pg_catalog.-) v_run_id),
            '55P03', NULL, 'trending.status.unhealthy_reason names the backend and its role.');
    END IF;
    COMMIT;
    LOOP
        v_result := trending._scheduled_step(v_run_id, v_step);
        COMMIT;
        EXIT WHEN v_result OPERATOR(pg_catalog.->>) 'state' OPERATOR(pg_catalog.<>) 'more';
        v_step := v_step OPERATOR(pg_catalog.+) 1;
    END LOOP;
    IF v_result OPERATOR(pg_catalog.->>) 'state' OPERATOR(pg_catalog.<>) 'failed' THEN
        RETURN;
    END IF;
    -- re-raise the recorded failure, now committed
    PERFORM trending._raise(v_result OPERATOR(pg_catalog.->>) 'message',
                            v_result OPERATOR(pg_catalog.->>) 'sqlstate',
                            v_result OPERATOR(pg_catalog.->>) 'detail',
                            v_result OPERATOR(pg_catalog.->>) 'hint');
END;
$procedure$;
