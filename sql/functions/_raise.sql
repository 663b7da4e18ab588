-------------------------------------------------------------------------------
-- _raise
-- Raise an error with this message, SQLSTATE and, when not NULL or empty,
-- DETAIL and HINT (RAISE would print an empty DETAIL or HINT label, and
-- refuses a NULL one). recompute() and scheduled_recompute() re-raise the
-- cycle's errors through it.
CREATE FUNCTION trending._raise(p_message text, p_sqlstate text, p_detail text, p_hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_detail <> '' AND p_hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, DETAIL = p_detail, HINT = p_hint;
    ELSIF p_detail <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, DETAIL = p_detail;
    ELSIF p_hint <> '' THEN
        RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate, HINT = p_hint;
    END IF;
    RAISE EXCEPTION USING MESSAGE = p_message, ERRCODE = p_sqlstate;
END;
$function$;
