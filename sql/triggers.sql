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
