"""A realistic simulated hour: simulate_activity's appends plus the updates
a live service makes (issue 9, the benchmark's "realistic simulated hour").

``simulate_activity`` only appends (new plays, saves, reposts, tracks,
playlists). A real hour also changes rows that exist. ``simulate_updates``
adds those, each as a set-based statement, and keeps every aggregate_* table
matching the raw rows, as the upstream indexer does:

* late plays: created 1 to 72 hours before the period (a client's backlog
  flushed late), so they land in windows a cycle has already counted;
* un-saves and un-reposts of existing current rows, half by flipping
  is_delete in place, half as the indexer does it (the old row made
  non-current, a new current row with is_delete);
* follows and unfollows: follower_count of the followed user and
  following_count of the follower in aggregate_user;
* profile edits: a user's profile completed or emptied (cover, picture,
  bio), half as a new current users row, half in place;
* track edits: a new current row with another genre (60%), unlisting or
  re-listing in place (30%), deletion in place (10%).

Rates are per play of the period (``UPDATE_RATES``), not per row that
exists: the growth run (3x users, tracks, playlists, saves, reposts, the same
plays) then gets about the same hourly events, which is what it measures.
docs/benchmark.md says why each rate is plausible.

``add_older_plays`` multiplies the plays older than a month (the "older
plays" run: what lies outside every window but the year must not matter).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Dict, Mapping

from psycopg import sql

from .generate import (MONTH, PLAY_DAYS, SIM_INDEX_STRIDE, _create_staging_tables, _drop_staging_tables,
                       _epoch, _insert_plays, _literals, _Model, _prepare_session, _read_meta,
                       _read_state, _require_aware, _round_randomly, _run, _simulation_params,
                       _staging, _sync_play_sequence, _volumes_of, simulate_activity)

__all__ = ["UPDATE_RATES", "add_older_plays", "simulate_hour", "simulate_updates"]

# Events per play of the period. Why these: docs/benchmark.md ("A realistic hour").
UPDATE_RATES: Dict[str, float] = {
    "late_plays": 0.02,      # 2% of plays reach the server 1..72 h late
    "unsaves": 0.01,         # ~8% of the hour's saves (plays/8): un-saves and history churn
    "unreposts": 0.004,      # ~8% of the hour's reposts (plays/20)
    "follows": 0.10,         # follows are as frequent as saves and reposts together, and more
    "profile_edits": 0.005,  # ~10 profile edits an hour at medium
    "track_edits": 0.005,    # ~10 track edits an hour at medium
}
UNFOLLOW_SHARE = 0.1
STREAM = 700  # draws 700..799: apart from the generator's streams


def simulate_hour(conn, schema: str, *, seed: int, start: datetime, end: datetime,
                  updates: bool = True, rates: Mapping[str, float] | None = None) -> Dict[str, int]:
    """simulate_activity's appends for (start, end], then (with `updates`) the
    period's updates of existing rows. Returns the counts of both."""
    counts = simulate_activity(conn, schema, seed=seed, start=start, end=end)
    if updates:
        counts.update(simulate_updates(conn, schema, seed=seed, start=start, end=end,
                                       plays=counts["plays"], rates=rates))
    return counts


