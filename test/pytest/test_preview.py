"""trending.preview(now) (issue 11, item 1): the rows a cycle at `now` would
insert, update and delete are exactly what the next cycle at that `now`
writes (scores, genres and ranks, read from the score tables before and
after a real trending.recompute(now)); a preview writes nothing, records no
run and takes no lock a cycle or a reader waits on."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from support.cycles import snapshot
from support.harness import ALL_STRATEGIES, enable_strategies, recompute, use_source_schema
from support.lease import free_lease, hold_lease
from support.random_datasets import Dataset, drop_schema, load_dataset, random_dataset

KINDS = {"t": "track", "p": "playlist"}
SEEDS = range(8)
ACTIONS_SEEN: Counter = Counter()


def _rows(snap) -> dict:
    """{(kind, type, version, time_range, id): (score, genre)} from support.cycles.snapshot."""
    return {(KINDS[r[0]], r[2], r[3], r[4], r[1]): (r[5], r[6]) for r in snap}


def _ranks(rows: dict) -> dict:
    """The API's rank (score DESC, id DESC within the slice) of every row."""
    slices = defaultdict(list)
    for (kind, typ, version, rng, id_), (score, _genre) in rows.items():
        slices[(kind, typ, version, rng)].append((score, id_))
    out = {}
    for key, members in slices.items():
        for rank, (_score, id_) in enumerate(sorted(members, reverse=True), start=1):
            out[(*key, id_)] = rank
    return out


def _expected(before: dict, after: dict) -> dict:
    """What the cycle did, as preview rows keyed like _rows."""
    old_rank, new_rank = _ranks(before), _ranks(after)
    out = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        action = "insert" if old is None else "delete" if new is None else "update"
        out[key] = (action, old and old[0], new and new[0], old_rank.get(key), new_rank.get(key),
                    old and old[1], new and new[1])
    return out


def _preview(conn, now) -> dict:
    rows = conn.execute("SELECT kind, type, version, time_range, id, action, old_score, new_score, "
                        "old_rank, new_rank, old_genre, new_genre FROM trending.preview(%s)", (now,)).fetchall()
    out = {(r[0], r[1], r[2], r[3], r[4]): tuple(r[5:]) for r in rows}
    assert len(out) == len(rows), "one preview row per slice and id"
    return out


def _runs(conn) -> int:
    return conn.execute("SELECT count(*) FROM trending.runs").fetchone()[0]


def _no_temp_tables(conn) -> list:
    return conn.execute("SELECT c.relname FROM pg_class c WHERE c.relnamespace = pg_my_temp_schema()"
                        " AND c.relkind = 'r'").fetchall()


@pytest.fixture
def dataset_schema(conn):
    made = []

    def load(name, dataset):
        load_dataset(conn, name, dataset)
        use_source_schema(conn, name)
        made.append(name)
        conn.execute("TRUNCATE trending.track_trending_scores, trending.playlist_trending_scores")
    yield load
    enable_strategies(conn, ALL_STRATEGIES)
    for name in made:
        drop_schema(conn, name)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed_{s}" for s in SEEDS])
def test_preview_is_what_the_next_cycle_writes(conn, dataset_schema, seed):
    dataset = random_dataset(seed)
    dataset_schema(f"preview_{seed}", dataset)
    enable_strategies(conn, ALL_STRATEGIES)
    # an earlier cycle, on sources where a third of the items had their
    # is_delete flipped (flipped back after it), leaves rows to update and
    # delete and misses rows to insert; then a strategy is switched off, so
    # the next cycle also removes its slices
    flip = ("UPDATE {s}.tracks SET is_delete = NOT is_delete WHERE track_id % 3 = 0;"
            " UPDATE {s}.playlists SET is_delete = NOT is_delete WHERE playlist_id % 3 = 0"
            ).format(s=f"preview_{seed}")
    conn.execute(flip)
    recompute(conn, dataset.now - timedelta(days=5, hours=7))
    conn.execute(flip)
    enable_strategies(conn, [s for s in ALL_STRATEGIES if s != ("TRACKS", "AnlGe")])

    before, runs = snapshot(conn), _runs(conn)
    preview = _preview(conn, dataset.now)
    assert snapshot(conn) == before, "a preview writes no score"
    assert _runs(conn) == runs, "a preview records no run"
    assert _no_temp_tables(conn) == [], "a preview drops its temp tables"

    summary = recompute(conn, dataset.now)
    assert summary["status"] == "ok"
    expected = _expected(_rows(before), _rows(snapshot(conn)))
    differing = [(k, preview[k], expected[k]) for k in preview if k in expected and preview[k] != expected[k]]
    assert preview == expected, (
        f"{dataset.summary()}: preview differs from the cycle:\n"
        f"  only in preview: {sorted(set(preview) - set(expected))[:5]}\n"
        f"  only in the cycle: {sorted(set(expected) - set(preview))[:5]}\n  differing: {differing[:5]}")
    counted = Counter(a for a, *_ in preview.values())
    totals = summary["rows"]
    assert (counted["insert"], counted["update"], counted["delete"]) == \
        (totals["inserted"], totals["updated"], totals["deleted"])
    ACTIONS_SEEN.update(counted)


