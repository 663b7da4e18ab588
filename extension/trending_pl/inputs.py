"""Stage the inputs every strategy shares, once per cycle, as private temp tables.

One row per eligible track (pg_temp.trending_track_inputs) and per eligible
playlist (pg_temp.trending_playlist_inputs) holds everything the reference's formulas
need for every strategy and range: windowed counts, totals, karma, age, owner
followers. The windows are FILTER clauses of the same aggregate. No source
row is ever visited from Python.

A Scope says which items and where the plays come from:
- a full cycle (and preview): every item, plays read from the sources, one
  scan of the month of plays grouped by track and hour;
- an incremental cycle: the affected items only (a temp table of ids, found
  by incremental.py), their rows read by index, their plays from the state's
  hourly buckets plus the delta rows not yet added to them (or, for tracks
  whose buckets the reconciliation found wrong, from the sources);
- explain: one item, plays from the sources.
Either way a window's listens are the plays of the whole hours after the
hour that holds its start, plus that partial first hour counted exactly
from plays(created_at) (its own index range scan).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import formulas


@dataclass(frozen=True)
class Scope:
    """Which items a staging covers and where their plays come from.
    ids: a temp table (id bigint) of the items, or None for every item.
    plays: "sources" (read plays; with `after`, an SQL condition on a delta
    row aliased d, also the plays of the delta rows it holds for, those of
    the transactions not visible in the cycle's snapshot, which a full cycle
    keeps out of the state's buckets) or "state": the state's per-track sums
    of whole hours, less the hours the windows left since the state's now
    (prev_*_floor), plus the plays of the delta rows `consumed` (an SQL
    condition on a delta row aliased d) holds for."""
    ids: str | None = None
    plays: str = "sources"
    after: str | None = None
    consumed: str | None = None
    prev_week_floor: str | None = None   # state: the hours the state's sums start after
    prev_month_floor: str | None = None
    reread: str | None = None            # state: the ids whose saves and reposts are read again;
                                         # the others' engagement counts and karma are the state's
    summed: str | None = None            # state: the ids whose whole hours are summed from all their
                                         # buckets (the state does not hold them, or they are reconciled)
    fresh: str | None = None             # state: the track ids whose plays are read from the sources
                                         # (with `after`), their buckets to be replaced


EVERYTHING = Scope()


@dataclass(frozen=True)
class Cycle:
    """What every statement of one cycle needs: where to read and when `now` is."""
    source: str       # the source schema, quoted as an identifier
    now_text: str     # now in UTC, ISO text, for the summary
    now_utc: str      # SQL literals of type timestamp (UTC)
    track_week_start: str
    track_month_start: str
    playlist_starts: dict  # time range -> SQL literal
    track_week_floor: str = ""   # the hour (UTC) that holds each start
    track_month_floor: str = ""
    playlist_floors: dict = None
    # The month window's start ("1 mon", day clamped to the month's end) can
    # move back as now moves on: Dec 30 23:50 - 1 mon is Nov 30 23:50, Dec 31
    # 10:08 - 1 mon is Nov 30 10:08. Never by more than a day, so the state
    # keeps the plays and engagements from this hour on: the earliest any
    # later window can reach.
    track_month_keep: str = ""

    @classmethod
    def start(cls, plpy, now: str, source_schema: str) -> "Cycle":
        """Window bounds in UTC, with PostgreSQL's calendar arithmetic ('1 mon')."""
        bounds = {"now_utc": "interval '0'",
                  "track_week_start": f"interval '{formulas.TRACK_COUNT_WINDOWS['week']}'",
                  "track_month_start": f"interval '{formulas.TRACK_COUNT_WINDOWS['month']}'"}
        bounds.update({f"playlist_{r}_start": f"interval '{w}'"
                       for r, w in formulas.PLAYLIST_WINDOWS.items()})
        bounds["track_month_keep"] = f"(interval '{formulas.TRACK_COUNT_WINDOWS['month']}' + interval '1 day')"
        select = ", ".join(f"(n - {interval})::text AS {name}, "
                           f"pg_catalog.date_trunc('hour', n - {interval})::text AS {name}_floor"
                           for name, interval in bounds.items())
        row = plpy.execute(f"SELECT {select} FROM (SELECT {plpy.quote_literal(now)}::timestamptz"
                           f" AT TIME ZONE 'UTC' AS n) AS cycle_now")[0]

        def lit(name: str) -> str:
            return f"{plpy.quote_literal(row[name])}::timestamp"

        return cls(source=plpy.quote_ident(source_schema), now_text=row["now_utc"],
                   now_utc=lit("now_utc"),
                   track_week_start=lit("track_week_start"),
                   track_month_start=lit("track_month_start"),
                   playlist_starts={r: lit(f"playlist_{r}_start") for r in formulas.PLAYLIST_WINDOWS},
                   track_week_floor=lit("track_week_start_floor"),
                   track_month_floor=lit("track_month_start_floor"),
                   playlist_floors={r: lit(f"playlist_{r}_start_floor") for r in formulas.PLAYLIST_WINDOWS},
                   track_month_keep=lit("track_month_keep_floor"))


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
                    for table in ("candidates", "inputs", "staged", "changes", "engagements", "affected",
                                  "reread", "summed", "checked", "share", "share_users", "state",
                                  "engagement_hours", "weights", "named_weights", "karma_delta", "user_state", "rescored",
                                  "action_pairs", "pair_rows", "action_delta")) + (
    "trending_play_hours", "trending_track_listens", "trending_playlist_owners", "trending_explain_ids",
    "trending_track_fresh", "trending_checked_hours", "trending_play_hours_drift", "trending_rotation")


