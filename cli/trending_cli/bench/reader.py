"""The service's API, simulated: a thread looping the reference's hot read on its own
connection, while a cycle runs (or while nothing runs, for the idle baseline).

The reader sets lock_timeout = '50ms': a read that would wait on a lock fails
with 55P03, is counted as blocked, and the loop goes on. A read that returns
no rows where the score table had rows both before and after the cycle is
counted as empty (an empty or partial slice was visible). For the upstream
contenders the reader also selects a row of the contender's input view, so
that a plain REFRESH's ACCESS EXCLUSIVE lock shows as blocked reads.

Reads are issued without server-side prepared statements, so each is planned
with its actual values, as the API's one-shot queries are.
"""

from __future__ import annotations

import math
import random
import threading
import time

import psycopg
from psycopg import errors, sql

LOCK_TIMEOUT = "50ms"
RANGES = ("week", "month", "allTime")
LIMIT = 100
MAX_OFFSET = 200

_HOT_READ = """SELECT track_id FROM {table}
WHERE type = 'TRACKS' AND version = 'pnagD' AND time_range = %(range)s
  AND (%(genre)s = '' OR genre = %(genre)s)
ORDER BY score DESC, track_id DESC LIMIT %(limit)s OFFSET %(offset)s"""


class ApiReader(threading.Thread):
    """Loops the hot read until stop(); collects latencies and failures."""

    def __init__(self, conninfo: str, table, genres: list, *, touch=None, pause_s: float = 0.002,
                 seed: int = 1):
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.query = sql.SQL(_HOT_READ).format(table=table)
        self.touch = sql.SQL("SELECT 1 FROM {} LIMIT 1").format(touch) if touch is not None else None
        self.genres = list(genres)
        self.pause_s = pause_s
        self.random = random.Random(seed)
        self.latencies_ms: list = []
        self.blocked = 0
        self.failures = 0
        self.empties: list = []   # (range, genre, offset) of reads that returned no rows
        self.error: str | None = None
        self.ready = threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True, prepare_threshold=None) as conn:
                conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
                self.ready.set()
                while True:
                    self._read_once(conn)
                    if self._stopping.wait(self.pause_s):
                        break
        except Exception as error:  # reported, never raised in the thread
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.ready.set()

    def _read_once(self, conn) -> None:
        params = {"range": self.random.choice(RANGES),
                  "genre": self.random.choice(self.genres) if self.genres and self.random.random() < 0.5 else "",
                  "limit": LIMIT, "offset": self.random.randint(0, MAX_OFFSET)}
        started = time.perf_counter()
        try:
            rows = conn.execute(self.query, params).fetchall()
        except errors.LockNotAvailable:
            self.blocked += 1
            return
        except psycopg.Error as error:
            self._failed(error)
            return
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if not rows:
            self.empties.append((params["range"], params["genre"], params["offset"]))
        if self.touch is not None:
            try:
                conn.execute(self.touch).fetchall()
            except errors.LockNotAvailable:
                self.blocked += 1
            except errors.ObjectNotInPrerequisiteState:
                pass  # the view is not populated yet (before the first refresh): nothing to read
            except psycopg.Error as error:
                self._failed(error)

    def _failed(self, error) -> None:
        """Any other error: counted, the first one kept, and the loop goes on."""
        self.failures += 1
        if self.error is None:
            self.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"

    def stop(self) -> None:
        self._stopping.set()
        self.join()

    def summary(self, before: dict | None = None, after: dict | None = None) -> dict:
        """Latency percentiles, blocked reads, and empty reads that should have had rows."""
        result = latency_summary(self.latencies_ms)
        result["blocked"] = self.blocked
        result["empty"] = sum(1 for key in self.empties
                              if key[2] < min((before or {}).get(key[:2], 0), (after or {}).get(key[:2], 0)))
        if self.error:
            result["failures"], result["error"] = self.failures, self.error
        return result


def latency_summary(latencies_ms: list) -> dict:
    ordered = sorted(latencies_ms)

    def pct(q: float):
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 3) if ordered else None

    return {"reads": len(ordered), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1], 3) if ordered else None}


def rows_per_read_key(conn, table) -> dict:
    """(range, genre) -> how many TRACKS/pnagD rows the table holds ('' = all
    genres): how deep a read at that key can page before it is legitimately empty."""
    rows = conn.execute(sql.SQL(
        "SELECT time_range, genre, grouping(genre) = 1, count(*)"
        " FROM {} WHERE type = 'TRACKS' AND version = 'pnagD'"
        " GROUP BY GROUPING SETS ((time_range, genre), (time_range))").format(table)).fetchall()
    return {(r, "" if total else g): n for r, g, total, n in rows if total or g}


def measure_idle(conninfo: str, table, genres: list, *, touch=None, seconds: float,
                 pause_s: float, seed: int) -> dict:
    """The same loop with no cycle running: the baseline of the p99 ratio."""
    reader = ApiReader(conninfo, table, genres, touch=touch, pause_s=pause_s, seed=seed)
    reader.start()
    reader.ready.wait()
    time.sleep(seconds)
    reader.stop()
    return reader.summary()
