"""Stage the inputs every strategy shares, once per cycle, as private temp tables.

One row per eligible track (pg_temp.trending_track_inputs) and per eligible
playlist (pg_temp.trending_playlist_inputs) holds everything the reference's formulas
need for every strategy and range: windowed counts, totals, karma, age, owner
followers. Each source table is scanned once per kind; the windows are
FILTER clauses of the same aggregate. No source row is ever visited from
Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import formulas


@dataclass(frozen=True)
class Cycle:
    """What every statement of one cycle needs: where to read and when `now` is."""
    source: str       # the source schema, quoted as an identifier
    now_text: str     # now in UTC, ISO text, for the summary
    now_utc: str      # SQL literals of type timestamp (UTC)
    track_week_start: str
    track_month_start: str
    playlist_starts: dict  # time range -> SQL literal

    @classmethod
    def start(cls, plpy, now: str, source_schema: str) -> "Cycle":
        """Window bounds in UTC, with PostgreSQL's calendar arithmetic ('1 mon')."""
        bounds = {"now_utc": "interval '0'",
                  "track_week_start": f"interval '{formulas.TRACK_COUNT_WINDOWS['week']}'",
                  "track_month_start": f"interval '{formulas.TRACK_COUNT_WINDOWS['month']}'"}
        bounds.update({f"playlist_{r}_start": f"interval '{w}'"
                       for r, w in formulas.PLAYLIST_WINDOWS.items()})
        select = ", ".join(f"(n - {interval})::text AS {name}" for name, interval in bounds.items())
        row = plpy.execute(f"SELECT {select} FROM (SELECT {plpy.quote_literal(now)}::timestamptz"
                           f" AT TIME ZONE 'UTC' AS n) AS cycle_now")[0]

        def lit(name: str) -> str:
            return f"{plpy.quote_literal(row[name])}::timestamp"

        return cls(source=plpy.quote_ident(source_schema), now_text=row["now_utc"],
                   now_utc=lit("now_utc"),
                   track_week_start=lit("track_week_start"),
                   track_month_start=lit("track_month_start"),
                   playlist_starts={r: lit(f"playlist_{r}_start") for r in formulas.PLAYLIST_WINDOWS})


# Traps and absurd rows counted per cycle (docs/reference.md, "Traps", and the "Absurd
# rows"; docs/reference-absurd-rows.md says what each counts); None in a
# summary when the kind of strategy that would find them is switched off.
TRACK_BAD_ROWS = ("duplicate_current_tracks", "null_play_counts",
                  "tracks_created_at_infinite", "tracks_release_date_infinite",
                  "track_events_created_at_infinite", "track_genres_over_1000_bytes",
                  "track_users_negative_followers", "track_karma_over_int8")
PLAYLIST_BAD_ROWS = ("duplicate_current_playlists", "playlists_track_ids_not_array",
                     "playlist_karma_over_int4",
                     "playlists_created_at_infinite", "playlists_release_date_infinite",
                     "playlist_events_created_at_infinite",
                     "playlist_users_negative_followers", "playlist_karma_over_int8")

# Kept across the scheduled procedure's commits (so not ON COMMIT DROP):
# dropped by the last step, by a failure, and before a run stages anything.
TEMP_TABLES = tuple(f"trending_{kind}_{table}" for kind in ("track", "playlist")
                    for table in ("candidates", "inputs", "staged", "changes"))


def drop_temp_tables(plpy) -> None:
    """Drop this cycle's private tables."""
    for name in TEMP_TABLES:
        if plpy.execute(f"SELECT pg_catalog.to_regclass('pg_temp.{name}') IS NOT NULL AS present")[0]["present"]:
            plpy.execute(f"DROP TABLE pg_temp.{name}")


