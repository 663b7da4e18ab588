"""What a cycle checks before it plans anything: its `now` and its settings.

Both entry points call cycle_inputs() first, so a bad value fails at once
with 22023 and a message that says what is accepted, instead of a Python
TypeError, an overflow in the middle of a step, or a silently different
cycle. The checks are SQL, on the value the server parsed: `now` arrives
here as text (None for NULL) and is never parsed in Python.
"""

from __future__ import annotations

# The cycle's `now`, in UTC. The lower bound keeps every window start AD
# (the longest window is 365 days: 0002-01-01 - 365 days = 0001-01-01; a BC
# `now` or window start would lose its era in the run's row and summary);
# the upper one keeps four-digit years everywhere a timestamp is written as
# text.
NOW_MIN = "0002-01-01 00:00:00"
NOW_MAX = "9999-12-31 23:59:59.999999"
NOW_ACCEPTED = (f"now must be a finite timestamptz from {NOW_MIN}+00 to {NOW_MAX}+00 (UTC):"
                " AD, and a year before it still AD")


def now(plpy, value) -> None:
    """Raise 22023 unless `value` (the text of a timestamptz, or None) is a
    `now` a cycle can compute with."""
    if value is None:
        plpy.error("trending: invalid now NULL: " + NOW_ACCEPTED, sqlstate="22023",
                   hint="Omit it (or pass NULL to scheduled_recompute) for the current time.")
    row = plpy.execute(f"""
SELECT pg_catalog.isfinite(n) AND n AT TIME ZONE 'UTC'
           BETWEEN {plpy.quote_literal(NOW_MIN)}::timestamp AND {plpy.quote_literal(NOW_MAX)}::timestamp AS ok,
       pg_catalog.to_char(n AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US+00 AD') AS utc
FROM (SELECT {plpy.quote_literal(value)}::timestamptz AS n) AS given""")[0]
    if not row["ok"]:
        shown = row["utc"] or value  # infinity has no to_char
        plpy.error(f"trending: invalid now {plpy.quote_literal(shown)}: {NOW_ACCEPTED}", sqlstate="22023",
                   hint="Omit it for the current time.")


def settings(plpy) -> None:
    """Raise 22023 unless every setting is one a cycle can use: the values
    stored under an older version, or loaded by pg_restore, never went
    through today's checks."""
    try:
        plpy.execute("SELECT trending._validate_setting(s.name, s.value) FROM trending.settings s ORDER BY s.name")
    except plpy.SPIError as error:
        # spidata: (sqlerrcode, detail, hint, ...); pass only what is set
        spidata = getattr(error, "spidata", None) or ()
        extra = {k: v for k, v in zip(("detail", "hint"), spidata[1:3]) if v}
        plpy.error(f"trending: {error.args[0] if error.args else error}",
                   sqlstate=getattr(error, "sqlstate", None) or "22023", **extra)


def cycle_inputs(plpy, now_value) -> None:
    """Everything a cycle is given: its `now` and the settings."""
    now(plpy, now_value)
    settings(plpy)
