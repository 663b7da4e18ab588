"""What loading the incremental state costs, three ways: `python -m trending_cli.bench.state_load`.

A full cycle that builds the state (the change capture installed) replaces
every state table whole. This measures, on the benchmark's server settings
and data, the two biggest (the tracks' hourly play buckets and the tracks'
state rows) loaded
- into the table with its indexes, rows in random order (1.1's write);
- the same, rows in primary-key order;
- bare, then the indexes built (trending._state_load, 1.2).
Copies of the state a cold cycle built are loaded into scratch tables of the
same definition, so the figures are the load alone. Writes
docs/bench/state-load-<scale>.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psycopg

from ..cluster import Cluster
from ..sample_data import SCALES, generate
from .runner import AS_OF, SERVER_SETTINGS, SOURCE_SCHEMA

TABLES = {"_state_play_buckets": "track_id, hour", "_state_tracks": "track_id"}


def _timed(conn, statement: str) -> float:
    start = time.monotonic()
    conn.execute(statement)
    return time.monotonic() - start


def _indexes(conn, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass ORDER BY indexrelid",
        (f"trending.{table}",)).fetchall()]


def measure(conn, table: str, key: str) -> dict:
    """Seconds for each way of loading a copy of trending.<table>."""
    source, scratch = f"scratch_{table}_rows", f"scratch_{table}"
    conn.execute(f"CREATE UNLOGGED TABLE {source} AS SELECT * FROM trending.{table} ORDER BY random()")
    conn.execute(f"VACUUM ANALYZE {source}")
    definitions = [d.replace(f"trending.{table}", scratch).replace(f"INDEX {table}", f"INDEX {scratch}")
                   for d in _indexes(conn, table)]
    rows = conn.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    result = {"rows": rows}
    for label, order in (("indexed, random order", ""), ("indexed, key order", f" ORDER BY {key}")):
        conn.execute(f"CREATE UNLOGGED TABLE {scratch} (LIKE trending.{table})")
        for definition in definitions:
            conn.execute(definition)
        result[label] = _timed(conn, f"INSERT INTO {scratch} SELECT * FROM {source}{order}")
        conn.execute(f"DROP TABLE {scratch}")
    conn.execute(f"CREATE UNLOGGED TABLE {scratch} (LIKE trending.{table})")
    primary, secondary = definitions[:1], definitions[1:]  # the primary key's index comes first (oid order)
    for definition in primary:
        conn.execute(definition)
    seconds = _timed(conn, f"INSERT INTO {scratch} SELECT * FROM {source} ORDER BY {key}")
    seconds += sum(_timed(conn, d) for d in secondary)
    result["bare, indexes built after (1.2)"] = seconds
    conn.execute(f"DROP TABLE {scratch}, {source}")
    return result


def report(scale: str, results: dict) -> str:
    ways = ["indexed, random order", "indexed, key order", "bare, indexes built after (1.2)"]
    lines = [f"# Loading the incremental state at {scale} scale", "",
             "`cd cli && ../.venv/bin/python -m trending_cli.bench.state_load --scale "
             f"{scale}` (one run; seconds; the same rows each way).", "",
             "| table | rows | " + " | ".join(ways) + " |", "|---|---|" + "---|" * len(ways)]
    for table, r in results.items():
        lines.append(f"| {table} | {r['rows']:,} | " + " | ".join(f"{r[w]:.2f}" for w in ways) + " |")
    return "\n".join(lines) + "\n"


def run(scale: str, out_dir: str) -> Path:
    with Cluster(settings=SERVER_SETTINGS, fast=False, name=f"trending-state-load-{scale}") as cluster:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION trending CASCADE")
            generate(conn, SOURCE_SCHEMA, scale=scale, seed=1, as_of=AS_OF)
            conn.execute("UPDATE trending.settings SET value = %s WHERE name = 'source_schema'", (SOURCE_SCHEMA,))
            conn.execute("UPDATE trending.strategies SET enabled = true")
            conn.execute("SELECT trending.install_capture()")
            conn.execute("SELECT trending.recompute(%s)", (AS_OF,))
            results = {table: measure(conn, table, key) for table, key in TABLES.items()}
    path = Path(out_dir) / f"state-load-{scale}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report(scale, results))
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trending_cli.bench.state_load",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="medium", choices=list(SCALES))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[3] / "docs" / "bench"))
    args = parser.parse_args(argv)
    print(f"wrote {run(args.scale, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
