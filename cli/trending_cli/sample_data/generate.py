"""A deterministic, seedable synthetic dataset for the reference's source tables.

The demo, the tests and the benchmark all load their data with ``generate``
and move time forward with ``simulate_activity``. Everything is set-based
SQL (``INSERT ... SELECT FROM generate_series``, see generate_rows.sql) and
every pseudo-random number is a hash of (seed, stream, row number) (see
generate_functions.sql), so the same arguments give the same rows whatever
the server's parallelism, plan or session TimeZone.

What the data looks like (the shares are expectations, not exact):

* users: ~30% complete profiles, ~10% with a history row; aggregate_user has
  no row for ~2% of them and a NULL follower_count for ~1%; follower counts
  are Pareto-like (~30% below 3, a few in 1e5..1e7), following counts
  log-uniform over 0..5000.
* tracks: ids in upload order over the two years before ``as_of``; 15 skewed
  genres plus ~2% NULL; release_date NULL for ~50%, ~2% in the future;
  ~3% deleted, ~3% unlisted, ~2% stems, ~10% history rows, ~1 in 2,000 NULL
  is_unlisted, and about 1 in 5,000 ids (at least one) with two current rows.
* plays: the last 365 days, denser towards ``as_of``, ids in time order; a
  Zipf-like catalogue popularity plus weekly hot new tracks; ~20% anonymous;
  ~0.1% on ids >= 2,000,000,000 that never existed.
* saves (~plays/8) and reposts (~plays/20): two years, denser towards as_of;
  90% tracks, 8% playlists, 2% albums; ~5% un-done (a current is_delete row
  plus the original as a history row); ~20% of reposts are by a user who
  also saved the item.
* playlists (~tracks/10): ids that are multiples of 5 are albums; 0..50
  entries; ~10% private, ~3% deleted, ~10% history rows; about 1 in 1,000
  (at least one of each kind) with 'track_ids' missing, an object or a
  string; about 1 in 5,000 (at least one) with two current rows.
* aggregates match the raw rows: aggregate_track and aggregate_playlist
  have a row for every id (zero counts included; playlist counts cover the
  types 'playlist' and 'album'); aggregate_plays has a row per played id,
  about 1 in 2,000 (at least one) with a NULL count; aggregate_user's
  track/playlist/repost counts are the user's current, non-deleted rows.

The schema's COMMENT records the parameters (JSON) for simulate_activity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, Iterator, Mapping

from psycopg import sql
from psycopg.pq import TransactionStatus

# The package's __init__ defines these before it imports this module.
from . import create_source_indexes, create_source_schema

__all__ = ["SCALES", "Scale", "generate", "simulate_activity"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scale:
    """Row volumes of one dataset size.

    ``saves`` and ``reposts`` count events: an un-done save adds a history
    row, so the tables hold a few percent more rows than this.
    """

    users: int
    tracks: int
    plays: int
    playlists: int
    saves: int
    reposts: int


def _scale(users: int, tracks: int, plays: int) -> Scale:
    """A Scale with the usual ratios: saves plays/8, reposts plays/20, playlists tracks/10."""
    return Scale(users=users, tracks=tracks, plays=plays, playlists=tracks // 10,
                 saves=plays // 8, reposts=plays // 20)


SCALES: Dict[str, Scale] = {
    "tiny": _scale(users=1_000, tracks=2_000, plays=50_000),
    "small": _scale(users=10_000, tracks=20_000, plays=500_000),
    "medium": _scale(users=100_000, tracks=200_000, plays=5_000_000),
    "large": _scale(users=500_000, tracks=1_000_000, plays=20_000_000),
    # The upstream's production size (issue 18, item 5): about 4.2M tracks
    # (its score table: about 12.7M rows). Everything keeps large's ratio to
    # the tracks (users 1/2, playlists 1/10, saves 2.5 and reposts 1 a track)
    # but the plays: 10 a track, half of large's 20, for the disk of a 2-CPU
    # machine with about 75 GB free. Measured at small sizes, a source
    # database takes about 121 bytes a play, 194 an engagement and 550 a
    # track (its users, playlists and aggregates); large's plays would make
    # each of the run's two databases about 15 GB instead of 10 GB, and the
    # run's peak (score tables, C0's views, the incremental state, temp
    # files, C0's 13 GB of WAL a cycle) would pass the free disk.
    # The score table holds about 2.6 rows a track id at this size (a row
    # per slice whose score is not 0; 3.0 at large, 3.6 at 20,000 tracks:
    # the catalogue's long tail grows), so about 11M rows, not 12.7M: more
    # tracks would not fit either.
    "prod": Scale(users=2_100_000, tracks=4_200_000, plays=42_000_000, playlists=420_000,
                  saves=10_500_000, reposts=4_200_000),
}

USER_DAYS = 3 * 365          # accounts were created over three years
UPLOAD_DAYS = 730            # tracks and playlists over two years
ENGAGEMENT_DAYS = 730        # saves and reposts over two years (~71% in the last one)
PLAY_DAYS = 365              # plays over one year
HOT_DAYS = 60                # a week's hot tracks were uploaded in the 60 days before it
MONTH = timedelta(days=30)   # simulate_activity's "last month": 720 hours
REPOST_COPY_SHARE = 0.2      # share of reposts made by a user who also saved the item
SAVE_CURRENT_SHARE = 0.95    # share of save events whose current row is not deleted
SAVE_STREAM, REPOST_STREAM = 100, 200
SIM_INDEX_STRIDE = 10_000_000  # simulated event numbers: start's epoch * stride + k
META_GENERATOR = "trending_cli.sample_data"
RAW_TABLES = ("users", "tracks", "playlists", "plays", "saves", "reposts")
AGGREGATE_TABLES = ("aggregate_track", "aggregate_playlist", "aggregate_plays", "aggregate_user")


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
def generate(conn, schema: str, *, scale: "str | Scale" = "tiny", seed: int = 1,
             as_of: datetime) -> Dict[str, int]:
    """(Re)create `schema` with the reference's source tables and fill them.

    `as_of` (an aware datetime) is the data's present: every event is at or
    before it, stored as UTC. The load runs in one transaction (a savepoint
    if the caller has one open; committed otherwise), without the secondary
    indexes, which are built afterwards; then the tables are VACUUM ANALYZEd
    (only ANALYZEd if the caller's transaction is still open). Returns the
    row count of every table.
    """
    volumes = _scale_named(scale)
    _require_aware("as_of", as_of)
    model = _Model.of(seed, volumes)
    params = _generation_params(schema, volumes, seed, as_of)
    counts: Dict[str, int] = {}
    with conn.transaction():
        _prepare_session(conn, model)
        create_source_schema(conn, schema, indexes=False)
        counts["users"] = _run(conn, "users", params, target=_table(schema, "users"),
                               n=volumes.users, ts_hi=as_of, span_s=_days(USER_DAYS))
        counts["tracks"] = _insert_tracks(conn, params, _table(schema, "tracks"), 1, volumes.tracks,
                                          as_of - timedelta(days=UPLOAD_DAYS), as_of)
        counts["playlists"] = _insert_playlists(conn, params, _table(schema, "playlists"), 1,
                                                volumes.playlists,
                                                as_of - timedelta(days=UPLOAD_DAYS), as_of)
        counts["plays"] = _insert_plays(conn, params, _table(schema, "plays"), 1, volumes.plays,
                                        as_of - timedelta(days=PLAY_DAYS), as_of, power=2)
        counts.update(_insert_engagements(
            conn, params, saves=_table(schema, "saves"), reposts=_table(schema, "reposts"),
            save_events=volumes.saves, repost_events=volumes.reposts, idx_lo=0, tag="",
            ts_lo=as_of - timedelta(days=ENGAGEMENT_DAYS), ts_hi=as_of, power=2))
        for table in AGGREGATE_TABLES:
            counts[table] = _run(conn, table, params, n=volumes.users,
                                 forced_null=model.catalog_track(50))
        with _timed("secondary indexes"):
            create_source_indexes(conn, schema)
        _sync_play_sequence(conn, schema)
        _write_meta(conn, schema, _meta(scale if isinstance(scale, str) else "custom", volumes, seed, as_of))
    with _timed("vacuum/analyze"):
        _analyze(conn, schema)
    return counts


def simulate_activity(conn, schema: str, *, seed: int, start: datetime,
                      end: datetime) -> Dict[str, int]:
    """Append the events of the period (start, end] to a generated schema.

    Plays, saves and reposts come at the hourly rate of the 30 days before
    `start` (1/720 of their volume per hour), tracks and playlists at the
    generation's upload rate (so "a few"); every aggregate_* table is updated
    to match. The same seed on the same data gives the same rows; use
    non-overlapping periods (new txhashes are derived from seed and start).
    Returns the number of rows added per raw table.
    """
    _require_aware("start", start)
    _require_aware("end", end)
    if end <= start:
        raise ValueError(f"simulate_activity needs start < end, got {start} .. {end}")
    hours = (end - start).total_seconds() / 3600
    with conn.transaction():
        meta = _read_meta(conn, schema)
        _prepare_session(conn, _Model.of(int(meta["seed"]), _volumes_of(meta)))
        state = _read_state(conn, schema, start)
        params = _simulation_params(schema, meta, seed, state)
        volumes = _simulation_volumes(meta, state, seed, start, hours)
        _create_staging_tables(conn, schema)
        counts = _simulate_rows(conn, params, volumes, seed, start, end, state)
        _publish_staging(conn, schema, params)
        _sync_play_sequence(conn, schema)
        _drop_staging_tables(conn)
    return counts


# --------------------------------------------------------------------------
# generation steps
# --------------------------------------------------------------------------
def _generation_params(schema: str, volumes: Scale, seed: int, as_of: datetime) -> Dict[str, Any]:
    """Placeholders shared by every generation statement.

    rseed drives each row's draws (the dataset-wide permutations are in the
    functions, see _Model); origin is the as_of that ages are counted from.
    """
    first_trap = _pick(seed, 11, volumes.playlists)
    second_trap = first_trap % volumes.playlists + 1
    return dict(
        s=sql.Identifier(schema), rseed=seed, origin=as_of, tmax=volumes.tracks,
        users=volumes.users,
        track_dup=_pick(seed, 7, volumes.tracks), playlist_dup=_pick(seed, 13, volumes.playlists),
        trap_missing=first_trap, trap_object=second_trap,
        trap_string=second_trap % volumes.playlists + 1,
    )


def _insert_tracks(conn, params: Mapping[str, Any], target: sql.Composable, id_lo: int,
                   count: int, ts_lo: datetime, ts_hi: datetime) -> int:
    """Tracks id_lo.. uploaded in id order over (ts_lo, ts_hi]."""
    if count <= 0:
        return 0
    return _run(conn, "tracks", params, target=target, id_lo=id_lo, id_hi=id_lo + count - 1,
                n=count, ts_hi=ts_hi, span_s=_seconds(ts_hi - ts_lo),
                forced_dup=params.get("track_dup", 0))


def _insert_playlists(conn, params: Mapping[str, Any], target: sql.Composable, id_lo: int,
                      count: int, ts_lo: datetime, ts_hi: datetime) -> int:
    """Playlists id_lo.. created in id order over (ts_lo, ts_hi]."""
    if count <= 0:
        return 0
    return _run(conn, "playlists", params, target=target, id_lo=id_lo, id_hi=id_lo + count - 1,
                n=count, ts_hi=ts_hi, span_s=_seconds(ts_hi - ts_lo),
                forced_dup=params.get("playlist_dup", 0))


def _insert_plays(conn, params: Mapping[str, Any], target: sql.Composable, id_lo: int,
                  count: int, ts_lo: datetime, ts_hi: datetime, *, power: int) -> int:
    """Plays id_lo.. in time order over (ts_lo, ts_hi]."""
    if count <= 0:
        return 0
    return _run(conn, "plays", params, target=target, id_lo=id_lo, id_hi=id_lo + count - 1,
                n=count, ts_hi=ts_hi, span_s=_seconds(ts_hi - ts_lo), power=power)


def _insert_engagements(conn, params: Mapping[str, Any], *, saves: sql.Composable,
                        reposts: sql.Composable, save_events: int, repost_events: int,
                        idx_lo: int, tag: str, ts_lo: datetime, ts_hi: datetime,
                        power: int) -> Dict[str, int]:
    """Saves, then reposts (a share of them copied from those saves' users and items).

    Both tables are written in created_at order, as the upstream appends them.
    """
    window = dict(ts_lo=ts_lo, ts_hi=ts_hi, span_s=_seconds(ts_hi - ts_lo), power=power,
                  idx_lo=idx_lo)
    save_rows = _engagement_select(params, tag=f"{tag}save", stream=SAVE_STREAM, n=save_events,
                                   **window)
    counts = {"saves": _insert_ordered(conn, saves, "save", save_rows, params)}
    copies = round(repost_events * REPOST_COPY_SHARE)
    repost_rows = _engagement_select(params, tag=f"{tag}repost", stream=REPOST_STREAM,
                                     n=repost_events - copies, **window)
    fraction = min(1.0, copies / max(1.0, save_events * SAVE_CURRENT_SHARE))
    copied = _section_sql("repost_copies").format(**_literals(
        params, tag=f"{tag}repost", source=saves, stream=REPOST_STREAM + 50,
        fraction=fraction, **window))
    counts["reposts"] = _insert_ordered(conn, reposts, "repost",
                                        sql.SQL("{} UNION ALL {}").format(repost_rows, copied),
                                        params)
    return counts


def _engagement_select(params: Mapping[str, Any], *, n: int, **values: Any) -> sql.Composable:
    """The SELECT of `n` save or repost events (an empty one when n <= 0)."""
    return _section_sql("engagements").format(**_literals(params, n=max(n, 0), **values))


def _insert_ordered(conn, target: sql.Composable, kind: str, rows: sql.Composable,
                    params: Mapping[str, Any]) -> int:
    """INSERT the engagement rows into a saves ("save") or reposts ("repost") table."""
    type_name = sql.SQL("{}.{}").format(params["s"], sql.Identifier(f"{kind}type"))
    query = sql.SQL(
        "INSERT INTO {target} (txhash, user_id, {item}, {type}, is_current, is_delete, created_at)"
        " SELECT txhash, user_id, item_id, item_type::{type_name}, is_current, is_delete,"
        " created_at FROM ({rows}) AS e ORDER BY created_at, txhash"
    ).format(target=target, item=sql.Identifier(f"{kind}_item_id"),
             type=sql.Identifier(f"{kind}_type"), type_name=type_name, rows=rows)
    with _timed(f"{kind}s"), conn.cursor() as cur:
        cur.execute(query)
        return cur.rowcount


def _sync_play_sequence(conn, schema: str) -> None:
    """Point plays.id's sequence past the explicit ids we inserted."""
    conn.execute(sql.SQL(
        "SELECT setval(pg_get_serial_sequence({name}, 'id'),"
        " coalesce((SELECT max(id) FROM {plays}), 0) + 1, false)"
    ).format(name=sql.Literal(_table(schema, "plays").as_string(conn)),
             plays=_table(schema, "plays")))


def _analyze(conn, schema: str) -> None:
    """VACUUM ANALYZE the loaded tables (visibility map and hint bits set, as in
    a production database that autovacuum keeps up with), or only ANALYZE
    them when the caller's transaction is still open and VACUUM cannot run."""
    tables = [_table(schema, name) for name in RAW_TABLES + AGGREGATE_TABLES]
    if conn.info.transaction_status != TransactionStatus.IDLE:
        for table in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(table))
        return
    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        for table in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(table))
    finally:
        conn.autocommit = was_autocommit