def test_previews_saw_every_action():
    """Run after the seeds: they must have exercised inserts, updates and deletes."""
    if not ACTIONS_SEEN:
        pytest.skip("needs test_preview_is_what_the_next_cycle_writes in this run")
    assert all(ACTIONS_SEEN[a] >= 10 for a in ("insert", "update", "delete")), ACTIONS_SEEN


def test_preview_takes_no_lock_a_cycle_or_reader_waits_on(conn, dsn, dataset_schema):
    dataset = random_dataset(3)
    dataset_schema("preview_locks", dataset)
    enable_strategies(conn, ALL_STRATEGIES)
    recompute(conn, dataset.now - timedelta(days=2))
    with psycopg.connect(dsn, autocommit=True) as holder:
        # the cycle lease held elsewhere: a preview neither waits nor skips
        lease_run = hold_lease(holder)
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '2s'")
                rows = conn.execute("SELECT count(*) FROM trending.preview(%s)", (dataset.now,)).fetchone()[0]
                assert rows > 0
                # every lock it holds on a relation that still exists is ACCESS
                # SHARE; the others are on its own temp tables, since dropped
                # (relations, and their row types as objects); none on the cycle lease
                locks = conn.execute("""
SELECT l.locktype, c.relname, l.mode,
       (l.locktype = 'relation' AND c.oid IS NULL)
       OR (l.locktype = 'object' AND l.classid IN ('pg_class'::regclass, 'pg_type'::regclass)
           AND NOT EXISTS (SELECT FROM pg_class x WHERE x.oid = l.objid)
           AND NOT EXISTS (SELECT FROM pg_type x WHERE x.oid = l.objid)) AS dropped
FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype NOT IN ('virtualxid', 'transactionid')
  AND c.relnamespace IS DISTINCT FROM pg_my_temp_schema()""").fetchall()
                kept = [lock[:3] for lock in locks if not lock[3]]
                assert kept and all(m == "AccessShareLock" for _t, _r, m in kept), \
                    [lock for lock in kept if lock[2] != "AccessShareLock"]
                assert "cycle_lease" not in {r for _t, r, _m in kept}
                assert {"track_trending_scores", "plays"} <= {r for _t, r, _m in kept}
                # a cycle runs while the preview's transaction holds its locks
                free_lease(holder, lease_run)
                lease_run = None
                with psycopg.connect(dsn, autocommit=True) as other:
                    other.execute("SET lock_timeout = '5s'")
                    (summary,) = other.execute("SELECT trending.recompute(%s)", (dataset.now,)).fetchone()
                    assert (summary if isinstance(summary, dict) else json.loads(summary))["status"] == "ok"
        finally:
            if lease_run is not None:
                free_lease(holder, lease_run)


def test_preview_errors_are_clean_and_leave_nothing(conn, dataset_schema):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        conn.execute("SELECT * FROM trending.preview('infinity')")
    assert error.value.diag.message_primary.startswith("trending: invalid now"), str(error.value)
    conn.execute("UPDATE trending.settings SET value = 'no_such_schema' WHERE name = 'source_schema'")
    try:
        with pytest.raises(psycopg.errors.InvalidSchemaName):
            conn.execute("SELECT * FROM trending.preview()")
        assert _no_temp_tables(conn) == []
    finally:
        conn.execute("UPDATE trending.settings SET value = NULL WHERE name = 'source_schema'")