def _age_days(c: Cycle, row: str) -> str:
    """Whole days of now - base (the interval's days field, truncated toward zero).
    base: created_at if release_date is after now, else the later of the two
    (greatest() ignores a NULL release_date; an infinite release_date needs no
    case of its own: +infinity is after now, -infinity loses to created_at).
    created_at is finite (an infinite one makes the item not eligible). The
    base is clamped into [now - AGE_CLAMP_DAYS, now] so that `now - base`
    cannot overflow; the decay is the same (formulas.AGE_CLAMP_DAYS)."""
    base = (f"CASE WHEN {row}.release_date > {c.now_utc} "
            f"THEN {row}.created_at ELSE greatest({row}.release_date, {row}.created_at) END")
    oldest = f"{c.now_utc} - interval '{formulas.AGE_CLAMP_DAYS} days'"
    return f"EXTRACT(day FROM {c.now_utc} - greatest(least({base}, {c.now_utc}), {oldest}))::integer"


INT8_MAX = 9223372036854775807
_INFINITE = "'-infinity'::timestamp"   # the one created_at below every window bound


_COMPLETE_PROFILE = """(u.cover_photo IS NOT NULL OR u.cover_photo_sizes IS NOT NULL)
          AND (u.profile_picture IS NOT NULL OR u.profile_picture_sizes IS NOT NULL)
          AND u.bio IS NOT NULL"""

# An id with more than one current row is skipped (and counted): upstream
# failed on it because the score tables' key would collide. Grouping the
# current rows gives both the single row's values and the duplicates.
_TRACK_CANDIDATES = """
CREATE TEMP TABLE trending_track_candidates AS
SELECT t.track_id,
       count(*)            AS current_rows,
       min(t.owner_id)     AS owner_id,
       min(t.genre)        AS genre,
       min(t.created_at)   AS created_at,
       min(t.release_date) AS release_date,
       bool_and(t.is_delete IS FALSE AND t.is_unlisted IS FALSE AND t.stem_of IS NULL) AS listed
FROM {src}.tracks t
WHERE t.is_current IS TRUE
GROUP BY t.track_id
"""

_TRACK_INPUTS = """
CREATE TEMP TABLE trending_track_inputs AS
WITH eligible AS (
    -- an infinite created_at makes a track not eligible (counted)
    SELECT c.* FROM pg_temp.trending_track_candidates c
    WHERE c.current_rows = 1 AND c.listed AND pg_catalog.isfinite(c.created_at)
),
-- plays dated -infinity are in no window but are read, to be counted
listens AS (
    SELECT p.play_item_id                                        AS track_id,
           count(*) FILTER (WHERE p.created_at > {week_start})   AS listens_week,
           count(*) FILTER (WHERE p.created_at > {month_start})  AS listens_month,
           count(*) FILTER (WHERE NOT pg_catalog.isfinite(p.created_at)) AS infinite_plays
    FROM {src}.plays p
    WHERE p.created_at > {month_start} OR p.created_at = {infinite}
    GROUP BY p.play_item_id
),
-- karma weight of a user: follower_count once per users row (current or not,
-- as upstream) with a complete profile. A negative follower_count adds
-- nothing, as if the user had no aggregate_user row (docs/reference.md, Absurd rows).
profile_weights AS (
    SELECT u.user_id, sum(au.follower_count) FILTER (WHERE au.follower_count >= 0) AS weight,
           bool_or(au.follower_count < 0) AS negative
    FROM {src}.users u
    JOIN {src}.aggregate_user au ON au.user_id = u.user_id
    WHERE {complete_profile}
    GROUP BY u.user_id
),
engagements AS (
    SELECT r.repost_item_id AS track_id, true AS is_repost, r.user_id, r.created_at
    FROM {src}.reposts r
    WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), 'track')  -- by label, no cast (docs/security.md)
      AND r.is_current IS TRUE AND r.is_delete IS FALSE
    UNION ALL
    SELECT s.save_item_id, false, s.user_id, s.created_at
    FROM {src}.saves s
    WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), 'track')  -- by label, no cast (docs/security.md)
      AND s.is_current IS TRUE AND s.is_delete IS FALSE
),
engagement_counts AS (
    SELECT e.track_id,
           count(*) FILTER (WHERE e.is_repost AND e.created_at > {week_start})      AS reposts_week,
           count(*) FILTER (WHERE e.is_repost AND e.created_at > {month_start})     AS reposts_month,
           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {week_start})  AS saves_week,
           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {month_start}) AS saves_month,
           sum(w.weight)                                                           AS karma,
           count(*) FILTER (WHERE NOT pg_catalog.isfinite(e.created_at))           AS infinite_actions,
           array_agg(e.user_id) FILTER (WHERE w.negative)                          AS negative_contributors
    FROM engagements e
    LEFT JOIN profile_weights w ON w.user_id = e.user_id
    GROUP BY e.track_id
)
SELECT e.track_id,
       -- too long for the genre index: stored as NULL (counted)
       CASE WHEN pg_catalog.octet_length(e.genre) > {genre_max_bytes} THEN NULL ELSE e.genre END AS genre,
       COALESCE(pg_catalog.octet_length(e.genre) > {genre_max_bytes}, false) AS genre_too_long,
       e.owner_id,
       au.follower_count                     AS owner_followers,
       {age_days}                            AS age_days,
       NOT COALESCE(pg_catalog.isfinite(e.release_date), true) AS release_date_infinite,
       COALESCE(l.infinite_plays, 0) + COALESCE(g.infinite_actions, 0) AS infinite_events,
       g.negative_contributors,
       COALESCE(l.listens_week, 0)           AS listens_week,
       COALESCE(l.listens_month, 0)          AS listens_month,
       COALESCE(g.reposts_week, 0)           AS reposts_week,
       COALESCE(g.reposts_month, 0)          AS reposts_month,
       COALESCE(g.saves_week, 0)             AS saves_week,
       COALESCE(g.saves_month, 0)            AS saves_month,
       COALESCE(at.repost_count, 0)          AS repost_total,
       COALESCE(at.save_count, 0)            AS save_total,
       ap.count                              AS play_total,
       ap.play_item_id IS NOT NULL AND ap.count IS NULL AS null_play_count,
       COALESCE(g.karma, 0)                  AS karma
FROM eligible e
LEFT JOIN {src}.aggregate_user au     ON au.user_id = e.owner_id
LEFT JOIN listens l                   ON l.track_id = e.track_id
LEFT JOIN engagement_counts g         ON g.track_id = e.track_id
LEFT JOIN {src}.aggregate_track at    ON at.track_id = e.track_id
LEFT JOIN {src}.aggregate_plays ap    ON ap.play_item_id = e.track_id
"""