def staging_table(plpy, name: str) -> None:
    """Create the empty temp table pg_temp.<name> that a SECURITY DEFINER
    writer will read, through trending._staging_table: it is made and owned
    by the extension's owner, this session may only fill and read it, so
    nothing this role attaches to it can run as the owner (docs/security.md,
    "What a definer function reads"). Its columns are the catalogue's,
    sql/functions/_staging_columns.sql."""
    plpy.execute(f"SELECT trending._staging_table({plpy.quote_literal(name)})")


def analyze_staging(plpy, name: str) -> None:
    """ANALYZE a staging table (only its owner may: trending._staging_analyze)."""
    plpy.execute(f"SELECT trending._staging_analyze({plpy.quote_literal(name)})")


def drop_temp_tables(plpy) -> None:
    """Drop this cycle's private tables: the staging tables through
    trending._staging_drop (the owner's), then the session's own."""
    plpy.execute("SELECT trending._staging_drop()")
    for name in TEMP_TABLES:
        drop_temp_table(plpy, name)


def drop_temp_table(plpy, name: str) -> None:
    """Drop this session's pg_temp.<name> if it has one. Looked up first, not
    DROP ... IF EXISTS: its NOTICE ("does not exist, skipping") would land
    among a cycle's progress lines, and a cycle's housekeeping prints nothing."""
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
WHERE t.is_current IS TRUE{in_scope}
GROUP BY t.track_id
"""

# Plays per track and hour, from the hour that holds the month window's start
# on (and the hour of -infinity, read only to be counted). n_after: the plays
# of the delta rows of transactions not visible in the snapshot a full cycle
# arms at, which the state's buckets leave to a later cycle (see
# _PLAY_HOURS_AFTER). A staging table (staging_table): trending._state_write
# reads it.
_PLAY_HOURS_FROM_SOURCES = """
INSERT INTO pg_temp.trending_play_hours
SELECT h.track_id, h.hour, pg_catalog.sum(h.n_source)::bigint, pg_catalog.sum(h.n_after)::bigint
FROM (
    SELECT p.play_item_id::bigint AS track_id, pg_catalog.date_trunc('hour', p.created_at) AS hour,
           1 AS n_source, 0 AS n_after
    FROM {src}.plays p
    WHERE (p.created_at >= {keep_floor} OR p.created_at = {infinite}){in_scope}
    {after}
) AS h
GROUP BY h.track_id, h.hour
"""

# In the statement that reads the plays, so from the same snapshot: the delta
# rows of the transactions this read sees and the cycle's snapshot does not,
# whose plays the read counted (a later cycle consumes those rows).
_PLAY_HOURS_AFTER = """UNION ALL
    SELECT d.item_id, d.hour, 0, d.n
    FROM trending._capture_play_hours d
    WHERE {after} AND (d.hour >= {keep_floor} OR d.hour = {infinite}){in_scope}"""

# Per track: the plays of the whole hours after the hour that holds each
# window's start, and those dated +-infinity (counted as absurd rows); state_*: the same as of the watermark a
# full cycle arms (less the delta rows not visible in its snapshot), which the state keeps.
_LISTENS_TABLE = """
CREATE TEMP TABLE trending_track_listens (track_id bigint, week_hours bigint, month_hours bigint,
                                          infinite_plays bigint, state_week_hours bigint,
                                          state_month_hours bigint, state_infinite_plays bigint)
