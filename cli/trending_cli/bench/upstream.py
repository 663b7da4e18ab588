"""The upstream job's three write strategies, reimplemented from docs/reference.md.

Each contender lives in a schema of its own with:

* its copies of the two score tables, carrying the upstream's six indexes
  (four on the playlist table: the genre ones have no playlist column);
* the two upstream input views, materialized, one row per eligible track /
  playlist with every windowed count, the totals, karma, age and the owner's
  followers, each with a unique index on its id (REFRESH ... CONCURRENTLY
  needs one);
* a one-row table holding the cycle's `now`, read by the IMMUTABLE function
  cycle_now(). The views call that function, so a REFRESH plans with `now`
  folded to a constant (the upstream's now() is folded the same way for the
  planner's estimates) and never evaluates it per row.

The views are written the upstream's way, one grouped subquery per source
table and window (docs/reference.md: it also computed yearly repost and save counts that no
formula uses). The scores are computed in SQL from the views, one slice
(strategy and range) at a time: the upstream computed them in an application
process, so this flatters the upstream a little (no round trip of the rows).

Contenders (docs/reference.md, "The job in one paragraph"):

* A:  plain REFRESH of both views; per slice DELETE then INSERT, each slice its
      own transaction; zero scores stored.
* B:  REFRESH CONCURRENTLY; per slice an ON COMMIT DROP temp stage (never
      analyzed, as upstream), INSERT ... ON CONFLICT DO UPDATE ... WHERE score
      IS DISTINCT FROM excluded.score, then an anti-join DELETE of the rows
      missing from the stage; zero scores stored. Under a statement_timeout;
      on 57014 the whole cycle is retried with enable_nestloop = off.
* C:  REFRESH CONCURRENTLY; every slice DELETE then bulk INSERT in one
      transaction (production today); zero scores stored.
* C0: C without zero scores (the upstream's latest).

The first refresh of a view is always plain: CONCURRENTLY needs a populated view.
"""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg import errors, sql

from .contenders import STRATEGIES, Contender, Options, Outcome

# the reference's constants.
N, F, O, R, I, Q, Y = 1, 50, 1, 0.25, 0.01, 100000, 3
WINDOW_DAYS = {"week": 7, "month": 30, "year": 365}
TRACK_WINDOWS = {"week": "7 days", "month": "1 mon", "year": "1 year"}      # calendar month
PLAYLIST_WINDOWS = {"week": "7 days", "month": "30 days", "year": "365 days"}

RETRY_FLAG = "timed out, retried with nestloop off"

# ---------------------------------------------------------------------------
# DDL: the `now` holder, score tables, input views
# ---------------------------------------------------------------------------
_NOW_DDL = """
CREATE TABLE {s}.cycle_now_setting (now timestamptz NOT NULL);
INSERT INTO {s}.cycle_now_setting VALUES ('2000-01-01 00:00+00');
-- IMMUTABLE on purpose: folded once when a REFRESH plans the view's query.
-- Only REFRESH (planned afresh every time) and the slices (run as one-shot
-- statements) call it; never use it in a cached plan.
CREATE FUNCTION {s}.cycle_now() RETURNS timestamp LANGUAGE sql IMMUTABLE
    AS $$ SELECT now AT TIME ZONE 'UTC' FROM {s}.cycle_now_setting $$;
"""