@dataclass(frozen=True)
class _Model:
    """The dataset-wide constants baked into generate_functions.sql: sizes and
    the seed's popularity permutations. simulate_activity rebuilds it from the
    schema's comment, so that popularity carries on after as_of."""

    t0: int
    w: int
    users: int
    albums: int
    lists: int
    track_multiplier: int
    track_shift: int
    hot_multiplier: int
    hot_shift: int
    album_multiplier: int
    album_shift: int
    list_multiplier: int
    list_shift: int
    user_multiplier: int
    user_shift: int

    @classmethod
    def of(cls, seed: int, volumes: Scale) -> "_Model":
        sizes = dict(t0=volumes.tracks, w=_hot_window(volumes.tracks), users=volumes.users,
                     albums=max(1, volumes.playlists // 5),
                     lists=max(1, volumes.playlists - volumes.playlists // 5))
        names = {"track": "t0", "hot": "w", "album": "albums", "list": "lists", "user": "users"}
        permutations: Dict[str, int] = {}
        for name, size in names.items():
            permutations[f"{name}_multiplier"] = _golden_multiplier(sizes[size])
            permutations[f"{name}_shift"] = int(_unit(seed, f"shift-{name}", 0) * sizes[size])
        return cls(**sizes, **permutations)

    def catalog_track(self, rank: int) -> int:
        """The id of the catalogue's rank-th most popular track (as pg_temp.catalog_track)."""
        return 1 + ((rank - 1) * self.track_multiplier + self.track_shift) % self.t0


def _golden_multiplier(n: int) -> int:
    """A multiplier coprime to n near n / phi: consecutive ranks land far apart."""
    candidate = max(1, round(n * 0.6180339887498949))
    while math.gcd(candidate, n) != 1:
        candidate += 1
    return candidate


def _volumes_of(meta: Mapping[str, Any]) -> Scale:
    """The generation's Scale, as recorded in the schema's comment."""
    return Scale(**{field: int(meta[field]) for field in Scale.__dataclass_fields__})


# --------------------------------------------------------------------------
# simulation steps
# --------------------------------------------------------------------------
STAGING = {"tracks": "new_tracks", "playlists": "new_playlists", "plays": "new_plays",
           "saves": "new_saves", "reposts": "new_reposts"}


@dataclass(frozen=True)
class _State:
    """What simulate_activity reads from the data before it adds to it."""

    max_track_id: int
    max_playlist_id: int
    max_play_id: int
    month_plays: int
    month_saves: int
    month_reposts: int


def _read_state(conn, schema: str, start: datetime) -> _State:
    """The next ids, and last month's volumes (current rows, i.e. events, for
    saves and reposts) that set the hourly rates."""
    query = sql.SQL(
        "SELECT (SELECT coalesce(max(track_id), 0) FROM {tracks}),"
        " (SELECT coalesce(max(playlist_id), 0) FROM {playlists}),"
        " (SELECT coalesce(max(id), 0) FROM {plays}),"
        " (SELECT count(*) FROM {plays} WHERE created_at > {lo} AND created_at <= {hi}),"
        " (SELECT count(*) FROM {saves} WHERE is_current AND created_at > {lo} AND created_at <= {hi}),"
        " (SELECT count(*) FROM {reposts} WHERE is_current AND created_at > {lo} AND created_at <= {hi})"
    ).format(tracks=_table(schema, "tracks"), playlists=_table(schema, "playlists"),
             plays=_table(schema, "plays"), saves=_table(schema, "saves"),
             reposts=_table(schema, "reposts"), lo=_utc(start - MONTH), hi=_utc(start))
    row = conn.execute(query).fetchone()
    return _State(*(int(value) for value in row))


def _simulation_params(schema: str, meta: Mapping[str, Any], seed: int,
                       state: _State) -> Dict[str, Any]:
    """Placeholders for a simulation: this simulation's seed for each row,
    ages counted from the generation's as_of (the functions keep its model)."""
    return dict(
        s=sql.Identifier(schema), rseed=seed, origin=datetime.fromisoformat(meta["as_of"]),
        tmax=state.max_track_id, users=int(meta["users"]),
        trap_missing=0, trap_object=0, trap_string=0,
    )


def _simulation_volumes(meta: Mapping[str, Any], state: _State, seed: int, start: datetime,
                        hours: float) -> Dict[str, int]:
    """Event counts for `hours`: last month's rate for plays, saves and reposts,
    the generation's upload rate for tracks and playlists. Fractions are
    rounded up or down by a seeded draw, so that the long-run rate is right
    even when an hour expects less than one event."""
    key = _epoch(start)
    per_hour = {
        "plays": state.month_plays / 720, "saves": state.month_saves / 720,
        "reposts": state.month_reposts / 720,
        "tracks": int(meta["tracks"]) / (UPLOAD_DAYS * 24),
        "playlists": int(meta["playlists"]) / (UPLOAD_DAYS * 24),
    }
    return {name: _round_randomly(rate * hours, seed, name, key)
            for name, rate in per_hour.items()}


def _create_staging_tables(conn, schema: str) -> None:
    """Temp tables shaped like the source tables, to hold the period's rows
    until the aggregates have been updated from them."""
    _drop_staging_tables(conn)
    for source, staging in STAGING.items():
        conn.execute(sql.SQL("CREATE TEMP TABLE {} (LIKE {})").format(
            sql.Identifier(staging), _table(schema, source)))


def _drop_staging_tables(conn) -> None:
    """Drop the temp tables (explicitly: the caller's transaction may go on)."""
    for staging in STAGING.values():
        conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(staging)))


def _simulate_rows(conn, params: Dict[str, Any], volumes: Mapping[str, int], seed: int,
                   start: datetime, end: datetime, state: _State) -> Dict[str, int]:
    """Generate the period's rows into the staging tables, uploads first so
    that the period's plays and saves can already reach the new tracks."""
    counts = {
        "tracks": _insert_tracks(conn, params, _staging("tracks"), state.max_track_id + 1,
                                 volumes["tracks"], start, end),
        "playlists": _insert_playlists(conn, params, _staging("playlists"),
                                       state.max_playlist_id + 1, volumes["playlists"], start, end),
    }
    params["tmax"] = state.max_track_id + volumes["tracks"]
    counts["plays"] = _insert_plays(conn, params, _staging("plays"), state.max_play_id + 1,
                                    volumes["plays"], start, end, power=1)
    counts.update(_insert_engagements(
        conn, params, saves=_staging("saves"), reposts=_staging("reposts"),
        save_events=volumes["saves"], repost_events=volumes["reposts"],
        idx_lo=_epoch(start) * SIM_INDEX_STRIDE, tag=f"sim{seed}-", ts_lo=start, ts_hi=end,
        power=1))
    return counts


def _publish_staging(conn, schema: str, params: Mapping[str, Any]) -> None:
    """Append the staged rows to the source tables and fold them into the aggregates."""
    order = {"tracks": "track_id, txhash", "playlists": "playlist_id, txhash", "plays": "id",
             "saves": "created_at, txhash", "reposts": "created_at, txhash"}
    for source, staging in STAGING.items():
        conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM pg_temp.{} ORDER BY {}").format(
            _table(schema, source), sql.Identifier(staging), sql.SQL(order[source])))
    for section in ("add_plays", "add_tracks", "add_playlists", "add_user_reposts"):
        _run(conn, section, params)