"""

_LISTENS_FROM_PLAY_HOURS = """
INSERT INTO pg_temp.trending_track_listens
SELECT h.track_id,
       sum(h.n_source) FILTER (WHERE h.hour > {week_floor}),
       sum(h.n_source) FILTER (WHERE h.hour > {month_floor}),
       sum(h.n_source) FILTER (WHERE NOT pg_catalog.isfinite(h.hour)),
       sum(h.n_source - h.n_after) FILTER (WHERE h.hour > {week_floor}),
       sum(h.n_source - h.n_after) FILTER (WHERE h.hour > {month_floor}),
       sum(h.n_source - h.n_after) FILTER (WHERE NOT pg_catalog.isfinite(h.hour))
FROM pg_temp.trending_play_hours h
GROUP BY h.track_id
"""

# An incremental cycle's plays, for the affected tracks only: the state's
# sums less the buckets of the hours each window left since the state's now,
# plus the delta rows not yet in the buckets; a track the state does not
# hold (it was not eligible), or that the reconciliation checks, sums its
# buckets; a fresh one (its plays read from the sources) is left out here.
_LISTENS_FROM_STATE = """
WITH left_windows AS (
    -- a window's start moves on (hours leave it) or, for the calendar month,
    -- may move back up to a day (hours come back into it)
    SELECT b.track_id,
           COALESCE(sum(b.plays) FILTER (WHERE b.hour > {prev_week_floor} AND b.hour <= {week_floor}), 0)
           - COALESCE(sum(b.plays) FILTER (WHERE b.hour > {week_floor} AND b.hour <= {prev_week_floor}), 0)
               AS week_out,
           COALESCE(sum(b.plays) FILTER (WHERE b.hour > {prev_month_floor} AND b.hour <= {month_floor}), 0)
           - COALESCE(sum(b.plays) FILTER (WHERE b.hour > {month_floor} AND b.hour <= {prev_month_floor}), 0)
               AS month_out
    FROM trending._state_play_buckets b
    WHERE (b.hour > least({prev_week_floor}, {week_floor}) AND b.hour <= greatest({prev_week_floor}, {week_floor}))
       OR (b.hour > least({prev_month_floor}, {month_floor}) AND b.hour <= greatest({prev_month_floor}, {month_floor}))
    GROUP BY b.track_id
), summed AS (
    SELECT b.track_id,
           sum(b.plays) FILTER (WHERE b.hour > {week_floor})  AS week_all,
           sum(b.plays) FILTER (WHERE b.hour > {month_floor}) AS month_all,
           sum(b.plays) FILTER (WHERE NOT pg_catalog.isfinite(b.hour)) AS infinite_all
    FROM trending._state_play_buckets b
    WHERE b.track_id = ANY (ARRAY(SELECT u.id FROM {summed} u))
    GROUP BY b.track_id
), added AS (
    SELECT d.item_id AS track_id,
           sum(d.n) FILTER (WHERE d.hour > {week_floor})  AS week_new,
           sum(d.n) FILTER (WHERE d.hour > {month_floor}) AS month_new,
           sum(d.n) FILTER (WHERE NOT pg_catalog.isfinite(d.hour)) AS infinite_new
    FROM trending._capture_play_hours d
    WHERE {consumed} AND d.item_id IN (SELECT a.id FROM {ids} a)
    GROUP BY d.item_id
), sums AS (
    SELECT a.id AS track_id,
           CASE WHEN m.summed THEN COALESCE(u.week_all, 0)
                ELSE COALESCE(s.week_hours, 0) - COALESCE(o.week_out, 0) END + COALESCE(n.week_new, 0) AS week_hours,
           CASE WHEN m.summed THEN COALESCE(u.month_all, 0)
                ELSE COALESCE(s.month_hours, 0) - COALESCE(o.month_out, 0) END + COALESCE(n.month_new, 0) AS month_hours,
           CASE WHEN m.summed THEN COALESCE(u.infinite_all, 0)
                ELSE COALESCE(s.infinite_plays, 0) END + COALESCE(n.infinite_new, 0) AS infinite_plays
    FROM {ids} a
    CROSS JOIN LATERAL (SELECT EXISTS (SELECT FROM {summed} x WHERE x.id = a.id) AS summed) AS m
    LEFT JOIN trending._state_tracks s ON s.track_id = a.id
    LEFT JOIN left_windows o ON o.track_id = a.id
    LEFT JOIN summed u ON u.track_id = a.id
    LEFT JOIN added n ON n.track_id = a.id{not_fresh}
)
INSERT INTO pg_temp.trending_track_listens
SELECT x.track_id, x.week_hours, x.month_hours, x.infinite_plays, x.week_hours, x.month_hours, x.infinite_plays
FROM sums x
"""

# A staging table (staging_table): trending._state_write keeps these rows
# (trending._state_track_actions).
_TRACK_ENGAGEMENTS = """
INSERT INTO pg_temp.trending_track_engagements
SELECT r.repost_item_id::bigint AS track_id, true AS is_repost, r.user_id::bigint AS user_id, r.created_at
FROM {src}.reposts r
WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), 'track')  -- by label, no cast (docs/security.md)
  AND r.is_current IS TRUE AND r.is_delete IS FALSE{reposts_in_scope}
