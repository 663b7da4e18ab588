"""What every benchmark contender is, and the extension as two of them.

A contender owns a pair of score tables (docs/reference.md, Outputs) in a schema of its
own, and runs one cycle for a given `now`. The runner does everything else
(checkpoint, WAL and row counts, the API reader, VACUUM, the score check), so
a new contender is a subclass with `setup` and `cycle`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from psycopg import sql

# the reference's registered strategies: (type, version, kind, time ranges). The
# benchmark switches all four on for every contender.
STRATEGIES = (
    ("TRACKS", "pnagD", "track", ("week", "month", "allTime")),
    ("TRACKS", "AnlGe", "track", ("week", "month", "allTime")),
    ("UNDERGROUND_TRACKS", "pnagD", "track", ("week", "month", "allTime")),
    ("PLAYLISTS", "pnagD", "playlist", ("week", "month", "year")),
)

MAIN_DB = "bench"


@dataclass
class Outcome:
    """What a contender reports about one cycle besides what the runner measures.

    `flags` are shown next to the figures (e.g. B's timeout and retry);
    `detail` is kept raw in results.json (e.g. the extension's summary)."""
    flags: list = field(default_factory=list)
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """Knobs a contender's cycle may need."""
    b_timeout_s: float = 120.0      # B's statement_timeout before its nested-loop-off retry
    b_retry_timeout_s: float | None = None  # the retry's (a guard, not a limit): 10x b_timeout_s by default
    work_mem: str = "128MB"         # every contender's session work_mem (the extension's own setting)


class Contender:
    """Base class. Subclasses set the class attributes and implement setup/cycle."""

    name = "?"
    description = ""
    schema = "public"
    database = MAIN_DB
    store_zeros = False            # rows with score 0 are stored (ignored by the score check)
    reader_touch = None            # an sql.Identifier: another relation the API reader selects from (an input view)

    def setup(self, conn, source_schema: str) -> None:
        raise NotImplementedError

    def cycle(self, conn, now: datetime, options: Options) -> Outcome:
        raise NotImplementedError

    def before_cycle(self, admin, phase: str) -> None:
        """On the runner's superuser connection, before the measured cycle of
        `phase` (outside the measurement): e.g. make the next cycle a reconcile."""

    def after_cycle(self, admin, phase: str) -> None:
        """Undo before_cycle, after the measurement."""

    def retire(self, admin) -> None:
        """Free the contender's disk once the protocol has no more phases for it
        (a production-size run is short of disk): by default, keep everything."""

    # -- what the runner measures ------------------------------------------------
    @property
    def track_table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, "track_trending_scores")

    @property
    def playlist_table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, "playlist_trending_scores")

    def score_tables(self) -> list:
        return [self.track_table, self.playlist_table]

    def vacuum_targets(self, conn) -> list:
        """Every table and materialized view of the contender's schema: its score
        tables, its input views, its own bookkeeping (all of it is its cost)."""
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind IN ('r', 'm') AND c.relpersistence = 'p'"
            " ORDER BY c.relname", (self.schema,)).fetchall()
        return [sql.Identifier(self.schema, name) for (name,) in rows]


class Extension(Contender):
    """trending: `SELECT trending.recompute(now)`, one transaction."""

    name = "trending"
    description = "the extension: SELECT trending.recompute(now)"
    schema = "trending"

    def setup(self, conn, source_schema: str) -> None:
        conn.execute("CREATE EXTENSION IF NOT EXISTS trending CASCADE")
        conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'",
                     (source_schema,))
        conn.execute("UPDATE trending.strategies SET enabled = true WHERE NOT enabled")

    def cycle(self, conn, now: datetime, options: Options) -> Outcome:
        (summary,) = conn.execute("SELECT trending.recompute(now => %s)", (now,)).fetchone()
        return Outcome(detail=summary if isinstance(summary, dict) else {"summary": summary})

    def work_mem(self, conn) -> str | None:
        """The extension's own cycle work_mem, which every contender then gets too."""
        row = conn.execute("SELECT value FROM trending.settings WHERE name = 'work_mem'").fetchone()
        return row[0] if row else None


class ExtensionProcedure(Extension):
    """trending through the committing procedure pg_cron calls. It needs its own
    database (the extension's score tables exist once per database), which the
    runner clones from the main one before any cycle and advances in step."""

    name = "trending-proc"
    description = "the extension: CALL trending.scheduled_recompute(now)"
    database = "bench_proc"

    def cycle(self, conn, now: datetime, options: Options) -> Outcome:
        conn.execute("CALL trending.scheduled_recompute(now => %s)", (now,))
        # each step is its own transaction but the last slice, record_movers and
        # write_state, which commit together: the longest transaction is the
        # longest time a snapshot (and so the xmin horizon) is held
        (step_ms, names) = conn.execute(
            "SELECT step_ms, ARRAY(SELECT s ->> 'name' FROM pg_catalog.jsonb_array_elements(plan -> 'steps') AS s) "
            "FROM trending.runs WHERE trigger = 'scheduled' ORDER BY run_id DESC LIMIT 1").fetchone()
        longest = max(step_ms, key=step_ms.get)
        transactions = {name: step_ms[name] for name in names[:-3]}
        transactions[" + ".join(names[-3:])] = round(sum(step_ms[name] for name in names[-3:]), 1)
        longest_transaction = max(transactions, key=transactions.get)
        return Outcome(detail={"step_ms": step_ms, "longest_step": longest, "longest_step_ms": step_ms[longest],
                               "longest_transaction": longest_transaction,
                               "longest_transaction_ms": transactions[longest_transaction]})



