"""SQL text helpers and the translator's data model (relations, scopes, let bindings).

Kusto types map onto DuckDB types: string→VARCHAR (never NULL: Kusto strings are never null,
so loaders store ``''``), long→BIGINT, int→INTEGER, real→DOUBLE, bool→BOOLEAN,
datetime→TIMESTAMP (UTC; microsecond precision, Kusto keeps 100 ns ticks), timespan→INTERVAL,
dynamic→JSON. Row order after ``sort``/``top`` is carried in a hidden ``__ord`` column, because SQL
does not promise that a subquery's order survives the enclosing query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SQL_TYPES = {
    "string": "VARCHAR", "long": "BIGINT", "int": "INTEGER", "real": "DOUBLE", "bool": "BOOLEAN",
    "datetime": "TIMESTAMP", "timespan": "INTERVAL", "dynamic": "JSON", "guid": "VARCHAR",
    "decimal": "VARCHAR", "null": "VARCHAR",
}
NUMERIC = {"long", "int", "real"}
ORD = "__ord"
STRING_OPS = {
    f"{neg}{op}" for neg in ("", "!") for op in (
        "has", "has_cs", "contains", "contains_cs", "startswith", "startswith_cs", "endswith", "endswith_cs",
        "hasprefix", "hasprefix_cs", "hassuffix", "hassuffix_cs",
    )
} | {"matches regex"}


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def s(value: str) -> str:
    """An SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Rel:
    """A translated tabular expression: its SQL, its columns (name, Kusto type), whether ordered."""

    sql: str
    cols: list[tuple[str, str]]
    ordered: bool = False
    source_name: str | None = None

    def col_type(self, name: str) -> str | None:
        for n, t in self.cols:
            if n == name:
                return t
        return None


@dataclass
class Scope:
    """What a scalar expression may reference: the input's columns and bound names."""

    cols: dict[str, str] = field(default_factory=dict)
    alias: str | None = None
    join_sides: dict[str, tuple[str, dict[str, str]]] | None = None
    ordered: bool = False


@dataclass
class Binding:
    kind: str  # "expr" (unevaluated let), "sql" (bound value), "query", "func", "rel"
    value: Any
    env: dict[str, Binding] | None = None
    type: str | None = None


def parse_datetime_text(raw: str, today: datetime | None = None) -> datetime:
    """Parse the text of a ``datetime(...)`` literal (ISO 8601 and Kusto's common forms).

    A time of day without a date is on ``today``'s date, as Kusto does.
    """
    m = re.fullmatch(r"\s*(?:(\d{1,2})/(\d{1,2})/(\d{4})\s*)?(?:(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\s*",
                     raw)
    if m and (m.group(1) or m.group(4)):
        if m.group(1):
            y, mo, day = int(m.group(3)), int(m.group(1)), int(m.group(2))
        elif today is not None:
            y, mo, day = today.year, today.month, today.day
        else:
            raise ValueError(f"invalid datetime literal {raw!r}")
        h = int(m.group(4) or 0)
        if m.group(7):
            h = h % 12 + (12 if m.group(7).lower() == "pm" else 0)
        return datetime(y, mo, day, h, int(m.group(5) or 0), int(m.group(6) or 0))
    t = raw.strip().replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", raw.strip()) else raw.strip()
    t = t.rstrip("Z").rstrip("z")
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:T(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?", t)
    if m:
        frac = (m.group(7) or "0")[:6].ljust(6, "0")
        return datetime(
            int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0), int(m.group(5) or 0),
            int(m.group(6) or 0), int(frac),
        )
    m = re.fullmatch(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:T(\d{1,2}):(\d{2})(?::(\d{2}))?)?", t)
    if m:
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0),
                        int(m.group(5) or 0), int(m.group(6) or 0))
    try:
        d = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"invalid datetime literal {raw!r}") from exc
    if d.tzinfo is not None:
        d = d.astimezone(UTC).replace(tzinfo=None)
    return d


def ts_sql(d: datetime) -> str:
    return f"TIMESTAMP '{d.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def span_sql(seconds: float) -> str:
    return f"to_microseconds(CAST({round(seconds * 1e6)} AS BIGINT))"


def term_regex(needle: str, case_sensitive: bool, prefix: bool = True, suffix: bool = True) -> str:
    """RE2 pattern for Kusto's ``has`` on a constant needle.

    A term boundary is required only at an edge of the needle that is a term character
    (letter or digit); a needle made only of delimiters is a plain substring match.
    """
    flags = "" if case_sensitive else "(?i)"
    body = re.escape(needle)
    if not needle or not any(c.isalnum() for c in needle):
        return flags + body
    pre = r"(?:^|[^\pL\pN])" if prefix and needle[0].isalnum() else ""
    suf = r"(?:$|[^\pL\pN])" if suffix and needle[-1].isalnum() else ""
    return flags + pre + body + suf


def any_term_regex(needles: list[str], case_sensitive: bool) -> str:
    """One RE2 pattern for ``has_any``: needles grouped by which edges need a term boundary.

    Grouping keeps the automaton small (one boundary class per group instead of one per needle),
    which RE2 needs to stay on its fast DFA path with dozens of needles.
    """
    groups: dict[tuple[bool, bool], list[str]] = {}
    plain: list[str] = []
    folded = [n if case_sensitive else n.lower() for n in needles]
    kept = []
    for i, n in enumerate(folded):
        # "nmap -sn" can only match where "nmap" matches as a term: the longer needle adds nothing
        implied = any(
            j != i and m and n != m and n.startswith(m) and m[-1].isalnum() and not n[len(m)].isalnum()
            and m[0].isalnum() for j, m in enumerate(folded))
        if not implied and n not in kept:
            kept.append(n)
    needles = [needles[folded.index(n)] for n in kept]
    for n in needles:
        if not n or not any(c.isalnum() for c in n):
            plain.append(re.escape(n))
            continue
        groups.setdefault((n[0].isalnum(), n[-1].isalnum()), []).append(re.escape(n))
    alts = []
    for (pre, suf), body in sorted(groups.items()):
        alts.append((r"(?:^|[^\pL\pN])" if pre else "") + "(?:" + "|".join(body) + ")"
                    + (r"(?:$|[^\pL\pN])" if suf else ""))
    if plain:
        alts.append("(?:" + "|".join(plain) + ")")
    return ("" if case_sensitive else "(?i)") + "(?:" + "|".join(alts) + ")"


def py_has(hay: str | None, needle: str | None, case_sensitive: bool = False,
           prefix: bool = True, suffix: bool = True) -> bool:
    """Python twin of :func:`term_regex`, for needles that are not constants."""
    if hay is None or needle is None:
        return False
    if not case_sensitive:
        hay, needle = hay.lower(), needle.lower()
    if not needle or not any(c.isalnum() for c in needle):
        return needle in hay
    start = 0
    while True:
        i = hay.find(needle, start)
        if i < 0:
            return False
        ok_pre = not (prefix and needle[0].isalnum()) or i == 0 or not hay[i - 1].isalnum()
        j = i + len(needle)
        ok_suf = not (suffix and needle[-1].isalnum()) or j == len(hay) or not hay[j].isalnum()
        if ok_pre and ok_suf:
            return True
        start = i + 1


_DT_FORMAT = [
    ("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("hh", "%I"), ("mm", "%M"),
    ("ss", "%S"), ("fffffff", "%f0"), ("ffffff", "%f"), ("fff", "%g"), ("tt", "%p"),
]