UNION ALL
SELECT s.save_item_id::bigint, false, s.user_id::bigint, s.created_at
FROM {src}.saves s
WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), 'track')  -- by label, no cast (docs/security.md)
  AND s.is_current IS TRUE AND s.is_delete IS FALSE{saves_in_scope}
"""

# Karma weight of a user: follower_count once per users row with a complete
# profile, for tracks every row (current or not, as upstream), for playlists
# the current ones (upstream filters is_current there). A negative
# follower_count adds nothing, as if the user had no aggregate_user row
# (docs/reference.md, Absurd rows). Also read by incremental.py for the
# users the capture names.
_USER_ROWS = {"track": "", "playlist": "u.is_current IS TRUE AND "}


def user_weights(kind: str, src: str, users_in_scope: str) -> str:
    """The query of the karma weights of `kind` of the users in scope."""
    return f"""
SELECT u.user_id::bigint AS user_id, sum(au.follower_count) FILTER (WHERE au.follower_count >= 0)::numeric AS weight,
       bool_or(au.follower_count < 0) AS negative
FROM {src}.users u
JOIN {src}.aggregate_user au ON au.user_id = u.user_id
WHERE {_USER_ROWS[kind]}{_COMPLETE_PROFILE}{users_in_scope}
GROUP BY u.user_id
"""


# An incremental cycle's weights of the contributors to the items whose
# saves and reposts it reads again: the state's, or for a user the capture
# named, the new one (incremental.py). Never the sources' for a user not
# named: the state's karma sums hold the state's weights, and a change not
# yet named is applied, as a difference, when it is.
_WEIGHTS_FROM_STATE = """
CREATE TEMP TABLE trending_{kind}_weights AS
SELECT e.user_id,
       CASE WHEN n.user_id IS NULL THEN s.weight ELSE n.weight END AS weight,
       CASE WHEN n.user_id IS NULL THEN s.negative ELSE n.negative END AS negative
