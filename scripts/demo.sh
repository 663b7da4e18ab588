#!/usr/bin/env bash
# The embedded default, from nothing: bootstrap (packages, venv, make install),
# then `trending demo`: a throwaway cluster with sample data, CREATE
# EXTENSION, one cycle, the top lists and the cycle's summary.
# Extra arguments go to `trending demo` (e.g. --scale small, --keep).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
exec "$ROOT/.venv/bin/trending" demo "$@"
