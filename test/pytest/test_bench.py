"""The benchmark (trending_cli.bench): its upstream reimplementation must score
exactly like the extension, and the whole run must work end to end.

The unit tests run the upstream contenders next to the extension on the
session's fast cluster; the smoke test runs the real thing (its own durable
cluster) at scale tiny with one hourly cycle.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from trending_cli.bench import check, contenders, runner, upstream
from trending_cli.cluster import pg_bindir
from trending_cli.sample_data import generate

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2025, 3, 31, 6, tzinfo=timezone.utc)


def _cycle_and_compare(conn, source_schema: str, now: datetime, options=None) -> dict:
    """Set up every upstream contender on `source_schema`, run one cycle of each
    and of the extension at `now`; return contender name -> (outcome, check)."""
    options = options or contenders.Options()
    extension = contenders.Extension()
    extension.setup(conn, source_schema)
    extension.cycle(conn, now, options)
    results = {}
    for cls in upstream.UPSTREAM:
        contender = cls()
        contender.setup(conn, source_schema)
        outcome = contender.cycle(conn, now, options)
        results[contender.name] = (outcome, check.compare(conn, extension, conn, contender))
    return results


def test_upstream_views_score_like_the_extension(make_db):
    """On generated data (duplicates, NULL flags, bad playlists, NULL play counts
    included), every upstream strategy ends with the extension's scores."""
    dsn = make_db("bench_views")
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, "music", scale="tiny", seed=3, as_of=AS_OF)
        results = _cycle_and_compare(conn, "music", AS_OF)
    for name, (_, result) in results.items():
        assert result["ok"], (name, result["problems"], result["samples"])
        assert result["rows"]["tracks"] > 1000 and result["rows"]["playlists"] > 10
    assert results["C"][1]["zero_rows"]["tracks"] > 0, "C stores zero scores"
    assert results["C0"][1]["zero_rows"]["tracks"] == 0


def test_upstream_views_on_the_hand_worked_fixture(make_db, cluster):
    """The hand-worked edge cases (calendar month at a month end, karma over
    2^31, history users rows, NULL follower counts...) score alike too."""
    dsn = make_db("bench_hand")
    subprocess.run([str(pg_bindir() / "psql"), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1",
                    "-f", str(ROOT / "test" / "fixtures" / "hand_worked.sql"), dsn],
                   check=True, capture_output=True, cwd=ROOT)
    now = datetime(2026, 3, 31, 12, tzinfo=timezone.utc)
    with psycopg.connect(dsn, autocommit=True) as conn:
        results = _cycle_and_compare(conn, "tap_src", now)
    for name, (_, result) in results.items():
        assert result["ok"], (name, result["problems"], result["samples"])
        assert result["rows"]["tracks"] > 0 and result["rows"]["playlists"] > 0


def test_b_retries_with_nested_loops_off_after_a_timeout(make_db):
    """B's first attempt times out (a 1 ms statement_timeout); the retry runs
    with nested loops off, is flagged, and still ends with the right scores."""
    dsn = make_db("bench_retry")
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, "music", scale="tiny", seed=1, as_of=AS_OF)
        extension = contenders.Extension()
        extension.setup(conn, "music")
        extension.cycle(conn, AS_OF, contenders.Options())
        b = upstream.StagedUpsert()
        b.setup(conn, "music")
        outcome = b.cycle(conn, AS_OF, contenders.Options(b_timeout_s=0.001, b_retry_timeout_s=120))
        assert upstream.RETRY_FLAG in outcome.flags
        assert "statement timeout" in outcome.detail["first_attempt_error"]
        assert conn.execute("SHOW enable_nestloop").fetchone()[0] == "on"
        assert check.compare(conn, extension, conn, b)["ok"]


@pytest.mark.slow
def test_benchmark_smoke(tmp_path):
    """The whole benchmark at tiny: every contender runs every phase, the scores
    agree, and the three result files are written."""
    lines = []
    results = runner.run(("tiny",), tmp_path, hourly_cycles=1, idle_seconds=0.2, progress=lines.append)
    assert results["ok"], "\n".join(lines)
    data = results["scales"]["tiny"]
    expected_phases = {"cold", "steady", "day", "hour01"}
    ran = {(r["contender"], r["phase"]) for r in data["cycles"]}
    assert ran == {(c, p) for c in runner.DEFAULT_CONTENDERS for p in expected_phases}
    assert all(r["status"] == "ok" and r["reader"]["reads"] > 0 for r in data["cycles"])
    assert all(r["wal_bytes"] > 0 and r["size_bytes"] > 0 for r in data["cycles"])
    checks = {(c["contender"], c["phase"]): c["ok"] for c in data["checks"]}
    assert checks == {(c, p): True for c in runner.DEFAULT_CONTENDERS if c != "trending" for p in expected_phases}
    # a plain REFRESH shows as blocked reads; the extension never blocks a reader
    assert sum(r["reader"]["blocked"] for r in data["cycles"] if r["contender"] == "trending") == 0
    for name in ("results.json", "results.md", "chart.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "results.json").read_text())["ok"] is True
    assert "| steady | trending |" in (tmp_path / "results.md").read_text()


def test_explain_breaks_a_steady_cycle_down_by_statement_and_wal(tmp_path):
    from trending_cli.bench import explain
    text = explain.run("tiny", str(tmp_path)).read_text()
    assert "## WAL by relation and record type" in text
    wal_rows = [line for line in text.splitlines() if line.startswith("| trending.track_trending_scores")]
    assert wal_rows, "the score table's WAL is attributed to it"
    assert "### " in text.split("## The statements that take the most time")[1]
    assert "WAL: records=" in text.split("## The statements that write the most WAL")[1], \
        "plans carry EXPLAIN's WAL figures"