_PLAYLIST_CANDIDATES = """
CREATE TEMP TABLE trending_playlist_candidates AS
SELECT p.playlist_id,
       count(*)                 AS current_rows,
       min(p.playlist_owner_id) AS owner_id,
       min(p.created_at)        AS created_at,
       min(p.release_date)      AS release_date,
       bool_and(p.is_delete IS FALSE AND p.is_private IS FALSE) AS listed,
       bool_and(pg_catalog.jsonb_typeof(p.playlist_contents -> 'track_ids') IS NOT DISTINCT FROM 'array')
                                AS track_ids_is_array,
       min(CASE WHEN pg_catalog.jsonb_typeof(p.playlist_contents -> 'track_ids') = 'array'
                THEN pg_catalog.jsonb_array_length(p.playlist_contents -> 'track_ids') END)
                                AS track_count
FROM {src}.playlists p
WHERE p.is_current IS TRUE
GROUP BY p.playlist_id
"""

_PLAYLIST_INPUTS = """
CREATE TEMP TABLE trending_playlist_inputs AS
WITH eligible AS (
    SELECT c.*, au.follower_count AS owner_followers
    FROM pg_temp.trending_playlist_candidates c
    JOIN {src}.aggregate_user au ON au.user_id = c.owner_id
    WHERE c.current_rows = 1 AND c.listed AND c.track_ids_is_array AND c.track_count >= 3
      AND pg_catalog.isfinite(c.created_at)
),
-- karma weight of a user: follower_count once per CURRENT users row with a
-- complete profile (upstream filters is_current here, unlike for tracks);
-- a negative follower_count adds nothing (docs/reference.md, Absurd rows)
profile_weights AS (
    SELECT u.user_id, sum(au.follower_count) FILTER (WHERE au.follower_count >= 0) AS weight,
           bool_or(au.follower_count < 0) AS negative
    FROM {src}.users u
    JOIN {src}.aggregate_user au ON au.user_id = u.user_id
    WHERE u.is_current IS TRUE AND {complete_profile}
    GROUP BY u.user_id
),
engagements AS (
    SELECT r.repost_item_id AS playlist_id, true AS is_repost, r.user_id, r.created_at
    FROM {src}.reposts r
    WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), 'playlist')  -- by label, no cast (docs/security.md)
      AND r.is_current IS TRUE AND r.is_delete IS FALSE
      AND (r.created_at >= {year_start} OR r.created_at = {infinite})
    UNION ALL
    SELECT s.save_item_id, false, s.user_id, s.created_at
    FROM {src}.saves s
    WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), 'playlist')  -- by label, no cast (docs/security.md)
      AND s.is_current IS TRUE AND s.is_delete IS FALSE
      AND (s.created_at >= {year_start} OR s.created_at = {infinite})
),
-- counts take created_at > start, karma created_at >= start (as upstream)
engagement_counts AS (
    SELECT e.playlist_id,
           {window_columns}
    FROM engagements e
    LEFT JOIN profile_weights w ON w.user_id = e.user_id
    GROUP BY e.playlist_id
)
SELECT e.playlist_id,
       e.owner_id,
       e.owner_followers,
       {age_days}                            AS age_days,
       NOT COALESCE(pg_catalog.isfinite(e.release_date), true) AS release_date_infinite,
       COALESCE(g.infinite_events, 0)        AS infinite_events,
       g.negative_contributors,
       {window_outputs},
       COALESCE(ap.repost_count, 0)          AS repost_total,
       COALESCE(ap.save_count, 0)            AS save_total
FROM eligible e
LEFT JOIN engagement_counts g         ON g.playlist_id = e.playlist_id
LEFT JOIN {src}.aggregate_playlist ap ON ap.playlist_id = e.playlist_id
"""

