"""Cycles run in the background while a test looks at them, and the score
tables as one comparable list. Shared by test_write_path.py and
test_faults.py.

A cycle is paused mid-way with the superuser-only test hook
(trending.test_pause_after = 'STEP:SECONDS', extension/trending_pl/hooks.py),
or held on a lock the test takes; the test waits for either by polling
pg_stat_activity, never by sleeping a guessed time.
"""

from __future__ import annotations

import threading
import time

import psycopg

ENTRY_POINTS = {"recompute": "SELECT trending.recompute(%s)",
                "scheduled": "CALL trending.scheduled_recompute(%s)"}


def snapshot(conn) -> list[tuple]:
    """Every stored score row, with its genre and created_at, in key order."""
    return conn.execute("""
SELECT 't', track_id, type, version, time_range, score, genre, created_at FROM trending.track_trending_scores
UNION ALL
SELECT 'p', playlist_id, type, version, time_range, score, NULL, created_at FROM trending.playlist_trending_scores
ORDER BY 1, 2, 3, 4, 5""").fetchall()


class Background:
    """A cycle run on its own connection in a thread; keeps its result or error.

    `pause` sets the test hook for that connection; `gate`, a threading.Event,
    holds the statement back (after connecting) until the test sets it, so
    that several calls can be released at once. With `keep_open` the session
    stays connected after the statement (as psql does) until the `with`
    block ends; `finished` is set when the statement has returned or failed."""

    def __init__(self, dsn: str, statement: str, params=(), pause: str | None = None,
                 gate: threading.Event | None = None, keep_open: bool = False):
        self.dsn, self.statement, self.params, self.pause, self.gate = dsn, statement, params, pause, gate
        self.keep_open = keep_open
        self.pid = None
        self.result = self.error = None
        self.notices: list[str] = []
        self.started = threading.Event()
        self.finished = threading.Event()
        self._closing = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.add_notice_handler(lambda d: self.notices.append(d.message_primary))
                if self.pause:
                    conn.execute("SELECT set_config('trending.test_pause_after', %s, false)", (self.pause,))
                self.pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                self.started.set()
                if self.gate is not None and not self.gate.wait(60):
                    raise AssertionError("the gate was never opened")
                try:
                    row = conn.execute(self.statement, self.params).fetchone() if \
                        self.statement.lstrip().upper().startswith("SELECT") else \
                        conn.execute(self.statement, self.params)
                    self.result = row[0] if isinstance(row, tuple) else None
                except psycopg.Error as error:
                    self.error = error
                self.finished.set()
                if self.keep_open:
                    self._closing.wait(120)
        except psycopg.Error as error:
            self.error = error
        finally:
            self.finished.set()
            self.started.set()

    def __enter__(self):
        self.thread.start()
        assert self.started.wait(30)
        return self

    def __exit__(self, *exc):
        self._closing.set()
        self.thread.join(120)

    def _wait_for(self, conn, condition: str, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise AssertionError(f"the cycle failed before {what}: {self.error}")
            row = conn.execute(f"SELECT {condition} FROM pg_stat_activity WHERE pid = %s", (self.pid,)).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
        raise AssertionError(f"the cycle never got to {what}")

    def wait_until_paused(self, conn, timeout: float = 60) -> None:
        """Until the cycle's backend sleeps in the pause hook."""
        self._wait_for(conn, "wait_event = 'PgSleep'", "its pause", timeout)

    def wait_until_waiting_for_a_lock(self, conn, timeout: float = 60) -> None:
        """Until the cycle's backend waits for a heavyweight lock."""
        self._wait_for(conn, "wait_event_type = 'Lock'", "a lock wait", timeout)
