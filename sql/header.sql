-- trending: install script. Generated from sql/ and extension/ by
-- tools/build_install_script.py (see the Makefile); edit the parts, not this file.
\echo Use "CREATE EXTENSION trending" to load this file. \quit

-- Nothing here may reference the source tables: pg_restore creates extensions
-- before it creates tables. A cycle checks the sources when it runs.

-- Every name below is schema-qualified; pin the path anyway so nothing planted
-- in another schema can capture an unqualified function or operator.
SET LOCAL search_path = pg_catalog, pg_temp;
