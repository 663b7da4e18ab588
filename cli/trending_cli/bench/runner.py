"""One benchmark run: a throwaway cluster per scale, the generator's data,
every contender from the same state through the same phases.

Protocol (issue 3, "The benchmark"):

* one database, source data generated once per scale (schema `music`); the
  upstream contenders each in a schema of their own, the extension in its
  own. A contender that needs a database of its own (the extension's
  committing procedure: the extension exists once per database) gets a clone
  made right after generation, advanced in step with the same seed, so its
  source rows are identical;
* phases: cold (empty score tables, unpopulated views), steady (one
  simulated hour later), day (23 more hours), then N hourly cycles in a row
  (at tiny and small). Each phase advances the data once, then runs every
  contender in turn at the same `now`;
* before each measured cycle: the source heaps prewarmed into shared_buffers
  (when they fit in half of it, so no contender inherits a colder cache than
  another), then a CHECKPOINT (so every cycle pays the full-page images of the
  pages it touches first);
* around each cycle: wall time, WAL bytes, rows written (pg_stat_user_tables
  deltas after pg_stat_force_next_flush()), dead tuples (pgstattuple_approx,
  which does not prune, and the statistics' n_dead_tup) and the
  score tables' size after it, and the API read looping on another connection;
  then VACUUM (ANALYZE) of the contender's tables and views, timed, and the
  idle read baseline;
* after each phase: every contender's scores against the extension's.

Server settings: real durability (fsync, full_page_writes) so WAL figures mean
something; max_wal_size and checkpoint_timeout large enough that no checkpoint
starts mid-cycle; autovacuum OFF, because the protocol VACUUMs explicitly
between cycles and an autovacuum worker waking up mid-cycle would add its own
WAL and reclaim dead tuples at random, making both figures unattributable.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import sql

from ..cluster import Cluster
from ..sample_data import SCALES, Scale, generate
from ..sample_data.updates import add_older_plays, simulate_hour
from . import check, measure
from .contenders import (MAIN_DB, NO_RECONCILE, RECONCILE_PHASE, Contender, Extension, ExtensionForcedFull,
                         ExtensionIncremental, ExtensionProcedure, Options, cycle_kind)
from .reader import ApiReader, measure_idle, rows_per_read_key
from .report import REFERENCE_ONLY
from .upstream import UPSTREAM

SOURCE_SCHEMA = "music"
REFERENCE = "trending"
# A month end, so that the calendar '1 mon' window differs from 30 days.
AS_OF = datetime(2025, 3, 31, 6, 0, tzinfo=timezone.utc)

SERVER_SETTINGS = {
    "shared_buffers": "'1GB'",
    "max_wal_size": "'32GB'",
    "min_wal_size": "'1GB'",
    "checkpoint_timeout": "'1h'",
    "autovacuum": "off",
    "track_io_timing": "on",
    "maintenance_work_mem": "'512MB'",
    # blocks touched per cycle: every statement, nested ones (inside the
    # extension's functions) included; measure.cycle_blocks sums the top level
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "all",
}

CONTENDERS = {cls.name: cls for cls in (*UPSTREAM, Extension, ExtensionProcedure, ExtensionIncremental,
                                         ExtensionForcedFull)}
DEFAULT_CONTENDERS = ("A", "B", "C", "C0", "trending", "trending-proc", "trending-incr", "trending-full")
LARGE_CONTENDERS = ("C0", "trending", "trending-incr", "trending-full")
PROD_CONTENDERS = ("C0", "trending", "trending-incr")
# The variants of a scale's data (issue 9): the generator's as is; "growth",
# 3x users, tracks, playlists, saves and reposts with the same plays; "older",
# 3x the plays older than a month. Their steady cycles against the base's.
VARIANTS = ("base", "growth", "older")
GROWTH_FACTOR = 3
OLDER_FACTOR = 3
B_TIMEOUT_S = {"tiny": 30, "small": 60, "medium": 120, "large": 300, "prod": 1200}


@dataclass(frozen=True)
class Protocol:
    """Which phases a run has, and which of them each contender is measured in.

    `hourly_cycles` and `reconcile` override the run's options when set;
    `contenders` are the default contenders; `only` names, per contender, the
    only phases it runs (a contender not named runs every phase). The
    reference still runs every phase in which another contender runs: every
    contender's scores are checked against it after every phase it ran.
    """
    name: str
    hourly_cycles: int | None = None
    reconcile: bool | None = None
    reconcile_every: str | None = None   # the incremental contenders' round (None: the run's)
    contenders: tuple | None = None
    only: dict = field(default_factory=dict)


# "prod" (issue 18, item 5): at the upstream's production size the full
# protocol for every contender would take most of a day. C0 and trending
# (no capture) are measured cold and for one steady hour; trending-incr cold,
# for the steady hour and 3 hourly cycles, the day's catch-up (23 hours in
# one cycle) and one reconciling hour. trending still runs every phase, as
# the reference the others' scores are checked against.
PROTOCOLS = {
    "standard": Protocol("standard"),
    "prod": Protocol("prod", hourly_cycles=3, reconcile=True, contenders=PROD_CONTENDERS,
                     only={"C0": ("cold", "steady"), "trending": ("cold", "steady")}),
    # "rotation" (issue 18, items 1 to 3): a day of hourly cycles in a round
    # of reconciliation of the default day (each hour checks 1/24 of the
    # state, and one of them completes the round) for the max/median, with
    # C0 beside the steady hour and trending-full (the state rebuilt every
    # cycle) beside the full ones; trending, the plain full cycle, in every
    # phase.
    "rotation": Protocol("rotation", hourly_cycles=24, reconcile=True, reconcile_every="1 day",
                         contenders=(*PROD_CONTENDERS, "trending-full"),
                         only={"C0": ("cold", "steady"), "trending-full": ("cold", "steady", "day")}),
}


def protocol_for(scale: str, name: str | None) -> Protocol:
    """The named protocol; by default "prod" at scale prod, else "standard"."""
    name = name or ("prod" if scale == "prod" else "standard")
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}") from None


@dataclass(frozen=True)
class Phase:
    name: str
    now: datetime
    advance_from: datetime | None   # simulate (advance_from, now] first; None: the generated data as is


def phases(as_of: datetime, hourly_cycles: int, reconcile: bool = False, gap_hours: int = 0) -> list:
    """cold, steady (+1 h), day (+24 h), then hourly cycles, then (with
    `gap_hours`) one cycle after that many hours without one (issue 18's
    catch-up after a gap shorter than the day's), then (with `reconcile`)
    one more hour in which the incremental contender reconciles."""
    day = as_of + timedelta(hours=24)
    result = [Phase("cold", as_of, None), Phase("steady", as_of + timedelta(hours=1), as_of),
              Phase("day", day, as_of + timedelta(hours=1))]
    result += [Phase(f"hour{k:02d}", day + timedelta(hours=k), day + timedelta(hours=k - 1))
               for k in range(1, hourly_cycles + 1)]
    if gap_hours:
        last = result[-1].now
        result.append(Phase(f"gap{gap_hours}h", last + timedelta(hours=gap_hours), last))
    if reconcile:
        last = result[-1].now
        result.append(Phase(RECONCILE_PHASE, last + timedelta(hours=1), last))
    return result


def variant_volumes(scale: str, variant: str) -> Scale:
    """The generator's volumes for a scale's variant."""
    base = SCALES[scale]
    if variant == "growth":
        g = GROWTH_FACTOR
        return Scale(users=base.users * g, tracks=base.tracks * g, plays=base.plays,
                     playlists=base.playlists * g, saves=base.saves * g, reposts=base.reposts * g)
    return base


def result_key(scale: str, variant: str) -> str:
    """results["scales"] key of a run: the scale, or scale+variant."""
    return scale if variant == "base" else f"{scale}+{variant}"


@dataclass(frozen=True)
class ScaleConfig:
    scale: str
    contenders: tuple
    hourly_cycles: int
    options: Options
    seed: int = 1
    idle_seconds: float = 2.0
    reader_pause_s: float = 0.002
    variant: str = "base"          # VARIANTS
    updates: bool = True           # the simulated hours update rows too (sample_data.updates)
    reconcile: bool = True         # the reconcile phase at the end
    gap_hours: int = 0             # a cycle after this many hours without one, before it (0: none)
    reconcile_every: str = NO_RECONCILE   # the incremental contenders' round of reconciliation
    only: dict = field(default_factory=dict)   # Protocol.only: contender -> the only phases it runs


class ScaleRun:
    """The benchmark at one scale, on one cluster."""

    def __init__(self, cluster: Cluster, config: ScaleConfig, progress):
        self.cluster = cluster
        self.config = config
        self.progress = progress
        self.contenders: list = [CONTENDERS[name]() for name in config.contenders]
        for contender in self.contenders:
            if isinstance(contender, ExtensionIncremental):
                contender.reconcile_every = config.reconcile_every
        self.options = config.options
        self.admin: dict = {}      # database -> autocommit superuser connection
        self.genres: list = []
        self.prewarm = False
        self.label = result_key(config.scale, config.variant)
        self.result = {"scale": config.scale, "variant": config.variant, "cycles": [], "checks": [], "data": {},
                       "advance": [], "updates": config.updates,
                       "disk": []}

    # -- setup ---------------------------------------------------------------------
    def prepare(self) -> None:
        with psycopg.connect(self.cluster.conninfo(), autocommit=True) as postgres:
            postgres.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(MAIN_DB)))
        started = time.perf_counter()
        with psycopg.connect(self.cluster.conninfo(MAIN_DB), autocommit=True) as conn:
            volumes = (self.config.scale if self.config.variant == "base"
                       else variant_volumes(self.config.scale, self.config.variant))
            self.result["data"] = generate(conn, SOURCE_SCHEMA, scale=volumes, seed=self.config.seed, as_of=AS_OF)
            if self.config.variant == "older":
                added = add_older_plays(conn, SOURCE_SCHEMA, factor=OLDER_FACTOR, seed=self.config.seed, as_of=AS_OF)
                self.result["data"]["plays"] += added
                self.result["data"]["older_plays_added"] = added
                for table in ("plays", "aggregate_plays"):
                    conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(SOURCE_SCHEMA, table)))
        self.result["generate_s"] = round(time.perf_counter() - started, 1)
        self.progress(f"[{self.label}] data generated in {self.result['generate_s']} s: "
                      + ", ".join(f"{v:,} {k}" for k, v in self.result["data"].items()))
        with psycopg.connect(self.cluster.conninfo(), autocommit=True) as postgres:
            # FILE_COPY: the clone copies the files after a checkpoint; PG15's
            # default (WAL_LOG) writes the whole database into the WAL, which at
            # prod would be tens of GB of pg_wal besides the copy itself
            for database in self.databases()[1:]:
                postgres.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(database), sql.Identifier(MAIN_DB)))
            postgres.execute("CHECKPOINT")   # the load's WAL can be recycled before the first cycle
        for database in self.databases():
            conn = psycopg.connect(self.cluster.conninfo(database), autocommit=True)
            conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            self.admin[database] = conn
        measure.create_reader_role(self.admin[MAIN_DB])
        for contender in self.contenders:
            contender.setup(self.admin[contender.database], SOURCE_SCHEMA)
        self._settle_options()
        main = self.admin[MAIN_DB]
        self.genres = [g for (g,) in main.execute(sql.SQL(
            "SELECT DISTINCT genre FROM {}.tracks WHERE genre <> '' ORDER BY 1").format(
            sql.Identifier(SOURCE_SCHEMA))).fetchall()]
        self.prewarm = 2 * measure.schema_heap_bytes(main, SOURCE_SCHEMA) <= measure.shared_buffers_bytes(main)
        self.result["source_heap_bytes"] = measure.schema_heap_bytes(main, SOURCE_SCHEMA)
        self.result["prewarmed"] = self.prewarm
        self.result["contenders"] = {c.name: c.description for c in self.contenders}
        self.result["disk"].append({"phase": "prepared", **measure.disk_usage(main, self.databases())})
        self.progress(f"[{self.label}] {_disk_line(self.result['disk'][-1])}")

    def databases(self) -> list:
        """The main database first, then any other a contender needs."""
        return [MAIN_DB] + sorted({c.database for c in self.contenders} - {MAIN_DB})

    def _settle_options(self) -> None:
        """Every contender gets the extension's own cycle work_mem, for a fair fight."""
        for contender in self.contenders:
            if isinstance(contender, Extension):
                work_mem = contender.work_mem(self.admin[contender.database])
                if work_mem:
                    self.options = Options(**{**asdict(self.options), "work_mem": work_mem})
                break
        self.result["options"] = asdict(self.options)

    def close(self) -> None:
        for conn in self.admin.values():
            conn.close()

    # -- phases --------------------------------------------------------------------
    def run_phase(self, phase: Phase, later=()) -> None:
        """Advance the data, run and measure every contender the protocol runs in
        `phase`, check their scores; then retire those no `later` phase runs."""
        if phase.advance_from is not None:
            self.advance(phase)
        running = self.running_in(phase)
        for contender in running:
            record = self.measure_cycle(contender, phase)
            if phase.name not in self.config.only.get(contender.name, (phase.name,)):
                record["flags"].append(f"{REFERENCE_ONLY} (the protocol does not measure it in this phase)")
            self.result["cycles"].append(record)
        self.check_phase(phase, running)
        self.retire_finished(running, later)
        self.result["disk"].append({"phase": phase.name, **measure.disk_usage(self.admin[MAIN_DB], self.databases())})
        self.progress(f"[{self.label}] {phase.name}: {_disk_line(self.result['disk'][-1])}")

    def retire_finished(self, running: list, later) -> None:
        """A contender the protocol limits to some phases, past its last one,
        drops what it owns (Contender.retire): at prod scale C0's tables and
        views are gigabytes the later phases need. Never the reference."""
        for contender in running:
            if (contender.name in self.config.only and contender.name != REFERENCE
                    and not any(p.name in self.config.only[contender.name] for p in later)):
                contender.retire(self.admin[contender.database])
                self.result.setdefault("retired", []).append(contender.name)
                self.progress(f"[{self.label}] {contender.name}: no more phases, retired (its tables dropped)")

    def running_in(self, phase: Phase) -> list:
        """The contenders that run `phase`: those the protocol runs in it, and the
        reference whenever another contender runs (the scores are checked against it)."""
        only = self.config.only
        running = [c for c in self.contenders if phase.name in only.get(c.name, (phase.name,))]
        if running and not any(c.name == REFERENCE for c in running):
            running = [c for c in self.contenders if c in running or c.name == REFERENCE]
        return running

    def advance(self, phase: Phase) -> None:
        """The same simulated events in every database, then VACUUM (ANALYZE) of
        the source tables (as autovacuum would keep them in production)."""
        started = time.perf_counter()
        counts, writers = {}, {}
        for database, conn in self.admin.items():
            # the writers' own time and WAL, per database: the capture's triggers
            # are in the incremental contenders' databases only (their cost)
            lsn, began = measure.wal_lsn(conn), time.perf_counter()
            counts = simulate_hour(conn, SOURCE_SCHEMA, seed=self.config.seed, start=phase.advance_from,
                                   end=phase.now, updates=self.config.updates)
            writers[database] = {"s": round(time.perf_counter() - began, 3), "wal_bytes": measure.wal_lsn(conn) - lsn}
            for (name,) in conn.execute("SELECT relname FROM pg_class c JOIN pg_namespace n"
                                        " ON n.oid = c.relnamespace WHERE n.nspname = %s AND relkind = 'r'",
                                        (SOURCE_SCHEMA,)).fetchall():
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(SOURCE_SCHEMA, name)))
        self.result["advance"].append({"phase": phase.name, "rows": counts, "writers": writers,
                                       "s": round(time.perf_counter() - started, 2)})

    def measure_cycle(self, contender: Contender, phase: Phase) -> dict:
        admin = self.admin[contender.database]
        conninfo = self.cluster.conninfo(contender.database)
        reader_conninfo = f"{conninfo} user={measure.READER_ROLE}"
        tables = contender.score_tables()
        record = {"phase": phase.name, "contender": contender.name, "now": phase.now.isoformat(),
                  "status": "ok", "flags": [], "detail": {}}
        reads_before = rows_per_read_key(admin, contender.track_table)
        if self.prewarm:
            measure.prewarm_schema(admin, SOURCE_SCHEMA)
        admin.execute("CHECKPOINT")
        counters, lsn = measure.row_counters(admin, tables), measure.wal_lsn(admin)
        contender.before_cycle(admin, phase.name)
        reader = ApiReader(reader_conninfo, contender.track_table, self.genres, touch=contender.reader_touch,
                           pause_s=self.config.reader_pause_s, seed=len(self.result["cycles"]))
        reader.start()
        reader.ready.wait()
        measure.statements_reset(admin)
        started = time.perf_counter()
        try:
            self._run_contender(contender, conninfo, phase, record)
        finally:
            record["wall_s"] = round(time.perf_counter() - started, 3)
            reader.stop()
        record["blocks"] = measure.cycle_blocks(admin)
        end_lsn = measure.wal_lsn(admin)
        record["wal_bytes"] = end_lsn - lsn
        record["wal"] = measure.wal_split(admin, lsn, end_lsn)
        contender.after_cycle(admin, phase.name)
        record["cycle_kind"] = record["detail"].get("cycle_kind") or cycle_kind(record["detail"])
        # before any read of ours: a scan would prune dead tuples away
        record["dead_tuples"] = measure.dead_tuples(admin, tables)
        record["size_bytes"] = measure.total_size(admin, tables)
        record["track_table_bytes"] = measure.total_size(admin, [contender.track_table])
        record["rows"] = measure.rows_written(counters, measure.row_counters(admin, tables))
        record["n_dead_tup"] = measure.n_dead_tup(admin, tables)
        record["reader"] = reader.summary(reads_before, rows_per_read_key(admin, contender.track_table))
        record.update(measure.vacuum_analyze(admin, contender.vacuum_targets(admin)))
        record["track_rows"] = measure.row_count(admin, contender.track_table)
        record["idle"] = measure_idle(reader_conninfo, contender.track_table, self.genres, touch=contender.reader_touch,
                                      seconds=self.config.idle_seconds, pause_s=self.config.reader_pause_s,
                                      seed=len(self.result["cycles"]))
        self.progress(_progress_line(self.label, record))
        return record

    def _run_contender(self, contender: Contender, conninfo: str, phase: Phase, record: dict) -> None:
        """One cycle on a fresh connection (pg_cron too starts a backend per run);
        a failure is recorded, never raised: the other contenders go on."""
        with psycopg.connect(conninfo, autocommit=True) as conn:
            try:
                outcome = contender.cycle(conn, phase.now, self.options)
                record["flags"], record["detail"] = outcome.flags, outcome.detail
            except psycopg.Error as error:
                record["status"] = "failed"
                record["error"] = f"{error.sqlstate}: {str(error).strip().splitlines()[0]}"
            if not conn.closed and not conn.broken:
                conn.execute("SELECT pg_stat_force_next_flush()")

    def check_phase(self, phase: Phase, running: list) -> None:
        """Every contender that ran `phase` against the reference (a contender the
        protocol left out of the phase kept older scores: nothing to check)."""
        reference = next((c for c in running if c.name == REFERENCE), None)
        failed = {r["contender"] for r in self.result["cycles"] if r["phase"] == phase.name and r["status"] != "ok"}
        for contender in running:
            if contender is reference:
                continue
            entry = {"phase": phase.name, "contender": contender.name}
            if reference is None or REFERENCE in failed:
                entry.update(ok=None, skipped="no reference scores (the extension did not run or failed)")
            else:
                entry.update(check.compare(self.admin[reference.database], reference,
                                           self.admin[contender.database], contender))
                if contender.name in failed:
                    entry["note"] = "the contender's cycle failed"
            self.result["checks"].append(entry)
            if entry["ok"] is False:
                self.progress(f"[{self.label}] {phase.name}: !!! SCORE MISMATCH {contender.name} vs "
                              f"{REFERENCE}: {entry['problems']} e.g. {entry['samples'][:2]}")
        if reference is not None:
            oks = [e["ok"] for e in self.result["checks"] if e["phase"] == phase.name]
            if oks and all(oks):
                self.progress(f"[{self.label}] {phase.name}: scores agree "
                              f"({', '.join(c.name for c in running if c is not reference)} = {REFERENCE})")


