-------------------------------------------------------------------------------
-- _state_write
-- Store what a cycle computed into the incremental state (sql/schema/85_state.sql),
-- for the caller's own running run, from the caller's temp tables (each found
-- plain by _safe_temp_table, with exactly the columns expected):
--   'begin'        the state is marked invalid: by a full cycle at an
--                  earlier now (in its first step: the scores it writes are
--                  not the state's), and by a full cycle's last step just
--                  before it replaces the state and _state_finish marks it
--                  valid again.
--   'track'        pg_temp.trending_track_state (the columns of
--                  trending._state_tracks) and the tracks' live saves and
--                  reposts, pg_temp.trending_track_engagements.
--                  Full (p_full): both are replaced whole (trending._state_load).
--                  Incremental: the rows of the ids in
--                  pg_temp.trending_track_affected are replaced; the saves
--                  and reposts of the tracks in trending_track_reread are
--                  replaced by those staged, and the rows of each pair
--                  (track, user, kind) in trending_track_action_pairs by
--                  those of trending_track_pair_rows.
--   'playlist'     pg_temp.trending_playlist_state, the hours of the
--                  playlists' live engagements (trending_playlist_engagement_hours)
--                  and pg_temp.trending_playlist_owners: full, replaced
--                  whole; incremental, the affected rows replaced and the
--                  item hours given added (an hour kept too long only
--                  makes a later cycle rescore its item once more).
--   'track_users', 'playlist_users'
--                  pg_temp.trending_<kind>_user_state (user_id, weight,
--                  negative): full, every user's karma weight for the kind;
--                  incremental, the new weight of each user the capture
--                  named (their rows are replaced; a user without a weight
--                  keeps none).
--   'play_buckets' pg_temp.trending_play_hours: the plays per track and
--                  hour a cycle read, less those of the delta rows above the
--                  watermark it arms or advances to (n_after), which the
--                  next incremental cycle adds (trending._state_advance).
--                  Full: every track's (the buckets are replaced whole:
--                  trending._state_load).
--                  Incremental (after _state_advance): the buckets of the
--                  tracks in pg_temp.trending_track_fresh, whose buckets the
--                  reconciliation found wrong, are replaced.
--   'rotation'     (incremental only) pg_temp.trending_rotation (rotation,
--                  reconciled_at): how far the round of reconciliation got,
--                  and when the cycle completed it (else NULL).
-- SECURITY DEFINER: roles that run cycles have no write privilege on the state.
CREATE FUNCTION trending._state_write(p_run_id bigint, p_what text, p_full boolean)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET constraint_exclusion = off
AS $function$
DECLARE
    v_rows bigint := 0;
    v_state regclass;
    v_id text;
    v_src regclass;
    v_affected regclass;
    v_hours regclass;
    v_owners regclass;
    v_actions regclass;
    v_reread regclass;
    v_pairs regclass;
    v_pair_rows regclass;
    v_columns text;
    v_values text;
