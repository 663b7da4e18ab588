-------------------------------------------------------------------------------
-- _capture_writers_before
-- The transactions other than this one that hold a write lock on a source
-- table (or one of its partitions) and started before p_since, as text
-- ('pid 123', 'prepared transaction ''gid''', comma-separated), or NULL when
-- there are none. A prepared transaction's start is unknown: it is always
-- named. Used to arm the capture: such a transaction may have written while
-- the capture did not record.
-- SECURITY INVOKER: called by the definer _capture_snapshot, which may read
-- every backend's xact_start.
CREATE FUNCTION trending._capture_writers_before(p_since timestamptz)
RETURNS text
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
    WITH sources AS (
        -- the tables, and the partitions of those that are partitioned
        -- (pg_partition_tree is empty for a plain table)
        SELECT c.relid FROM trending._capture_catalog c WHERE c.relid IS NOT NULL
        UNION
        SELECT t.relid
        FROM trending._capture_catalog c
        CROSS JOIN LATERAL pg_catalog.pg_partition_tree(c.relid) t
        WHERE c.relid IS NOT NULL
    ), writers AS (
        SELECT DISTINCT l.pid, l.virtualtransaction
        FROM pg_catalog.pg_locks l
        WHERE l.locktype = 'relation' AND l.granted
          AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
          AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d
                            WHERE d.datname = pg_catalog.current_database())
          AND l.relation IN (SELECT s.relid FROM sources s)
          AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
    )
    SELECT pg_catalog.string_agg(w.who, ', ' ORDER BY w.who)
    FROM (
        SELECT 'pid ' || w.pid::text AS who
        FROM writers w JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
        WHERE a.xact_start < p_since
        UNION
        -- a prepared transaction's locks have no pid and keep its virtual
        -- transaction, whose transactionid lock names its xid
        SELECT pg_catalog.format('prepared transaction %L', COALESCE(
                   (SELECT px.gid FROM pg_catalog.pg_locks x
                    JOIN pg_catalog.pg_prepared_xacts px ON px.transaction = x.transactionid
                    WHERE x.locktype = 'transactionid' AND x.pid IS NULL
                      AND x.virtualtransaction = w.virtualtransaction LIMIT 1),
                   w.virtualtransaction))
        FROM writers w
        WHERE w.pid IS NULL
    ) w
$function$;
