"""The statements of a cycle are set-based: captured with auto_explain
(ANALYZE, parallelism off), no node that reads data runs more than once per
statement, so no estimate can turn a join into a per-row loop over a table
(the quadratic trap of the upstream's staged upsert). Only catalog lookups
may repeat, and a TID scan fetching at most one tuple per loop (applying a
change by its ctid is one page access, whatever the table's size). Also: no statement of a cycle truncates or refreshes anything."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from support.plans import nested_plans, nodes
from trending_cli.sample_data import generate, simulate_activity

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def plans_db(make_db):
    with psycopg.connect(make_db("trending_cycle_plans"), autocommit=True) as conn:
        generate(conn, "music", scale="tiny", seed=3, as_of=AS_OF)
        conn.execute("UPDATE trending.settings SET value = 'music' WHERE name = 'source_schema'")
        conn.execute("UPDATE trending.strategies SET enabled = true")
        yield conn


def cycle_plans(conn, now: datetime) -> tuple[dict, list[dict]]:
    rows, plans = nested_plans(conn, "SELECT trending.recompute(%s)", (now,), analyze=True)
    return rows[0][0], plans


# The change capture's state (trending.capture_status, read first by every
# cycle) is a catalog query over the ten source tables and their four
# triggers each, which may loop over those; of its relations only the delta
# tables hold data, and they must be read once.
CAPTURE_DATA = ("_capture_changes", "_capture_plays", "_capture_truncates")


def repeated_data_scans(plans: list[dict]) -> list[str]:
    found = []
    for plan in plans:
        relations = [n for n in nodes(plan["Plan"]) if "Relation Name" in n]
        if relations and all(n.get("Schema") == "pg_catalog" or str(n["Relation Name"]).startswith("pg_")
                             for n in relations):
            continue  # a catalog query (trending._check_sources), not a scan of data
        if "FROM trending.capture_status" in plan["Query Text"]:
            found += [f"{n['Node Type']} on {n['Relation Name']} x{n['Actual Loops']}: capture_status"
                      for n in relations if n["Relation Name"] in CAPTURE_DATA and n.get("Actual Loops", 1) > 1]
            continue
        for node in nodes(plan["Plan"]):
            one_tuple_fetch = node["Node Type"] == "Tid Scan" and node.get("Actual Rows", 0) <= 1
            if node.get("Actual Loops", 1) > 1 and node.get("Schema") != "pg_catalog" \
                    and not str(node.get("Relation Name", "")).startswith("pg_") and not one_tuple_fetch:
                found.append(f"{node['Node Type']} on {node.get('Relation Name')} x{node['Actual Loops']}: "
                             + " ".join(plan["Query Text"].split())[:160])
    return found


def test_cold_and_steady_cycles_never_loop_over_data(plans_db):
    cold, cold_plans = cycle_plans(plans_db, AS_OF)
    assert cold["rows"]["inserted"] > 1000
    simulate_activity(plans_db, "music", seed=3, start=AS_OF, end=AS_OF + timedelta(hours=1))
    steady, steady_plans = cycle_plans(plans_db, AS_OF + timedelta(hours=1))
    assert steady["rows"]["updated"] > 0 and steady["rows"]["unchanged"] > 0, \
        "the steady cycle must exercise the update path"

    statements = [p["Query Text"] for p in cold_plans + steady_plans]
    assert len(statements) > 30, "auto_explain captured the cycle's statements"
    assert not repeated_data_scans(cold_plans + steady_plans)
    for text in statements:
        upper = text.upper()
        assert "TRUNCATE" not in upper and "REFRESH MATERIALIZED" not in upper, text
