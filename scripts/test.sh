#!/usr/bin/env bash
# The whole test suite, from nothing: bootstrap (packages, venv, make install),
# then pytest, which starts and stops its own throwaway clusters and runs the
# unit tests, the pgTAP files (via pg_prove), the oracle tests and the rest.
# Extra arguments go to pytest (e.g. -k differential, -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest "$@"