def simulate_updates(conn, schema: str, *, seed: int, start: datetime, end: datetime, plays: int,
                     rates: Mapping[str, float] | None = None) -> Dict[str, int]:
    """Update existing rows of a generated schema as a service's hour (start,
    end] would, at `rates` (default UPDATE_RATES) per one of the period's
    `plays`. Deterministic for the same data, seed and period. Returns the
    number of events of each kind."""
    _require_aware("start", start)
    _require_aware("end", end)
    if end <= start:
        raise ValueError(f"simulate_updates needs start < end, got {start} .. {end}")
    rates = {**UPDATE_RATES, **(rates or {})}
    key = _epoch(start)
    volumes = {name: _round_randomly(rate * plays, seed, f"update-{name}", key) for name, rate in rates.items()}
    with conn.transaction():
        meta = _read_meta(conn, schema)
        _prepare_session(conn, _Model.of(int(meta["seed"]), _volumes_of(meta)))
        state = _read_state(conn, schema, start)
        params = _simulation_params(schema, meta, seed, state)
        base = dict(start=start, end=end, span_s=(end - start).total_seconds(), key=key,
                    idx0=key * SIM_INDEX_STRIDE + SIM_INDEX_STRIDE // 2)
        counts = {"late_plays": _late_plays(conn, schema, params, state, volumes["late_plays"], base)}
        for kind, n in (("saves", volumes["unsaves"]), ("reposts", volumes["unreposts"])):
            counts[f"un{kind}"] = _undo_engagements(conn, params, kind, n, base)
        if volumes["follows"] > 0:
            _run_sql(conn, _FOLLOWS, params, base, n=volumes["follows"], unfollow=UNFOLLOW_SHARE)
        counts["follows"] = volumes["follows"]
        counts["profile_edits"] = _profile_edits(conn, params, volumes["profile_edits"], base)
        counts["track_edits"] = _track_edits(conn, params, volumes["track_edits"], base)
    return counts


def add_older_plays(conn, schema: str, *, factor: float, seed: int, as_of: datetime) -> int:
    """Add plays older than a month (before as_of - 30 days, after as_of - 365
    days), (factor - 1) times as many as there are, crowding towards the
    month like the generator's; aggregate_plays follows. Returns rows added."""
    _require_aware("as_of", as_of)
    lo, hi = as_of - timedelta(days=PLAY_DAYS), as_of - MONTH
    with conn.transaction():
        meta = _read_meta(conn, schema)
        _prepare_session(conn, _Model.of(int(meta["seed"]), _volumes_of(meta)))
        state = _read_state(conn, schema, as_of)
        params = _simulation_params(schema, meta, seed, state)
        (older,) = conn.execute(sql.SQL("SELECT count(*) FROM {}.plays WHERE created_at <= {}").format(
            params["s"], _literals(params, hi=hi)["hi"])).fetchone()
        count = round(older * (factor - 1))
        _create_staging_tables(conn, schema)
        _insert_plays(conn, params, _staging("plays"), state.max_play_id + 1, count, lo, hi, power=2)
        conn.execute(sql.SQL("INSERT INTO {}.plays SELECT * FROM pg_temp.new_plays ORDER BY id").format(params["s"]))
        _run(conn, "add_plays", params)
        _sync_play_sequence(conn, schema)
        _drop_staging_tables(conn)
    return count


# ---------------------------------------------------------------------------
# the statements
# ---------------------------------------------------------------------------
def _run_sql(conn, text: str, params: Mapping, base: Mapping, **values) -> int:
    """Execute `text` (statements separated by blank-line-free ';\\n'); the last row count."""
    rowcount = 0
    for statement in (s.strip() for s in text.split(";\n")):
        if statement:
            with conn.cursor() as cur:
                cur.execute(sql.SQL(statement).format(**_literals(params, **base, **values)))
                rowcount = max(cur.rowcount, 0)
    return rowcount


def _late_plays(conn, schema: str, params: Mapping, state, n: int, base: Mapping) -> int:
    if n <= 0:
        return 0
    (max_id,) = conn.execute(sql.SQL("SELECT coalesce(max(id), 0) FROM {}.plays").format(params["s"])).fetchone()
    _create_staging_tables(conn, schema)
    _run_sql(conn, _LATE_PLAYS, params, base, n=n, id0=max_id)
    conn.execute(sql.SQL("INSERT INTO {}.plays SELECT * FROM pg_temp.new_plays ORDER BY id").format(params["s"]))
    _run(conn, "add_plays", params)
    _sync_play_sequence(conn, schema)
    _drop_staging_tables(conn)
    return n


def _undo_engagements(conn, params: Mapping, kind: str, n: int, base: Mapping) -> int:
    if n <= 0:
        return 0
    names = {"saves": ("save_item_id", "save_type", "save_count", 710),
             "reposts": ("repost_item_id", "repost_type", "repost_count", 720)}[kind]
    item, type_, counter, stream = (sql.Identifier(names[0]), sql.Identifier(names[1]),
                                    sql.Identifier(names[2]), names[3])
    _run_sql(conn, _UNDO, params, base, n=n, table=sql.Identifier(kind), item=item, type=type_,
             counter=counter, stream=stream)
    if kind == "reposts":
        _run_sql(conn, _UNDO_USER_REPOSTS, params, base)
    (done,) = conn.execute("SELECT count(*) FROM pg_temp.undone").fetchone()
    conn.execute("DROP TABLE pg_temp.undone")
    return int(done)


def _profile_edits(conn, params: Mapping, n: int, base: Mapping) -> int:
    if n <= 0:
        return 0
    _run_sql(conn, _PROFILE_EDITS, params, base, n=n)
    (done,) = conn.execute("SELECT count(*) FROM pg_temp.edited").fetchone()
    conn.execute("DROP TABLE pg_temp.edited")
    return int(done)


def _track_edits(conn, params: Mapping, n: int, base: Mapping) -> int:
    if n <= 0:
        return 0
    _run_sql(conn, _TRACK_EDITS, params, base, n=n)
    (done,) = conn.execute("SELECT count(*) FROM pg_temp.edited_tracks").fetchone()
    conn.execute("DROP TABLE pg_temp.edited_tracks")
    return int(done)


# Late plays: ids after every existing one, created 1..72 h before the period
# (crowded towards the period: most late plays are a little late).
_LATE_PLAYS = """
INSERT INTO pg_temp.new_plays (id, user_id, play_item_id, created_at)
SELECT {id0} + p.k,
       CASE WHEN pg_temp.u(p.idx, {rseed}, 701) >= 0.2 THEN pg_temp.pick_user({rseed}, p.idx, 702) END,
       pg_temp.pick_track({rseed}, p.idx, 703, p.age_days, {tmax}),
       p.created_at
FROM (SELECT g.k, c.idx, c.created_at, date_part('epoch', {origin} - c.created_at) / 86400 AS age_days
      FROM generate_series(1, {n}) AS g(k)
      CROSS JOIN LATERAL (SELECT {idx0} + g.k AS idx) AS i
      CROSS JOIN LATERAL (SELECT i.idx, {start} - (1 + 71 * pg_temp.u(i.idx, {rseed}, 704) ^ 2)
                                               * interval '1 hour' AS created_at) AS c
      OFFSET 0) AS p
"""

# Un-saves / un-reposts: n random current, not deleted rows; half flipped in
# place, half replaced by a new current row with is_delete (the old one made
# history). Then the item's aggregate count.
_UNDO = """
CREATE TEMP TABLE undone AS
SELECT x.user_id, x.{item} AS item_id, x.{type} AS item_type, x.txhash,
       pg_temp.u(hashtext(x.txhash)::bigint + {key}, {rseed}, {stream} + 1) < 0.5 AS in_place,
       {start} + {span_s} * pg_temp.u(hashtext(x.txhash)::bigint + {key}, {rseed}, {stream} + 2)
                 * interval '1 second' AS at
FROM {s}.{table} AS x
WHERE x.is_current IS TRUE AND x.is_delete IS FALSE
ORDER BY pg_temp.u(hashtext(x.txhash)::bigint + {key}, {rseed}, {stream}), x.txhash
LIMIT {n};
UPDATE {s}.{table} AS x SET is_delete = true FROM pg_temp.undone AS d
WHERE d.in_place AND x.user_id = d.user_id AND x.{item} = d.item_id AND x.{type} = d.item_type
  AND x.txhash = d.txhash;
UPDATE {s}.{table} AS x SET is_current = false FROM pg_temp.undone AS d
WHERE NOT d.in_place AND x.user_id = d.user_id AND x.{item} = d.item_id AND x.{type} = d.item_type
  AND x.txhash = d.txhash;
INSERT INTO {s}.{table} (txhash, user_id, {item}, {type}, is_current, is_delete, created_at)
SELECT d.txhash || '-undo-' || {key}, d.user_id, d.item_id, d.item_type, true, true, d.at
FROM pg_temp.undone AS d WHERE NOT d.in_place ORDER BY d.at;
UPDATE {s}.aggregate_track AS a SET {counter} = a.{counter} - d.n
FROM (SELECT item_id, count(*) AS n FROM pg_temp.undone WHERE item_type::text = 'track' GROUP BY 1) AS d
WHERE a.track_id = d.item_id;
UPDATE {s}.aggregate_playlist AS a SET {counter} = a.{counter} - d.n
FROM (SELECT item_id, count(*) AS n FROM pg_temp.undone WHERE item_type::text <> 'track' GROUP BY 1) AS d
WHERE a.playlist_id = d.item_id
"""

_UNDO_USER_REPOSTS = """
UPDATE {s}.aggregate_user AS a SET repost_count = a.repost_count - d.n
FROM (SELECT user_id, count(*) AS n FROM pg_temp.undone GROUP BY 1) AS d
WHERE a.user_id = d.user_id
"""

# Follows: the followed user is an active (popular) one, the follower anyone;
# a share are unfollows. A NULL count stays NULL (unknown stays unknown).
_FOLLOWS = """
WITH f AS (
    SELECT pg_temp.pick_user({rseed}, {idx0} + g.k, 731) AS followee,
           1 + floor({users} * pg_temp.u({idx0} + g.k, {rseed}, 732))::integer AS follower,
           CASE WHEN pg_temp.u({idx0} + g.k, {rseed}, 733) < {unfollow} THEN -1 ELSE 1 END AS delta
    FROM generate_series(1, {n}) AS g(k)
), followed AS (
    UPDATE {s}.aggregate_user AS a SET follower_count = greatest(0, a.follower_count + d.n)
    FROM (SELECT followee, sum(delta) AS n FROM f GROUP BY 1) AS d
    WHERE a.user_id = d.followee AND d.n <> 0
    RETURNING 1
)
UPDATE {s}.aggregate_user AS a SET following_count = greatest(0, a.following_count + d.n)
FROM (SELECT follower, sum(delta) AS n FROM f GROUP BY 1) AS d
WHERE a.user_id = d.follower AND d.n <> 0
"""

# Profile edits: distinct users, each profile completed (cover, picture and
# bio) or emptied; half as a new current row (the old one made history), half
# in place.
_PROFILE_EDITS = """
CREATE TEMP TABLE edited AS
SELECT DISTINCT ON (user_id) user_id, complete, in_place
FROM (SELECT 1 + floor({users} * pg_temp.u({idx0} + g.k, {rseed}, 741))::integer AS user_id,
             pg_temp.u({idx0} + g.k, {rseed}, 742) < 0.5 AS complete,
             pg_temp.u({idx0} + g.k, {rseed}, 743) < 0.5 AS in_place, g.k
      FROM generate_series(1, {n}) AS g(k)) AS e
ORDER BY user_id, k;
UPDATE {s}.users AS x
SET cover_photo = CASE WHEN e.complete THEN 'Qm-cover-edit-' || x.user_id END, cover_photo_sizes = NULL,
    profile_picture = CASE WHEN e.complete THEN 'Qm-picture-edit-' || x.user_id END,
    profile_picture_sizes = NULL, bio = CASE WHEN e.complete THEN 'Edited bio of user ' || x.user_id END
FROM pg_temp.edited AS e WHERE e.in_place AND x.user_id = e.user_id AND x.is_current IS TRUE;
CREATE TEMP TABLE edited_new AS
SELECT DISTINCT ON (x.user_id) x.*, e.complete
FROM {s}.users AS x JOIN pg_temp.edited AS e ON e.user_id = x.user_id AND NOT e.in_place
WHERE x.is_current IS TRUE ORDER BY x.user_id, x.txhash;
UPDATE {s}.users AS x SET is_current = false FROM pg_temp.edited_new AS e
WHERE x.user_id = e.user_id AND x.is_current IS TRUE;
INSERT INTO {s}.users (blockhash, blocknumber, txhash, user_id, is_current, handle, name, cover_photo,
                       cover_photo_sizes, profile_picture, profile_picture_sizes, bio, created_at)
SELECT e.blockhash, e.blocknumber, e.txhash || '-edit-' || {key}, e.user_id, true, e.handle, e.name,
       CASE WHEN e.complete THEN 'Qm-cover-edit-' || e.user_id END, NULL,
       CASE WHEN e.complete THEN 'Qm-picture-edit-' || e.user_id END, NULL,
       CASE WHEN e.complete THEN 'Edited bio of user ' || e.user_id END, e.created_at
FROM pg_temp.edited_new AS e ORDER BY e.user_id;
DROP TABLE pg_temp.edited_new
"""

# Track edits: distinct tracks of the whole catalogue; a new current row with
# another genre (60%), unlisted or re-listed in place (30%), deleted in place
# (10%, the owner's track_count follows).
_TRACK_EDITS = """
CREATE TEMP TABLE edited_tracks AS
SELECT DISTINCT ON (track_id) track_id, kind, genre_draw,
       {start} + {span_s} * pg_temp.u(idx, {rseed}, 754) * interval '1 second' AS at
FROM (SELECT 1 + floor({tmax} * pg_temp.u({idx0} + g.k, {rseed}, 751))::integer AS track_id,
             pg_temp.u({idx0} + g.k, {rseed}, 752) AS kind, pg_temp.u({idx0} + g.k, {rseed}, 753) AS genre_draw,
             {idx0} + g.k AS idx
      FROM generate_series(1, {n}) AS g(k)) AS e
ORDER BY track_id, idx;
CREATE TEMP TABLE edited_new AS
SELECT DISTINCT ON (x.track_id) x.*, e.genre_draw, e.at
FROM {s}.tracks AS x JOIN pg_temp.edited_tracks AS e ON e.track_id = x.track_id AND e.kind < 0.6
WHERE x.is_current IS TRUE ORDER BY x.track_id, x.txhash;
UPDATE {s}.tracks AS x SET is_current = false FROM pg_temp.edited_new AS e
WHERE x.track_id = e.track_id AND x.is_current IS TRUE;
INSERT INTO {s}.tracks (blockhash, blocknumber, txhash, track_id, owner_id, title, genre, created_at, updated_at,
                        release_date, is_current, is_delete, is_unlisted, stem_of, is_available)
SELECT e.blockhash, e.blocknumber, e.txhash || '-edit-' || {key}, e.track_id, e.owner_id, e.title,
       coalesce(nullif(pg_temp.genre(e.genre_draw), e.genre), pg_temp.genre(1 - e.genre_draw)),
       e.created_at, e.at, e.release_date, true, e.is_delete, e.is_unlisted, e.stem_of, e.is_available
FROM pg_temp.edited_new AS e ORDER BY e.track_id;
DROP TABLE pg_temp.edited_new;
UPDATE {s}.tracks AS x SET is_unlisted = NOT coalesce(x.is_unlisted, false), updated_at = e.at
FROM pg_temp.edited_tracks AS e
WHERE e.kind >= 0.6 AND e.kind < 0.9 AND x.track_id = e.track_id AND x.is_current IS TRUE;
UPDATE {s}.aggregate_user AS a SET track_count = a.track_count - d.n
FROM (SELECT x.owner_id, count(*) AS n FROM {s}.tracks AS x JOIN pg_temp.edited_tracks AS e
      ON e.track_id = x.track_id AND e.kind >= 0.9
      WHERE x.is_current IS TRUE AND x.is_delete IS FALSE GROUP BY 1) AS d
WHERE a.user_id = d.owner_id;
UPDATE {s}.tracks AS x SET is_delete = true, updated_at = e.at
FROM pg_temp.edited_tracks AS e
WHERE e.kind >= 0.9 AND x.track_id = e.track_id AND x.is_current IS TRUE
"""
