-------------------------------------------------------------------------------
-- _capture_readable
-- Can the capture trigger of source p_source run on relation p_relid (the
-- source table or one of its partitions) without failing the writer's
-- statement? Every column a cycle reads (trending._capture_read_columns)
-- must be there with an accepted built-in type, and an enum column must
-- still have the labels the trigger compares with. The event trigger
-- _capture_follow_ddl takes the triggers off a relation where this turns
-- false (a column dropped, renamed away, retyped, an enum label renamed)
-- and puts them back once it is true again.
CREATE FUNCTION trending._capture_readable(p_relid oid, p_source smallint)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
SELECT pg_catalog.bool_and(a.attnum IS NOT NULL AND CASE
           WHEN rc.enum_labels IS NOT NULL THEN ty.typtype = 'e' AND rc.enum_labels OPERATOR(pg_catalog.<@)
               ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = ty.oid)
           ELSE ty.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
               AND ty.typname::text OPERATOR(pg_catalog.=) ANY (rc.type_names)
       END)
FROM trending._capture_read_columns rc
LEFT JOIN pg_catalog.pg_attribute a
    ON a.attrelid = p_relid AND a.attname = rc.column_name AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
WHERE rc.source = p_source;
$function$;
