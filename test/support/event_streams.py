"""Randomized event streams over simulated hours, for incremental cycles
(issue 9, item 7; test/pytest/test_incremental_streams.py).

A stream loads a small adversarial dataset (support.random_datasets) into a
schema of its own, points `source_schema` at it, enables every strategy,
installs the change capture and runs a first (full) cycle at the dataset's
`now`. Then, step by step, it moves `now` (usually an hour, not aligned to
the hour; sometimes a few minutes, a skipped stretch of 2-30 hours, or
backwards), writes a random batch of events into the source tables the way
the service's indexer would (every path the capture must see), runs a cycle
through one of the two entry points and compares the stored scores with the
independent oracle's (test/oracle) on what the tables hold then.

Everything is drawn from `random.Random(seed)` and rows are picked from
queries with an ORDER BY, so a seed replays exactly: the same events, the
same statements, the same `now`s. Each step keeps the statements it ran
(`Step.events`), which is what a failure prints.

`run_stream(conn, schema, seed, hours)` is the short form:
[(now, kind, mismatches), ...], one per cycle (the first one included).
"""

from __future__ import annotations

import json
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

import psycopg
from psycopg import sql

from support.harness import ALL_STRATEGIES, enable_strategies, recompute, use_source_schema
from support.random_datasets import Dataset, _minus_months, drop_schema, load_dataset, random_dataset

US = timedelta(microseconds=1)
SEC = timedelta(seconds=1)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# reconcile_every of the streams: a round of reconciliation completes every
# couple of cycles, so the streams check its shares too (their drift must be 0)
ROUND = "2 hours"
# how long a cycle waits for a writer in flight before it gives up settling
SETTLE_LOCK_TIMEOUT = "100ms"
# ages (in days) whose crossing changes a decay or a window
AGE_EDGES = (7, 8, 14, 30, 31, 60, 365, 366)
STEADY_KINDS = ("incremental", "reconcile")


@dataclass
class Step:
    """One cycle of a stream."""
    index: int
    now: datetime                     # aware (UTC)
    entry: str                        # "recompute" or "scheduled"
    full_requested: bool
    why: str                          # how now moved: "first", "+1h03m", "backwards 5h", ...
    expected_kind: Optional[str]      # what the contract says the kind must be (None: no claim)
    events: list[str] = field(default_factory=list)
    kind: Optional[str] = None
    reason: Optional[str] = None
    drift: Optional[dict] = None      # what the cycle's share of the reconciliation found (runs.drift)
    mismatches: list[str] = field(default_factory=list)

    def describe(self) -> str:
        head = (f"step {self.index}: now={self.now.isoformat()} ({self.why}) via {self.entry}"
                f"{' full=>true' if self.full_requested else ''}: kind={self.kind!r} reason={self.reason!r}"
                f"{f' drift={self.drift}' if self.drift else ''}")
        return "\n".join([head] + [f"    {e}" for e in self.events])


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat(sep=' ')}'"
    if isinstance(value, (list, tuple)):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


class _Writer:
    """Runs statements on one connection and keeps a readable copy of each."""

    def __init__(self, conn, schema: str, log: list[str], tag: str = ""):
        self.conn, self.schema, self.log, self.tag = conn, schema, log, tag

    def q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))

    def run(self, text: str, params: tuple = ()) -> None:
        shown = text.replace("{s}", self.schema)
        for p in params:
            shown = shown.replace("%s", _literal(p), 1)
        self.log.append(f"{self.tag}{shown}")
        self.conn.execute(self.q(text), params)

    def rows(self, text: str, params: tuple = ()) -> list[tuple]:
        return self.conn.execute(self.q(text), params).fetchall()


