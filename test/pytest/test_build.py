"""The committed scripts are what the build makes, and the build is
reproducible: `make` in a clean copy of the tracked files, twice, gives the
committed trending--<version>.sql and trending--<previous>--<version>.sql
byte for byte. The released scripts (1.0, 1.1 and the 1.0 -> 1.1 upgrade)
are frozen: their bytes never change."""

from __future__ import annotations

import hashlib
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


# sha256 of each released script, as shipped.
RELEASED_SHA256 = {
    "trending--1.0.sql": "5e1f77849e71892c65f2887cd0e0bb60321ceca9b0702be219c6c290fd2db6e0",
    "trending--1.1.sql": "c198cc04e52e20d282d8fd99c225c3c2dc3b409014b7adfb7be65c0857f483ee",
    "trending--1.0--1.1.sql": "176de4951098e1efed35f7221ffab9c5489c40317f8cf6916bc8cd9373015e04",
}
PREVIOUS_VERSION = "1.1"


def built_scripts() -> list[str]:
    version = default_version()
    return [f"trending--{version}.sql", f"trending--{PREVIOUS_VERSION}--{version}.sql"]


def build(tree: Path) -> dict[str, bytes]:
    result = subprocess.run(["make", "-B", "--no-print-directory", *built_scripts()], cwd=tree,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return {name: (tree / name).read_bytes() for name in built_scripts()}


def test_committed_scripts_are_up_to_date_and_build_reproducibly(tmp_path):
    tree = tracked_copy(tmp_path)
    committed = {name: (tree / name).read_bytes() for name in built_scripts()}
    first = build(tree)
    second = build(tree)
    assert first == second, "two builds of the same sources differ"
    for name in built_scripts():
        assert first[name] == committed[name], (f"{name} is stale: run `make` and commit it "
                                                "(it is generated from sql/ and extension/)")


@pytest.mark.parametrize("script_name", sorted(RELEASED_SHA256))
def test_released_scripts_are_frozen(script_name):
    digest = hashlib.sha256((ROOT / script_name).read_bytes()).hexdigest()
    assert digest == RELEASED_SHA256[script_name], (
        f"{script_name} is released and must not change: changes to the installed objects go into "
        f"{default_version()} (trending--{default_version()}.sql and its upgrade script)")


def test_python_package_version_matches_the_control_file():
    assert trending_pl.__version__ == default_version()


@pytest.mark.parametrize("script_name", built_scripts())
def test_script_embeds_every_module_of_the_package(script_name):
    script = (ROOT / script_name).read_text()
    modules = sorted(p.stem for p in (ROOT / "extension" / "trending_pl").glob("*.py"))
    for stem in modules:
        name = "trending_pl" if stem == "__init__" else f"trending_pl.{stem}"
        assert f"'{name}': " in script, f"{name} is not embedded in {script_name}"


def test_the_capture_trigger_functions_are_the_generators_output(tmp_path):
    """Issue 16, item 9: sql/functions/_capture_<table>.sql are written by
    tools/generate_capture.py (one definition of the capture) and committed
    as it writes them, byte for byte; it writes nothing else."""
    result = subprocess.run(["python3", str(ROOT / "tools" / "generate_capture.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in tmp_path.iterdir())
    assert len(generated) == 10
    for name in generated:
        assert (tmp_path / name).read_bytes() == (ROOT / "sql" / "functions" / name).read_bytes(), (
            f"sql/functions/{name} differs from the generator's output: edit tools/generate_capture.py, run make")
    listed = subprocess.run(["python3", str(ROOT / "tools" / "generate_capture.py"), "--list"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listed) == [f"sql/functions/{name}" for name in generated]


def test_the_generators_source_codes_are_the_capture_modules():
    """The code stored per source table is the same in tools/generate_capture.py
    and extension/trending_pl/capture.py (trending._capture_catalog is checked
    against the latter by the capture tests)."""
    import importlib.util
    import sys

    from trending_pl import capture

    spec = importlib.util.spec_from_file_location("generate_capture", ROOT / "tools" / "generate_capture.py")
    generator = importlib.util.module_from_spec(spec)
    sys.modules["generate_capture"] = generator  # dataclasses look their module up
    spec.loader.exec_module(generator)
    codes = {s.code: s.table for s in generator.SOURCES + (generator.PLAYS,)}
    assert codes == capture.SOURCES
