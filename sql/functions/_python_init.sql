-------------------------------------------------------------------------------
-- _python_init
-- Make the trending_pl package importable in this session's Python.
--
-- The build embeds the source of extension/trending_pl/*.py below (the marker
-- line becomes SOURCES and DIGEST), so CREATE EXTENSION
-- alone installs the Python code and the SQL and the code can never be of
-- different versions. Modules are served by a finder on sys.meta_path and
-- cached per session; a session that outlives ALTER EXTENSION ... UPDATE sees
-- a new DIGEST and reloads.
CREATE FUNCTION trending._python_init()
RETURNS text
LANGUAGE plpython3u
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $python$
import importlib.abc
import importlib.util
import sys

#@TRENDING_PL_SOURCES@
PACKAGE = "trending_pl"

loaded = sys.modules.get(PACKAGE)
if loaded is not None and getattr(loaded, "__trending_digest__", None) == DIGEST:
    return DIGEST

# another build's modules (or none): forget them and serve this build's
for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
    del sys.modules[name]
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "serves_trending_pl", False)]


class EmbeddedSources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    serves_trending_pl = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in SOURCES:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname == PACKAGE)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path = "extension/" + module.__name__.replace(".", "/")
        path += "/__init__.py" if module.__name__ == PACKAGE else ".py"
        exec(compile(SOURCES[module.__name__], path, "exec"), module.__dict__)


sys.meta_path.insert(0, EmbeddedSources())
import trending_pl
trending_pl.__trending_digest__ = DIGEST
return DIGEST
$python$;
