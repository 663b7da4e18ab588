-- Make the settings and strategies views writable (see their trigger functions).
CREATE TRIGGER settings_write
    INSTEAD OF INSERT OR UPDATE OR DELETE ON trending.settings
    FOR EACH ROW EXECUTE FUNCTION trending._write_setting();

CREATE TRIGGER strategies_write
    INSTEAD OF INSERT OR UPDATE OR DELETE ON trending.strategies
    FOR EACH ROW EXECUTE FUNCTION trending._write_strategy();
