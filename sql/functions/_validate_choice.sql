-------------------------------------------------------------------------------
-- _validate_choice
-- Raise 22023 unless p_value is one of p_valid; the message names them all,
-- so a bad argument never looks like an empty result.
CREATE FUNCTION trending._validate_choice(p_name text, p_value text, p_valid text[])
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_value IS NULL OR NOT (p_value = ANY (p_valid)) THEN
        RAISE EXCEPTION 'invalid % %: valid values are %', p_name,
              COALESCE(quote_literal(p_value), 'NULL'), array_to_string(p_valid, ', ')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$function$;
