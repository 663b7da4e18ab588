"""Run the pgTAP suite (test/sql/*.sql) with pg_prove, one pytest item per file.

Each file is a BEGIN ... ROLLBACK transaction against a database that has
pgtap and trending installed; pg_prove fails loudly on any failed, missing or
extra assertion, and so does this test.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
PGTAP_FILES = sorted(SQL_DIR.glob("[0-9][0-9]-*.sql"))
PGTAP_DB = "trending_pgtap"


@pytest.fixture(scope="module")
def pgtap_env(cluster, make_db):
    if shutil.which("pg_prove") is None:
        pytest.fail("pg_prove is not installed (Debian: libtap-parser-sourcehandler-pgtap-perl)")
    make_db(PGTAP_DB, extensions=("pgtap", "trending"))
    return cluster.env(PGTAP_DB)


def test_pgtap_files_exist():
    assert len(PGTAP_FILES) >= 5, f"expected the pgTAP suite in {SQL_DIR}"


@pytest.mark.parametrize("sql_file", PGTAP_FILES, ids=[p.name for p in PGTAP_FILES])
def test_pgtap(pgtap_env, sql_file):
    result = subprocess.run(["pg_prove", "--verbose", "--failures", str(sql_file)],
                            env=pgtap_env, capture_output=True, text=True, cwd=SQL_DIR)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Result: PASS" in output, output
