-- Give back the EXECUTE grants kept by pg_temp.trending_drop_keeping_grants
-- (see sql/updates/1.1--1.2.sql) to the routines of the same name.
DO $do$
DECLARE
    v_grant jsonb;
BEGIN
    FOR v_grant IN
        SELECT value FROM jsonb_array_elements(
            COALESCE(NULLIF(current_setting('trending.upgrade_grants', true), ''), '[]')::jsonb)
    LOOP
        EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO %s%s',
                       (SELECT p.oid::regprocedure FROM pg_proc p
                        WHERE p.pronamespace = 'trending'::regnamespace AND p.proname = v_grant->>'name'),
                       v_grant->>'grantee',
                       CASE WHEN (v_grant->>'grantable')::boolean THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    PERFORM set_config('trending.upgrade_grants', '', true);
END;
$do$;
DROP FUNCTION pg_temp.trending_drop_keeping_grants(regprocedure[]);
