"""Capture the plans of the statements a function runs, with auto_explain.

EXPLAIN on `SELECT f()` shows only a function scan; auto_explain with
log_nested_statements logs the plan of every statement inside, and with
log_level = notice those logs reach the client as NOTICEs.
"""

from __future__ import annotations

import json


def nodes(plan: dict):
    """Every node of a JSON plan tree, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def nested_plans(conn, query: str, params=None, *, analyze: bool = False) -> tuple[list, list[dict]]:
    """Run `query`; return its rows and the JSON plans ({"Query Text", "Plan", ...})
    of every statement it ran. With `analyze`, plans carry actual rows and loops
    (parallelism off, so loops count rescans, not workers)."""
    notices: list[str] = []

    def collect(diag):
        notices.append(diag.message_primary or "")

    settings = {"auto_explain.log_min_duration": "0", "auto_explain.log_nested_statements": "on",
                "auto_explain.log_format": "json", "auto_explain.log_level": "notice"}
    if analyze:
        settings.update({"auto_explain.log_analyze": "on", "auto_explain.log_timing": "off",
                         "max_parallel_workers_per_gather": "0"})
    conn.execute("LOAD 'auto_explain'")
    for name, value in settings.items():
        conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
    conn.add_notice_handler(collect)
    try:
        rows = conn.execute(query, params).fetchall()
    finally:
        conn.remove_notice_handler(collect)
        for name in settings:
            conn.execute(f"RESET {name}")
    plans = [json.loads(n.split("plan:", 1)[1]) for n in notices if n.startswith("duration:")]
    return rows, plans