def _staging(source: str) -> sql.Composable:
    return sql.Identifier("pg_temp", STAGING[source])


# --------------------------------------------------------------------------
# metadata kept in the schema's comment
# --------------------------------------------------------------------------
def _meta(scale: str, volumes: Scale, seed: int, as_of: datetime) -> Dict[str, Any]:
    """What simulate_activity needs to continue the generation's model."""
    return {"generator": META_GENERATOR, "scale": scale, "seed": seed,
            "as_of": as_of.astimezone(timezone.utc).isoformat(),
            "hot_window": _hot_window(volumes.tracks), **asdict(volumes)}


def _write_meta(conn, schema: str, meta: Mapping[str, Any]) -> None:
    conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
        sql.Identifier(schema), sql.Literal(json.dumps(meta, sort_keys=True))))


def _read_meta(conn, schema: str) -> Dict[str, Any]:
    """The generation parameters, or a clear error for a schema generate() did not make."""
    row = conn.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace"
                       " WHERE nspname = %s", (schema,)).fetchone()
    try:
        meta = json.loads(row[0]) if row and row[0] else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("generator") != META_GENERATOR:
        raise ValueError(f"schema {schema!r} was not made by trending_cli.sample_data.generate()")
    return meta


# --------------------------------------------------------------------------
# SQL plumbing
# --------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _sections() -> Dict[str, str]:
    """generate_rows.sql split at its "-- section: NAME" lines, comments dropped
    (so that they may mention {placeholders})."""
    text = resources.files(__package__).joinpath("generate_rows.sql").read_text(encoding="utf-8")
    sections: Dict[str, str] = {}
    name = None
    for line in text.splitlines():
        match = re.match(r"--\s*section:\s*(\w+)\s*$", line)
        if match:
            name = match.group(1)
            sections[name] = ""
        elif name is not None:
            sections[name] += line + "\n"
    return {key: _strip_comments(body) for key, body in sections.items()}


