"""The committed install script is what the build makes, and the build is
reproducible: `make` in a clean copy of the tracked files, twice, gives the
committed trending--<version>.sql byte for byte."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import trending_pl

ROOT = Path(__file__).resolve().parents[2]


def default_version() -> str:
    text = (ROOT / "trending.control").read_text()
    return re.search(r"^default_version\s*=\s*'([^']+)'", text, re.M).group(1)


def tracked_copy(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    names = [n for n in files.decode().split("\0") if n]
    if not names:
        pytest.fail("no tracked files: run from a git checkout")
    for name in names:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def build(tree: Path) -> bytes:
    script = tree / f"trending--{default_version()}.sql"
    result = subprocess.run(["make", "-B", "--no-print-directory", script.name], cwd=tree,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return script.read_bytes()


def test_committed_script_is_up_to_date_and_builds_reproducibly(tmp_path):
    tree = tracked_copy(tmp_path)
    committed = (tree / f"trending--{default_version()}.sql").read_bytes()
    first = build(tree)
    second = build(tree)
    assert first == second, "two builds of the same sources differ"
    assert first == committed, ("trending--1.0.sql is stale: run `make` and commit it "
                                "(it is generated from sql/ and extension/)")


def test_python_package_version_matches_the_control_file():
    assert trending_pl.__version__ == default_version()


def test_script_embeds_every_module_of_the_package():
    script = (ROOT / f"trending--{default_version()}.sql").read_text()
    modules = sorted(p.stem for p in (ROOT / "extension" / "trending_pl").glob("*.py"))
    for stem in modules:
        name = "trending_pl" if stem == "__init__" else f"trending_pl.{stem}"
        assert f"'{name}': " in script, f"{name} is not embedded in the install script"
