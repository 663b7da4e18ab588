"""The documentation: README.md and docs/*.md.

- Every relative link (and its #anchor) and every file name a page mentions
  resolves to a file of this repository: the docs never send a reader to a
  file they do not have.
- Every ```sql and ```sh / ```bash / ```console block runs, in page order,
  in a throwaway cluster of this module with pg_cron preloaded for database
  `postgres`. Most pages use the demo's layout: the sample data in schema
  `music` of database `postgres`, where pg_cron lives too. operations.md
  and switch-over.md use the README's other layout, two databases: the
  service (the sample data, trending) in database `app`, pg_cron in
  `postgres`. SQL blocks run with psql (as a DBA pastes them, ON_ERROR_STOP)
  in the page's service database, or in the database their first line names
  (`-- in database postgres ...`); shell blocks with bash -e, with the
  venv's `trending` on PATH and libpq's PG* variables pointing at that
  cluster and at database `postgres`, so a command of a two-database page
  that does not name `app` reaches the wrong database. A ```console block
  runs each `$ ` command on its own: the lines the page shows after it must
  be in its output (numbers aside), and it must fail exactly when they
  include psql's `ERROR:` or trending's `hint:` line. A block is skipped
  only when the line before it is `<!-- example: not run (why) -->`.
- The two-database pages run every command they show: no more "not run"
  markers than they had, and the switch-over's rollback, `trending
  pause`/`resume` and `trending.pause()`/`resume()` among what runs.
- No example computes the scores at another time (it would overwrite the
  live lists).
- The README's shape: under 400 lines, what the scores are and where they
  live first, then the Quick start with exactly the two commands.

Each page starts from a known state: the README from the source tables only
(it installs trending), every other page from the demo's end state in its
layout (trending installed with source schema music, the hourly job, one
cycle).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from trending_cli.cluster import Cluster, pg_bindir
from trending_cli.sample_data import generate

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CRON_DB = "postgres"      # pg_cron's cron.database_name in this module's cluster
DB = CRON_DB              # the demo's database: the service and pg_cron in one
APP_DB = "app"            # the service's own database in the two-database layout
SOURCE_SCHEMA = "music"   # the demo's source schema
STARTS_FROM_SOURCES = {"README.md"}  # pages that install trending themselves
NOT_RUN = re.compile(r"^\s*<!--\s*example:\s*not run\b.*-->\s*$")
IN_DATABASE = re.compile(r"^--\s*in database (\w+)\b")  # a SQL block's first line naming where it runs
SQL_LANGS = {"sql"}
SHELL_LANGS = {"sh", "bash", "shell", "console"}
FILE_EXTENSIONS = ("md", "py", "sql", "sh", "json", "png", "control", "toml", "txt", "tsv", "yml", "yaml", "cfg")
BLOCK_TIMEOUT = 300


def rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


# -- parsing --------------------------------------------------------------

@dataclass
class Block:
    page: str
    line: int       # 1-based line of the opening fence
    lang: str
    text: str
    skipped: bool   # marked `<!-- example: not run ... -->`


def code_blocks(text: str, page: str = "?") -> list[Block]:
    """Every fenced block of a markdown text, indented ones (in lists) included."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^(\s*)(`{3,})\s*([\w-]*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = opening.groups()
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        body, j = [], i + 1
        while j < len(lines) and not re.match(rf"^\s*{fence}\s*$", lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        blocks.append(Block(page, i + 1, lang.lower(), "\n".join(body) + "\n", bool(NOT_RUN.match(previous))))
        i = j + 1
    return blocks


def examples(text: str, page: str = "?") -> list[Block]:
    return [b for b in code_blocks(text, page) if b.lang in SQL_LANGS | SHELL_LANGS]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose = _outside_code(page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", prose, re.M)}


def _outside_code(text: str) -> str:
    """The text with fenced blocks blanked (file names in examples are checked too, links are not)."""
    return re.sub(r"^(\s*)(`{3,})[^\n]*\n.*?^\s*\2\s*$", "", text, flags=re.S | re.M)


# -- the repository's files -------------------------------------------------

def repo_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return {f for f in listed if f and (ROOT / f).exists()}


def unresolved_links(page: Path) -> list[str]:
    problems = []
    for match in re.finditer(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _outside_code(page.read_text())):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or ROOT not in resolved.parents and resolved != ROOT:
            problems.append(f"{rel(page)}: link {target!r}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{rel(page)}: link {target!r}: no heading with anchor #{anchor}")
    return problems


FILE_NAME = re.compile(r"(?<![\w./*$)>:-])((?:\.\./)*\w[\w./-]*\.(?:%s))(?![\w/-])" % "|".join(FILE_EXTENSIONS))


def unresolved_file_names(page: Path, files: set[str]) -> list[str]:
    """File names mentioned anywhere on the page (prose, code, links) that the repository lacks."""
    text = re.sub(r"[a-z][a-z0-9+.-]*://\S+", "", page.read_text())  # URLs name web pages, not files
    problems = []
    for name in sorted({m.group(1).rstrip(".") for m in FILE_NAME.finditer(text)}):
        if "/" not in name:
            found = any(f == name or f.endswith("/" + name) for f in files)
        else:
            candidates = {os.path.normpath(name), os.path.normpath(page.parent.relative_to(ROOT) / name)}
            found = any(f in candidates or (not name.startswith("../") and f.endswith("/" + name)) for f in files)
        if not found:
            problems.append(f"{rel(page)}: names {name!r}, which is not a file of the repository")
    return problems


def test_every_link_and_file_name_resolves():
    files = repo_files()
    problems = []
    for page in PAGES:
        problems += unresolved_links(page) + unresolved_file_names(page, files)
    assert not problems, "\n".join(dict.fromkeys(problems))


def test_the_checks_catch_a_missing_file_and_anchor(tmp_path):
    page = ROOT / "docs" / "_probe_.md"
    text = ("See [the spec](../NOTES.md), [ops](operations.md#no-such-heading), [ok](reference.md#traps),\n"
            "`MISSING.md`, `test/pytest/test_docs.py` and https://example.org/x.md.\n")
    page.write_text(text)
    try:
        links = unresolved_links(page)
        names = unresolved_file_names(page, repo_files())
    finally:
        page.unlink()
    assert [p.split(": ", 1)[1] for p in links] == [
        "link '../NOTES.md': no such file in the repository",
        "link 'operations.md#no-such-heading': no heading with anchor #no-such-heading"]
    assert [p.split("names ", 1)[1].split(",")[0] for p in names] == ["'../NOTES.md'", "'MISSING.md'"]


# -- static rules on the examples -------------------------------------------

def test_no_example_computes_the_scores_at_another_time():
    """A cycle at another time replaces the live lists: no example may run one."""
    offenders = []
    for page in PAGES:
        for block in examples(page.read_text(), rel(page)):
            if re.search(r"recompute\s*\(\s*'|recompute\s*\(\s*now\s*=>|--now\b", block.text):
                offenders.append(f"{block.page}:{block.line}: {block.text.strip()[:120]}")
    assert not offenders, "\n".join(offenders)


def test_readme_is_for_the_person_deploying_it():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 400
    opening = text.split("\n## ", 1)[0]
    assert "schema `trending`" in opening and "not" in opening and "service's own tables" in opening
    sections = re.findall(r"^## (.+)$", text, re.M)
    assert sections[0] == "Quick start"
    for needed in ("Installing into an existing database", "SQL API", "Security", "Reliability", "Performance"):
        assert needed in sections, needed
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b.text.strip() for b in code_blocks(quick) if b.lang in SHELL_LANGS]
    assert commands == ["./scripts/demo.sh", "./scripts/test.sh"]
    for page in ("reference", "operations", "design", "benchmark", "tests", "switch-over", "security", "reliability"):
        assert f"(docs/{page}.md" in text, page


def test_markers_and_parsing():
    text = textwrap.dedent("""\
        <!-- example: not run (too long) -->
        ```sh
        make bench
        ```

        1. In a list:

           ```sql
           SELECT 1;
           ```
        ```console
        $ trending status
        output line
        ```
        ```
        plain output
        ```
        """)
    found = examples(text)
    assert [(b.lang, b.skipped, b.text) for b in found] == [
        ("sh", True, "make bench\n"), ("sql", False, "SELECT 1;\n"),
        ("console", False, "$ trending status\noutput line\n")]
    assert console_commands(found[2]) == [ConsoleCommand(12, "trending status", ["output line"])]
    assert not console_commands(found[2])[0].fails


# -- running the examples ---------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """Where a page's examples run: the service's database (the sample data,
    trending) and pg_cron's (cron.database_name)."""
    service_db: str
    cron_db: str = CRON_DB


