-------------------------------------------------------------------------------
-- _capture_guard_drop
-- Event trigger (ddl_command_start, DROP EXTENSION; see sql/triggers.sql):
-- a bare DROP EXTENSION trending while capture triggers are on the source
-- tables fails here with a hint naming trending.uninstall_capture(), rather
-- than with PostgreSQL's generic dependency error. With CASCADE the drop
-- goes ahead and removes the triggers (they depend on the capture
-- functions). The command is recognised in current_query(); a DROP run
-- from inside a function is not, and gets the dependency error instead
-- (which also names the capture triggers). Nothing is dropped either way.
CREATE FUNCTION trending._capture_guard_drop()
RETURNS event_trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_names text;
    v_tables text;
BEGIN
    SELECT pg_catalog.string_agg(DISTINCT g.tgrelid::pg_catalog.regclass::text, ', ') INTO v_tables
    FROM pg_catalog.pg_trigger g
    JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
    WHERE p.pronamespace = 'trending'::pg_catalog.regnamespace AND p.proname LIKE '\_capture\_%';
    IF v_tables IS NULL THEN
        RETURN;
    END IF;
    FOR v_names IN
        SELECT m[1] FROM pg_catalog.regexp_matches(pg_catalog.current_query(),
                                                   'drop\s+extension\s+(?:if\s+exists\s+)?([^;]*)', 'gi') AS m
    LOOP
        CONTINUE WHEN v_names ~* '\mcascade\M';
        IF EXISTS (SELECT FROM pg_catalog.regexp_split_to_table(v_names, ',') AS n(name)
                   WHERE pg_catalog.btrim(pg_catalog.regexp_replace(n.name, '\s+restrict\s*$', '', 'i'),
                                          E' \t\r\n"') = 'trending') THEN
            RAISE EXCEPTION 'trending: cannot drop extension trending while its change capture is installed'
                USING ERRCODE = '2BP01',
                      DETAIL = 'Capture triggers are on ' || v_tables || '.',
                      HINT = 'Run SELECT trending.uninstall_capture(); first: it removes them and leaves the tables as they were '
                             '(or DROP EXTENSION trending CASCADE drops them with the extension).';
        END IF;
    END LOOP;
END;
$function$;
