"""Incremental cycles: which kind of cycle runs, and which items it rescores.

A cycle is incremental when the change capture is intact and armed, the
state (sql/schema/85_state.sql) is valid at the capture's watermark, and
nothing that changes results changed since the state was built (decide()).
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

from . import formulas
from .inputs import Cycle, analyze_staging, staging_table, user_weights

# A cycle more than this after the last one runs full: the affected set
# would hold most items anyway (every age crosses a day), and a full cycle
# costs less than finding them one range at a time.
MAX_GAP_HOURS = 24

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
                        " m.reconciled_at::text AS reconciled_at FROM trending._state_meta m")
    return dict(rows[0]) if rows else None


def decide(plpy, *, full_requested: bool, capture_state: dict, unrecorded: str | None, meta: dict | None,
           plan_fingerprint: str, now_utc: str, reconcile_every: str) -> tuple[str, str]:
    """(kind, reason): 'full', 'reconcile' or 'incremental', and why. The
    first reason that needs a full cycle wins."""
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
        "SELECT $1::timestamp < $2::timestamp AS backwards,"
        " $1::timestamp - $2::timestamp > pg_catalog.make_interval(hours => $3) AS gap,"
        " ($1::timestamp - $2::timestamp)::text AS elapsed,"
        " $4::timestamp + $5::interval <= $1::timestamp AS reconcile",
        ["text", "text", "int4", "text", "text"]),
        [now_utc, meta["cycle_now"], MAX_GAP_HOURS, meta["reconciled_at"] or meta["cycle_now"], reconcile_every])[0]
    if row["backwards"]:
        return "full", f"now ({now_utc}) is before the last cycle's ({meta['cycle_now']})"
    if row["gap"]:
        return "full", (f"{row['elapsed']} since the last cycle, more than {MAX_GAP_HOURS} hours: "
                        "a full cycle costs less than finding what changed")
    if row["reconcile"]:
        return "reconcile", (f"reconciliation is due (reconcile_every {reconcile_every}; last at "
                             f"{meta['reconciled_at']})")
    return "incremental", "incremental: the capture and the state are intact"


# Users named by the capture (their profile, follower count or rows changed).
_NAMED_USERS = """
SELECT DISTINCT d.user_id FROM trending._capture_changed d
WHERE {consumed} AND d.source IN ({user_sources}) AND d.user_id IS NOT NULL
"""


# Each named user's karma weight now (from the sources) and as the state
# holds it.
_NAMED_WEIGHTS = """
CREATE TEMP TABLE trending_{kind}_named_weights AS
WITH named_users AS MATERIALIZED ({named})
SELECT n.user_id, w.weight, w.negative, s.weight AS old_weight, s.negative AS old_negative
FROM named_users n
LEFT JOIN ({weights}) AS w ON w.user_id = n.user_id
LEFT JOIN trending._state_{kind}_users s ON s.user_id = n.user_id
"""

# Per item, the sum of the weight differences of the users who changed over
# its live saves and reposts by them (a user who both saved and reposted
# counts twice, as in karma), per karma column; reread: the item's karma
# must be summed again (_REREAD_USER).
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


def stage_karma_delta(plpy, kind: str, cur: Cycle, consumed: str) -> None:
    """pg_temp.trending_<kind>_named_weights and trending_<kind>_karma_delta:
    the users the delta rows this cycle consumes name (`consumed`: an SQL
    condition on the delta row aliased d), their weights, and what
    their changes add to each item's karma (tracks: delta; playlists:
    delta_<range> over the saves and reposts inside each window)."""
    named = _NAMED_USERS.format(consumed=consumed, user_sources=", ".join(map(str, USER_SOURCES)))
    in_named = "\n  AND u.user_id = ANY (ARRAY(SELECT n.user_id FROM named_users n))"
    plpy.execute(_NAMED_WEIGHTS.format(kind=kind, named=named, weights=user_weights(kind, cur.source, in_named)))
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_named_weights")
    if kind == "track":
        sums = "sum(c.delta) AS delta"
    else:  # karma takes created_at >= start (inputs._PLAYLIST_INPUTS)
        sums = ", ".join(f"sum(c.delta) FILTER (WHERE x.created_at >= {cur.playlist_starts[r]}) AS delta_{r}"
                         for r in formulas.PLAYLIST_WINDOWS)
    plpy.execute(_KARMA_DELTA.format(kind=kind, src=cur.source, sums=sums, changed=_CHANGED_USER[kind],
                                     reread_user=_REREAD_USER[kind]))
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_karma_delta")


def _steps_values(kind: str) -> str:
    return ", ".join(f"({k})" for k in decay_steps(kind))


def stage_affected(plpy, kind: str, cur: Cycle, prev: Cycle, consumed: str, guard) -> int:
    """Fill pg_temp.trending_<kind>_affected with the ids to rescore, and
    pg_temp.trending_<kind>_unknown with those the state does not hold, and
    pg_temp.trending_<kind>_reread with those whose saves and reposts must be
    read again (the others' engagement counts and karma are the state's,
    their karma moved by stage_karma_delta); the number affected.
    Reads the delta rows this cycle consumes (`consumed`: an SQL condition on
    the delta row aliased d), the state, and (by the
    users' index) the saves and reposts of the users named."""
    code = KIND_CODE[kind]
    state = f"trending._state_{kind}s"
    id_col = f"{kind}_id"
    hours = f"trending._state_{kind}_hours"
    owners = "trending._state_playlist_owners" if kind == "playlist" else state
    owner_id_col = "playlist_id" if kind == "playlist" else id_col
    if kind == "track":
        edges = [(prev.track_week_floor, cur.track_week_floor), (prev.track_month_floor, cur.track_month_floor)]
    else:
        edges = [(prev.playlist_floors[r], cur.playlist_floors[r]) for r in formulas.PLAYLIST_WINDOWS]
    # both ways: the calendar month's start can move back (inputs.Cycle.track_month_keep)
    in_hours = " OR ".join(f"(h.hour >= least({a}, {b}) AND h.hour <= greatest({a}, {b}))" for a, b in edges)
    guard("affected")  # the users' rows, saves and reposts are read from the sources
    # (query, whether its items' saves and reposts must be read again: they
    # changed, a contributor's weight changed, or a window moved over them)
    parts = [
        # items named: their rows, their saves and reposts, their counts (and, for tracks, plays)
        (f"SELECT d.item_id, d.source IN (3, 4) FROM trending._capture_changed d"  # 3, 4: saves, reposts
         f" WHERE {consumed} AND d.kind = {code} AND d.item_id IS NOT NULL"),
        # items owned by the users named (owner_followers)
        f"SELECT o.{owner_id_col}, false FROM {owners} o WHERE o.owner_id = ANY (ARRAY(SELECT n.user_id FROM named_users n))",
    ]
    # an item's karma moves by its contributors' weight differences
    stage_karma_delta(plpy, kind, cur, consumed)
    parts.append(f"SELECT kd.id, kd.reread FROM pg_temp.trending_{kind}_karma_delta kd")
    parts += [
        # engagements that left a window
        f"SELECT h.item_id, true FROM {hours} h WHERE {in_hours}",
        # ages that crossed a decay step; release dates that passed
        f"SELECT s.{id_col}, false FROM {state} s JOIN (VALUES {_steps_values(kind)}) AS k (days)"
        f" ON s.created_at > {prev.now_utc} - pg_catalog.make_interval(days => k.days)"
        f" AND s.created_at <= {cur.now_utc} - pg_catalog.make_interval(days => k.days)",
        f"SELECT s.{id_col}, false FROM {state} s JOIN (VALUES {_steps_values(kind)}) AS k (days)"
        f" ON s.released_base > {prev.now_utc} - pg_catalog.make_interval(days => k.days)"
        f" AND s.released_base <= {cur.now_utc} - pg_catalog.make_interval(days => k.days)",
        f"SELECT s.{id_col}, false FROM {state} s WHERE s.release_date > {prev.now_utc} AND s.release_date <= {cur.now_utc}",
    ]
    if kind == "track":
        play_edges = " OR ".join(f"(b.hour >= least({a}, {b}) AND b.hour <= greatest({a}, {b}))" for a, b in edges)
        parts += [
            f"SELECT d.item_id, false FROM trending._capture_play_hours d WHERE {consumed}",
            # plays that left a window
            f"SELECT b.track_id, false FROM trending._state_play_buckets b WHERE {play_edges}",
        ]
    union = "\n    UNION ALL\n    ".join(parts)
    staging_table(plpy, f"trending_{kind}_affected")  # trending._state_write reads it
    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_reread (id bigint)")
    plpy.execute(f"CREATE TEMP TABLE trending_{kind}_unknown (id bigint)")
    plpy.execute(f"""
WITH named_users AS MATERIALIZED ({_NAMED_USERS.format(consumed=consumed,
                                                       user_sources=", ".join(map(str, USER_SOURCES)))}),
parts AS MATERIALIZED (
    SELECT x.id, bool_or(x.reread) AS reread FROM (
    {union}
    ) AS x (id, reread)
    WHERE x.id IS NOT NULL
    GROUP BY x.id
), affected AS (
    INSERT INTO pg_temp.trending_{kind}_affected SELECT p.id FROM parts p
), unknown AS (
    INSERT INTO pg_temp.trending_{kind}_unknown
    SELECT p.id FROM parts p WHERE NOT EXISTS (SELECT FROM {state} s WHERE s.{id_col} = p.id)
    RETURNING id
)
-- an item the state does not hold (it was not eligible) is read whole
INSERT INTO pg_temp.trending_{kind}_reread
SELECT p.id FROM parts p
WHERE p.reread OR p.id IN (SELECT u.id FROM unknown u)""")
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_reread")
    plpy.execute(f"ANALYZE pg_temp.trending_{kind}_unknown")
    analyze_staging(plpy, f"trending_{kind}_affected")
    return int(plpy.execute(f"SELECT count(*) AS n FROM pg_temp.trending_{kind}_affected")[0]["n"])
