#!/usr/bin/env bash
# The benchmark, from nothing: bootstrap (packages, venv, make install), then
# `python -m trending_cli.bench`: a throwaway cluster per scale with real
# durability, the generator's data, the extension against the upstream
# strategies A, B, C, C0; results in docs/bench (results.md, .json, chart.png).
# Extra arguments go to the benchmark (e.g. --scales small,medium).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m trending_cli.bench "$@"
