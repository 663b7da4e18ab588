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

-- Issue 17 (items 1-3): the roles that ran cycles on 1.1 (EXECUTE on
-- trending._apply_slice) keep running them: give them the routines a cycle
-- now calls (the staging functions that make the temp tables the writers
-- read). Their other grants are theirs already.
DO $do$
DECLARE
    v_role name;
BEGIN
    FOR v_role IN
        SELECT DISTINCT r.rolname
        FROM pg_proc p
        CROSS JOIN LATERAL aclexplode(p.proacl) AS a
        JOIN pg_roles r ON r.oid = a.grantee
        WHERE p.oid = 'trending._apply_slice(bigint, text, text, text, text, timestamp, oid)'::regprocedure
          AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        PERFORM trending._privileges('cycle_routines', v_role, true);
    END LOOP;
END;
$do$;

-- Issue 16 (DDL and partitions): the event trigger that keeps the capture
-- triggers on new partitions and off relations they can no longer read (as
-- in sql/triggers.sql; it needs its function, created above).
CREATE EVENT TRIGGER trending_capture_follow_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER TYPE')
    EXECUTE FUNCTION trending._capture_follow_ddl();
ALTER EVENT TRIGGER trending_capture_follow_ddl ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER trending_capture_follow_ddl IS 'Change capture: keeps the capture triggers on every partition of a source table and off relations they can no longer read (sql/functions/_capture_follow_ddl.sql).';