DEMO = Layout(service_db=DB)                # one database, as the demo makes it
TWO_DATABASES = Layout(service_db=APP_DB)   # the service in its own database
TWO_DATABASE_PAGES = {"docs/operations.md", "docs/switch-over.md"}
DATABASES = (CRON_DB, APP_DB)               # every database of the module's cluster a page may touch


def layout_of(page: str) -> Layout:
    return TWO_DATABASES if page in TWO_DATABASE_PAGES else DEMO


@pytest.fixture(scope="module")
def docs_cluster():
    """The demo's kind of cluster: pg_cron preloaded for database postgres,
    and database app for the two-database pages (created once: pg_cron 1.4
    stalls DROP DATABASE)."""
    with Cluster(name="trending-docs", pg_cron=True) as server:
        with psycopg.connect(server.conninfo(CRON_DB), autocommit=True) as conn:
            initial_roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles")}
            conn.execute(f"CREATE DATABASE {APP_DB}")
        server.initial_roles = initial_roles
        yield server


@pytest.fixture(scope="module")
def bin_dir():
    """PATH for the examples: the venv's `trending` (and nothing else of the venv), psql."""
    trending = ROOT / ".venv" / "bin" / "trending"
    if not trending.exists():
        pytest.skip("no .venv/bin/trending: run scripts/bootstrap.sh")
    with tempfile.TemporaryDirectory(prefix="trending-docs-bin-") as directory:
        (Path(directory) / "trending").symlink_to(trending)
        yield directory


