-------------------------------------------------------------------------------
-- _capture_cover
-- Put the four capture triggers of source table p_table (statement-level,
-- AFTER, with transition tables; ENABLE ALWAYS so that they fire for a
-- logical replication subscriber too) on relation p_relid: the source table
-- or one of its partitions. Used by install_capture() and by the event
-- trigger _capture_follow_ddl for a partition created or attached later.
-- Statement triggers are not cloned to partitions and fire only for the
-- table a statement names, so the parent and each partition carry their
-- own and no write is counted twice. Takes SHARE ROW EXCLUSIVE on p_relid.
CREATE FUNCTION trending._capture_cover(p_relid oid, p_table text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_rel text := p_relid::pg_catalog.regclass::text;  -- schema-qualified (search_path is pg_catalog only)
    v_function text := pg_catalog.format('trending.%I', '_capture_' || p_table);
BEGIN
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_insert AFTER INSERT ON %s '
                              'REFERENCING NEW TABLE AS capture_new FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                              v_rel, v_function);
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_update AFTER UPDATE ON %s '
                              'REFERENCING OLD TABLE AS capture_old NEW TABLE AS capture_new '
                              'FOR EACH STATEMENT EXECUTE FUNCTION %s()', v_rel, v_function);
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_delete AFTER DELETE ON %s '
                              'REFERENCING OLD TABLE AS capture_old FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                              v_rel, v_function);
    EXECUTE pg_catalog.format('CREATE TRIGGER trending_capture_truncate AFTER TRUNCATE ON %s '
                              'FOR EACH STATEMENT EXECUTE FUNCTION %s()', v_rel, v_function);
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER trending_capture_insert, '
                              'ENABLE ALWAYS TRIGGER trending_capture_update, '
                              'ENABLE ALWAYS TRIGGER trending_capture_delete, '
                              'ENABLE ALWAYS TRIGGER trending_capture_truncate', v_rel);
END;
$function$;