_SCORE_TABLES_DDL = """
CREATE TABLE {s}.track_trending_scores (
    track_id   integer          NOT NULL,
    type       varchar          NOT NULL,
    genre      varchar,
    version    varchar          NOT NULL,
    time_range varchar          NOT NULL,
    score      double precision NOT NULL,
    created_at timestamp        NOT NULL,
    PRIMARY KEY (track_id, type, version, time_range)
);
CREATE INDEX ON {s}.track_trending_scores (type, version, time_range, score DESC, track_id);
CREATE INDEX ON {s}.track_trending_scores (genre);
CREATE INDEX ON {s}.track_trending_scores (track_id);
CREATE INDEX ON {s}.track_trending_scores (genre, time_range, score DESC, track_id);
CREATE INDEX ON {s}.track_trending_scores (score DESC, track_id)
    WHERE type = 'TRACKS' AND version = 'pnagD' AND time_range = 'week'
      AND (genre IS NULL OR genre = '');

CREATE TABLE {s}.playlist_trending_scores (
    playlist_id integer          NOT NULL,
    type        varchar          NOT NULL,
    version     varchar          NOT NULL,
    time_range  varchar          NOT NULL,
    score       double precision NOT NULL,
    created_at  timestamp        NOT NULL,
    PRIMARY KEY (playlist_id, type, version, time_range)
);
CREATE INDEX ON {s}.playlist_trending_scores (type, version, time_range, score DESC, playlist_id);
CREATE INDEX ON {s}.playlist_trending_scores (playlist_id);
CREATE INDEX ON {s}.playlist_trending_scores (score DESC, playlist_id)
    WHERE type = 'PLAYLISTS' AND version = 'pnagD' AND time_range = 'week';
"""

_COMPLETE_PROFILE = """(u.cover_photo IS NOT NULL OR u.cover_photo_sizes IS NOT NULL)
           AND (u.profile_picture IS NOT NULL OR u.profile_picture_sizes IS NOT NULL)
           AND u.bio IS NOT NULL"""


def _age_days(row: str) -> str:
    """the reference's age: the days field of now - base, base = created_at when the
    release is in the future, else the later of release_date and created_at
    (greatest() ignores a NULL)."""
    return (f"EXTRACT(day FROM {{s}}.cycle_now() - CASE WHEN {row}.release_date > {{s}}.cycle_now()"
            f" THEN {row}.created_at ELSE greatest({row}.release_date, {row}.created_at) END)::integer")


def _windowed_count(name: str, table: str, item: str, type_col: str, kind: str, start: str) -> str:
    """One upstream-style grouped subquery: current, non-deleted engagements of
    one kind since a window start."""
    return (f"LEFT JOIN (SELECT x.{item} AS id, count(*) AS n FROM {{src}}.{table} x"
            f" WHERE x.{type_col} = '{kind}' AND x.is_current IS TRUE AND x.is_delete IS FALSE"
            f" AND x.created_at > {start} GROUP BY x.{item}) {name} ON {name}.id = e.id")


