"""The parsing of `python -m trending_cli.bench.explain` (issue 9): the
statement, blocks touched and WAL read off auto_explain's text plans, and the
report built from them. No cluster: synthetic plans."""

from __future__ import annotations

from trending_cli.bench import explain

# A nested UPDATE: the top node's figures are the statement's; the child's and
# the trigger's lines, and a query text that mentions Buffers, must not count.
UPDATE_PLAN = """duration: 12.500 ms  plan:
Query Text: UPDATE trending.track_trending_scores t SET score = c.score
  -- Buffers: shared hit=999999 (a comment, not a figure)
FROM pg_temp.trending_track_changes c WHERE t.ctid = c.stored_tid
Update on track_trending_scores t  (cost=0.00..10.00 rows=0 width=0) (actual time=12.1..12.1 rows=0 loops=1)
  Buffers: shared hit=100 read=20 dirtied=7 written=3, local hit=5 read=2 written=1, temp read=4 written=4
  I/O Timings: shared read=1.5
  WAL: records=30 fpi=25 bytes=204800
  ->  Nested Loop  (cost=0.00..10.00 rows=10 width=40) (actual time=0.1..1.0 rows=10 loops=1)
        Buffers: shared hit=50 read=20
        WAL: records=1 bytes=77
Trigger trending_capture: time=0.5 calls=1"""

# A function call: the Result node carries what the function's statements did.
CALL_PLAN = """duration: 40.000 ms  plan:
Query Text: SELECT trending._apply_slice('TRACKS', 'pnagD', 'week')
Result  (cost=0.00..0.26 rows=1 width=32) (actual time=40.0..40.0 rows=1 loops=1)
  Buffers: shared hit=150 read=20 dirtied=7 written=3
  WAL: records=31 fpi=25 bytes=204877"""

# A data-modifying CTE: the CTE section follows the top node's own details.
CTE_PLAN = """duration: 5.000 ms  plan:
Query Text:
WITH joined AS MATERIALIZED (SELECT 1)
INSERT INTO pg_temp.trending_track_staged SELECT * FROM joined
Insert on trending_track_staged  (cost=1.00..2.00 rows=0 width=0) (actual time=4.9..4.9 rows=0 loops=1)
  Buffers: local hit=8 read=10 dirtied=1 written=1
  CTE joined
    ->  Result  (cost=0.00..0.01 rows=1 width=4) (actual time=0.0..0.0 rows=1 loops=1)
          Buffers: shared hit=1000"""

# No buffers, no WAL at all (EXPLAIN leaves the lines out).
IDLE_PLAN = """duration: 0.010 ms  plan:
Query Text: SELECT 1
Result  (cost=0.00..0.01 rows=1 width=4) (actual time=0.0..0.0 rows=1 loops=1)"""


def test_blocks_sum_hit_read_written_of_the_top_node():
    # shared 100 + 20 + 3, local 5 + 2 + 1, temp 4 + 4; dirtied is not added
    assert explain._blocks(UPDATE_PLAN) == 139
    assert explain._blocks(CALL_PLAN) == 173
    assert explain._blocks(CTE_PLAN) == 19, "the CTE's child is not the top node"
    assert explain._blocks(IDLE_PLAN) == 0


def test_wal_bytes_are_the_top_nodes():
    assert explain._wal_bytes(UPDATE_PLAN) == 204800
    assert explain._wal_bytes(CALL_PLAN) == 204877
    assert explain._wal_bytes(IDLE_PLAN) == 0


def test_statement_is_the_first_line_of_the_query_text():
    assert explain._statement(UPDATE_PLAN) == "UPDATE trending.track_trending_scores t SET score = c.score"
    assert explain._statement(CTE_PLAN) == "WITH joined AS MATERIALIZED (SELECT 1)"


def test_report_ranks_statements_by_time_blocks_and_wal():
    plans = [(12.5, UPDATE_PLAN), (40.0, CALL_PLAN), (5.0, CTE_PLAN), (0.01, IDLE_PLAN)]
    summary = {"cycle": {"kind": "incremental"}, "rows": {"updated": 10}, "steps": {"track_changes": 50.0}}
    wal = [("trending.track_trending_scores", "UPDATE", 30, 0.2, 0.19)]
    text = explain.report("tiny", summary, plans, wal, 204877, 0.06, incremental=True)
    assert text.startswith("# Where an incremental steady cycle goes (tiny)")
    assert "Steady cycle (incremental): 0.06 s" in text
    table = text.split("## Summary: the 10 statements that touch the most blocks")[1].split("## WAL by")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows[0] == "| `SELECT trending._apply_slice('TRACKS', 'pnagD', 'week')` | 40 | 173 | 204,877 |"
    assert len(rows) == 4
    assert "| trending.track_trending_scores | UPDATE | 30 | 0.2 | 0.19 |" in text
    by_blocks = text.split("## The statements that touch the most blocks")[1].split("## The statements that write")[0]
    assert by_blocks.index("_apply_slice") < by_blocks.index("UPDATE trending") < by_blocks.index("WITH joined")
    by_wal = text.split("## The statements that write the most WAL")[1]
    assert by_wal.count("### ") == explain.TOP_BY_WAL
    assert "```\nduration: 12.500 ms  plan:" in by_wal, "each statement with its full plan"
    assert "overlap" in text


def test_output_file_names():
    assert explain.output_path("/o", "small", False).name == "explain.md"
    assert explain.output_path("/o", "small", True).name == "explain-incremental-small.md"


def test_a_pipe_in_the_statement_does_not_end_the_table_cell():
    plan = IDLE_PLAN.replace("SELECT 1", "SELECT 'a' || 'b'")
    assert explain._summary_row(0.01, plan) == "| `SELECT 'a' \\|\\| 'b'` | 0 | 0 | 0 |"