def _progress_line(scale: str, r: dict) -> str:
    rows = r.get("rows", {})
    reader = r.get("reader", {})
    text = (f"[{scale}] {r['phase']:<9} {r['contender']:<13} wall {r['wall_s']:8.2f} s"
            f"  blocks {r.get('blocks', {}).get('touched', 0):>11,}"
            f"  WAL {r['wal_bytes'] / 1e6:9.2f} MB (FPI {r.get('wal', {}).get('fpi_bytes', 0) / 1e6:.2f})"
            f"  rows +{rows.get('inserted', 0):,} ~{rows.get('updated', 0):,} -{rows.get('deleted', 0):,}"
            f"  dead {r['dead_tuples']:,}  read p99 {reader.get('p99_ms')} ms"
            f" (idle {r['idle'].get('p99_ms')}) blocked {reader.get('blocked', 0)} empty {reader.get('empty', 0)}"
            f"  vacuum {r['vacuum_s']:.2f} s")
    if r["status"] != "ok":
        text += f"  FAILED {r.get('error')}"
    if r.get("cycle_kind"):
        text += f"  kind {r['cycle_kind']}"
    if r["flags"]:
        text += "  [" + "; ".join(r["flags"]) + "]"
    return text


def _disk_line(disk: dict) -> str:
    return ("disk: " + ", ".join(f"{name} {size / 1e9:.2f} GB" for name, size in disk["databases"].items())
            + f", pg_wal {disk['wal_bytes'] / 1e9:.2f} GB, free {disk['free_bytes'] / 1e9:.1f} GB")