def _track_view_sql() -> str:
    starts = {r: f"({{s}}.cycle_now() - interval '{w}')" for r, w in TRACK_WINDOWS.items()}
    joins = [
        f"LEFT JOIN (SELECT p.play_item_id AS id, count(*) AS n FROM {{src}}.plays p"
        f" WHERE p.created_at > {starts[r]} GROUP BY p.play_item_id) listens_{r} ON listens_{r}.id = e.id"
        for r in ("week", "month")]
    for r in ("week", "month", "year"):
        joins.append(_windowed_count(f"reposts_{r}", "reposts", "repost_item_id", "repost_type", "track", starts[r]))
        joins.append(_windowed_count(f"saves_{r}", "saves", "save_item_id", "save_type", "track", starts[r]))
    counts = ",\n       ".join(
        [f"COALESCE(listens_{r}.n, 0) AS listens_{r}" for r in ("week", "month")]
        + [f"COALESCE({k}_{r}.n, 0) AS {k}_{r}" for k in ("reposts", "saves") for r in ("week", "month", "year")])
    return f"""
CREATE MATERIALIZED VIEW {{s}}.track_inputs AS
WITH current_rows AS (
    -- an id with more than one current row is skipped (upstream's key would collide)
    SELECT t.track_id, count(*) AS n FROM {{src}}.tracks t WHERE t.is_current IS TRUE GROUP BY t.track_id
),
eligible AS (
    SELECT t.track_id AS id, t.genre, t.owner_id, t.created_at, t.release_date
    FROM {{src}}.tracks t
    JOIN current_rows c ON c.track_id = t.track_id AND c.n = 1
    WHERE t.is_current IS TRUE AND t.is_delete IS FALSE AND t.is_unlisted IS FALSE AND t.stem_of IS NULL
),
karma AS (
    -- every current track repost and save, times every users row (current or
    -- not) of its user with a complete profile, weighted by followers
    SELECT g.item_id, sum(au.follower_count) AS karma
    FROM (SELECT r.repost_item_id AS item_id, r.user_id FROM {{src}}.reposts r
          WHERE r.repost_type = 'track' AND r.is_current IS TRUE AND r.is_delete IS FALSE
          UNION ALL
          SELECT s.save_item_id, s.user_id FROM {{src}}.saves s
          WHERE s.save_type = 'track' AND s.is_current IS TRUE AND s.is_delete IS FALSE) g
    JOIN {{src}}.users u ON u.user_id = g.user_id
    JOIN {{src}}.aggregate_user au ON au.user_id = g.user_id
    WHERE {_COMPLETE_PROFILE}
    GROUP BY g.item_id
)
SELECT e.id AS track_id,
       e.genre,
       e.owner_id,
       au.follower_count AS owner_followers,
       ap.count AS play_total,
       COALESCE(at.repost_count, 0) AS repost_total,
       COALESCE(at.save_count, 0) AS save_total,
       {counts},
       COALESCE(k.karma, 0) AS karma,
       {_age_days("e")} AS age_days
FROM eligible e
LEFT JOIN {{src}}.aggregate_user au ON au.user_id = e.owner_id
LEFT JOIN {{src}}.aggregate_plays ap ON ap.play_item_id = e.id
LEFT JOIN {{src}}.aggregate_track at ON at.track_id = e.id
LEFT JOIN karma k ON k.item_id = e.id
{chr(10).join(joins)}
WITH NO DATA;
CREATE UNIQUE INDEX ON {{s}}.track_inputs (track_id);
"""


def _playlist_view_sql() -> str:
    starts = {r: f"({{s}}.cycle_now() - interval '{w}')" for r, w in PLAYLIST_WINDOWS.items()}
    joins = []
    for r in WINDOW_DAYS:
        joins.append(_windowed_count(f"reposts_{r}", "reposts", "repost_item_id", "repost_type", "playlist", starts[r]))
        joins.append(_windowed_count(f"saves_{r}", "saves", "save_item_id", "save_type", "playlist", starts[r]))
        # karma counts engagements since the window start inclusive (>=), unlike the counts
        joins.append(
            f"LEFT JOIN (SELECT g.item_id AS id, sum(au.follower_count)::bigint AS karma"
            f" FROM (SELECT r.repost_item_id AS item_id, r.user_id, r.created_at FROM {{src}}.reposts r"
            f" WHERE r.repost_type = 'playlist' AND r.is_current IS TRUE AND r.is_delete IS FALSE"
            f" UNION ALL SELECT s.save_item_id, s.user_id, s.created_at FROM {{src}}.saves s"
            f" WHERE s.save_type = 'playlist' AND s.is_current IS TRUE AND s.is_delete IS FALSE) g"
            f" JOIN {{src}}.users u ON u.user_id = g.user_id AND u.is_current IS TRUE"
            f" JOIN {{src}}.aggregate_user au ON au.user_id = g.user_id"
            f" WHERE g.created_at >= {starts[r]} AND {_COMPLETE_PROFILE}"
            f" GROUP BY g.item_id) karma_{r} ON karma_{r}.id = e.id")
    columns = ",\n       ".join(
        [f"COALESCE({k}_{r}.n, 0) AS {k}_{r}" for r in WINDOW_DAYS for k in ("reposts", "saves")]
        + [f"karma_{r}.karma AS karma_{r}" for r in WINDOW_DAYS])
    return f"""
CREATE MATERIALIZED VIEW {{s}}.playlist_inputs AS
WITH current_rows AS (
    SELECT p.playlist_id, count(*) AS n FROM {{src}}.playlists p WHERE p.is_current IS TRUE GROUP BY p.playlist_id
),
eligible AS (
    SELECT p.playlist_id AS id, p.playlist_owner_id AS owner_id, p.created_at, p.release_date
    FROM {{src}}.playlists p
    JOIN current_rows c ON c.playlist_id = p.playlist_id AND c.n = 1
    WHERE p.is_current IS TRUE AND p.is_delete IS FALSE AND p.is_private IS FALSE
      -- a 'track_ids' that is missing or not an array makes it ineligible (upstream aborted)
      AND CASE WHEN jsonb_typeof(p.playlist_contents -> 'track_ids') = 'array'
               THEN jsonb_array_length(p.playlist_contents -> 'track_ids') >= 3 ELSE false END
)
SELECT e.id AS playlist_id,
       e.owner_id,
       au.follower_count AS owner_followers,
       COALESCE(ag.repost_count, 0) AS repost_total,
       COALESCE(ag.save_count, 0) AS save_total,
       {columns},
       {_age_days("e")} AS age_days
FROM eligible e
JOIN {{src}}.aggregate_user au ON au.user_id = e.owner_id
LEFT JOIN {{src}}.aggregate_playlist ag ON ag.playlist_id = e.id
{chr(10).join(joins)}
WITH NO DATA;
CREATE UNIQUE INDEX ON {{s}}.playlist_inputs (playlist_id);
"""


