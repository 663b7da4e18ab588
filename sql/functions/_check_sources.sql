-------------------------------------------------------------------------------
-- _check_sources
-- Lock the source tables a read is about to scan, then say in one catalog
-- query everything that makes them unfit or untrusted to read. Returns one
-- row per problem (none: fit), in the order of p_columns, with the
-- problem's SQLSTATE and a severity (lower: more fundamental; the caller
-- raises the SQLSTATE of the lowest).
--
-- The source tables belong to another role. Whatever that role owns must
-- never run as the reader (a cycle may run as a superuser), so a source and
-- every descendant a read scans must be a plain or partitioned table without
-- row-level security, each read column must have a listed built-in type (or
-- be an enum with the labels compared), and no index, constraint, extended
-- statistics object or partition key of them may depend on a function,
-- operator or non-enum type owned by a non-superuser: the planner evaluates
-- those expressions, calling IMMUTABLE functions at plan time.
--
-- p_columns: [{"table": t, "column": c, "types": [pg_catalog type names]}
--             or {..., "enum": [labels]}, ...]
-- The ACCESS SHARE lock (the read's lock, held to the end of the
-- transaction) is taken BEFORE the catalog query, and the transaction must be
-- READ COMMITTED, so the check sees the relations the reads will see: a
-- renamed, dropped or altered relation needs a lock that conflicts with it.
-- VOLATILE because of the LOCK (a STABLE caller may still call it).
CREATE FUNCTION trending._check_sources(p_schema text, p_columns jsonb)
RETURNS TABLE (sqlstate text, problem text, severity integer)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan  -- a catalog query: plan it once per session, not per call
AS $function$
DECLARE
    v_isolation text := pg_catalog.current_setting('transaction_isolation');
    v_namespace oid;
    v_lock text;
