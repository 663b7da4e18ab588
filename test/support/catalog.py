"""What `trending install` and `trending uninstall` may change, as a set of
facts, and the check that a dry run listed exactly the difference.

A snapshot covers a cluster: its roles (attributes, comments), and per
database the extensions and their versions, the objects of schemas trending
and trending_private, the explicit ACLs of those, of the source schema and
its tables and of the database (a NULL ACL as the default it stands for:
a first GRANT writes the default out), the triggers on the source tables,
trending.settings; in pg_cron's database cron.job, pg_cron's comment and
its job id sequence."""

from __future__ import annotations

import re
from contextlib import ExitStack

import psycopg
import pytest

TRENDING_SCHEMAS = ("trending", "trending_private")


def snapshot(conninfo, databases: list[str], cron_db: str | None = "postgres", source: str = "music") -> set[tuple]:
    """conninfo(dbname) -> a libpq string."""
    facts: set[tuple] = set()
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        facts |= {("role", *row) for row in conn.execute(
            "SELECT r.rolname, r.rolcanlogin, r.rolsuper, coalesce(shobj_description(r.oid, 'pg_authid'), '') "
            "FROM pg_roles r WHERE r.rolname !~ '^pg_' AND r.rolname <> 'postgres'")}
    for db in databases:
        with psycopg.connect(conninfo(db), autocommit=True) as conn:
            facts |= _database(conn, db, source)
    if cron_db is not None:
        with psycopg.connect(conninfo(cron_db), autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('cron.job') IS NOT NULL").fetchone()[0]:
                facts |= {("cron.job", *row) for row in conn.execute(
                    "SELECT jobid, jobname, schedule, command, database, username, active FROM cron.job")}
                facts.add(("cron.jobid_seq", conn.execute("SELECT last_value FROM cron.jobid_seq").fetchone()[0]))
            facts |= {("comment", cron_db, "extension", *row) for row in conn.execute(
                "SELECT extname, coalesce(obj_description(oid, 'pg_extension'), '') FROM pg_extension")}
    return facts


def _database(conn, db: str, source: str) -> set[tuple]:
    facts = {("extension", db, *row) for row in conn.execute("SELECT extname, extversion FROM pg_extension")}
    facts |= {("schema", db, *row) for row in conn.execute(
        "SELECT nspname, nspowner::regrole::text FROM pg_namespace WHERE nspname = ANY (%s)", (list(TRENDING_SCHEMAS),))}
    facts |= {("object", db, *row) for row in conn.execute("""
SELECT 'relation', format('%%I.%%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY (%(schemas)s)
UNION ALL
SELECT 'routine', p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY (%(schemas)s)""", {"schemas": list(TRENDING_SCHEMAS)})}
    facts |= {("acl", db, *row) for row in conn.execute("""
SELECT 'schema', n.nspname, a.grantee::regrole::text, a.privilege_type
FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a WHERE n.nspname = ANY (%(schemas)s::text[] || %(source)s::text)
UNION ALL
SELECT 'relation', format('%%I.%%I', n.nspname, c.relname), a.grantee::regrole::text, a.privilege_type
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
     aclexplode(coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
WHERE n.nspname = ANY (%(schemas)s::text[] || %(source)s::text)
UNION ALL
SELECT 'routine', p.oid::regprocedure::text, a.grantee::regrole::text, a.privilege_type
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
     aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
WHERE n.nspname = ANY (%(schemas)s)
UNION ALL
SELECT 'database', d.datname, a.grantee::regrole::text, a.privilege_type
FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a WHERE d.datname = current_database()""",
                                                           {"schemas": list(TRENDING_SCHEMAS), "source": source})}
    facts |= {("trigger", db, *row) for row in conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname), g.tgname, g.tgenabled FROM pg_trigger g "
        "JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND NOT g.tgisinternal", (source,))}
    if conn.execute("SELECT to_regclass('trending.settings') IS NOT NULL").fetchone()[0]:
        facts |= {("setting", db, *row) for row in conn.execute("SELECT name, value FROM trending.settings")}
    return facts


# -- the dry run's steps against the difference --------------------------------------
def steps(dry_run: str) -> list[str]:
    """The steps that would change something: each "would" line with its SQL lines."""
    found: list[str] = []
    for line in dry_run.splitlines():
        if line.startswith("  would "):
            found.append(line.strip())
        elif line.startswith("      ") and found:
            found[-1] += "\n" + line.strip()
    return found


