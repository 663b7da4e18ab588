-------------------------------------------------------------------------------
-- _write_setting
-- INSTEAD OF trigger on the view trending.settings. UPDATE ... SET value
-- stores an override (or removes it when the value is the default or NULL);
-- DELETE restores the default; INSERT is refused (the settings are fixed).
-- SECURITY DEFINER so that UPDATE on the view is the only privilege a DBA
-- needs to grant.
CREATE FUNCTION trending._write_setting()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        RAISE EXCEPTION 'unknown setting %', quote_literal(NEW.name)
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'The settings are listed in trending.settings; change one with UPDATE.';
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM trending._setting_overrides o WHERE o.name = OLD.name;
        RETURN OLD;
    END IF;

    IF NEW.name IS DISTINCT FROM OLD.name
       OR NEW.default_value IS DISTINCT FROM OLD.default_value
       OR NEW.description IS DISTINCT FROM OLD.description THEN
        RAISE EXCEPTION 'only the value of a setting can be changed'
              USING ERRCODE = 'feature_not_supported';
    END IF;

    IF NEW.value IS NULL OR NEW.value = OLD.default_value THEN
        DELETE FROM trending._setting_overrides o WHERE o.name = OLD.name;
        NEW.value := OLD.default_value;
    ELSE
        PERFORM trending._validate_setting(OLD.name, NEW.value);
        INSERT INTO trending._setting_overrides AS o (name, value) VALUES (OLD.name, NEW.value)
        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now();
    END IF;
    NEW.is_default := NEW.value = OLD.default_value;
    RETURN NEW;
END;
$function$;