def _strip_comments(text: str) -> str:
    """Drop full-line SQL comments, which may mention {placeholders}."""
    return "".join(line + "\n" for line in text.splitlines()
                   if not line.lstrip().startswith("--"))


def _section_sql(name: str) -> sql.SQL:
    return sql.SQL(_sections()[name].strip().rstrip(";"))


def _literals(params: Mapping[str, Any], **values: Any) -> Dict[str, sql.Composable]:
    """Placeholder values as SQL: composables as they are, aware datetimes as
    UTC timestamps (converted in SQL, whatever the session TimeZone), the rest
    as literals."""
    merged = {**params, **values}
    return {key: _as_sql(value) for key, value in merged.items()}


def _as_sql(value: Any) -> sql.Composable:
    if isinstance(value, sql.Composable):
        return value
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, float):
        return sql.SQL("{}::double precision").format(sql.Literal(repr(value)))
    return sql.Literal(value)


def _utc(moment: datetime) -> sql.Composable:
    """An aware datetime as a UTC timestamp without time zone, converted by the server."""
    _require_aware("timestamp", moment)
    return sql.SQL("({}::timestamptz AT TIME ZONE 'UTC')").format(
        sql.Literal(moment.astimezone(timezone.utc).isoformat()))


def _run(conn, section: str, params: Mapping[str, Any], **values: Any) -> int:
    """Execute one section of generate_rows.sql; the last statement's row count."""
    query = _section_sql(section).format(**_literals(params, **values))
    with _timed(section), conn.cursor() as cur:
        cur.execute(query)
        return max(cur.rowcount, 0)