FROM (SELECT DISTINCT g.user_id FROM pg_temp.trending_{kind}_engagements g) AS e
LEFT JOIN pg_temp.trending_{kind}_named_weights n ON n.user_id = e.user_id
LEFT JOIN trending._state_{kind}_users s ON s.user_id = e.user_id
"""


def _stage_weights(plpy, c: "Cycle", kind: str, scope: "Scope") -> None:
    """pg_temp.trending_<kind>_weights: the karma weights of the contributors
    to the items whose saves and reposts were read (every user's, reading
    every item)."""
    if scope.reread is not None:
        plpy.execute(_WEIGHTS_FROM_STATE.format(kind=kind))
    else:
        users_in_scope = "" if scope.ids is None else (
            f"\n  AND u.user_id = ANY (ARRAY(SELECT DISTINCT e.user_id FROM pg_temp.trending_{kind}_engagements e))")
        plpy.execute(f"CREATE TEMP TABLE trending_{kind}_weights AS" + user_weights(kind, c.source, users_in_scope))
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_weights")


_TRACK_INPUTS = """
CREATE TEMP TABLE trending_track_inputs AS
WITH eligible AS (
    -- an infinite created_at makes a track not eligible (counted)
    SELECT c.* FROM pg_temp.trending_track_candidates c
    WHERE c.current_rows = 1 AND c.listed AND pg_catalog.isfinite(c.created_at)
),
-- the whole hours after the hour that holds each window's start are in
-- trending_track_listens; the partial hour that holds it, exactly (created_at > start):
listen_edges AS (
    SELECT p.play_item_id AS track_id,
           count(*) FILTER (WHERE p.created_at > {week_start} AND p.created_at < {week_floor} + interval '1 hour')
               AS week_edge,
           count(*) FILTER (WHERE p.created_at > {month_start} AND p.created_at < {month_floor} + interval '1 hour')
               AS month_edge
    FROM {src}.plays p
    WHERE (p.created_at > {week_start} AND p.created_at < {week_floor} + interval '1 hour')
       OR (p.created_at > {month_start} AND p.created_at < {month_floor} + interval '1 hour')
    GROUP BY p.play_item_id
),
engagement_counts AS (
    SELECT e.track_id,
           count(*) FILTER (WHERE e.is_repost AND e.created_at > {week_start})      AS reposts_week,
           count(*) FILTER (WHERE e.is_repost AND e.created_at > {month_start})     AS reposts_month,
           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {week_start})  AS saves_week,
           count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {month_start}) AS saves_month,
           sum(w.weight)                                                           AS karma,
           count(*) FILTER (WHERE NOT pg_catalog.isfinite(e.created_at))           AS infinite_actions,
           array_agg(e.user_id ORDER BY e.user_id) FILTER (WHERE w.negative)      AS negative_contributors
    FROM pg_temp.trending_track_engagements e
    LEFT JOIN pg_temp.trending_track_weights w ON w.user_id = e.user_id
    GROUP BY e.track_id
),
engagement_inputs AS (
    SELECT * FROM engagement_counts{engagements_from_state}
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
       COALESCE(l.week_hours, 0) + COALESCE(x.week_edge, 0)   AS listens_week,
       COALESCE(l.month_hours, 0) + COALESCE(x.month_edge, 0) AS listens_month,
       COALESCE(g.reposts_week, 0)           AS reposts_week,
       COALESCE(g.reposts_month, 0)          AS reposts_month,
       COALESCE(g.saves_week, 0)             AS saves_week,
       COALESCE(g.saves_month, 0)            AS saves_month,
       COALESCE(at.repost_count, 0)          AS repost_total,
       COALESCE(at.save_count, 0)            AS save_total,
       ap.count                              AS play_total,
       ap.play_item_id IS NOT NULL AND ap.count IS NULL AS null_play_count,
       COALESCE(g.karma, 0)                  AS karma,
       COALESCE(g.infinite_actions, 0)       AS infinite_actions
FROM eligible e
LEFT JOIN {src}.aggregate_user au     ON au.user_id = e.owner_id
LEFT JOIN pg_temp.trending_track_listens l ON l.track_id = e.track_id
LEFT JOIN listen_edges x              ON x.track_id = e.track_id
LEFT JOIN engagement_inputs g         ON g.track_id = e.track_id
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
WHERE p.is_current IS TRUE{in_scope}
GROUP BY p.playlist_id
"""

# the widest window bounds the read (all windows are nested), but for the
# rows dated -infinity, read only to be counted
_PLAYLIST_ENGAGEMENTS = """
CREATE TEMP TABLE trending_playlist_engagements AS
SELECT r.repost_item_id::bigint AS playlist_id, true AS is_repost, r.user_id::bigint AS user_id, r.created_at
FROM {src}.reposts r
WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), 'playlist')  -- by label, no cast (docs/security.md)
  AND r.is_current IS TRUE AND r.is_delete IS FALSE
  AND (r.created_at >= {year_start} OR r.created_at = {infinite}){reposts_in_scope}
