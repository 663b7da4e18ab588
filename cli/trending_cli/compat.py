"""The trending versions a database may hold, and what each lets the CLI ask.

A DBA runs `trending doctor` and `trending status` before upgrading, so the
CLI meets databases that hold an older trending (1.0, 1.1) than the one it
carries. What exists there (a view's columns, a function, the capture's
role) follows from the installed version, pg_extension.extversion: commands
ask `Installed.has(feature)` by name, never probe the catalog column by
column, and what an old version's objects say in other words (its health)
is derived here.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import bundle
from .db import available_version, extension_version, version_key as _key
from .errors import server_message

# Each feature the CLI depends on, and the first version that has it.
SINCE = {
    # trending.status: stale, healthy, stale_after, last_cycle_kind, last_cycle_reason
    "health": "1.1",
    # trending.runs: cycle_kind, cycle_reason, affected, drift
    "cycle_kind": "1.1",
    # trending.capture_status and trending.install_capture()
    "capture": "1.1",
    # trending.status: unhealthy_reason, running_role, lease_broken_* (the cycle lease)
    "unhealthy_reason": "1.2",
    "lease": "1.2",
    # trending.capture_status: record_until, max_pause, unconsumed_for, held_by (the bound)
    "capture_bound": "1.2",
    # trending.capture_status.not_covered (tables and partitions without triggers)
    "capture_coverage": "1.2",
    # the capture triggers run as role trending_capture (SECURITY DEFINER); in
    # 1.1 they ran as each writer, who was granted INSERT on the delta tables
    "capture_role": "1.2",
}

# The stale_after setting's default since 1.1, which introduced it: 1.0's
# scores are judged by it.
DEFAULT_STALE_AFTER_HOURS = 2


@dataclass(frozen=True)
class Installed:
    """The trending installed in a database, and what this CLI carries."""
    version: str
    newest: str | None  # what `trending install` would install: the CLI's files, else the server's

    def has(self, feature: str) -> bool:
        return _key(self.version) >= _key(SINCE[feature])

    @property
    def outdated(self) -> bool:
        return self.newest is not None and _key(self.version) < _key(self.newest)

    def update_line(self, database: str | None = None) -> str:
        """What to say first about an outdated trending."""
        where = f" in database {database}" if database else ""
        return f"trending {self.version} is installed{where}; `trending install` updates it to {self.newest}"


def installed(conn) -> Installed | None:
    version = extension_version(conn)
    if version is None:
        return None
    return Installed(version, newest(conn))


def newest(conn) -> str | None:
    """The version `trending install` installs: the files this CLI carries,
    else (a CLI without them) those the server has."""
    control = bundle.BUNDLE_DIR / "trending.control"
    carried = bundle.default_version(control.read_bytes()) if control.exists() else None
    return carried or available_version(conn, "trending")


def old_health(conn, ext: Installed) -> tuple[bool, str]:
    """healthy, and why not, from a trending.status without unhealthy_reason:
    1.1's stale and healthy columns; 1.0's run columns, with the scores judged
    stale past 1.1's default stale_after (1.0 has no such setting)."""
    row = conn.execute("SELECT to_jsonb(s), now() - s.scores_as_of > make_interval(hours => %s) "
                       "FROM trending.status s", (DEFAULT_STALE_AFTER_HOURS,)).fetchone()
    status, too_old = row
    failed_last = (status["last_failure_run_id"] is not None
                   and status["last_failure_run_id"] > (status["last_success_run_id"] or 0))
    if ext.has("health"):
        stale, healthy, stale_after = status["stale"], status["healthy"], status["stale_after"]
    else:
        stale = status["scores_as_of"] is None or too_old
        healthy = not stale and not failed_last
        stale_after = f"{DEFAULT_STALE_AFTER_HOURS} hours, 1.1's default: {ext.version} has no stale_after"
    if healthy:
        return True, ""
    reasons = []
    if stale:
        reasons.append(f"stale: no cycle has succeeded within stale_after ({stale_after})"
                       if status["scores_as_of"] else "stale: no cycle has succeeded yet")
    if failed_last:
        reasons.append(f"the last finished run ({status['last_failure_run_id']}) {status['last_failure_status']}: "
                       f"{server_message(status['last_failure_message'] or '')}")
    return False, "not healthy: " + "; ".join(reasons)


def capture_offer(conn, before: str | None) -> str | None:
    """After `trending install` updated an older trending: the change capture
    is the reason to upgrade; say once how to turn it on, unless it is on."""
    ext = installed(conn)
    if before is None or ext is None or ext.version == before or not ext.has("capture"):
        return None
    if conn.execute("SELECT installed FROM trending.capture_status").fetchone()[0]:
        return None
    return (f"capture: trending {ext.version} can record what changes in the source tables, so that a cycle "
            "rescores only the items that changed (incremental cycles); it is not installed in this database: "
            "turn it on with `trending install --capture` (it puts triggers on the source tables, locking "
            "each briefly; docs/incremental.md)")
