"""Incremental cycles: which kind of cycle runs, and which items it rescores.

A cycle is incremental when the change capture is intact and armed, the
state (sql/schema/85_state.sql) is valid at the capture's watermark,
nothing that changes results changed since the state was built, and
finding what changed costs less than a full cycle (decide(),
catch_up_estimate()). Every incremental cycle also checks a share of the
state against the sources (plan_rotation(), stage_share(),
check_play_hours(), measure_drift()): the rotating reconciliation.
It then rescores only the affected items (stage_affected): the items the
capture names since the watermark, the items of the users it names, the
items whose plays or engagements left a window since the last cycle's now,
and the items whose age in days crossed a step where a decay changes. Their
inputs are computed by the full cycle's own statements restricted to them
(inputs.Scope), so an incremental score is the full cycle's score.

Why that set is complete (docs/incremental.md, "What is exact and why"):
an item's inputs are a function of its source rows, of its users' rows, of
the windows' starts and of now. The capture names every changed row's item
and user; the windows' starts move by (last now, now], and the plays and
engagements in the hours they crossed are found in the state's hour tables;
now moves the ages, and the decay of a window of w days only changes when
an age crosses a day in w+1 .. 2w+1 (it is 1 up to w days and 1/Q from 2w
on), so the items whose age base lies in (last now - k days, now - k days]
for those k are the ones whose decay changed; a release date in (last now,
now] changes the base itself.

Nothing here imports plpy: functions take it as their first argument.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Callable

from . import formulas
from .inputs import Cycle, analyze_staging, staging_table, user_weights

# Source codes of trending._capture_changed (capture.SOURCES): the tables
# whose rows name users rather than items.
USER_SOURCES = (5, 6)  # users, aggregate_user
KIND_CODE = {"track": 1, "playlist": 2}

# The decay windows of each kind of item (formulas.decay), in days.
DECAY_WINDOWS = {"track": tuple(formulas.WINDOW_DAYS[r] for r in formulas.TRACK_COUNT_WINDOWS),
                 "playlist": tuple(formulas.WINDOW_DAYS[r] for r in formulas.PLAYLIST_WINDOWS)}


def decay_steps(kind: str) -> list[int]:
    """The ages (days) at which some decay of `kind` changes: w+1 .. 2w+1 per
    window w (one beyond 2w in case power() rounds 1/Q up)."""
    return sorted({k for w in DECAY_WINDOWS[kind] for k in range(w + 1, 2 * w + 2)})


def fingerprint(plan: dict) -> str:
    """What must not change between the cycle that built the state and an
    incremental one: the source schema and the slices switched on."""
    slices = sorted(s["name"] for s in plan["steps"] if s.get("enabled"))
    text = json.dumps({"source_schema": plan["source_schema"], "slices": slices}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def read_meta(plpy) -> dict | None:
    rows = plpy.execute("SELECT m.valid, m.cycle_now::text AS cycle_now, m.since, m.fingerprint,"
                        " m.reconciled_at::text AS reconciled_at, m.rotation::text AS rotation"
                        " FROM trending._state_meta m")
    return dict(rows[0]) if rows else None


# Catch-up (issue 18, item 3): an incremental cycle costs about what it
# rescores, a full one about what exists. Past this share of the items
# affected, finding them one index range at a time costs more than reading
# everything (docs/benchmark.md, "Catch-up: where a full cycle is cheaper":
# measured at about a quarter of the tracks at large scale; a fifth keeps a
# margin for the full cycle the state adds to).
FULL_SHARE = 0.2
# Below this many items affected an incremental cycle takes well under a
# second at any scale (finding and rescoring them is index probes), and so
# does a full cycle of a catalog that small: the choice does not matter.
MIN_FULL_ITEMS = 1000


def decide(plpy, *, full_requested: bool, capture_state: dict, unrecorded: str | None, meta: dict | None,
           plan_fingerprint: str, now_utc: str, reconcile_every: str,
           estimate: Callable[[], dict] | None = None) -> tuple[str, str]:
    """(kind, reason): 'full', 'reconcile' or 'incremental', and why. The
    first reason that needs a full cycle wins. 'reconcile' is an
    incremental cycle that completes a round of reconciliation (plan_rotation).
    estimate(): the affected set's estimated size against the items
    (catch_up_estimate); a full cycle runs when it passes FULL_SHARE."""
    if full_requested:
        return "full", "a full cycle was requested (full => true)"
    if not capture_state["incremental"]:
        return "full", capture_state["reason"]
    if unrecorded is not None:  # the capture's snapshot found it not recording, or about to stop
        return "full", unrecorded
    if meta is None:
        return "full", ("the incremental state is missing: first cycle with the capture, or the unlogged "
                        "state was lost (crash restart, failover, restore or upgrade)")
    if not meta["valid"]:
        return "full", ("the incremental state is invalid: a full cycle that was to rebuild it did not finish, "
                        "or one at an earlier now could not")
    if meta["fingerprint"] != plan_fingerprint:
        return "full", "the source schema or the strategies switched on changed since the state was built"
    if meta["since"] != capture_state["since"]:
        return "full", "the incremental state and the capture's watermark are out of step"
    row = plpy.execute(plpy.prepare(
        "SELECT $1::timestamp < $2::timestamp AS backwards, ($1::timestamp - $2::timestamp)::text AS elapsed",
        ["text", "text"]), [now_utc, meta["cycle_now"]])[0]
    if row["backwards"]:
        return "full", f"now ({now_utc}) is before the last cycle's ({meta['cycle_now']})"
    if estimate is not None:
        est = estimate()
        if est["affected"] > max(FULL_SHARE * est["items"], MIN_FULL_ITEMS):
            return "full", (f"{row['elapsed']} since the last cycle: about {est['affected']} items affected "
                            f"(estimated: {est['named']} named by the changes, {est['crossing']} crossing a window "
                            f"or a decay step, {est['to_reconcile']} due for reconciliation, weighed "
                            f"{RECONCILE_WEIGHT:g}) of {est['items']}, "
                            f"more than {FULL_SHARE:.0%} of them and than {MIN_FULL_ITEMS}: a full cycle costs less "
                            "than finding them")
    pace = position(plpy, meta, now_utc, reconcile_every)
    if pace["p"] >= 1:
        return "reconcile", (f"reconciliation is due (reconcile_every {reconcile_every}; the round began at "
                             f"{meta['reconciled_at']}): this cycle checks the rest of the state")
    if pace["p"] < pace["wall"] - 1e-9:
        return "incremental", (f"incremental: the capture and the state are intact; the round of reconciliation is "
                               f"behind after a gap ({pace['p']:.0%} of it checked where the clock says "
                               f"{pace['wall']:.0%}): each cycle checks up to {CATCH_UP_PACE} cycles' shares until it catches up")
    return "incremental", "incremental: the capture and the state are intact"


def _steps_ranges(kind: str, column: str, prev: Cycle, cur: Cycle, alias: str = "s") -> str:
    """The join of state rows aliased `alias` whose `column` crossed a decay step between prev and cur."""
    return (f"JOIN (VALUES {_steps_values(kind)}) AS k (days)"
            f" ON {alias}.{column} > {prev.now_utc} - pg_catalog.make_interval(days => k.days)"
            f" AND {alias}.{column} <= {cur.now_utc} - pg_catalog.make_interval(days => k.days)")


def _window_edges(kind: str, prev: Cycle, cur: Cycle) -> list[tuple[str, str]]:
    if kind == "track":
        return [(prev.track_week_floor, cur.track_week_floor), (prev.track_month_floor, cur.track_month_floor)]
    return [(prev.playlist_floors[r], cur.playlist_floors[r]) for r in formulas.PLAYLIST_WINDOWS]


def _in_edges(column: str, edges: list[tuple[str, str]]) -> str:
    # both ways: the calendar month's start can move back (inputs.Cycle.track_month_keep)
    return " OR ".join(f"({column} >= least({a}, {b}) AND {column} <= greatest({a}, {b}))" for a, b in edges)


def _track_engagement_edges(prev: Cycle, cur: Cycle) -> str:
    """SQL condition on a state save or repost aliased e: a track window's
    start moved over its created_at (counts take created_at > start)."""
    return " OR ".join(f"(e.created_at > least({a}, {b}) AND e.created_at <= greatest({a}, {b}))"
                       for a, b in ((prev.track_week_start, cur.track_week_start),
                                    (prev.track_month_start, cur.track_month_start)))


def crossing_parts(kind: str, prev: Cycle, cur: Cycle, engagements: bool = True) -> list[str]:
    """Queries of (id, reread) of the items of `kind` whose inputs moved with
    time between prev and cur, found in the state's index ranges: their
    engagements (tracks: a difference, stage_action_delta; playlists: read
    again) or plays left a window, their age crossed a decay step, their
    release date passed. engagements=False leaves out the tracks whose
    engagements a window moved over (stage_action_delta finds them)."""
    state, id_col = ROTATED[kind]
    edges = _window_edges(kind, prev, cur)
    if kind == "playlist":
        moved = [f"SELECT h.item_id, true FROM trending._state_playlist_hours h WHERE {_in_edges('h.hour', edges)}"]
    else:
        moved = [f"SELECT e.track_id, false FROM trending._state_track_actions e"
                 f" WHERE {_track_engagement_edges(prev, cur)}"] if engagements else []
    parts = moved + [
        f"SELECT s.{id_col}, false FROM {state} s {_steps_ranges(kind, 'created_at', prev, cur)}",
        f"SELECT s.{id_col}, false FROM {state} s {_steps_ranges(kind, 'released_base', prev, cur)}",
        f"SELECT s.{id_col}, false FROM {state} s"
        f" WHERE s.release_date > {prev.now_utc} AND s.release_date <= {cur.now_utc}",
    ]
    if kind == "track":
        parts.append(f"SELECT b.track_id, false FROM trending._state_play_buckets b WHERE {_in_edges('b.hour', edges)}")
    return parts


def catch_up_estimate(plpy, cur: Cycle, prev: Cycle, consumed: str, meta: dict, reconcile_every: str) -> dict:
    """What stage_affected would find, counted without reading a source:
    the items the consumed delta rows name and the users they name (each
    once: the karma of the items a user engaged moves by a difference), the
    items the state's index ranges say moved with time (crossing_parts),
    and the items due for reconciliation, weighed by RECONCILE_WEIGHT;
    against the items the state holds (the planner's count, which the full
    cycles' ANALYZE keeps)."""
    named = (f"SELECT count(*) FROM (SELECT d.kind, d.item_id FROM trending._capture_changed d"
             f" WHERE {consumed} AND d.item_id IS NOT NULL"
             f" UNION SELECT {KIND_CODE['track']}::smallint, d.item_id FROM trending._capture_play_hours d"
             f" WHERE {consumed}) AS x",
             f"SELECT count(DISTINCT d.user_id) FROM trending._capture_changed d"
             f" WHERE {consumed} AND d.source IN ({', '.join(map(str, USER_SOURCES))})")
    crossing = [f"SELECT count(DISTINCT x.id) FROM ({' UNION ALL '.join(crossing_parts(kind, prev, cur))}) AS x (id, reread)"
                for kind in ("track", "playlist")]
    total = " + ".join(f"(SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint"
                       f" ELSE (SELECT count(*) FROM {t}) END FROM pg_catalog.pg_class c WHERE c.oid = '{t}'::regclass)"
                       for t in ("trending._state_tracks", "trending._state_playlists"))
    row = plpy.execute(f"SELECT ({' + '.join(f'({q})' for q in named)})::bigint AS named,"
                       f" ({' + '.join(f'({q})' for q in crossing)})::bigint AS crossing, ({total})::bigint AS items")[0]
    named_n, crossing_n, items = int(row["named"]), int(row["crossing"]), int(row["items"])
    due = _reconciliation_due(plpy, meta, cur.now_text, reconcile_every, items)
    return {"named": named_n, "crossing": crossing_n, "to_reconcile": due,
            "affected": named_n + crossing_n + math.ceil(due * RECONCILE_WEIGHT), "items": items}


# An item due for reconciliation costs its read and a comparison: it is
# rescored only when it drifted (keep_unchanged_share). At medium scale an
# hour's share of a day's round (8,400 tracks) made the hourly cycle about
# 0.5 s dearer than one of a 7-day round (1,200), in cycles of about 4 s
# for 8,300 rescored tracks (docs/benchmark.md, "After a gap: the round
# paced, and a day of rotation at medium", two runs): a share item costs
# about a seventh of a rescored one; a quarter keeps a margin.
RECONCILE_WEIGHT = 0.25


def _reconciliation_due(plpy, meta: dict, now_utc: str, reconcile_every: str, items: int) -> int:
    """The items this cycle's share of the reconciliation would read whole
    (plan_rotation's arithmetic, without its queries)."""
    p = position(plpy, meta, now_utc, reconcile_every)["p"]
    if not meta.get("rotation"):
        return math.ceil(p * items)
    rotation = json.loads(meta["rotation"])
    return sum(0 if rotation["after"][t] == END else
               (rotation["total"][t] - rotation["done"][t] if p >= 1 else
                max(0, math.ceil(p * rotation["total"][t]) - rotation["done"][t]))
               for t in ("track", "playlist"))


# After a gap the round is behind the clock. Checking all it missed at once
# would make the cycle after a gap read the gap's hours of shares (at
# medium with a day's round, six hours' were 50,000 items, and the estimate
# made that cycle full: docs/benchmark.md), so a cycle checks at most this
# many cycles' shares; the following cycles catch up at the same pace, and
# the round ends late by at most about the gap.
CATCH_UP_PACE = 2


def paced_position(wall: float, step: float, hour: float, rotation: dict | None) -> float:
    """Where the round gets to in this cycle: the clock's position `wall`
    (at most 1), but at most CATCH_UP_PACE cycles' shares past where the
    last cycle left it. A cycle's share is this cycle's `step` (the time
    since the last cycle, as a share of the round), unless that is longer
    than the last cycle's (a gap), and at least an hour's (`hour`)."""
    # the round's first cycle (rotation None): the last one was a full or a reconciling one
    done, last_step = (rotation["position"], rotation["step"]) if rotation else (0.0, hour)
    unit = max(hour, min(step, last_step))
    p = max(done, min(wall, done + CATCH_UP_PACE * unit))
    return 1.0 if p > 1 - 1e-9 else p  # a sum of shares that rounds just below the end


def position(plpy, meta: dict, now_utc: str, reconcile_every: str) -> dict:
    """The round at now_utc: p (paced_position), wall (the clock's position,
    at most 1), step (the time since the last cycle, as a share of the
    round), classes (its number of hour classes)."""
    row = plpy.execute(plpy.prepare(
        "SELECT least(1, EXTRACT(epoch FROM $1::timestamp - $2::timestamp) / EXTRACT(epoch FROM $3::interval))::float8"
        " AS wall, (EXTRACT(epoch FROM $1::timestamp - $4::timestamp) / EXTRACT(epoch FROM $3::interval))::float8"
        " AS step, (3600 / EXTRACT(epoch FROM $3::interval))::float8 AS hour,"
        " greatest(1, ceil(EXTRACT(epoch FROM $3::interval) / 3600))::int AS classes",
        ["text", "text", "text", "text"]),
        [now_utc, meta["reconciled_at"] or meta["cycle_now"], reconcile_every, meta["cycle_now"]])[0]
    wall, step = max(0.0, float(row["wall"])), max(0.0, float(row["step"]))
    rotation = json.loads(meta["rotation"]) if meta.get("rotation") else None
    return {"p": paced_position(wall, step, float(row["hour"]), rotation), "wall": wall, "step": step,
            "classes": int(row["classes"])}


# ---------------------------------------------------------------------------
# Rotating reconciliation (issue 18, item 2). A round begins at the state's
# reconciled_at (a full cycle, or the cycle that completed the last round)
# and lasts reconcile_every. At position p = (now - begin) / reconcile_every
# the round has checked ceil(p x n) of each table's n rows (counted when the
# round began), in id order, from a cursor; and the hours of the play
# buckets whose class (hour number mod the round's hours) is below p x that
# number. The cycle at p >= 1 (the 'reconcile') checks the rest, so the whole
# state is checked within reconcile_every whatever the cycles' pace.
# ---------------------------------------------------------------------------
ROTATED = {"track": ("trending._state_tracks", "track_id"),
           "playlist": ("trending._state_playlists", "playlist_id"),
           "user": ("trending._state_track_users", "user_id")}
END = "end"   # a cursor past the last id: the table is done for this round


def _new_round(plpy) -> dict:
    total = {t: int(plpy.execute(f"SELECT count(*) AS n FROM {table}")[0]["n"]) for t, (table, _) in ROTATED.items()}
    return {"after": dict.fromkeys(ROTATED), "total": total, "done": dict.fromkeys(ROTATED, 0), "hours": 0.0,
            "drift": {}}


def plan_rotation(plpy, meta: dict, now_utc: str, reconcile_every: str, completes: bool) -> dict:
    """This cycle's share of the round: {"share": {table: (after, upto) id
    range, upto None for no bound; or None}, "hours": (first class, end
    class, classes) or None, "position": p}, and the round as it will be
    stored after this cycle ("next"; None when this cycle completes it)."""
    rotation = json.loads(meta["rotation"]) if meta.get("rotation") else _new_round(plpy)
    pace = position(plpy, meta, now_utc, reconcile_every)
    p, classes = (1.0 if completes else pace["p"]), pace["classes"]
    rotation["position"], rotation["step"] = p, pace["step"]
    share = {}
    for t, (table, id_col) in ROTATED.items():
        after = rotation["after"][t]
        if after == END:
            share[t] = None
            continue
        if completes:
            share[t], rotation["after"][t] = (after, None), END
            continue
        k = math.ceil(p * rotation["total"][t]) - rotation["done"][t]
        if k <= 0:
            share[t] = None
            continue
        bound = "" if after is None else f" WHERE s.{id_col} > {int(after)}"
        upto = plpy.execute(f"SELECT s.{id_col} AS id FROM {table} s{bound} ORDER BY s.{id_col}"
                            f" OFFSET {k - 1} LIMIT 1")
        if upto:
            share[t], rotation["after"][t] = (after, int(upto[0]["id"])), int(upto[0]["id"])
            rotation["done"][t] += k
        else:
            share[t], rotation["after"][t] = (after, None), END
    # hours: the share of the round done, so that a changed reconcile_every
    # (another number of classes) carries on from there
    first = min(classes, math.floor(rotation["hours"] * classes + 1e-9))
    end = classes if completes else min(classes, math.floor(p * classes))
    hours = (first, end, classes) if end > first else None
    rotation["hours"] = max(rotation["hours"], end / classes)
    return {"share": share, "hours": hours, "position": round(p, 4), "drift_before": rotation.get("drift", {}),
            "next": None if completes else rotation}


def _id_range(column: str, bounds: tuple | None) -> str:
    """SQL condition: column in the share's id range (after, upto]; false without a share."""
    if bounds is None:
        return "false"
    after, upto = bounds
    conditions = ([] if after is None else [f"{column} > {int(after)}"]) + ([] if upto is None else [f"{column} <= {int(upto)}"])
    return " AND ".join(conditions) or "true"


def stage_share(plpy, kind: str, cur: Cycle, share: dict, guard) -> None:
    """pg_temp.trending_<kind>_share: the items of this cycle's share (the
    state's, and the sources' current rows, in its id range: an item the
    state lacks is drift too), and trending_<kind>_share_users: the users of
    the users' share (the state's and those with a weight in the sources)."""
    state, id_col = ROTATED[kind]
    items = [f"SELECT s.{id_col} FROM {state} s WHERE {_id_range(f's.{id_col}', share[kind])}"]
    users = [f"SELECT s.user_id FROM trending._state_{kind}_users s WHERE {_id_range('s.user_id', share['user'])}"]
    if share[kind] is not None:
        guard("share")  # the sources' ids in the range, by their primary keys
        if kind == "track":
            items.append(f"SELECT t.track_id::bigint FROM {cur.source}.tracks t"
                         f" WHERE t.is_current IS TRUE AND {_id_range('t.track_id', share[kind])}")
        else:
            items.append(f"SELECT o.playlist_id FROM trending._state_playlist_owners o"
                         f" WHERE {_id_range('o.playlist_id', share[kind])}")
            items.append(f"SELECT p.playlist_id::bigint FROM {cur.source}.playlists p"
                         f" WHERE p.is_current IS TRUE AND {_id_range('p.playlist_id', share[kind])}")
    if share["user"] is not None:
        guard("share_users")
        users.append("SELECT w.user_id FROM (" + user_weights(
            kind, cur.source, f"\n  AND {_id_range('u.user_id', share['user'])}") + ") AS w")
    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_share AS SELECT DISTINCT x.id FROM ("
                 + " UNION ALL ".join(items) + ") AS x (id) WHERE x.id IS NOT NULL")
    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_share_users AS SELECT DISTINCT x.user_id FROM ("
                 + " UNION ALL ".join(users) + ") AS x (user_id) WHERE x.user_id IS NOT NULL")
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_share")
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_share_users")


# The hours of this cycle's share of the play buckets (their class, the
# hour number mod the round's hours, in [first, end)); the first share of a
# round also takes the hours no class holds: after the current hour (plays
# dated in the future, +infinity) and -infinity.
_CHECKED_HOURS = """
CREATE TEMP TABLE trending_checked_hours AS
SELECT g.hour FROM pg_catalog.generate_series({keep}, pg_catalog.date_trunc('hour', {now}), interval '1 hour') AS g (hour)
WHERE (EXTRACT(epoch FROM g.hour)::bigint / 3600) % {classes} >= {first}
  AND (EXTRACT(epoch FROM g.hour)::bigint / 3600) % {classes} < {end}
"""

# The plays of those hours from the sources, as of the cycle's snapshot
# (less the delta rows of the transactions this read sees and the snapshot
# does not: a later cycle adds those), against the state's buckets plus
# the delta rows this cycle consumes: the tracks with a bucket that differs.
_CHECK_PLAY_HOURS = """
CREATE TEMP TABLE trending_play_hours_drift AS
WITH fresh AS (
    SELECT x.track_id, x.hour, sum(x.n) AS n FROM (
        SELECT p.play_item_id::bigint AS track_id, pg_catalog.date_trunc('hour', p.created_at) AS hour, 1 AS n
        FROM pg_temp.trending_checked_hours h
        JOIN {src}.plays p ON p.created_at >= h.hour AND p.created_at < h.hour + interval '1 hour'{other_plays}
        UNION ALL
        SELECT d.item_id, d.hour, -d.n FROM trending._capture_play_hours d
        WHERE {after} AND ({in_hours_d})
    ) AS x WHERE x.track_id IS NOT NULL GROUP BY x.track_id, x.hour HAVING sum(x.n) <> 0
), kept AS (
    SELECT k.track_id, k.hour, sum(k.n) AS n FROM (
        SELECT b.track_id, b.hour, b.plays AS n FROM trending._state_play_buckets b WHERE {in_hours_b}
        UNION ALL
        SELECT d.item_id, d.hour, d.n FROM trending._capture_play_hours d WHERE {consumed} AND ({in_hours_d})
    ) AS k GROUP BY k.track_id, k.hour HAVING sum(k.n) <> 0
)
SELECT COALESCE(f.track_id, k.track_id) AS track_id, COALESCE(f.hour, k.hour) AS hour
FROM fresh f FULL JOIN kept k ON k.track_id = f.track_id AND k.hour = f.hour
WHERE f.n IS DISTINCT FROM k.n
"""


def check_play_hours(plpy, cur: Cycle, hours: tuple | None, consumed: str, after: str, guard) -> int:
    """The play buckets' share: compare the hours of this cycle's classes
    with the plays the sources hold (as of the cycle's snapshot); the tracks
    with a bucket that differs go to staging table pg_temp.trending_track_fresh (their plays are read
    again from the sources and their buckets replaced: inputs.Scope.fresh).
    Returns the buckets that differ (drift)."""
    staging_table(plpy, "trending_track_fresh")  # trending._state_write reads it
    if hours is None:
        return 0
    first, end, classes = hours
    plpy.execute(_CHECKED_HOURS.format(keep=cur.track_month_keep, now=cur.now_utc, classes=int(classes),
                                       first=int(first), end=int(end)))
    listed = "{col} = ANY (ARRAY(SELECT h.hour FROM pg_temp.trending_checked_hours h))"
    unlisted = (f" OR {{col}} >= pg_catalog.date_trunc('hour', {cur.now_utc}) + interval '1 hour'"
                " OR {col} = '-infinity'::timestamp") if first == 0 else ""
    other_plays = (f"\n        UNION ALL\n        SELECT p.play_item_id::bigint, pg_catalog.date_trunc('hour', p.created_at), 1"
                   f" FROM {cur.source}.plays p WHERE p.created_at >= pg_catalog.date_trunc('hour', {cur.now_utc})"
                   f" + interval '1 hour' OR p.created_at = '-infinity'::timestamp") if first == 0 else ""
    guard("play_hours")
    plpy.execute(_CHECK_PLAY_HOURS.format(
        src=cur.source, other_plays=other_plays, after=after, consumed=consumed,
        in_hours_d=(listed + unlisted).format(col="d.hour"), in_hours_b=(listed + unlisted).format(col="b.hour")))
    plpy.execute("INSERT INTO pg_temp.trending_track_fresh SELECT DISTINCT x.track_id FROM"
                 " pg_temp.trending_play_hours_drift x WHERE x.track_id IS NOT NULL")
    analyze_staging(plpy, "trending_track_fresh")
    return int(plpy.execute("SELECT count(*) AS n FROM pg_temp.trending_play_hours_drift")[0]["n"])


def measure_drift(plpy, kind: str, after: str) -> dict:
    """This cycle's share, before its state rows replace the stored ones:
    the items whose stored inputs differ from the fresh ones, and the users
    whose stored karma weight differs from the sources', leaving out what
    this cycle's changes name (it rescores them anyway) and what the delta
    rows of transactions after its snapshot name (the next cycle does). Any
    of it is drift: a change the capture or the incremental cycles missed."""
    id_col = f"{kind}_id"
    later = (f"SELECT d.item_id FROM trending._capture_changed d WHERE {after} AND d.kind = {KIND_CODE[kind]}"
             + (f" UNION ALL SELECT d.item_id FROM trending._capture_play_hours d WHERE {after}"
                if kind == "track" else ""))
    items = int(plpy.execute(f"""
WITH later AS MATERIALIZED ({later})
SELECT count(*) AS n
FROM pg_temp.trending_{kind}_checked c
LEFT JOIN pg_temp.trending_{kind}_state f ON f.{id_col} = c.id
LEFT JOIN trending._state_{kind}s s ON s.{id_col} = c.id
WHERE ROW(f.*) IS DISTINCT FROM ROW(s.*) AND c.id NOT IN (SELECT l.item_id FROM later l WHERE l.item_id IS NOT NULL)""")[0]["n"])
    users = int(plpy.execute(f"""
SELECT count(*) AS n FROM pg_temp.trending_{kind}_named_weights n
WHERE n.checked
  AND ROW(n.weight, COALESCE(n.negative, false)) IS DISTINCT FROM ROW(n.old_weight, COALESCE(n.old_negative, false))
  AND n.user_id NOT IN (SELECT d.user_id FROM trending._capture_changed d
                        WHERE {after} AND d.source IN ({", ".join(map(str, USER_SOURCES))}) AND d.user_id IS NOT NULL)""")[0]["n"])
    return {f"{kind}s": items, f"{kind}_users": users}


def keep_unchanged_share(plpy, kind: str) -> int:
    """Compare, then rescore: the share's items that nothing else affects
    (trending_<kind>_checked) and whose inputs, read again, equal the
    state's (no drift; measure_drift has counted the others) keep their
    scores: their scores are a function of those inputs, and no window or
    decay step moved over them (they would be affected otherwise). Their
    inputs leave pg_temp.trending_<kind>_inputs, and the changes step scores
    and compares pg_temp.trending_<kind>_rescored, the affected items less
    them. Their state rows, equal, are left alone by the state's write.
    Returns how many were kept."""
    id_col = f"{kind}_id"
    plpy.execute(f"""
CREATE TEMP TABLE trending_{kind}_rescored AS
WITH kept AS (
    DELETE FROM pg_temp.trending_{kind}_inputs i
    USING pg_temp.trending_{kind}_checked c, pg_temp.trending_{kind}_state f, trending._state_{kind}s s
    WHERE i.{id_col} = c.id AND f.{id_col} = c.id AND s.{id_col} = c.id
      AND ROW(f.*) IS NOT DISTINCT FROM ROW(s.*)
    RETURNING i.{id_col} AS id)
SELECT a.id FROM pg_temp.trending_{kind}_affected a WHERE NOT EXISTS (SELECT FROM kept k WHERE k.id = a.id)""")
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_inputs")
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_rescored")
    return int(plpy.execute(f"SELECT (SELECT count(*) FROM pg_temp.trending_{kind}_affected)"
                            f" - (SELECT count(*) FROM pg_temp.trending_{kind}_rescored) AS n")[0]["n"])


# Users named by the capture (their profile, follower count or rows changed).
_NAMED_USERS = """
SELECT DISTINCT d.user_id FROM trending._capture_changed d
WHERE {consumed} AND d.source IN ({user_sources}) AND d.user_id IS NOT NULL
"""


# Each named user's karma weight now (from the sources) and as the state
# holds it; and the same for the users of this cycle's share of the
# reconciliation that the capture does not name (checked): a weight that
# differs there is drift, applied as a difference like a named user's.
_NAMED_WEIGHTS = """
CREATE TEMP TABLE trending_{kind}_named_weights AS
WITH named_users AS MATERIALIZED ({named}),
users_read AS MATERIALIZED (
    SELECT n.user_id, false AS checked FROM named_users n
    UNION ALL
    SELECT c.user_id, true FROM pg_temp.trending_{kind}_share_users c
    WHERE NOT EXISTS (SELECT FROM named_users n WHERE n.user_id = c.user_id)
)
SELECT n.user_id, w.weight, w.negative, s.weight AS old_weight, s.negative AS old_negative, n.checked
FROM users_read n
LEFT JOIN ({weights}) AS w ON w.user_id = n.user_id
LEFT JOIN trending._state_{kind}_users s ON s.user_id = n.user_id
"""

# Per playlist, the sum of the weight differences of the users who changed
# over its live saves and reposts by them (a user who both saved and
# reposted counts twice, as in karma), per karma column; reread: the
# playlist's karma must be summed again (_REREAD_USER).
_KARMA_DELTA = """
CREATE TEMP TABLE trending_{kind}_karma_delta AS
WITH changed AS MATERIALIZED (
    SELECT n.user_id, COALESCE(n.weight, 0) - COALESCE(n.old_weight, 0) AS delta, {reread_user} AS reread
    FROM pg_temp.trending_{kind}_named_weights n
    WHERE {changed}
)
SELECT x.id, {sums}, bool_or(c.reread) AS reread
FROM (
    SELECT s.save_item_id::bigint AS id, s.user_id::bigint AS user_id, s.created_at FROM {src}.saves s
    WHERE s.user_id = ANY (ARRAY(SELECT c.user_id FROM changed c))
      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), '{kind}')
      AND s.is_current IS TRUE AND s.is_delete IS FALSE
    UNION ALL
    SELECT r.repost_item_id::bigint, r.user_id::bigint, r.created_at FROM {src}.reposts r
    WHERE r.user_id = ANY (ARRAY(SELECT c.user_id FROM changed c))
      AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), '{kind}')
      AND r.is_current IS TRUE AND r.is_delete IS FALSE
) AS x
JOIN changed c ON c.user_id = x.user_id
GROUP BY x.id
"""

# A user whose weight changed. A track's karma counts no weight as 0; a
# playlist's is NULL without a weight (its K is then 1), so there a weight
# of 0 appearing or vanishing is a change.
_CHANGED_USER = {
    "track": ("(COALESCE(n.weight, 0), COALESCE(n.negative, false))"
              " IS DISTINCT FROM (COALESCE(n.old_weight, 0), COALESCE(n.old_negative, false))"),
    "playlist": ("(n.weight, COALESCE(n.negative, false))"
                 " IS DISTINCT FROM (n.old_weight, COALESCE(n.old_negative, false))"),
}

# A changed user whose items' karma is summed again rather than moved: a
# follower count that is or was negative (the state's negative_contributors
# must follow it); for playlists also a weight that appears or vanishes (a
# playlist's karma is NULL without contributors, which a difference cannot
# say).
_REREAD_USER = {
    "track": "COALESCE(n.negative, false) OR COALESCE(n.old_negative, false)",
    "playlist": ("COALESCE(n.negative, false) OR COALESCE(n.old_negative, false)"
                 " OR n.weight IS NULL OR n.old_weight IS NULL"),
}


def stage_named_weights(plpy, kind: str, cur: Cycle, consumed: str) -> None:
    """pg_temp.trending_<kind>_named_weights: the users the delta rows this
    cycle consumes name (`consumed`: an SQL condition on the delta row
    aliased d) and those of its share of the reconciliation
    (trending_<kind>_share_users), with their weights now and as the state
    holds them."""
    named = _NAMED_USERS.format(consumed=consumed, user_sources=", ".join(map(str, USER_SOURCES)))
    in_named = "\n  AND u.user_id = ANY (ARRAY(SELECT n.user_id FROM users_read n))"
    plpy.execute(_NAMED_WEIGHTS.format(kind=kind, named=named, weights=user_weights(kind, cur.source, in_named)))
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_named_weights")


def stage_karma_delta(plpy, cur: Cycle) -> None:
    """pg_temp.trending_playlist_karma_delta: what the changes of the named
    users' weights add to each playlist's karma (delta_<range>, over the
    saves and reposts inside each window), read from the sources by user."""
    sums = ", ".join(f"sum(c.delta) FILTER (WHERE x.created_at >= {cur.playlist_starts[r]}) AS delta_{r}"
                     for r in formulas.PLAYLIST_WINDOWS)  # karma takes created_at >= start (inputs._PLAYLIST_INPUTS)
    plpy.execute(_KARMA_DELTA.format(kind="playlist", src=cur.source, sums=sums, changed=_CHANGED_USER["playlist"],
                                     reread_user=_REREAD_USER["playlist"]))
    plpy.execute("ANALYZE pg_temp.trending_playlist_karma_delta")


# The (track, user, kind of action) of every save and repost row the
# consumed delta rows name (source 3: saves, 4: reposts; an UPDATE names its
# old and its new row).
_ACTION_PAIRS = """
INSERT INTO pg_temp.trending_track_action_pairs
SELECT DISTINCT d.item_id, d.user_id, d.source = 4
FROM trending._capture_changed d
WHERE {consumed} AND d.kind = 1 AND d.source IN (3, 4) AND d.item_id IS NOT NULL
"""

# Those pairs' live rows in the sources, by their primary keys (user_id and
# the item lead them).
_PAIR_ROWS = """
INSERT INTO pg_temp.trending_track_pair_rows
SELECT s.save_item_id::bigint, false, s.user_id::bigint, s.created_at
FROM pg_temp.trending_track_action_pairs p
JOIN {src}.saves s ON s.user_id = p.user_id AND s.save_item_id = p.track_id
WHERE NOT p.is_repost
  AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(s.save_type)), 'track')  -- by label, no cast (docs/security.md)
  AND s.is_current IS TRUE AND s.is_delete IS FALSE
UNION ALL
SELECT r.repost_item_id::bigint, true, r.user_id::bigint, r.created_at
FROM pg_temp.trending_track_action_pairs p
JOIN {src}.reposts r ON r.user_id = p.user_id AND r.repost_item_id = p.track_id
WHERE p.is_repost
  AND pg_catalog.texteq(pg_catalog.textin(pg_catalog.enum_out(r.repost_type)), 'track')  -- by label, no cast (docs/security.md)
  AND r.is_current IS TRUE AND r.is_delete IS FALSE
"""

# Per track, what its counts and karma move by, one row per save or repost
# that moves them (x: +1 came, -1 left, as of the current windows):
# - the pairs read again: their stored rows leave (at the state's weight),
#   the rows read come (at the user's weight now);
# - the stored rows a window's start moved over (+1 or -1 per window);
# - the stored rows of the users whose weight changed, but the pairs' (they
#   left above): their difference.
# The state's karma is the sum of the state's weights over the stored rows,
# so this keeps it that: K' = K - sum(old rows, W) + sum(new rows, W') +
# sum(other rows of changed users, W' - W). reread: a negative follower
# count is involved (negative_contributors must follow it) or a pair has no
# user to match: the track is read whole.
_ACTION_DELTA = """
CREATE TEMP TABLE trending_track_action_delta AS
WITH changed AS MATERIALIZED (
    SELECT n.user_id, COALESCE(n.weight, 0) - COALESCE(n.old_weight, 0) AS delta, {reread_user} AS reread
    FROM pg_temp.trending_track_named_weights n
    WHERE {changed}
), moves AS (
    SELECT o.track_id, o.is_repost, o.created_at, -1 AS x, -COALESCE(w.weight, 0) AS karma,
           COALESCE(w.negative, false) OR COALESCE(n.negative, false) AS reread
    FROM pg_temp.trending_track_action_pairs p
    JOIN trending._state_track_actions o
      ON o.track_id = p.track_id AND o.user_id = p.user_id AND o.is_repost = p.is_repost
    LEFT JOIN trending._state_track_users w ON w.user_id = o.user_id
    LEFT JOIN pg_temp.trending_track_named_weights n ON n.user_id = o.user_id
    UNION ALL
    SELECT r.track_id, r.is_repost, r.created_at, 1,
           COALESCE(CASE WHEN n.user_id IS NULL THEN w.weight ELSE n.weight END, 0),
           COALESCE(w.negative, false) OR COALESCE(n.negative, false) OR r.user_id IS NULL
    FROM pg_temp.trending_track_pair_rows r
    LEFT JOIN trending._state_track_users w ON w.user_id = r.user_id
    LEFT JOIN pg_temp.trending_track_named_weights n ON n.user_id = r.user_id
    UNION ALL
    SELECT p.track_id, p.is_repost, NULL, 0, 0, true
    FROM pg_temp.trending_track_action_pairs p WHERE p.user_id IS NULL
), rows AS (
    SELECT m.track_id, m.is_repost,
           m.x * COALESCE(m.created_at > {week_start}, false)::integer AS week,
           m.x * COALESCE(m.created_at > {month_start}, false)::integer AS month,
           m.x * COALESCE(NOT pg_catalog.isfinite(m.created_at), false)::integer AS infinite,
           m.karma, m.reread
    FROM moves m
    UNION ALL
    SELECT e.track_id, e.is_repost,
           (e.created_at > {week_start})::integer - (e.created_at > {prev_week_start})::integer,
           (e.created_at > {month_start})::integer - (e.created_at > {prev_month_start})::integer,
           0, 0, false
    FROM trending._state_track_actions e
    WHERE {edges}
    UNION ALL
    SELECT e.track_id, e.is_repost, 0, 0, 0, c.delta, c.reread
    FROM trending._state_track_actions e
    JOIN changed c ON c.user_id = e.user_id
    WHERE e.user_id = ANY (ARRAY(SELECT c.user_id FROM changed c))
      AND NOT EXISTS (SELECT FROM pg_temp.trending_track_action_pairs p
                      WHERE p.track_id = e.track_id AND p.user_id = e.user_id AND p.is_repost = e.is_repost)
)
SELECT r.track_id AS id,
       sum(r.week) FILTER (WHERE r.is_repost)      AS reposts_week,
       sum(r.month) FILTER (WHERE r.is_repost)     AS reposts_month,
       sum(r.week) FILTER (WHERE NOT r.is_repost)  AS saves_week,
       sum(r.month) FILTER (WHERE NOT r.is_repost) AS saves_month,
       sum(r.karma)                                AS karma,
       sum(r.infinite)                             AS infinite_actions,
       bool_or(r.reread)                           AS reread
FROM rows r
GROUP BY r.track_id
"""


def stage_action_delta(plpy, cur: Cycle, prev: Cycle, consumed: str) -> None:
    """Tracks' saves and reposts as differences (the state keeps each live
    one: trending._state_track_actions). The staging tables
    pg_temp.trending_track_action_pairs (the pairs the consumed delta rows
    name) and trending_track_pair_rows (their live rows in the sources),
    which trending._state_write stores in place of the pairs' stored rows,
    and pg_temp.trending_track_action_delta (_ACTION_DELTA): per track, what
    its counts and karma move by. Reads as many source rows as the pairs
    have, whatever else the tracks have."""
    staging_table(plpy, "trending_track_action_pairs")
    plpy.execute(_ACTION_PAIRS.format(consumed=consumed))
    analyze_staging(plpy, "trending_track_action_pairs")
    staging_table(plpy, "trending_track_pair_rows")
    plpy.execute(_PAIR_ROWS.format(src=cur.source))
    analyze_staging(plpy, "trending_track_pair_rows")
    plpy.execute(_ACTION_DELTA.format(changed=_CHANGED_USER["track"], reread_user=_REREAD_USER["track"],
                                      week_start=cur.track_week_start, month_start=cur.track_month_start,
                                      prev_week_start=prev.track_week_start, prev_month_start=prev.track_month_start,
                                      edges=_track_engagement_edges(prev, cur)))
    plpy.execute("ANALYZE pg_temp.trending_track_action_delta")


def _steps_values(kind: str) -> str:
    return ", ".join(f"({k})" for k in decay_steps(kind))


def stage_affected(plpy, kind: str, cur: Cycle, prev: Cycle, consumed: str, guard) -> int:
    """Fill pg_temp.trending_<kind>_affected with the ids to rescore, and
    pg_temp.trending_<kind>_reread with those whose saves and reposts must be
    read again (the others' engagement counts and karma are the state's,
    their karma moved by stage_karma_delta), trending_<kind>_summed with
    those whose listens are summed from all their play buckets (the state
    does not hold them, or they are in this cycle's share of the
    reconciliation) and trending_<kind>_checked with the share's ids that
    nothing else affects (their drift is counted: measure_drift); the number
    affected. Reads the delta rows this cycle consumes (`consumed`: an SQL
    condition on the delta row aliased d), the state, the share
    (stage_share; for tracks, trending_track_fresh: check_play_hours) and
    the saves and reposts the capture names (tracks: by pair,
    stage_action_delta; playlists: those of the users named, by the
    users' index)."""
    code = KIND_CODE[kind]
    state = f"trending._state_{kind}s"
    id_col = f"{kind}_id"
    owners = "trending._state_playlist_owners" if kind == "playlist" else state
    owner_id_col = "playlist_id" if kind == "playlist" else id_col
    guard("affected")  # the users' rows, saves and reposts are read from the sources
    # (query, whether its items' saves and reposts must be read again: they
    # changed, a contributor's weight changed, or a window moved over them;
    # whether it is the reconciliation's share)
    # a playlist whose saves or reposts changed is read whole; a track's move by a difference
    engagements_named = "d.source IN (3, 4)" if kind == "playlist" else "false"  # 3, 4: saves, reposts
    parts = [
        # items named: their rows, their saves and reposts, their counts (and, for tracks, plays)
        (f"SELECT d.item_id, {engagements_named}, false FROM trending._capture_changed d"
         f" WHERE {consumed} AND d.kind = {code} AND d.item_id IS NOT NULL"),
        # items owned by the users named (owner_followers)
        f"SELECT o.{owner_id_col}, false, false FROM {owners} o"
        f" WHERE o.owner_id = ANY (ARRAY(SELECT n.user_id FROM named_users n))",
        # the reconciliation's share: read whole
        f"SELECT r.id, true, true FROM pg_temp.trending_{kind}_share r",
    ]
    # an item's karma moves by its contributors' weight differences (and a
    # track's counts and karma by its saves and reposts that changed or
    # that a window moved over)
    stage_named_weights(plpy, kind, cur, consumed)
    if kind == "track":
        stage_action_delta(plpy, cur, prev, consumed)
        parts.append("SELECT kd.id, kd.reread, false FROM pg_temp.trending_track_action_delta kd")
    else:
        stage_karma_delta(plpy, cur)
        parts.append("SELECT kd.id, kd.reread, false FROM pg_temp.trending_playlist_karma_delta kd")
    # plays (and playlists' engagements) that left a window, ages that crossed a decay step, release dates that passed
    parts += [f"SELECT c.id, c.reread, false FROM ({q}) AS c (id, reread)"
              for q in crossing_parts(kind, prev, cur, engagements=False)]
    if kind == "track":
        parts += [
            f"SELECT d.item_id, false, false FROM trending._capture_play_hours d WHERE {consumed}",
            # a play bucket of the share differs from the sources: its plays are read
            # again, and its row too is checked (reconciliation, not a change)
            "SELECT f.id, false, true FROM pg_temp.trending_track_fresh f",
        ]
    union = "\n    UNION ALL\n    ".join(parts)
    staging_table(plpy, f"trending_{kind}_affected")  # trending._state_write reads it
    if kind == "track":  # trending._state_write replaces the saves and reposts of the tracks read whole
        staging_table(plpy, "trending_track_reread")
    for table in ("reread", "summed", "checked") if kind == "playlist" else ("summed", "checked"):
        plpy.execute(f"CREATE TEMP TABLE trending_{kind}_{table} (id bigint)")
    plpy.execute(f"""
WITH named_users AS MATERIALIZED ({_NAMED_USERS.format(consumed=consumed,
                                                       user_sources=", ".join(map(str, USER_SOURCES)))}),
parts AS MATERIALIZED (
    SELECT x.id, bool_or(x.reread) AS reread, bool_or(x.share) AS in_share, bool_and(x.share) AS share_only,
           NOT EXISTS (SELECT FROM {state} s WHERE s.{id_col} = x.id) AS unknown
    FROM (
    {union}
    ) AS x (id, reread, share)
    WHERE x.id IS NOT NULL
    GROUP BY x.id
), affected AS (
    INSERT INTO pg_temp.trending_{kind}_affected SELECT p.id FROM parts p
), summed AS (
    INSERT INTO pg_temp.trending_{kind}_summed SELECT p.id FROM parts p WHERE p.in_share OR p.unknown
), checked AS (
    INSERT INTO pg_temp.trending_{kind}_checked SELECT p.id FROM parts p WHERE p.share_only
)
-- an item the state does not hold (it was not eligible) is read whole
INSERT INTO pg_temp.trending_{kind}_reread
SELECT p.id FROM parts p
WHERE p.reread OR p.unknown""")
    for table in ("reread", "summed", "checked"):
        if kind == "track" and table == "reread":
            analyze_staging(plpy, "trending_track_reread")
        else:
            plpy.execute(f"ANALYZE pg_temp.trending_{kind}_{table}")
    analyze_staging(plpy, f"trending_{kind}_affected")
    return int(plpy.execute(f"SELECT count(*) AS n FROM pg_temp.trending_{kind}_affected")[0]["n"])
