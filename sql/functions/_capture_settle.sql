-------------------------------------------------------------------------------
-- _capture_settle
-- The consumer's watermark (pg_incremental's method, applied to our own
-- delta tables): read the highest capture number drawn so far, then wait
-- until every transaction that held a RowExclusiveLock on a delta table at
-- that moment has ended. A trigger draws its number after its INSERT has
-- taken that lock (one sequence, CACHE 1), so once they have ended every
-- change numbered <= upto is committed or rolled back: reading the delta
-- tables up to upto misses nothing, whatever order the writers commit in.
-- Returns settled = false when p_timeout passed first (a writer's
-- transaction stays open): rows <= upto may still appear, so the caller
-- may use what it sees but must not advance the watermark to upto.
-- SECURITY DEFINER: it reads the unlogged sequence and pg_locks only.
CREATE FUNCTION trending._capture_settle(p_timeout interval)
RETURNS TABLE (upto bigint, settled boolean)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_upto bigint;
    v_holders text[];
    v_deadline timestamptz := pg_catalog.clock_timestamp() + COALESCE(p_timeout, '0'::pg_catalog.interval);
    v_database oid := (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
    v_tables oid[] := ARRAY['trending._capture_changes'::pg_catalog.regclass,
                            'trending._capture_plays'::pg_catalog.regclass,
                            'trending._capture_truncates'::pg_catalog.regclass]::oid[];
BEGIN
    SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO v_upto FROM trending._capture_seq q;
    LOOP
        SELECT pg_catalog.array_agg(DISTINCT l.virtualtransaction) INTO v_holders
        FROM pg_catalog.pg_locks l
        WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'RowExclusiveLock'
          AND l.database = v_database AND l.relation = ANY (v_tables)
          AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()   -- prepared transactions have no pid
          AND (v_holders IS NULL OR l.virtualtransaction = ANY (v_holders));
        IF v_holders IS NULL THEN
            RETURN QUERY SELECT v_upto, true;
            RETURN;
        END IF;
        IF pg_catalog.clock_timestamp() >= v_deadline THEN
            RETURN QUERY SELECT v_upto, false;
            RETURN;
        END IF;
        PERFORM pg_catalog.pg_sleep(0.005);
    END LOOP;
END;
$function$;