def example_env(cluster: Cluster, bin_dir: str) -> dict[str, str]:
    """libpq's defaults lead to database postgres: a command meant for the
    service's database of a two-database page must name it."""
    env = cluster.env(CRON_DB)
    env.update(PATH=f"{bin_dir}:{pg_bindir()}:/usr/local/bin:/usr/bin:/bin", PAGER="cat", PSQL_PAGER="cat",
               PSQLRC="/dev/null")
    env.pop("PYTHONPATH", None)
    return env


def _empty_database(conn: psycopg.Connection) -> None:
    """No extension, schema or setting left but what a new database has."""
    conn.execute("DROP EXTENSION IF EXISTS trending CASCADE")
    conn.execute("DROP EXTENSION IF EXISTS pg_cron CASCADE")
    for (schema,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', "
            "'pg_toast') AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'").fetchall():
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
    conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
    conn.execute(f'ALTER DATABASE "{conn.info.dbname}" RESET ALL')


def reset(cluster: Cluster, *, installed: bool, env: dict[str, str], layout: Layout = DEMO) -> None:
    """The layout's databases as the page expects them: the demo's sample data
    in the service's database, and (installed) trending as the demo leaves
    it, its job in pg_cron's database. Whatever an earlier page made
    (schemas, roles, jobs, extensions, in either database) is gone."""
    with psycopg.connect(cluster.conninfo(CRON_DB), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").fetchone():
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
    connections = [psycopg.connect(cluster.conninfo(db), autocommit=True) for db in DATABASES]
    try:
        for conn in connections:
            _empty_database(conn)
        for (role,) in connections[0].execute("SELECT rolname FROM pg_roles").fetchall():
            if role not in cluster.initial_roles:
                for conn in connections:  # a role's objects and grants, database by database
                    conn.execute(f'DROP OWNED BY "{role}"')
                connections[0].execute(f'DROP ROLE "{role}"')
    finally:
        for conn in connections:
            conn.close()
    with psycopg.connect(cluster.conninfo(layout.service_db), autocommit=True) as conn:
        generate(conn, SOURCE_SCHEMA, scale="tiny", seed=1, as_of=datetime.now(timezone.utc))
    if installed:
        with psycopg.connect(cluster.conninfo(layout.cron_db), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_cron")
        run = subprocess.run(["trending", "install", "--dsn", f"dbname={layout.service_db}", "--source-schema",
                              SOURCE_SCHEMA, "--schedule", "0 * * * *"], env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        with psycopg.connect(cluster.conninfo(layout.service_db), autocommit=True) as conn:
            conn.execute("SELECT trending.recompute()")


@dataclass
class ConsoleCommand:
    line: int           # its line on the page
    command: str
    shown: list[str]    # the output the page shows after it

    @property
    def fails(self) -> bool:
        """The page shows it failing: psql's ERROR line, or the hint of trending's one-line errors."""
        return any(re.match(r"(ERROR:|hint: )", line) for line in self.shown)


def console_commands(block: Block) -> list[ConsoleCommand]:
    commands: list[ConsoleCommand] = []
    for offset, line in enumerate(block.text.splitlines(), start=1):
        if line.startswith("$ "):
            commands.append(ConsoleCommand(block.line + offset, line[2:], []))
        elif commands and line.strip():
            commands[-1].shown.append(line)
    return commands


def numbers_aside(line: str) -> str:
    """A printed line, numbers aside (ids, times, dates): every number is N, runs of spaces count once."""
    return re.sub(r"\s+", " ", re.sub(r"\d+(?:\.\d+)?", "N", line)).strip()


def run_console(block: Block, env: dict[str, str]) -> str | None:
    """Each `$ ` command on its own, checked against what the page shows; what went wrong, or None."""
    for command in console_commands(block):
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command.command], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
        printed = {numbers_aside(line) for line in (result.stdout + result.stderr).splitlines()}
        missing = [line for line in command.shown if numbers_aside(line) not in printed]
        if (result.returncode != 0) != command.fails or missing:
            return (f"{block.page}:{command.line}: the page shows `{command.command}` "
                    f"{'failing' if command.fails else 'succeeding'}: it exited {result.returncode}"
                    + "".join(f"\n  not printed: {line}" for line in missing)
                    + f"\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
    return None


def block_database(block: Block, layout: Layout) -> str:
    """Where a SQL block runs: the database its first line names, else the service's."""
    named = IN_DATABASE.match(block.text.lstrip())
    if named is None:
        return layout.service_db
    assert named.group(1) in (layout.service_db, layout.cron_db), (
        f"{block.page}:{block.line}: the block names database {named.group(1)}, not one of its layout's")
    return named.group(1)


def run_block(block: Block, env: dict[str, str], layout: Layout = DEMO) -> str | None:
    """Run one example; what went wrong, or None."""
    if block.lang == "console":
        return run_console(block, env)
    if block.lang in SQL_LANGS:
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", block_database(block, layout), "-f", "-"]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-s"]
    result = subprocess.run(argv, input=block.text, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=BLOCK_TIMEOUT)
    if result.returncode == 0:
        return None
    return (f"{block.page}:{block.line}: the ```{block.lang} example failed (exit {result.returncode}):\n"
            f"{block.text}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")


def run_page(page_text: str, page: str, cluster: Cluster, env: dict[str, str], *, installed: bool,
             layout: Layout = DEMO) -> list[Block]:
    """Run the page's examples in order; raise AssertionError on the first that fails. Returns those that ran."""
    reset(cluster, installed=installed, env=env, layout=layout)
    ran = []
    for block in examples(page_text, page):
        if block.skipped:
            continue
        problem = run_block(block, env, layout)
        assert problem is None, problem
        ran.append(block)
    return ran


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_example_runs(page, docs_cluster, bin_dir):
    env = example_env(docs_cluster, bin_dir)
    run_page(page.read_text(), rel(page), docs_cluster, env, installed=rel(page) not in STARTS_FROM_SOURCES,
             layout=layout_of(rel(page)))


def test_a_failing_example_fails_the_page(docs_cluster, bin_dir):
    env = example_env(docs_cluster, bin_dir)
    page = textwrap.dedent("""\
        ```sql
        SELECT count(*) FROM music.tracks;
        ```
        <!-- example: not run (fails on purpose, skipped) -->
        ```sql
        SELECT no_such_column FROM music.tracks;
        ```
        ```sh
        trending top --dsn "dbname=postgres" --range day
        ```
        """)
    with pytest.raises(AssertionError, match=r"probe:8: the ```sh example failed"):
        run_page(page, "probe", docs_cluster, env, installed=True)


def test_the_two_database_layout_holds_a_page_to_it(docs_cluster, bin_dir):
    """In the two-database layout SQL runs in app unless the block names
    pg_cron's database; a command that does not name app reaches postgres
    (no trending there) and fails; a console block's output and failure are
    what the page shows."""
    env = example_env(docs_cluster, bin_dir)
    ran = run_page(textwrap.dedent("""\
        ```sql
        SELECT count(*) FROM trending.track_trending_scores;
        ```
        ```sql
        -- in database postgres (pg_cron's)
        SELECT count(*) FROM cron.job WHERE database = 'app';
        ```
        ```console
        $ psql -d app -At -c "SELECT current_database()"
        app
        $ psql -d app -c 'SELECT trending.pause()'
        ERROR:  pg_cron lives in database postgres, not in app
        ```
        """), "probe", docs_cluster, env, installed=True, layout=TWO_DATABASES)
    assert len(ran) == 3

    def problem(example: str) -> str | None:
        [block] = examples(textwrap.dedent(example), "probe")
        return run_block(block, env, TWO_DATABASES)

    assert problem("""\
        ```sh
        trending status
        ```
        """).startswith("probe:1: the ```sh example failed")
    assert problem("""\
        ```sql
        SELECT count(*) FROM cron.job;
        ```
        """).startswith("probe:1: the ```sql example failed")
    wrong_output = problem("""\
        ```console
        $ psql -d app -At -c "SELECT current_database()"
        postgres
        ```
        """)
    assert wrong_output.startswith("probe:2: the page shows") and "\n  not printed: postgres\n" in wrong_output
    assert problem("""\
        ```console
        $ psql -d app -c 'SELECT 1'
        ERROR:  no such thing
        ```
        """).startswith("probe:2: the page shows `psql -d app -c 'SELECT 1'` failing: it exited 0")


# The two-database pages run every command they show (issue 19): no more
# blocks marked "not run" than today's two (operations.md's SQL-only schedule,
# for pg_cron in the service's database, and the SQL uninstall after the
# command's), and these among what runs.
NOT_RUN_BUDGET = {"docs/operations.md": 2, "docs/switch-over.md": 0}
MUST_RUN = {
    "docs/switch-over.md": ["SET search_path = trending, music", "SET search_path = music",  # switch, roll back
                            "trending pause", "trending resume", "trending uninstall"],
    "docs/operations.md": ["trending pause", "trending resume", "trending.pause()", "trending.resume()",
                           "cron.alter_job", "--capture", "trending uninstall"],
}


def test_the_two_database_pages_run_every_command():
    assert set(MUST_RUN) == TWO_DATABASE_PAGES
    for page, needles in MUST_RUN.items():
        blocks = examples((ROOT / page).read_text(), page)
        skipped = [b for b in blocks if b.skipped]
        assert len(skipped) <= NOT_RUN_BUDGET[page], (
            f"{page}: examples marked not run: " + ", ".join(f"line {b.line}" for b in skipped))
        runs = "\n".join(b.text for b in blocks if not b.skipped)
        assert not [n for n in needles if n not in runs], f"{page}: not run: {[n for n in needles if n not in runs]}"


# -- the switch-over's uninstall trap -----------------------------------------

def test_uninstall_refuses_while_an_old_table_would_take_over(docs_cluster, bin_dir):
    """An API reading through search_path = trending, music would silently fall
    back to music's stale table once trending's is dropped: `trending
    uninstall` refuses (naming the table and the role), and --force goes on."""
    env = example_env(docs_cluster, bin_dir)
    reset(docs_cluster, installed=True, env=env)
    with psycopg.connect(docs_cluster.conninfo(DB), autocommit=True) as conn:
        conn.execute("CREATE TABLE music.track_trending_scores (LIKE trending.track_trending_scores)")
        conn.execute("CREATE ROLE api LOGIN")
        conn.execute("ALTER ROLE api IN DATABASE postgres SET search_path = trending, music")

    def uninstall(*extra):
        return subprocess.run(["trending", "uninstall", "--dsn", f"dbname={DB}", *extra], env=env,
                              capture_output=True, text=True, timeout=120)

    def installed():
        with psycopg.connect(docs_cluster.conninfo(DB), autocommit=True) as conn:
            return (conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'trending'").fetchone()[0],
                    conn.execute("SELECT count(*) FROM cron.job").fetchone()[0])

    refused = uninstall()
    lines = refused.stderr.splitlines()
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert len(lines) == 2 and lines[1].startswith("hint: ") and "--force" in lines[1], refused.stderr
    assert lines[0].startswith("trending uninstall: music.track_trending_scores also exists: "), refused.stderr
    assert "search_path" in lines[0] and "api" in lines[0], refused.stderr
    assert installed() == (1, 1)  # nothing changed: the extension and its job are still there

    forced = uninstall("--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "warning: music.track_trending_scores also exists" in forced.stdout
    assert installed() == (0, 0)