BEGIN
    PERFORM trending._own_run(p_run_id);
    IF p_what = 'begin' THEN
        INSERT INTO trending._state_meta AS m (valid, run_id) VALUES (false, p_run_id)
        ON CONFLICT (one) DO UPDATE SET valid = false, run_id = excluded.run_id;
        RETURN 0;
    END IF;
    IF p_what = 'play_buckets' THEN
        v_src := trending._safe_temp_table('trending_play_hours',
                                           ARRAY['track_id', 'hour', 'n_source', 'n_after'],
                                           ARRAY['pg_catalog.int8', 'pg_catalog.timestamp',
                                                 'pg_catalog.int8', 'pg_catalog.int8']::pg_catalog.regtype[]);
        v_values := pg_catalog.format(
            '(track_id, hour, plays)
             SELECT h.track_id, h.hour, h.n_source - h.n_after FROM %s h
             WHERE h.track_id IS NOT NULL AND h.hour IS NOT NULL AND h.n_source <> h.n_after', v_src);
        IF p_full THEN
            RETURN trending._state_load('trending._state_play_buckets', v_values || ' ORDER BY h.track_id, h.hour');
        END IF;
        v_affected := trending._safe_temp_table('trending_track_fresh', ARRAY['id'],
                                                ARRAY['pg_catalog.int8']::pg_catalog.regtype[]);
        EXECUTE pg_catalog.format('DELETE FROM trending._state_play_buckets b
                                   WHERE b.track_id = ANY (ARRAY(SELECT f.id FROM %s f))', v_affected);
        EXECUTE pg_catalog.format('INSERT INTO trending._state_play_buckets %s
                                   AND h.track_id = ANY (ARRAY(SELECT f.id FROM %s f))', v_values, v_affected);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        RETURN v_rows;
    END IF;
    IF p_what = 'rotation' THEN
        IF p_full THEN
            RAISE EXCEPTION 'trending: a full cycle starts a new round of reconciliation (_state_finish)'
                USING ERRCODE = '22023';
        END IF;
        v_src := trending._safe_temp_table('trending_rotation', ARRAY['rotation', 'reconciled_at'],
                                           ARRAY['pg_catalog.jsonb', 'pg_catalog.timestamp']::pg_catalog.regtype[]);
        EXECUTE pg_catalog.format(
            'UPDATE trending._state_meta m SET rotation = r.rotation, reconciled_at = COALESCE(r.reconciled_at, m.reconciled_at)
             FROM (SELECT x.rotation, x.reconciled_at FROM %s x LIMIT 1) AS r WHERE m.valid', v_src);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        RETURN v_rows;
    END IF;
    IF p_what IN ('track_users', 'playlist_users') THEN
        v_state := CASE p_what WHEN 'track_users' THEN 'trending._state_track_users'
                               ELSE 'trending._state_playlist_users' END;
        v_src := trending._safe_temp_table('trending_' || pg_catalog.replace(p_what, '_users', '') || '_user_state',
                                           ARRAY['user_id', 'weight', 'negative'],
                                           ARRAY['pg_catalog.int8', 'pg_catalog.numeric',
                                                 'pg_catalog.bool']::pg_catalog.regtype[]);
        v_values := pg_catalog.format(
            '(user_id, weight, negative)
             SELECT DISTINCT ON (u.user_id) u.user_id, u.weight, COALESCE(u.negative, false) FROM %s u
             WHERE u.user_id IS NOT NULL AND (u.weight IS NOT NULL OR u.negative)
             ORDER BY u.user_id', v_src);
        IF p_full THEN
            RETURN trending._state_load(v_state, v_values);
        END IF;
        EXECUTE pg_catalog.format('DELETE FROM %s s WHERE s.user_id = ANY (ARRAY(SELECT u.user_id FROM %s u))',
                                  v_state, v_src);
        EXECUTE pg_catalog.format('INSERT INTO %s %s', v_state, v_values);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        RETURN v_rows;
    END IF;
    IF p_what = 'track' THEN
        v_state := 'trending._state_tracks'; v_id := 'track_id';
        v_actions := trending._safe_temp_table('trending_track_engagements',
                                               ARRAY['track_id', 'is_repost', 'user_id', 'created_at'],
                                               ARRAY['pg_catalog.int8', 'pg_catalog.bool', 'pg_catalog.int8',
                                                     'pg_catalog.timestamp']::pg_catalog.regtype[]);
    ELSIF p_what = 'playlist' THEN
        v_state := 'trending._state_playlists'; v_id := 'playlist_id';
    ELSE
        RAISE EXCEPTION 'trending: unknown state part %', p_what USING ERRCODE = '22023';
    END IF;

    v_src := trending._safe_temp_table(
        'trending_' || p_what || '_state',
        (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_state AND a.attnum > 0 AND NOT a.attisdropped),
        (SELECT pg_catalog.array_agg(a.atttypid::pg_catalog.regtype ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = v_state AND a.attnum > 0 AND NOT a.attisdropped));
    IF p_what = 'playlist' THEN
        v_hours := trending._safe_temp_table('trending_playlist_engagement_hours', ARRAY['hour', 'item_id'],
                                             ARRAY['pg_catalog.timestamp', 'pg_catalog.int8']::pg_catalog.regtype[]);
        v_owners := trending._safe_temp_table('trending_playlist_owners', ARRAY['playlist_id', 'owner_id'],
                                              ARRAY['pg_catalog.int8', 'pg_catalog.int8']::pg_catalog.regtype[]);
    END IF;

    IF p_full THEN
        v_rows := trending._state_load(v_state, pg_catalog.format('SELECT x.* FROM %s x ORDER BY x.%I', v_src, v_id));
        IF v_actions IS NOT NULL THEN
            PERFORM trending._state_load('trending._state_track_actions', pg_catalog.format(
                '(track_id, is_repost, user_id, created_at) SELECT e.track_id, e.is_repost, e.user_id, e.created_at
                 FROM %s e WHERE e.track_id IS NOT NULL AND e.is_repost IS NOT NULL', v_actions));
        END IF;
        IF v_hours IS NOT NULL THEN
            PERFORM trending._state_load('trending._state_playlist_hours', pg_catalog.format(
                '(hour, item_id) SELECT DISTINCT h.hour, h.item_id FROM %s h
                 WHERE h.hour IS NOT NULL AND h.item_id IS NOT NULL ORDER BY 1, 2', v_hours));
        END IF;
        IF v_owners IS NOT NULL THEN
            PERFORM trending._state_load('trending._state_playlist_owners', pg_catalog.format(
                '(playlist_id, owner_id) SELECT o.playlist_id, pg_catalog.min(o.owner_id) FROM %s o
                 WHERE o.playlist_id IS NOT NULL GROUP BY o.playlist_id ORDER BY 1', v_owners));
        END IF;
        RETURN v_rows;
    END IF;

    v_affected := trending._safe_temp_table('trending_' || p_what || '_affected', ARRAY['id'],
                                            ARRAY['pg_catalog.int8']::pg_catalog.regtype[]);
    -- rows gone (the affected ids the staging does not hold: found
    -- between the temp tables, so only those are looked up), rows
    -- changed in place (HOT: an item's dates and owner, the indexed
    -- columns, rarely change), and the staged rows no update found: new
    EXECUTE pg_catalog.format('DELETE FROM %s s WHERE s.%I = ANY (ARRAY(
                                   SELECT a.id FROM %s a WHERE NOT EXISTS (SELECT FROM %s x WHERE x.%I = a.id)))',
                              v_state, v_id, v_affected, v_src, v_id);
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum),
           pg_catalog.string_agg('x.' || pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
    INTO v_columns, v_values
    FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_state AND a.attnum > 0 AND NOT a.attisdropped;
    -- (a row the cycle read again and found the same, as most of the
    -- reconciliation's share is, is left alone: no dead tuple)
    EXECUTE pg_catalog.format('WITH updated AS (UPDATE %1$s s SET (%2$s) = ROW(%3$s) FROM %4$s x
                                                WHERE s.%5$I = x.%5$I AND ROW(s.*) IS DISTINCT FROM ROW(x.*)
                                                RETURNING 1),
                                    inserted AS (INSERT INTO %1$s SELECT x.* FROM %4$s x
                                                 WHERE NOT EXISTS (SELECT FROM %1$s s WHERE s.%5$I = x.%5$I)
                                                 RETURNING 1)
                               SELECT (SELECT pg_catalog.count(*) FROM updated)
                                      + (SELECT pg_catalog.count(*) FROM inserted)',
                              v_state, v_columns, v_values, v_src, v_id)
    INTO v_rows;
    IF v_actions IS NOT NULL THEN
        -- the saves and reposts read again: of whole tracks (their rows
        -- replaced), and of the pairs the capture named (the pair's rows
        -- replaced: a pair's rows are always the sources' as some cycle read
        -- them, and a later change to them is named again)
        v_reread := trending._safe_temp_table('trending_track_reread', ARRAY['id'],
                                              ARRAY['pg_catalog.int8']::pg_catalog.regtype[]);
        v_pairs := trending._safe_temp_table('trending_track_action_pairs', ARRAY['track_id', 'user_id', 'is_repost'],
                                             ARRAY['pg_catalog.int8', 'pg_catalog.int8',
                                                   'pg_catalog.bool']::pg_catalog.regtype[]);
        v_pair_rows := trending._safe_temp_table('trending_track_pair_rows',
                                                 ARRAY['track_id', 'is_repost', 'user_id', 'created_at'],
                                                 ARRAY['pg_catalog.int8', 'pg_catalog.bool', 'pg_catalog.int8',
                                                       'pg_catalog.timestamp']::pg_catalog.regtype[]);
        -- Only the rows that differ are written: most of what is read again
        -- (the reconciliation's share) is what the state holds, and an
        -- insert costs a heap tuple and three index entries. Stored and read
        -- rows are compared as multisets, counted per distinct row (a NULL
        -- matches a NULL): where the state holds more copies, the extra
        -- ones are deleted (by ctid); where it holds fewer, the missing
        -- ones are inserted.
        EXECUTE pg_catalog.format(
            'WITH stored AS MATERIALIZED (
                 SELECT s.track_id, s.is_repost, s.user_id IS NULL AS user_null, COALESCE(s.user_id, 0) AS user_value,
                        s.created_at IS NULL AS created_null, COALESCE(s.created_at, ''-infinity'') AS created_value,
                        pg_catalog.count(*) AS n, pg_catalog.array_agg(s.tid) AS tids
                 FROM (SELECT e.ctid AS tid, e.track_id, e.is_repost, e.user_id, e.created_at
                       FROM trending._state_track_actions e
                       WHERE e.track_id = ANY (ARRAY(SELECT r.id FROM %3$s r))
                       UNION ALL
                       SELECT e.ctid, e.track_id, e.is_repost, e.user_id, e.created_at
                       FROM %4$s p
                       JOIN trending._state_track_actions e
                         ON e.track_id = p.track_id AND e.user_id = p.user_id AND e.is_repost = p.is_repost
                       WHERE NOT EXISTS (SELECT FROM %3$s r WHERE r.id = p.track_id)) AS s
                 GROUP BY s.track_id, s.is_repost, s.user_id, s.created_at
             ), fresh AS MATERIALIZED (
                 SELECT f.track_id, f.is_repost, f.user_id, f.created_at, f.user_id IS NULL AS user_null,
                        COALESCE(f.user_id, 0) AS user_value, f.created_at IS NULL AS created_null,
                        COALESCE(f.created_at, ''-infinity'') AS created_value, pg_catalog.count(*) AS n
                 FROM (SELECT e.track_id, e.is_repost, e.user_id, e.created_at FROM %1$s e
                       WHERE e.track_id IS NOT NULL AND e.is_repost IS NOT NULL
                       UNION ALL
                       SELECT n.track_id, n.is_repost, n.user_id, n.created_at FROM %2$s n
                       WHERE n.track_id IS NOT NULL AND n.is_repost IS NOT NULL
                         AND NOT EXISTS (SELECT FROM %3$s r WHERE r.id = n.track_id)) AS f
                 GROUP BY f.track_id, f.is_repost, f.user_id, f.created_at
             ), differing AS MATERIALIZED (
                 SELECT s.tids[1:COALESCE(s.n, 0) - COALESCE(f.n, 0)] AS gone,
                        COALESCE(f.n, 0) - COALESCE(s.n, 0) AS missing, f.track_id, f.is_repost, f.user_id, f.created_at
                 FROM stored s
                 FULL JOIN fresh f
                   ON f.track_id = s.track_id AND f.is_repost = s.is_repost AND f.user_null = s.user_null
                  AND f.user_value = s.user_value AND f.created_null = s.created_null
                  AND f.created_value = s.created_value
                 WHERE s.n IS DISTINCT FROM f.n
             ), deleted AS (
                 DELETE FROM trending._state_track_actions e
                 WHERE e.ctid = ANY (ARRAY(SELECT pg_catalog.unnest(d.gone) FROM differing d WHERE d.missing < 0))
             )
             INSERT INTO trending._state_track_actions (track_id, is_repost, user_id, created_at)
             SELECT d.track_id, d.is_repost, d.user_id, d.created_at
             FROM differing d CROSS JOIN LATERAL pg_catalog.generate_series(1, d.missing) AS copy
             WHERE d.missing > 0',
            v_actions, v_pair_rows, v_reread, v_pairs);
    END IF;
    IF v_hours IS NOT NULL THEN
        -- most of the hours given are kept already: leave out those the
        -- items' own index range holds, rather than probe for each hour
        EXECUTE pg_catalog.format('INSERT INTO trending._state_playlist_hours (hour, item_id)
                                   SELECT h.hour, h.item_id FROM %1$s h WHERE h.hour IS NOT NULL AND h.item_id IS NOT NULL
                                   EXCEPT
                                   SELECT k.hour, k.item_id FROM trending._state_playlist_hours k
                                   WHERE k.item_id = ANY (ARRAY(SELECT DISTINCT i.item_id FROM %1$s i))',
                                  v_hours);
    END IF;
    IF v_owners IS NOT NULL THEN
        EXECUTE pg_catalog.format('DELETE FROM trending._state_playlist_owners o
                                   WHERE o.playlist_id = ANY (ARRAY(SELECT a.id FROM %s a))', v_affected);
        EXECUTE pg_catalog.format('INSERT INTO trending._state_playlist_owners (playlist_id, owner_id)
                                   SELECT o.playlist_id, pg_catalog.min(o.owner_id) FROM %s o
                                   WHERE o.playlist_id IS NOT NULL GROUP BY o.playlist_id', v_owners);
    END IF;
    RETURN v_rows;
END;
$function$;