class EventStream:
    """A seeded stream of events and cycles on `schema` (see the module's doc)."""

    def __init__(self, conn, schema: str, seed: int, hours: int, *, dataset: Optional[Dataset] = None,
                 out_of_order: Optional[bool] = None, stop_on_mismatch: bool = False,
                 before_cycle: Optional[Callable[["EventStream", "Step"], None]] = None,
                 reconcile_every: str = ROUND):
        self.conn, self.schema, self.seed, self.hours = conn, schema, seed, hours
        self.dataset = dataset if dataset is not None else random_dataset(seed)
        self.rnd = random.Random(f"stream-{seed}")
        # one out-of-order pair of writers in about a third of the streams (each costs a settle wait)
        self.out_of_order = (self.rnd.random() < 0.35) if out_of_order is None else out_of_order
        self.stop_on_mismatch = stop_on_mismatch
        # called after each step's writes, right before its cycle (not before the first one):
        # e.g. to lose what one capture path recorded and show that the streams notice
        self.before_cycle = before_cycle
        self.reconcile_every = reconcile_every
        self.steps: list[Step] = []
        self._tx = 0
        self._in_tx = False
        self._full_arg = None

    # -- set-up --------------------------------------------------------------
    def setup(self) -> None:
        conn = self.conn
        load_dataset(conn, self.schema, self.dataset)
        # the dataset's plays carry their ids: new plays take the next ones
        conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({t}, 'id'), "
                             "(SELECT COALESCE(max(id), 0) + 1 FROM {s}.plays))").format(
            t=sql.Literal(f'"{self.schema}".plays'), s=sql.Identifier(self.schema)))
        use_source_schema(conn, self.schema)
        enable_strategies(conn, ALL_STRATEGIES)
        conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'lock_timeout'", (SETTLE_LOCK_TIMEOUT,))
        conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'reconcile_every'", (self.reconcile_every,))
        conn.execute("SELECT trending.install_capture()")
        (self._full_arg,) = conn.execute(
            "SELECT bool_or('full' = ANY (p.proargnames)) FROM pg_proc p "
            "WHERE p.pronamespace = 'trending'::regnamespace AND p.proname = 'recompute'").fetchone()

    # -- cycles --------------------------------------------------------------
    def cycle(self, step: Step) -> None:
        self._cycle(step)
        (step.drift,) = self.conn.execute("SELECT drift FROM trending.runs WHERE status = 'ok' "
                                          "ORDER BY run_id DESC LIMIT 1").fetchone()

    def _cycle(self, step: Step) -> None:
        conn = self.conn
        full = step.full_requested
        if step.entry == "recompute":
            if full and self._full_arg:
                (summary,) = conn.execute("SELECT trending.recompute(%s, full => true)", (step.now,)).fetchone()
                summary = summary if isinstance(summary, dict) else json.loads(summary)
            else:
                summary = recompute(conn, step.now)
            cyc = summary.get("cycle") or {}
            step.kind, step.reason = cyc.get("kind"), cyc.get("reason")
        else:
            (before,) = conn.execute("SELECT COALESCE(max(run_id), 0) FROM trending.runs").fetchone()
            if full and self._full_arg:
                conn.execute("CALL trending.scheduled_recompute(%s, full => true)", (step.now,))
            else:
                conn.execute("CALL trending.scheduled_recompute(%s)", (step.now,))
            row = conn.execute("SELECT status, cycle_kind, cycle_reason, message FROM trending.runs "
                               "WHERE run_id > %s AND trigger = 'scheduled' ORDER BY run_id DESC LIMIT 1",
                               (before,)).fetchone()
            if row is None or row[0] != "ok":
                raise AssertionError(f"seed {self.seed}: the scheduled run did not succeed: {row}\n"
                                     + self.describe())
            step.kind, step.reason = row[1], row[2]

    def check(self, step: Step) -> None:
        from support.faults import oracle_mismatches
        step.mismatches = oracle_mismatches(self.conn, self.schema, step.now, ALL_STRATEGIES)

    # -- time ------------------------------------------------------------------
    def _next_now(self, prev: datetime, went_back: bool) -> tuple[datetime, str, Optional[str]]:
        """The next cycle's now, how it moved, and the kind the contract requires."""
        rnd = self.rnd
        r = rnd.random()
        if r < 0.08 and not went_back:
            back = timedelta(minutes=rnd.randint(1, 30 * 60), microseconds=rnd.randrange(1_000_000))
            return prev - back, f"backwards {back}", "full"
        if r < 0.22:
            jump = timedelta(hours=rnd.randint(2, 30), minutes=rnd.choice([0, 0, 17]),
                             seconds=rnd.choice([0, 23]), microseconds=rnd.choice([0, 500_000]))
            # a full cycle only when finding what changed costs more (incremental.decide):
            # never for a catalog as small as these
            return prev + jump, f"skipped to +{jump}", "incremental"
        if r < 0.32:
            step = timedelta(minutes=rnd.randint(1, 59), seconds=rnd.randint(0, 59))
            return prev + step, f"+{step}", "incremental"
        # about an hour, often off the hour (hh:17:23.5 and the like)
        step = HOUR + rnd.choice([timedelta(0), timedelta(0), timedelta(minutes=17, seconds=23, milliseconds=500),
                                  timedelta(seconds=rnd.randint(-600, 600), microseconds=rnd.randrange(1_000_000))])
        return prev + step, f"+{step}", "incremental"

    # -- the stream ----------------------------------------------------------
    def run(self) -> list[Step]:
        self.setup()
        now = self.dataset.now.astimezone(timezone.utc)
        first = Step(0, now, self.rnd.choice(["recompute", "scheduled"]), False, "first", "full")
        self._cycle_and_check(first)
        went_back = False
        ooo_at = self.rnd.randint(1, max(1, self.hours - 1)) if self.out_of_order else None
        pending_a = None
        for i in range(1, self.hours + 1):
            prev = now
            now, why, expected = self._next_now(prev, went_back)
            went_back = went_back or now < prev
            entry = self.rnd.choice(["recompute", "scheduled"])
            full = self.rnd.random() < 0.05 and bool(self._full_arg)   # drawn either way: the same stream
            if full:
                expected = "full"
            # (1.1: a full cycle at an earlier now with writer A in flight could not rebuild the
            # state, so the next one ran full; 1.2 arms at its snapshot, and A's rows wait for it)
            step = Step(i, now, entry, full, why, expected)
            log = step.events
            if pending_a is not None:
                log.append(f"(writer A of step {i - 1} committed after that step's cycle)")
                pending_a = None
            self.apply_batch(now, _Writer(self.conn, self.schema, log))
            if i == ooo_at:
                a = self._out_of_order_begin(now, step)
                try:
                    if self.before_cycle is not None:
                        self.before_cycle(self, step)
                    self._cycle_and_check(step)
                    step.expected_kind = None   # a writer in flight: no claim on this one
                finally:
                    a.commit()
                    a.close()
                pending_a = True
            else:
                if self.before_cycle is not None:
                    self.before_cycle(self, step)
                self._cycle_and_check(step)
            if self.stop_on_mismatch and step.mismatches:
                break
        return self.steps

    def _cycle_and_check(self, step: Step) -> None:
        self.steps.append(step)
        self.cycle(step)
        self.check(step)

    def describe(self, upto: Optional[int] = None) -> str:
        steps = self.steps if upto is None else self.steps[:upto + 1]
        return "\n".join([f"stream seed={self.seed} schema={self.schema} hours={self.hours}: "
                          f"{self.dataset.summary()}"] + [s.describe() for s in steps])

    # -- events ----------------------------------------------------------------
    def _txhash(self, tag: str = "ev") -> str:
        self._tx += 1
        return f"{tag}-{self.seed}-{self._tx}"

    def apply_batch(self, now: datetime, w: _Writer) -> None:
        """A random batch of events for the cycle at `now`, each committed on its own
        (autocommit) or, for the multi-statement ones, in one transaction."""
        rnd = self.rnd
        events = [self.ev_plays, self.ev_plays, self.ev_late_plays, self.ev_edge_plays, self.ev_play_delete,
                  self.ev_play_update, self.ev_action, self.ev_action, self.ev_action, self.ev_track,
                  self.ev_track, self.ev_age_crossing, self.ev_playlist, self.ev_playlist, self.ev_agg_user,
                  self.ev_users, self.ev_aggregates, self.ev_aggregates]
        now_utc = now.astimezone(timezone.utc).replace(tzinfo=None)
        for _ in range(rnd.randint(2, 7)):
            event = rnd.choice(events)
            if rnd.random() < 0.3:
                with self._transaction(w):
                    event(now_utc, w)
                    rnd.choice(events)(now_utc, w)
            else:
                event(now_utc, w)

    @contextmanager
    def _transaction(self, w: _Writer):
        """One transaction (a savepoint inside another), logged as BEGIN/COMMIT once."""
        outer = not self._in_tx
        if outer:
            w.log.append("BEGIN;")
            self._in_tx = True
        try:
            with self.conn.transaction():
                yield
        finally:
            if outer:
                self._in_tx = False
        if outer:
            w.log.append("COMMIT;")

    # ids to pick from (ORDER BY: a seed replays the same picks)
    def _ids(self, w: _Writer, query: str) -> list:
        return [r[0] if len(r) == 1 else r for r in w.rows(query)]

    def _track_id(self, w: _Writer) -> int:
        ids = self._ids(w, "SELECT DISTINCT track_id FROM {s}.tracks ORDER BY 1")
        if not ids or self.rnd.random() < 0.05:
            return self.rnd.randint(600, 700)                       # no such track
        return self.rnd.choice(ids)

    def _playlist_id(self, w: _Writer) -> int:
        ids = self._ids(w, "SELECT DISTINCT playlist_id FROM {s}.playlists ORDER BY 1")
        if not ids or self.rnd.random() < 0.05:
            return self.rnd.randint(100, 120)
        return self.rnd.choice(ids)

    def _user_id(self, w: _Writer) -> int:
        ids = self._ids(w, "SELECT user_id FROM {s}.users UNION SELECT user_id FROM {s}.aggregate_user ORDER BY 1")
        if not ids or self.rnd.random() < 0.05:
            return self.rnd.choice([900, 901, self.rnd.randint(200, 260)])
        return self.rnd.choice(ids)

    def _time(self, now: datetime) -> datetime:
        """An event time for the cycle at `now` (naive UTC): mostly recent, some late,
        some exactly on a window edge of this cycle or crossing one before the next."""
        rnd = self.rnd
        r = rnd.random()
        if r < 0.45:
            return now - timedelta(microseconds=rnd.randrange(3_600_000_000))
        if r < 0.6:
            return now - timedelta(hours=rnd.randint(1, 48), seconds=rnd.randint(0, 3599))
        if r < 0.75:
            return now - timedelta(days=rnd.randint(1, 40), seconds=rnd.randint(0, 86399))
        if r < 0.95:
            return self._edge(now)
        return now + timedelta(minutes=rnd.randint(1, 120))        # in the future (a clock ahead)

    def _edge(self, now: datetime) -> datetime:
        rnd = self.rnd
        month = _minus_months(now, 1)
        hour = now.replace(minute=0, second=0, microsecond=0)
        edges = [now - 7 * DAY, now - 7 * DAY + US, now - 7 * DAY - US, month, month + US, month - US,
                 now - 30 * DAY, now - 30 * DAY + US, now - 365 * DAY, now - 365 * DAY + US, now - 365 * DAY - US,
                 hour, hour - HOUR, hour - 7 * DAY, _minus_months(hour, 1), now, now - US,
                 # leaves a window between this cycle and the next one
                 now - 7 * DAY + timedelta(minutes=rnd.randint(1, 70)),
                 month + timedelta(minutes=rnd.randint(1, 70)),
                 now - 30 * DAY + timedelta(minutes=rnd.randint(1, 70)),
                 now - 365 * DAY + timedelta(minutes=rnd.randint(1, 70))]
        return rnd.choice(edges)

    # plays ---------------------------------------------------------------------
    def _insert_plays(self, w: _Writer, times: list[datetime]) -> None:
        items = [self._track_id(w) for _ in times]
        users = [None if self.rnd.random() < 0.3 else self._user_id(w) for _ in times]
        w.run("INSERT INTO {s}.plays (user_id, play_item_id, created_at) "
              "SELECT * FROM unnest(%s::int[], %s::int[], %s::timestamp[])", (users, items, times))

    def ev_plays(self, now, w):
        self._insert_plays(w, [self._time(now) for _ in range(self.rnd.randint(1, 8))])

    def ev_late_plays(self, now, w):
        rnd = self.rnd
        late = [now - timedelta(hours=rnd.randint(2, 23)), now - timedelta(days=rnd.randint(1, 6)),
                now - timedelta(days=rnd.randint(8, 29)), now - timedelta(days=rnd.randint(31, 60)),
                now - timedelta(days=rnd.randint(366, 800))]
        self._insert_plays(w, [rnd.choice(late) - timedelta(seconds=rnd.randint(0, 3599))
                               for _ in range(rnd.randint(1, 5))])

    def ev_edge_plays(self, now, w):
        self._insert_plays(w, [self._edge(now) for _ in range(self.rnd.randint(1, 4))])

    def ev_play_delete(self, now, w):
        ids = self._ids(w, "SELECT id FROM {s}.plays ORDER BY id")
        if not ids:
            return self.ev_plays(now, w)
        if self.rnd.random() < 0.7:
            w.run("DELETE FROM {s}.plays WHERE id = ANY (%s::int[])",
                  (sorted(self.rnd.sample(ids, min(len(ids), self.rnd.randint(1, 4)))),))
        else:
            w.run("DELETE FROM {s}.plays WHERE play_item_id = %s AND created_at > %s",
                  (self._track_id(w), now - timedelta(days=self.rnd.choice([1, 7, 31]))))

    def ev_play_update(self, now, w):
        ids = self._ids(w, "SELECT id FROM {s}.plays ORDER BY id")
        if not ids:
            return self.ev_plays(now, w)
        pid = self.rnd.choice(ids)
        if self.rnd.random() < 0.5:
            w.run("UPDATE {s}.plays SET created_at = %s WHERE id = %s", (self._time(now), pid))
        else:
            w.run("UPDATE {s}.plays SET play_item_id = %s WHERE id = %s", (self._track_id(w), pid))

    # saves and reposts ---------------------------------------------------------
    def ev_action(self, now, w):
        rnd = self.rnd
        table, item_col, type_col = rnd.choice([("saves", "save_item_id", "save_type"),
                                                ("reposts", "repost_item_id", "repost_type")])
        key = f"user_id = %s AND {item_col} = %s AND {type_col} = %s AND txhash = %s"
        rows = w.rows(f"SELECT user_id, {item_col}, {type_col}::text, txhash, is_current, is_delete "
                      f"FROM {{s}}.{table} ORDER BY user_id, {item_col}, {type_col}, txhash")
        live = [r for r in rows if r[4] is True and r[5] is False]
        dead = [r for r in rows if r[4] is True and r[5] is not False]
        what = rnd.choice(["new", "new", "unflip", "unrow", "reflip", "rerow", "null", "drop", "move"])
        insert = (f"INSERT INTO {{s}}.{table} (user_id, {item_col}, {type_col}, txhash, is_current, is_delete, "
                  f"created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)")
        if what == "new" or (what in ("unflip", "unrow", "null", "drop", "move") and not live) \
                or (what in ("reflip", "rerow") and not dead):
            kind = rnd.choices(["track", "playlist", "album"], [0.65, 0.25, 0.1])[0]
            item = self._track_id(w) if kind == "track" or rnd.random() < 0.3 else self._playlist_id(w)
            w.run(insert, (self._user_id(w), item, kind, self._txhash(table), True, False, self._time(now)))
        elif what == "unflip":                                     # un-save in place
            r = rnd.choice(live)
            w.run(f"UPDATE {{s}}.{table} SET is_delete = true WHERE {key}", r[:4])
        elif what == "unrow":                                      # un-save by a new current row
            r = rnd.choice(live)
            with self._transaction(w):
                w.run(f"UPDATE {{s}}.{table} SET is_current = false WHERE {key}", r[:4])
                w.run(insert, (*r[:3], self._txhash(table), True, True, self._time(now)))
        elif what == "reflip":                                     # re-save in place
            r = rnd.choice(dead)
            if rnd.random() < 0.5:
                w.run(f"UPDATE {{s}}.{table} SET is_delete = false WHERE {key}", r[:4])
            else:
                w.run(f"UPDATE {{s}}.{table} SET is_delete = false, created_at = %s WHERE {key}",
                      (self._time(now), *r[:4]))
        elif what == "rerow":                                      # re-save by a new current row
            r = rnd.choice(dead)
            with self._transaction(w):
                w.run(f"UPDATE {{s}}.{table} SET is_current = false WHERE {key}", r[:4])
                w.run(insert, (*r[:3], self._txhash(table), True, False, self._time(now)))
        elif what == "null":
            r = rnd.choice(live)
            col = rnd.choice(["is_current", "is_delete"])
            w.run(f"UPDATE {{s}}.{table} SET {col} = NULL WHERE {key}", r[:4])
        elif what == "drop":
            r = rnd.choice(live)
            w.run(f"DELETE FROM {{s}}.{table} WHERE {key}", r[:4])
        else:                                                       # the row moves to another item
            r = rnd.choice(live)
            w.run(f"UPDATE {{s}}.{table} SET {item_col} = %s WHERE {key}",
                  (self._track_id(w) if r[2] == "track" else self._playlist_id(w), *r[:4]))

    # tracks --------------------------------------------------------------------
    def _release(self, now: datetime):
        rnd = self.rnd
        return rnd.choice([None, now + timedelta(minutes=rnd.randint(1, 70)),          # crosses now soon
                           now - timedelta(days=rnd.choice(AGE_EDGES)) + timedelta(minutes=rnd.randint(1, 70)),
                           now - timedelta(days=rnd.randint(0, 400)), now + timedelta(days=rnd.randint(1, 40))])

    def ev_track(self, now, w):
        rnd = self.rnd
        tid = self._track_id(w)
        what = rnd.choice(["unlist", "delete", "revive", "newrow", "newrow", "owner", "stem", "release",
                           "second", "new", "drop"])
        if what == "unlist":
            w.run("UPDATE {s}.tracks SET is_unlisted = NOT COALESCE(is_unlisted, false) "
                  "WHERE track_id = %s AND is_current", (tid,))
        elif what == "delete":
            w.run("UPDATE {s}.tracks SET is_delete = true WHERE track_id = %s AND is_current", (tid,))
        elif what == "revive":
            w.run("UPDATE {s}.tracks SET is_delete = false, is_unlisted = false, stem_of = NULL "
                  "WHERE track_id = %s AND is_current", (tid,))
        elif what == "newrow":                 # a new current row: new genre and release date, maybe owner
            genre = rnd.choice(["Electronic", "Rock", "Lo-Fi", "Jazz", None, ""])
            owner = self._user_id(w) if rnd.random() < 0.3 else None
            with self._transaction(w):
                w.run("UPDATE {s}.tracks SET is_current = false WHERE track_id = %s AND is_current", (tid,))
                w.run("INSERT INTO {s}.tracks (track_id, txhash, owner_id, genre, created_at, release_date, "
                      "is_current, is_delete, is_unlisted) "
                      "SELECT %s, %s, COALESCE(%s, (SELECT max(owner_id) FROM {s}.tracks WHERE track_id = %s), 1), "
                      "%s, COALESCE((SELECT max(created_at) FROM {s}.tracks WHERE track_id = %s), %s), %s, "
                      "true, false, false",
                      (tid, self._txhash("t"), owner, tid, genre, tid, self._time(now), self._release(now)))
        elif what == "owner":
            w.run("UPDATE {s}.tracks SET owner_id = %s WHERE track_id = %s AND is_current", (self._user_id(w), tid))
        elif what == "stem":
            w.run("UPDATE {s}.tracks SET stem_of = %s::jsonb WHERE track_id = %s AND is_current",
                  (rnd.choice(['{"parent_track_id": 1}', "null", None]), tid))
        elif what == "release":
            w.run("UPDATE {s}.tracks SET release_date = %s WHERE track_id = %s AND is_current",
                  (self._release(now), tid))
        elif what == "second":                 # a second current row: the id is skipped
            w.run("INSERT INTO {s}.tracks (track_id, txhash, owner_id, genre, created_at, is_current, "
                  "is_delete, is_unlisted) VALUES (%s, %s, %s, 'Rock', %s, true, false, false)",
                  (tid, self._txhash("t"), self._user_id(w), self._time(now)))
        elif what == "new":
            new = rnd.randint(500, 599)
            w.run("INSERT INTO {s}.tracks (track_id, txhash, owner_id, genre, created_at, release_date, "
                  "is_current, is_delete, is_unlisted) VALUES (%s, %s, %s, 'Electronic', %s, %s, true, false, false)",
                  (new, self._txhash("t"), self._user_id(w), self._time(now), self._release(now)))
        else:
            w.run("DELETE FROM {s}.tracks WHERE track_id = %s AND NOT COALESCE(is_current, false)", (tid,))

    def ev_age_crossing(self, now, w):
        """A track or playlist whose age in days crosses 7/14/30/60/365 soon after this cycle."""
        rnd = self.rnd
        base = now - timedelta(days=rnd.choice(AGE_EDGES)) + timedelta(minutes=rnd.randint(1, 70))
        col = rnd.choice(["created_at", "release_date"])
        if rnd.random() < 0.6:
            w.run(f"UPDATE {{s}}.tracks SET {col} = %s WHERE track_id = %s AND is_current", (base, self._track_id(w)))
        else:
            w.run(f"UPDATE {{s}}.playlists SET {col} = %s WHERE playlist_id = %s AND is_current",
                  (base, self._playlist_id(w)))

    # playlists -------------------------------------------------------------------
    def _contents(self) -> str:
        n = self.rnd.choice([0, 2, 3, 3, 5])
        return json.dumps({"track_ids": [{"track": self.rnd.randint(1, 500), "time": 1700000000 + i}
                                         for i in range(n)]})

    def ev_playlist(self, now, w):
        rnd = self.rnd
        pid = self._playlist_id(w)
        what = rnd.choice(["private", "delete", "revive", "newrow", "newrow", "owner", "contents", "release",
                           "new", "second"])
        if what == "private":
            w.run("UPDATE {s}.playlists SET is_private = NOT COALESCE(is_private, false) "
                  "WHERE playlist_id = %s AND is_current", (pid,))
        elif what == "delete":
            w.run("UPDATE {s}.playlists SET is_delete = true WHERE playlist_id = %s AND is_current", (pid,))
        elif what == "revive":
            w.run("UPDATE {s}.playlists SET is_delete = false, is_private = false "
                  "WHERE playlist_id = %s AND is_current", (pid,))
        elif what == "newrow":
            owner = self._user_id(w) if rnd.random() < 0.3 else None
            with self._transaction(w):
                w.run("UPDATE {s}.playlists SET is_current = false WHERE playlist_id = %s AND is_current", (pid,))
                w.run("INSERT INTO {s}.playlists (playlist_id, txhash, playlist_owner_id, is_album, is_private, "
                      "is_current, is_delete, playlist_contents, created_at, release_date) "
                      "SELECT %s, %s, COALESCE(%s, (SELECT max(playlist_owner_id) FROM {s}.playlists "
                      "WHERE playlist_id = %s), 1), false, false, true, false, %s::jsonb, "
                      "COALESCE((SELECT max(created_at) FROM {s}.playlists WHERE playlist_id = %s), %s), %s",
                      (pid, self._txhash("p"), owner, pid, self._contents(), pid, self._time(now),
                       self._release(now)))
        elif what == "owner":
            w.run("UPDATE {s}.playlists SET playlist_owner_id = %s WHERE playlist_id = %s AND is_current",
                  (self._user_id(w), pid))
        elif what == "contents":
            w.run("UPDATE {s}.playlists SET playlist_contents = %s::jsonb WHERE playlist_id = %s AND is_current",
                  (self._contents(), pid))
        elif what == "release":
            w.run("UPDATE {s}.playlists SET release_date = %s WHERE playlist_id = %s AND is_current",
                  (self._release(now), pid))
        elif what == "new":
            w.run("INSERT INTO {s}.playlists (playlist_id, txhash, playlist_owner_id, is_album, is_private, "
                  "is_current, is_delete, playlist_contents, created_at, release_date) "
                  "VALUES (%s, %s, %s, false, false, true, false, %s::jsonb, %s, %s)",
                  (rnd.randint(100, 120), self._txhash("p"), self._user_id(w), self._contents(), self._time(now),
                   self._release(now)))
        else:
            w.run("INSERT INTO {s}.playlists (playlist_id, txhash, playlist_owner_id, is_current, is_delete, "
                  "is_private, playlist_contents, created_at) VALUES (%s, %s, %s, true, false, false, %s::jsonb, %s)",
                  (pid, self._txhash("p"), self._user_id(w), self._contents(), self._time(now)))

    # users and followers ---------------------------------------------------------
    def _followers(self):
        rnd = self.rnd
        return rnd.choice([None, -1, 0, 2, 3, 4, rnd.randint(5, 5000), rnd.randint(10 ** 9, 10 ** 12)])

    def ev_agg_user(self, now, w):
        rnd = self.rnd
        uid = self._user_id(w)
        what = rnd.choice(["set", "set", "bump", "upsert", "delete"])
        if what == "set":
            w.run("UPDATE {s}.aggregate_user SET follower_count = %s WHERE user_id = %s", (self._followers(), uid))
        elif what == "bump":
            w.run("UPDATE {s}.aggregate_user SET follower_count = follower_count + %s WHERE user_id = %s",
                  (rnd.randint(-3, 3), uid))
        elif what == "upsert":                 # also inserts the row of a user who had none
            w.run("INSERT INTO {s}.aggregate_user (user_id, follower_count, following_count) VALUES (%s, %s, 0) "
                  "ON CONFLICT (user_id) DO UPDATE SET follower_count = excluded.follower_count",
                  (uid, self._followers()))
        else:
            w.run("DELETE FROM {s}.aggregate_user WHERE user_id = %s", (uid,))

    def ev_users(self, now, w):
        rnd = self.rnd
        uid = self._user_id(w)
        what = rnd.choice(["complete", "empty", "empty", "newrow", "flip", "insert", "delete"])
        if what == "complete":
            w.run("UPDATE {s}.users SET cover_photo = %s, cover_photo_sizes = %s, profile_picture = 'p', "
                  "bio = %s WHERE user_id = %s",
                  (rnd.choice(["c", None]), rnd.choice(["sizes", None]), rnd.choice(["bio", ""]), uid))
        elif what == "empty":
            col = rnd.choice(["cover_photo", "profile_picture", "bio", "cover_photo_sizes"])
            w.run(f"UPDATE {{s}}.users SET {col} = NULL WHERE user_id = %s AND is_current", (uid,))
        elif what == "newrow":
            with self._transaction(w):
                w.run("UPDATE {s}.users SET is_current = false WHERE user_id = %s AND is_current", (uid,))
                w.run("INSERT INTO {s}.users (user_id, txhash, is_current, cover_photo, profile_picture, bio) "
                      "VALUES (%s, %s, true, %s, 'p', %s)",
                      (uid, self._txhash("u"), rnd.choice(["c", None]), rnd.choice(["b", None])))
        elif what == "flip":
            w.run("UPDATE {s}.users SET is_current = NOT COALESCE(is_current, false) WHERE user_id = %s", (uid,))
        elif what == "insert":
            w.run("INSERT INTO {s}.users (user_id, txhash, is_current, cover_photo, profile_picture, bio) "
                  "VALUES (%s, %s, %s, 'c', 'p', 'b')", (uid, self._txhash("u"), rnd.choice([True, False])))
        else:
            w.run("DELETE FROM {s}.users WHERE user_id = %s AND NOT COALESCE(is_current, false)", (uid,))

    # aggregate counts --------------------------------------------------------------
    def ev_aggregates(self, now, w):
        rnd = self.rnd
        table = rnd.choice(["aggregate_track", "aggregate_plays", "aggregate_playlist"])
        what = rnd.choice(["update", "update", "upsert", "delete"])
        if table == "aggregate_track":
            tid = self._track_id(w)
            if what == "update":
                w.run("UPDATE {s}.aggregate_track SET repost_count = repost_count + %s, save_count = %s "
                      "WHERE track_id = %s", (rnd.randint(-2, 5), rnd.randint(0, 5000), tid))
            elif what == "upsert":
                w.run("INSERT INTO {s}.aggregate_track (track_id, repost_count, save_count) VALUES (%s, %s, %s) "
                      "ON CONFLICT (track_id) DO UPDATE SET save_count = excluded.save_count",
                      (tid, rnd.randint(0, 100), rnd.randint(0, 1000)))
            else:
                w.run("DELETE FROM {s}.aggregate_track WHERE track_id = %s", (tid,))
        elif table == "aggregate_plays":
            tid = self._track_id(w)
            count = rnd.choice([None, 0, rnd.randint(1, 10 ** 6)])
            if what == "update":
                w.run("UPDATE {s}.aggregate_plays SET count = %s WHERE play_item_id = %s", (count, tid))
            elif what == "upsert":
                w.run("INSERT INTO {s}.aggregate_plays (play_item_id, count) VALUES (%s, %s) "
                      "ON CONFLICT (play_item_id) DO UPDATE SET count = excluded.count", (tid, count))
            else:
                w.run("DELETE FROM {s}.aggregate_plays WHERE play_item_id = %s", (tid,))
        else:
            pid = self._playlist_id(w)
            if what == "update":
                w.run("UPDATE {s}.aggregate_playlist SET repost_count = %s, save_count = save_count + %s "
                      "WHERE playlist_id = %s", (rnd.randint(0, 500), rnd.randint(0, 9), pid))
            elif what == "upsert":
                w.run("INSERT INTO {s}.aggregate_playlist (playlist_id, is_album, repost_count, save_count) "
                      "VALUES (%s, false, %s, %s) ON CONFLICT (playlist_id) DO UPDATE "
                      "SET repost_count = excluded.repost_count", (pid, rnd.randint(0, 50), rnd.randint(0, 50)))
            else:
                w.run("DELETE FROM {s}.aggregate_playlist WHERE playlist_id = %s", (pid,))

    # two writers committing out of order around a cycle ------------------------------
    def _out_of_order_begin(self, now: datetime, step: Step) -> psycopg.Connection:
        """Writer A begins and writes (drawing the lower capture numbers), writer B
        (this connection) writes and commits; A is returned still open: the cycle
        runs, then A commits, and the next cycle must see A's changes.
        A only inserts, and updates a user B does not touch, so neither waits."""
        rnd = self.rnd
        now_utc = now.astimezone(timezone.utc).replace(tzinfo=None)
        b = _Writer(self.conn, self.schema, step.events, "B: ")
        users = self._ids(b, "SELECT user_id FROM {s}.aggregate_user ORDER BY 1")
        user_a = rnd.choice(users) if users else None
        a_conn = psycopg.connect(self.conn.info.dsn, autocommit=False)
        a = _Writer(a_conn, self.schema, step.events, "A (commits after the cycle): ")
        try:
            a.run("INSERT INTO {s}.plays (user_id, play_item_id, created_at) "
                  "SELECT NULL, unnest(%s::int[]), unnest(%s::timestamp[])",
                  ([self._track_id(b) for _ in range(3)],
                   [now_utc - timedelta(minutes=rnd.randint(1, 50)), now_utc - timedelta(days=rnd.randint(1, 6)),
                    now_utc - timedelta(hours=rnd.randint(1, 5))]))
            a.run("INSERT INTO {s}.saves (user_id, save_item_id, save_type, txhash, is_current, is_delete, "
                  "created_at) VALUES (%s, %s, 'track', %s, true, false, %s)",
                  (self._user_id(b), self._track_id(b), self._txhash("A"), now_utc - timedelta(minutes=5)))
            if user_a is not None:
                a.run("UPDATE {s}.aggregate_user SET follower_count = %s WHERE user_id = %s",
                      (rnd.choice([0, 2, 5000, 10 ** 10]), user_a))
            # B: inserts, and a follower count of another user, committed first
            b.run("INSERT INTO {s}.plays (user_id, play_item_id, created_at) VALUES (NULL, %s, %s)",
                  (self._track_id(b), now_utc - timedelta(minutes=rnd.randint(1, 50))))
            b.run("INSERT INTO {s}.reposts (user_id, repost_item_id, repost_type, txhash, is_current, is_delete, "
                  "created_at) VALUES (%s, %s, 'track', %s, true, false, %s)",
                  (self._user_id(b), self._track_id(b), self._txhash("B"), now_utc - timedelta(minutes=7)))
            others = [u for u in users if u != user_a]
            if others:
                b.run("UPDATE {s}.aggregate_user SET follower_count = %s WHERE user_id = %s",
                      (rnd.choice([1, 3, 70000]), rnd.choice(others)))
        except BaseException:
            a_conn.close()
            raise
        return a_conn