def explains(step: str, change: str, fact: tuple, db: str) -> bool:
    """Does the dry run's `step` (run in database `db`) account for `fact`
    being `change`d ('added' or 'removed')?"""
    kind, rest = fact[0], fact[1:]
    creates = f"create trending " in step and f"in database {db}" in step
    updates = re.search(rf"update trending \S+ -> \S+ in database {db}", step) is not None
    drops = f"drop trending " in step and f"from database {db}" in step
    extension_objects = creates or updates if change == "added" else drops or updates
    if kind == "role":
        name = rest[0]
        if change == "added":
            return f'CREATE ROLE "{name}"' in step or f'COMMENT ON ROLE "{name}"' in step or (
                (creates or updates) and f"role {name}" in step)
        return f'DROP ROLE "{name}"' in step or f'COMMENT ON ROLE "{name}"' in step
    if kind in ("object", "setting") and rest[0] == db:
        if kind == "setting" and rest[1] == "source_schema" and "UPDATE trending.settings SET value = " \
                f"'{rest[2]}'" in step:
            return True
        return extension_objects
    if kind == "schema" and rest[0] == db:
        return (creates and f"schema {rest[1]}" in step) or (rest[1] == "trending_private" and extension_objects) \
            or (change == "removed" and f"DROP SCHEMA {rest[1]}" in step)
    if kind == "extension" and rest[0] == db and rest[1] in ("trending", "plpython3u"):
        return extension_objects and (rest[1] == "trending" or "plpython3u" in step)
    if kind == "extension" and rest[1] == "pg_cron" or kind == "comment" and rest[2] == "pg_cron":
        return ("CREATE EXTENSION pg_cron" if change == "added" else "DROP EXTENSION pg_cron") in step
    if kind == "acl" and rest[0] == db:
        what, name, grantee, privilege = rest[1:]
        if what in ("schema", "relation", "routine") and name.split(".")[0] in TRENDING_SCHEMAS:
            if name in TRENDING_SCHEMAS and "schema trending" in step:
                return True  # the schema created or dropped with its grants
            if extension_objects:
                return True
        if change == "added":
            return f"grant_cycle('{grantee}')" in step and (what == "routine" or name.split(".")[0] == "trending"
                                                            or name in step)
        return f"REVOKE {privilege} ON" in step and name in step and f'FROM "{grantee}"' in step or (
            what == "schema" and name == "trending" and "schema trending" in step)
    if kind == "trigger" and rest[0] == db:
        table = rest[1].split(".")[1]
        return ("install_capture()" in step and table in step) if change == "added" else \
            ("uninstall_capture()" in step and rest[1] in step)
    if kind == "cron.job":
        jobid, _, schedule, _, database, username, _ = rest
        if change == "added":
            return f"'{schedule}'" in step and f"'{database}'" in step and f"'{username}'" in step and \
                ("cron.schedule_in_database(" in step or f"cron.alter_job({jobid}" in step)
        return f"cron.unschedule({jobid}" in step or f"cron.alter_job({jobid}" in step
    return False


def check(dry_run: str, before: set[tuple], after: set[tuple], db: str) -> None:
    """Every fact added or removed is explained by a step of the dry run, and
    every step explains at least one."""
    listed = steps(dry_run)
    # pg_cron's job id sequence only shows that a dry run drew no id; the
    # real run's check of a --schedule (cron.schedule, rolled back) draws one
    before, after = ({f for f in facts if f[0] != "cron.jobid_seq"} for facts in (before, after))
    diff = [("added", f) for f in sorted(after - before, key=repr)] + \
        [("removed", f) for f in sorted(before - after, key=repr)]
    unexplained = [(change, fact) for change, fact in diff
                   if not any(explains(step, change, fact, db) for step in listed)]
    assert not unexplained, f"changed but not in the dry run: {unexplained[:10]}\n{dry_run}"
    idle = [step.splitlines()[0] for step in listed
            if not any(explains(step, change, fact, db) for change, fact in diff)]
    assert not idle, f"in the dry run but nothing changed: {idle}\n{diff[:20]}"


class writers_holding_their_locks(ExitStack):
    """Open transactions holding a writer's lock (ROW EXCLUSIVE) on every
    source table and on trending's settings and strategies in `dsn`'s
    database, and on cron.job once pg_cron exists: a lock that a writer
    waits for would wait for them (run the dry run with a short
    lock_timeout: it fails rather than waits)."""

    def __init__(self, dsn: str, cron_dsn: str, tables, source: str = "music"):
        super().__init__()
        self.targets = [(dsn, [f"{source}.{t}" for t in tables] + ["trending.settings", "trending.strategies"]),
                        (cron_dsn, ["cron.job"])]

    def __enter__(self):
        super().__enter__()
        for dsn, tables in self.targets:
            conn = self.enter_context(psycopg.connect(dsn))
            present = [t for t in tables if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0]]
            for table in present:
                conn.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")
        # the control: a lock a writer would wait for does wait
        with psycopg.connect(self.targets[0][0]) as probe:
            probe.execute("SET lock_timeout = '100ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                probe.execute(f"LOCK TABLE {self.targets[0][1][0]} IN SHARE MODE")
        return self
