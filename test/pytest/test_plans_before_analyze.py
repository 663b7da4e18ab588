"""Plans that do not wait for autovacuum (issue 18, item 6): the first
incremental cycle right after a cold one, before anything analyzed the
freshly filled score tables, reads the stored rows of the affected items by
key, not a whole slice.

The score tables are analyzed while empty (as autovacuum may do right after
the install), so their statistics say "empty" when the cold cycle has
filled them; autovacuum is off for them. The bound is taken from the
cycle's own EXPLAIN (ANALYZE, BUFFERS) of the statement that stages each
kind's changes: shared buffers per affected item, whatever index a plan
would choose. 1.1's statement walked the slices through the ranking index
(`id = ANY (...)` is no leading key of it) and fails this: 289,605 buffers
for 261 affected tracks at this scale, against about 2,000 by key.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from support.plans import nested_plans
from trending_cli.sample_data import generate

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
SCORE_TABLES = ("trending.track_trending_scores", "trending.playlist_trending_scores")
# a primary-key lookup per affected item touches a few index pages and one
# heap page per stored row (up to 3 ranges); the slack covers the
# statement's fixed reads
BUFFERS_PER_ITEM = 12
FIXED_BUFFERS = 60


@pytest.fixture
def cold_db(make_db):
    with psycopg.connect(make_db("trending_plans_before_analyze"), autocommit=True) as conn:
        generate(conn, "music", scale="small", seed=11, as_of=AS_OF)
        conn.execute("UPDATE trending.settings SET value = 'music' WHERE name = 'source_schema'")
        conn.execute("UPDATE trending.strategies SET enabled = true")
        for table in SCORE_TABLES:
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
            conn.execute(f"ANALYZE {table}")  # empty: what autovacuum may have seen after the install
        conn.execute("SELECT trending.install_capture()")
        summary = conn.execute("SELECT trending.recompute(%s)", (AS_OF,)).fetchone()[0]
        assert summary["cycle"]["kind"] == "full" and summary["rows"]["inserted"] > 1000
        yield conn


def staging_buffers(plans: list[dict], kind: str) -> int:
    """Shared buffers of the statement that staged `kind`'s changes."""
    [plan] = [p for p in plans if "WITH joined AS MATERIALIZED" in p["Query Text"]
              and f"trending_{kind}_changes" in p["Query Text"]]
    top = plan["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"]


def test_the_first_incremental_cycle_reads_the_affected_items_stored_rows_by_key(cold_db):
    conn = cold_db
    # a handful of items change: a play of one track, a save of one playlist
    (track_id,) = conn.execute("SELECT track_id FROM trending.track_trending_scores "
                               "ORDER BY score DESC LIMIT 1").fetchone()
    (playlist_id,) = conn.execute("SELECT playlist_id FROM trending.playlist_trending_scores "
                                  "ORDER BY score DESC LIMIT 1").fetchone()
    now = AS_OF + timedelta(minutes=30)
    conn.execute("INSERT INTO music.plays (id, play_item_id, created_at) "
                 "SELECT max(id) + 1, %s, %s FROM music.plays", (track_id, now.replace(tzinfo=None)))
    conn.execute("INSERT INTO music.saves (user_id, save_item_id, save_type, is_current, is_delete, created_at, txhash) "
                 "SELECT u.user_id, %s, 'playlist', true, false, %s, 'plans-before-analyze' "
                 "FROM music.users u WHERE u.is_current ORDER BY u.user_id LIMIT 1",
                 (playlist_id, now.replace(tzinfo=None)))
    conn.execute("LOAD 'auto_explain'")
    conn.execute("SET auto_explain.log_buffers = on")
    rows, plans = nested_plans(conn, "SELECT trending.recompute(%s)", (now,), analyze=True)
    summary = rows[0][0]
    assert summary["cycle"]["kind"] == "incremental", summary["cycle"]
    for kind in ("track", "playlist"):
        affected = summary["cycle"]["affected"][kind]
        assert affected >= 1, summary["cycle"]
        buffers = staging_buffers(plans, kind)
        assert buffers <= FIXED_BUFFERS + BUFFERS_PER_ITEM * affected, (
            f"staging {kind} changes touched {buffers} buffers for {affected} affected items: "
            "the stored rows were not read by key")
    stats = conn.execute("SELECT count(*) FROM pg_stat_user_tables WHERE relid = ANY (%s::regclass[]) "
                         "AND autovacuum_count + autoanalyze_count > 0", (list(SCORE_TABLES),)).fetchone()[0]
    assert stats == 0, "autovacuum must not have touched the score tables during the test"
