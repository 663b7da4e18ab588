"""trending_pl: the Python half of the trending extension.

It runs inside PostgreSQL (PL/Python, the server's own Python, stdlib only).
The install script embeds these modules (see sql/functions/_python_init.sql);
nothing here imports ``plpy`` at module level: functions that talk to the
database take it as their first argument, so every module also imports
outside the server, where the unit tests pass a fake.
"""

__version__ = "1.2"  # must equal default_version in trending.control
