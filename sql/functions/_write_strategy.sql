-------------------------------------------------------------------------------
-- _write_strategy
-- INSTEAD OF trigger on the view trending.strategies: a plain
--   UPDATE trending.strategies SET enabled = false WHERE type = 'PLAYLISTS';
-- switches a strategy; the next cycle adds or removes its rows. Only the
-- user's deviation from the default is stored (and dumped), so CREATE
-- EXTENSION during a restore never collides with it. NULL restores the default.
CREATE FUNCTION trending._write_strategy()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'strategies are registered by the extension and cannot be added or removed'
              USING ERRCODE = 'feature_not_supported',
                    HINT = 'Switch one on or off: UPDATE trending.strategies SET enabled = false WHERE type = ... AND version = ...;';
    END IF;
    IF NEW.type IS DISTINCT FROM OLD.type OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.time_ranges IS DISTINCT FROM OLD.time_ranges
       OR NEW.enabled_by_default IS DISTINCT FROM OLD.enabled_by_default
       OR NEW.description IS DISTINCT FROM OLD.description THEN
        RAISE EXCEPTION 'only "enabled" of a strategy can be changed'
              USING ERRCODE = 'feature_not_supported';
    END IF;

    IF NEW.enabled IS NULL OR NEW.enabled = OLD.enabled_by_default THEN
        DELETE FROM trending._strategy_overrides o WHERE o.type = OLD.type AND o.version = OLD.version;
        NEW.enabled := OLD.enabled_by_default;
    ELSE
        INSERT INTO trending._strategy_overrides AS o (type, version, enabled)
        VALUES (OLD.type, OLD.version, NEW.enabled)
        ON CONFLICT (type, version) DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now();
    END IF;
    RETURN NEW;
END;
$function$;