# A user with a negative follower_count is counted once per kind of item,
# when met as the owner of an eligible item or as one of its karma
# contributors (whose follower_count the karma would have summed).
_NEGATIVE_FOLLOWER_USERS = """(SELECT count(DISTINCT n.user_id) FROM (
           SELECT i.owner_id AS user_id FROM {inputs} i WHERE i.owner_followers < 0
           UNION ALL
           SELECT pg_catalog.unnest(i.negative_contributors) FROM {inputs} i
           WHERE i.negative_contributors IS NOT NULL) AS n)"""

_TRACK_BAD_ROWS = f"""
SELECT (SELECT count(*) FROM pg_temp.trending_track_candidates WHERE current_rows > 1) AS duplicate_current_tracks,
       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE null_play_count)      AS null_play_counts,
       (SELECT count(*) FROM pg_temp.trending_track_candidates
         WHERE current_rows = 1 AND listed AND NOT pg_catalog.isfinite(created_at))   AS tracks_created_at_infinite,
       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE release_date_infinite)
           AS tracks_release_date_infinite,
       (SELECT COALESCE(sum(infinite_events), 0) FROM pg_temp.trending_track_inputs)
           AS track_events_created_at_infinite,
       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE genre_too_long)
           AS track_genres_over_1000_bytes,
       {_NEGATIVE_FOLLOWER_USERS.format(inputs="pg_temp.trending_track_inputs")}
           AS track_users_negative_followers,
       (SELECT count(*) FROM pg_temp.trending_track_inputs WHERE karma > {INT8_MAX})
           AS track_karma_over_int8
"""

_PLAYLIST_BAD_ROWS = """
SELECT (SELECT count(*) FROM pg_temp.trending_playlist_candidates WHERE current_rows > 1)
           AS duplicate_current_playlists,
       (SELECT count(*) FROM pg_temp.trending_playlist_candidates
         WHERE current_rows = 1 AND listed AND NOT track_ids_is_array)
           AS playlists_track_ids_not_array,
       (SELECT count(*) FROM pg_temp.trending_playlist_inputs
         WHERE greatest({karmas}) > 2147483647)
           AS playlist_karma_over_int4,
       (SELECT count(*) FROM pg_temp.trending_playlist_candidates
         WHERE current_rows = 1 AND listed AND NOT pg_catalog.isfinite(created_at))
           AS playlists_created_at_infinite,
       (SELECT count(*) FROM pg_temp.trending_playlist_inputs WHERE release_date_infinite)
           AS playlists_release_date_infinite,
       (SELECT COALESCE(sum(infinite_events), 0) FROM pg_temp.trending_playlist_inputs)
           AS playlist_events_created_at_infinite,
       {negative_users}
           AS playlist_users_negative_followers,
       (SELECT count(*) FROM pg_temp.trending_playlist_inputs
         WHERE greatest({karmas}) > {int8_max})
           AS playlist_karma_over_int8
"""


