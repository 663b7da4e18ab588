# trending: PGXS build.
#
#   make              build trending--$(EXTVERSION).sql from sql/ and extension/
#   make install      install the control file and the script into PostgreSQL
#   make test         the whole suite (pytest + pgTAP) against throwaway clusters
#   make demo         a throwaway cluster with sample data, one cycle, the top lists
#   make bench        the benchmark against the upstream strategies (docs/bench)
#
# The version lives only in trending.control. The install script is generated
# by tools/build_install_script.py from the parts below, in this order, and is
# committed; test/pytest/test_build.py checks that it is up to date.

EXTENSION  = trending
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)
PYTHON    ?= python3
VENV      ?= .venv

SQL_PARTS = sql/header.sql \
            $(sort $(wildcard sql/schema/*.sql)) \
            $(sort $(wildcard sql/functions/*.sql)) \
            sql/triggers.sql \
            sql/grants.sql \
            sql/comments.sql
PY_PARTS  = $(sort $(wildcard extension/trending_pl/*.py))

DATA = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN =

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

all: $(EXTENSION)--$(EXTVERSION).sql

$(EXTENSION)--$(EXTVERSION).sql: tools/build_install_script.py $(SQL_PARTS) $(PY_PARTS) $(EXTENSION).control
	$(PYTHON) tools/build_install_script.py --output $@ --python-package extension/trending_pl $(SQL_PARTS)

.PHONY: test demo bench
test:
	scripts/test.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh $(BENCH_ARGS)