BEGIN
    -- Under REPEATABLE READ the catalog query would use a snapshot older than
    -- the lock: a swap committed in between would pass unseen.
    IF v_isolation <> 'read committed' THEN
        RETURN QUERY SELECT '25000'::text,
            pg_catalog.format('the transaction is %s; reading the source tables needs READ COMMITTED',
                              pg_catalog.upper(v_isolation)),
            0;
        RETURN;
    END IF;
    SELECT n.oid INTO v_namespace FROM pg_catalog.pg_namespace n WHERE n.nspname = p_schema;
    IF v_namespace IS NULL THEN
        RETURN QUERY SELECT '3F000'::text, pg_catalog.format('source schema "%s" does not exist', p_schema), 1;
        RETURN;
    END IF;

    -- The lock the read takes (LOCK recurses to the current descendants).
    -- Only readable tables: LOCK on anything else would fail with a less
    -- complete message than the query below.
    SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', p_schema, c.relname), ', ' ORDER BY c.relname)
      INTO v_lock
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = v_namespace
       AND c.relname IN (SELECT DISTINCT e ->> 'table' FROM pg_catalog.jsonb_array_elements(p_columns) e)
       AND c.relkind IN ('r', 'p')
       AND pg_catalog.has_table_privilege(c.oid, 'SELECT');
    IF v_lock IS NOT NULL THEN
        EXECUTE 'LOCK TABLE ' || v_lock || ' IN ACCESS SHARE MODE';
    END IF;

    RETURN QUERY
    WITH RECURSIVE spec AS (
        SELECT e ->> 'table' AS table_name, e ->> 'column' AS column_name, e -> 'types' AS types,
               e -> 'enum' AS labels, o.ord
        FROM pg_catalog.jsonb_array_elements(p_columns) WITH ORDINALITY AS o(e, ord)
    ),
    tabs AS (
        SELECT s.table_name, pg_catalog.min(s.ord) AS ord, c.oid AS relid, c.relkind,
               c.relrowsecurity OR c.relforcerowsecurity AS rls,
               CASE WHEN c.oid IS NOT NULL THEN pg_catalog.has_table_privilege(c.oid, 'SELECT') END AS readable
        FROM spec s
        LEFT JOIN pg_catalog.pg_class c  -- name-typed comparisons, so the catalogs' indexes serve them
               ON c.relnamespace = v_namespace AND c.relname = s.table_name::pg_catalog.name
        GROUP BY s.table_name, c.oid, c.relkind, c.relrowsecurity, c.relforcerowsecurity
    ),
    -- every relation a read of a source scans: the source, its partitions and
    -- inheritance children, recursively
    tree AS (
        SELECT t.table_name, t.ord, t.relid, 0 AS depth FROM tabs t WHERE t.relid IS NOT NULL
        UNION
        SELECT tr.table_name, tr.ord, i.inhrelid, tr.depth + 1
        FROM tree tr JOIN pg_catalog.pg_inherits i ON i.inhparent = tr.relid
    ),
    members AS (
        SELECT tr.table_name, tr.ord, tr.relid, tr.depth, c.relkind,
               c.relrowsecurity OR c.relforcerowsecurity AS rls,
               pg_catalog.format('%I.%I', n.nspname, c.relname)
                   || CASE WHEN tr.depth > 0
                           THEN pg_catalog.format(' (a %s of %I.%I)',
                                    CASE WHEN c.relispartition THEN 'partition' ELSE 'child' END,
                                    p_schema, tr.table_name)
                           ELSE '' END AS label
        FROM tree tr
        CROSS JOIN LATERAL (SELECT c.* FROM pg_catalog.pg_class c WHERE c.oid = tr.relid) c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    ),
    -- a source that is itself a partition: its ancestors' partition keys make
    -- its partition constraint, which constraint_exclusion = on evaluates
    ancestors AS (
        SELECT t.table_name, t.ord, i.inhparent AS relid FROM tabs t
        JOIN pg_catalog.pg_inherits i ON i.inhrelid = t.relid
        UNION
        SELECT a.table_name, a.ord, i.inhparent FROM ancestors a
        JOIN pg_catalog.pg_inherits i ON i.inhrelid = a.relid
    ),
    -- objects whose expressions a read (its planning included) may evaluate:
    -- the relation itself (partition key), its indexes, constraints and
    -- extended statistics
    objs AS (
        SELECT m.ord, m.label, 'pg_catalog.pg_class'::pg_catalog.regclass AS classid, m.relid AS objid,
               true AS is_self
        FROM members m
        UNION ALL
        SELECT a.ord, pg_catalog.format('the partition key of %s (an ancestor of %I.%I)',
                                        a.relid::pg_catalog.regclass, p_schema, a.table_name),
               'pg_catalog.pg_class'::pg_catalog.regclass, a.relid, true
        FROM ancestors a
        UNION ALL
        SELECT m.ord, m.label, 'pg_catalog.pg_class'::pg_catalog.regclass, x.indexrelid, false
        FROM members m JOIN pg_catalog.pg_index x ON x.indrelid = m.relid
        UNION ALL
        SELECT m.ord, m.label, 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid, false
        FROM members m JOIN pg_catalog.pg_constraint k ON k.conrelid = m.relid
        UNION ALL
        SELECT m.ord, m.label, 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, x.oid, false
        FROM members m JOIN pg_catalog.pg_statistic_ext x ON x.stxrelid = m.relid
    ),
    untrusted AS (
        SELECT DISTINCT o.ord, o.label, o.is_self, o.classid, o.objid, d.refclassid, d.refobjid, r.rolname
        FROM objs o
        CROSS JOIN LATERAL (SELECT d.* FROM pg_catalog.pg_depend d
                            WHERE d.classid = o.classid AND d.objid = o.objid AND d.objsubid = 0) d
        LEFT JOIN pg_catalog.pg_proc f
               ON d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND f.oid = d.refobjid
        LEFT JOIN pg_catalog.pg_operator op
               ON d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND op.oid = d.refobjid
        LEFT JOIN pg_catalog.pg_type ty
               ON d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND ty.oid = d.refobjid
              AND ty.typtype <> 'e'
        JOIN pg_catalog.pg_roles r ON r.oid = COALESCE(f.proowner, op.oprowner, ty.typowner)
        WHERE NOT r.rolsuper
    ),
    -- the accepted types' OIDs: built-in types, by name in pg_catalog only
    kinds AS (
        SELECT s.ord, pg_catalog.array_agg(b.oid) AS accepted
        FROM spec s
        CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(s.types) AS n(name)
        JOIN pg_catalog.pg_type b
          ON b.typname = n.name::pg_catalog.name AND b.typnamespace = 'pg_catalog'::pg_catalog.regnamespace
        GROUP BY s.ord
    ),
    cols AS (
        SELECT s.*, t.relid, a.atttypid, ty.typtype,
               k.accepted
        FROM spec s
        LEFT JOIN kinds k ON k.ord = s.ord
        JOIN tabs t ON t.table_name = s.table_name AND t.relid IS NOT NULL
        LEFT JOIN LATERAL (SELECT a.atttypid FROM pg_catalog.pg_attribute a
                           WHERE a.attrelid = t.relid AND a.attname = s.column_name::pg_catalog.name
                             AND a.attnum > 0 AND NOT a.attisdropped) a ON true
        LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
    ),
    problems AS (
        SELECT t.ord, 0 AS sub, '42P01' AS sqlstate, 2 AS severity,
               pg_catalog.format('table %s.%s does not exist', p_schema, t.table_name) AS problem
        FROM tabs t WHERE t.relid IS NULL
        UNION ALL
        SELECT m.ord, 1 + m.depth, '42809', 3,
               pg_catalog.format('%s is %s, not a plain or partitioned table', m.label,
                   CASE m.relkind WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view'
                                  WHEN 'f' THEN 'a foreign table' WHEN 'S' THEN 'a sequence'
                                  WHEN 'i' THEN 'an index' WHEN 'I' THEN 'an index'
                                  WHEN 'c' THEN 'a composite type'
                                  ELSE 'of relkind ' || m.relkind::text END)
        FROM members m WHERE m.relkind NOT IN ('r', 'p')
        UNION ALL
        SELECT c.ord, 100, '42703', 4,
               pg_catalog.format('column %s.%s does not exist', c.table_name, c.column_name)
        FROM cols c WHERE c.atttypid IS NULL
        UNION ALL
        SELECT c.ord, 100, '42804', 5,
               pg_catalog.format('column %s.%s is %s, expected %s', c.table_name, c.column_name,
                   pg_catalog.format_type(c.atttypid, NULL),
                   CASE WHEN c.labels IS NOT NULL THEN 'an enum type'
                        ELSE (SELECT pg_catalog.string_agg(pg_catalog.format_type(x, NULL), ' or '
                                                           ORDER BY pg_catalog.format_type(x, NULL))
                              FROM pg_catalog.unnest(c.accepted) x) END)
        FROM cols c
        WHERE c.atttypid IS NOT NULL
          AND CASE WHEN c.labels IS NOT NULL THEN c.typtype <> 'e'
                   ELSE c.atttypid <> ALL (COALESCE(c.accepted, '{}')) END
        UNION ALL
        SELECT c.ord, 101, '42804',  5,
               pg_catalog.format('column %s.%s: enum type %s has no label %L', c.table_name, c.column_name,
                                 pg_catalog.format_type(c.atttypid, NULL), l.label)
        FROM cols c
        CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(c.labels) AS l(label)
        WHERE c.labels IS NOT NULL AND c.typtype = 'e'
          AND NOT EXISTS (SELECT FROM pg_catalog.pg_enum e
                          WHERE e.enumtypid = c.atttypid AND e.enumlabel = l.label)
        UNION ALL
        SELECT t.ord, 200, '42501', 6, pg_catalog.format('no SELECT privilege on %s.%s', p_schema, t.table_name)
        FROM tabs t WHERE t.relid IS NOT NULL AND NOT t.readable
        UNION ALL
        SELECT m.ord, 201 + m.depth, '42501', 6,
               pg_catalog.format('row-level security is enabled on %s', m.label)
        FROM members m WHERE m.rls
        UNION ALL
        SELECT u.ord, 300, '42501', 6,
               pg_catalog.format('%s depends on %s, owned by %I, who is not a superuser',
                   CASE WHEN u.is_self THEN u.label
                        WHEN u.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass  -- names its table
                        THEN pg_catalog.pg_describe_object(u.classid, u.objid, 0)
                        ELSE pg_catalog.pg_describe_object(u.classid, u.objid, 0) || ' of ' || u.label END,
                   pg_catalog.pg_describe_object(u.refclassid, u.refobjid, 0), u.rolname)
        FROM untrusted u
    )
    SELECT p.sqlstate, p.problem, p.severity FROM problems p ORDER BY p.ord, p.sub, p.problem;
END;
$function$;