def _no_guard(point: str) -> None:
    pass


def stage_track_inputs(plpy, c: Cycle, guard=_no_guard) -> dict[str, int]:
    """Build trending_track_inputs; return the track traps found. guard(point)
    runs before each statement that reads the sources ("candidates", "inputs")."""
    guard("candidates")
    plpy.execute(_TRACK_CANDIDATES.format(src=c.source))
    plpy.execute("ANALYZE pg_temp.trending_track_candidates")
    guard("inputs")
    plpy.execute(_TRACK_INPUTS.format(src=c.source, week_start=c.track_week_start,
                                      month_start=c.track_month_start,
                                      complete_profile=_COMPLETE_PROFILE,
                                      infinite=_INFINITE, genre_max_bytes=formulas.GENRE_MAX_BYTES,
                                      age_days=_age_days(c, "e")))
    plpy.execute("ANALYZE pg_temp.trending_track_inputs")
    row = plpy.execute(_TRACK_BAD_ROWS)[0]
    return {key: int(row[key]) for key in TRACK_BAD_ROWS}


def stage_playlist_inputs(plpy, c: Cycle, guard=_no_guard) -> dict[str, int]:
    """Build trending_playlist_inputs; return the playlist traps found."""
    ranges = list(formulas.PLAYLIST_WINDOWS)
    starts = c.playlist_starts
    widest = max(ranges, key=lambda r: formulas.WINDOW_DAYS[r])
    window_columns = ",\n           ".join(
        [f"count(*) FILTER (WHERE e.is_repost AND e.created_at > {starts[r]}) AS reposts_{r}" for r in ranges]
        + [f"count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {starts[r]}) AS saves_{r}" for r in ranges]
        + [f"sum(w.weight) FILTER (WHERE e.created_at >= {starts[r]}) AS karma_{r}" for r in ranges]
        + ["count(*) FILTER (WHERE NOT pg_catalog.isfinite(e.created_at)) AS infinite_events",
           # contributors to some window's karma (the widest window holds them all)
           f"array_agg(e.user_id) FILTER (WHERE w.negative AND e.created_at >= {starts[widest]})"
           " AS negative_contributors"])
    window_outputs = ",\n       ".join(
        [f"COALESCE(g.reposts_{r}, 0) AS reposts_{r}" for r in ranges]
        + [f"COALESCE(g.saves_{r}, 0) AS saves_{r}" for r in ranges]
        + [f"g.karma_{r} AS karma_{r}" for r in ranges])
    # the widest window bounds the scan (all windows are nested), but for the
    # rows dated -infinity, read only to be counted
    year_start = starts[widest]
    guard("candidates")
    plpy.execute(_PLAYLIST_CANDIDATES.format(src=c.source))
    plpy.execute("ANALYZE pg_temp.trending_playlist_candidates")
    guard("inputs")
    plpy.execute(_PLAYLIST_INPUTS.format(src=c.source, year_start=year_start, infinite=_INFINITE,
                                         complete_profile=_COMPLETE_PROFILE,
                                         window_columns=window_columns,
                                         window_outputs=window_outputs,
                                         age_days=_age_days(c, "e")))
    plpy.execute("ANALYZE pg_temp.trending_playlist_inputs")
    karmas = ", ".join(f"karma_{r}" for r in ranges)
    row = plpy.execute(_PLAYLIST_BAD_ROWS.format(
        karmas=karmas, int8_max=INT8_MAX,
        negative_users=_NEGATIVE_FOLLOWER_USERS.format(inputs="pg_temp.trending_playlist_inputs")))[0]
    return {key: int(row[key]) for key in PLAYLIST_BAD_ROWS}