def contenders_for(scale: str, requested, protocol: Protocol = PROTOCOLS["standard"]) -> tuple:
    """The contenders of a scale: the requested ones, else the protocol's, else
    every one (C0 and the extension's at large); the reference (trending) is always in."""
    names = list(requested or protocol.contenders
                 or (LARGE_CONTENDERS if scale == "large" else DEFAULT_CONTENDERS))
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        raise ValueError(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}")
    if REFERENCE not in names:
        names.append(REFERENCE)
    return tuple(names)


def _print_now(line: str) -> None:
    """Progress as it happens, even into a pipe or a log file."""
    print(line, flush=True)


def run_scale(config: ScaleConfig, *, progress=_print_now, base_dir: str | None = None) -> dict:
    """The whole benchmark at one scale on a fresh cluster; its results."""
    with Cluster(settings=SERVER_SETTINGS, fast=False, name=f"trending-bench-{config.scale}-{config.variant}",
                 base_dir=base_dir) as cluster:
        bench = ScaleRun(cluster, config, progress)
        try:
            bench.prepare()
            plan = phases(AS_OF, config.hourly_cycles, config.reconcile, config.gap_hours)
            for index, phase in enumerate(plan):
                bench.run_phase(phase, later=plan[index + 1:])
            bench.result["server"] = _server_facts(bench.admin[MAIN_DB])
        finally:
            bench.close()
        return bench.result


