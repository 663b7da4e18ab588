"""Expected failures as one line and a hint, never a traceback.

A DBA running `trending` against a server should read what went wrong and
what to do about it: a bad DSN, a refused connection, a missing privilege,
a prerequisite or the extension itself missing, a cycle already running.
Everything the server reports carries its SQLSTATE; connection failures are
recognized by libpq's wording.
"""

from __future__ import annotations

import re

import psycopg


class CliError(Exception):
    """An expected failure: `message` says what happened, `hint` what to do."""

    def __init__(self, message: str, hint: str, *, exit_code: int = 1):
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code


DEBUG_HINT = "rerun with --debug for the details"
DSN_HINT = ("--dsn takes a libpq connection string (\"host=/var/run/postgresql dbname=music\") or a "
            "postgresql:// URI; without it the PG* environment variables apply")

# libpq's wording of a failed connection -> what to do.
_CONNECTION_HINTS = (
    (("database", "does not exist"),
     "create the database or name an existing one: --dsn \"dbname=...\" (or PGDATABASE)"),
    (("password authentication failed",), "check the user and password (--dsn \"user=... password=...\", "
                                           "PGUSER, PGPASSWORD or ~/.pgpass)"),
    (("no password supplied",), "give a password: PGPASSWORD, ~/.pgpass or password=... in --dsn"),
    (("authentication failed",), "check the user (--dsn \"user=...\" or PGUSER) and the server's pg_hba.conf"),
    (("no pg_hba.conf entry",), "the server's pg_hba.conf does not admit this user, database and host"),
    (("role", "does not exist"), "connect as an existing role: --dsn \"user=postgres\" (or PGUSER)"),
    (("No such file or directory",), "is the server running? check the socket directory and port "
                                     "(--dsn \"host=/var/run/postgresql port=5432\", PGHOST, PGPORT)"),
    (("Connection refused",), "is the server running and listening there? check --dsn (or PGHOST, PGPORT)"),
    (("could not translate host name",), "check the host name in --dsn (or PGHOST)"),
    (("failed to resolve host",), "check the host name in --dsn (or PGHOST)"),
    (("timeout expired",), "the server did not answer in time: check the host, port and firewall"),
)

# SQLSTATE -> what to do, when the server sent no hint of its own.
_SQLSTATE_HINTS = {
    "42501": "connect as a superuser (--dsn \"user=postgres\"): the extension uses PL/Python, an untrusted "
             "language",
    "55P03": "another session holds a lock trending needs (a running cycle or a long transaction): "
             "`trending status` shows a running cycle; retry later",
    "57014": "the statement was canceled (statement_timeout or pg_cancel_backend)",
    "22023": "check the arguments: the command's --help lists the valid values",
    "22007": "--now takes a timestamp with a time zone, e.g. '2026-03-31 12:00+00'",
    "22008": "--now takes a timestamp with a time zone, e.g. '2026-03-31 12:00+00'",
    "25006": "connect to the primary: this server is a read-only standby",
}


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


DEBUG_SHOWN = "the traceback above has the details"


def _unprefixed(message: str) -> str:
    """The server's "trending: ..." without the prefix: the CLI prints its own
    ("trending recompute: ...")."""
    return message[len("trending: "):] if message.startswith("trending: ") else message


def describe(error: BaseException, *, debug: bool = False) -> tuple[str, str]:
    """(message, hint) for an error; a hint to rerun with --debug when we know
    no better (and, under --debug, a pointer to the traceback instead)."""
    message, hint = _describe(error)
    return message, (DEBUG_SHOWN if debug and hint == DEBUG_HINT else hint)


def _describe(error: BaseException) -> tuple[str, str]:
    if isinstance(error, CliError):
        return _unprefixed(str(error)), error.hint
    if isinstance(error, psycopg.Error) and error.sqlstate and error.diag.message_primary:
        hint = error.diag.message_hint or _SQLSTATE_HINTS.get(error.sqlstate, DEBUG_HINT)
        return _unprefixed(_one_line(error.diag.message_primary)), _one_line(hint)
    text = str(error)
    if isinstance(error, psycopg.OperationalError):
        message = re.sub(r"^connection (failed|is bad): ", "", _one_line(text)).replace("FATAL:  ", "")
        where = _where(text)
        if where and ("No such file or directory" in text or "Connection refused" in text):
            return message, (f"is the server running and listening on {where}? that is what --dsn (or PGHOST, "
                             "PGPORT) gave: check the host or socket directory and the port")
        for needles, hint in _CONNECTION_HINTS:
            if all(needle in text for needle in needles):
                return message, hint
        return message, DEBUG_HINT
    return _one_line(text) or type(error).__name__, DEBUG_HINT


def _where(text: str) -> str | None:
    """Where libpq tried to connect, as its message says: the socket directory
    and port, or the host and port (what the user typed, not the defaults)."""
    socket = re.search(r'on socket "(?P<dir>.*)/\.s\.PGSQL\.(?P<port>\d+)"', text)
    if socket:
        return f"socket directory {socket['dir']}, port {socket['port']}"
    tcp = re.search(r'at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)', text)
    if tcp:
        return f"host {tcp['host']}, port {tcp['port']}"
    return None


def server_message(text: str | None) -> str:
    """A server error as pg_cron records it ("ERROR:  msg\nDETAIL: ...\nCONTEXT: ...")
    as its message and hint only: the CONTEXT is internal."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    message = _unprefixed(re.sub(r"^(ERROR|FATAL|PANIC):\s+", "", lines[0]))
    hint = next((line[len("HINT:"):].strip() for line in lines if line.startswith("HINT:")), None)
    return f"{message} (hint: {hint})" if hint else message