def run_stream(conn, schema: str, seed: int, hours: int, **options) -> list[tuple[datetime, str, list[str]]]:
    """Run the stream of `seed` for `hours` cycles after the first on `schema`
    (created afresh, left in place) of the database of `conn` (an autocommit
    superuser connection): [(now, kind, mismatches with the oracle)] per cycle,
    the first (full) one included. `options`: see EventStream."""
    stream = EventStream(conn, schema, seed, hours, **options)
    return [(s.now, s.kind, s.mismatches) for s in stream.run()]


def lose_capture(table: str) -> Callable[[EventStream, Step], None]:
    """A before_cycle hook that switches one capture path off: it deletes what
    the capture recorded for `table` since the last cycle (as a trigger that
    stopped recording would leave it), which nothing in the capture notices."""
    def hook(stream: EventStream, step: Step) -> None:
        if table == "plays":
            stream.conn.execute("DELETE FROM trending._capture_plays")
        else:
            stream.conn.execute("DELETE FROM trending._capture_changes WHERE source = "
                                "(SELECT source FROM trending._capture_catalog WHERE table_name = %s)", (table,))
        step.events.append(f"-- the capture of {table} switched off: its delta rows deleted before the cycle")
    return hook


def lose_capture_once(table: str, step_index: int) -> Callable[[EventStream, Step], None]:
    """lose_capture(table), before the cycle of step `step_index` only: a
    capture that missed one statement's changes (drift a reconciliation must find)."""
    lose = lose_capture(table)

    def hook(stream: EventStream, step: Step) -> None:
        if step.index == step_index:
            lose(stream, step)
    return hook


__all__ = ["EventStream", "Step", "run_stream", "lose_capture", "lose_capture_once", "STEADY_KINDS", "drop_schema"]
