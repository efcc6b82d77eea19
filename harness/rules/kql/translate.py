"""Semantic check and translation of a parsed KQL script to one DuckDB SQL query.

Each tabular operator becomes a nested ``SELECT`` over its input; the translator tracks the
output columns and their Kusto types, so every table and column reference is resolved before
DuckDB sees the query. A reference that does not resolve fails as Defender fails (SEM0100,
"Failed to resolve scalar expression named 'X'") with the line and column of the reference.

Kusto types map onto DuckDB types: string→VARCHAR (never NULL: Kusto strings are never null,
so loaders store ``''``), long→BIGINT, int→INTEGER, real→DOUBLE, bool→BOOLEAN,
datetime→TIMESTAMP (UTC; microsecond precision, Kusto keeps 100 ns ticks), timespan→INTERVAL,
dynamic→JSON. Row order after ``sort``/``top`` is carried in a hidden ``__ord`` column, because SQL
does not promise that a subquery's order survives the enclosing query.

NOT NULL STRINGS: every string-typed SQL expression the translator builds is non-NULL (loaders,
union fill-ins, outer-join sides, string aggregates, prev/next and toscalar coalesce to ``''``), as
Kusto's strings are; string predicates rely on it and carry no NULL guard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.rules.kql import builtins_extra, builtins_misc, builtins_text  # noqa: F401  (registration)
from harness.rules.kql import syntax as ast
from harness.rules.kql.schema import Flavour
from harness.rules.kql.search import SearchSources


class Translator(SearchSources):
    """Translate one parsed script: the operator and expression layers, assembled."""


def translate(script: ast.Script, path: str, now: datetime, flavour: Flavour,
              tables: dict[str, list[tuple[str, str]]],
              probe: Callable[[str, set[str]], list[tuple[Any, ...]]] | None = None,
              ) -> Translation:
    """Translate ``script``: the SQL, the output columns, the tables it reads and its externaldata.

    ``probe(sql, tables)`` runs SQL over the data (after making sure ``tables`` exist) for the
    operators whose output columns depend on it.
    """
    tr = Translator(path, now, flavour, tables)
    tr.probe = probe
    rel = tr.translate_script(script)
    return Translation(rel.sql, tuple(rel.cols), frozenset(tr.used_tables), tuple(tr.external), tr.reusable)


@dataclass(frozen=True)
class Translation:
    """A query in SQL; ``now()`` is the session variable ``kql_now``. ``reusable``: the same SQL
    serves another run with tables of the same columns (the engine may still find it used data)."""

    sql: str
    cols: tuple[tuple[str, str], ...]
    used: frozenset[str]
    external: tuple[tuple[str, ast.ExternalData], ...]
    reusable: bool
