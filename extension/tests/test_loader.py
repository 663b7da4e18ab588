"""The loader the build embeds in trending._python_init(): run its body as
PL/Python would (a function with `plpy` in scope) and check that it serves the
embedded package, caches it per session, and reloads after an update."""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def loader_body() -> str:
    version = re.search(r"^default_version\s*=\s*'([^']+)'", (ROOT / "trending.control").read_text(), re.M).group(1)
    script = (ROOT / f"trending--{version}.sql").read_text()  # the current install script
    match = re.search(r"CREATE FUNCTION trending\._python_init\(\).*?AS \$python\$\n(.*?)\$python\$;", script, re.S)
    assert match, "trending._python_init() not found in the install script"
    return match.group(1)


def run_body(body: str, plpy) -> str:
    namespace = {"plpy": plpy}
    exec("def _body():\n" + textwrap.indent(body, "    "), namespace)
    return namespace["_body"]()


@pytest.fixture
def clean_session(fake_plpy):
    """Give the loader a pristine 'session' and restore the test process afterwards."""
    saved_modules = {n: m for n, m in sys.modules.items() if n.split(".")[0] == "trending_pl"}
    saved_path = list(sys.meta_path)
    for name in saved_modules:
        del sys.modules[name]
    yield fake_plpy()
    for name in [n for n in sys.modules if n.split(".")[0] == "trending_pl"]:
        del sys.modules[name]
    sys.modules.update(saved_modules)
    sys.meta_path[:] = saved_path


def test_loader_serves_the_embedded_package(clean_session):
    body = loader_body()
    digest = run_body(body, clean_session)
    package = sys.modules["trending_pl"]
    assert package.__trending_digest__ == digest
    formulas = importlib.import_module("trending_pl.formulas")
    assert type(formulas.__spec__.loader).__name__ == "EmbeddedSources"
    assert formulas.Q == 100000
    recompute = importlib.import_module("trending_pl.recompute")
    assert callable(recompute.run), "modules import each other through the embedded finder"


def test_loader_caches_per_session_and_reloads_after_an_update(clean_session):
    body = loader_body()
    digest = run_body(body, clean_session)
    first = importlib.import_module("trending_pl.config")
    assert run_body(body, clean_session) == digest
    assert importlib.import_module("trending_pl.config") is first, "a second call keeps the cached modules"

    updated = body.replace(f"DIGEST = {digest!r}", "DIGEST = 'a-newer-build'")
    assert updated != body
    assert run_body(updated, clean_session) == "a-newer-build"
    assert importlib.import_module("trending_pl.config") is not first, "another build's modules are reloaded"
    finders = [f for f in sys.meta_path if getattr(f, "serves_trending_pl", False)]
    assert len(finders) == 1, "the old finder is replaced, not stacked"