def has_full_argument(conn) -> bool:
    """recompute(now, full) exists (issue 9); before it lands, recompute(now) only."""
    (found,) = conn.execute(
        "SELECT to_regprocedure('trending.recompute(timestamp with time zone, boolean)') IS NOT NULL").fetchone()
    return bool(found)


def has_setting(conn, name: str) -> bool:
    return conn.execute("SELECT 1 FROM trending.settings WHERE name = %s", (name,)).fetchone() is not None


def cycle_kind(summary) -> str | None:
    """The summary's cycle.kind ('full', 'incremental', 'reconcile'), when it says."""
    cycle = summary.get("cycle") if isinstance(summary, dict) else None
    return cycle.get("kind") if isinstance(cycle, dict) else None


# By default steady cycles check the smallest share of the state there is (a
# round of 7 days: 1/168 per hourly cycle); the "reconcile" phase checks the
# rest of the round in one cycle (reconcile_every 1 hour), measured on its
# own. --reconcile-every (the rotation protocol: the default day) sets
# another round, and with it each hour's share.
NO_RECONCILE = "7 days"
RECONCILE_NOW = "1 hour"   # the least it takes; the last reconcile is hours older
RECONCILE_PHASE = "reconcile"


class ExtensionIncremental(Extension):
    """trending with the change capture installed: after the first (full)
    cycle, hourly cycles are incremental. Its own database (the capture's
    triggers sit on that database's source tables, and the other contenders'
    writers must not pay for them); the runner advances it in step."""

    name = "trending-incr"
    description = ("the extension with the change capture (trending.install_capture()): "
                   "SELECT trending.recompute(now), incremental after the first cycle")
    database = "bench_incr"
    reconcile_every = NO_RECONCILE   # the round of reconciliation (the runner sets its config's)

    def setup(self, conn, source_schema: str) -> None:
        super().setup(conn, source_schema)
        conn.execute("SET client_min_messages = warning")
        conn.execute("SELECT trending.install_capture()")
        conn.execute("RESET client_min_messages")
        self._set_reconcile_every(conn, self.reconcile_every)

    @staticmethod
    def _set_reconcile_every(conn, value: str) -> bool:
        if not has_setting(conn, "reconcile_every"):
            return False
        conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'reconcile_every'", (value,))
        return True

    def before_cycle(self, admin, phase: str) -> None:
        # a reconcile by the setting when it exists, else (until it lands) a forced full cycle
        self.fallback_full = phase == RECONCILE_PHASE and not self._set_reconcile_every(admin, RECONCILE_NOW)

    def after_cycle(self, admin, phase: str) -> None:
        if phase == RECONCILE_PHASE:
            self._set_reconcile_every(admin, self.reconcile_every)

    def cycle(self, conn, now: datetime, options: Options) -> Outcome:
        flags = []
        if getattr(self, "fallback_full", False) and has_full_argument(conn):
            flags.append("no reconcile_every setting: forced full cycle instead of a reconcile")
            (summary,) = conn.execute("SELECT trending.recompute(now => %s, full => true)", (now,)).fetchone()
        else:
            if getattr(self, "fallback_full", False):
                flags.append("no reconcile_every setting and no full argument: plain cycle")
            (summary,) = conn.execute("SELECT trending.recompute(now => %s)", (now,)).fetchone()
        detail = summary if isinstance(summary, dict) else {"summary": summary}
        if cycle_kind(detail) is None:
            flags.append("no cycle.kind in the summary")
        return Outcome(flags=flags, detail={"cycle_kind": cycle_kind(detail), **detail})


class ExtensionForcedFull(ExtensionIncremental):
    """trending with the capture installed, every cycle forced full
    (recompute(now, full => true)): what the incremental cycle is measured against
    in the same run; its first cycle is the cold one."""

    name = "trending-full"
    description = "the extension with the change capture, every cycle SELECT trending.recompute(now, full => true)"
    database = "bench_full"

    def before_cycle(self, admin, phase: str) -> None:
        self.fallback_full = False

    def cycle(self, conn, now: datetime, options: Options) -> Outcome:
        if not has_full_argument(conn):
            (summary,) = conn.execute("SELECT trending.recompute(now => %s)", (now,)).fetchone()
            flags = ["recompute(now, full) does not exist yet: plain recompute(now)"]
        else:
            (summary,) = conn.execute("SELECT trending.recompute(now => %s, full => true)", (now,)).fetchone()
            flags = []
        detail = summary if isinstance(summary, dict) else {"summary": summary}
        return Outcome(flags=flags, detail={"cycle_kind": cycle_kind(detail), **detail})
