"""Freshness and monitoring: trending.status's stale and healthy, the
trending.metrics view, and the prometheus-postgres-exporter query file shipped
in docs/monitoring, run against the view as an exporter would."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

from support.harness import recompute, use_source_schema
from support.random_datasets import load_dataset, random_dataset

QUERIES = Path(__file__).resolve().parents[2] / "docs" / "monitoring" / "queries.yaml"


@pytest.fixture
def db(make_db):
    dsn = make_db("monitoring")
    with psycopg.connect(dsn, autocommit=True) as conn:
        dataset = random_dataset(2101)
        load_dataset(conn, "music", dataset)
        use_source_schema(conn, "music")
        yield conn, dataset


def status(conn) -> tuple[bool, bool]:
    return conn.execute("SELECT stale, healthy FROM trending.status").fetchone()


def metrics(conn) -> dict[tuple[str, str, str], float]:
    return {(m, k, c): v for m, k, c, v in conn.execute("SELECT metric, kind, counter, value FROM trending.metrics")}


def test_never_run_is_stale_and_not_healthy(db):
    conn, _ = db
    assert status(conn) == (True, False)
    figures = metrics(conn)
    assert figures[("stale", "", "")] == 1 and figures[("healthy", "", "")] == 0
    assert figures[("scores_age_seconds", "", "")] is None


def as_of(conn, age: str) -> None:
    """Make the successful runs' scores `age` old (their now), as if the cycles ran then."""
    conn.execute("UPDATE trending.runs SET cycle_now = now() - %s::interval WHERE status = 'ok'", (age,))


def test_a_successful_run_is_healthy_until_stale_after_passes(db):
    """Freshness is the age of the scores (the last ok cycle's now against the
    clock), not when the cycle finished (issue 17)."""
    conn, dataset = db
    recompute(conn, dataset.now)  # the dataset's now is long past: the scores are not fresh
    assert status(conn) == (True, False)
    assert conn.execute("SELECT unhealthy_reason FROM trending.status").fetchone()[0].startswith(
        "stale: the scores are as of ")
    as_of(conn, "1 hour 59 minutes")
    assert status(conn) == (False, True)
    assert conn.execute("SELECT unhealthy_reason FROM trending.status").fetchone()[0] is None
    # finished just now, but its now is older than stale_after (2 hours by default)
    as_of(conn, "2 hours 1 second")
    conn.execute("UPDATE trending.runs SET finished_at = now()")
    assert status(conn) == (True, False)


def test_a_failure_after_success_is_unhealthy_but_not_stale_and_skips_change_nothing(db):
    conn, dataset = db
    recompute(conn, dataset.now)
    as_of(conn, "1 minute")
    # a scheduled run that fails (its source schema is gone) leaves a committed 'failed' row
    use_source_schema(conn, "no_such_schema")
    with pytest.raises(psycopg.errors.InvalidSchemaName):
        conn.execute("CALL trending.scheduled_recompute(%s)", (dataset.now,))
    assert status(conn) == (False, False)
    # a skipped run is not a fault and does not hide one
    conn.execute("INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, message) "
                 "VALUES ('scheduled', 'skipped', now(), now(), 'another cycle is running')")
    assert status(conn) == (False, False)
    assert conn.execute("SELECT unhealthy_reason FROM trending.status").fetchone()[0].startswith(
        "the last finished run (")
    use_source_schema(conn, "music")
    recompute(conn, dataset.now)
    as_of(conn, "1 minute")
    assert status(conn) == (False, True)
    conn.execute("INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, message) "
                 "VALUES ('scheduled', 'skipped', now(), now(), 'another cycle is running')")
    assert status(conn) == (False, True)


def test_metrics_describe_the_last_successful_run(db):
    conn, dataset = db
    summary = recompute(conn, dataset.now)
    as_of(conn, "1 minute")
    figures = metrics(conn)
    run = conn.execute("SELECT slice_rows, wal_bytes FROM trending.runs WHERE run_id = %s",
                       (summary["run_id"],)).fetchone()
    kinds = dict(conn.execute("SELECT type || '/' || version, kind FROM trending.strategies").fetchall())
    expected: dict[tuple[str, str], float] = {}
    for slice_name, result in run[0].items():
        kind = kinds["/".join(slice_name.split("/")[:2])]
        for action in ("inserted", "updated", "deleted", "unchanged"):
            expected[(kind, action)] = expected.get((kind, action), 0) + result[action]
    got = {(k, c): v for (m, k, c), v in figures.items() if m == "last_run_rows"}
    assert got == expected and got[("track", "inserted")] > 0
    assert figures[("last_run_wal_bytes", "", "")] == float(run[1])
    bad = {c: v for (m, _, c), v in figures.items() if m == "last_run_bad_rows"}
    assert bad == {k: float(v) for k, v in summary["bad_rows"].items() if v is not None}
    assert figures[("run_in_progress", "", "")] == 0
    assert figures[("healthy", "", "")] == 1
    assert 0 <= figures[("last_run_seconds", "", "")] < 3600


def test_exporter_query_file_matches_the_view(db):
    conn, dataset = db
    recompute(conn, dataset.now)
    config = yaml.safe_load(QUERIES.read_text())
    assert list(config) == ["trending"]
    query = config["trending"]
    declared = [(name, spec["usage"]) for column in query["metrics"] for name, spec in column.items()]
    with conn.cursor() as cur:
        cur.execute(query["query"])
        columns = [d.name for d in cur.description]
        rows = cur.fetchall()
    assert columns == [name for name, _ in declared], "every column the query returns is declared, in order"
    usages = dict(declared)
    assert [n for n, u in declared if u == "GAUGE"] == ["value"]
    assert set(usages.values()) <= {"LABEL", "GAUGE"}
    assert rows, "the exporter gets figures after a run"
    labels = [i for i, name in enumerate(columns) if usages[name] == "LABEL"]
    keys = [tuple(row[i] for i in labels) for row in rows]
    assert all(all(isinstance(v, str) for v in key) for key in keys), "labels are never NULL"
    assert len(keys) == len(set(keys)), "each label set appears once (the exporter rejects duplicates)"
    assert all(isinstance(row[columns.index("value")], float) for row in rows)
