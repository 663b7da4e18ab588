"""pgspot (https://github.com/timescale/pgspot) on the install script and the
upgrade script (issue 8, item 16).

Every finding must be justified in test/pgspot_allowlist.txt, and every entry
there must still match a finding, so the list stays the truth. pgspot cannot
read plpython3u bodies; for those this test checks what pgspot checks for SQL
and PL/pgSQL routines: a pinned search_path of pg_catalog, pg_temp.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "test" / "pgspot_allowlist.txt"
SCRIPTS = ("trending--1.2.sql", "trending--1.1--1.2.sql")
PGSPOT = Path(sys.executable).with_name("pgspot")   # the venv's, next to its python

FINDING = re.compile(r"^(?P<code>PS\d{3}): (?P<title>[^:]+): (?P<object>.*?)(?: at line (?P<line>\d+))?$")
UNKNOWN_LANGUAGE = re.compile(r"^Unknown function language: (?P<language>\S+)$")
SUMMARY = re.compile(r"^\s*Errors: \d+ Warnings: \d+ Unknown: \d+\s*$")


@dataclass(frozen=True)
class Finding:
    script: str
    code: str
    object: str
    text: str   # the line pgspot printed


@dataclass(frozen=True)
class Allowed:
    script: str
    code: str
    object: str  # a shell pattern
    reason: str
    line: int

    def matches(self, finding: Finding) -> bool:
        return (finding.script, finding.code) == (self.script, self.code) \
            and fnmatch.fnmatchcase(finding.object, self.object)


def read_allowlist() -> list[Allowed]:
    entries = []
    for number, raw in enumerate(ALLOWLIST.read_text().splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in raw.split(" | ")]
        assert len(fields) == 4 and all(fields), f"{ALLOWLIST.name}:{number}: want 'script | finding | object | reason'"
        assert fields[0] in SCRIPTS, f"{ALLOWLIST.name}:{number}: unknown script {fields[0]}"
        entries.append(Allowed(*fields, line=number))
    return entries


def pgspot(script: str) -> list[Finding]:
    """pgspot's findings on one script, every line of its output accounted for."""
    if not PGSPOT.exists():
        pytest.fail(f"{PGSPOT} is missing: .venv/bin/pip install -r requirements-dev.txt")
    done = subprocess.run([str(PGSPOT), str(ROOT / script)], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    assert not done.stderr.strip(), done.stderr
    findings = []
    for line in done.stdout.splitlines():
        if not line.strip() or SUMMARY.match(line):
            continue
        if m := FINDING.match(line):
            findings.append(Finding(script, m["code"], m["object"], line))
        elif m := UNKNOWN_LANGUAGE.match(line):
            findings.append(Finding(script, "unknown-language", m["language"], line))
        else:
            pytest.fail(f"pgspot printed a line this test does not understand: {line!r}")
    return findings


@pytest.fixture(scope="module")
def findings() -> dict[str, list[Finding]]:
    return {script: pgspot(script) for script in SCRIPTS}


def test_pgspot_version_is_the_pinned_one():
    pinned = re.search(r"^pgspot==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pinned, "pgspot is pinned in requirements-dev.txt"
    out = subprocess.run([str(PGSPOT), "--version"], capture_output=True, text=True, check=True).stdout
    assert pinned[1] in out


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_finding_is_justified(findings, script):
    allowed = read_allowlist()
    unjustified = [f.text for f in findings[script] if not any(a.matches(f) for a in allowed)]
    assert not unjustified, (f"pgspot on {script}: fix these, or justify each in {ALLOWLIST.name}:\n  "
                             + "\n  ".join(unjustified))


def test_every_justification_is_still_needed(findings):
    stale = [f"line {a.line}: {a.script} | {a.code} | {a.object}" for a in read_allowlist()
             if not any(a.matches(f) for f in findings[a.script])]
    assert not stale, f"{ALLOWLIST.name} lists findings pgspot no longer reports; remove them:\n  " + "\n  ".join(stale)


def routines(script: str):
    """(name, language, search_path or None) of every CREATE FUNCTION / PROCEDURE."""
    from pglast import ast, parse_sql
    text = re.sub(r"(?m)^\\.*$", "", (ROOT / script).read_text())   # psql's \echo ... \quit
    for raw in parse_sql(text):
        stmt = raw.stmt
        if not isinstance(stmt, ast.CreateFunctionStmt):
            continue
        options = {o.defname: o.arg for o in stmt.options}
        paths = [o.arg for o in stmt.options if o.defname == "set" and o.arg.name == "search_path"]
        path = [a.val.sval for a in paths[0].args] if paths else None
        yield ".".join(n.sval for n in stmt.funcname), options["language"].sval, path


@pytest.mark.parametrize("script", SCRIPTS)
def test_untrusted_language_routines_pin_their_search_path(script):
    """What pgspot cannot see: a plpython3u routine's search_path."""
    python = [(name, path) for name, language, path in routines(script) if language == "plpython3u"]
    assert python, "the scripts have plpython3u routines"
    assert [(n, p) for n, p in python if p != ["pg_catalog", "pg_temp"]] == []
