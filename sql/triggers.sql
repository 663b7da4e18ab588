-- Make the settings and strategies views writable (see their trigger functions).
CREATE TRIGGER settings_write
    INSTEAD OF INSERT OR UPDATE OR DELETE ON trending.settings
    FOR EACH ROW EXECUTE FUNCTION trending._write_setting();

CREATE TRIGGER strategies_write
    INSTEAD OF INSERT OR UPDATE OR DELETE ON trending.strategies
    FOR EACH ROW EXECUTE FUNCTION trending._write_strategy();

-- Change capture (issue 9, sql/functions/_capture_guard_drop.sql): a bare
-- DROP EXTENSION trending while capture triggers are installed fails with a
-- hint naming trending.uninstall_capture().
CREATE EVENT TRIGGER trending_capture_guard_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION trending._capture_guard_drop();

-- Change capture follows DDL (issue 16, sql/functions/_capture_follow_ddl.sql):
-- after any role's CREATE TABLE, ALTER TABLE or ALTER TYPE, the capture
-- triggers go on new partitions of a source table and off relations they
-- can no longer read. ENABLE ALWAYS: it fires in session_replication_role
-- replica too. (1.1 -> 1.2: sql/updates/1.1--1.2-finish.sql creates it.)
CREATE EVENT TRIGGER trending_capture_follow_ddl ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'ALTER TYPE')
    EXECUTE FUNCTION trending._capture_follow_ddl();
ALTER EVENT TRIGGER trending_capture_follow_ddl ENABLE ALWAYS;
COMMENT ON EVENT TRIGGER trending_capture_follow_ddl IS 'Change capture: keeps the capture triggers on every partition of a source table and off relations they can no longer read (sql/functions/_capture_follow_ddl.sql).';
