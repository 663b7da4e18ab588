"""A stand-in for PL/Python's `plpy` module, so trending_pl runs without a server.

FakePlpy records every statement and answers them from a list of
(regex, rows) rules; the first matching rule wins, and an unanswered
SELECT fails the test (so a new query cannot slip by unnoticed).
"""

from __future__ import annotations

import contextlib
import re

import pytest


class PlpyError(Exception):
    """What plpy.error raises; carries the keyword arguments."""

    def __init__(self, message, **kwargs):
        super().__init__(message)
        self.message = message
        self.detail = kwargs.get("detail")
        self.hint = kwargs.get("hint")
        self.sqlstate = kwargs.get("sqlstate")


class PreparedPlan:
    """What plpy.prepare returns; executed, it is recorded as its query with
    $n replaced by the quoted arguments (NULL for None)."""

    def __init__(self, query: str):
        self.query = query

    def bind(self, args) -> str:
        def literal(match):
            value = args[int(match.group(1)) - 1]
            return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"
        return re.sub(r"\$(\d+)", literal, self.query)


class FakePlpy:
    Error = PlpyError

    def __init__(self, rules=()):
        self.rules = [(re.compile(pattern, re.S), rows) for pattern, rows in rules]
        self.statements: list[str] = []
        self.notices: list[str] = []

    def execute(self, query, *args):
        if isinstance(query, PreparedPlan):  # recorded with its arguments in place
            query = query.bind(args[0] if args else [])
        self.statements.append(query)
        for pattern, rows in self.rules:
            if pattern.search(query):
                return rows(query) if callable(rows) else rows
        if re.match(r"\s*(SELECT|WITH)", query):
            raise AssertionError(f"FakePlpy has no answer for:\n{query}")
        return []

    @staticmethod
    def quote_literal(value):
        return "'" + str(value).replace("'", "''") + "'"

    @staticmethod
    def quote_ident(value):
        return '"' + str(value).replace('"', '""') + '"'

    @staticmethod
    def prepare(query, types=None):
        return PreparedPlan(query)

    def subtransaction(self):
        return contextlib.nullcontext()

    def error(self, message, **kwargs):
        raise PlpyError(message, **kwargs)

    def notice(self, message, **kwargs):
        self.notices.append(message)

    def ran(self, pattern: str) -> list[str]:
        """The recorded statements matching `pattern`."""
        return [s for s in self.statements if re.search(pattern, s, re.S)]


@pytest.fixture
def fake_plpy():
    return FakePlpy
