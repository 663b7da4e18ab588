"""The documentation: README.md and docs/*.md.

- Every relative link (and its #anchor) and every file name a page mentions
  resolves to a file of this repository: the docs never send a reader to a
  file they do not have.
- Every ```sql and ```sh / ```bash / ```console block runs, in page order,
  against the demo's layout (the sample data in schema `music` of database
  `postgres`, pg_cron preloaded, in a throwaway cluster of this module):
  SQL blocks with psql (as a DBA pastes them, ON_ERROR_STOP), shell blocks
  with bash -e, with the venv's `trending` on PATH and libpq's PG*
  variables pointing at that cluster. A block is skipped only when the line
  before it is `<!-- example: not run (why) -->`.
- No example computes the scores at another time (it would overwrite the
  live lists).
- The README's shape: under 400 lines, what the scores are and where they
  live first, then the Quick start with exactly the two commands.

Each page starts from a known state: the README from the source tables only
(it installs trending), every other page from the demo's end state (trending
installed with source schema music, the hourly job, one cycle).
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
DB = "postgres"          # the demo's database (pg_cron's cron.database_name)
SOURCE_SCHEMA = "music"  # the demo's source schema
STARTS_FROM_SOURCES = {"README.md"}  # pages that install trending themselves
NOT_RUN = re.compile(r"^\s*<!--\s*example:\s*not run\b.*-->\s*$")
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


def shell_script(block: Block) -> str:
    if block.lang != "console":
        return block.text
    return "\n".join(line[2:] for line in block.text.splitlines() if line.startswith("$ ")) + "\n"


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
    assert shell_script(found[2]) == "trending status\n"


# -- running the examples ---------------------------------------------------

@pytest.fixture(scope="module")
def docs_cluster():
    """The demo's kind of cluster: pg_cron preloaded for database postgres."""
    with Cluster(name="trending-docs", pg_cron=True) as server:
        with psycopg.connect(server.conninfo(DB), autocommit=True) as conn:
            initial_roles = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles")}
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
    env = cluster.env(DB)
    env.update(PATH=f"{bin_dir}:{pg_bindir()}:/usr/local/bin:/usr/bin:/bin", PGDATABASE=DB, PAGER="cat", PSQL_PAGER="cat")
    env.pop("PYTHONPATH", None)
    return env


def reset(cluster: Cluster, *, installed: bool, env: dict[str, str]) -> None:
    """Database postgres as the page expects it: the demo's sample data, and
    (installed) trending as the demo leaves it. Whatever an earlier page made
    (schemas, roles, jobs, extensions) is gone."""
    with psycopg.connect(cluster.conninfo(DB), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'").fetchone():
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job")
        conn.execute("DROP EXTENSION IF EXISTS trending CASCADE")
        conn.execute("DROP EXTENSION IF EXISTS pg_cron CASCADE")
        for (schema,) in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', "
                "'pg_toast') AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'").fetchall():
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
        for (role,) in conn.execute("SELECT rolname FROM pg_roles").fetchall():
            if role not in cluster.initial_roles:
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')
        conn.execute("ALTER DATABASE postgres RESET ALL")
        generate(conn, SOURCE_SCHEMA, scale="tiny", seed=1, as_of=datetime.now(timezone.utc))
    if installed:
        with psycopg.connect(cluster.conninfo(DB), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_cron")
        run = subprocess.run(["trending", "install", "--dsn", f"dbname={DB}", "--source-schema", SOURCE_SCHEMA,
                              "--schedule", "0 * * * *"], env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        with psycopg.connect(cluster.conninfo(DB), autocommit=True) as conn:
            conn.execute("SELECT trending.recompute()")


def run_block(block: Block, env: dict[str, str]) -> subprocess.CompletedProcess:
    if block.lang in SQL_LANGS:
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DB, "-f", "-"]
        stdin = block.text
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-s"]
        stdin = shell_script(block)
    return subprocess.run(argv, input=stdin, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT)


def run_page(page_text: str, page: str, cluster: Cluster, env: dict[str, str], *, installed: bool) -> int:
    """Run the page's examples in order; raise AssertionError on the first that fails. Returns how many ran."""
    reset(cluster, installed=installed, env=env)
    ran = 0
    for block in examples(page_text, page):
        if block.skipped:
            continue
        result = run_block(block, env)
        assert result.returncode == 0, (
            f"{block.page}:{block.line}: the ```{block.lang} example failed (exit {result.returncode}):\n"
            f"{block.text}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
        ran += 1
    return ran


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_example_runs(page, docs_cluster, bin_dir):
    env = example_env(docs_cluster, bin_dir)
    run_page(page.read_text(), rel(page), docs_cluster, env, installed=rel(page) not in STARTS_FROM_SOURCES)


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
