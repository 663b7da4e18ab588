"""Claims of docs/security.md that no other test showed (issue 17, item 6):
what revoke_* leaves, and a source the cycle's role may not read."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from support.harness import enable_strategies, use_source_schema
from support.random_datasets import load_dataset, random_dataset

SOURCE = "music"
DATASET = random_dataset(1718)
ROLE = "claims_role"
ENTRY_POINTS = {"recompute": "SELECT trending.recompute(%s)", "scheduled": "CALL trending.scheduled_recompute(%s)"}
SHARED = ("trending.settings", "trending.strategies", "trending.track_trending_scores",
          "trending.playlist_trending_scores")


@pytest.fixture(scope="module")
def dsn(make_db):
    dsn = make_db("security_claims")
    with psycopg.connect(dsn, autocommit=True) as conn:
        load_dataset(conn, SOURCE, DATASET)
        use_source_schema(conn, SOURCE)
        enable_strategies(conn)
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(ROLE)))
    return dsn


def explicit(conn, role: str) -> set[str]:
    """The role's own grants (not PUBLIC's) on schema trending and the shared tables."""
    rows = conn.execute("""
SELECT 'schema trending ' || a.privilege_type
FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'trending' AND a.grantee = %s::regrole
UNION ALL
SELECT c.oid::regclass::text || ' ' || a.privilege_type
FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = ANY (%s::regclass[]) AND a.grantee = %s::regrole""",
                        (role, list(SHARED), role)).fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("privilege_set", ["cycle", "read", "configure"])
def test_revoke_leaves_usage_on_trending_and_select_on_the_shared_tables(dsn, privilege_set):
    shared = {"schema trending USAGE"} | {f"{t} SELECT" for t in SHARED}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SELECT trending.grant_{privilege_set}(%s)", (ROLE,))
        assert shared <= explicit(conn, ROLE)
        conn.execute(f"SELECT trending.revoke_{privilege_set}(%s)", (ROLE,))
        assert explicit(conn, ROLE) == shared, "what every set shares stays; nothing else of the set's"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_source_the_cycles_role_may_not_read_is_refused_before_any_read(dsn, entry):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT trending.grant_cycle(%s)", (ROLE,))
        conn.execute(sql.SQL("REVOKE SELECT ON {}.plays FROM {}").format(sql.Identifier(SOURCE), sql.Identifier(ROLE)))
        try:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(ROLE)))
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="plays"):
                conn.execute(ENTRY_POINTS[entry], (DATASET.now,))
        finally:
            conn.execute("RESET ROLE")
            conn.execute("SELECT trending.revoke_cycle(%s)", (ROLE,))
