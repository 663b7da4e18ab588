"""Where a steady cycle's time, blocks and WAL go: `python -m trending_cli.bench.explain`.

The benchmark says how long a cycle takes, how many blocks it touches and how
much WAL it writes; this says why. On the benchmark's server settings and data
it runs a cold cycle, simulates an hour, VACUUMs, CHECKPOINTs, and runs the
steady cycle with auto_explain capturing EXPLAIN (ANALYZE, BUFFERS, WAL) of
every statement inside it; then pg_walinspect splits the cycle's WAL by
relation and record type. Writes docs/bench/explain.md: the statements that
dominate time, blocks and WAL with their plans, and the WAL breakdown.

With --incremental, the change capture is installed before the cold cycle and
the hour is the benchmark's realistic one (appends and updates), so the steady
cycle is an incremental one; it writes explain-incremental-<scale>.md.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from pathlib import Path

import psycopg

from ..cluster import Cluster
from ..sample_data import SCALES, generate, simulate_activity
from ..sample_data.updates import simulate_hour
from .runner import AS_OF, SERVER_SETTINGS, SOURCE_SCHEMA

AUTO_EXPLAIN = {"auto_explain.log_min_duration": "0", "auto_explain.log_nested_statements": "on",
                "auto_explain.log_analyze": "on", "auto_explain.log_buffers": "on",
                "auto_explain.log_wal": "on", "auto_explain.log_timing": "on",
                "auto_explain.log_format": "text", "auto_explain.log_level": "notice"}
# the benchmark's "blocks touched": hit + read + written of shared, local and
# temp blocks (dirtied blocks were hit or read already)
TOUCHED_COUNTERS = ("hit", "read", "written")
TOP_BY_TIME, TOP_BY_BLOCKS, TOP_BY_WAL, SUMMARY_ROWS = 5, 5, 3, 10


def explained_cycle(conn, now) -> tuple[dict, list[tuple[float, str]]]:
    """Run recompute(now) with auto_explain; its summary and (ms, plan text) per statement."""
    captured: list[str] = []
    conn.execute("LOAD 'auto_explain'")
    for name, value in AUTO_EXPLAIN.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    handler = lambda diag: captured.append(diag.message_primary or "")  # noqa: E731
    conn.add_notice_handler(handler)
    try:
        (summary,) = conn.execute("SELECT trending.recompute(%s)", (now,)).fetchone()
    finally:
        conn.remove_notice_handler(handler)
        for name in AUTO_EXPLAIN:
            conn.execute(f"RESET {name}")
    plans = [(float(text.split()[1]), text) for text in captured
             if text.startswith("duration: ") and "trending.recompute(" not in text.split("\n", 2)[1]]
    return summary, plans


def wal_breakdown(conn, start_lsn: str) -> list[tuple]:
    """(relation, record type, records, MB, full-page-image MB) of the WAL since start_lsn."""
    conn.execute("SELECT pg_switch_wal()")
    return conn.execute(r"""
WITH r AS (
    SELECT record_type, record_length, fpi_length,
           (regexp_match(block_ref, 'rel \d+/\d+/(\d+)'))[1]::oid AS filenode
    FROM pg_get_wal_records_info(%s, pg_current_wal_flush_lsn())
)
SELECT COALESCE(pg_filenode_relation(0, filenode)::text, '(no relation)') AS relation, record_type,
       count(*), round(sum(record_length) / 1e6, 2), round(sum(fpi_length) / 1e6, 2)
