"""Shared fixtures: one fast throwaway cluster (no pg_cron) for the whole run,
with a database that has the trending extension installed.

Datasets live side by side as schemas of that database; `trending.settings`
says which one a cycle reads.
"""

from __future__ import annotations

import psycopg
import pytest

from trending_cli.cluster import Cluster

TEST_DB = "trending_test"


@pytest.fixture(scope="session")
def cluster():
    with Cluster(name="trending-test") as server:
        yield server


@pytest.fixture(scope="session")
def dsn(cluster):
    """A database with plpython3u and trending installed (and pgtap, if present)."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        available = {r[0] for r in admin.execute("SELECT name FROM pg_available_extensions")}
        if "trending" not in available:
            pytest.exit("the trending extension is not installed into PostgreSQL: run `make install`",
                        returncode=3)
        admin.execute(f"CREATE DATABASE {TEST_DB}")
    dsn = cluster.conninfo(TEST_DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION trending CASCADE")
    return dsn


@pytest.fixture
def conn(dsn):
    """An autocommit connection to the test database."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection
