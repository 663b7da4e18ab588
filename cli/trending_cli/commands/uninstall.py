"""`trending uninstall`: remove the job and the extension, all or nothing.
The change capture's triggers, when installed, are removed first, in the
same transaction (trending.uninstall_capture()).

Both go in one transaction of this database (when pg_cron lives in another,
its own transaction commits just before ours), so pg_cron never runs a cycle
against a dropped extension and a refused DROP leaves the schedule in place.
A job that runs trending in another database is left alone. The source
tables, plpython3u and the extension files stay. The role trending_capture
(cluster-wide: the capture triggers run as it) is dropped once no database
of the cluster still has trending: while one does, it owns trending's
capture functions there, DROP ROLE refuses, and the role is kept with the
command that removes it later."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
from psycopg import sql

from .. import cron
from ..db import connect, extension_version
from ..errors import CliError

LOCK_TIMEOUT = "10s"  # DROP waits for readers and a running cycle; do not queue behind them forever


def register(commands) -> None:
    parser = commands.add_parser(
        "uninstall", help="unschedule the job, then DROP EXTENSION trending",
        description="Remove trending's pg_cron job (wherever pg_cron lives, if it runs this database), then "
                    "DROP EXTENSION trending with the score tables and run history. Refuses when other "
                    "objects depend on the extension (a view over the score tables, say) unless --cascade. "
                    "Nothing to do is not an error.")
    parser.add_argument("--cascade", action="store_true",
                        help="also drop the objects that depend on the extension (DROP ... CASCADE)")
    parser.add_argument("--force", action="store_true",
                        help="uninstall even though a same-named score table exists in another schema")
    parser.set_defaults(handler=run)


def run(args) -> int:
    with connect(args.dsn) as conn, ExitStack() as stack:
        version = extension_version(conn)
        if version is not None:
            _check_shadowed(conn, args.force)
        cron_conn, job = _job(conn, args.dsn, stack)
        _drop(conn, version, cron_conn, job, args.cascade)
        if version is None and job is None:
            print(f"trending uninstall: trending is not installed in database {conn.info.dbname}: nothing to do")
        else:
            print("trending uninstall: done")
    return 0


def _job(conn, dsn: str, stack: ExitStack):
    """(the cron database's connection, the job to remove), or Nones."""
    cron_db = cron.database(conn)
    if cron_db is None:
        return None, None
    cron_conn = stack.enter_context(cron.connect_cron(conn, dsn, cron_db))
    job = cron.find_job(cron_conn, conn.info.dbname) if cron.installed(cron_conn) else None
    if job is not None and job.database != conn.info.dbname:
        print(f"schedule: pg_cron job {job.jobid} runs trending in database {job.database}: left alone")
        return cron_conn, None
    return cron_conn, job


def _drop(conn, version: str | None, cron_conn, job, cascade: bool) -> None:
    removed = None
    try:
        with conn.transaction():
            if version is not None:
                conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                removed = _uninstall_capture(conn)
                conn.execute(sql.SQL("DROP EXTENSION trending {}").format(
                    sql.SQL("CASCADE" if cascade else "RESTRICT")))
            if job is not None:
                with cron_conn.transaction():
                    cron_conn.execute("SELECT cron.unschedule(%s::bigint)", (job.jobid,))
    except psycopg.errors.DependentObjectsStillExist as error:
        detail = (error.diag.message_detail or "").splitlines()
        raise CliError(error.diag.message_primary,
                       (f"{detail[0]}{' (and more)' if len(detail) > 1 else ''}; " if detail else "")
                       + "drop those first, or rerun with --cascade to drop them too") from error
    except psycopg.errors.LockNotAvailable as error:
        raise CliError(f"DROP EXTENSION waited {LOCK_TIMEOUT} for a lock on trending's tables",
                       "a running cycle or an open transaction uses them: `trending status` shows a running "
                       "cycle; retry when it has finished") from error
    if job is not None:
        print(f"schedule: removed pg_cron job {job.jobid} ('{job.schedule}', in database {cron_conn.info.dbname})")
    if removed is not None:
        print(f"capture: removed {len(removed)} trigger(s) from the source tables, which are as they were before")
    if version is not None:
        print(f"extension: dropped trending {version} from database {conn.info.dbname}")
        _drop_capture_role(conn)


CAPTURE_ROLE = "trending_capture"


def _drop_capture_role(conn) -> None:
    """After the DROP committed: DROP ROLE trending_capture, unless another
    database of the cluster still has trending (the role owns its capture
    functions there: DROP ROLE refuses, and then the role stays)."""
    if not conn.execute("SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s)",
                        (CAPTURE_ROLE,)).fetchone()[0]:
        return
    # schema trending outlives the extension: its grant to the role would keep the role
    if conn.execute("SELECT pg_catalog.to_regnamespace('trending') IS NOT NULL").fetchone()[0]:
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA trending FROM {}").format(sql.Identifier(CAPTURE_ROLE)))
    try:
        with conn.transaction():
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(CAPTURE_ROLE)))
    except (psycopg.errors.DependentObjectsStillExist, psycopg.errors.InsufficientPrivilege) as error:
        where = (error.diag.message_detail or error.diag.message_primary or "").splitlines()
        print(f"capture role: kept {CAPTURE_ROLE} (cluster-wide), which trending still needs elsewhere: "
              f"{'; '.join(where)}; once trending is uninstalled from every database, remove it with: "
              f"DROP ROLE {CAPTURE_ROLE};")
        return
    print(f"capture role: dropped {CAPTURE_ROLE} (no database of the cluster has trending any more)")


def _uninstall_capture(conn):
    """In the DROP's transaction, when the change capture is installed:
    trending.uninstall_capture() (DROP EXTENSION refuses while its triggers
    are on the service's tables). The triggers it removed, or None."""
    if conn.execute("SELECT pg_catalog.to_regprocedure('trending.uninstall_capture()') IS NULL").fetchone()[0]:
        return None  # a version without the capture
    installed = conn.execute("""
SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_proc p ON p.oid = g.tgfoid
               WHERE p.pronamespace = 'trending'::pg_catalog.regnamespace AND p.proname LIKE '\\_capture\\_%')
       OR (SELECT s.installed FROM trending.capture_status s)""").fetchone()[0]
    if not installed:
        return None
    conn.execute("SET LOCAL client_min_messages = warning")  # a NOTICE per table otherwise
    (result,) = conn.execute("SELECT trending.uninstall_capture()").fetchone()
    return result["removed"]


# -- same-named tables in other schemas (the switch-over's rollback trap) --------
# An API that finds trending's tables through its search_path (trending, public)
# would, once they are dropped, silently resolve the same names to the old
# tables further down its path and serve their stale scores without an error.

SCORE_TABLES = ("track_trending_scores", "playlist_trending_scores")


def _check_shadowed(conn, force: bool) -> None:
    others = [r[0] for r in conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = ANY (%s) AND n.nspname <> 'trending' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "ORDER BY 1", (list(SCORE_TABLES),))]
    if not others:
        return
    readers = [r[0] for r in conn.execute(
        "SELECT coalesce(r.rolname, 'every role') FROM pg_catalog.pg_db_role_setting s "
        "LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole "
        "WHERE s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())) "
        "AND EXISTS (SELECT FROM unnest(s.setconfig) AS c(setting) WHERE c.setting ~* '^search_path=.*trending') "
        "ORDER BY 1")]
    problem = (f"{' and '.join(others)} also exist{'s' * (len(others) == 1)}: a client that reads "
               f"trending's score tables through its search_path would silently read "
               f"{'that table' if len(others) == 1 else 'those tables'} after the uninstall")
    if readers:
        problem += f" (roles whose search_path names trending: {', '.join(readers)})"
    if not force:
        raise CliError(problem, "point the API back at the old tables first (docs/switch-over.md: rollback), "
                                "then rerun with --force")
    print(f"warning: {problem}; going on (--force)")
