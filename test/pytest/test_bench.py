"""The benchmark (trending_cli.bench): its upstream reimplementation must score
exactly like the extension, and the whole run must work end to end.

The unit tests run the upstream contenders next to the extension on the
session's fast cluster; the smoke test runs the real thing (its own durable
cluster) at scale tiny with one hourly cycle.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
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
    expected_phases = {"cold", "steady", "day", "hour01", "reconcile"}
    ran = {(r["contender"], r["phase"]) for r in data["cycles"]}
    assert ran == {(c, p) for c in runner.DEFAULT_CONTENDERS for p in expected_phases}
    assert all(r["status"] == "ok" and r["reader"]["reads"] > 0 for r in data["cycles"])
    assert all(r["wal_bytes"] > 0 and r["size_bytes"] > 0 for r in data["cycles"])
    # blocks touched by the cycle's own statements (the reader has its own role)
    assert all(r["blocks"]["touched"] > 0 and r["blocks"]["statements"] >= 1 for r in data["cycles"])
    assert not any("track_trending_scores" in t["query"] and "LIMIT" in t["query"] and "OFFSET" in t["query"]
                   for r in data["cycles"] for t in r["blocks"]["top"]), "the API reader's reads are not counted"
    # the WAL split: full-page images and records add up to at most the LSN range
    assert all(0 < r["wal"]["record_bytes"] and r["wal"]["record_bytes"] + r["wal"]["fpi_bytes"] <= r["wal_bytes"]
               for r in data["cycles"])
    kinds = {r["phase"]: r["cycle_kind"] for r in data["cycles"] if r["contender"] == "trending-incr"}
    assert kinds["cold"] == "full"
    # the capture's writers: every database advanced, each with its time and WAL
    assert all({"bench", "bench_incr"} <= set(a["writers"]) for a in data["advance"])
    assert data["advance"][0]["rows"]["follows"] >= 0 and "late_plays" in data["advance"][0]["rows"]
    checks = {(c["contender"], c["phase"]): c["ok"] for c in data["checks"]}
    assert checks == {(c, p): True for c in runner.DEFAULT_CONTENDERS if c != "trending" for p in expected_phases}
    # a plain REFRESH shows as blocked reads; the extension never blocks a reader
    assert sum(r["reader"]["blocked"] for r in data["cycles"] if r["contender"] == "trending") == 0
    for name in ("results.json", "results.md", "chart.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "results.json").read_text())["ok"] is True
    text = (tmp_path / "results.md").read_text()
    assert "| steady | trending |" in text
    assert "trending-incr / C0" in text and "Reconciliation (trending-incr" in text
    assert "Capture cost in the writers' transactions" in text and "Cold (first) cycle" in text


def test_explain_breaks_a_steady_cycle_down_by_statement_and_wal(tmp_path):
    from trending_cli.bench import explain
    text = explain.run("tiny", str(tmp_path)).read_text()
    assert "## WAL by relation and record type" in text
    wal_rows = [line for line in text.splitlines() if line.startswith("| trending.track_trending_scores")]
    assert wal_rows, "the score table's WAL is attributed to it"
    assert "### " in text.split("## The statements that take the most time")[1]
    assert "WAL: records=" in text.split("## The statements that write the most WAL")[1], \
        "plans carry EXPLAIN's WAL figures"


# ---------------------------------------------------------------------------
# issue 9: the realistic hour, the variants, blocks touched
# ---------------------------------------------------------------------------
def _mismatches(conn, schema: str) -> dict:
    """aggregate_* rows that disagree with the raw rows (the generator keeps them equal)."""
    checks = {
        "track saves": f"""SELECT count(*) FROM {schema}.aggregate_track a LEFT JOIN (SELECT save_item_id AS id,
            count(*) AS n FROM {schema}.saves WHERE save_type = 'track' AND is_current AND NOT is_delete GROUP BY 1) x
            ON x.id = a.track_id WHERE a.save_count <> coalesce(x.n, 0)""",
        "playlist reposts": f"""SELECT count(*) FROM {schema}.aggregate_playlist a LEFT JOIN (SELECT repost_item_id AS id,
            count(*) AS n FROM {schema}.reposts WHERE repost_type <> 'track' AND is_current AND NOT is_delete
            GROUP BY 1) x ON x.id = a.playlist_id WHERE a.repost_count <> coalesce(x.n, 0)""",
        "user reposts": f"""SELECT count(*) FROM {schema}.aggregate_user a LEFT JOIN (SELECT user_id AS id, count(*) AS n
            FROM {schema}.reposts WHERE is_current AND NOT is_delete GROUP BY 1) x ON x.id = a.user_id
            WHERE a.repost_count <> coalesce(x.n, 0)""",
        "user tracks": f"""SELECT count(*) FROM {schema}.aggregate_user a LEFT JOIN (SELECT owner_id AS id, count(*) AS n
            FROM {schema}.tracks WHERE is_current AND NOT is_delete GROUP BY 1) x ON x.id = a.user_id
            WHERE a.track_count <> coalesce(x.n, 0)""",
        "plays": f"""SELECT count(*) FROM {schema}.aggregate_plays a LEFT JOIN (SELECT play_item_id AS id, count(*) AS n
            FROM {schema}.plays GROUP BY 1) x ON x.id = a.play_item_id WHERE a.count <> coalesce(x.n, 0)""",
        "two current users rows": f"""SELECT count(*) FROM (SELECT user_id FROM {schema}.users WHERE is_current
            GROUP BY 1 HAVING count(*) > 1) x""",
    }
    return {name: conn.execute(query).fetchone()[0] for name, query in checks.items()}


def _snapshot(conn, schema: str) -> dict:
    return dict(zip(("deleted saves", "history saves", "followers", "complete profiles", "genres", "unlisted",
                     "late plays", "plays"), conn.execute(f"""SELECT
        (SELECT count(*) FROM {schema}.saves WHERE is_current AND is_delete),
        (SELECT count(*) FROM {schema}.saves WHERE NOT is_current),
        (SELECT sum(follower_count) FROM {schema}.aggregate_user),
        (SELECT count(*) FROM {schema}.users WHERE is_current AND bio IS NOT NULL),
        (SELECT md5(string_agg(track_id || ':' || coalesce(genre, ''), ',' ORDER BY track_id, txhash))
           FROM {schema}.tracks WHERE is_current),
        (SELECT count(*) FROM {schema}.tracks WHERE is_current AND is_unlisted),
        (SELECT count(*) FROM {schema}.plays WHERE created_at < '2025-03-31 06:00' AND id > 50000),
        (SELECT count(*) FROM {schema}.plays)""").fetchone()))


def test_simulated_hour_updates_rows_and_keeps_the_aggregates(make_db):
    """The realistic hour: un-saves (in place and by a new row), follower changes,
    profile and track edits and late plays all happen, the aggregates still match
    the raw rows, and the same seed gives the same data."""
    from trending_cli.sample_data.updates import simulate_hour
    dsn = make_db("bench_updates")
    day = timedelta(hours=24)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in ("upd_a", "upd_b"):
            generate(conn, schema, scale="tiny", seed=2, as_of=AS_OF)
        before = _snapshot(conn, "upd_a")
        counts = simulate_hour(conn, "upd_a", seed=5, start=AS_OF, end=AS_OF + day,
                               rates={"profile_edits": 0.05, "track_edits": 0.05, "unsaves": 0.05})
        after = _snapshot(conn, "upd_a")
        assert all(counts[k] > 0 for k in ("late_plays", "unsaves", "unreposts", "follows", "profile_edits",
                                           "track_edits")), counts
        assert after["deleted saves"] > before["deleted saves"], "un-saves"
        assert after["history saves"] > before["history saves"], "un-saves by a new current row"
        assert after["followers"] != before["followers"], "follower counts changed"
        assert after["genres"] != before["genres"], "a track got a new current row with another genre"
        assert after["late plays"] >= counts["late_plays"], "late plays are older than the period"
        assert _mismatches(conn, "upd_a") == dict.fromkeys(_mismatches(conn, "upd_a"), 0)
        again = simulate_hour(conn, "upd_b", seed=5, start=AS_OF, end=AS_OF + day,
                              rates={"profile_edits": 0.05, "track_edits": 0.05, "unsaves": 0.05})
        assert again == counts and _snapshot(conn, "upd_b") == after, "deterministic"
        appends_only = simulate_hour(conn, "upd_b", seed=5, start=AS_OF + day, end=AS_OF + 2 * day, updates=False)
        assert "follows" not in appends_only


def test_variants_grow_what_exists_or_the_older_plays(make_db):
    """growth: 3x users, tracks, playlists, saves and reposts with the same plays;
    older: 3x the plays older than a month, the month itself untouched."""
    from trending_cli.sample_data.updates import add_older_plays
    base, growth = runner.variant_volumes("small", "base"), runner.variant_volumes("small", "growth")
    assert growth.plays == base.plays
    assert (growth.users, growth.tracks, growth.playlists, growth.saves, growth.reposts) == \
        (3 * base.users, 3 * base.tracks, 3 * base.playlists, 3 * base.saves, 3 * base.reposts)
    assert runner.result_key("small", "base") == "small" and runner.result_key("small", "growth") == "small+growth"
    dsn = make_db("bench_older")
    month = "'2025-03-01 06:00'"
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, "older", scale="tiny", seed=1, as_of=AS_OF)
        count = f"SELECT count(*) FILTER (WHERE created_at <= {month}), count(*) FILTER (WHERE created_at > {month}) FROM older.plays"
        old, recent = conn.execute(count).fetchone()
        added = add_older_plays(conn, "older", factor=3, seed=1, as_of=AS_OF)
        assert added == 2 * old
        assert conn.execute(count).fetchone() == (3 * old, recent)
        assert _mismatches(conn, "older")["plays"] == 0


def test_cycle_blocks_counts_the_cycles_statements_not_the_readers():
    """pg_stat_statements with track = all: the nested statements of a function
    are there, only the top level is summed, and the reader role's statements
    are left out."""
    from trending_cli.bench import measure
    from trending_cli.cluster import Cluster
    settings = {k: runner.SERVER_SETTINGS[k] for k in ("shared_preload_libraries", "pg_stat_statements.track")}
    with Cluster(settings=settings, name="bench-pgss") as cluster:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
            admin.execute("CREATE EXTENSION pg_stat_statements")
            measure.create_reader_role(admin)
            admin.execute("CREATE TABLE big AS SELECT g AS i, repeat('x', 200) AS pad FROM generate_series(1, 20000) g")
            admin.execute("CREATE FUNCTION scan_big() RETURNS bigint LANGUAGE plpgsql AS "
                          "$$ BEGIN RETURN (SELECT count(*) FROM big WHERE pad <> ''); END $$")
            measure.statements_reset(admin)
            with psycopg.connect(cluster.conninfo() + f" user={measure.READER_ROLE}", autocommit=True) as reader:
                for _ in range(5):
                    reader.execute("SELECT count(*) FROM big").fetchone()
            reader_only = measure.cycle_blocks(admin)
            with psycopg.connect(cluster.conninfo(), autocommit=True) as cycle:
                cycle.execute("SELECT scan_big()").fetchone()
            blocks = measure.cycle_blocks(admin)
            (pages,) = admin.execute("SELECT pg_relation_size('big') / 8192").fetchone()
    assert reader_only["touched"] == 0, "the reader's statements are not the cycle's"
    assert pages <= blocks["touched"] < 1.5 * pages, "one scan of the table, counted once (not again as nested)"
    assert any("FROM big" in t["query"] for t in blocks["top"]), "the function's own statement is tracked"
