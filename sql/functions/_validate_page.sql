-------------------------------------------------------------------------------
-- _validate_page
-- Raise 22023 unless 1 <= p_lim <= 1000 and p_off >= 0.
CREATE FUNCTION trending._validate_page(p_lim integer, p_off integer)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_lim IS NULL OR p_lim < 1 OR p_lim > 1000 THEN
        RAISE EXCEPTION 'invalid lim %: valid values are 1 to 1000', COALESCE(p_lim::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_off IS NULL OR p_off < 0 THEN
        RAISE EXCEPTION 'invalid off %: valid values are 0 or more', COALESCE(p_off::text, 'NULL')
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
END;
$function$;
