-------------------------------------------------------------------------------
-- _privileges
-- Grant (p_grant) or revoke one set of privileges for role p_role; the body
-- of grant_cycle, grant_read, grant_configure and their revoke_ twins.
--
--   cycle:     run cycles through recompute() and scheduled_recompute()
--              (and preview() and explain_*(): they read what a cycle reads): the
--              entry points and the routines they call as the invoker
--              (including the plpython3u ones: PL/Python checks EXECUTE on
--              them as the caller, see docs/security.md), the SECURITY
--              DEFINER writers (and _capture_snapshot and _capture_arm), USAGE on
--              the configured source schema and
--              SELECT on exactly the source tables a cycle reads, TEMP on
--              this database. No write privilege on any table.
--   read:      the status and metrics views, the read functions and
--              trending.movers_top (movers() reads it as the caller).
--   configure: UPDATE and DELETE on trending.settings and trending.strategies.
--   cycle_routines: only the cycle's routines (for the upgrade from 1.0).
-- Every set also grants USAGE on schema trending and SELECT on the score
-- tables, settings and strategies (PUBLIC's by default), cycle and read
-- also SELECT on trending.capture_status; revoke_* leaves those, since
-- another set may need them.
--
-- The source tables are those of extension/trending_pl/sources.py
-- REQUIRED_COLUMNS (test_trust_cycle.py checks the two lists agree). They
-- must exist when granting: a cycle reads them all. Idempotent.
CREATE FUNCTION trending._privileges(p_set text, p_role name, p_grant boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_verb text := CASE WHEN p_grant THEN 'GRANT' ELSE 'REVOKE' END;
    v_to text := CASE WHEN p_grant THEN 'TO' ELSE 'FROM' END;
    v_sources text[] := ARRAY['tracks', 'plays', 'saves', 'reposts', 'users', 'aggregate_user',
                              'aggregate_track', 'aggregate_plays', 'aggregate_playlist', 'playlists'];
    v_cycle_routines text[] := ARRAY[
        'trending.recompute(timestamptz, boolean)', 'trending._recompute(timestamptz, boolean)',
        'trending.scheduled_recompute(timestamptz, boolean)', 'trending._scheduled_start(timestamptz, boolean)',
        'trending._scheduled_step(bigint, integer)', 'trending._python_init()',
        'trending._raise(text, text, text, text)', 'trending._validate_setting(text, text)',
        'trending._check_sources(text, jsonb)',
        'trending._own_run(bigint)', 'trending._run_begin(text, timestamptz, name, jsonb)',
        'trending._lease_take(text, timestamptz, name)', 'trending._cycle_holder()',
        'trending._run_step_done(bigint, text, double precision, jsonb, jsonb, text, text, jsonb, jsonb)',
        'trending._run_finish(bigint)', 'trending._run_fail(bigint, text, text, text, text)',
        'trending._apply_slice(bigint, text, text, text, text, timestamp, oid)',
        'trending._remove_slice(bigint, text, text, text, text)',
        -- a cycle takes the capture's snapshot, then arms or advances it (all check the cycle lease)
        'trending._capture_snapshot(interval)', 'trending._capture_arm(text)',
        'trending._capture_advance()', 'trending._state_write(bigint, text, boolean)',
        'trending._state_advance(bigint, timestamp, timestamp)',
        'trending._state_finish(bigint, timestamp, text, text)',
        -- the last step records the movers' top lists (issue 11)
        'trending._record_top(bigint, integer, integer, boolean)',
        -- the temp tables the writers read are made by the owner (issue 17)
        'trending._staging_table(text)', 'trending._staging_analyze(text)', 'trending._staging_drop()'];
    v_read_routines text[] := ARRAY[
        'trending.top_tracks(text, text, integer, integer, text)',
        'trending.underground_tracks(text, text, integer, integer)',
        'trending.top_playlists(text, integer, integer)',
        'trending._validate_choice(text, text, text[])', 'trending._validate_page(integer, integer)',
        'trending._check_sources(text, jsonb)',  -- underground_tracks checks the sources it reads
        'trending._cycle_holder()',  -- trending.status reads it
        'trending.movers(text, text, text)'];
    -- issue 11: a preview stages a cycle as the caller and an explanation reads
    -- the sources for one item: part of the cycle set, they need what it needs
    v_insight_routines text[] := ARRAY[
        'trending.preview(timestamptz)', 'trending._preview(timestamptz)',
        'trending.explain_track(integer, text, text, timestamptz)',
        'trending.explain_playlist(integer, text, timestamptz)',
        'trending._explain(text, integer, text, text, timestamptz)'];
    -- what an incremental cycle reads of trending's own: the delta rows and the state
    v_cycle_relations text[] := ARRAY[
        'trending._capture_changed', 'trending._capture_play_hours', 'trending._state_meta',
        'trending._state_tracks', 'trending._state_playlists', 'trending._state_playlist_owners',
        'trending._state_track_users', 'trending._state_playlist_users',
        'trending._state_play_buckets', 'trending._state_track_actions', 'trending._state_playlist_hours'];
    v_routine text;
    v_schema text;
    v_missing text[];
BEGIN
    IF p_role IS NULL OR NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = p_role) THEN
        RAISE EXCEPTION 'trending: role "%" does not exist', p_role
            USING ERRCODE = '42704', HINT = 'CREATE ROLE it first (for a pg_cron job: WITH LOGIN).';
    END IF;
    -- GRANT without the grant option only warns; say clearly who may do this
    IF NOT pg_catalog.pg_has_role(CURRENT_USER,
                                  (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'trending'),
                                  'USAGE') THEN
        RAISE EXCEPTION 'trending: only the extension''s owner or a superuser may grant or revoke its privileges'
            USING ERRCODE = '42501';
    END IF;

    IF p_grant THEN
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA trending TO %I', p_role);
        EXECUTE pg_catalog.format('GRANT SELECT ON trending.settings, trending.strategies, '
                                  'trending.track_trending_scores, trending.playlist_trending_scores TO %I', p_role);
        -- a cycle asks the capture's state first; readers see it next to the
        -- status (PUBLIC's by default, like the above)
        IF p_set IN ('cycle', 'cycle_routines', 'read') AND pg_catalog.to_regclass('trending.capture_status') IS NOT NULL THEN
            EXECUTE pg_catalog.format('GRANT SELECT ON trending.capture_status TO %I', p_role);
        END IF;
    END IF;

    IF p_set IN ('cycle', 'cycle_routines') THEN
        FOREACH v_routine IN ARRAY v_cycle_routines || v_insight_routines LOOP
            IF pg_catalog.to_regprocedure(v_routine) IS NOT NULL THEN
                EXECUTE pg_catalog.format('%s EXECUTE ON ROUTINE %s %s %I', v_verb, v_routine, v_to, p_role);
            END IF;
        END LOOP;
        FOREACH v_routine IN ARRAY v_cycle_relations LOOP
            IF pg_catalog.to_regclass(v_routine) IS NOT NULL THEN
                EXECUTE pg_catalog.format('%s SELECT ON %s %s %I', v_verb, v_routine, v_to, p_role);
            END IF;
        END LOOP;
        IF p_set = 'cycle_routines' THEN  -- the upgrade from 1.0 gives cycle roles the new routines
            RETURN;
        END IF;
        EXECUTE pg_catalog.format('%s TEMPORARY ON DATABASE %I %s %I', v_verb,
                                  pg_catalog.current_database(), v_to, p_role);
        SELECT s.value INTO v_schema FROM trending.settings s WHERE s.name = 'source_schema';
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n WHERE n.nspname = v_schema) THEN
            IF p_grant THEN
                RAISE EXCEPTION 'trending: source schema "%" does not exist', v_schema
                    USING ERRCODE = '3F000',
                          HINT = 'Set trending.settings.source_schema, create the source tables, then grant again.';
            END IF;
            RETURN;
        END IF;
        SELECT pg_catalog.array_agg(t ORDER BY o) INTO v_missing
        FROM pg_catalog.unnest(v_sources) WITH ORDINALITY AS u(t, o)
        WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_schema, t)) IS NULL;
        IF v_missing IS NOT NULL AND p_grant THEN
            RAISE EXCEPTION 'trending: source table(s) % missing in schema "%"',
                            pg_catalog.array_to_string(v_missing, ', '), v_schema
                USING ERRCODE = '42P01',
                      HINT = 'A cycle reads every source table: create them (or set source_schema), then grant again.';
        END IF;
        EXECUTE pg_catalog.format('%s USAGE ON SCHEMA %I %s %I', v_verb, v_schema, v_to, p_role);
        EXECUTE pg_catalog.format('%s SELECT ON %s %s %I', v_verb,
            (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', v_schema, t), ', ')
             FROM pg_catalog.unnest(v_sources) AS t
             WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', v_schema, t)) IS NOT NULL),
            v_to, p_role);
    ELSIF p_set = 'read' THEN
        EXECUTE pg_catalog.format('%s SELECT ON trending.status %s %I', v_verb, v_to, p_role);
        IF pg_catalog.to_regclass('trending.metrics') IS NOT NULL THEN
            EXECUTE pg_catalog.format('%s SELECT ON trending.metrics %s %I', v_verb, v_to, p_role);
        END IF;
        IF pg_catalog.to_regclass('trending.movers_top') IS NOT NULL THEN  -- movers() reads it as the caller
            EXECUTE pg_catalog.format('%s SELECT ON trending.movers_top %s %I', v_verb, v_to, p_role);
        END IF;
        FOREACH v_routine IN ARRAY v_read_routines LOOP
            EXECUTE pg_catalog.format('%s EXECUTE ON FUNCTION %s %s %I', v_verb, v_routine, v_to, p_role);
        END LOOP;
    ELSIF p_set = 'configure' THEN
        EXECUTE pg_catalog.format('%s UPDATE, DELETE ON trending.settings, trending.strategies %s %I',
                                  v_verb, v_to, p_role);
    ELSE
        RAISE EXCEPTION 'trending: unknown privilege set %', p_set USING ERRCODE = '22023';
    END IF;
END;
$function$;
