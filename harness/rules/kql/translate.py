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

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.errors import RuleError, SourceLocation, UnsupportedError
from harness.rules.kql import syntax as ast
from harness.rules.kql.schema import Flavour, table_columns

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


class Translator:
    """Translate one parsed script; ``tables`` maps loaded table names to their columns."""

    def __init__(self, path: str, now: datetime, flavour: Flavour,
                 tables: dict[str, list[tuple[str, str]]]) -> None:
        self.path = path
        self.now = now
        self.flavour = flavour
        self.tables = tables
        self.used_tables: set[str] = set()
        self._n = 0

    # helpers
    def loc(self, node: ast.Node) -> SourceLocation:
        return SourceLocation(self.path, node.line, node.col)

    def err(self, node: ast.Node, msg: str) -> RuleError:
        return RuleError(msg, self.loc(node))

    def unsup(self, node: ast.Node, msg: str) -> UnsupportedError:
        return UnsupportedError(msg, self.loc(node))

    def alias(self) -> str:
        self._n += 1
        return f"_t{self._n}"

    # script
    def translate_script(self, script: ast.Script) -> Rel:
        env: dict[str, Binding] = {}
        for let in script.lets:
            env = self.bind_let(let, env)
        if script.query is None:
            raise self.err(script, "the query has no tabular expression to run")
        return self.finish(self.query(script.query, env))

    def bind_let(self, let: ast.Let, env: dict[str, Binding]) -> dict[str, Binding]:
        env = dict(env)
        v = let.value
        if isinstance(v, ast.FunctionDef):
            env[let.name] = Binding("func", v, dict(env))
        elif isinstance(v, ast.Query):
            env[let.name] = Binding("query", v, dict(env))
        else:
            env[let.name] = Binding("expr", v, dict(env))
        return env

    def finish(self, rel: Rel) -> Rel:
        cols = ", ".join(q(n) for n, _ in rel.cols) or "NULL AS __empty"
        order = f" ORDER BY {q(ORD)}" if rel.ordered else ""
        a = self.alias()
        return Rel(f"SELECT {cols} FROM ({rel.sql}) AS {a}{order}", rel.cols, False)

    # tabular expressions
    def query(self, qry: ast.Query, env: dict[str, Binding]) -> Rel:
        rel = self.source(qry.source, env)
        for op in qry.ops:
            rel = self.operator(op, rel, env)
        return rel

    def source(self, src: Any, env: dict[str, Binding]) -> Rel:
        if isinstance(src, ast.Query):
            return self.query(src, env)
        if isinstance(src, ast.TableRef):
            return self.table(src, env)
        if isinstance(src, ast.FuncSource):
            return self.call_tabular_function(src, src.name, list(src.args), env, None)
        if isinstance(src, ast.Union):
            return self.union(src, [], env)
        if isinstance(src, ast.Datatable):
            return self.datatable(src, env)
        if isinstance(src, ast.Print):
            sc = Scope()
            sels, cols = [], []
            for i, item in enumerate(src.items):
                sql, typ = self.expr(item.expr, sc, env)
                name = item.names[0] if item.names else f"print_{i}"
                sels.append(f"{sql} AS {q(name)}")
                cols.append((name, typ))
            return Rel("SELECT " + ", ".join(sels), cols)
        if isinstance(src, ast.Range):
            sc = Scope()
            a, ta = self.expr(src.start, sc, env)
            b, _ = self.expr(src.stop, sc, env)
            st, _ = self.expr(src.step, sc, env)
            typ = "datetime" if ta == "datetime" else ("real" if ta == "real" else "long")
            return Rel(f"SELECT unnest(generate_series({a}, {b}, {st})) AS {q(src.column)}", [(src.column, typ)])
        raise UnsupportedError(f"unsupported query source {type(src).__name__}")

    def table(self, ref: ast.TableRef, env: dict[str, Binding]) -> Rel:
        b = env.get(ref.name)
        if b is not None:
            if b.kind == "query":
                rel = self.query(b.value, b.env or {})
                rel.source_name = ref.name
                return rel
            if b.kind == "rel":
                r: Rel = b.value
                return Rel(r.sql, list(r.cols), r.ordered, ref.name)
            if b.kind == "func":
                return self.call_tabular_function(ref, ref.name, [], env, None)
            raise self.err(ref, f"'{ref.name}' is a scalar, not a table")
        cols = self.tables.get(ref.name) or table_columns(ref.name, self.flavour)
        if cols is None:
            raise self.err(ref, f"Failed to resolve table or column expression named '{ref.name}'")
        self.used_tables.add(ref.name)
        sel = ", ".join(q(n) for n, _ in cols)
        return Rel(f"SELECT {sel} FROM {q(ref.name)}", list(cols), False, ref.name)

    def call_tabular_function(self, node: ast.Node, name: str, args: list[ast.Expr],
                              env: dict[str, Binding], piped: Rel | None) -> Rel:
        b = env.get(name)
        if b is None or b.kind != "func":
            raise self.unsup(node, f"tabular function '{name}' is not supported") if b is None else self.err(
                node, f"'{name}' is not a function")
        fd: ast.FunctionDef = b.value
        fenv = dict(b.env or {})
        fenv[name] = b  # recursion is not allowed in Kusto, but self-reference must resolve
        params = list(fd.params)
        if piped is not None:
            if not params or params[0].type != "tabular":
                raise self.err(node, f"function '{name}' does not take a tabular first argument")
            fenv[params[0].name] = Binding("rel", piped)
            params = params[1:]
        if len(args) > len(params):
            raise self.err(node, f"function '{name}' takes {len(params)} argument(s), got {len(args)}")
        for i, p in enumerate(params):
            if i < len(args):
                a = args[i]
                if p.type == "tabular":
                    if isinstance(a, ast.TabularArg):
                        fenv[p.name] = Binding("rel", self.query(a.query, env))
                    elif isinstance(a, ast.Name):
                        fenv[p.name] = Binding("rel", self.table(ast.TableRef(a.line, a.col, a.name), env))
                    else:
                        raise self.err(a, f"argument '{p.name}' must be tabular")
                else:
                    sql, typ = self.expr(a, Scope(), env)
                    fenv[p.name] = Binding("sql", sql, type=typ)
            elif p.default is not None:
                sql, typ = self.expr(p.default, Scope(), fenv)
                fenv[p.name] = Binding("sql", sql, type=typ)
            else:
                raise self.err(node, f"function '{name}' needs argument '{p.name}'")
        for let in fd.body:
            fenv = self.bind_let(let, fenv)
        if not isinstance(fd.result, ast.Query):
            raise self.err(node, f"function '{name}' returns a scalar, not a table")
        return self.query(fd.result, fenv)

    def datatable(self, dt: ast.Datatable, env: dict[str, Binding]) -> Rel:
        ncol = len(dt.columns)
        if ncol == 0 or len(dt.values) % ncol:
            raise self.err(dt, f"datatable has {len(dt.values)} values for {ncol} columns")
        rows = []
        for r in range(len(dt.values) // ncol):
            cells = []
            for c, (cname, ctype) in enumerate(dt.columns):
                sql, typ = self.expr(dt.values[r * ncol + c], Scope(), env)
                cells.append(self.convert(sql, typ, ctype) + f" AS {q(cname)}")
            rows.append("SELECT " + ", ".join(cells))
        if not rows:
            cells = [f"CAST(NULL AS {SQL_TYPES[t]}) AS {q(n)}" for n, t in dt.columns]
            return Rel("SELECT " + ", ".join(cells) + " WHERE FALSE", list(dt.columns))
        # a row number keeps datatable order, which Kusto preserves
        body = " UNION ALL ".join(f"SELECT *, {i} AS {q(ORD)} FROM ({r})" for i, r in enumerate(rows))
        return Rel(body, list(dt.columns), True)

    def convert(self, sql: str, typ: str, target: str) -> str:
        if typ == target or (typ == "null" and target != "dynamic"):
            return f"CAST({sql} AS {SQL_TYPES[target]})" if typ == "null" else sql
        if target == "dynamic":
            return self.to_dynamic(sql, typ)
        if target == "string":
            return self.to_string(sql, typ)
        return f"TRY_CAST({sql} AS {SQL_TYPES[target]})"

    # union
    def union(self, u: ast.Union, first: list[Rel], env: dict[str, Binding]) -> Rel:
        if u.kind not in ("outer", "inner"):
            raise self.unsup(u, f"union kind={u.kind} is not supported")
        rels = list(first)
        for i, sq in enumerate(u.sources):
            if u.isfuzzy:
                try:
                    rels.append(self.query(sq, env))
                except RuleError:
                    continue
            else:
                r = self.query(sq, env)
                if r.source_name is None or sq.ops:
                    r.source_name = r.source_name if not sq.ops else f"union_arg{i}"
                rels.append(r)
        # outer column unification; a name with several types splits into name_type columns
        types: dict[str, list[str]] = {}
        order: list[str] = []
        for r in rels:
            for n, t in r.cols:
                if n not in types:
                    types[n] = []
                    order.append(n)
                if t not in types[n] and t != "null":
                    types[n].append(t)
        outcols: list[tuple[str, str, str]] = []  # (output name, source name, type)
        for n in order:
            ts = types[n] or ["string"]
            if u.kind == "inner" and not all(r.col_type(n) is not None for r in rels):
                continue
            if len(ts) == 1:
                outcols.append((n, n, ts[0]))
            else:
                for t in ts:
                    outcols.append((f"{n}_{t}", n, t))
        parts = []
        for r in rels:
            sels = []
            if u.withsource:
                sels.append(f"{s(r.source_name or '')} AS {q(u.withsource)}")
            for on, sn, t in outcols:
                rt = r.col_type(sn)
                if rt == t or (rt == "null" and len(types[sn]) <= 1):
                    sels.append(f"CAST({q(sn)} AS {SQL_TYPES[t]}) AS {q(on)}" if rt == "null" else
                                f"{q(sn)} AS {q(on)}")
                else:
                    sels.append(("''" if t == "string" else f"CAST(NULL AS {SQL_TYPES[t]})") + f" AS {q(on)}")
            parts.append(f"SELECT {', '.join(sels)} FROM ({r.sql}) AS {self.alias()}")
        cols = ([(u.withsource, "string")] if u.withsource else []) + [(on, t) for on, _, t in outcols]
        return Rel(" UNION ALL ".join(f"({p})" for p in parts), cols)

    # operators
    def scope(self, rel: Rel) -> Scope:
        return Scope(dict(rel.cols), ordered=rel.ordered)

    def wrap(self, rel: Rel, sels: list[str], cols: list[tuple[str, str]], tail: str = "",
             keep_order: bool = True) -> Rel:
        ordered = rel.ordered and keep_order
        if ordered:
            sels = [*sels, q(ORD)]
        return Rel(f"SELECT {', '.join(sels) or 'NULL AS __empty'} FROM ({rel.sql}) AS {self.alias()}{tail}",
                   cols, ordered)

    def operator(self, op: ast.Op, rel: Rel, env: dict[str, Binding]) -> Rel:
        p = op.params
        name = op.name
        if name == "where":
            sql, typ = self.expr(p["pred"], self.scope(rel), env)
            if typ not in ("bool", "null", "dynamic"):
                raise self.err(p["pred"], f"where predicate must be bool, not {typ}")
            if typ == "dynamic":
                sql = f"TRY_CAST(kql_dstr({sql}) AS BOOLEAN)"
            return self.wrap(rel, [q(n) for n, _ in rel.cols], list(rel.cols), f" WHERE {sql}")
        if name == "extend":
            for i, item in enumerate(p["items"]):
                rel = self.extend_one(rel, item, env, i)
            return rel
        if name == "project":
            sc = self.scope(rel)
            sels, cols, seen = [], [], set()
            for item in p["items"]:
                if isinstance(item.expr, ast.Star) and not item.names:
                    for n, t in rel.cols:
                        sels.append(q(n))
                        cols.append((n, t))
                        seen.add(n)
                    continue
                if isinstance(item.expr, ast.Name) and "*" in item.expr.name and not item.names:
                    for n, t in self.match_cols(rel, item.expr.name, item.expr):
                        sels.append(q(n))
                        cols.append((n, t))
                        seen.add(n)
                    continue
                sql, typ = self.expr(item.expr, sc, env)
                names = item.names or (self.infer_name(item.expr, self.next_column(seen)),)
                if len(names) != 1:
                    raise self.unsup(item, "multiple names in project are not supported")
                if names[0] in seen:
                    raise self.err(item, f"A column named '{names[0]}' is already defined in project")
                seen.add(names[0])
                sels.append(f"{self.cast_null(sql, typ)} AS {q(names[0])}")
                cols.append((names[0], self.real_type(typ)))
            return self.wrap(rel, sels, cols)
        if name in ("project-away", "project-keep"):
            drop: set[str] = set()
            for n, tok in p["names"]:
                matched = self.match_cols(rel, n, ast.Name(tok.line, tok.col, n))
                drop.update(m for m, _ in matched)
            keep = [(n, t) for n, t in rel.cols if (n in drop) == (name == "project-keep")]
            return self.wrap(rel, [q(n) for n, _ in keep], keep)
        if name == "project-reorder":
            first: list[tuple[str, str]] = []
            for n, tok in p["names"]:
                for m in self.match_cols(rel, n, ast.Name(tok.line, tok.col, n)):
                    if m not in first:
                        first.append(m)
            cols = first + [c for c in rel.cols if c not in first]
            return self.wrap(rel, [q(n) for n, _ in cols], cols)
        if name == "project-rename":
            renames: dict[str, str] = {}
            for new, old, tok in p["pairs"]:
                if rel.col_type(old) is None:
                    raise self.err(ast.Name(tok.line, tok.col, old),
                                   f"Failed to resolve scalar expression named '{old}'")
                renames[old] = new
            sels = [f"{q(n)} AS {q(renames.get(n, n))}" for n, _ in rel.cols]
            return self.wrap(rel, sels, [(renames.get(n, n), t) for n, t in rel.cols])
        if name == "sort":
            return self.sort(rel, p["keys"], env)
        if name == "top":
            n_sql = self.const_int(p["n"], env)
            r = self.sort(rel, p["keys"], env)
            return Rel(f"SELECT * FROM ({r.sql}) AS {self.alias()} ORDER BY {q(ORD)} LIMIT {n_sql}", r.cols, True)
        if name == "take":
            n_sql = self.const_int(p["n"], env)
            tail = f" ORDER BY {q(ORD)}" if rel.ordered else ""
            return Rel(f"SELECT * FROM ({rel.sql}) AS {self.alias()}{tail} LIMIT {n_sql}", rel.cols, rel.ordered)
        if name == "distinct":
            if p["items"] is None:
                cols = list(rel.cols)
                sels = [q(n) for n, _ in cols]
            else:
                sc = self.scope(rel)
                sels, cols = [], []
                for item in p["items"]:
                    sql, typ = self.expr(item.expr, sc, env)
                    nm = item.names[0] if item.names else self.infer_name(
                        item.expr, self.next_column({c for c, _ in cols}))
                    sels.append(f"{sql} AS {q(nm)}")
                    cols.append((nm, typ))
            return Rel(f"SELECT DISTINCT {', '.join(sels)} FROM ({rel.sql}) AS {self.alias()}", cols)
        if name == "count":
            return Rel(f"SELECT count(*) AS {q('Count')} FROM ({rel.sql}) AS {self.alias()}", [("Count", "long")])
        if name == "summarize":
            return self.summarize(rel, p["aggs"], p["by"], env, op)
        if name in ("join", "lookup"):
            return self.join(rel, op, env)
        if name == "union":
            rel.source_name = rel.source_name or "union_arg0"
            return self.union(p["union"], [rel], env)
        if name == "mv-expand":
            return self.mv_expand(rel, op, env)
        if name == "parse":
            return self.parse_op(rel, op, env)
        if name == "serialize":
            if not rel.ordered:
                rel = self.wrap(rel, [q(n) for n, _ in rel.cols] + [f"row_number() OVER () AS {q(ORD)}"],
                                list(rel.cols))
                rel.ordered = True
            for i, item in enumerate(p["items"]):
                rel = self.extend_one(rel, item, env, i)
            return rel
        if name == "top-nested":
            # one level: the N values of the column with the largest (smallest) aggregate
            col, tok = p["column"]
            self.match_cols(rel, col, ast.Name(tok.line, tok.col, col))
            agg: ast.Assign = p["agg"]
            named = ast.Assign(agg.line, agg.col, (f"aggregated_{col}",), agg.expr)
            by = [ast.Assign(tok.line, tok.col, (col,), ast.Name(tok.line, tok.col, col))]
            summ = self.summarize(rel, [named], by, env, op)
            key = ast.SortKey(op.line, op.col, ast.Name(op.line, op.col, f"aggregated_{col}"), p["desc"], None)
            n_sql = self.const_int(p["n"], env)
            r = self.sort(summ, [key], env)
            return Rel(f"SELECT * FROM ({r.sql}) AS {self.alias()} ORDER BY {q(ORD)} LIMIT {n_sql}", r.cols, True)
        if name == "partition":
            col, tok = p["column"]
            self.match_cols(rel, col, ast.Name(tok.line, tok.col, col))
            inner: ast.Op = p["inner"]
            n_sql = self.const_int(inner.params["n"], env)
            sc = self.scope(rel)
            parts = []
            for k in inner.params.get("keys", []):
                ksql, _ = self.expr(k.expr, sc, env)
                nulls_first = (not k.desc) if k.nulls_first is None else k.nulls_first
                parts.append(f"{ksql} {'DESC' if k.desc else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}")
            order = f" ORDER BY {', '.join(parts)}" if parts else ""
            sels = [q(n) for n, _ in rel.cols]
            rn = f"row_number() OVER (PARTITION BY {q(col)}{order}) AS __prn"
            a = self.alias()
            return Rel(f"SELECT {', '.join(sels)} FROM (SELECT *, {rn} FROM ({rel.sql}) AS {a}) AS {self.alias()} "
                       f"WHERE __prn <= {n_sql}", list(rel.cols))
        if name in ("as", "render"):
            return rel
        if name == "invoke":
            return self.call_tabular_function(p["tok"], p["name"], p["args"], env, rel)
        raise self.unsup(op, f"query operator '{name}' is not supported")

    def extend_one(self, rel: Rel, item: ast.Assign, env: dict[str, Binding], i: int) -> Rel:
        sql, typ = self.expr(item.expr, self.scope(rel), env)
        if len(item.names) > 1:
            raise self.unsup(item, "extend with several names is not supported")
        nm = item.names[0] if item.names else self.infer_name(item.expr, self.next_column({c for c, _ in rel.cols}))
        typ_r = self.real_type(typ)
        value = f"{self.cast_null(sql, typ)} AS {q(nm)}"
        sels, cols, replaced = [], [], False
        for n, t in rel.cols:
            if n == nm:
                sels.append(value)
                cols.append((nm, typ_r))
                replaced = True
            else:
                sels.append(q(n))
                cols.append((n, t))
        if not replaced:
            sels.append(value)
            cols.append((nm, typ_r))
        return self.wrap(rel, sels, cols)

    @staticmethod
    def real_type(typ: str) -> str:
        return "string" if typ == "null" else typ

    @staticmethod
    def cast_null(sql: str, typ: str) -> str:
        return "CAST(NULL AS VARCHAR)" if typ == "null" else sql

    def match_cols(self, rel: Rel, pattern: str, node: ast.Node) -> list[tuple[str, str]]:
        if "*" in pattern:
            return [(n, t) for n, t in rel.cols if fnmatch.fnmatchcase(n, pattern)]
        t = rel.col_type(pattern)
        if t is None:
            raise self.err(node, f"Failed to resolve scalar expression named '{pattern}'")
        return [(pattern, t)]

    @staticmethod
    def next_column(taken: set[str]) -> str:
        """Kusto's name for an unnamed computed column: the first free Column1, Column2..."""
        n = 1
        while f"Column{n}" in taken:
            n += 1
        return f"Column{n}"

    def infer_name(self, e: ast.Expr, default: str) -> str:
        if isinstance(e, ast.Name):
            return e.name.split(".")[-1]
        if isinstance(e, ast.Member):
            base = self.infer_name(e.obj, "")
            return f"{base}_{e.name}" if base else e.name
        if isinstance(e, ast.Index) and isinstance(e.index, ast.Lit):
            base = self.infer_name(e.obj, "")
            return f"{base}_{e.index.value}" if base else default
        if isinstance(e, ast.Call) and e.args and e.name in (
            "tostring", "tolower", "toupper", "bin", "floor", "tolong", "toint", "todouble", "todatetime",
            "startofday", "trim", "parse_json", "todynamic", "tobool", "toreal",
        ):
            return self.infer_name(e.args[0], default)
        return default

    def const_int(self, e: ast.Expr, env: dict[str, Binding]) -> str:
        sql, typ = self.expr(e, Scope(), env)
        if typ not in ("long", "int"):
            raise self.err(e, "expected an integer constant")
        return sql

    def sort(self, rel: Rel, keys: list[ast.SortKey], env: dict[str, Binding]) -> Rel:
        sc = self.scope(rel)
        parts = []
        for k in keys:
            sql, _ = self.expr(k.expr, sc, env)
            nulls_first = (not k.desc) if k.nulls_first is None else k.nulls_first
            parts.append(f"{sql} {'DESC' if k.desc else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}")
        if rel.ordered:  # a stable sort keeps the previous order among ties
            parts.append(q(ORD))
        sels = [q(n) for n, _ in rel.cols] + [f"row_number() OVER (ORDER BY {', '.join(parts)}) AS {q(ORD)}"]
        return Rel(f"SELECT {', '.join(sels)} FROM ({rel.sql}) AS {self.alias()}", list(rel.cols), True)

    # summarize
    def summarize(self, rel: Rel, aggs: list[ast.Assign], by: list[ast.Assign], env: dict[str, Binding],
                  op: ast.Op) -> Rel:
        sc = self.scope(rel)
        by_sels: list[str] = []
        by_cols: list[tuple[str, str]] = []
        for item in by:
            sql, typ = self.expr(item.expr, sc, env)
            nm = item.names[0] if item.names else self.infer_name(item.expr, self.next_column({c for c, _ in by_cols}))
            by_sels.append(f"{sql} AS {q(nm)}")
            by_cols.append((nm, self.real_type(typ)))
        inner: list[str] = list(by_sels)
        outer: list[str] = [q(n) for n, _ in by_cols]
        cols: list[tuple[str, str]] = list(by_cols)
        taken = {n for n, _ in by_cols}
        k = 0
        for i, item in enumerate(aggs):
            if not isinstance(item.expr, ast.Call):
                raise self.err(item, "summarize needs an aggregation function")
            inners, outs = self.aggregate(item, sc, env, rel, taken, i)
            names = {}
            for key, sql in inners:
                k += 1
                names[key] = q(f"__a{k}")
                inner.append(f"{sql} AS {names[key]}")
            for j, (out_name, template, typ) in enumerate(outs):
                if out_name in taken:
                    if item.names and j == 0:
                        raise self.err(item, f"A column named '{out_name}' is already defined in summarize")
                    # Kusto suffixes an inferred name that is taken: ReportId -> ReportId1
                    n = 1
                    while f"{out_name}{n}" in taken:
                        n += 1
                    out_name = f"{out_name}{n}"
                outer.append(f"{template.format(**names)} AS {q(out_name)}")
                cols.append((out_name, typ))
                taken.add(out_name)
        group = " GROUP BY " + ", ".join(str(i + 1) for i in range(len(by_sels))) if by_sels else ""
        a = self.alias()
        inner_sql = f"SELECT {', '.join(inner)} FROM ({rel.sql}) AS {a}{group}"
        return Rel(f"SELECT {', '.join(outer)} FROM ({inner_sql}) AS {self.alias()}", cols)

    def aggregate(self, item: ast.Assign, sc: Scope, env: dict[str, Binding], rel: Rel, taken: set[str],
                  i: int) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
        """Inner aggregate expressions (key, sql) and output columns (name, template over keys, type)."""
        single = self.aggregate_single(item, sc, env, rel, taken, i)
        if isinstance(single, tuple):
            return single
        inners = [(f"k{j}", sql) for j, (_, sql, _, _) in enumerate(single)]
        outs = [(n, f"{{k{j}}}", t) for j, (n, _, _, t) in enumerate(single)]
        return inners, outs

    def aggregate_single(self, item: ast.Assign, sc: Scope, env: dict[str, Binding], rel: Rel,
                         taken: set[str], i: int
                         ) -> list[tuple[str, str, str, str]] | tuple[list[tuple[str, str]],
                                                                       list[tuple[str, str, str]]]:
        call = item.expr
        assert isinstance(call, ast.Call)
        fn = call.name.lower()
        fn = {"makeset": "make_set", "makelist": "make_list", "take_any": "any", "arg_max": "arg_max",
              "argmax": "arg_max", "argmin": "arg_min", "make_set_if": "make_set_if",
              "make_list_if": "make_list_if", "stdevp": "stdevp", "anyif": "take_anyif",
              "take_anyif": "take_anyif"}.get(fn, fn)
        args = list(call.args)

        def a(k: int) -> tuple[str, str]:
            if k >= len(args):
                raise self.err(call, f"{call.name}() needs more arguments")
            return self.expr(args[k], sc, env)

        def nm(prefix: str) -> str:
            if item.names:
                return item.names[0]
            base = self.infer_name(args[0], "") if args else ""
            return f"{prefix}_{base}" if base else f"{prefix}_"

        one = "{x}"
        if fn in ("arg_max", "arg_min"):
            key_sql, key_t = a(0)
            wanted: list[tuple[str, str, str]] = []
            key_name = item.names[0] if item.names else self.infer_name(args[0], f"{fn[4:]}_")
            wanted.append((key_name, key_sql, key_t))
            for e in args[1:]:
                if isinstance(e, ast.Star):
                    for n, t in rel.cols:
                        if n not in taken and n != key_name and all(w[0] != n for w in wanted):
                            wanted.append((n, q(n), t))
                    continue
                if isinstance(e, ast.Name) and "*" in e.name:
                    for n, t in self.match_cols(rel, e.name, e):
                        if n not in taken and all(w[0] != n for w in wanted):
                            wanted.append((n, q(n), t))
                    continue
                esql, et = self.expr(e, sc, env)
                wanted.append((self.infer_name(e, f"Column{len(wanted)}"), esql, et))
            agg = "arg_max" if fn == "arg_max" else "arg_min"
            struct = "{" + ", ".join(f"{s('f' + str(k))}: {w[1]}" for k, w in enumerate(wanted)) + "}"
            inner = f"{agg}({struct}, {key_sql}) FILTER (WHERE {key_sql} IS NOT NULL)"
            outs = []
            for k, (n, _, t) in enumerate(wanted):
                acc = f"({{s}}).f{k}"
                if t == "string":
                    acc = f"coalesce({acc}, '')"
                outs.append((n, acc, self.real_type(t)))
            return [("s", inner)], outs
        if fn == "count":
            if args:
                x, _ = a(0)
                return [(nm("count"), f"count({x})", one, "long")]
            return [(item.names[0] if item.names else "count_", "count(*)", one, "long")]
        if fn == "countif":
            x, _ = a(0)
            return [(item.names[0] if item.names else "countif_", f"count_if({x})", one, "long")]
        if fn in ("dcount", "count_distinct"):
            x, _ = a(0)
            return [(nm("dcount"), f"count(DISTINCT {x})", one, "long")]
        if fn in ("dcountif", "count_distinctif"):
            x, _ = a(0)
            p, _ = a(1)
            return [(nm("dcountif"), f"count(DISTINCT {x}) FILTER (WHERE {p})", one, "long")]
        if fn in ("sum", "sumif"):
            x, t = a(0)
            filt = f" FILTER (WHERE {a(1)[0]})" if fn == "sumif" else ""
            rt = "real" if t == "real" else "long"
            return [(nm(fn), f"CAST(sum({x}){filt} AS {SQL_TYPES[rt]})", one, rt)]
        if fn in ("min", "max", "minif", "maxif"):
            x, t = a(0)
            filt = f" FILTER (WHERE {a(1)[0]})" if fn.endswith("if") else ""
            agg = f"{fn[:3]}({x}){filt}"
            return [(nm(fn), f"coalesce({agg}, '')" if t == "string" else agg, one, t)]
        if fn in ("avg", "avgif"):
            x, t = a(0)
            if t == "timespan" or t == "datetime":
                raise self.unsup(call, f"avg of {t} is not supported")
            filt = f" FILTER (WHERE {a(1)[0]})" if fn == "avgif" else ""
            return [(nm(fn), f"avg({x}){filt}", one, "real")]
        if fn in ("make_set", "make_list", "make_set_if", "make_list_if"):
            x, t = a(0)
            base = "set" if "set" in fn else "list"
            distinct = "DISTINCT " if base == "set" else ""
            is_if = fn.endswith("_if")
            cond = f" AND ({a(1)[0]})" if is_if else ""
            limit_idx = 2 if is_if else 1
            if t == "dynamic":
                # whether Kusto flattens array inputs here is not settled by its documentation
                raise self.unsup(call, f"{call.name}() over dynamic values is not supported")
            val = self.to_dynamic(x, t)
            sql = f"to_json(coalesce(list({distinct}{val}) FILTER (WHERE {x} IS NOT NULL{cond}), []))"
            if len(args) > limit_idx:
                lim = self.const_int(args[limit_idx], env)
                sql = f"to_json(coalesce((list({distinct}{val}) FILTER (WHERE {x} IS NOT NULL{cond}))[1:{lim}], []))"
            return [(nm(base), sql, one, "dynamic")]
        if fn in ("any", "take_anyif"):
            if args and isinstance(args[0], ast.Star):
                raise self.unsup(call, "take_any(*) is not supported")
            out = []
            for k, e in enumerate(args[:1] if fn == "take_anyif" else args):
                x, t = self.expr(e, sc, env)
                filt = f" FILTER (WHERE {a(1)[0]})" if fn == "take_anyif" else ""
                n = item.names[0] if item.names and k == 0 else (
                    f"any_{self.infer_name(e, '')}" if self.infer_name(e, "") else f"any_{k}")
                if (item.names and k == 0) or (not item.names and len(args) > 1):
                    n = item.names[0] if item.names and k == 0 else self.infer_name(e, f"any_{k}")
                agg = f"any_value({x}){filt}"
                out.append((n, f"coalesce({agg}, '')" if t == "string" else agg, one, self.real_type(t)))
            return out
        if fn in ("percentile",):
            x, t = a(0)
            pct = args[1]
            if not isinstance(pct, ast.Lit):
                raise self.unsup(call, "percentile needs a constant percentage")
            base = self.infer_name(args[0], "")
            name = item.names[0] if item.names else f"percentile_{base}_{str(pct.value).replace('.', '_')}"
            return [(name, f"quantile_disc({x}, {float(pct.value) / 100.0})", one, t)]
        if fn in ("stdev", "variance", "stdevp", "variancep"):
            x, _ = a(0)
            f = {"stdev": "stddev_samp", "variance": "var_samp", "stdevp": "stddev_pop", "variancep": "var_pop"}
            return [(nm(fn), f"{f[fn]}({x})", one, "real")]
        raise self.unsup(call, f"aggregation function '{call.name}' is not supported")

    # join / lookup
    def join(self, left: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        p = op.params
        kind = p["kind"]
        right = self.query(p["right"], env)
        la, ra = self.alias(), self.alias()
        lcols, rcols = dict(left.cols), dict(right.cols)
        pairs: list[tuple[str, str]] = []
        for cond in p["on"]:
            if isinstance(cond, ast.Name) and not cond.name.startswith("$"):
                if cond.name not in lcols or cond.name not in rcols:
                    raise self.err(cond, f"Failed to resolve scalar expression named '{cond.name}'")
                pairs.append((cond.name, cond.name))
            elif isinstance(cond, ast.Bin) and cond.op == "==" and all(
                isinstance(x, ast.Name) and x.name.startswith("$") for x in (cond.left, cond.right)
            ):
                assert isinstance(cond.left, ast.Name) and isinstance(cond.right, ast.Name)
                sides = {}
                for x in (cond.left, cond.right):
                    side, col = x.name[1:].split(".", 1)
                    side_cols = lcols if side == "left" else rcols
                    if side not in ("left", "right") or col not in side_cols:
                        raise self.err(x, f"Failed to resolve scalar expression named '{col}'")
                    sides[side] = col
                if len(sides) != 2:
                    raise self.err(cond, "join condition must compare $left and $right")
                pairs.append((sides["left"], sides["right"]))
            else:
                raise self.unsup(cond, "join conditions other than equality of columns are not supported")
        on = " AND ".join(f"{la}.{q(lc)} = {ra}.{q(rc)}" for lc, rc in pairs)
        lsql = left.sql
        if op.name == "join" and kind == "innerunique":
            part = ", ".join(q(lc) for lc, _ in pairs)
            lsql = (f"SELECT * EXCLUDE (__rn) FROM (SELECT *, row_number() OVER (PARTITION BY {part}) AS __rn "
                    f"FROM ({left.sql}) AS {self.alias()}) AS {self.alias()} WHERE __rn = 1")
            kind = "inner"
        if op.name == "lookup" and kind not in ("leftouter", "inner"):
            raise self.unsup(op, f"lookup kind={kind} is not supported")
        lsel = [f"{la}.{q(n)} AS {q(n)}" for n, _ in left.cols]
        lnames = [n for n, _ in left.cols]
        if kind in ("leftanti", "anti", "leftantisemi", "leftsemi"):
            neg = "NOT " if "anti" in kind else ""
            sql = (f"SELECT {', '.join(lsel)} FROM ({lsql}) AS {la} WHERE {neg}EXISTS "
                   f"(SELECT 1 FROM ({right.sql}) AS {ra} WHERE {on})")
            return Rel(sql, list(left.cols))
        if kind in ("rightanti", "rightantisemi", "rightsemi"):
            neg = "NOT " if "anti" in kind else ""
            rsel = [f"{ra}.{q(n)} AS {q(n)}" for n, _ in right.cols]
            sql = (f"SELECT {', '.join(rsel)} FROM ({right.sql}) AS {ra} WHERE {neg}EXISTS "
                   f"(SELECT 1 FROM ({lsql}) AS {la} WHERE {on})")
            return Rel(sql, list(right.cols))
        jt = {"inner": "INNER", "leftouter": "LEFT OUTER", "rightouter": "RIGHT OUTER",
              "fullouter": "FULL OUTER", "outer": "FULL OUTER"}.get(kind)
        if jt is None:
            raise self.unsup(op, f"join kind={kind} is not supported")
        cols = list(left.cols)
        rsel = []
        used = set(lnames)
        same_keys = {rc for lc, rc in pairs if lc == rc}
        right_nullable = jt in ("LEFT OUTER", "FULL OUTER")
        left_nullable = jt in ("RIGHT OUTER", "FULL OUTER")
        if left_nullable:
            lsel = [(f"coalesce({la}.{q(n)}, '')" if t == "string" else f"{la}.{q(n)}") + f" AS {q(n)}"
                    for n, t in left.cols]
        for n, t in right.cols:
            if op.name == "lookup" and n in same_keys:
                continue
            out = n
            if out in used:
                k = 1
                while f"{n}{k}" in used:
                    k += 1
                out = f"{n}{k}"
            used.add(out)
            ref = f"{ra}.{q(n)}"
            rsel.append((f"coalesce({ref}, '')" if right_nullable and t == "string" else ref) + f" AS {q(out)}")
            cols.append((out, t))

        sql = f"SELECT {', '.join(lsel + rsel)} FROM ({lsql}) AS {la} {jt} JOIN ({right.sql}) AS {ra} ON {on}"
        return Rel(sql, cols)

    # mv-expand / parse
    def mv_expand(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        p = op.params
        if p.get("limit") is not None or p.get("with_itemindex"):
            raise self.unsup(op, "mv-expand limit/with_itemindex is not supported")
        if p.get("bagexpansion") not in (None, "bag"):
            raise self.unsup(op, "mv-expand bagexpansion=array is not supported")
        sc = self.scope(rel)
        exp: dict[str, tuple[str, str]] = {}
        for item, totype in p["items"]:
            sql, typ = self.expr(item.expr, sc, env)
            nm = item.names[0] if item.names else self.infer_name(item.expr, "Column1")
            if typ != "dynamic":
                raise self.err(item, f"mv-expand needs a dynamic value, not {typ}")
            lst = (f"(CASE WHEN json_type({sql}) = 'ARRAY' THEN CAST({sql} AS JSON[]) "
                   f"WHEN json_type({sql}) = 'OBJECT' THEN "
                   f"[json_object(k, json_extract({sql}, '$.\"' || k || '\"')) for k in json_keys({sql})] "
                   f"ELSE [{sql}] END)")
            value = "unnest(" + lst + ")"
            t = "dynamic"
            if totype and totype != "dynamic":
                value = self.convert(value, "dynamic", totype)
                t = totype
            exp[nm] = (value, t)
        sels, cols = [], []
        for n, t in rel.cols:
            if n in exp:
                sels.append(f"{exp[n][0]} AS {q(n)}")
                cols.append((n, exp[n][1]))
            else:
                sels.append(q(n))
                cols.append((n, t))
        for n, (v, t) in exp.items():
            if rel.col_type(n) is None:
                sels.append(f"{v} AS {q(n)}")
                cols.append((n, t))
        return self.wrap(rel, sels, cols)

    def parse_op(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        p = op.params
        kind = p["kind"]
        if kind not in ("simple", "regex", "relaxed"):
            raise self.unsup(op, f"parse kind={kind} is not supported")
        src, st = self.expr(p["src"], self.scope(rel), env)
        src = self.to_string(src, st)
        parts = p["parts"]
        flags = p.get("flags", "")
        regex = "(?s)^" if kind != "regex" else f"(?s{flags})"
        caps: list[tuple[str, str]] = []
        for k, (pk, pv) in enumerate(parts):
            last = k == len(parts) - 1
            if pk == "lit":
                regex += pv if kind == "regex" else re.escape(pv)
            elif pk == "star":
                regex += "(?:.*?)" if not last else "(?:.*)"
            else:
                name, ctype, _ = pv
                nxt_lit = k + 1 < len(parts)
                if ctype in ("long", "int") and kind != "regex":
                    grp = r"(-?\d+)"
                elif ctype == "real" and kind != "regex":
                    grp = r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
                else:
                    grp = "(.*?)" if nxt_lit else "(.*)"
                regex += grp
                caps.append((name, ctype))
        if kind != "regex" and parts and parts[-1][0] == "lit":
            regex += ""
        sels, cols = [], []
        newcols: dict[str, str] = {}
        for gi, (name, ctype) in enumerate(caps):
            ext = f"regexp_extract({src}, {s(regex)}, {gi + 1})"
            newcols[name] = ext if ctype == "string" else f"TRY_CAST(nullif({ext}, '') AS {SQL_TYPES[ctype]})"
        for n, t in rel.cols:
            if n in newcols:
                continue
            sels.append(q(n))
            cols.append((n, t))
        for name, ctype in caps:
            sels.append(f"{newcols[name]} AS {q(name)}")
            cols.append((name, ctype))
        return self.wrap(rel, sels, cols)

    # scalar expressions
    def expr(self, e: ast.Expr, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        if isinstance(e, ast.Lit):
            return self.literal(e)
        if isinstance(e, ast.Name):
            return self.name(e, sc, env)
        if isinstance(e, ast.Bin):
            return self.binary(e, sc, env)
        if isinstance(e, ast.Unary):
            sql, t = self.expr(e.operand, sc, env)
            if t not in NUMERIC and t != "timespan":
                raise self.err(e, f"cannot negate a {t}")
            return f"(-{sql})", t
        if isinstance(e, ast.Call):
            return self.call(e, sc, env)
        if isinstance(e, ast.Member):
            obj, t = self.expr(e.obj, sc, env)
            obj = self.as_dynamic(obj, t, e)
            return f"json_extract({obj}, {s('$.' + json.dumps(e.name))})", "dynamic"
        if isinstance(e, ast.Index):
            obj, t = self.expr(e.obj, sc, env)
            obj = self.as_dynamic(obj, t, e)
            idx, it = self.expr(e.index, sc, env)
            if isinstance(e.index, ast.Lit) and isinstance(e.index.value, int):
                n = e.index.value
                path = f"$[{n}]" if n >= 0 else f"$[#{n}]"
                return f"json_extract({obj}, {s(path)})", "dynamic"
            if it == "string":
                return f"json_extract({obj}, '$.\"' || {idx} || '\"')", "dynamic"
            return (f"json_extract({obj}, CASE WHEN {idx} >= 0 THEN '$[' || CAST({idx} AS VARCHAR) || ']' "
                    f"ELSE '$[#' || CAST({idx} AS VARCHAR) || ']' END)"), "dynamic"
        if isinstance(e, ast.InList):
            return self.in_list(e, sc, env)
        if isinstance(e, ast.Between):
            x, t = self.expr(e.left, sc, env)
            lo, _ = self.expr(e.low, sc, env)
            hi, ht = self.expr(e.high, sc, env)
            if t == "datetime" and ht == "timespan":
                hi = f"({lo} + {hi})"
            neg = "NOT " if e.negated else ""
            return f"({x} {neg}BETWEEN {lo} AND {hi})", "bool"
        if isinstance(e, ast.ToScalar):
            rel = self.query(e.query, env)
            if not rel.cols:
                raise self.err(e, "toscalar() needs a column")
            first_col, first_type = rel.cols[0]
            order = f" ORDER BY {q(ORD)}" if rel.ordered else ""
            val = f"(SELECT {q(first_col)} FROM ({rel.sql}) AS {self.alias()}{order} LIMIT 1)"
            return (f"coalesce({val}, '')" if first_type == "string" else val), first_type
        if isinstance(e, ast.Star):
            raise self.unsup(e, "'*' is not supported here")
        if isinstance(e, ast.TabularArg):
            raise self.err(e, "a tabular expression is not allowed here")
        raise UnsupportedError(f"unsupported expression {type(e).__name__}")

    def as_dynamic(self, sql: str, t: str, node: ast.Node) -> str:
        if t == "dynamic":
            return sql
        if t == "string":
            # Defender stores some bags (AdditionalFields) as JSON text: read them as dynamic
            return f"kql_parse_json({sql})"
        raise self.err(node, f"property access needs a dynamic value, not {t}")

    def literal(self, e: ast.Lit) -> tuple[str, str]:
        v, t = e.value, e.type
        if t == "null":
            return "NULL", "null"
        if v is None:
            return f"CAST(NULL AS {SQL_TYPES[t]})", t
        if t == "string":
            return s(v), t
        if t == "bool":
            return ("TRUE" if v else "FALSE"), t
        if t in ("long", "int"):
            return f"CAST({int(v)} AS {SQL_TYPES[t]})", t
        if t == "real":
            return f"CAST({float(v)!r} AS DOUBLE)", t
        if t == "datetime":
            try:
                return ts_sql(parse_datetime_text(str(v), self.now)), t
            except ValueError as exc:
                raise self.err(e, str(exc)) from exc
        if t == "timespan":
            return span_sql(float(v)), t
        if t == "dynamic":
            return f"CAST({s(json.dumps(v))} AS JSON)", t
        raise self.unsup(e, f"literal of type {t}")

    def name(self, e: ast.Name, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        n = e.name
        if n.startswith("$"):
            raise self.err(e, f"'{n}' is only allowed in a join condition")
        if n in sc.cols:
            prefix = f"{sc.alias}." if sc.alias else ""
            return prefix + q(n), sc.cols[n]
        b = env.get(n)
        if b is not None:
            if b.kind == "sql":
                return b.value, b.type or "dynamic"
            if b.kind == "expr":
                return self.expr(b.value, Scope(), b.env or {})
            if b.kind in ("query", "rel"):
                raise self.err(e, f"'{n}' is a table; use toscalar() to read a single value")
            if b.kind == "func":
                return self.user_scalar_call(e, n, [], sc, env)
        lowered = n.lower()
        if lowered in ("true", "false"):
            return ("TRUE" if lowered == "true" else "FALSE"), "bool"
        raise self.err(e, f"Failed to resolve scalar expression named '{n}'")

    # binary operators
    def binary(self, e: ast.Bin, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        op = e.op
        if op == "or":
            merged = self.merge_term_tests(e, sc, env)
            if merged is not None:
                return merged, "bool"
        if op in ("and", "or"):
            a, at = self.expr(e.left, sc, env)
            b, bt = self.expr(e.right, sc, env)
            for t, node in ((at, e.left), (bt, e.right)):
                if t not in ("bool", "null", "dynamic"):
                    raise self.err(node, f"'{op}' needs bool operands, not {t}")
            a = a if at != "dynamic" else f"TRY_CAST(kql_dstr({a}) AS BOOLEAN)"
            b = b if bt != "dynamic" else f"TRY_CAST(kql_dstr({b}) AS BOOLEAN)"
            return f"({a} {op.upper()} {b})", "bool"
        a, at = self.expr(e.left, sc, env)
        if op in STRING_OPS:
            return self.string_op(e, a, at, sc, env)
        b, bt = self.expr(e.right, sc, env)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            a, b = self.coerce_pair(e, a, at, b, bt)
            sqlop = {"==": "=", "!=": "<>"}.get(op, op)
            if op == "!=" and "string" in (at, bt):
                # strings are never null: '' != 'x' is true
                return f"({a} <> {b})", "bool"
            return f"({a} {sqlop} {b})", "bool"
        if op in ("=~", "!~"):
            a, b = self.to_string(a, at), self.to_string(b, bt)
            sqlop = "=" if op == "=~" else "<>"
            return f"(lower({a}) {sqlop} lower({b}))", "bool"
        if op in ("+", "-", "*", "/", "%"):
            return self.arith(e, op, a, at, b, bt)
        raise self.unsup(e, f"operator '{op}' is not supported")

    def merge_term_tests(self, e: ast.Bin, sc: Scope, env: dict[str, Binding]) -> str | None:
        """``x has a or x has_any (b, c) or ...`` on one column as a single ``has_any`` regex.

        Exactly equivalent (has_any is the disjunction of has), and one regex pass instead of
        several keeps large scans fast.
        """
        terms: list[ast.Expr] = []

        def flatten(x: ast.Expr) -> None:
            if isinstance(x, ast.Bin) and x.op == "or":
                flatten(x.left)
                flatten(x.right)
            else:
                terms.append(x)

        flatten(e)
        groups: dict[tuple[str, bool], list[str]] = {}
        members: dict[tuple[str, bool], int] = {}
        order: list[tuple[str, bool]] = []
        rest: list[ast.Expr] = []
        for t in terms:
            key_needles = self._term_test(t, sc, env)
            if key_needles is None:
                rest.append(t)
                continue
            key, needles = key_needles
            if key not in groups:
                groups[key] = []
                members[key] = 0
                order.append(key)
            groups[key].extend(needles)
            members[key] += 1
        if all(members[k] == 1 for k in order):
            return None  # nothing to merge
        parts = []
        for col, cs in order:
            hay = self.to_string(q(col), sc.cols[col])
            parts.append(f"regexp_matches({hay}, {s(any_term_regex(groups[(col, cs)], cs))})")
        for t in rest:
            sql, typ = self.expr(t, sc, env)
            if typ not in ("bool", "null", "dynamic"):
                raise self.err(t, f"'or' needs bool operands, not {typ}")
            parts.append(sql if typ != "dynamic" else f"TRY_CAST(kql_dstr({sql}) AS BOOLEAN)")
        return "(" + " OR ".join(parts) + ")"

    def _term_test(self, t: ast.Expr, sc: Scope, env: dict[str, Binding]
                   ) -> tuple[tuple[str, bool], list[str]] | None:
        """(column, case-sensitive) and constant needles of a positive has/has_any on a column."""
        if isinstance(t, ast.Bin) and t.op in ("has", "has_cs") and isinstance(t.left, ast.Name):
            needle = self.const_string(t.right, env)
            col = t.left.name
            if needle is not None and sc.cols.get(col) == "string":
                return (col, t.op == "has_cs"), [needle]
        if isinstance(t, ast.InList) and t.op in ("has_any", "has_any_cs") and isinstance(t.left, ast.Name):
            col = t.left.name
            if sc.cols.get(col) != "string":
                return None
            items = self.const_list(t.items, env)
            if not items:
                return None
            needles = [self.const_string(i, env) for i in items]
            if any(n is None for n in needles):
                return None
            return (col, t.op == "has_any_cs"), [n or "" for n in needles]
        return None

    def coerce_pair(self, e: ast.Node, a: str, at: str, b: str, bt: str) -> tuple[str, str]:
        if at == bt or "null" in (at, bt):
            return a, b
        if at == "dynamic":
            return self.convert_dyn(a, bt), b
        if bt == "dynamic":
            return a, self.convert_dyn(b, at)
        if at in NUMERIC and bt in NUMERIC:
            return a, b
        if {at, bt} <= NUMERIC | {"bool"}:  # Kusto compares bool with numbers as 0/1
            return (f"CAST({a} AS INTEGER)" if at == "bool" else a), (f"CAST({b} AS INTEGER)" if bt == "bool" else b)
        if {at, bt} <= {"string", "guid", "decimal"}:
            return a, b
        if {at, bt} == {"datetime", "string"}:
            return (a, f"CAST({b} AS TIMESTAMP)") if at == "datetime" else (f"CAST({a} AS TIMESTAMP)", b)
        raise self.err(e, f"Cannot compare values of types {at} and {bt}. Try adding explicit casts")

    def convert_dyn(self, sql: str, target: str) -> str:
        if target in ("string", "guid"):
            return f"kql_dstr({sql})"
        if target in NUMERIC:
            return f"TRY_CAST(kql_dstr({sql}) AS DOUBLE)"
        if target == "datetime":
            return f"kql_todt(kql_dstr({sql}))"
        if target == "bool":
            return f"TRY_CAST(kql_dstr({sql}) AS BOOLEAN)"
        return f"TRY_CAST(kql_dstr({sql}) AS {SQL_TYPES.get(target, 'VARCHAR')})"

    def arith(self, e: ast.Bin, op: str, a: str, at: str, b: str, bt: str) -> tuple[str, str]:
        if at == "dynamic":
            a, at = f"TRY_CAST(kql_dstr({a}) AS DOUBLE)", "real"
        if bt == "dynamic":
            b, bt = f"TRY_CAST(kql_dstr({b}) AS DOUBLE)", "real"
        if (at in NUMERIC and bt in NUMERIC) or "null" in (at, bt):
            rt = "real" if "real" in (at, bt) else ("long" if "long" in (at, bt) else "int")
            if "null" in (at, bt):
                rt = at if bt == "null" else bt
            if op == "/" and rt != "real":
                return f"CAST(trunc({a} / nullif({b}, 0)) AS {SQL_TYPES[rt]})", rt
            if op == "%":
                return f"({a} % nullif({b}, 0))", rt
            return f"({a} {op} {b})", rt
        if at == "datetime" and bt == "datetime" and op == "-":
            return f"({a} - {b})", "timespan"
        if at == "datetime" and bt == "timespan" and op in "+-":
            return f"({a} {op} {b})", "datetime"
        if at == "timespan" and bt == "datetime" and op == "+":
            return f"({b} + {a})", "datetime"
        if at == "timespan" and bt == "timespan":
            if op in "+-":
                return f"({a} {op} {b})", "timespan"
            if op == "/":
                return f"(epoch({a}) / nullif(epoch({b}), 0))", "real"
        if at == "timespan" and bt in NUMERIC and op in "*/":
            return f"to_microseconds(CAST(epoch({a}) * 1000000 {op} {b} AS BIGINT))", "timespan"
        if bt == "timespan" and at in NUMERIC and op == "*":
            return f"to_microseconds(CAST(epoch({b}) * 1000000 * {a} AS BIGINT))", "timespan"
        raise self.err(e, f"operator '{op}' cannot be applied to {at} and {bt}")

    # string operators
    def string_op(self, e: ast.Bin, a: str, at: str, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        op = e.op
        neg = op.startswith("!")
        base = op.lstrip("!")
        hay = self.to_string(a, at)
        if base == "matches regex":
            pat, _ = self.expr(e.right, sc, env)
            return f"regexp_matches({hay}, {pat})", "bool"
        const = self.const_string(e.right, env)
        if const is None:
            b, bt = self.expr(e.right, sc, env)
            needle = self.to_string(b, bt)
            sql = self.string_test(base, hay, needle, None)
        else:
            sql = self.string_test(base, hay, s(const), const)
        return (f"(NOT {sql})" if neg else sql), "bool"

    def string_test(self, base: str, hay: str, needle: str, const: str | None) -> str:
        cs = base.endswith("_cs")
        kind = base[:-3] if cs else base
        # string expressions are never NULL here (see NOT NULL STRINGS in the module doc), so the
        # tests need no NULL guard, which lets DuckDB push them into the scan
        if kind in ("has", "hasprefix", "hassuffix"):
            pre = kind != "hassuffix"
            suf = kind != "hasprefix"
            if const is not None:
                return f"regexp_matches({hay}, {s(term_regex(const, cs, pre, suf))})"
            return f"coalesce(kql_has({hay}, {needle}, {'TRUE' if cs else 'FALSE'}, {pre}, {suf}), FALSE)"
        if kind == "contains":
            if cs:
                return f"contains({hay}, {needle})"
            return f"contains(lower({hay}), lower({needle}))"
        if kind == "startswith":
            return f"starts_with({hay}, {needle})" if cs else f"starts_with(lower({hay}), lower({needle}))"
        if kind == "endswith":
            return f"ends_with({hay}, {needle})" if cs else f"ends_with(lower({hay}), lower({needle}))"
        raise UnsupportedError(f"string operator '{base}' is not supported")

    def const_string(self, e: ast.Expr, env: dict[str, Binding]) -> str | None:
        if isinstance(e, ast.Lit) and e.type == "string":
            return str(e.value)
        if isinstance(e, ast.Name):
            b = env.get(e.name)
            if b is not None and b.kind == "expr":
                return self.const_string(b.value, b.env or {})
        return None

    def const_list(self, items: tuple[ast.Expr, ...], env: dict[str, Binding]) -> list[ast.Expr] | None:
        """Flatten in-list items, expanding dynamic array constants and let names bound to them."""
        out: list[ast.Expr] = []
        for it in items:
            if isinstance(it, ast.Name) and it.name in env and env[it.name].kind == "expr":
                b = env[it.name]
                sub = self.const_list((b.value,), b.env or {})
                if sub is None:
                    return None
                out.extend(sub)
            elif isinstance(it, ast.Lit) and it.type == "dynamic" and isinstance(it.value, list):
                for v in it.value:
                    if isinstance(v, (dict, list)):
                        return None
                    t = ("string" if isinstance(v, str) else "bool" if isinstance(v, bool) else
                         "long" if isinstance(v, int) else "real" if isinstance(v, float) else "null")
                    out.append(ast.Lit(it.line, it.col, v, t))
            elif isinstance(it, ast.Call) and it.name == "pack_array":
                sub = self.const_list(it.args, env)
                if sub is None:
                    return None
                out.extend(sub)
            else:
                out.append(it)
        return out

    def in_list(self, e: ast.InList, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        x, xt = self.expr(e.left, sc, env)
        op = e.op
        # a single tabular argument: the first column of a subquery
        sub: Rel | None = None
        if len(e.items) == 1:
            it = e.items[0]
            if isinstance(it, ast.TabularArg):
                sub = self.query(it.query, env)
            elif isinstance(it, ast.Name) and it.name in env and env[it.name].kind in ("query", "rel"):
                sub = self.table(ast.TableRef(it.line, it.col, it.name), env)
        if sub is not None:
            if not sub.cols:
                raise self.err(e, "the tabular argument has no columns")
            col, ct = sub.cols[0]
            a = self.alias()
            if op.startswith("has"):
                cs_sql = "TRUE" if op.endswith("_cs") else "FALSE"
                any_sql = (f"EXISTS (SELECT 1 FROM ({sub.sql}) AS {a} WHERE kql_has({self.to_string(x, xt)}, "
                           f"{self.to_string(q(col), ct)}, {cs_sql}, TRUE, TRUE))")
                if op.startswith("has_all"):
                    raise self.unsup(e, "has_all with a tabular argument is not supported")
                return any_sql, "bool"
            ci = op.endswith("~")
            left = f"lower({self.to_string(x, xt)})" if ci else x
            right = f"lower({self.to_string(q(col), ct)})" if ci else q(col)
            neg = "NOT " if op.startswith("!") else ""
            return f"coalesce({left} {neg}IN (SELECT {right} FROM ({sub.sql}) AS {a}), {neg == ''} = FALSE)", "bool"
        items = self.const_list(e.items, env)
        if items is None:
            raise self.unsup(e, f"'{op}' over nested dynamic values is not supported")
        if op.startswith("has"):
            cs = op.endswith("_cs")
            hay = self.to_string(x, xt)
            consts = [self.const_string(i, env) for i in items]
            if op.startswith("has_any") and items and all(c is not None for c in consts):
                rx = any_term_regex([c or "" for c in consts], cs)
                return f"regexp_matches({hay}, {s(rx)})", "bool"
            tests = []
            for i in items:
                c = self.const_string(i, env)
                if c is not None:
                    tests.append(self.string_test("has_cs" if cs else "has", hay, s(c), c))
                else:
                    b, bt = self.expr(i, sc, env)
                    tests.append(self.string_test("has_cs" if cs else "has", hay, self.to_string(b, bt), None))
            if not tests:
                return "FALSE", "bool"
            j = " OR " if op.startswith("has_any") else " AND "
            return "(" + j.join(tests) + ")", "bool"
        vals = []
        for i in items:
            v, vt = self.expr(i, sc, env)
            if op.endswith("~"):
                v = f"lower({self.to_string(v, vt)})"
            elif xt == "dynamic":
                v = self.to_string(v, vt)
            vals.append(v)
        if not vals:
            return ("TRUE" if op.startswith("!") else "FALSE"), "bool"
        left = x
        if op.endswith("~"):
            left = f"lower({self.to_string(x, xt)})"
        elif xt == "dynamic":
            left = f"kql_dstr({x})"
        neg = "NOT " if op.startswith("!") else ""
        if xt in ("string", "dynamic", "guid") or op.endswith("~"):
            return f"({left} {neg}IN ({', '.join(vals)}))", "bool"  # a string is never NULL
        null_value = "TRUE" if neg else "FALSE"
        return f"coalesce({left} {neg}IN ({', '.join(vals)}), {null_value})", "bool"

    # conversions
    def to_string(self, sql: str, t: str) -> str:
        if t in ("string", "guid", "decimal"):
            return sql
        if t == "null":
            return "''"
        if t == "dynamic":
            return f"kql_dstr({sql})"
        if t == "datetime":
            return f"coalesce(strftime({sql}, '%Y-%m-%dT%H:%M:%S.%f') || '0Z', '')"
        if t == "timespan":
            return f"coalesce(kql_span_str(CAST(epoch_us(TIMESTAMP '1970-01-01' + {sql}) AS BIGINT)), '')"
        if t == "bool":
            return f"coalesce(CASE WHEN {sql} THEN 'true' ELSE 'false' END, '')"
        return f"coalesce(CAST({sql} AS VARCHAR), '')"

    def to_dynamic(self, sql: str, t: str) -> str:
        if t == "dynamic":
            return sql
        if t == "datetime":
            return f"to_json({self.to_string(sql, t)})"
        if t == "timespan":
            return f"to_json({self.to_string(sql, t)})"
        if t == "null":
            return "CAST(NULL AS JSON)"
        return f"to_json({sql})"

    # function calls
    def user_scalar_call(self, node: ast.Node, name: str, args: list[ast.Expr], sc: Scope,
                         env: dict[str, Binding]) -> tuple[str, str]:
        b = env[name]
        fd: ast.FunctionDef = b.value
        if isinstance(fd.result, ast.Query):
            raise self.err(node, f"'{name}' is a tabular function")
        fenv = dict(b.env or {})
        if len(args) > len(fd.params):
            raise self.err(node, f"function '{name}' takes {len(fd.params)} argument(s)")
        for i, p in enumerate(fd.params):
            if i < len(args):
                sql, typ = self.expr(args[i], sc, env)
            elif p.default is not None:
                sql, typ = self.expr(p.default, Scope(), fenv)
            else:
                raise self.err(node, f"function '{name}' needs argument '{p.name}'")
            fenv[p.name] = Binding("sql", sql, type=typ)
        for let in fd.body:
            fenv = self.bind_let(let, fenv)
        return self.expr(fd.result, Scope(dict(sc.cols), sc.alias, ordered=sc.ordered), fenv)

    def call(self, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        name = e.name
        b = env.get(name)
        if b is not None and b.kind == "func":
            return self.user_scalar_call(e, name, list(e.args), sc, env)
        fn = FUNCTIONS.get(name)
        if fn is None:
            if name.lower() in AGGREGATES:
                raise self.err(e, f"aggregation function '{name}' is only allowed in summarize")
            raise self.unsup(e, f"function '{name}' is not supported")
        return fn(self, e, sc, env)

    def args(self, e: ast.Call, sc: Scope, env: dict[str, Binding], lo: int, hi: int) -> list[tuple[str, str]]:
        if not lo <= len(e.args) <= hi:
            raise self.err(e, f"{e.name}(): expected {lo}..{hi} arguments, got {len(e.args)}")
        return [self.expr(a, sc, env) for a in e.args]


AGGREGATES = {
    "count", "countif", "dcount", "dcountif", "sum", "sumif", "min", "max", "minif", "maxif", "avg", "avgif",
    "make_set", "make_list", "makeset", "makelist", "arg_max", "arg_min", "any", "take_any", "percentile",
    "stdev", "variance", "make_bag", "make_set_if", "make_list_if", "percentiles", "take_anyif", "anyif",
}

Fn = Callable[[Translator, ast.Call, Scope, dict[str, Binding]], tuple[str, str]]
FUNCTIONS: dict[str, Fn] = {}


def fn(*names: str) -> Callable[[Fn], Fn]:
    def deco(f: Fn) -> Fn:
        for n in names:
            FUNCTIONS[n] = f
        return f
    return deco


@fn("tostring")
def _tostring(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return t.to_string(x, xt), "string"


def _caster(target: str) -> Fn:
    def f(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        (x, xt), = t.args(e, sc, env, 1, 1)
        if xt == target:
            return x, target
        if xt == "dynamic":
            x, xt = f"kql_dstr({x})", "string"
        if target in ("long", "int") and xt == "string":
            # a fractional text value truncates toward zero, as a real does
            return f"TRY_CAST(trunc(TRY_CAST(nullif(trim({x}), '') AS DOUBLE)) AS {SQL_TYPES[target]})", target
        if target in ("long", "int") and xt == "real":
            return f"CAST(trunc({x}) AS {SQL_TYPES[target]})", target
        if target in ("long", "int", "real") and xt == "datetime":
            return f"CAST(epoch_us({x}) * 10 + 621355968000000000 AS {SQL_TYPES[target]})", target
        if target in ("long", "int", "real") and xt == "timespan":
            return f"CAST(epoch({x}) * 10000000 AS {SQL_TYPES[target]})", target
        if target == "bool" and xt == "string":
            return f"(CASE lower(trim({x})) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE WHEN '1' THEN TRUE " \
                   f"WHEN '0' THEN FALSE END)", target
        if target == "bool" and xt in NUMERIC:
            return f"({x} <> 0)", target
        if target == "datetime":
            return (f"kql_todt({x})" if xt == "string" else f"TRY_CAST({x} AS TIMESTAMP)"), target
        if target == "timespan" and xt == "string":
            return f"kql_totimespan({x})", target
        return f"TRY_CAST({x} AS {SQL_TYPES[target]})", target
    return f


for _n, _t in (("toint", "int"), ("tolong", "long"), ("todouble", "real"), ("toreal", "real"),
               ("todecimal", "real"), ("tobool", "bool"), ("toboolean", "bool"), ("todatetime", "datetime"),
               ("totimespan", "timespan"), ("toguid", "guid")):
    FUNCTIONS[_n] = _caster(_t)


@fn("tolower", "toupper")
def _case(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    f = "lower" if e.name.lower() == "tolower" else "upper"
    return f"{f}({t.to_string(x, xt)})", "string"


@fn("strcat")
def _strcat(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    parts = [t.to_string(x, xt) for x, xt in t.args(e, sc, env, 1, 64)]
    return "concat(" + ", ".join(parts) + ")", "string"


@fn("strcat_delim")
def _strcat_delim(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    parts = [t.to_string(x, xt) for x, xt in t.args(e, sc, env, 2, 65)]
    return "concat_ws(" + ", ".join(parts) + ")", "string"


@fn("strlen")
def _strlen(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(length({t.to_string(x, xt)}) AS BIGINT)", "long"


@fn("substring")
def _substring(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x = t.to_string(*a[0])
    start = f"greatest({a[1][0]}, 0) + 1"
    if len(a) == 3:
        return f"coalesce(substring({x}, {start}, greatest({a[2][0]}, 0)), '')", "string"
    return f"coalesce(substring({x}, {start}), '')", "string"


@fn("split")
def _split(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x, d = t.to_string(*a[0]), t.to_string(*a[1])
    parts = f"string_split({x}, {d})"
    if len(a) == 3:
        i = a[2][0]
        return (f"to_json(CASE WHEN {i} >= 0 AND {i} < len({parts}) THEN [{parts}[{i} + 1]] "
                f"ELSE CAST([] AS VARCHAR[]) END)"), "dynamic"
    return f"to_json({parts})", "dynamic"


@fn("extract")
def _extract(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    if len(e.args) == 4:
        typ_node = e.args[3]
        if not (isinstance(typ_node, ast.Call) and typ_node.name == "typeof" and len(typ_node.args) == 1
                and isinstance(typ_node.args[0], ast.Name)):
            raise t.err(typ_node, "extract(): the 4th argument must be typeof(T)")
        target = ast.SCALAR_TYPES.get(typ_node.args[0].name.lower(), "string")
        e = ast.Call(e.line, e.col, e.name, e.args[:3])
    else:
        target = "string"
    a = t.args(e, sc, env, 3, 3)
    x = t.to_string(*a[2])
    grp = e.args[1]
    if not (isinstance(grp, ast.Lit) and isinstance(grp.value, int)):
        raise t.unsup(e, "extract() needs a constant capture group number")
    val = f"regexp_extract({x}, {a[0][0]}, {grp.value})"
    if target == "string":
        return val, "string"
    return t.convert(f"nullif({val}, '')", "string", target), target


@fn("extract_all")
def _extract_all(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    pat = t.const_string(e.args[0], env)
    if pat is None:
        raise t.unsup(e, "extract_all() needs a constant regex")
    groups = re.compile(pat).groups
    if groups > 1:
        raise t.unsup(e, "extract_all() with several capture groups is not supported")
    x = t.to_string(*a[1])
    return (f"CASE WHEN len(regexp_extract_all({x}, {a[0][0]}, {groups})) = 0 THEN CAST(NULL AS JSON) "
            f"ELSE to_json(regexp_extract_all({x}, {a[0][0]}, {groups})) END"), "dynamic"


@fn("replace_string", "replace")
def _replace_string(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    if e.name == "replace":  # legacy replace(regex, rewrite, text)
        return f"regexp_replace({t.to_string(*a[2])}, {a[0][0]}, {a[1][0]}, 'g')", "string"
    return f"replace({t.to_string(*a[0])}, {t.to_string(*a[1])}, {t.to_string(*a[2])})", "string"


@fn("replace_regex")
def _replace_regex(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    return f"regexp_replace({t.to_string(*a[0])}, {a[1][0]}, {a[2][0]}, 'g')", "string"


@fn("trim", "trim_start", "trim_end")
def _trim(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    x = t.to_string(*a[1])
    r = a[0][0]
    out = x
    if e.name in ("trim", "trim_start"):
        out = f"regexp_replace({out}, '^(?:' || {r} || ')+', '')"
    if e.name in ("trim", "trim_end"):
        out = f"regexp_replace({out}, '(?:' || {r} || ')+$', '')"
    return out, "string"


@fn("iff", "iif")
def _iff(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (c, ct), (a, at), (b, bt) = t.args(e, sc, env, 3, 3)
    return _case_sql(t, [(c, ct)], [(a, at), (b, bt)], e)


@fn("case")
def _case_fn(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 999)
    if len(a) % 2 == 0:
        raise t.err(e, "case() needs pairs of predicate and value, then an else value")
    return _case_sql(t, a[0:-1:2], [*a[1:-1:2], a[-1]], e)


def _case_sql(self: Translator, conds: list[tuple[str, str]], vals: list[tuple[str, str]],
              e: ast.Node) -> tuple[str, str]:
    types = {vt for _, vt in vals if vt != "null"}
    if len(types) > 1 and not types <= NUMERIC:
        if "string" in types and types <= {"string", "dynamic"}:
            types = {"string"}
            vals = [(self.to_string(v, vt), "string") for v, vt in vals]
        else:
            raise self.err(e, f"case()/iff() branches have different types: {', '.join(sorted(types))}")
    typ = "real" if "real" in types else ("long" if "long" in types and len(types) > 1 else
                                         (next(iter(types)) if types else "null"))
    parts = " ".join(f"WHEN {c} THEN {v}" for (c, _), (v, _) in zip(conds, vals, strict=False))
    return f"(CASE {parts} ELSE {vals[-1][0]} END)", typ



@fn("isempty", "isnotempty")
def _isempty(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt in ("string", "guid"):
        test = f"coalesce({x}, '') = ''"
    elif xt == "dynamic":
        test = f"kql_dstr({x}) = ''"
    else:
        test = f"{x} IS NULL"
    return (test if e.name == "isempty" else f"NOT ({test})"), "bool"


@fn("isnull", "isnotnull")
def _isnull(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    test = "FALSE" if xt == "string" else (
        f"({x} IS NULL OR json_type({x}) = 'NULL')" if xt == "dynamic" else f"{x} IS NULL")
    return (test if e.name == "isnull" else f"NOT ({test})"), "bool"


@fn("coalesce")
def _coalesce(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 64)
    types = {at for _, at in a if at != "null"}
    if types == {"string"}:
        return "coalesce(" + ", ".join(f"nullif({x}, '')" for x, _ in a) + ", '')", "string"
    typ = next(iter(types)) if len(types) == 1 else ("real" if types <= NUMERIC else "dynamic")
    if typ == "dynamic":
        return "coalesce(" + ", ".join(t.to_dynamic(x, xt) for x, xt in a) + ")", typ
    return "coalesce(" + ", ".join(x for x, _ in a) + ")", typ


@fn("array_length")
def _array_length(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    x = t.as_dynamic(x, xt, e)
    return f"CAST(CASE WHEN json_type({x}) = 'ARRAY' THEN json_array_length({x}) END AS BIGINT)", "long"


@fn("array_index_of")
def _array_index_of(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (v, vt) = t.args(e, sc, env, 2, 2)
    x = t.as_dynamic(x, xt, e)
    return (f"CAST(CASE WHEN json_type({x}) = 'ARRAY' THEN coalesce(list_position(CAST({x} AS JSON[]), "
            f"{t.to_dynamic(v, vt)}) - 1, -1) END AS BIGINT)"), "long"


@fn("set_has_element")
def _set_has(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (v, vt) = t.args(e, sc, env, 2, 2)
    x = t.as_dynamic(x, xt, e)
    return f"coalesce(list_contains(CAST({x} AS JSON[]), {t.to_dynamic(v, vt)}), FALSE)", "bool"


@fn("array_slice")
def _array_slice(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (a, _), (b, _) = t.args(e, sc, env, 3, 3)
    return f"to_json((CAST({t.as_dynamic(x, xt, e)} AS JSON[]))[{a} + 1:{b} + 1])", "dynamic"


@fn("array_concat")
def _array_concat(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 1, 64)
    parts = [f"CAST({t.as_dynamic(x, xt, e)} AS JSON[])" for x, xt in a]
    out = parts[0]
    for p in parts[1:]:
        out = f"list_concat({out}, {p})"
    return f"to_json({out})", "dynamic"


@fn("strcat_array")
def _strcat_array(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (d, dt) = t.args(e, sc, env, 2, 2)
    return (f"coalesce(array_to_string([kql_dstr(j) for j in CAST({t.as_dynamic(x, xt, e)} AS JSON[])], "
            f"{t.to_string(d, dt)}), '')"), "string"


@fn("parse_json", "todynamic", "todynamic", "parsejson", "toobject")
def _parse_json(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "dynamic":
        return x, xt
    if xt == "string":
        return f"kql_parse_json({x})", "dynamic"
    return t.to_dynamic(x, xt), "dynamic"


@fn("pack_array")
def _pack_array(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 999)
    return "json_array(" + ", ".join(t.to_dynamic(x, xt) for x, xt in a) + ")", "dynamic"


@fn("pack", "pack_dictionary", "bag_pack")
def _pack(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 999)
    if len(a) % 2:
        raise t.err(e, f"{e.name}() needs key/value pairs")
    parts = []
    for i in range(0, len(a), 2):
        parts.append(t.to_string(*a[i]))
        parts.append(t.to_dynamic(*a[i + 1]))
    return "json_object(" + ", ".join(parts) + ")", "dynamic"


@fn("bag_keys")
def _bag_keys(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"to_json(json_keys({t.as_dynamic(x, xt, e)}))", "dynamic"


@fn("parse_version")
def _parse_version(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"kql_parse_version({t.to_string(x, xt)})", "decimal"


@fn("ago")
def _ago(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt != "timespan":
        raise t.err(e, "ago() needs a timespan")
    return f"({ts_sql(t.now)} - {x})", "datetime"


@fn("now")
def _now(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 1)
    if a:
        return f"({ts_sql(t.now)} + {a[0][0]})", "datetime"
    return ts_sql(t.now), "datetime"


@fn("datetime_add")
def _datetime_add(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    part = t.const_string(e.args[0], env)
    units = {"year": "years", "quarter": None, "month": "months", "week": "weeks", "day": "days",
             "hour": "hours", "minute": "minutes", "second": "seconds", "millisecond": "milliseconds",
             "microsecond": "microseconds"}
    if part is None or units.get(part.lower()) is None:
        raise t.unsup(e, f"datetime_add() part {part!r} is not supported")
    return f"({a[2][0]} + to_{units[part.lower()]}(CAST({a[1][0]} AS BIGINT)))", "datetime"


@fn("datetime_diff")
def _datetime_diff(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    part = t.const_string(e.args[0], env)
    if part is None or part.lower() not in ("year", "quarter", "month", "week", "day", "hour", "minute",
                                            "second", "millisecond", "microsecond"):
        raise t.unsup(e, f"datetime_diff() part {part!r} is not supported")
    return f"date_diff({s(part.lower())}, {a[2][0]}, {a[1][0]})", "long"


@fn("datetime_part", "datepart")
def _datetime_part(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    part = t.const_string(e.args[0], env)
    if part is None:
        raise t.unsup(e, "datetime_part() needs a constant part")
    p = {"weekofyear": "week", "week_of_year": "week", "dayofyear": "doy"}.get(part.lower(), part.lower())
    return f"CAST(date_part({s(p)}, {a[1][0]}) AS INTEGER)", "int"


def _date_fn(sqlf: Callable[[str], str], typ: str) -> Fn:
    def f(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        a = t.args(e, sc, env, 1, 2)
        if len(a) == 2:
            raise t.unsup(e, f"{e.name}() with an offset is not supported")
        return sqlf(a[0][0]), typ
    return f


FUNCTIONS["startofday"] = _date_fn(lambda x: f"date_trunc('day', {x})", "datetime")
FUNCTIONS["startofmonth"] = _date_fn(lambda x: f"date_trunc('month', {x})", "datetime")
FUNCTIONS["startofyear"] = _date_fn(lambda x: f"date_trunc('year', {x})", "datetime")
FUNCTIONS["startofweek"] = _date_fn(
    lambda x: f"CAST(CAST({x} AS DATE) - CAST(dayofweek({x}) AS INTEGER) AS TIMESTAMP)", "datetime")
FUNCTIONS["endofday"] = _date_fn(
    lambda x: f"(date_trunc('day', {x}) + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND)", "datetime")
FUNCTIONS["hourofday"] = _date_fn(lambda x: f"CAST(hour({x}) AS INTEGER)", "int")
FUNCTIONS["dayofmonth"] = _date_fn(lambda x: f"CAST(day({x}) AS INTEGER)", "int")
FUNCTIONS["dayofyear"] = _date_fn(lambda x: f"CAST(dayofyear({x}) AS INTEGER)", "int")
FUNCTIONS["monthofyear"] = _date_fn(lambda x: f"CAST(month({x}) AS INTEGER)", "int")
FUNCTIONS["getmonth"] = FUNCTIONS["monthofyear"]
FUNCTIONS["getyear"] = _date_fn(lambda x: f"CAST(year({x}) AS INTEGER)", "int")
FUNCTIONS["week_of_year"] = _date_fn(lambda x: f"CAST(weekofyear({x}) AS INTEGER)", "int")
FUNCTIONS["dayofweek"] = _date_fn(lambda x: f"to_days(CAST(dayofweek({x}) AS INTEGER))", "timespan")


@fn("bin", "floor")
def _bin(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (b, bt) = t.args(e, sc, env, 2, 2)
    if xt == "datetime" and bt == "timespan":
        return f"time_bucket({b}, {x}, TIMESTAMP '1970-01-01')", "datetime"
    if xt in NUMERIC and bt in NUMERIC:
        if xt == "real" or bt == "real":
            return f"(floor({x} / {b}) * {b})", "real"
        return f"CAST(floor({x} / {b}) * {b} AS {SQL_TYPES[xt]})", xt
    if xt == "timespan" and bt == "timespan":
        return f"to_microseconds(CAST(floor(epoch({x}) / epoch({b})) * epoch({b}) * 1000000 AS BIGINT))", xt
    raise t.err(e, f"bin() cannot bin {xt} by {bt}")


@fn("format_datetime")
def _format_datetime(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    fmt = t.const_string(e.args[1], env)
    if fmt is None:
        raise t.unsup(e, "format_datetime() needs a constant format")
    out = ""
    i = 0
    while i < len(fmt):
        for k, v in _DT_FORMAT:
            if fmt.startswith(k, i):
                out += v
                i += len(k)
                break
        else:
            c = fmt[i]
            if c.isalpha():
                raise t.unsup(e, f"format_datetime() specifier {c!r} is not supported")
            out += c.replace("%", "%%")
            i += 1
    return f"coalesce(strftime({a[0][0]}, {s(out)}), '')", "string"


@fn("unixtime_seconds_todatetime", "unixtime_milliseconds_todatetime", "unixtime_microseconds_todatetime")
def _unixtime(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, _), = t.args(e, sc, env, 1, 1)
    mult = {"unixtime_seconds_todatetime": 1000000, "unixtime_milliseconds_todatetime": 1000,
            "unixtime_microseconds_todatetime": 1}[e.name]
    return f"make_timestamp(CAST({x} * {mult} AS BIGINT))", "datetime"


@fn("make_datetime")
def _make_datetime(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = [x for x, _ in t.args(e, sc, env, 3, 7)] + ["0", "0", "0"]
    return f"make_timestamp({a[0]}, {a[1]}, {a[2]}, {a[3]}, {a[4]}, {a[5]})", "datetime"


def _math(sqlname: str, typ: str | None, lo: int = 1, hi: int = 1) -> Fn:
    def f(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        a = t.args(e, sc, env, lo, hi)
        return f"{sqlname}({', '.join(x for x, _ in a)})", typ or a[0][1]
    return f


@fn("abs")
def _abs(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "timespan":
        return f"(CASE WHEN {x} < INTERVAL 0 MICROSECOND THEN -({x}) ELSE {x} END)", xt
    return f"abs({x})", xt


for _n, _s, _t2 in ( ("sqrt", "sqrt", "real"), ("log", "ln", "real"),
                    ("log10", "log10", "real"), ("log2", "log2", "real"), ("exp", "exp", "real"),
                    ("ceiling", "ceil", None), ("sign", "sign", None), ("isnan", "isnan", "bool"),
                    ("isinf", "isinf", "bool"), ("isfinite", "isfinite", "bool")):
    FUNCTIONS[_n] = _math(_s, _t2)
FUNCTIONS["pow"] = _math("pow", "real", 2, 2)
FUNCTIONS["round"] = _math("round", None, 1, 2)
FUNCTIONS["max_of"] = _math("greatest", None, 2, 64)
FUNCTIONS["min_of"] = _math("least", None, 2, 64)


@fn("not")
def _not(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "dynamic":
        x = f"TRY_CAST(kql_dstr({x}) AS BOOLEAN)"
    elif xt not in ("bool", "null"):
        raise t.err(e, f"not() needs a bool, not {xt}")
    return f"(NOT {x})", "bool"


@fn("indexof")
def _indexof(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x, n = t.to_string(*a[0]), t.to_string(*a[1])
    if len(a) == 2:
        return f"CAST(strpos({x}, {n}) - 1 AS BIGINT)", "long"
    st = a[2][0]
    # search from character `start`; -1 when not found (null for a start past the end, as Kusto)
    return (f"CAST(CASE WHEN {st} > length({x}) THEN NULL WHEN strpos(substring({x}, {st} + 1), {n}) = 0 THEN -1 "
            f"ELSE strpos(substring({x}, {st} + 1), {n}) - 1 + {st} END AS BIGINT)"), "long"


@fn("format_timespan")
def _format_timespan(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (f, ft) = t.args(e, sc, env, 2, 2)
    if xt != "timespan":
        raise t.err(e, "format_timespan() needs a timespan")
    return (f"coalesce(kql_format_timespan(CAST(epoch_us(TIMESTAMP '1970-01-01' + {x}) AS BIGINT), "
            f"{t.to_string(f, ft)}), '')"), "string"


@fn("range")
def _range_fn(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    step = a[2][0] if len(a) == 3 else "1"
    if a[0][1] not in NUMERIC:
        raise t.unsup(e, f"range() over {a[0][1]} is not supported")
    return f"to_json(generate_series({a[0][0]}, {a[1][0]}, {step}))", "dynamic"


@fn("countof")
def _countof(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    if len(a) == 3:
        raise t.unsup(e, "countof() with a regex kind is not supported")
    x, n = t.to_string(*a[0]), t.to_string(*a[1])
    return f"CAST((length({x}) - length(replace({x}, {n}, ''))) // nullif(length({n}), 0) AS BIGINT)", "long"


@fn("reverse")
def _reverse(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"reverse({t.to_string(x, xt)})", "string"


@fn("url_decode", "url_encode", "url_encode_component")
def _url(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    f = "url_decode" if e.name == "url_decode" else "url_encode"
    return f"coalesce({f}({t.to_string(x, xt)}), '')", "string"


@fn("base64_decode_tostring", "base64_decodestring")
def _b64d(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"kql_b64decode({t.to_string(x, xt)})", "string"


@fn("base64_encode_tostring", "base64_encodestring")
def _b64e(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"to_base64(encode({t.to_string(x, xt)}))", "string"


@fn("hash_sha256", "hash_md5", "hash_sha1")
def _hashes(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    f = {"hash_sha256": "sha256", "hash_md5": "md5", "hash_sha1": "sha1"}[e.name]
    return f"{f}({t.to_string(x, xt)})", "string"


@fn("hash")
def _hash(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 1, 2)
    x, xt = a[0]
    if xt not in ("string", "long", "int"):
        raise t.unsup(e, f"hash() of {xt} is not supported")
    arg = f"CAST({x} AS VARCHAR)" if xt != "string" else x
    h = f"kql_xxh64({arg}, {'TRUE' if xt == 'string' else 'FALSE'})"
    if len(a) == 2:
        return f"(({h} % {a[1][0]}) + {a[1][0]}) % {a[1][0]}", "long"
    return h, "long"


@fn("ipv4_is_private", "ipv4_is_in_range", "ipv4_compare", "parse_ipv4", "ipv4_is_match")
def _ipv4(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    nargs = {"ipv4_is_private": (1, 1), "ipv4_is_in_range": (2, 2), "ipv4_compare": (2, 3),
             "parse_ipv4": (1, 1), "ipv4_is_match": (2, 3)}[e.name]
    a = t.args(e, sc, env, *nargs)
    xs = [t.to_string(x, xt) for x, xt in a[:2]]
    if e.name == "ipv4_is_private":
        return f"kql_ipv4_is_private({xs[0]})", "bool"
    if e.name == "ipv4_is_in_range":
        return f"kql_ipv4_in_range({xs[0]}, {xs[1]})", "bool"
    if e.name == "parse_ipv4":
        return f"kql_parse_ipv4({xs[0]})", "long"
    raise t.unsup(e, f"function '{e.name}' is not supported")


@fn("parse_url")
def _parse_url(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(kql_parse_url({t.to_string(x, xt)}) AS JSON)", "dynamic"


@fn("typeof", "gettype")
def _typeof(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    if len(e.args) == 1 and isinstance(e.args[0], ast.Name) and e.args[0].name.lower() in ast.SCALAR_TYPES \
            and e.args[0].name not in sc.cols:
        return s(ast.SCALAR_TYPES[e.args[0].name.lower()]), "string"
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "dynamic":
        return (f"coalesce(CASE json_type({x}) WHEN 'OBJECT' THEN 'dictionary' WHEN 'ARRAY' THEN 'array' "
                f"WHEN 'VARCHAR' THEN 'string' WHEN 'UBIGINT' THEN "
                f"(CASE WHEN TRY_CAST({x} AS HUGEINT) < 2147483648 THEN 'int' ELSE 'long' END) WHEN 'BIGINT' THEN "
                f"(CASE WHEN abs(TRY_CAST({x} AS HUGEINT)) < 2147483648 THEN 'int' ELSE 'long' END) "
                f"WHEN 'DOUBLE' THEN 'real' WHEN 'BOOLEAN' THEN 'bool' WHEN 'NULL' THEN 'null' END, 'null')"), \
            "string"
    names = {"int": "int", "long": "long", "real": "real", "string": "string", "bool": "bool",
             "datetime": "datetime", "timespan": "timespan", "guid": "guid", "decimal": "decimal", "null": "null"}
    return s(names.get(xt, xt)), "string"


@fn("ingestion_time")
def _ingestion_time(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    t.args(e, sc, env, 0, 0)
    # Replayed telemetry has no ingestion pipeline: the record's own time stands in for it.
    for c in ("TimeGenerated", "Timestamp"):
        if sc.cols.get(c) == "datetime":
            return q(c), "datetime"
    return "CAST(NULL AS TIMESTAMP)", "datetime"


@fn("column_ifexists")
def _column_ifexists(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    if len(e.args) != 2:
        raise t.err(e, "column_ifexists() takes 2 arguments")
    cname = t.const_string(e.args[0], env)
    if cname is None:
        raise t.err(e, "column_ifexists() needs a constant column name")
    if cname in sc.cols:
        return q(cname), sc.cols[cname]
    return t.expr(e.args[1], sc, env)


@fn("row_number")
def _row_number(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 1)
    if not sc.ordered:
        raise t.err(e, "row_number() needs a serialized (sorted) input")
    start = f"{a[0][0]} - 1 + " if a else ""
    return f"({start}row_number() OVER (ORDER BY {q(ORD)}))", "long"


@fn("prev", "next")
def _prev(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 1, 3)
    if not sc.ordered:
        raise t.err(e, f"{e.name}() needs a serialized (sorted) input")
    f = "lag" if e.name == "prev" else "lead"
    extra = f", {a[1][0]}" if len(a) > 1 else ""
    extra += f", {a[2][0]}" if len(a) > 2 else ""
    val = f"{f}({a[0][0]}{extra}) OVER (ORDER BY {q(ORD)})"
    return (f"coalesce({val}, '')" if a[0][1] == "string" else val), a[0][1]


@fn("strrep")
def _strrep(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x = t.to_string(*a[0])
    if len(a) == 3:
        return f"array_to_string(list_transform(range({a[1][0]}), i -> {x}), {t.to_string(*a[2])})", "string"
    return f"repeat({x}, CAST({a[1][0]} AS BIGINT))", "string"


@fn("isascii")
def _isascii(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"regexp_matches({t.to_string(x, xt)}, '^[\\x00-\\x7F]*$')", "bool"


@fn("strcmp")
def _strcmp(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (a, at), (b, bt) = t.args(e, sc, env, 2, 2)
    a, b = t.to_string(a, at), t.to_string(b, bt)
    return f"(CASE WHEN {a} < {b} THEN -1 WHEN {a} > {b} THEN 1 ELSE 0 END)", "int"


def translate(script: ast.Script, path: str, now: datetime, flavour: Flavour,
              tables: dict[str, list[tuple[str, str]]]) -> tuple[str, list[tuple[str, str]], set[str]]:
    """Translate ``script``: returns the SQL, the output columns and the tables it reads."""
    tr = Translator(path, now, flavour, tables)
    rel = tr.translate_script(script)
    return rel.sql, rel.cols, tr.used_tables