def test_preview_needs_what_a_cycle_needs(conn, dsn, dataset_schema):
    dataset = random_dataset(5)
    dataset_schema("preview_roles", dataset)
    conn.execute("DROP ROLE IF EXISTS trending_preview_job")
    conn.execute("DROP ROLE IF EXISTS trending_preview_reader")
    conn.execute("CREATE ROLE trending_preview_job LOGIN")
    conn.execute("CREATE ROLE trending_preview_reader LOGIN")
    try:
        conn.execute("SELECT trending.grant_cycle('trending_preview_job'),"
                     " trending.grant_read('trending_preview_reader')")
        job = psycopg.conninfo.make_conninfo(dsn, user="trending_preview_job")
        reader = psycopg.conninfo.make_conninfo(dsn, user="trending_preview_reader")
        with psycopg.connect(job, autocommit=True) as c:
            assert c.execute("SELECT count(*) FROM trending.preview(%s)", (dataset.now,)).fetchone()[0] > 0
            doc = c.execute("SELECT trending.explain_track(1, 'week', 'pnagD', %s)", (dataset.now,)).fetchone()[0]
            assert doc["kind"] == "track"
        with psycopg.connect(reader, autocommit=True) as c:
            for call in ("SELECT * FROM trending.preview()", "SELECT trending.explain_track(1)",
                         "SELECT trending.explain_playlist(1)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(call)
    finally:
        for role in ("trending_preview_job", "trending_preview_reader"):
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def test_cli_preview(conn, dsn, dataset_schema, capsys):
    from trending_cli.__main__ import main

    dataset = random_dataset(2)
    dataset_schema("preview_cli", dataset)
    enable_strategies(conn, ALL_STRATEGIES)
    recompute(conn, dataset.now - timedelta(days=3))
    at = dataset.now.isoformat()
    counts = conn.execute("SELECT type || '/' || version, time_range, count(*) FILTER (WHERE action = 'insert'),"
                          " count(*) FILTER (WHERE action = 'update'), count(*) FILTER (WHERE action = 'delete')"
                          " FROM trending.preview(%s) GROUP BY 1, 2", (dataset.now,)).fetchall()
    assert counts
    assert main(["preview", "--dsn", dsn, "--at", at, "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "(nothing is written)" in out and "biggest moves" in out
    lines = [line.split() for line in out.splitlines()]
    for strategy, rng, inserts, updates, deletes in counts:
        assert [strategy, rng, f"{inserts:,}", f"{updates:,}", f"{deletes:,}"] in lines, (strategy, rng, out)

    strategy, rng = counts[0][:2]
    assert main(["preview", "--dsn", dsn, "--at", at, "--slice", f"{strategy}/{rng}", "--limit", "0"]) == 0
    out = capsys.readouterr().out
    shown = [line.split()[:2] for line in out.splitlines()[3:]]
    assert shown == [[strategy, rng]] and "biggest moves" not in out, out
    assert main(["preview", "--dsn", dsn, "--slice", "TRACKS-week"]) == 1
    assert "is not TYPE/version/range" in capsys.readouterr().err


def test_preview_ranks_break_ties_as_the_api_does(conn, dataset_schema):
    """Equal scores rank by id DESC (top_tracks' order), before and after."""
    now = datetime(2024, 3, 31, 12, 0, tzinfo=timezone.utc)
    t0 = now.replace(tzinfo=None)
    ds = Dataset(now=now)
    ds.user(1, followers=10)
    ds.user(2, followers=100)
    for tid in (1, 2, 3, 4):                      # four tracks with the same inputs: tied scores
        ds.track(tid, 1, t0 - timedelta(days=1))
        ds.repost(2, tid, t0 - timedelta(hours=5))
    dataset_schema("preview_ties", ds)
    enable_strategies(conn, [("TRACKS", "pnagD")])
    recompute(conn, now - timedelta(hours=1))
    # one more play for each, two for track 4: all change, 1..3 still tied
    conn.execute("INSERT INTO preview_ties.plays (id, user_id, play_item_id, created_at)"
                 " VALUES (1, NULL, 1, %(t)s), (2, NULL, 2, %(t)s), (3, NULL, 3, %(t)s),"
                 " (4, NULL, 4, %(t)s), (5, NULL, 4, %(t)s)", {"t": t0 - timedelta(minutes=30)})
    week = {k[4]: v for k, v in _preview(conn, now).items() if k[:4] == ("track", "TRACKS", "pnagD", "week")}
    assert {i: (v[3], v[4]) for i, v in week.items()} == {4: (1, 1), 3: (2, 2), 2: (3, 3), 1: (4, 4)}, week
    recompute(conn, now)
    api = dict(conn.execute("SELECT track_id, rank FROM trending.top_tracks('week', lim => 10)").fetchall())
    assert api == {i: v[4] for i, v in week.items()}