@contextmanager
def _timed(step: str) -> Iterator[None]:
    """Log each step's duration at DEBUG: where a large load spends its minutes."""
    started = time.monotonic()
    yield
    log.debug("sample data: %s took %.2f s", step, time.monotonic() - started)


def _create_functions(conn, model: "_Model") -> None:
    """(Re)create the pg_temp functions of generate_functions.sql for this dataset."""
    text = _strip_comments(resources.files(__package__).joinpath(
        "generate_functions.sql").read_text(encoding="utf-8"))
    conn.execute(sql.SQL(text).format(**{key: sql.Literal(value)
                                         for key, value in asdict(model).items()}))


def _prepare_session(conn, model: "_Model") -> None:
    """Transaction-local memory for the big sorts and index builds, and the model's functions."""
    conn.execute("SET LOCAL work_mem = '256MB'")
    conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
    _create_functions(conn, model)


def _table(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
def _scale_named(scale) -> Scale:
    if isinstance(scale, Scale):  # custom volumes (the benchmark's growth run)
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}") from None


def _require_aware(what: str, moment: datetime) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None \
            or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment!r}")


def _hot_window(tracks: int) -> int:
    """How many of the newest tracks a week's hot picks come from (~60 days of uploads)."""
    return max(1, tracks * HOT_DAYS // UPLOAD_DAYS)


def _pick(seed: int, salt: int, n: int) -> int:
    """A seed-dependent id in [1, n] for the traps planted for sure."""
    return 1 + int(_unit(seed, f"pick{salt}", 0) * n) % n


def _unit(seed: int, stream: str, key: int) -> float:
    """A uniform number in [0, 1) from (seed, stream, key), for Python-side draws."""
    digest = hashlib.sha256(f"{seed}:{stream}:{key}".encode()).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56)


def _round_randomly(expected: float, seed: int, stream: str, key: int) -> int:
    """floor(expected) plus one with probability frac(expected)."""
    whole = int(expected)
    return whole + (1 if _unit(seed, stream, key) < expected - whole else 0)


def _days(days: float) -> float:
    return float(days) * 86400.0


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())
