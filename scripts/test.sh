#!/usr/bin/env bash
# The whole test suite, from nothing: bootstrap (packages, venv, make install),
# then pytest, which starts and stops its own throwaway clusters and runs the
# unit tests, the pgTAP files (via pg_prove), the oracle tests and the rest.
# Three workers (pytest-xdist), each with its own throwaway clusters; a test
# file's tests stay together and in order in one worker (--dist loadfile).
# Three on a 2-CPU machine: many tests wait (for pg_cron's next minute, a
# lock, a paused cycle), and a third worker uses that time: 9.4 minutes
# against 10.6 with two, measured on 1327 tests.
# TRENDING_TEST_WORKERS=0 runs everything in this process.
# Extra arguments go to pytest (e.g. -k differential, -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest --numprocesses "${TRENDING_TEST_WORKERS:-3}" --dist loadfile "$@"
