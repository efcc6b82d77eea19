"""Scalar expressions: names, literals, comparisons and arithmetic in the Kusto value model."""

from __future__ import annotations

import json
from datetime import timedelta

from harness.errors import UnsupportedError
from harness.rules.kql import syntax as ast
from harness.rules.kql.base import TranslatorBase
from harness.rules.kql.sqlbase import (
    NUMERIC,
    ORD,
    SQL_TYPES,
    STRING_OPS,
    Binding,
    Scope,
    any_term_regex,
    parse_datetime_text,
    q,
    s,
    span_sql,
    ts_sql,
)


class ScalarExprs(TranslatorBase):
    """Scalar expressions to SQL with their Kusto types."""

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
            src = e.query.source
            if isinstance(src, ast.FuncSource) and not e.query.ops and (
                    env.get(src.name) is None or env[src.name].kind != "func"
                    or not isinstance(env[src.name].value.result, ast.Query)):
                return self.expr(ast.Call(src.line, src.col, src.name, src.args), sc, env)
            rel = self.query(e.query, env)
            if not rel.cols:
                raise self.err(e, "toscalar() needs a column")
            first_col, first_type = rel.cols[0]
            order = f" ORDER BY {q(ORD)}" if rel.ordered else ""
            val = f"(SELECT {q(first_col)} FROM ({rel.sql}) AS {self.alias()}{order} LIMIT 1)"
            return (f"coalesce({val}, '')" if first_type == "string" else val), first_type
        if isinstance(e, ast.AnyColumn):
            return self.any_column(e, e.op, e.needle, sc), "bool"
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
            f = float(v)
            if f != f or f in (float("inf"), float("-inf")):  # real(nan), real(+inf), real(-inf)
                return f"CAST('{'nan' if f != f else ('inf' if f > 0 else '-inf')}' AS DOUBLE)", t
            return f"CAST({f!r} AS DOUBLE)", t
        if t == "datetime":
            try:
                d = parse_datetime_text(str(v), self.now)
                if d != parse_datetime_text(str(v), self.now + timedelta(days=1)):
                    self.reusable = False  # relative to today: translated again for another `now`
                return ts_sql(d), t
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
        if isinstance(e.left, ast.Star) and op.lstrip("!") in STRING_OPS:
            # where * has "x": the test on any column (where page; search page, predicate table)
            needle = self.const_string(e.right, env)
            if needle is None:
                raise self.unsup(e, f"'* {op}' needs a constant string")
            test = self.any_column(e, op.lstrip("!"), needle, sc)
            return (f"(NOT {test})" if op.startswith("!") else test), "bool"
        a, at = self.expr(e.left, sc, env)
        if op in STRING_OPS:
            return self.string_op(e, a, at, sc, env)
        b, bt = self.expr(e.right, sc, env)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            a, b = self.coerce_pair(e, a, at, b, bt)
            sqlop = {"==": "=", "!=": "<>"}.get(op, op)
            if op in ("==", "!=") and not (at in ("string", "guid") and bt in ("string", "guid")):
                return self.null_aware_equality(e, op, a, b), "bool"
            return f"({a} {sqlop} {b})", "bool"
        if op in ("=~", "!~"):
            a, b = self.to_string(a, at), self.to_string(b, bt)
            sqlop = "=" if op == "=~" else "<>"
            return f"(lower({a}) {sqlop} lower({b}))", "bool"
        if op in ("+", "-", "*", "/", "%"):
            return self.arith(e, op, a, at, b, bt)
        raise self.unsup(e, f"operator '{op}' is not supported")

    def any_column(self, node: ast.Node, op: str, needle: str, sc: Scope) -> str:
        """``op`` against every column of the input, as text (search/find's term over all columns)."""
        cs = getattr(self, "case_sensitive_search", False)
        if op == "matches regex":
            tests = [f"regexp_matches({self.to_string(q(n), t)}, {s(('' if cs else '(?i)') + needle)})"
                     for n, t in sc.cols.items()]
        else:
            base = op if not cs or op.endswith("_cs") or op == "matches regex" else f"{op}_cs"
            tests = [self.string_test(base, self.to_string(q(n), t), s(needle), needle) for n, t in sc.cols.items()]
        return "(" + (" OR ".join(tests) or "FALSE") + ")"

    @staticmethod
    def null_aware_equality(e: ast.Bin, op: str, a: str, b: str) -> str:
        """Kusto's ``==``/``!=`` (null-values page, "Equality and inequality of null values").

        One null side gives false (``==``) or true (``!=``); two null sides give null. SQL's
        ``=`` would give null for both. Strings never reach here: they are never null.
        """
        sqlop = "=" if op == "==" else "<>"
        one_null = "FALSE" if op == "==" else "TRUE"
        known = [x for x in (e.left, e.right) if isinstance(x, ast.Lit) and x.value is not None
                 and x.type != "null"]
        if known:  # a constant side is never null: the both-null case cannot happen
            return f"coalesce({a} {sqlop} {b}, {one_null})"
        return f"(CASE WHEN {a} IS NULL AND {b} IS NULL THEN NULL ELSE coalesce({a} {sqlop} {b}, {one_null}) END)"

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
