-------------------------------------------------------------------------------
-- recompute
-- One cycle of every enabled strategy, in the caller's transaction: stage the
-- shared inputs, score every slice as a set, write only the rows that
-- changed; return the summary. On any error it raises and nothing changes.
--
-- The cycle is incremental when the change capture and the state allow it
-- (docs/incremental.md); full => true asks for a full one.
--
-- A thin PL/pgSQL layer over _recompute: PL/Python prefixes the errors it
-- raises on purpose with "plpy.Error: "; re-raised from here they read as
-- plain messages with their SQLSTATE, DETAIL and HINT. Every other error
-- passes through untouched.
CREATE FUNCTION trending.recompute(now timestamptz DEFAULT pg_catalog.now(), full boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_message text;
    v_sqlstate text;
    v_detail text;
    v_hint text;
BEGIN
    RETURN trending._recompute(recompute.now, recompute.full);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT, v_sqlstate = RETURNED_SQLSTATE,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    IF v_message NOT LIKE 'plpy.Error: %' THEN
        RAISE;
    END IF;
    PERFORM trending._raise(substr(v_message, length('plpy.Error: ') + 1), v_sqlstate, v_detail, v_hint);
END;
$function$;
