-------------------------------------------------------------------------------
-- _capture_empty
-- Is relation p_relid provably empty: it exists, and every table in it (a
-- partitioned table's every leaf) has no page at all? Read from the size of
-- the files, not from a snapshot: a row committed by any transaction, or in
-- flight, has made a page. The event trigger _capture_follow_ddl keeps the
-- capture armed over a partition attached, created or detached only when
-- this is true (pg_partman's premade partitions); a partition that ever held
-- a row, or is not a plain table, makes the next cycle run full.
CREATE FUNCTION trending._capture_empty(p_relid oid)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = p_relid AND c.relkind IN ('r', 'p'))
   AND NOT EXISTS (
       SELECT FROM pg_catalog.pg_partition_tree(p_relid::pg_catalog.regclass) t
       JOIN pg_catalog.pg_class c ON c.oid = t.relid
       WHERE c.relkind <> 'p' AND (c.relkind <> 'r' OR pg_catalog.pg_relation_size(c.oid) > 0))
   AND NOT (SELECT c.relkind = 'r' AND pg_catalog.pg_relation_size(c.oid) > 0
            FROM pg_catalog.pg_class c WHERE c.oid = p_relid);
$function$;