FROM r GROUP BY 1, 2 ORDER BY sum(record_length) DESC LIMIT 15""", (start_lsn,)).fetchall()


def _top_node_details(plan_text: str) -> list[str]:
    """The detail lines (Buffers:, WAL:, ...) of a text plan's top node. Its
    figures include every node below it, so they are the statement's. The top
    node is the first unindented line with a cost (the query text before it is
    free-form); its details are the lines indented by two that follow it, up to
    its first child or CTE/InitPlan section."""
    lines = plan_text.splitlines()
    top = next((i for i, line in enumerate(lines) if not line[:1].isspace() and "  (cost=" in line), None)
    if top is None:
        return []
    details = []
    for line in lines[top + 1:]:
        if not line.startswith("  ") or line[2:3].isspace() or line.lstrip().startswith("->"):
            break
        details.append(line.strip())
    return details


def _detail(plan_text: str, label: str) -> str:
    return next((d[len(label):] for d in _top_node_details(plan_text) if d.startswith(label)), "")


def _wal_bytes(plan_text: str) -> int:
    """The statement's WAL bytes: its top node's `WAL: ... bytes=N`."""
    match = re.search(r"\bbytes=(\d+)", _detail(plan_text, "WAL:"))
    return int(match.group(1)) if match else 0


def _blocks(plan_text: str) -> int:
    """The statement's blocks touched, from its top node's `Buffers:` line,
    e.g. `shared hit=5 read=2 dirtied=1, local hit=3 written=1, temp read=4
    written=4` (counters that are 0 are left out, as EXPLAIN does)."""
    return sum(int(value) for part in _detail(plan_text, "Buffers:").split(",")
               for name, value in re.findall(r"(\w+)=(\d+)", part) if name in TOUCHED_COUNTERS)


def _statement(plan_text: str) -> str:
    query = plan_text.split("Query Text:", 1)[1].lstrip() if "Query Text:" in plan_text else ""
    return " ".join(query.split("\n", 1)[0].split())[:90]


def _plan_section(title: str, plans: list) -> list[str]:
    lines = [f"## {title}", ""]
    for ms, text in plans:
        lines += [f"### {ms:.0f} ms, {_blocks(text):,} blocks, {_wal_bytes(text) / 1e6:.2f} MB of WAL: "
                  f"`{_statement(text)}`", "", "```", text.strip(), "```", ""]
    return lines


def _summary_row(ms: float, text: str) -> str:
    statement = _statement(text).replace("|", "\\|")  # a pipe in the SQL (||) would end the cell
    return f"| `{statement}` | {ms:.0f} | {_blocks(text):,} | {_wal_bytes(text):,} |"


def report(scale: str, summary: dict, plans: list, wal: list, wal_bytes: int, seconds: float,
           incremental: bool = False) -> str:
    kind = summary.get("cycle", {}).get("kind", "")
    title = f"# Where {'an incremental' if incremental else 'a'} steady cycle goes ({scale})"
    hour = ("`trending.install_capture()`, a cold cycle, one simulated hour with updates (the benchmark's "
            "`simulate_hour`)" if incremental else "a cold cycle, one simulated hour")
    by_blocks = sorted(plans, key=lambda p: -_blocks(p[1]))
    lines = [title, "",
             f"Generated by `python -m trending_cli.bench.explain{' --incremental' if incremental else ''}`: "
             f"{hour}, VACUUM (ANALYZE), CHECKPOINT, then the steady cycle below with auto_explain "
             "(ANALYZE, BUFFERS, WAL) on every statement inside it.", "",
             "Statements nested in a function appear beside the statement that called it, e.g. "
             "`SELECT trending._apply_slice(...)` and the UPDATE it runs: the caller's time, blocks and WAL "
             "include the nested ones', so the figures below overlap and do not add up to the cycle's. "
             "The top-level `trending.recompute(...)` is left out.", "",
             f"Steady cycle{f' ({kind})' if kind else ''}: {seconds:.2f} s, {wal_bytes / 1e6:.1f} MB of WAL, rows "
             + ", ".join(f"{v} {k}" for k, v in summary["rows"].items()) + ".", "",
             "Steps (ms): " + ", ".join(f"{k} {v}" for k, v in summary["steps"].items()) + ".", "",
             f"## Summary: the {SUMMARY_ROWS} statements that touch the most blocks", "",
             "Blocks: hit + read + written of shared, local and temp blocks (the top plan node's `Buffers:`).", "",
             "| statement | ms | blocks | WAL bytes |", "|---|---|---|---|"]
    lines += [_summary_row(ms, text) for ms, text in by_blocks[:SUMMARY_ROWS]]
    lines += ["", "## WAL by relation and record type", "",
              "| relation | record | records | MB | of which full-page images MB |", "|---|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]:,} | {r[3]} | {r[4]} |" for r in wal]
    lines += [""]
    lines += _plan_section("The statements that take the most time", sorted(plans, key=lambda p: -p[0])[:TOP_BY_TIME])
    lines += _plan_section("The statements that touch the most blocks", by_blocks[:TOP_BY_BLOCKS])
    lines += _plan_section("The statements that write the most WAL",
                           sorted(plans, key=lambda p: -_wal_bytes(p[1]))[:TOP_BY_WAL])
    return "\n".join(lines) + "\n"


def _simulate(conn, incremental: bool, start, end) -> None:
    """The hour between the cold and the steady cycle: the benchmark's realistic
    one (updates too, what the capture is for) or appends only."""
    if incremental:
        simulate_hour(conn, SOURCE_SCHEMA, seed=1, start=start, end=end)
    else:
        simulate_activity(conn, SOURCE_SCHEMA, seed=1, start=start, end=end)


def output_path(out_dir: str, scale: str, incremental: bool) -> Path:
    return Path(out_dir) / (f"explain-incremental-{scale}.md" if incremental else "explain.md")


def run(scale: str, out_dir: str, incremental: bool = False) -> Path:
    with Cluster(settings=SERVER_SETTINGS, fast=False, name=f"trending-explain-{scale}") as cluster:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            for extension in ("trending CASCADE", "pg_walinspect"):
                conn.execute(f"CREATE EXTENSION {extension}")
            generate(conn, SOURCE_SCHEMA, scale=scale, seed=1, as_of=AS_OF)
            conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SOURCE_SCHEMA,))
            conn.execute("UPDATE trending.strategies SET enabled = true")
            if incremental:
                conn.execute("SELECT trending.install_capture()")
            conn.execute("SELECT trending.recompute(%s)", (AS_OF,))
            now = AS_OF + timedelta(hours=1)
            _simulate(conn, incremental, AS_OF, now)
            conn.execute("VACUUM (ANALYZE)")
            conn.execute("CHECKPOINT")
            start_lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
            summary, plans = explained_cycle(conn, now)
            summary = summary if isinstance(summary, dict) else json.loads(summary)
            wal = wal_breakdown(conn, start_lsn)
    if incremental and summary.get("cycle", {}).get("kind") != "incremental":
        raise RuntimeError(f"the steady cycle was not incremental: {summary.get('cycle')}")
    path = output_path(out_dir, scale, incremental)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report(scale, summary, plans, wal, summary["wal_bytes"], summary["ms"] / 1000, incremental))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trending_cli.bench.explain", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="medium", choices=list(SCALES))
    parser.add_argument("--out", default="docs/bench")
    parser.add_argument("--incremental", action="store_true",
                        help="install the change capture and simulate an hour with updates: explain an "
                             "incremental steady cycle (writes explain-incremental-<scale>.md)")
    args = parser.parse_args(argv)
    print(f"wrote {run(args.scale, args.out, args.incremental)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
