"""Shared fixtures: one fast throwaway cluster (no pg_cron) for the whole run,
with a database that has the trending extension installed.

Datasets live side by side as schemas of that database; `trending.settings`
says which one a cycle reads.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from trending_cli.cluster import Cluster

TEST_DB = "trending_test"


@pytest.fixture(scope="session")
def cluster():
    with Cluster(name="trending-test") as server:
        yield server


@pytest.fixture(scope="session")
def dsn(cluster, make_db):
    """A database with plpython3u and trending installed."""
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        available = {r[0] for r in admin.execute("SELECT name FROM pg_available_extensions")}
    if "trending" not in available:
        pytest.exit("the trending extension is not installed into PostgreSQL: run `make install`",
                    returncode=3)
    return make_db(TEST_DB)


@pytest.fixture
def conn(dsn):
    """An autocommit connection to the test database."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def make_db(cluster):
    """Factory: make_db(name, extensions=("trending",)) creates database `name`
    afresh (dropping an old one) with those extensions; returns its conninfo."""
    def make(name: str, extensions=("trending",)) -> str:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        dsn = cluster.conninfo(name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for extension in extensions:
                conn.execute(sql.SQL("CREATE EXTENSION {} CASCADE").format(sql.Identifier(extension)))
        return dsn
    return make


@pytest.fixture(scope="session")
def cron_cluster():
    """A second cluster with pg_cron preloaded (database postgres), only for
    scheduling tests: pg_cron 1.4.2 stalls DROP DATABASE, so databases here
    are created once and never dropped."""
    with Cluster(name="trending-cron", pg_cron=True) as server:
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            admin.execute("CREATE EXTENSION pg_cron")
            admin.execute("CREATE EXTENSION trending CASCADE")
            admin.execute("CREATE DATABASE app")
        with psycopg.connect(server.conninfo("app"), autocommit=True) as app:
            app.execute("CREATE EXTENSION trending CASCADE")
        yield server