def create_inputs(conn, schema: str, source_schema: str) -> None:
    """The `now` holder and the two input views (unpopulated) in `schema`."""
    names = {"s": sql.Identifier(schema), "src": sql.Identifier(source_schema)}
    for text in (_NOW_DDL, _track_view_sql(), _playlist_view_sql()):
        conn.execute(sql.SQL(text).format(**names))


def create_score_tables(conn, schema: str) -> None:
    conn.execute(sql.SQL(_SCORE_TABLES_DDL).format(s=sql.Identifier(schema)))


def set_now(conn, schema: str, now: datetime) -> None:
    conn.execute(sql.SQL("UPDATE {}.cycle_now_setting SET now = %s").format(sql.Identifier(schema)), (now,))


# ---------------------------------------------------------------------------
# scores of one slice, from the views
# ---------------------------------------------------------------------------
def _decay(window_days: int) -> str:
    return (f"CASE WHEN v.age_days <= {window_days} THEN 1::float8"
            f" ELSE greatest(1::float8 / {Q}, power({Q}::float8,"
            f" greatest(-10::float8, 1 - v.age_days::float8 / {window_days}))) END")


def _karma_factor(version: str) -> str:
    return "v.karma::float8" if version == "pnagD" else "(1 + log(1 + v.karma::float8))"


def _track_score(version: str, time_range: str) -> tuple[str, str]:
    """(score expression, extra WHERE) of a track slice."""
    totals = f"{R}::float8 * v.repost_total + {I}::float8 * v.save_total"
    if time_range == "allTime":
        base, decay, where = f"({N}::float8 * v.play_total + {totals})", "1::float8", "v.play_total IS NOT NULL"
    else:
        r = time_range
        base = (f"({N}::float8 * v.listens_{r} + {F}::float8 * v.reposts_{r} + {O}::float8 * v.saves_{r}"
                f" + {totals})")
        decay, where = _decay(WINDOW_DAYS[r]), "true"
    score = (f"CASE WHEN v.owner_followers < {Y} THEN 0::float8"
             f" ELSE {decay} * {base} * {_karma_factor(version)} END")
    return score, where


def _playlist_score(time_range: str) -> str:
    r = time_range
    base = (f"({N}::float8 + {F}::float8 * v.reposts_{r} + {O}::float8 * v.saves_{r}"
            f" + {R}::float8 * v.repost_total + {I}::float8 * v.save_total)")
    return (f"CASE WHEN v.owner_followers < {Y} THEN 0::float8"
            f" ELSE {_decay(WINDOW_DAYS[r])} * {base} * COALESCE(v.karma_{r}, 1)::float8 END")


def slice_select(schema: str, kind: str, type_: str, version: str, time_range: str,
                 store_zeros: bool) -> sql.Composed:
    """SELECT of one slice's score rows, in the score table's column order."""
    if kind == "track":
        score, where = _track_score(version, time_range)
        text = (f"SELECT v.track_id, {{type}} AS type, v.genre, {{version}} AS version, {{range}} AS time_range,"
                f" {score} AS score, {{s}}.cycle_now() AS created_at"
                f" FROM {{s}}.track_inputs v WHERE {where}")
    else:
        text = (f"SELECT v.playlist_id, {{type}} AS type, {{version}} AS version, {{range}} AS time_range,"
                f" {_playlist_score(time_range)} AS score, {{s}}.cycle_now() AS created_at"
                f" FROM {{s}}.playlist_inputs v")
    if not store_zeros:
        text = f"SELECT * FROM ({text}) z WHERE z.score <> 0"
    return sql.SQL(text).format(s=sql.Identifier(schema), type=sql.Literal(type_),
                                version=sql.Literal(version), range=sql.Literal(time_range))


def slices():
    """Every (kind, type, version, time range) of the four strategies."""
    for type_, version, kind, ranges in STRATEGIES:
        for time_range in ranges:
            yield kind, type_, version, time_range


def _slice_filter(type_: str, version: str, time_range: str, alias: str = "") -> sql.Composed:
    prefix = f"{alias}." if alias else ""
    return sql.SQL(f"{prefix}type = {{}} AND {prefix}version = {{}} AND {prefix}time_range = {{}}").format(
        sql.Literal(type_), sql.Literal(version), sql.Literal(time_range))


# ---------------------------------------------------------------------------
# the contenders
# ---------------------------------------------------------------------------
class Upstream(Contender):
    """Shared by A, B, C, C0: schema, views, refresh."""

    concurrent_refresh = True
    store_zeros = True

    def __init__(self):
        self.reader_touch = sql.Identifier(self.schema, "track_inputs")

    def setup(self, conn, source_schema: str) -> None:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        create_score_tables(conn, self.schema)
        create_inputs(conn, self.schema, source_schema)

    def retire(self, admin) -> None:
        """Its score tables and views (C0's are the largest at prod scale)."""
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    def cycle(self, conn, now: datetime, options: Options) -> Outcome:
        conn.execute("SELECT set_config('work_mem', %s, false)", (options.work_mem,))
        set_now(conn, self.schema, now)
        self.refresh(conn)
        self.write(conn)
        return Outcome()

    def refresh(self, conn) -> None:
        """REFRESH both views, each in its own transaction (autocommit);
        plain when asked or when the view is not populated yet."""
        for view in ("track_inputs", "playlist_inputs"):
            (populated,) = conn.execute("SELECT ispopulated FROM pg_matviews WHERE schemaname = %s"
                                        " AND matviewname = %s", (self.schema, view)).fetchone()
            concurrently = sql.SQL("CONCURRENTLY " if self.concurrent_refresh and populated else "")
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}{}").format(
                concurrently, sql.Identifier(self.schema, view)))

    def table_of(self, kind: str) -> sql.Identifier:
        return self.track_table if kind == "track" else self.playlist_table

    def delete_insert(self, conn, kind, type_, version, time_range) -> None:
        conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(
            self.table_of(kind), _slice_filter(type_, version, time_range)))
        conn.execute(sql.SQL("INSERT INTO {} {}").format(
            self.table_of(kind), slice_select(self.schema, kind, type_, version, time_range, self.store_zeros)))

    def write(self, conn) -> None:
        raise NotImplementedError