UNION ALL
SELECT s.save_item_id::bigint, false, s.user_id::bigint, s.created_at
FROM {src}.saves s
WHERE pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), 'playlist')  -- by label, no cast (docs/security.md)
  AND s.is_current IS TRUE AND s.is_delete IS FALSE
  AND (s.created_at >= {year_start} OR s.created_at = {infinite}){saves_in_scope}
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
-- counts take created_at > start, karma created_at >= start (as upstream)
engagement_counts AS (
    SELECT e.playlist_id,
           {window_columns}
    FROM pg_temp.trending_playlist_engagements e
    LEFT JOIN pg_temp.trending_playlist_weights w ON w.user_id = e.user_id
    GROUP BY e.playlist_id
),
engagement_inputs AS (
    SELECT * FROM engagement_counts{engagements_from_state}
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
LEFT JOIN engagement_inputs g         ON g.playlist_id = e.playlist_id
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


def _in(ids: str | None, column: str) -> str:
    """ AND column IN (the scope's ids), or nothing for every item."""
    # = ANY (ARRAY(...)): one index probe per id, whatever the planner thinks
    # of the ids' range (a merge join would walk the index from its start)
    return "" if ids is None else f"\n  AND {column} = ANY (ARRAY(SELECT a.id FROM {ids} a))"


_TRACK_ENGAGEMENT_COLUMNS = ("reposts_week", "reposts_month", "saves_week", "saves_month", "karma",
                             "infinite_actions", "negative_contributors")


def _engagements_from_state(kind: str, scope: Scope, columns) -> str:
    """An incremental cycle: the engagement counts and karma of the affected
    items it does not read again are the state's, moved by differences.
    - Tracks: by pg_temp.trending_track_action_delta (incremental.py,
      stage_action_delta): the saves and reposts that came, left, or left or
      entered a window, and the weight differences of the users who changed.
      negative_contributors stays: a track where a negative follower count
      is involved is read again (scope.reread).
    - Playlists: their counts changed only if their saves or reposts did,
      or a window moved over them (then they are in scope.reread); their
      karma moves by the weight differences of the users who changed
      (pg_temp.trending_playlist_karma_delta)."""
    if scope.reread is None:
        return ""
    id_col = f"{kind}_id"
    values = {c: f"st.{c}" for c in columns}
    if kind == "track":
        for column in (c for c in columns if c != "negative_contributors"):
            values[column] = f"st.{column} + COALESCE(kd.{column}, 0)"
        delta_join = "\n    LEFT JOIN pg_temp.trending_track_action_delta kd ON kd.id = st.track_id"
    else:
        for karma in (c for c in columns if c.startswith("karma")):
            # NULL stays NULL: a playlist karma without contributors has no difference to add
            values[karma] = f"st.{karma} + COALESCE(kd.delta{karma[len('karma'):]}, 0)"
        delta_join = f"\n    LEFT JOIN pg_temp.trending_{kind}_karma_delta kd ON kd.id = st.{id_col}"
    return (f"\n    UNION ALL\n    SELECT st.{id_col}, " + ", ".join(values[c] for c in columns)
            + f"\n    FROM trending._state_{kind}s st{delta_join}"
            f"\n    WHERE st.{id_col} = ANY (ARRAY(SELECT a.id FROM {scope.ids} a"
            f" WHERE NOT EXISTS (SELECT FROM {scope.reread} r WHERE r.id = a.id)))")


def _stage_listens(plpy, c: Cycle, scope: Scope) -> None:
    """pg_temp.trending_track_listens (and, reading the sources, trending_play_hours)."""
    plpy.execute(_LISTENS_TABLE)
    if scope.plays == "state":
        not_fresh = "" if scope.fresh is None else (
            f"\n    WHERE NOT EXISTS (SELECT FROM {scope.fresh} f WHERE f.id = a.id)")
        plpy.execute(_LISTENS_FROM_STATE.format(ids=scope.ids, summed=scope.summed, consumed=scope.consumed,
                                                week_floor=c.track_week_floor, month_floor=c.track_month_floor,
                                                prev_week_floor=scope.prev_week_floor,
                                                prev_month_floor=scope.prev_month_floor, infinite=_INFINITE,
                                                not_fresh=not_fresh))
    if scope.plays != "state" or scope.fresh is not None:
        # every item's plays, or the fresh ones' (their buckets are replaced: _state_write)
        ids = scope.ids if scope.plays != "state" else scope.fresh
        staging_table(plpy, "trending_play_hours")
        after = "" if scope.after is None else _PLAY_HOURS_AFTER.format(
            after=scope.after, keep_floor=c.track_month_keep, infinite=_INFINITE,
            in_scope=_in(ids, "d.item_id"))
        plpy.execute(_PLAY_HOURS_FROM_SOURCES.format(src=c.source, keep_floor=c.track_month_keep,
                                                     infinite=_INFINITE, after=after,
                                                     in_scope=_in(ids, "p.play_item_id")))
        plpy.execute(_LISTENS_FROM_PLAY_HOURS.format(week_floor=c.track_week_floor, month_floor=c.track_month_floor,
                                                     infinite=_INFINITE))
    plpy.execute("ANALYZE pg_temp.trending_track_listens")


def stage_track_inputs(plpy, c: Cycle, guard=_no_guard, scope: Scope = EVERYTHING) -> dict[str, int]:
    """Build trending_track_inputs for the scope's tracks; return the track
    traps found among them. guard(point) runs before each statement that
    reads the sources ("candidates", "plays", "engagements", "inputs")."""
    guard("candidates")
    plpy.execute(_TRACK_CANDIDATES.format(src=c.source, in_scope=_in(scope.ids, "t.track_id")))
    plpy.execute("ANALYZE pg_temp.trending_track_candidates")
    if scope.plays != "state" or scope.fresh is not None:
        guard("plays")
    _stage_listens(plpy, c, scope)
    guard("engagements")
    engaged = scope.reread or scope.ids
    staging_table(plpy, "trending_track_engagements")
    plpy.execute(_TRACK_ENGAGEMENTS.format(src=c.source, reposts_in_scope=_in(engaged, "r.repost_item_id"),
                                           saves_in_scope=_in(engaged, "s.save_item_id")))
    analyze_staging(plpy, "trending_track_engagements")
    guard("inputs")
    _stage_weights(plpy, c, "track", scope)
    plpy.execute(_TRACK_INPUTS.format(src=c.source, week_start=c.track_week_start,
                                      month_start=c.track_month_start, week_floor=c.track_week_floor,
                                      month_floor=c.track_month_floor,
                                      engagements_from_state=_engagements_from_state(
                                          "track", scope, _TRACK_ENGAGEMENT_COLUMNS),
                                      infinite=_INFINITE, genre_max_bytes=formulas.GENRE_MAX_BYTES,
                                      age_days=_age_days(c, "e")))
    plpy.execute("ANALYZE pg_temp.trending_track_inputs")
    row = plpy.execute(_TRACK_BAD_ROWS)[0]
    return {key: int(row[key]) for key in TRACK_BAD_ROWS}


def stage_playlist_inputs(plpy, c: Cycle, guard=_no_guard, scope: Scope = EVERYTHING) -> dict[str, int]:
    """Build trending_playlist_inputs for the scope's playlists; return the playlist traps found."""
    ranges = list(formulas.PLAYLIST_WINDOWS)
    starts = c.playlist_starts
    widest = max(ranges, key=lambda r: formulas.WINDOW_DAYS[r])
    window_columns = ",\n           ".join(
        [f"count(*) FILTER (WHERE e.is_repost AND e.created_at > {starts[r]}) AS reposts_{r}" for r in ranges]
        + [f"count(*) FILTER (WHERE NOT e.is_repost AND e.created_at > {starts[r]}) AS saves_{r}" for r in ranges]
        + [f"sum(w.weight) FILTER (WHERE e.created_at >= {starts[r]}) AS karma_{r}" for r in ranges]
        + ["count(*) FILTER (WHERE NOT pg_catalog.isfinite(e.created_at)) AS infinite_events",
           # contributors to some window's karma (the widest window holds them all)
           f"array_agg(e.user_id ORDER BY e.user_id) FILTER (WHERE w.negative AND e.created_at >= {starts[widest]})"
           " AS negative_contributors"])
    window_outputs = ",\n       ".join(
        [f"COALESCE(g.reposts_{r}, 0) AS reposts_{r}" for r in ranges]
        + [f"COALESCE(g.saves_{r}, 0) AS saves_{r}" for r in ranges]
        + [f"g.karma_{r} AS karma_{r}" for r in ranges])
    guard("candidates")
    plpy.execute(_PLAYLIST_CANDIDATES.format(src=c.source, in_scope=_in(scope.ids, "p.playlist_id")))
    plpy.execute("ANALYZE pg_temp.trending_playlist_candidates")
    guard("engagements")
    engaged = scope.reread or scope.ids
    plpy.execute(_PLAYLIST_ENGAGEMENTS.format(src=c.source, year_start=starts[widest], infinite=_INFINITE,
                                              reposts_in_scope=_in(engaged, "r.repost_item_id"),
                                              saves_in_scope=_in(engaged, "s.save_item_id")))
    plpy.execute("ANALYZE pg_temp.trending_playlist_engagements")
    guard("inputs")
    _stage_weights(plpy, c, "playlist", scope)
    engagement_columns = ([f"reposts_{r}" for r in ranges] + [f"saves_{r}" for r in ranges]
                          + [f"karma_{r}" for r in ranges] + ["infinite_events", "negative_contributors"])
    plpy.execute(_PLAYLIST_INPUTS.format(src=c.source,
                                         engagements_from_state=_engagements_from_state(
                                             "playlist", scope, engagement_columns),
                                         window_columns=window_columns,
                                         window_outputs=window_outputs,
                                         age_days=_age_days(c, "e")))
    plpy.execute("ANALYZE pg_temp.trending_playlist_inputs")
    karmas = ", ".join(f"karma_{r}" for r in ranges)
    row = plpy.execute(_PLAYLIST_BAD_ROWS.format(
        karmas=karmas, int8_max=INT8_MAX,
        negative_users=_NEGATIVE_FOLLOWER_USERS.format(inputs="pg_temp.trending_playlist_inputs")))[0]
    return {key: int(row[key]) for key in PLAYLIST_BAD_ROWS}


# What the state keeps of a staging (sql/schema/85_state.sql), in the state
# tables' column order; trending._state_write copies these temp tables.
_TRACK_STATE = """
INSERT INTO pg_temp.trending_track_state
SELECT i.track_id, i.owner_id, c.created_at, greatest(c.release_date, c.created_at), c.release_date,
       i.genre, i.genre_too_long, i.owner_followers, i.release_date_infinite, i.infinite_events,
       i.negative_contributors, i.listens_week, i.listens_month, i.reposts_week, i.reposts_month,
       i.saves_week, i.saves_month, i.repost_total, i.save_total, i.play_total, i.null_play_count, i.karma,
       COALESCE(l.state_week_hours, 0), COALESCE(l.state_month_hours, 0), COALESCE(l.state_infinite_plays, 0),
       i.infinite_actions
FROM pg_temp.trending_track_inputs i
JOIN pg_temp.trending_track_candidates c ON c.track_id = i.track_id
LEFT JOIN pg_temp.trending_track_listens l ON l.track_id = i.track_id
"""

_PLAYLIST_STATE = """
INSERT INTO pg_temp.trending_playlist_state
SELECT i.playlist_id, i.owner_id, c.created_at, greatest(c.release_date, c.created_at), c.release_date,
       i.owner_followers, i.release_date_infinite, i.infinite_events, i.negative_contributors,
       i.reposts_week, i.reposts_month, i.reposts_year, i.saves_week, i.saves_month, i.saves_year,
       i.karma_week, i.karma_month, i.karma_year, i.repost_total, i.save_total
FROM pg_temp.trending_playlist_inputs i
JOIN pg_temp.trending_playlist_candidates c ON c.playlist_id = i.playlist_id
"""


def stage_state(plpy, c: Cycle, kind: str, incremental: bool = False) -> None:
    """The temp tables trending._state_write copies into the state, from the
    kind's staging: its inputs with their age's dates, each user's karma
    weight as the karma sums hold it, and
    - tracks: their live saves and reposts (pg_temp.trending_track_engagements,
      staged by stage_track_inputs: every track's in a full staging, those
      of the tracks read whole in an incremental one, which also stages the
      pairs it read again: incremental.stage_action_delta);
    - playlists: the hours of their live engagements that a window can
      still leave (all of them in a full staging; an incremental one adds
      those of the playlists it read whole: an hour left behind by an
      undone save only makes a later cycle rescore the playlist once more),
      and the owner of every playlist with one current row."""
    staging_table(plpy, f"trending_{kind}_state")
    plpy.execute(_TRACK_STATE if kind == "track" else _PLAYLIST_STATE)
    if kind == "playlist":
        floor = c.playlist_floors[max(formulas.PLAYLIST_WINDOWS, key=lambda r: formulas.WINDOW_DAYS[r])]
        staging_table(plpy, "trending_playlist_engagement_hours")
        plpy.execute("INSERT INTO pg_temp.trending_playlist_engagement_hours"
                     " SELECT DISTINCT pg_catalog.date_trunc('hour', e.created_at), e.playlist_id"
                     f" FROM pg_temp.trending_playlist_engagements e WHERE e.created_at >= {floor}")
    # each user's weight as the state's karma sums now hold it: every user's
    # after a full staging, the named users' after an incremental one
    weights = f"trending_{kind}_named_weights" if incremental else f"trending_{kind}_weights"
    staging_table(plpy, f"trending_{kind}_user_state")
    plpy.execute(f"INSERT INTO pg_temp.trending_{kind}_user_state SELECT w.user_id, w.weight, w.negative"
                 f" FROM pg_temp.{weights} w")
    if kind == "playlist":
        staging_table(plpy, "trending_playlist_owners")
        plpy.execute("INSERT INTO pg_temp.trending_playlist_owners"
                     " SELECT c.playlist_id, c.owner_id FROM pg_temp.trending_playlist_candidates c"
                     " WHERE c.current_rows = 1")
