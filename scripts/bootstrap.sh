#!/usr/bin/env bash
# Set up everything the demo, the tests and the benchmark need, on Debian 12:
# the PostgreSQL 15 packages (server, PL/Python, pg_cron, pgTAP, pg_prove,
# PGXS), a venv in .venv with the CLI and the test tools, and the extension
# built and installed into PostgreSQL. Idempotent: a second run only checks.
# Sourced by scripts/demo.sh and scripts/test.sh; runs as root (or with sudo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_PACKAGES=(
    postgresql-15 postgresql-plpython3-15 postgresql-15-cron postgresql-15-pgtap postgresql-15-partman
    libtap-parser-sourcehandler-pgtap-perl postgresql-server-dev-15 postgresql-contrib
    python3 python3-venv make
)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Debian's postgresql package would create and start a cluster of its own;
    # trending only ever uses throwaway clusters.
    as_root mkdir -p /etc/postgresql-common
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
        || { as_root apt-get update >/dev/null && as_root apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# The venv: Debian's python3 (a fresh Debian 12 has no pip outside a venv).
VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha256"
wanted="$(cat "$ROOT/requirements-dev.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]; then
    echo "bootstrap: creating the venv in .venv"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e "$ROOT"
    echo "$wanted" > "$STAMP"
fi

# Build the install script (a no-op when it is up to date) and install it.
make -C "$ROOT" --no-print-directory -s
as_root make -C "$ROOT" --no-print-directory -s install >/dev/null
