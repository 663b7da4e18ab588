"""Test-only hooks: a pause inside a cycle, so tests can look at a cycle mid-way;
reconciliation switched off (below).

`SET trending.test_pause_after = 'STEP:SECONDS'` (e.g.
'TRACKS/pnagD/week:5') makes a cycle sleep that long after that step's
work, before its commit, with its locks held (in the scheduled procedure the
transactions before its own are committed: one per step, but one for the
last slice, record_movers and write_state). Off unless set; only a
superuser may use it: anyone can set a custom parameter, so a
non-superuser's cycle refuses to run with it set rather than let any role
stretch a cycle's locks.
"""

from __future__ import annotations

PAUSE_SETTING = "trending.test_pause_after"


def pause_after(plpy, step_name: str) -> None:
    value = plpy.execute(f"SELECT pg_catalog.current_setting('{PAUSE_SETTING}', true) AS value")[0]["value"]
    if not value:
        return
    target, _, seconds = value.rpartition(":")
    if not target or not _is_number(seconds):
        plpy.error(f"trending: invalid {PAUSE_SETTING} {value!r}", sqlstate="22023",
                   hint="Use 'STEP:SECONDS', e.g. 'TRACKS/pnagD/week:5', or RESET it.")
    superuser = plpy.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")
    if not (superuser and superuser[0]["rolsuper"]):
        plpy.error(f"trending: {PAUSE_SETTING} is a test hook that only a superuser may set",
                   sqlstate="42501", hint=f"RESET {PAUSE_SETTING};")
    if target == step_name:
        plpy.execute(f"SELECT pg_catalog.pg_sleep({float(seconds)})")


def _is_number(text: str) -> bool:
    try:
        return float(text) >= 0
    except ValueError:
        return False


# `SET trending.test_skip_reconciliation = on`: cycles check no share of the
# state against the sources (the round does not move), so a test can show
# that drift then stays (test_incremental_streams.py). Superuser only, as above.
SKIP_RECONCILIATION_SETTING = "trending.test_skip_reconciliation"


def reconciliation_skipped(plpy) -> bool:
    value = plpy.execute(f"SELECT pg_catalog.current_setting('{SKIP_RECONCILIATION_SETTING}', true) AS value"
                         )[0]["value"]
    if value in (None, "", "off"):
        return False
    superuser = plpy.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user")
    if value != "on" or not (superuser and superuser[0]["rolsuper"]):
        plpy.error(f"trending: {SKIP_RECONCILIATION_SETTING} is a test hook that only a superuser may set (on)",
                   sqlstate="42501", hint=f"RESET {SKIP_RECONCILIATION_SETTING};")
    return True
