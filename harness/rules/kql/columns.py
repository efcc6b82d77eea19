"""The columns of each table a query can see, so a large export loads only those.

A Defender table has 48 to 68 columns; a hunting query names a dozen. Loading 1M JSONL rows into
every column takes most of a query's time (issue 17: the seed query over 1M+1M rows). A column the
query never names cannot change its rows unless the query reaches every column at once (``*``,
``search``, ``pack_all()``, ``getschema``, a plugin, ``project-away``/``-keep``/``-reorder``);
such a query loads everything. Otherwise the query is compiled twice on empty tables, with every
column and with the named ones only, and the lean load is used only when both give the same output
columns and types (``take 10`` or a ``union`` of raw tables, which output unnamed columns, do not).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from harness.errors import RuleError
from harness.rules.kql.schema import Flavour, table_columns
from harness.rules.kql.tokens import tokenize

if TYPE_CHECKING:
    from harness.rules.kql.engine import KqlEngine

#: Constructs that read every column of their input. A ``*`` anywhere counts too: multiplication
#: is rare in hunting queries, and a false alarm only costs the full load.
_EVERY_COLUMN = frozenset({"search", "find", "getschema", "evaluate", "pack_all", "bag_pack_all",
                           "project-away", "project-keep", "project-reorder", "buildschema"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Kept always: the empty-result hint of `harness kql` reads the time column.
_ALWAYS = frozenset({"Timestamp", "TimeGenerated"})


def needed_columns(engine: KqlEngine, query: str, path: str, now: datetime | None,
                   tables: Sequence[str], flavour: Flavour) -> dict[str, list[str]] | None:
    """For each of ``tables``, the schema columns ``query`` names (in schema order), or None when
    the whole tables must be loaded. ``engine`` must not hold ``tables`` yet: the check leaves
    them created empty, for the loads that follow to replace."""
    try:
        tokens = tokenize(query, path)  # comments dropped; words in strings still count below
    except RuleError:
        return None
    words = set(_ALWAYS)
    for i, tok in enumerate(tokens):
        if tok.kind == "op" and tok.text == "*":
            return None
        if tok.kind == "ident":
            after = tokens[i + 2].text if i + 2 < len(tokens) and tokens[i + 1].text == "-" else ""
            if tok.text in _EVERY_COLUMN or f"{tok.text}-{after}" in _EVERY_COLUMN:
                return None
            words.add(tok.text)
        elif tok.kind == "string" and isinstance(tok.value, str):
            words.update(_WORD.findall(tok.value))  # column_ifexists("X"), ['X']
    lean: dict[str, list[str]] = {}
    for t in tables:
        cols = table_columns(t, flavour)
        if cols is None:
            return None
        lean[t] = [n for n, _ in cols if n in words]
        if not lean[t]:
            return None
    if all(len(lean[t]) == len(table_columns(t, flavour) or ()) for t in tables):
        return None
    try:
        full = engine.compile(query, path, now)[1]
        for t in tables:
            engine.create_lean(t, lean[t], flavour)
        slim = engine.compile(query, path, now)[1]
    except RuleError:
        return None  # the real run reports it, on the whole tables
    return lean if slim == full else None