def _server_facts(conn) -> dict:
    facts = {"server_version": conn.execute("SHOW server_version").fetchone()[0]}
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'trending'").fetchone()
    facts["trending_version"] = row[0] if row else None
    facts["settings"] = dict(conn.execute(
        "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
        (list(SERVER_SETTINGS) + ["work_mem", "full_page_writes", "fsync", "wal_compression"],)).fetchall())
    return facts


def machine_facts() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)}


def run(scales=("small",), out_dir="docs/bench", *, contenders=None, hourly_cycles: int = 24,
        hourly_scales=("tiny", "small"), seed: int = 1, b_timeout_s: float | None = None,
        idle_seconds: float = 2.0, reader_pause_s: float = 0.002, progress=None,
        base_dir: str | None = None, variants=("base",), updates: bool = True,
        reconcile: bool = True, protocol: str | None = None, gap_hours: int = 0,
        reconcile_every: str | None = None) -> dict:
    """Run the benchmark at each scale and write results.json, results.md and
    chart.png into out_dir. Returns the results (also on a score mismatch:
    check results["ok"]). `protocol` names one of PROTOCOLS (by default "prod"
    at scale prod, "standard" elsewhere). `reconcile_every`: the incremental
    contenders' round (default: the protocol's, else 7 days)."""
    from . import report
    progress = progress or _print_now
    for scale in scales:
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
        protocol_for(scale, protocol)
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    results = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "as_of": AS_OF.isoformat(), "seed": seed, "machine": machine_facts(),
               "server_settings": SERVER_SETTINGS, "scales": {}}
    results["updates"] = updates
    for scale in scales:
        for variant in variants:
            chosen = protocol_for(scale, protocol)
            hourly = hourly_cycles if scale in hourly_scales else 0
            # the variants are compared on their steady cycles: no reconcile phase
            config = ScaleConfig(
                scale=scale, contenders=contenders_for(scale, contenders, chosen), seed=seed,
                hourly_cycles=hourly if chosen.hourly_cycles is None else chosen.hourly_cycles,
                options=Options(b_timeout_s=b_timeout_s or B_TIMEOUT_S[scale]),
                idle_seconds=idle_seconds, reader_pause_s=reader_pause_s, variant=variant,
                updates=updates, only=chosen.only, gap_hours=gap_hours if variant == "base" else 0,
                reconcile_every=reconcile_every or chosen.reconcile_every or NO_RECONCILE,
                reconcile=(reconcile if chosen.reconcile is None else chosen.reconcile) and variant == "base")
            key = result_key(scale, variant)
            progress(f"[{key}] protocol {chosen.name}; contenders {', '.join(config.contenders)}; phases cold, "
                     f"steady, day{f', {config.hourly_cycles} hourly' if config.hourly_cycles else ''}"
                     f"{f', a {config.gap_hours}-hour gap' if config.gap_hours else ''}"
                     f"; reconcile_every {config.reconcile_every}"
                     f"{', reconcile' if config.reconcile else ''}"
                     + "".join(f"; {name} only {', '.join(phases)}" for name, phases in chosen.only.items()
                               if name in config.contenders))
            results["scales"][key] = run_scale(config, progress=progress, base_dir=base_dir)
            results["scales"][key]["protocol"] = chosen.name
            results["scales"][key]["reconcile_every"] = config.reconcile_every
            report.write_all(results, out_dir)   # after every run: a long run keeps what it measured
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["ok"] = report.all_checks_ok(results)
    report.write_all(results, out_dir)
    return results