class PlainRefreshSlices(Upstream):
    name = "A"
    description = "plain REFRESH + per slice DELETE/INSERT, a transaction per slice (zeros stored)"
    schema = "upstream_a"
    concurrent_refresh = False

    def write(self, conn) -> None:
        for kind, type_, version, time_range in slices():
            with conn.transaction():
                self.delete_insert(conn, kind, type_, version, time_range)


class StagedUpsert(Upstream):
    name = "B"
    description = ("REFRESH CONCURRENTLY + unanalyzed temp stage, INSERT ON CONFLICT DO UPDATE"
                   " WHERE changed + anti-join DELETE, a transaction per slice (zeros stored)")
    schema = "upstream_b"

    def cycle(self, conn, now: datetime, options: Options) -> Outcome:
        """The cycle under a statement_timeout; on 57014 once more, with nested
        loops off and a generous guard timeout (so that a bench never hangs)."""
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(max(1, int(options.b_timeout_s * 1000))),))
        try:
            return super().cycle(conn, now, options)
        except errors.QueryCanceled as error:
            first = str(error).strip().splitlines()[0]
        retry_ms = int((options.b_retry_timeout_s or 10 * options.b_timeout_s) * 1000)
        conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(retry_ms),))
        conn.execute("SET enable_nestloop = off")
        try:
            outcome = super().cycle(conn, now, options)
        finally:
            conn.execute("RESET enable_nestloop")
            conn.execute("RESET statement_timeout")
        outcome.flags.append(RETRY_FLAG)
        outcome.detail["first_attempt_error"] = first
        return outcome

    def write(self, conn) -> None:
        for kind, type_, version, time_range in slices():
            with conn.transaction():
                self._merge_slice(conn, kind, type_, version, time_range)

    def _merge_slice(self, conn, kind, type_, version, time_range) -> None:
        table, key = self.table_of(kind), ("track_id" if kind == "track" else "playlist_id")
        conn.execute(sql.SQL("CREATE TEMP TABLE bench_stage ON COMMIT DROP AS {}").format(
            slice_select(self.schema, kind, type_, version, time_range, self.store_zeros)))
        # no ANALYZE of the stage: the upstream did none
        conflict_key = sql.SQL(", ").join(map(sql.Identifier, (key, "type", "version", "time_range")))
        genre = sql.SQL(", genre = excluded.genre") if kind == "track" else sql.SQL("")
        conn.execute(sql.SQL(
            "INSERT INTO {t} AS s SELECT * FROM pg_temp.bench_stage ON CONFLICT ({k}) DO UPDATE"
            " SET score = excluded.score, created_at = excluded.created_at{genre}"
            " WHERE s.score IS DISTINCT FROM excluded.score").format(t=table, k=conflict_key, genre=genre))
        conn.execute(sql.SQL(
            "DELETE FROM {t} AS s WHERE {f} AND NOT EXISTS"
            " (SELECT 1 FROM pg_temp.bench_stage st WHERE st.{id} = s.{id})").format(
            t=table, f=_slice_filter(type_, version, time_range, "s"), id=sql.Identifier(key)))


class OneTransactionSlices(Upstream):
    name = "C"
    description = "REFRESH CONCURRENTLY + every slice DELETE/INSERT in one transaction (production today; zeros stored)"
    schema = "upstream_c"

    def write(self, conn) -> None:
        with conn.transaction():
            for kind, type_, version, time_range in slices():
                self.delete_insert(conn, kind, type_, version, time_range)


class OneTransactionSlicesNoZeros(OneTransactionSlices):
    name = "C0"
    description = "C without zero scores (the upstream's latest)"
    schema = "upstream_c0"
    store_zeros = False


UPSTREAM = (PlainRefreshSlices, StagedUpsert, OneTransactionSlices, OneTransactionSlicesNoZeros)
