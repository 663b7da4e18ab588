-------------------------------------------------------------------------------
-- _wal_compress
-- Compress the full-page images of the rest of the caller's transaction's
-- WAL (wal_compression), and return the value it replaced; called with that
-- value, put it back. Why: the rows an hourly cycle changes are spread over
-- the score tables and their indexes, so its WAL is mostly one full-page
-- image per page it touches first after a checkpoint (docs/benchmark.md,
-- "What bounds WAL"); lz4 makes those images about 2.9x smaller (the
-- cycle's WAL about 2.5x) for little CPU.
-- Only a superuser may set wal_compression: the score writers are SECURITY
-- DEFINER, owned by the extension's owner, and under an owner that is not
-- a superuser nothing changes. A server already set to compress keeps its
-- own choice; pglz where the server was built without lz4.
CREATE FUNCTION trending._wal_compress(p_restore text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_current text := pg_catalog.current_setting('wal_compression');
BEGIN
    IF NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), false) THEN
        RETURN v_current;
    END IF;
    IF p_restore IS NOT NULL THEN
        PERFORM pg_catalog.set_config('wal_compression', p_restore, true);
    ELSIF v_current = 'off' THEN
        PERFORM pg_catalog.set_config('wal_compression',
            CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_settings s
                              WHERE s.name = 'wal_compression' AND 'lz4' = ANY (s.enumvals))
                 THEN 'lz4' ELSE 'pglz' END, true);
    END IF;
    RETURN v_current;
END;
$function$;
